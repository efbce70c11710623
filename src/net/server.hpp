// server: the epoll event loop behind `zcopy serve`, one loop per worker thread.
//
// Each worker owns an epoll instance and its own SO_REUSEPORT listener per address, so the kernel
// spreads connections across workers and no lock is shared on the hot path. Sockets are
// non-blocking and level-triggered; a reply's file body goes through the library's resumable
// transfer (sendfile by default), so a slow client only ever parks its own connection on
// EPOLLOUT. `loop_engine::io_uring` runs the same loop on io_uring instead (uring_server.cpp):
// actions queued and submitted in batches, file bodies as linked splice pairs. The loop knows
// nothing about HTTP: a `protocol` object per connection turns received
// bytes into replies (src/http provides the HTTP one).
//
// SIGPIPE: sendfile and splice cannot be told MSG_NOSIGNAL, so `start` sets SIGPIPE to SIG_IGN
// when it still has its default action (net/worker.hpp); a vanished peer then shows up as EPIPE.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "net/listener.hpp"
#include "net/worker.hpp"
#include "zcopy/fd.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy::net {

// One reply: a head, then an inline body or a file range.
struct reply {
  std::string head;
  std::string body;
  // A body in memory the reply does not own (a mapping), sent right after `body`, kept alive by
  // `borrowed_owner` until the reply is over.
  std::span<const std::byte> borrowed_body;
  std::shared_ptr<const void> borrowed_owner;
  // The file body's descriptor, owned by this reply or shared (a cache of open files): it stays
  // open until the last owner lets go.
  std::shared_ptr<const unique_fd> file;
  // Its classification when the protocol already knows it (describe() from the stat it took):
  // saves the fstat and fcntl calls of classify() on every reply.
  std::optional<endpoint_info> file_info;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool close = false;  // close the connection once the reply is out
};

// The per-connection protocol state.
class protocol {
 public:
  virtual ~protocol() = default;
  // Consumes what it can of `input`. When a request is complete, fills `out` and returns the
  // bytes it used; the loop sends the reply before it calls again with the rest (pipelining).
  virtual std::size_t consume(std::string_view input, std::optional<reply>& out) = 0;
  // The peer closed or went quiet; a reply for a half-received request, if any (408, say).
  virtual std::optional<reply> on_timeout() { return std::nullopt; }
  // False while the protocol holds part of a request it has consumed (an incremental parser
  // keeps nothing in `input`): the header timeout then applies, not the idle one.
  virtual bool idle() const { return true; }
  // The last reply could not be sent: the peer went away (EPIPE, ECONNRESET) or the file failed
  // under it (truncated, EIO). Called before finished(), with the body bytes that left.
  virtual void failed(std::error_code error, std::uint64_t body_bytes) {
    (void)error;
    (void)body_bytes;
  }
  // The last reply handed out is over: all of it sent (`complete`), or the connection closed
  // first. `body_bytes` counts what left after the head (nginx's $body_bytes_sent).
  virtual void finished(std::uint64_t body_bytes, bool complete) {
    (void)body_bytes;
    (void)complete;
  }
};

// `peer` is the client's address without the port ("127.0.0.1", "::1").
using protocol_factory = std::function<std::unique_ptr<protocol>(std::string_view peer)>;

// How a worker's loop waits for its sockets.
enum class loop_engine {
  epoll,     // readiness (level-triggered epoll), then one system call per action
  io_uring,  // completions: accepts, receives, sends and spliced bodies submitted in batches
};

struct server_options {
  std::vector<endpoint_address> listen;
  unsigned threads = 0;                              // 0: one per CPU
  std::size_t max_connections = 10'000;              // over it, new connections are closed at once
  std::chrono::milliseconds header_timeout{10'000};  // a request must arrive within this
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive connection with nothing to do
  std::chrono::milliseconds send_timeout{60'000};    // no progress sending a reply
  std::size_t step_limit = std::size_t{2} << 20;     // bytes per transfer step (fairness)
  method body_method = method::automatic;            // how file bodies are sent (epoll)
  loop_engine engine = loop_engine::epoll;
  // io_uring: one multishot accept per listener (5.19); false re-arms a single accept each time.
  bool multishot_accept = true;
  // Run by every worker on its own thread about once a second and once more when it exits
  // (per-worker housekeeping: cache expiry, log flushes).
  std::function<void()> tick;
};

struct server_stats {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;  // over max_connections
  std::uint64_t replies = 0;
  std::uint64_t open_connections = 0;
};

// Stopped (stop, wait) through worker_group.
class server : public worker_group {
 public:
  // Binds every address on every worker and starts the workers.
  static std::expected<std::unique_ptr<server>, std::error_code> start(server_options options,
                                                                       protocol_factory factory);
  server_stats stats() const;

  struct worker;

 private:
  server() = default;
};

}  // namespace zcopy::net
