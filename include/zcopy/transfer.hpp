// transfer(): move bytes from one descriptor to another with the cheapest mechanism that works.
//
// The engine classifies both ends (endpoint.hpp), picks a chain of mechanisms for the pair and
// walks it, falling back on the errno values that mean "not for this pair" (docs/DESIGN.md has the
// table and the rule behind every errno):
//
// clang-format off
//   file → file      reflink → copy_file_range → sendfile → read/write   (holes kept, except reflink)
//   file → socket    sendfile → splice → read/write
//   file → pipe      splice → sendfile → read/write
//   stream → any     splice → read/write              (socket, pipe, char device)
// clang-format on
//
// Every outcome carries the bytes already moved. A fallback never restarts: the next mechanism
// continues from the current offsets (rust-lang/rust#91152). A method can be forced
// (`transfer_options::use`); a forced method falls back only when `allow_fallback` is set.
//
// Positions: with an explicit offset the descriptor's file position is left alone (like pread);
// without one the transfer starts at, and advances, the current position (like read).
//
// Non-blocking ends: EAGAIN hands control back with `transfer_result::blocked` saying which end to
// wait for; `transfer_job::run()` resumes the same transfer later. Blocking ends block, and use the
// largest chunks the kernel takes. `step_limit` bounds one run() for event loops (nginx's
// sendfile_max_chunk) so one large response cannot starve a loop's other connections.
//
// Page sharing: sendfile and splice from a file hand the peer references to page-cache pages, not
// copies. A write to the file right after transfer() returns may still show up in what the peer
// receives (rust-lang/rust#116451). This is what makes them cheap; it is harmless for files that
// are not rewritten in place, and the reason to use read_write for files that are.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string_view>
#include <system_error>
#include <vector>

#include "zcopy/endpoint.hpp"
#include "zcopy/pipe.hpp"

namespace zcopy {

enum class method {
  automatic,        // choose by endpoint pair (the chains above)
  read_write,       // read(2)/write(2) through a user buffer: the baseline
  mmap_write,       // map the source, write(2) from the mapping
  sendfile,         // sendfile(2): file → anything
  splice,           // splice(2), through a pooled pipe unless one end is a pipe
  copy_file_range,  // copy_file_range(2): file → file, inside the kernel (or the filesystem)
  reflink,          // FICLONE / FICLONERANGE: share extents, copy nothing
  direct_io,        // O_DIRECT reads (and aligned writes) with aligned buffers
  io_uring,  // io_uring (liburing): SPLICE pairs to sockets, fixed-buffer READ/WRITE for files
};

inline constexpr std::size_t method_count = 9;

std::string_view to_string(method m) noexcept;
std::optional<method> parse_method(std::string_view name) noexcept;
// The concrete methods, in declaration order (without `automatic`).
std::span<const method> all_methods() noexcept;

// Which end a would-block result waits for.
enum class wait_for { nothing, readable, writable };

struct fallback_record {
  method from;
  method to;
  std::error_code reason;
  std::uint64_t at_byte;  // bytes moved when the fallback happened
};

struct transfer_options {
  method use = method::automatic;
  bool allow_fallback = false;          // for a forced method: fall back down the automatic chain
  std::optional<std::uint64_t> length;  // at most this many bytes; none: to the end
  std::optional<std::uint64_t> source_offset;  // none: the current position, which advances
  std::optional<std::uint64_t> sink_offset;    // none: the current position, which advances
  std::size_t chunk_size = 0;  // bytes per call; 0: the method's default (read_write: 128 KiB)
  std::size_t step_limit = 0;  // bytes per run() at most (event loops); 0: no limit
  // The pool splice takes its pipe from; none: pipe_pool::shared() (1 MiB pipes). Must outlive
  // the transfer. A relay wants smaller pipes than a file transfer (net/relay.hpp).
  pipe_pool* pipes = nullptr;
  bool keep_holes = true;  // file → file: holes in the source stay holes (SEEK_DATA/HOLE)
  // false: the automatic chain (and a forced method's fallbacks) leave reflink out, so the data
  // is really copied (cp --reflink=never). copy_file_range itself may still share extents where
  // the filesystem offers it (the VFS clones first on XFS and btrfs).
  bool allow_reflink = true;
  // Called after every step with the bytes moved so far. When set (or `stop` can be requested)
  // steps are at most 8 MiB so that progress and cancellation stay responsive.
  std::function<void(std::uint64_t moved)> on_progress;
  std::stop_token stop;  // a requested stop ends the transfer with errc::cancelled
};

struct transfer_result {
  std::uint64_t bytes = 0;          // moved so far, whatever the outcome
  method used = method::automatic;  // the method that moved the most recent bytes
  std::array<std::uint64_t, method_count> bytes_by_method{};
  std::vector<fallback_record> fallbacks;
  std::uint64_t syscalls = 0;            // issued by this transfer, counted by the syscall layer
  std::error_code error;                 // empty unless the transfer failed
  wait_for blocked = wait_for::nothing;  // non-blocking end not ready: resume later
  bool complete = false;                 // reached the length or the end of the source

  bool ok() const noexcept { return !error; }
  bool would_block() const noexcept { return blocked != wait_for::nothing; }
  std::uint64_t bytes_with(method m) const noexcept {
    return bytes_by_method[static_cast<std::size_t>(m)];
  }
};

namespace detail {
struct transfer_state;
struct job_access;
}  // namespace detail

// A transfer that can be resumed: what an event loop keeps per response or per relay direction.
class transfer_job {
 public:
  // Classifies both ends and plans the chain. Fails on bad descriptors, overlapping ranges of one
  // file, or a forced method that cannot serve the pair.
  static std::expected<transfer_job, std::error_code> create(int source, int sink,
                                                             transfer_options options = {});
  // The same with both ends already classified (classify() or describe()), for event loops
  // that start a transfer per response and know their ends: no fstat or fcntl here (a seekable
  // end without an explicit offset still costs one lseek to read its position).
  static std::expected<transfer_job, std::error_code> create(const endpoint_info& source,
                                                             const endpoint_info& sink,
                                                             transfer_options options = {});
  transfer_job(transfer_job&&) noexcept;
  transfer_job& operator=(transfer_job&&) noexcept;
  ~transfer_job();

  // Moves bytes until the transfer completes, fails, a non-blocking end would block, or
  // `step_limit` bytes moved in this call. Returns the cumulative result.
  transfer_result run();

  const transfer_result& result() const noexcept;
  bool done() const noexcept;  // complete or failed
  // Bytes taken from the source but not yet delivered (in the job's pipe or buffer). A job
  // dropped with bytes in flight from a stream source loses them; from a file they are re-read.
  std::uint64_t in_flight() const noexcept;
  const endpoint_info& source() const noexcept;
  const endpoint_info& sink() const noexcept;
  // The chain this transfer walks.
  std::span<const method> plan() const noexcept;

 private:
  friend struct detail::job_access;  // uring_batch drives the job's state on its own ring
  explicit transfer_job(std::unique_ptr<detail::transfer_state> state) noexcept;
  std::unique_ptr<detail::transfer_state> state_;
};

// Runs a transfer to completion, or until a non-blocking end would block. Bytes already taken from
// a stream source are never dropped: before returning on would-block it waits until they are
// delivered (use transfer_job to stay fully non-blocking).
transfer_result transfer(int source, int sink, const transfer_options& options = {});
// The same with both ends already classified (classify() or describe()): a caller that has just
// opened and fstat'ed both files (cp, once per file of a tree) saves classify()'s calls.
transfer_result transfer(const endpoint_info& source, const endpoint_info& sink,
                         const transfer_options& options = {});

// The chain the engine would walk for this pair, without moving anything.
std::vector<method> plan_for(const endpoint_info& source, const endpoint_info& sink,
                             const transfer_options& options = {});

// Whether a method can serve this pair at all (ignoring what the kernel will say).
bool applicable(method m, const endpoint_info& source, const endpoint_info& sink) noexcept;

}  // namespace zcopy
