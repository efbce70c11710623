// server_worker: what both event-loop engines of the server share (src/net/server.cpp: epoll,
// src/net/uring_server.cpp: io_uring), on top of net::worker (listeners, admission, accept
// pausing, stop): options, the protocol factory, and the rules of a connection's life that do not
// depend on how the loop waits (timeouts, when a reply is finished, when a connection closes).
// Implemented in server_worker.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "net/server.hpp"
#include "net/worker.hpp"

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

struct server::worker : net::worker {
  server_options options;
  protocol_factory factory;
  std::atomic<std::uint64_t> replies{0};

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
// Bytes asked of one recv.
inline constexpr std::size_t read_chunk = 16 * 1024;

// The io_uring loop; fails when no ring can be made here (ENOSYS, EPERM) or the kernel lacks an
// operation the loop cannot do without (accept, recv, sendmsg, poll).
std::expected<std::unique_ptr<server::worker>, std::error_code> make_uring_worker();

}  // namespace zcopy::net
