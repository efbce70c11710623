#include "net/server_worker.hpp"

#include <algorithm>

#include "sys/sys.hpp"

namespace zcopy::net {

std::expected<transfer_job, std::error_code> server::worker::body_job(const reply& r,
                                                                      const endpoint_info& socket,
                                                                      method use) const {
  transfer_options o;
  o.use = use;
  o.allow_fallback = use != method::automatic;
  o.source_offset = r.offset;
  o.length = r.length;
  o.step_limit = options.step_limit;
  return r.file_info ? transfer_job::create(*r.file_info, socket, std::move(o))
                     : transfer_job::create(r.file->get(), socket.fd, std::move(o));
}

bool server::worker::next_reply(connection_state& c) {
  if (c.input.empty()) return false;
  std::optional<reply> next;
  const std::size_t used = c.proto->consume(c.input, next);
  c.input.erase(0, std::min(used, c.input.size()));
  if (!next) {
    // The first bytes of a request start its header timeout; later bytes do not extend it
    // (a client trickling a byte at a time is cut off like any other: slowloris).
    if (!c.in_request && (!c.input.empty() || !c.proto->idle())) {
      c.in_request = true;
      c.deadline = clock::now() + options.header_timeout;
    }
    return false;
  }
  c.in_request = false;
  c.current = std::move(next);
  return true;
}

void server::worker::reply_sent(connection_state& c, std::uint64_t body_bytes) {
  ++replies;
  c.proto->finished(body_bytes, true);
  c.current.reset();
  c.deadline = clock::now() + (c.input.empty() ? options.idle_timeout : options.header_timeout);
}

void server::worker::reply_cut(connection_state& c, std::uint64_t body_bytes) {
  if (!c.current) return;
  if (c.failure) c.proto->failed(c.failure, body_bytes);
  c.proto->finished(body_bytes, false);
  c.current.reset();
}

void server::worker::answer_timeout(connection_state& c, int fd) {
  if (c.current || (c.input.empty() && c.proto->idle())) return;
  if (auto r = c.proto->on_timeout()) {
    (void)sys::send(fd, r->head.data(), r->head.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
}

}  // namespace zcopy::net
