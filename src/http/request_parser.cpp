#include "http/request_parser.hpp"

#include <http_parser.h>

#include <algorithm>
#include <charconv>

#include "http/chunked.hpp"
#include "http/syntax.hpp"
#include "http/target.hpp"

namespace zcopy::http {

namespace {

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP-literal in brackets, or a
// reg-name / IPv4address (unreserved, pct-encoded, sub-delims); port = *DIGIT. Empty is valid
// (a client talking to a server without a name, §7.2).
bool valid_host(std::string_view host) noexcept {
  std::size_t i = 0;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (std::size_t k = 1; k < close; ++k) {
      const char c = host[k];
      if (hex_value(c) < 0 && c != ':' && c != '.' && c != 'v' && c != 'V') return false;
    }
    i = close + 1;
  } else {
    for (; i < host.size() && host[i] != ':'; ++i) {
      const char c = host[i];
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
                      std::string_view("-._~!$&'()*+,;=%").find(c) != std::string_view::npos;
      if (!ok) return false;
    }
  }
  if (i == host.size()) return true;
  if (host[i] != ':') return false;
  for (++i; i < host.size(); ++i) {
    if (!is_digit(host[i])) return false;
  }
  return true;
}

// A byte of a request-target: VCHAR or obs-text. No whitespace, no control character (RFC 9112
// §3.2; bytes above 0x7f are let through, as nginx does, for raw UTF-8 paths).
bool is_target_char(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  return c > 0x20 && c != 0x7f;
}

// The prefix `text` of an HTTP-version ("HTTP/" DIGIT "." DIGIT, RFC 9112 §2.3) so far.
bool version_prefix_ok(std::string_view text) noexcept {
  static constexpr std::string_view name = "HTTP/";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool ok = i < name.size() ? text[i] == name[i]
                    : i == 6        ? text[i] == '.'
                    : i < 8         ? is_digit(text[i])
                                    : false;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string_view> request::header(std::string_view lower_name) const noexcept {
  for (const header_field& h : headers) {
    if (h.name == lower_name) return h.value;
  }
  return std::nullopt;
}

struct request_parser::impl {
  enum class phase { head, body, complete, failed };

  // Where the head scan is: the empty lines before a request, the parts of the request line,
  // the field lines, and the CR that must be followed by LF in each of them.
  enum class scan {
    leading,
    leading_lf,
    request_line,
    request_line_lf,
    field_start,
    field,
    field_lf,
    end_lf,
  };
  enum class request_line_part { method, target, version };

  enum class framing { none, length, chunked };

  explicit impl(parser_limits l) : limits(l) {
    http_parser_settings_init(&settings);
    settings.on_url = [](http_parser* p, const char* bytes, size_t n) {
      self(p)->req.target.append(bytes, n);
      return 0;
    };
    settings.on_header_field = [](http_parser* p, const char* bytes, size_t n) {
      return self(p)->on_header_field(std::string_view(bytes, n));
    };
    settings.on_header_value = [](http_parser* p, const char* bytes, size_t n) {
      self(p)->in_value = true;
      self(p)->value.append(bytes, n);
      return 0;
    };
    settings.on_headers_complete = [](http_parser* p) { return self(p)->on_headers_complete(); };
    settings.on_message_complete = [](http_parser* p) { return self(p)->on_message_complete(); };
    begin_message();
  }

  static impl* self(http_parser* p) noexcept { return static_cast<impl*>(p->data); }

  void begin_message() {
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = this;
    current = phase::head;
    req = request{};
    at = scan::leading;
    part = request_line_part::method;
    started = false;
    head.clear();
    request_line_bytes = header_bytes = field_lines = 0;
    method_bytes = target_bytes = version_bytes = 0;
    line = field_line_check{};
    field.clear();
    value.clear();
    in_value = false;
    host_lines = 0;
    head_parsed = false;
    body = framing::none;
    body_left = 0;
    body_raw = 0;
    chunk_left = 0;
    chunks = chunk_framing{};
    expect_continue = false;
    error_status = 0;
  }

  // --- the head, byte by byte ----------------------------------------------------------------
  // http_parser (built without HTTP_PARSER_STRICT, as Debian ships it) takes a CR followed by
  // anything as a line end, so "\r\n\rX" ends a head and X starts the next request: request
  // smuggling. The scan checks every line end and the request line's shape itself, and hands
  // http_parser only a head it has found well-formed.

  struct scan_result {
    std::size_t length;  // bytes of `data` taken (up to the violation, if any)
    bool head_end;       // the blank line that ends the head is the last of those bytes
    int violation;       // 0, or the status to fail with
  };

  // The request line is over (its line end excluded): 400 unless it is
  // method SP request-target SP HTTP-version with single spaces (RFC 9112 §3), 505 for a
  // well-formed line of another major version or without one (HTTP/0.9).
  int end_request_line() {
    if (part == request_line_part::target && target_bytes > 0) {
      // HTTP/0.9 ("GET /a", no version): nginx serves it a body without a head, which is not done
      // here (a head-less answer is indistinguishable from any other bytes): 505 for a target a
      // request could name (origin or absolute form); 400 for anything else, as nginx.
      const std::string_view target = std::string_view(head).substr(method_bytes + 1, target_bytes);
      return target.front() == '/' || !target_authority(target).empty() ? 505 : 400;
    }
    if (part != request_line_part::version || version_bytes != 8) return 400;
    if (head[method_bytes + 1 + target_bytes + 1 + 5] != '1') return 505;
    // Known before the head is over, so that an error answer to HEAD can leave its body out.
    req.method.assign(head, 0, method_bytes);
    return 0;
  }

  // Checks one byte of the request line (not CR or LF), already appended to `head`.
  int request_line_byte(char c) {
    switch (part) {
      case request_line_part::method:
        if (c == ' ' && method_bytes > 0) {
          part = request_line_part::target;
          return 0;
        }
        ++method_bytes;
        return is_tchar(c) ? 0 : 400;
      case request_line_part::target:
        if (c == ' ' && target_bytes > 0) {
          part = request_line_part::version;
          return 0;
        }
        ++target_bytes;
        return is_target_char(c) ? 0 : 400;
      case request_line_part::version:
        ++version_bytes;
        return version_prefix_ok(std::string_view(head).substr(head.size() - version_bytes)) ? 0
                                                                                             : 400;
    }
    return 400;
  }

  scan_result scan_head(std::string_view data) {
    for (std::size_t i = 0; i < data.size(); ++i) {
      const char c = data[i];
      if (at == scan::leading && c != '\r' && c != '\n') {
        started = true;
        at = scan::request_line;
      }
      if (at != scan::leading && at != scan::leading_lf) head += c;
      switch (at) {
        case scan::leading:
          // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request
          // line; any number are skipped and not counted.
          if (c == '\r') at = scan::leading_lf;
          break;
        case scan::request_line:
          if (c == '\r') {
            at = scan::request_line_lf;
          } else if (c == '\n') {
            if (const int status = end_request_line(); status != 0) return {i, false, status};
            at = scan::field_start;
          } else if (const int status = request_line_byte(c); status != 0) {
            return {i, false, status};
          } else if (++request_line_bytes > limits.max_request_line) {
            return {i, false, 414};
          }
          break;
        case scan::field_start:
          if (c == '\r') {
            at = scan::end_lf;
            break;
          }
          if (c == '\n') return {i + 1, true, 0};
          if (++field_lines > limits.max_headers) return {i, false, 431};
          at = scan::field;
          [[fallthrough]];
        case scan::field:
          if (c == '\r') {
            at = scan::field_lf;
          } else if (c == '\n') {
            if (!line.finish()) return {i, false, 400};  // no colon
            at = scan::field_start;
          } else if (!line.take(c)) {
            return {i, false, 400};  // obs-fold (RFC 9112 §5.2), "Host :", a control character
          }
          if (++header_bytes > limits.max_header_bytes) return {i, false, 431};
          break;
        case scan::leading_lf:
        case scan::request_line_lf:
        case scan::field_lf:
        case scan::end_lf:
          // RFC 9112 §2.2: a CR not followed by LF is refused wherever it appears.
          if (c != '\n') return {i, false, 400};
          if (at == scan::leading_lf) {
            at = scan::leading;
          } else if (at == scan::request_line_lf) {
            if (const int status = end_request_line(); status != 0) return {i, false, status};
            at = scan::field_start;
          } else if (at == scan::field_lf) {
            if (!line.finish()) return {i, false, 400};
            if (++header_bytes > limits.max_header_bytes) return {i, false, 431};
            at = scan::field_start;
          } else {
            return {i + 1, true, 0};
          }
          break;
      }
    }
    return {data.size(), false, 0};
  }

  // --- http_parser over the checked head -----------------------------------------------------

  int fail_in_callback(int status) {
    error_status = status;
    return -1;  // http_parser stops with HPE_CB_*
  }

  // Stores the field line collected so far.
  void commit_field() {
    for (char& c : field) c = lower(c);
    const std::string_view v = trim_ows(value);
    if (field == "host") ++host_lines;
    auto same = std::find_if(req.headers.begin(), req.headers.end(),
                             [&](const header_field& h) { return h.name == field; });
    if (same != req.headers.end()) {
      same->value += ", ";
      same->value += v;
    } else {
      req.headers.push_back({field, std::string(v)});
    }
    field.clear();
    value.clear();
    in_value = false;
  }

  int on_header_field(std::string_view piece) {
    if (in_value) commit_field();
    field += piece;
    return 0;
  }

  // Content-Length and Transfer-Encoding: how the body is delimited (RFC 9112 §6), or the status
  // that refuses the request.
  int decide_framing() {
    const auto te = req.header("transfer-encoding");
    const auto cl = req.header("content-length");
    if (te) {
      // §6.1: Transfer-Encoding in an HTTP/1.0 request means faulty framing; with a
      // Content-Length too it is the classic smuggling shape. nginx answers 400 to both.
      if (req.version_minor == 0 || cl) return 400;
      // §6.3: chunked must be the final coding, and §6.1 applied once only; another coding
      // before it is one this server does not implement: 501 (§6.1 SHOULD; nginx too).
      bool chunked = false, other = false;
      std::string_view list = *te;
      while (!list.empty()) {
        const std::size_t comma = list.find(',');
        const std::string_view coding = trim_ows(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (coding.empty()) continue;  // #rule: empty elements are allowed (RFC 9110 §5.6.1)
        if (chunked) return 400;       // something after chunked, or chunked twice
        if (equals_ignoring_case(coding, "chunked")) {
          chunked = true;
        } else {
          other = true;
        }
      }
      if (!chunked) return 400;
      if (other) return 501;
      body = framing::chunked;
      return 0;
    }
    if (cl) {
      // 1*DIGIT (RFC 9110 §8.6): no sign, no list ("3, 3" from a repeated field), no overflow.
      std::uint64_t length = 0;
      const auto [end, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), length);
      if (cl->empty() || !is_digit(cl->front()) || ec != std::errc() ||
          end != cl->data() + cl->size()) {
        return 400;
      }
      if (length > limits.max_body) return 413;
      body_left = length;
      body = length > 0 ? framing::length : framing::none;
    }
    return 0;
  }

  int on_headers_complete() {
    if (!field.empty() || in_value) commit_field();
    req.method = http_method_str(static_cast<http_method>(parser.method));
    // The scan let only HTTP/1.x through; RFC 9110 §2.5: a higher minor version is read as the
    // highest one implemented.
    if (parser.http_major != 1) return fail_in_callback(505);
    req.version_major = 1;
    req.version_minor = parser.http_minor >= 1 ? 1 : 0;

    // RFC 9112 §3.2: 400 for a 1.1 request without Host (even with an absolute-form target), for
    // any request with more than one, and for an invalid value. §3.2.2: an absolute-form
    // target's authority is the host, whatever Host says.
    const auto host = req.header("host");
    if (host_lines > 1 || (!host && req.version_minor == 1)) return fail_in_callback(400);
    if (host && !valid_host(*host)) return fail_in_callback(400);
    const std::string_view authority = target_authority(req.target);
    req.host = std::string(!authority.empty() ? authority : host.value_or(std::string_view()));
    if (!valid_host(req.host)) return fail_in_callback(400);

    if (const int status = decide_framing(); status != 0) return fail_in_callback(status);
    // RFC 9110 §10.1.1: only "100-continue" is defined (case-insensitive), and an HTTP/1.0
    // request's expectation MUST be ignored.
    const auto expect = req.header("expect");
    expect_continue = body != framing::none && req.version_minor == 1 && expect &&
                      equals_ignoring_case(*expect, "100-continue");
    return 1;  // http_parser reads no body: the framing above does
  }

  int on_message_complete() {
    // CONNECT turns the connection into a tunnel (http_parser reports it as an upgrade); whatever
    // follows is not HTTP, so the connection ends after the answer (a 405).
    req.keep_alive = http_should_keep_alive(&parser) != 0 && parser.method != HTTP_CONNECT;
    head_parsed = true;
    return 0;
  }

  // Runs http_parser over the head the scan accepted; 0 or the status to fail with.
  int parse_head() {
    const std::size_t n = http_parser_execute(&parser, &settings, head.data(), head.size());
    const auto e = static_cast<http_errno>(parser.http_errno);
    if (e != HPE_OK) return error_status != 0 ? error_status : e == HPE_HEADER_OVERFLOW ? 431 : 400;
    // The scan and http_parser must agree on where the head ends; if they ever do not, fail
    // closed rather than guess where the body starts.
    return head_parsed && n == head.size() ? 0 : 400;
  }

  // --- the body, read and thrown away --------------------------------------------------------

  feed_result failed(std::size_t used, int status) {
    error_status = status;
    current = phase::failed;
    return {parse_state::error, used, status};
  }

  feed_result completed(std::size_t used) {
    current = phase::complete;
    return {parse_state::complete, used, 0};
  }

  // Discards body bytes from the front of `data`; `used` bytes before it belong to the request.
  feed_result discard_body(std::string_view data, std::size_t used) {
    if (body == framing::length) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(body_left, data.size()));
      body_left -= n;
      req.body_bytes += n;
      if (body_left == 0) return completed(used + n);
      return {parse_state::need_more, used + n, 0};
    }
    // Chunked: capped at max_body bytes as received, framing included.
    std::size_t at_byte = 0;
    for (;;) {
      if (chunk_left > 0) {
        const auto n =
            static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left, data.size() - at_byte));
        chunk_left -= n;
        req.body_bytes += n;
        at_byte += n;
        if (chunk_left > 0) return {parse_state::need_more, used + at_byte, 0};
        chunks.data_done();
      }
      if (at_byte == data.size()) return {parse_state::need_more, used + at_byte, 0};
      const std::uint64_t allowed = limits.max_body - body_raw;
      if (allowed == 0) return failed(used + at_byte, 413);
      const std::string_view piece = data.substr(
          at_byte,
          static_cast<std::size_t>(std::min<std::uint64_t>(allowed, data.size() - at_byte)));
      const chunk_framing::step s = chunks.feed(std::span<const char>(piece.data(), piece.size()));
      at_byte += s.consumed;
      body_raw += s.consumed;
      switch (s.what) {
        case chunk_framing::event::error:
          return failed(used + at_byte, 400);
        case chunk_framing::event::done:
          return completed(used + at_byte);
        case chunk_framing::event::data:
          if (s.size > limits.max_body - body_raw) return failed(used + at_byte, 413);
          body_raw += s.size;
          chunk_left = s.size;
          break;
        case chunk_framing::event::need_more:
          break;
      }
    }
  }

  feed_result feed(std::string_view input) {
    if (current == phase::failed) return {parse_state::error, 0, error_status};
    if (current == phase::complete) begin_message();
    std::size_t used = 0;
    if (current == phase::head) {
      const scan_result s = scan_head(input);
      used = s.length;
      if (s.violation != 0) return failed(used, s.violation);
      if (!s.head_end) return {parse_state::need_more, used, 0};
      if (const int status = parse_head(); status != 0) return failed(used, status);
      if (body == framing::none) return completed(used);
      current = phase::body;
      // RFC 9110 §10.1.1: a server MAY omit the 100 once some of the body has arrived.
      if (expect_continue && used == input.size()) return {parse_state::expect_continue, used, 0};
    }
    return discard_body(input.substr(used), used);
  }

  parser_limits limits;
  http_parser parser{};
  http_parser_settings settings{};
  phase current = phase::head;
  request req;

  // head scan
  scan at = scan::leading;
  request_line_part part = request_line_part::method;
  bool started = false;
  std::string head;  // from the request line to the blank line, for http_parser
  std::size_t request_line_bytes = 0, header_bytes = 0, field_lines = 0;
  std::size_t method_bytes = 0, target_bytes = 0, version_bytes = 0;
  field_line_check line;

  // field line being collected from http_parser
  std::string field, value;
  bool in_value = false;
  int host_lines = 0;
  bool head_parsed = false;

  // body
  framing body = framing::none;
  std::uint64_t body_left = 0;   // Content-Length bytes still to come
  std::uint64_t body_raw = 0;    // chunked bytes taken so far, framing included
  std::uint64_t chunk_left = 0;  // data of the current chunk still to come
  chunk_framing chunks;
  bool expect_continue = false;
  int error_status = 0;
};

request_parser::request_parser(parser_limits limits) : impl_(std::make_unique<impl>(limits)) {}
request_parser::~request_parser() = default;
request_parser::request_parser(request_parser&&) noexcept = default;
request_parser& request_parser::operator=(request_parser&&) noexcept = default;

feed_result request_parser::feed(std::string_view input) {
  return impl_->feed(input);
}

const request& request_parser::current() const noexcept {
  return impl_->req;
}

request request_parser::take() noexcept {
  return std::move(impl_->req);
}

bool request_parser::idle() const noexcept {
  return impl_->current == impl::phase::complete ||
         (impl_->current == impl::phase::head && !impl_->started);
}

}  // namespace zcopy::http
