// zcopy bench: the textbook table of copy methods, measured on this machine.
//
// For each data path (file → socket, file → file, ...) and each method that applies to it, the
// runner moves the same bytes through libzcopy (the bench calls transfer() and the pipe
// operations; it does not reimplement any method) and measures the moving thread: wall time,
// user and system CPU (getrusage RUSAGE_THREAD), system calls (the library's own counter),
// voluntary and involuntary context switches, minor and major page faults. Helper threads (the
// receiver draining a socket, the feeder filling one) are measured separately, so their cost is
// not charged to the method. Rounds are interleaved: round 1 runs every method once, then round 2,
// and so on, so drift on a shared machine hits all methods alike; medians and min–max are kept.
//
// The `model` of each method is the textbook's count of copies and mode switches, written down
// here, never measured: the report labels it "model".
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "zcopy/transfer.hpp"

namespace zcopy::bench {

enum class path {
  file_to_socket,
  file_to_file,
  socket_to_socket,
  socket_to_file,
  memory_to_socket
};

std::string_view to_string(path p) noexcept;
std::optional<path> parse_path(std::string_view name) noexcept;
std::vector<path> all_paths();

// What the textbook explanation says a method costs per chunk moved. A model, not a measurement.
struct model {
  int cpu_copies = 0;     // copies made by the CPU
  int dma_copies = 0;     // copies made by a device's DMA engine (disk, NIC)
  int mode_switches = 0;  // user/kernel transitions per chunk (2 per system call)
  std::string_view note;  // what the numbers assume
};

// A method as the bench names it: a transfer method, or one of the memory senders.
struct bench_method {
  std::string name;                       // "sendfile", "write", "vmsplice", "msg_zerocopy", ...
  std::optional<zcopy::method> transfer;  // the transfer() method; none for memory senders
  model textbook;
  // memory-socket senders that go through zerocopy_sender (write, msg_zerocopy, send_zc): bytes
  // per send, one row per size; 0 for every other method.
  std::size_t message_size = 0;
};

// The row's name: the method, plus the message size where it has one ("msg_zerocopy 64K").
std::string display_name(const bench_method& m);

// The message sizes of the memory-socket sender rows unless configured: 4 KiB, 64 KiB, 1 MiB.
std::vector<std::size_t> default_message_sizes();

// The methods that apply to a path (reflink only where the filesystem can); the memory senders
// once per message size.
std::vector<bench_method> methods_for(
    path p, const std::vector<std::size_t>& message_sizes = default_message_sizes());

struct config {
  std::uint64_t size = std::uint64_t{1} << 30;
  unsigned repeat = 5;
  bool cold = false;                 // evict the source from the page cache before each run
  bool verify = true;                // the sink's bytes are checked against the source (xxh3)
  std::vector<path> paths;           // empty: every path
  std::vector<std::string> methods;  // empty: every method
  // Bytes per send for the memory-socket sender rows (write, msg_zerocopy, send_zc).
  std::vector<std::size_t> message_sizes = default_message_sizes();
  std::filesystem::path directory;  // where the files go; empty: $TMPDIR or /tmp
  // Called before each measurement (for a progress line).
  std::function<void(std::string_view path, std::string_view method, unsigned round,
                     unsigned rounds)>
      on_progress;
};

// One measured run of one method.
struct sample {
  double seconds = 0;
  double user_seconds = 0;
  double sys_seconds = 0;
  std::uint64_t syscalls = 0;
  std::int64_t voluntary_switches = 0;
  std::int64_t involuntary_switches = 0;
  std::int64_t minor_faults = 0;
  std::int64_t major_faults = 0;
  double helper_user_seconds = 0;  // the receiver's or feeder's own CPU
  double helper_sys_seconds = 0;
  std::uint64_t bytes = 0;
  bool verified = false;  // the sink got exactly the source's bytes
  std::string moved_by;   // the method that really moved the bytes
  // Zero-copy senders: sends made with zero copy requested, and of those, how many the kernel
  // reported it copied anyway (always all of them on loopback).
  std::uint64_t zerocopy_sends = 0;
  std::uint64_t copied_sends = 0;
};

// The median of a quantity and its range over the samples.
struct stat {
  double median = 0;
  double min = 0;
  double max = 0;
};

stat stat_of(std::vector<double> samples);

struct method_result {
  path where = path::file_to_file;
  bench_method method;
  std::vector<sample> samples;
  std::string error;  // non-empty: the method failed here (the reason), no stats
  // Aggregates over the samples (per run unless named per GiB).
  stat gib_per_second;
  stat seconds;
  stat cpu_seconds_per_gib;  // user + sys of the moving thread, per GiB
  stat user_seconds;
  stat sys_seconds;
  stat syscalls;
  stat syscalls_per_gib;
  stat voluntary_switches;
  stat involuntary_switches;
  stat context_switches;  // voluntary + involuntary
  stat minor_faults;
  stat major_faults;
  stat helper_cpu_seconds_per_gib;
  stat zerocopy_sends;
  stat copied_sends;              // zero-copy sends the kernel copied anyway
  double fraction_of_memcpy = 0;  // median throughput / memcpy bandwidth
  bool verified = false;          // every sample verified
};

struct machine {
  std::string kernel;
  std::string cpu_model;
  unsigned cpus = 0;
  std::string filesystem;  // of the bench directory
  std::string directory;
  std::string hostname;
};

struct report {
  machine host;
  std::string command_line;
  std::string started_at;  // ISO 8601, UTC
  config settings;
  double memcpy_gib_per_second = 0;  // this machine's ceiling, measured in the same run
  std::vector<method_result> results;
};

// Runs the benchmark. Fails only when it cannot set up at all (no directory, no sockets);
// a method that fails on this machine is reported in its result's `error`.
std::expected<report, std::error_code> run(const config& settings);

// Measures memcpy bandwidth on a warmed buffer of `bytes` (GiB/s, median of a few passes).
double measure_memcpy(std::size_t bytes = std::size_t{256} << 20);

// Renderings of a report (report.cpp).
std::string render_table(const report& r);  // one aligned table per path, by CPU per GiB
std::string render_json(const report& r);
std::string render_csv(const report& r);
std::string render_html(const report& r);  // self-contained: inline CSS, no scripts, no network

}  // namespace zcopy::bench
