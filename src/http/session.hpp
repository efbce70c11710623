// session: the HTTP/1.1 protocol on one connection, plugged into the event loop (net::protocol).
//
// Bytes from the loop go to the request parser; a complete request goes to plan(), and the plan
// becomes the loop's reply (head, inline body or file range, close). The loop sends one reply at
// a time and calls again with the rest of its input, so pipelined requests are answered in order.
// Per-connection policy lives here: the keep-alive request limit (the last response says
// "Connection: close", nginx's keepalive_requests), 408 for a request cut off by the header
// timeout (its whole response in the reply's head: the loop sends a timeout's answer as one
// best-effort send of the head), parser errors answered and the connection closed (no body for
// HEAD), "Expect: 100-continue" answered with an interim reply (the head "HTTP/1.1 100 Continue"
// alone, not logged; the loop sends it like any reply and calls consume again for the body) or
// at once with a final error status, the access log entry once a response is over, and the
// server's errors on stderr (nginx's error_log): a 500 with its cause, a 403 for a symlink that
// leaves ROOT, a body cut short by the file (truncated, EIO). A client that goes away is not an
// error.
//
// A session borrows its worker's context (open-file cache, log buffer), which outlives every
// connection of that worker.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/access_log.hpp"
#include "http/plan.hpp"
#include "http/request_parser.hpp"
#include "net/server.hpp"

namespace zcopy::http {

struct session_settings {
  serve_options serve;  // cache left null here: each worker sets its own
  parser_limits limits;
  std::size_t max_requests = 1000;  // per connection; 0: no limit
};

// What one worker thread owns for all of its connections.
struct worker_context {
  worker_context(const session_settings& session, open_file_cache::settings cache_settings,
                 access_log* shared_log)
      : settings(session), cache(cache_settings), log(shared_log) {}
  const session_settings& settings;
  open_file_cache cache;
  access_log::buffer log;
  // Called from the loop's tick: stale cache entries closed, log lines written out.
  void tick() {
    cache.expire(open_file_cache::clock::now());
    log.flush();
  }
};

class session final : public net::protocol {
 public:
  session(worker_context& context, std::string peer);

  std::size_t consume(std::string_view input, std::optional<net::reply>& out) override;
  std::optional<net::reply> on_timeout() override;
  bool idle() const override { return parser_.idle(); }
  void failed(std::error_code error, std::uint64_t body_bytes) override;
  void finished(std::uint64_t body_bytes, bool complete) override;

 private:
  net::reply to_reply(response_plan plan);
  // The reply for `req`, with its log entry started and a 500's cause on stderr.
  net::reply answer(const request& req, response_plan plan,
                    std::chrono::system_clock::time_point now);

  worker_context& context_;
  serve_options options_;
  std::string peer_;
  request_parser parser_;
  std::size_t requests_ = 0;
  std::string target_;  // of the request being answered, for error messages

  // The response in flight, for its log entry.
  struct log_entry {
    std::chrono::system_clock::time_point time;
    std::string request_line;
    std::string referer;
    std::string user_agent;
    int status = 0;
  };
  log_entry entry_;
};

}  // namespace zcopy::http
