#include "http/session.hpp"

#include <fcntl.h>
#include <fmt/format.h>

#include "http/response.hpp"

namespace zcopy::http {

namespace {

std::chrono::sys_seconds to_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t);
}

}  // namespace

session::session(worker_context& context, std::string peer)
    : context_(context),
      options_(context.settings.serve),
      peer_(std::move(peer)),
      parser_(context.settings.limits) {
  options_.cache = &context.cache;
}

net::reply session::to_reply(response_plan plan) {
  entry_.status = plan.status;
  net::reply r;
  r.head = std::move(plan.head);
  r.body = std::move(plan.body);
  if (!plan.mapped_body.empty()) {
    r.borrowed_body = plan.mapped_body;
    r.borrowed_owner = std::move(plan.mapped_owner);
  } else if (plan.send_file) {
    r.file_info = describe(plan.file->get(), plan.file_stat, O_RDONLY | O_NONBLOCK);
    r.file = std::move(plan.file);
    r.offset = plan.offset;
    r.length = plan.length;
  }
  r.close = plan.close_connection;
  return r;
}

net::reply session::answer(const request& req, response_plan plan,
                           std::chrono::system_clock::time_point now) {
  entry_ = {};
  entry_.time = now;
  if (context_.log.enabled()) {
    entry_.request_line = fmt::format("{} {} HTTP/{}.{}", req.method, req.target, req.version_major,
                                      req.version_minor);
    if (auto v = req.header("referer")) entry_.referer = *v;
    if (auto v = req.header("user-agent")) entry_.user_agent = *v;
  }
  target_ = req.target;
  if (plan.error) {
    fmt::print(stderr, "zcopy serve: {} \"{}\": {} {}\n", peer_, target_, plan.status,
               plan.error.message());
  }
  return to_reply(std::move(plan));
}

std::size_t session::consume(std::string_view input, std::optional<net::reply>& out) {
  const feed_result fed = parser_.feed(input);
  if (fed.state == parse_state::need_more) return fed.consumed;

  const auto now = std::chrono::system_clock::now();
  if (fed.state == parse_state::error) {
    // The stream cannot be trusted past a syntax error: answer and close (plan_error does).
    // A HEAD request, once its request line is known, gets no body (RFC 9110 §9.3.2; nginx).
    entry_ = {};
    entry_.time = now;
    out =
        to_reply(plan_error(fed.error_status, to_seconds(now), parser_.current().method == "HEAD"));
    return fed.consumed;
  }

  if (fed.state == parse_state::expect_continue) {
    // RFC 9110 §10.1.1: the client waits for "100 Continue" or a final status before it sends
    // the body. An error the head alone decides (405 for POST, 404, 403) goes out at once, as
    // nginx does, without the body: the connection then closes, since the client may send the
    // body anyway or not at all and its next bytes cannot be placed. Anything else gets the 100,
    // and the request is answered (and planned again) once its body has been read.
    request head = parser_.current();
    head.keep_alive = false;
    response_plan early = plan(head, options_, to_seconds(now));
    if (early.status < 400) {
      out.emplace();
      out->head = continue_head;  // an interim reply: no log entry, the request goes on
      return fed.consumed;
    }
    ++requests_;
    out = answer(head, std::move(early), now);
    return fed.consumed;
  }

  request req = parser_.take();
  ++requests_;
  const std::size_t limit = context_.settings.max_requests;
  if (limit != 0 && requests_ >= limit) req.keep_alive = false;
  out = answer(req, plan(req, options_, to_seconds(now)), now);
  return fed.consumed;
}

std::optional<net::reply> session::on_timeout() {
  if (parser_.idle()) return std::nullopt;  // an idle keep-alive connection just closes
  const auto now = std::chrono::system_clock::now();
  entry_ = {};
  entry_.time = now;
  net::reply r = to_reply(plan_error(408, to_seconds(now), parser_.current().method == "HEAD"));
  // The loop sends a timeout's answer best effort, with one send of `head` (net/server.cpp
  // answer_timeout): the body goes in it, or the client reads a Content-Length with nothing
  // behind it.
  r.head += r.body;
  r.body.clear();
  finished(0, false);
  return r;
}

void session::failed(std::error_code error, std::uint64_t body_bytes) {
  // The peer's own doing (it closed or reset the connection, or stopped reading until the send
  // timeout) is normal traffic, as in nginx's default error_log level.
  if (error == std::errc::broken_pipe || error == std::errc::connection_reset ||
      error == std::errc::timed_out) {
    return;
  }
  fmt::print(stderr, "zcopy serve: {} \"{}\": body cut short after {} bytes: {}\n", peer_, target_,
             body_bytes, error.message());
}

void session::finished(std::uint64_t body_bytes, bool complete) {
  (void)complete;  // nginx logs the status it sent either way, with the bytes that left
  if (entry_.status == 0) return;
  context_.log.add(peer_, entry_.time, entry_.request_line, entry_.status, body_bytes,
                   entry_.referer, entry_.user_agent);
  entry_.status = 0;
}

}  // namespace zcopy::http
