// server_worker: what both event-loop engines of the server share (src/net/server.cpp: epoll,
// src/net/uring_server.cpp: io_uring): options, the protocol factory, the worker's listeners and
// counters, and the rules of a connection's life that do not depend on how the loop waits
// (timeouts, when a reply is finished, when a connection closes).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "net/loop_thread.hpp"
#include "net/server.hpp"

namespace zcopy::net {

// What a connection holds in either loop, apart from how its reply is being sent.
struct connection_state {
  std::unique_ptr<protocol> proto;
  std::string input;
  std::optional<reply> current;
  std::chrono::steady_clock::time_point deadline;
  bool in_request = false;  // part of a request has arrived: the header timeout runs
  bool peer_closed = false;
  std::error_code failure;  // why the current reply could not be sent
};

struct server::worker : loop_thread {
  using clock = std::chrono::steady_clock;

  server_options options;
  protocol_factory factory;
  std::vector<unique_fd> listeners;
  // Open connections of the whole server: the limit is one number, whichever worker accepts.
  std::atomic<std::size_t>* server_open = nullptr;
  std::atomic<std::uint64_t> accepted{0}, refused{0}, replies{0}, open{0};

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

  // Counts an accepted socket against max_connections. False: over the limit, close it now.
  bool admit();
  // The other half of admit(), when a connection is gone.
  void release();

  // The transfer that sends a reply's file range to the socket by `use` (the automatic chain
  // after it when it is not automatic).
  std::expected<transfer_job, std::error_code> body_job(const reply& r, const endpoint_info& socket,
                                                        method use) const;
  // Parses the connection's input into its next reply. False when the protocol needs more bytes
  // (a request's first bytes start its header timeout).
  bool next_reply(connection_state& c);
  // A reply went out whole: counted and reported; the deadline becomes the idle or header one.
  void reply_sent(connection_state& c, std::uint64_t body_bytes);
  // The connection closes: a reply cut short is reported to the protocol, with why.
  static void reply_cut(connection_state& c, std::uint64_t body_bytes);
  // The connection's deadline passed: a request that never finished arriving (slowloris) gets
  // the protocol's answer if it has one, best effort, before the loop closes it.
  static void answer_timeout(connection_state& c, int fd);
};

// Input kept for a connection while its reply is being sent (pipelined requests wait in here).
inline constexpr std::size_t max_buffered_input = 64 * 1024;
// After EMFILE/ENFILE, accepting pauses this long instead of spinning on a listener that stays
// readable (nginx disables accept events the same way).
inline constexpr std::chrono::milliseconds accept_pause{100};
// Bytes asked of one recv.
inline constexpr std::size_t read_chunk = 16 * 1024;

// Whether an accept error means "out of descriptors or memory": pause accepting.
bool accept_should_pause(const std::error_code& error) noexcept;

// The io_uring loop; fails when no ring can be made here (ENOSYS, EPERM) or the kernel lacks an
// operation the loop cannot do without (accept, recv, sendmsg, poll).
std::expected<std::unique_ptr<server::worker>, std::error_code> make_uring_worker();

}  // namespace zcopy::net
