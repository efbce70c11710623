// worker: one event-loop thread of a network service (the server's epoll and io_uring loops,
// the relay), and what every such loop has alike whatever it serves and however it waits.
//
// A worker owns its listeners (one SO_REUSEPORT socket per address, so the kernel spreads new
// connections over the workers and no lock is shared on the hot path), the eventfd that wakes it
// when a stop is requested, and its counters. It admits each accepted socket against a limit
// shared by all workers of the service (one number, whichever worker accepts), pauses accepting
// after EMFILE/ENFILE instead of spinning on a listener that stays readable, and stops gracefully:
// once asked, the loop closes its listeners and gives open connections the grace period. A
// `worker_group` owns the workers of one service: it opens them (port 0 picked by the first, bound
// by the others), starts, stops and joins their threads, and stops them when destroyed.
//
// SIGPIPE: sendfile and splice cannot be told MSG_NOSIGNAL, so a service ignores SIGPIPE when it
// still has its default action (`sys::ignore_sigpipe`, as nginx does at start-up); a vanished peer
// then shows up as EPIPE.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "net/listener.hpp"
#include "zcopy/fd.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy::net {

// After EMFILE/ENFILE, accepting pauses this long instead of spinning on a listener that stays
// readable (nginx disables accept events the same way).
inline constexpr std::chrono::milliseconds accept_pause{100};

// Whether an accept error means "out of descriptors or memory": pause accepting.
bool accept_should_pause(const std::error_code& error) noexcept;

// A connected socket described without asking the kernel: accept4 and connect say what it is (a
// non-blocking stream socket), so classify()'s fstat and fcntl would only repeat it.
endpoint_info describe_socket(int fd);

// Ignores SIGPIPE while it has its default action (see above).

struct worker {
  using clock = std::chrono::steady_clock;

  unique_fd wake;  // eventfd, watched by the loop: readable once a stop is requested
  std::atomic<bool> stopping{false};
  std::atomic<std::int64_t> grace_ms{0};
  std::thread thread;
  std::vector<unique_fd> listeners;
  // Open connections of the whole service, and its limit.
  std::atomic<std::size_t>* service_open = nullptr;
  std::size_t max_connections = 0;
  std::atomic<std::uint64_t> accepted{0}, refused{0}, open{0};
  clock::time_point accept_resume{};
  bool accept_paused = false;
  std::optional<clock::time_point> stop_deadline;  // set once a stop began

  virtual ~worker() = default;
  // Makes the loop's own kernel objects (an epoll set, a ring) once `wake` and `listeners` are
  // open, on the starting thread.
  virtual std::error_code prepare() = 0;
  // Once the thread runs: what it could not set up on its own thread (a ring belongs to the
  // thread that makes it), or nothing.
  virtual std::error_code wait_ready() { return {}; }
  // The loop; returns once a stop was requested and the connections are gone (or the grace
  // period ran out).
  virtual void run() = 0;

  // Creates `wake` (non-blocking, close-on-exec).
  std::error_code open_wake();
  // Called by the loop when `wake` is readable: clears it so level-triggered waits go quiet.
  void drain_wake() noexcept;
  // From any thread: sets the grace period and the flag, then wakes the loop.
  void request_stop(std::chrono::milliseconds grace) noexcept;

  // The first time the loop sees a stop request: true, and the grace period starts. The loop then
  // lets go of its listeners (drop_listeners) and closes what it need not wait for.
  bool stop_begins(clock::time_point now);
  // A stop is under way and the loop may end: no connection left, or the grace period is over.
  bool stop_done(clock::time_point now, bool connections_left) const noexcept;
  // Closes the listeners, after taking them out of `epoll` (-1: in no epoll set).
  void drop_listeners(int epoll);

  // Counts an accepted socket against the limit; false: over it, close the socket now (the client
  // learns at once instead of waiting). An admitted one is counted (accepted, open) and gets
  // TCP_NODELAY.
  bool admit(int fd);
  // The other half of admit(), when a connection is gone.
  void release() noexcept;
  // An accept failed with `error`: true when accepting must pause (until `accept_resume`).
  bool pause_accepting(const std::error_code& error, clock::time_point now);
  // True once a pause is over and accepting may resume (the pause is then cleared).
  bool resume_accepting(clock::time_point now);
  // Accepts what `listener` has (non-blocking), calling f(unique_fd, const sockaddr_storage&) for
  // each socket admitted. Returns false when accepting had to pause.
  template <class F>
  bool accept_all(int listener, clock::time_point now, F&& f) {
    for (;;) {
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      auto fd = accept_one(listener, peer, peer_length);
      if (!fd) return !pause_accepting(fd.error(), now);  // EAGAIN: nothing more to take now
      unique_fd sock(*fd);
      if (!admit(sock.get())) continue;
      f(std::move(sock), peer);
    }
  }

 private:
  static std::expected<int, std::error_code> accept_one(int listener, sockaddr_storage& peer,
                                                        socklen_t& length);
};

// The workers of one service: the server and the relay derive from it, and their users stop and
// wait through it. A derived class whose workers use its own members stops and joins them in its
// destructor: this one runs after those members are gone.
class worker_group {
 public:
  worker_group(const worker_group&) = delete;
  worker_group& operator=(const worker_group&) = delete;
  virtual ~worker_group();

  // The bound addresses ("127.0.0.1:8080"), with ports resolved when 0 was asked for.
  const std::vector<std::string>& addresses() const noexcept { return addresses_; }
  // Stops accepting, lets open connections finish for up to `grace`, then closes the rest.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds{5000});
  // Blocks until every worker has exited.
  void wait();

 protected:
  worker_group() = default;
  // Adds a worker: its wake eventfd, its listeners (the first worker resolves port 0 in
  // `addresses` for the others), then its loop's own objects.
  std::error_code add_worker(std::unique_ptr<worker> w, std::vector<endpoint_address>& addresses,
                             std::size_t max_connections);
  // Starts every loop, then waits until each has set itself up (a failure leaves the others to
  // the destructor).
  std::error_code start_workers();
  const std::vector<std::unique_ptr<worker>>& workers() const noexcept { return workers_; }

 private:
  std::atomic<std::size_t> open_{0};  // declared first: the workers point at it
  std::vector<std::unique_ptr<worker>> workers_;
  std::vector<std::string> addresses_;
};

// Threads for a service: `asked`, or one per CPU.
unsigned worker_count(unsigned asked) noexcept;

}  // namespace zcopy::net
