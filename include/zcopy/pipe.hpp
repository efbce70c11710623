// Pipes for splice: a pipe_pair (both ends, sized for throughput) and a bounded pipe_pool.
//
// splice(2) moves pages between two descriptors only through a pipe, so every socket→socket or
// file→socket splice needs one. Creating a pipe and growing it with F_SETPIPE_SZ costs three
// system calls, so pipes are reused from a small pool. The pool is bounded on purpose: the kernel
// clamps new pipes to one page once a user holds more than pipe-user-pages-soft worth
// (enghitalo/vanilla#77). A pipe that may still hold bytes is never put back: a reused dirty pipe
// would hand one transfer's bytes to another (Go's putPipe refuses it for the same reason).
#pragma once

#include <cstddef>
#include <expected>
#include <mutex>
#include <system_error>
#include <vector>

#include "zcopy/fd.hpp"

namespace zcopy {

// The default capacity asked for: 1 MiB, as Go and wangle use. Without CAP_SYS_RESOURCE the
// kernel caps it at /proc/sys/fs/pipe-max-size; the pipe then keeps whatever size it got.
inline constexpr std::size_t default_pipe_capacity = std::size_t{1} << 20;

class pipe_pair {
 public:
  pipe_pair() = default;
  // Both ends are O_NONBLOCK and O_CLOEXEC; splice is always called with SPLICE_F_NONBLOCK too.
  static std::expected<pipe_pair, std::error_code> create(
      std::size_t capacity = default_pipe_capacity);

  int read_fd() const noexcept { return read_.get(); }
  int write_fd() const noexcept { return write_.get(); }
  std::size_t capacity() const noexcept { return capacity_; }
  explicit operator bool() const noexcept { return static_cast<bool>(read_); }

  // Bytes the kernel reports inside the pipe (FIONREAD); the pool's last check.
  std::expected<std::size_t, std::error_code> bytes_inside() const;

 private:
  unique_fd read_;
  unique_fd write_;
  std::size_t capacity_ = 0;
};

class pipe_pool {
 public:
  explicit pipe_pool(std::size_t max_idle = 16,
                     std::size_t capacity = default_pipe_capacity) noexcept
      : max_idle_(max_idle), capacity_(capacity) {}
  pipe_pool(const pipe_pool&) = delete;
  pipe_pool& operator=(const pipe_pool&) = delete;

  // A clean pipe: an idle one if there is one, else a new one.
  std::expected<pipe_pair, std::error_code> acquire();
  // Returns a pipe. `bytes_inside` is the caller's count of bytes still in it (the engine counts
  // every byte it splices in and out, as Go does); a pipe that holds any is closed, not kept.
  void release(pipe_pair pipe, std::size_t bytes_inside);

  std::size_t idle() const;
  std::size_t discarded() const;

  // The process-wide pool the transfer engine uses.
  static pipe_pool& shared();

 private:
  mutable std::mutex mutex_;
  std::vector<pipe_pair> idle_;
  std::size_t max_idle_;
  std::size_t capacity_;
  std::size_t discarded_ = 0;
};

}  // namespace zcopy
