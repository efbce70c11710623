#include "http/request_parser.hpp"

#include <http_parser.h>

#include <algorithm>

#include "http/target.hpp"

namespace zcopy::http {

namespace {

// tchar (RFC 9110 §5.6.2)
bool is_tchar(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
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
      if (!is_hex(c) && c != ':' && c != '.' && c != 'v' && c != 'V') return false;
    }
    i = close + 1;
  } else {
    for (; i < host.size() && host[i] != ':'; ++i) {
      const char c = host[i];
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("-._~!$&'()*+,;=%").find(c) != std::string_view::npos;
      if (!ok) return false;
    }
  }
  if (i == host.size()) return true;
  if (host[i] != ':') return false;
  for (++i; i < host.size(); ++i) {
    if (host[i] < '0' || host[i] > '9') return false;
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
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

  explicit impl(parser_limits l) : limits(l) {
    http_parser_settings_init(&settings);
    settings.on_message_begin = [](http_parser* p) { return self(p)->on_message_begin(); };
    settings.on_url = [](http_parser* p, const char* at, size_t n) {
      return self(p)->on_url(std::string_view(at, n));
    };
    settings.on_header_field = [](http_parser* p, const char* at, size_t n) {
      return self(p)->on_header_field(std::string_view(at, n));
    };
    settings.on_header_value = [](http_parser* p, const char* at, size_t n) {
      return self(p)->on_header_value(std::string_view(at, n));
    };
    settings.on_headers_complete = [](http_parser* p) { return self(p)->on_headers_complete(); };
    settings.on_body = [](http_parser* p, const char*, size_t n) {
      self(p)->req.body_bytes += n;
      return 0;
    };
    settings.on_message_complete = [](http_parser* p) { return self(p)->on_message_complete(); };
    begin_message();
  }

  static impl* self(http_parser* p) noexcept { return static_cast<impl*>(p->data); }

  void begin_message() {
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = this;
    current = phase::head;
    req = request{};
    started = in_request_line = line_start = line_blank = false;
    request_line_bytes = header_bytes = line_bytes = 0;
    field.clear();
    value.clear();
    in_value = false;
    field_lines = 0;
    host_lines = 0;
    body_raw = 0;
    error_status = 0;
  }

  // --- limits on the head, counted on the raw bytes ----------------------------------------

  struct scan_result {
    std::size_t length;  // bytes of `data` that belong to the head (to the violation, if any)
    bool head_end;       // the blank line that ends the head is the last of those bytes
    int violation;       // 0, or the status to fail with once the parser has seen `length` bytes
  };

  scan_result scan_head(std::string_view data) {
    for (std::size_t i = 0; i < data.size(); ++i) {
      const char c = data[i];
      if (!started) {
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line
        // (http_parser skips any number; so do the counts).
        if (c == '\r' || c == '\n') continue;
        started = in_request_line = true;
      }
      if (in_request_line) {
        if (c == '\n') {
          in_request_line = false;
          line_start = line_blank = true;
          continue;
        }
        if (c != '\r' && ++request_line_bytes > limits.max_request_line) return {i, false, 414};
        continue;
      }
      // RFC 9112 §5.2: obs-fold (a line starting with whitespace) is refused.
      if (line_start && is_ows(c)) return {i, false, 400};
      line_start = false;
      ++line_bytes;
      if (c == '\n') {
        if (line_blank) return {i + 1, true, 0};
        header_bytes += line_bytes;
        line_bytes = 0;
        line_start = line_blank = true;
        if (header_bytes > limits.max_header_bytes) return {i, false, 431};
        continue;
      }
      if (c != '\r') line_blank = false;
      if (!line_blank && header_bytes + line_bytes > limits.max_header_bytes) {
        return {i, false, 431};
      }
    }
    return {data.size(), false, 0};
  }

  // --- http_parser callbacks ---------------------------------------------------------------

  int fail_in_callback(int status) {
    error_status = status;
    return -1;  // http_parser stops with HPE_CB_*
  }

  int on_message_begin() { return 0; }

  int on_url(std::string_view piece) {
    req.target += piece;
    return 0;
  }

  // Stores the field line collected so far.
  int commit_field() {
    if (field.empty()) return fail_in_callback(400);
    for (char& c : field) {
      if (!is_tchar(c)) return fail_in_callback(400);  // "Host :" and "X Y" (RFC 9112 §5.1)
      c = lower(c);
    }
    std::string_view v = trim(value);
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
    return 0;
  }

  int on_header_field(std::string_view piece) {
    if (current != phase::head) return 0;  // trailer fields of a chunked body: dropped
    if (in_value) {
      if (int r = commit_field(); r != 0) return r;
    }
    if (field.empty() && ++field_lines > limits.max_headers) return fail_in_callback(431);
    field += piece;
    return 0;
  }

  int on_header_value(std::string_view piece) {
    if (current != phase::head) return 0;
    in_value = true;
    value += piece;
    return 0;
  }

  int on_headers_complete() {
    if (!field.empty() || in_value) {
      if (int r = commit_field(); r != 0) return r;
    }
    req.method = http_method_str(static_cast<http_method>(parser.method));
    // RFC 9110 §2.5: a 1.x recipient treats a higher minor version as the highest it implements.
    if (parser.http_major != 1) return fail_in_callback(505);
    req.version_major = 1;
    req.version_minor = parser.http_minor >= 1 ? 1 : 0;

    // RFC 9112 §3.2: 400 for a 1.1 request without Host, for any request with more than one, and
    // for an invalid value.
    if (host_lines > 1) return fail_in_callback(400);
    const std::string_view authority = target_authority(req.target);
    if (!authority.empty()) {
      req.host = std::string(authority);  // §3.2.2: the target's authority, not Host
    } else if (auto host = req.header("host")) {
      req.host = std::string(*host);
    } else if (req.version_minor == 1) {
      return fail_in_callback(400);
    }
    if (!valid_host(req.host)) return fail_in_callback(400);

    if ((parser.flags & F_CONTENTLENGTH) != 0 && parser.content_length > limits.max_body) {
      return fail_in_callback(413);
    }
    current = phase::body;
    return 0;
  }

  int on_message_complete() {
    // CONNECT turns the connection into a tunnel (http_parser reports it as an upgrade); whatever
    // follows is not HTTP, so the connection ends after the answer (a 405).
    req.keep_alive = http_should_keep_alive(&parser) != 0 && parser.method != HTTP_CONNECT;
    current = phase::complete;
    http_parser_pause(&parser, 1);
    return 0;
  }

  // --- driving -----------------------------------------------------------------------------

  // Runs http_parser over `data`; returns the bytes it took. On failure `current` is `failed`.
  std::size_t execute(std::string_view data) {
    if (data.empty()) return 0;
    const std::size_t n = http_parser_execute(&parser, &settings, data.data(), data.size());
    const auto e = static_cast<http_errno>(parser.http_errno);
    if (e != HPE_OK && e != HPE_PAUSED) {
      if (error_status == 0) error_status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
      current = phase::failed;
    }
    return n;
  }

  feed_result failed(std::size_t used, int status) {
    if (error_status == 0) error_status = status;
    current = phase::failed;
    return {parse_state::error, used, error_status};
  }

  feed_result feed(std::string_view input) {
    if (current == phase::failed) return {parse_state::error, 0, error_status};
    if (current == phase::complete) begin_message();
    std::size_t used = 0;
    while (used < input.size()) {
      const std::string_view rest = input.substr(used);
      if (current == phase::head) {
        const scan_result s = scan_head(rest);
        used += execute(rest.substr(0, s.length));
        if (current == phase::failed) return failed(used, 400);
        if (s.violation != 0) return failed(used, s.violation);
        if (current == phase::complete) return {parse_state::complete, used, 0};
        if (!s.head_end) return {parse_state::need_more, used, 0};
        // The scan and http_parser must agree on where the head ends; if they ever do not, fail
        // closed rather than guess where the body starts.
        if (current != phase::body) return failed(used, 400);
        continue;
      }
      // phase::body: bounded by what is left of max_body.
      const std::uint64_t allowed = limits.max_body - body_raw;
      if (allowed == 0) return failed(used, 413);
      const std::size_t n = execute(
          rest.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(allowed, rest.size()))));
      used += n;
      body_raw += n;
      if (current == phase::failed) return failed(used, 400);
      if (current == phase::complete) return {parse_state::complete, used, 0};
    }
    return {parse_state::need_more, used, 0};
  }

  parser_limits limits;
  http_parser parser{};
  http_parser_settings settings{};
  phase current = phase::head;
  request req;

  // head scan
  bool started = false, in_request_line = false, line_start = false, line_blank = false;
  std::size_t request_line_bytes = 0, header_bytes = 0, line_bytes = 0;

  // field line being collected
  std::string field, value;
  bool in_value = false;
  std::size_t field_lines = 0;
  int host_lines = 0;

  std::uint64_t body_raw = 0;
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
