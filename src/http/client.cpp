#include "http/client.hpp"

#include <http_parser.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <memory>

#include "http/chunked.hpp"
#include "http/syntax.hpp"
#include "net/connect.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy::http {

namespace {

std::unexpected<client_error> failure(client_error::kind what, std::error_code code,
                                      std::string message, std::uint64_t body_bytes = 0) {
  return std::unexpected(client_error{what, code, std::move(message), body_bytes});
}

// "Connection refused" → "connection refused": the CLI puts it after a colon.
std::string reason_text(const std::error_code& ec) {
  std::string text = ec.message();
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' &&
      (text.size() < 2 || !(text[1] >= 'A' && text[1] <= 'Z'))) {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Waits until `fd` is ready (net::wait_ready), with the failure worded for `what` ("read",
// "write"): a stop request, a timeout, or poll's error.
std::expected<void, client_error> wait_ready(int fd, short events,
                                             std::chrono::milliseconds timeout,
                                             const std::stop_token& stop, std::string_view what,
                                             std::uint64_t body_bytes = 0) {
  auto r = net::wait_ready(fd, events, timeout, stop);
  if (r) return {};
  if (r.error() == errc::cancelled) {
    return failure(client_error::kind::cancelled, r.error(), "interrupted", body_bytes);
  }
  if (r.error() == std::errc::timed_out) {
    return failure(client_error::kind::timeout, r.error(), std::string(what) + " timed out",
                   body_bytes);
  }
  return failure(client_error::kind::io, r.error(), reason_text(r.error()), body_bytes);
}

std::expected<unique_fd, client_error> connect_to(const url& target,
                                                  const request_options& options) {
  auto fd = net::connect_tcp(target.host, target.port, options.connect_timeout, options.stop);
  if (fd) return std::move(*fd);
  const net::connect_error& e = fd.error();
  switch (e.what) {
    case net::connect_error::kind::resolve:
      return failure(client_error::kind::resolve, e.code,
                     "cannot resolve '" + target.host + "'" +
                         (e.resolver_reason.empty() ? "" : ": " + e.resolver_reason));
    case net::connect_error::kind::timeout:
      return failure(client_error::kind::connect, e.code, "connection timed out");
    case net::connect_error::kind::cancelled:
      return failure(client_error::kind::cancelled, e.code, "interrupted");
    case net::connect_error::kind::wait:
      return failure(client_error::kind::io, e.code, reason_text(e.code));
    case net::connect_error::kind::refused:
      break;
  }
  return failure(client_error::kind::connect, e.code, reason_text(e.code));
}

std::expected<void, client_error> send_all(int fd, std::string_view data,
                                           const request_options& options) {
  while (!data.empty()) {
    auto w = sys::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (!w) {
      if (w.error() == std::errc::resource_unavailable_try_again) {
        if (auto r = wait_ready(fd, POLLOUT, options.read_timeout, options.stop, "write"); !r) {
          return std::unexpected(r.error());
        }
        continue;
      }
      return failure(client_error::kind::io, w.error(),
                     "sending the request: " + reason_text(w.error()));
    }
    data.remove_prefix(*w);
  }
  return {};
}

}  // namespace

// --- the response head -----------------------------------------------------------------------

// http_parser in HTTP_RESPONSE mode over peeked bytes. on_headers_complete records the framing
// and asks the parser to skip the body (return 1), so the message completes right after the
// blank line; pausing there makes http_parser_execute return exactly the head's length.
struct response_head_parser::impl {
  impl() {
    http_parser_settings_init(&settings);
    settings.on_status = [](http_parser* p, const char* at, size_t n) {
      self(p)->reason.append(at, n);
      return 0;
    };
    settings.on_header_field = [](http_parser* p, const char* at, size_t n) {
      auto* s = self(p);
      if (s->in_value) s->commit();
      s->field.append(at, n);
      return 0;
    };
    settings.on_header_value = [](http_parser* p, const char* at, size_t n) {
      auto* s = self(p);
      s->in_value = true;
      s->value.append(at, n);
      return 0;
    };
    settings.on_headers_complete = [](http_parser* p) {
      auto* s = self(p);
      // RFC 9112 §4: status-code = 3DIGIT, and RFC 9110 §15 gives meaning only to 100-599.
      // http_parser 2.9 takes one to three digits ("HTTP/1.1 41" is status 41), which no 1xx,
      // 2xx or redirect check would then recognise: the head is malformed.
      if (p->status_code < 100) {
        s->error = "invalid status code (not three digits from 100 on)";
        return -1;
      }
      if (s->in_value || !s->field.empty()) s->commit();
      s->headers_done(*p);
      return 1;  // F_SKIPBODY: the body is not the parser's business
    };
    settings.on_message_complete = [](http_parser* p) {
      self(p)->complete = true;
      http_parser_pause(p, 1);
      return 0;
    };
    reset();
  }

  static impl* self(http_parser* p) noexcept { return static_cast<impl*>(p->data); }

  void reset() {
    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = this;
    head = response_head{};
    reason.clear();
    field.clear();
    value.clear();
    in_value = complete = false;
    error = nullptr;
  }

  void commit() {
    std::string name;
    for (char c : field) name += lower(c);
    const std::string_view v = trim_ows(value);
    auto same = std::find_if(head.headers.begin(), head.headers.end(),
                             [&](const header_field& h) { return h.name == name; });
    if (same != head.headers.end()) {
      same->value += ", ";
      same->value += v;
    } else {
      head.headers.push_back({std::move(name), std::string(v)});
    }
    field.clear();
    value.clear();
    in_value = false;
  }

  void headers_done(const http_parser& p) {
    head.status = p.status_code;
    head.version_major = p.http_major;
    head.version_minor = p.http_minor;
    head.status_line = "HTTP/" + std::to_string(p.http_major) + "." + std::to_string(p.http_minor) +
                       " " + std::to_string(p.status_code) + (reason.empty() ? "" : " " + reason);
    // RFC 9112 §6.3: 1xx, 204 and 304 have no body whatever the fields say.
    head.no_body = p.status_code / 100 == 1 || p.status_code == 204 || p.status_code == 304;
    head.chunked = !head.no_body && (p.flags & F_CHUNKED) != 0;
    if (!head.no_body && !head.chunked && (p.flags & F_CONTENTLENGTH) != 0) {
      head.content_length = p.content_length;
    }
    head.until_close = !head.no_body && !head.chunked && !head.content_length;
    // http_parser's reading of the version and the Connection tokens, as the server's request
    // parser uses it; a body that ends at the close leaves nothing to keep.
    head.keep_alive = http_should_keep_alive(&p) != 0 && !head.until_close;
  }

  std::size_t feed(std::span<const char> bytes) {
    const std::size_t n = http_parser_execute(&parser, &settings, bytes.data(), bytes.size());
    const auto e = static_cast<http_errno>(parser.http_errno);
    if (e != HPE_OK && e != HPE_PAUSED && error == nullptr) error = http_errno_description(e);
    return n;
  }

  http_parser parser{};
  http_parser_settings settings{};
  response_head head;
  std::string reason, field, value;
  bool in_value = false;
  bool complete = false;
  const char* error = nullptr;
};

response_head_parser::response_head_parser() : impl_(std::make_unique<impl>()) {}
response_head_parser::~response_head_parser() = default;
std::size_t response_head_parser::feed(std::span<const char> bytes) {
  return impl_->feed(bytes);
}
bool response_head_parser::complete() const noexcept {
  return impl_->complete;
}
const char* response_head_parser::error() const noexcept {
  return impl_->error;
}
response_head& response_head_parser::head() noexcept {
  return impl_->head;
}
void response_head_parser::reset() {
  impl_->reset();
}

namespace {

// Drops `n` bytes already seen with MSG_PEEK. MSG_TRUNC on a TCP socket discards them in the
// kernel (tcp(7), since Linux 2.4), so not even the head is copied twice.
std::expected<void, client_error> consume(int fd, std::size_t n, std::uint64_t body_bytes) {
  std::array<char, 512> sink{};
  while (n > 0) {
    auto r = sys::recv(fd, sink.data(), std::min(n, sink.size()), MSG_TRUNC);
    if (!r || *r == 0) {
      const std::error_code ec = r ? std::make_error_code(std::errc::io_error) : r.error();
      return failure(client_error::kind::io, ec, reason_text(ec), body_bytes);
    }
    n -= std::min(n, *r);
  }
  return {};
}

std::expected<response_head, client_error> read_head(int fd, const request_options& options) {
  response_head_parser parser;
  std::array<char, 16 * 1024> buffer{};
  std::size_t head_bytes = 0;
  for (;;) {
    const std::size_t room = std::min(buffer.size(), options.max_head_bytes - head_bytes);
    if (room == 0) {
      return failure(
          client_error::kind::protocol, std::make_error_code(std::errc::message_size),
          "response head larger than " + std::to_string(options.max_head_bytes) + " bytes");
    }
    auto r = sys::recv(fd, buffer.data(), room, MSG_PEEK);
    if (!r) {
      if (r.error() == std::errc::resource_unavailable_try_again) {
        if (auto w = wait_ready(fd, POLLIN, options.read_timeout, options.stop, "read"); !w) {
          return std::unexpected(w.error());
        }
        continue;
      }
      return failure(client_error::kind::io, r.error(), reason_text(r.error()));
    }
    if (*r == 0) {
      return failure(client_error::kind::protocol, errc::unexpected_eof,
                     head_bytes == 0 ? "the server closed the connection without a response"
                                     : "the server closed the connection inside the response "
                                       "head");
    }
    const std::size_t used = parser.feed(std::span<const char>(buffer.data(), *r));
    if (parser.error() != nullptr) {
      return failure(client_error::kind::protocol, std::make_error_code(std::errc::protocol_error),
                     std::string("malformed response head: ") + parser.error());
    }
    if (auto c = consume(fd, used, 0); !c) return std::unexpected(c.error());
    head_bytes += used;
    if (!parser.complete()) continue;
    if (parser.head().status / 100 == 1 && parser.head().status != 101) {
      // 100 Continue, 103 Early Hints: informational, the real head follows (RFC 9110 §15.2).
      parser.reset();
      head_bytes = 0;
      continue;
    }
    return std::move(parser.head());
  }
}

bool is_redirect(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

std::optional<std::string_view> response_head::header(std::string_view lower_name) const noexcept {
  for (const header_field& h : headers) {
    if (h.name == lower_name) return h.value;
  }
  return std::nullopt;
}

std::optional<content_range> parse_content_range(std::string_view value) {
  value = trim_ows(value);
  if (value.size() < 6 ||
      !(lower(value[0]) == 'b' && lower(value[1]) == 'y' && lower(value[2]) == 't' &&
        lower(value[3]) == 'e' && lower(value[4]) == 's' && value[5] == ' ')) {
    return std::nullopt;
  }
  value.remove_prefix(6);
  const std::size_t slash = value.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view range = value.substr(0, slash);
  const std::string_view total = value.substr(slash + 1);
  content_range out;
  if (total != "*") {
    out.total = parse_u64(total);
    if (!out.total) return std::nullopt;
  }
  if (range == "*") {
    if (!out.total) return std::nullopt;  // "bytes */*" says nothing
    return out;
  }
  const std::size_t dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  out.first = parse_u64(range.substr(0, dash));
  out.last = parse_u64(range.substr(dash + 1));
  if (!out.first || !out.last || *out.last < *out.first) return std::nullopt;
  if (out.total && *out.last >= *out.total) return std::nullopt;
  return out;
}

std::string request_head(const url& target, const request_options& options) {
  std::string head = "GET " + target.target + " HTTP/1.1\r\nHost: " + target.authority() +
                     "\r\nUser-Agent: " + options.user_agent +
                     "\r\nAccept: */*\r\n"
                     // The body goes to disk as sent; a compressed one would be a different file.
                     "Accept-Encoding: identity\r\n";
  if (options.range_from) {
    head += "Range: bytes=" + std::to_string(*options.range_from) + "-";
    if (options.range_to) head += std::to_string(*options.range_to);
    head += "\r\n";
    if (!options.if_range.empty()) head += "If-Range: " + options.if_range + "\r\n";
  }
  head += options.pool ? "\r\n" : "Connection: close\r\n\r\n";
  return head;
}

std::optional<unique_fd> connection_pool::take(const url& to) {
  std::lock_guard lock(mutex_);
  auto it = idle_.find(to.authority());
  if (it == idle_.end() || it->second.empty()) return std::nullopt;
  unique_fd fd = std::move(it->second.back());
  it->second.pop_back();
  return fd;
}

void connection_pool::give(const url& to, unique_fd socket) {
  std::lock_guard lock(mutex_);
  auto& idle = idle_[to.authority()];
  if (idle.size() < max_idle_per_server) idle.push_back(std::move(socket));
}

std::expected<response, client_error> fetch(const url& target, const request_options& options) {
  url current = target;
  for (unsigned redirects = 0;; ++redirects) {
    // A pooled connection first; one the server closed meanwhile fails on the request or before
    // the first byte of the answer, and the request goes again on a new connection.
    std::optional<unique_fd> idle = options.pool ? options.pool->take(current) : std::nullopt;
    std::optional<unique_fd> fd;
    std::expected<response_head, client_error> head = std::unexpected(client_error{});
    for (;;) {
      const bool reused = idle.has_value();
      if (reused) {
        fd = std::move(*idle);
        idle.reset();
      } else {
        auto fresh = connect_to(current, options);
        if (!fresh) return std::unexpected(fresh.error());
        fd = std::move(*fresh);
      }
      auto sent = send_all(fd->get(), request_head(current, options), options);
      if (sent) head = read_head(fd->get(), options);
      const client_error* failed = !sent ? &sent.error() : !head ? &head.error() : nullptr;
      if (failed == nullptr) break;
      const bool stale = reused && failed->what != client_error::kind::timeout &&
                         failed->what != client_error::kind::cancelled;
      if (!stale) return std::unexpected(*failed);
    }
    const auto location = head->header("location");
    if (is_redirect(head->status) && location && !location->empty()) {
      if (redirects >= options.max_redirects) {
        return failure(
            client_error::kind::redirects, std::make_error_code(std::errc::too_many_links),
            "too many redirects (more than " + std::to_string(options.max_redirects) + ")");
      }
      auto next = resolve_reference(current, *location);
      if (!next) {
        return failure(client_error::kind::url, next.error().code,
                       "redirect to '" + std::string(*location) + "': " + next.error().reason);
      }
      current = std::move(*next);
      continue;
    }
    response out;
    auto info = classify(fd->get());
    if (!info) return failure(client_error::kind::io, info.error(), reason_text(info.error()));
    out.socket_info_ = *info;
    out.socket_ = std::move(*fd);
    out.head_ = std::move(*head);
    out.url_ = std::move(current);
    out.redirects_ = redirects;
    out.read_timeout_ = options.read_timeout;
    out.stop_ = options.stop;
    out.pool_ = options.pool;
    out.reusable_ = options.pool != nullptr && out.head_.keep_alive;
    return out;
  }
}

// --- the body --------------------------------------------------------------------------------

std::expected<std::uint64_t, client_error> response::receive_body(
    int file, std::optional<std::uint64_t> offset, std::function<void(std::uint64_t)> on_progress) {
  on_progress_ = std::move(on_progress);
  auto got = [&]() -> std::expected<std::uint64_t, client_error> {
    if (head_.no_body) return 0;
    auto info = classify(file);
    if (!info) return failure(client_error::kind::io, info.error(), reason_text(info.error()));
    if (head_.chunked) return receive_chunked(*info, offset);
    auto moved = splice_into(*info, offset, head_.content_length, 0);
    if (!moved) return moved;
    if (head_.content_length && *moved < *head_.content_length) {
      return failure(client_error::kind::short_body, errc::unexpected_eof,
                     "the server closed the connection after " + std::to_string(*moved) + " of " +
                         std::to_string(*head_.content_length) + " body bytes",
                     *moved);
    }
    return moved;
  }();
  // The whole body is out of the socket: the next response starts there.
  if (got && reusable_) {
    reusable_ = false;
    pool_->give(url_, std::move(socket_));
  }
  return got;
}

std::expected<std::uint64_t, client_error> response::receive_some(int file, std::uint64_t offset,
                                                                  std::uint64_t max) {
  if (head_.chunked || !head_.content_length) {
    return failure(client_error::kind::protocol, make_error_code(std::errc::protocol_error),
                   "a body taken in pieces needs a Content-Length");
  }
  const std::uint64_t want = std::min(max, *head_.content_length - body_taken_);
  auto info = classify(file);
  if (!info) return failure(client_error::kind::io, info.error(), reason_text(info.error()));
  auto moved = splice_into(*info, offset, want, 0);
  if (!moved) return moved;
  body_taken_ += *moved;
  if (*moved < want) {
    return failure(client_error::kind::short_body, errc::unexpected_eof,
                   "the server closed the connection after " + std::to_string(body_taken_) +
                       " of " + std::to_string(*head_.content_length) + " body bytes",
                   *moved);
  }
  return moved;
}

namespace {

// How much a body's socket gathers before poll wakes the receiving thread (SO_RCVLOWAT). Where
// packets arrive one at a time (a long or rate-limited path without receive offload, a TUN
// device, Wi-Fi) every wake-up otherwise moves one packet: poll, two splices and an EAGAIN for
// 1.5-9 KB. 32 KiB makes that a few wake-ups per window instead of dozens, which halves the
// client's CPU on such a path (docs/PERFORMANCE.md), and is small beside any window where
// throughput is at stake (the kernel wakes the reader anyway when the window it offers is about
// to close, when the peer closes, or on an error). Larger marks cost throughput there: the bytes
// waiting for the mark are bytes the sender may not send.
constexpr int body_low_water = 32 * 1024;

// A stream that does not bring the mark within this long is slow; it is then read as bytes
// come, so a trickling server still shows progress and never meets a read timeout that its
// bytes would have reset.
constexpr std::chrono::milliseconds slow_stream{250};

// Keeps SO_RCVLOWAT on a body's socket while the body is read, and puts the kernel's default (1)
// back afterwards: the socket may go back to a connection pool, and the next response's head
// must wake its reader at its first byte. The mark is only an economy, so a refusal to set it is
// ignored.
class low_water_mark {
 public:
  explicit low_water_mark(int fd) : fd_(fd) {}
  ~low_water_mark() { set(1); }
  low_water_mark(const low_water_mark&) = delete;
  low_water_mark& operator=(const low_water_mark&) = delete;

  void set(int bytes) {
    if (bytes == current_) return;
    if (sys::setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes)) current_ = bytes;
  }
  int current() const { return current_; }

 private:
  int fd_;
  int current_ = 1;
};

}  // namespace

// socket → file through transfer_job (splice through a pooled pipe; read/write where splice is
// refused). Returns the bytes written, which may be fewer than `length` when the server closed.
std::expected<std::uint64_t, client_error> response::splice_into(
    const endpoint_info& file, std::optional<std::uint64_t> offset,
    std::optional<std::uint64_t> length, std::uint64_t progress_base) {
  if (length && *length == 0) return 0;
  transfer_options options;
  options.length = length;
  options.sink_offset = offset;
  options.stop = stop_;
  if (on_progress_) {
    options.on_progress = [this, progress_base](std::uint64_t moved) {
      on_progress_(progress_base + moved);
    };
  }
  auto job = transfer_job::create(socket_info_, file, std::move(options));
  if (!job) return failure(client_error::kind::io, job.error(), reason_text(job.error()));
  low_water_mark mark(socket_.get());
  bool slow = false;
  for (;;) {
    const transfer_result& r = job->run();
    if (r.error) {
      if (r.error == errc::cancelled) {
        return failure(client_error::kind::cancelled, r.error, "interrupted",
                       progress_base + r.bytes);
      }
      return failure(client_error::kind::io, r.error, "receiving the body: " + reason_text(r.error),
                     progress_base + r.bytes);
    }
    if (r.complete) return r.bytes;
    if (!r.would_block()) continue;
    if (r.blocked == wait_for::readable) {
      // Only while a mark's worth of the body is still to come: the last bytes must wake the
      // reader too, and a small body is not worth the two setsockopt calls (a mirror fetches
      // thousands of them).
      const bool gather = !slow && (!length || *length - r.bytes >= body_low_water);
      mark.set(gather ? body_low_water : 1);
      if (mark.current() > 1) {
        auto w =
            net::wait_ready(socket_.get(), POLLIN, std::min(read_timeout_, slow_stream), stop_);
        if (w) continue;
        if (w.error() == std::errc::timed_out) {
          slow = true;  // fewer bytes than the mark came in that time: read them as they come
          mark.set(1);
          continue;
        }
        // A stop or poll's own failure: worded below, by the wait that reports it.
      }
    }
    const int fd = r.blocked == wait_for::readable ? socket_.get() : file.fd;
    const short events = r.blocked == wait_for::readable ? POLLIN : POLLOUT;
    if (auto w = wait_ready(fd, events, read_timeout_, stop_, "read", progress_base + r.bytes);
        !w) {
      return std::unexpected(w.error());
    }
  }
}

std::expected<std::uint64_t, client_error> response::receive_chunked(
    const endpoint_info& file, std::optional<std::uint64_t> offset) {
  chunk_framing framing;
  // Between two chunks the framing is "\r\n" + hex size + "\r\n": a few bytes. A longer line
  // (extensions) simply takes more rounds; nothing here depends on it fitting.
  std::array<char, 256> buffer{};
  std::uint64_t written = 0;
  for (;;) {
    auto r = sys::recv(socket_.get(), buffer.data(), buffer.size(), MSG_PEEK);
    if (!r) {
      if (r.error() == std::errc::resource_unavailable_try_again) {
        if (auto w = wait_ready(socket_.get(), POLLIN, read_timeout_, stop_, "read", written); !w) {
          return std::unexpected(w.error());
        }
        continue;
      }
      return failure(client_error::kind::io, r.error(), reason_text(r.error()), written);
    }
    if (*r == 0) {
      return failure(client_error::kind::short_body, errc::unexpected_eof,
                     "the server closed the connection inside the chunked body after " +
                         std::to_string(written) + " bytes",
                     written);
    }
    const chunk_framing::step s = framing.feed(std::span<const char>(buffer.data(), *r));
    if (s.what == chunk_framing::event::error) {
      return failure(client_error::kind::protocol, std::make_error_code(std::errc::protocol_error),
                     "malformed chunked body: " + std::string(s.reason), written);
    }
    if (auto c = consume(socket_.get(), s.consumed, written); !c) return std::unexpected(c.error());
    if (s.what == chunk_framing::event::done) return written;
    if (s.what != chunk_framing::event::data) continue;
    auto moved = splice_into(file, offset ? std::optional(*offset + written) : std::nullopt, s.size,
                             written);
    if (!moved) return std::unexpected(moved.error());
    written += *moved;
    if (*moved < s.size) {
      return failure(client_error::kind::short_body, errc::unexpected_eof,
                     "the server closed the connection inside a chunk after " +
                         std::to_string(written) + " bytes",
                     written);
    }
    framing.data_done();
  }
}

}  // namespace zcopy::http
