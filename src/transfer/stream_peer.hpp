// stream_peer: the far end of a stream (a socket or a pipe) played by a thread of its own, for
// code that runs a transfer into or out of a stream it also has to feed or drain: `zcopy probe`'s
// trials, the bench runner's helpers and the tests.
//
// A stream_writer owns its descriptor, writes the bytes it was given and then ends the stream
// (shutdown(SHUT_WR) on a socket, close on anything else) so that the reading side sees EOF; the
// socket itself stays open until the writer is gone, so the reader is never told ECONNRESET by
// surprise. A stream_reader borrows its descriptor and reads until EOF, handing each chunk to a
// consumer (or, without one, discarding by splice into /dev/null, which costs the reader no copy).
//
// Either can be stopped early: a writer at once, a reader after a grace period in which it still
// waits for EOF (a reader that gave up at once would leave the other side blocked on a full
// buffer). Stopping needs a non-blocking descriptor; a blocking one is served until its end.
// Each reports the CPU its thread used, which the bench charges to the helper, not the method.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <stop_token>
#include <system_error>
#include <thread>

#include "zcopy/fd.hpp"

namespace zcopy::detail {

struct stream_peer_result {
  std::uint64_t bytes = 0;
  std::error_code error;  // the first failure other than EAGAIN; empty at a clean end
  double user_seconds = 0;
  double system_seconds = 0;
};

class stream_writer {
 public:
  using clock = std::chrono::steady_clock;
  stream_writer(unique_fd fd, std::span<const std::byte> data,
                clock::time_point deadline = clock::time_point::max(),
                std::size_t chunk = std::size_t{1} << 20);
  stream_writer(const stream_writer&) = delete;
  stream_writer& operator=(const stream_writer&) = delete;
  ~stream_writer();

  // Waits until everything is written (or the deadline, or an error) and the stream is ended.
  stream_peer_result finish();
  // Stops writing at the next chance, ends the stream, and returns as finish does.
  stream_peer_result stop();

 private:
  void run(const std::stop_token& stop, std::span<const std::byte> data, clock::time_point deadline,
           std::size_t chunk);

  unique_fd fd_;
  stream_peer_result result_;
  std::jthread thread_;
};

class stream_reader {
 public:
  using consumer = std::function<void(std::span<const std::byte>)>;
  // Reads `fd` until EOF or `limit` bytes, `chunk` at a time. `consume` (called on the reader's
  // thread) sees every chunk; without it the stream is discarded by splice.
  stream_reader(int fd, consumer consume, std::size_t chunk = 256 * 1024,
                std::uint64_t limit = std::numeric_limits<std::uint64_t>::max());
  stream_reader(const stream_reader&) = delete;
  stream_reader& operator=(const stream_reader&) = delete;
  ~stream_reader();

  // Waits for EOF (or the limit, or an error).
  stream_peer_result finish();
  // Asks the reader to end: it keeps reading for up to `grace` while EOF has not come.
  stream_peer_result stop(std::chrono::milliseconds grace);
  // Bytes read so far (readable from any thread).
  std::uint64_t total() const noexcept { return total_.load(std::memory_order_relaxed); }

 private:
  void run(const std::stop_token& stop, int fd, std::size_t chunk, std::uint64_t limit);
  void discard(int fd, std::uint64_t limit);

  consumer consume_;
  std::atomic<std::chrono::milliseconds::rep> grace_ms_{0};
  std::atomic<std::uint64_t> total_{0};
  stream_peer_result result_;
  std::jthread thread_;
};

}  // namespace zcopy::detail
