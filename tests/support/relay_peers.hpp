// Peers for the relay's tests (tests/net/relay_test.cpp, tests/integration/relay_test.cpp): a
// threaded TCP backend on 127.0.0.1:0 whose behaviour per connection is a function (echo,
// reset, answer after EOF, ...), and blocking clients whose every wait has a deadline.
//
// The backend owns its listener, one thread per connection and the connections' sockets; its
// destructor shuts every socket down, so a handler blocked in read returns, and joins them all.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "zcopy/fd.hpp"

namespace zcopy::test {

using namespace std::chrono_literals;

class tcp_backend {
 public:
  // Runs on a thread of its own per connection with the accepted (blocking) socket and the
  // connection's index (0 for the first); the socket is closed when it returns.
  using handler = std::function<void(int fd, std::size_t index)>;
  explicit tcp_backend(handler h);
  ~tcp_backend();
  tcp_backend(const tcp_backend&) = delete;
  tcp_backend& operator=(const tcp_backend&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::size_t accepted() const { return accepted_.load(); }
  // Handlers call it when they read EOF from the relay (a half-close that arrived).
  void note_eof() { ++eofs_; }
  std::size_t eofs() const { return eofs_.load(); }

 private:
  void accept_loop();
  handler handler_;
  unique_fd listener_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> eofs_{0};
  std::mutex mutex_;
  std::vector<int> open_fds_;  // borrowed: shut down on destruction to wake handlers
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// Echoes until EOF, then shuts its writing side down (and notes the EOF on `backend`).
void echo(tcp_backend& backend, int fd);
// Sets SO_LINGER 0 on a handler's socket: when the handler returns and the socket is closed,
// the peer gets a reset, not a FIN.
void reset_close(int fd);

// A blocking TCP client connected to 127.0.0.1:port; empty on failure.
unique_fd connect_loopback(int port);

enum class read_end { eof, reset, timeout, error };
struct read_outcome {
  std::vector<std::byte> bytes;
  read_end how = read_end::timeout;
};
// Reads until EOF, a reset, `max` bytes or the deadline.
read_outcome read_until_end(int fd, std::chrono::milliseconds timeout, std::size_t max = SIZE_MAX);
// Writes all of `data` (blocking socket); false on an error.
bool send_all(int fd, std::span<const std::byte> data);

// Sends `payload` on a new connection to `port` (from a second thread), shuts the writing side
// down, and reads the answer until EOF: through the relay to an echo backend, what comes back.
read_outcome echo_through(int port, std::span<const std::byte> payload,
                          std::chrono::milliseconds timeout = 60s);

// The number of open descriptors of a process (/proc/PID/fd), and its resident memory in KiB
// (VmRSS of /proc/PID/status); -1 when unreadable.
long fd_count(int pid);
long rss_kib(int pid);

}  // namespace zcopy::test
