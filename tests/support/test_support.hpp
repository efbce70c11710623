// Shared test helpers: seeded random data, temporary directories and files, byte comparison,
// and fault injection through the syscall layer's hook table.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "sys/sys.hpp"
#include "transfer/stream_peer.hpp"
#include "zcopy/fd.hpp"
#include "zcopy/net.hpp"

namespace zcopy::test {

// The seed every random generator in a test starts from; printed on failure through
// SCOPED_TRACE in the fixtures that use it. ZCOPY_TEST_SEED overrides it.
std::uint64_t test_seed();

// `n` random bytes from a generator seeded with `seed` (never all zeros for n >= 16).
std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed);
// The same bytes in a string (HTTP bodies in the client tests).
std::string random_text(std::size_t n, std::uint64_t seed);

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class temp_dir {
 public:
  explicit temp_dir(const std::filesystem::path& parent = {});
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Writes `data` to a new file at `path` (mode 0644) and returns it opened with `flags`.
unique_fd write_file(const std::filesystem::path& path, std::span<const std::byte> data,
                     int flags = O_RDONLY);
std::vector<std::byte> read_file(const std::filesystem::path& path);
std::string text_of(std::span<const std::byte> bytes);
std::string read_text(const std::filesystem::path& path);
std::vector<std::byte> read_fd_to_end(int fd);
// [offset, offset + length) of `fd` read with pread (the descriptor's position is left alone);
// shorter when the file ends first.
std::vector<std::byte> read_range(int fd, std::uint64_t offset, std::uint64_t length);
unique_fd open_or_die(const std::filesystem::path& path, int flags, mode_t mode = 0644);

// Compares two byte sequences and reports the first difference (not the whole buffers).
::testing::AssertionResult same_bytes(std::span<const std::byte> expected,
                                      std::span<const std::byte> actual);

// Drains a socket or pipe in a background thread until EOF (or `limit` bytes), collecting bytes
// and hashing them.
class drainer {
 public:
  explicit drainer(int fd, bool keep = true, std::size_t read_size = 256 * 1024,
                   std::uint64_t limit = UINT64_MAX);
  drainer(const drainer&) = delete;
  drainer& operator=(const drainer&) = delete;
  // Waits for EOF and returns everything read (empty when `keep` is false).
  std::vector<std::byte> finish();
  std::uint64_t total() const { return reader_.total(); }
  std::uint64_t hash() const { return hash_; }  // FNV-1a of the stream (valid after finish)

 private:
  std::vector<std::byte> data_;
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
  detail::stream_reader reader_;  // last: its thread uses the members above
};

// The far ends of a FIFO that the code under test opens, written so that a test whose subject
// never opens the FIFO fails instead of hanging: a blocking open(2) of a FIFO waits for its peer
// forever. `fifo_reader` opens the read end at once, non-blocking (so a writer's non-blocking open
// finds a reader), and collects until the writer has come and gone; `fifo_writer` opens the write
// end once a reader is there and writes `data`. Each gives up after `patience` without a peer or
// progress; `finish()` joins and says whether the peer came.
class fifo_reader {
 public:
  explicit fifo_reader(const std::filesystem::path& fifo,
                       std::chrono::milliseconds patience = std::chrono::minutes(2));
  ~fifo_reader();
  fifo_reader(const fifo_reader&) = delete;
  fifo_reader& operator=(const fifo_reader&) = delete;
  // Joins; the bytes read (empty, and `writer_came` false, when no writer ever came).
  std::vector<std::byte> finish();
  bool writer_came() const { return writer_came_; }

 private:
  unique_fd fd_;
  std::vector<std::byte> data_;
  bool writer_came_ = false;
  std::thread thread_;
};

class fifo_writer {
 public:
  fifo_writer(const std::filesystem::path& fifo, std::vector<std::byte> data,
              std::chrono::milliseconds patience = std::chrono::minutes(2));
  ~fifo_writer();
  fifo_writer(const fifo_writer&) = delete;
  fifo_writer& operator=(const fifo_writer&) = delete;
  // Joins; whether every byte was written (a reader came and took them).
  bool finish();

 private:
  bool done_ = false;
  std::thread thread_;
};

std::uint64_t fnv1a(std::span<const std::byte> data, std::uint64_t hash = 0xcbf29ce484222325ULL);

// The zcopy binary run as a user runs it (its path comes from ZCOPY_BINARY, which
// tests/CMakeLists.txt sets). stdout and stderr go to files, so neither pipe can fill up and stall
// the child while the test waits.
struct run_result {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};
run_result run_zcopy(const std::vector<std::string>& args);

// Fault injection. While a `fault_scope` lives, the hooks it installed are active; it restores
// the real table when it ends. A `fault` fires on the `nth` matching call (1-based) and, with
// `repeat`, on every later one too.
struct fault {
  int error = 0;                 // errno to fail with (0: do not fail)
  std::size_t nth = 1;           // which call fails first
  bool repeat = false;           // keep failing after the first
  std::size_t short_to = 0;      // instead of failing, cap the call's length to this many bytes
  std::size_t short_before = 0;  // cap the calls before the `nth` to this many bytes
};

class fault_scope {
 public:
  fault_scope();
  ~fault_scope();
  fault_scope(const fault_scope&) = delete;
  fault_scope& operator=(const fault_scope&) = delete;

  // Each installs a hook on one call that fires `f` and otherwise forwards to the real call.
  void sendfile(fault f);
  void splice(fault f);
  void copy_file_range(fault f);
  void ioctl(fault f);  // FICLONE / FICLONERANGE only
  void read(fault f);
  void pread(fault f);
  void write(fault f);
  void pwrite(fault f);
  void mmap(fault f);
  void openat(fault f);
  void fallocate(fault f);
  void fsetxattr(fault f);
  // How many times each hooked call was made while the scope was active.
  std::size_t calls(syscall_kind kind) const;
};

// An XFS filesystem (reflink=1) in a loop-mounted image under /tmp, for as long as the object
// lives. Every step that the environment may refuse (not root, no mkfs.xfs, no loop devices in a
// container, no FICLONE) becomes a skip reason; whatever was set up is taken down again.
class xfs_mount {
 public:
  xfs_mount();
  ~xfs_mount();
  xfs_mount(const xfs_mount&) = delete;
  xfs_mount& operator=(const xfs_mount&) = delete;

  const std::optional<std::string>& skip_reason() const { return skip_; }
  const std::filesystem::path& path() const { return mount_point_; }

 private:
  bool run(const std::string& command);

  temp_dir dir_{"/tmp"};  // destroyed last: the image lives in it
  std::filesystem::path image_;
  std::filesystem::path mount_point_;
  bool mounted_ = false;
  std::string output_;
  std::optional<std::string> skip_;
};

// Waits, bounded by `patience`, until `done()` is true; returns its last answer. For a state a
// test can only poll (a counter, a closed listener); the bound is patience for a slow machine.
template <class F>
bool eventually(F done, std::chrono::milliseconds patience = std::chrono::seconds(60)) {
  const auto give_up = std::chrono::steady_clock::now() + patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= give_up) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A loopback port that refuses connections: bound to 127.0.0.1:0, never listening, and held for
// the life of the test process. A port only freed could meanwhile be taken by another test's
// listener, or be picked by a connect as its own source port (a loopback connect to itself
// succeeds); a bound one is neither.
int refusing_port();

}  // namespace zcopy::test
