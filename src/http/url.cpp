#include "http/url.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <vector>

#include "http/syntax.hpp"

namespace zcopy::http {

namespace {

std::unexpected<url_error> invalid(std::string reason) {
  return std::unexpected(
      url_error{std::make_error_code(std::errc::invalid_argument), std::move(reason)});
}

bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) noexcept {
  return hex_value(c) >= 0;
}

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'. Returns the
// length of the scheme, or 0 when `text` does not start with one.
std::size_t scheme_length(std::string_view text) noexcept {
  if (text.empty() || !is_alpha(text[0])) return 0;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ':') return i;
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return 0;
  }
  return 0;
}

// The path and query as they go on the request line: escapes checked, non-ASCII bytes
// percent-encoded (a request target is ASCII, RFC 9112 §3.2), everything else as written.
std::expected<std::string, url_error> encode_target(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c <= 0x20 || c == 0x7f) {
      return invalid(c == ' ' ? "space in the URL (write it as %20)"
                              : "control character in "
                                "the URL");
    }
    if (c == '%') {
      if (i + 2 >= text.size() || !is_hex(text[i + 1]) || !is_hex(text[i + 2])) {
        return invalid("invalid percent-encoding");
      }
    }
    if (c >= 0x80) {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// RFC 3986 §5.2.4.
std::string remove_dot_segments(std::string_view input) {
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  const bool absolute = input.starts_with('/');
  std::size_t i = absolute ? 1 : 0;
  while (i <= input.size()) {
    std::size_t slash = input.find('/', i);
    if (slash == std::string_view::npos) slash = input.size();
    const std::string_view segment = input.substr(i, slash - i);
    const bool last = slash == input.size();
    if (segment == ".") {
      trailing_slash = true;
    } else if (segment == "..") {
      if (!out.empty()) out.pop_back();
      trailing_slash = true;
    } else {
      out.push_back(segment);
      trailing_slash = false;
    }
    if (last) break;
    i = slash + 1;
  }
  std::string result = absolute ? "/" : "";
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (k > 0) result += '/';
    result += out[k];
  }
  if (trailing_slash && !result.ends_with('/')) result += '/';
  return result;
}

std::string_view strip_fragment(std::string_view text) noexcept {
  return text.substr(0, text.find('#'));
}

}  // namespace

std::string url::authority() const {
  std::string out = ipv6_literal() ? "[" + host + "]" : host;
  if (port != 80) out += ":" + std::to_string(port);
  return out;
}

std::string url::text() const {
  return scheme + "://" + authority() + target;
}

std::string_view url::path() const noexcept {
  return std::string_view(target).substr(0, target.find('?'));
}

std::expected<url, url_error> parse_url(std::string_view text) {
  const std::size_t scheme_len = scheme_length(text);
  if (scheme_len == 0 || text.substr(scheme_len, 3) != "://") {
    return invalid("not an absolute URL (http://HOST[:PORT]/PATH)");
  }
  url u;
  for (char c : text.substr(0, scheme_len)) {
    u.scheme += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  if (u.scheme != "http") {
    return std::unexpected(url_error{std::make_error_code(std::errc::protocol_not_supported),
                                     u.scheme == "https"
                                         ? "https is not supported (http:// only)"
                                         : "unsupported scheme '" + u.scheme + "' (http:// only)"});
  }
  std::string_view rest = strip_fragment(text.substr(scheme_len + 3));
  const std::size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  const std::string_view target =
      authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return invalid("user information in URLs is not supported");
  }

  std::string_view port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos)
      return invalid("unterminated IPv6 address ('[' without ']')");
    u.host = std::string(authority.substr(1, close - 1));
    in6_addr unused{};
    if (::inet_pton(AF_INET6, u.host.c_str(), &unused) != 1) {
      return invalid("invalid IPv6 address '" + u.host + "'");
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return invalid("unexpected text after the IPv6 address");
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    for (char c : u.host) {
      // reg-name / IPv4address (RFC 3986 §3.2.2): unreserved, pct-encoded, sub-delims.
      const bool ok = is_alpha(c) || is_digit(c) ||
                      std::string_view("-._~%!$&'()*+,;=").find(c) != std::string_view::npos;
      if (!ok) return invalid("invalid character in host name");
    }
  }
  if (u.host.empty()) return invalid("missing host");
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return invalid("invalid port '" + std::string(port) + "'");
    }
    u.port = static_cast<std::uint16_t>(value);
  }
  std::string raw_target(target);
  if (raw_target.empty() || raw_target.front() == '?') raw_target.insert(0, "/");
  auto encoded = encode_target(raw_target);
  if (!encoded) return std::unexpected(encoded.error());
  u.target = std::move(*encoded);
  return u;
}

std::expected<url, url_error> resolve_reference(const url& base, std::string_view reference) {
  reference = strip_fragment(reference);
  if (const std::size_t n = scheme_length(reference); n != 0) {
    return parse_url(reference);  // absolute (a scheme other than http fails there)
  }
  if (reference.starts_with("//")) return parse_url(base.scheme + ":" + std::string(reference));

  url out = base;
  const std::size_t q = reference.find('?');
  const std::string_view ref_path = reference.substr(0, q);
  const std::string_view ref_query =
      q == std::string_view::npos ? std::string_view{} : reference.substr(q);
  std::string target;
  if (ref_path.empty()) {
    target = std::string(base.path());
    target += q == std::string_view::npos ? std::string_view(base.target).substr(base.path().size())
                                          : ref_query;
  } else {
    std::string merged;
    if (ref_path.starts_with('/')) {
      merged = ref_path;
    } else {
      // §5.2.3: the base path up to its last '/', then the reference.
      const std::string_view base_path = base.path();
      merged = std::string(base_path.substr(0, base_path.rfind('/') + 1));
      merged += ref_path;
    }
    target = remove_dot_segments(merged) + std::string(ref_query);
  }
  if (target.empty() || target.front() != '/') target.insert(0, "/");
  auto encoded = encode_target(target);
  if (!encoded) return std::unexpected(encoded.error());
  out.target = std::move(*encoded);
  return out;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size() || !is_hex(text[i + 1]) || !is_hex(text[i + 2])) {
      return std::nullopt;
    }
    out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
    i += 2;
  }
  return out;
}

std::optional<std::string> file_name_from(const url& u) {
  const std::string_view path = u.path();
  const std::string_view segment = path.substr(path.rfind('/') + 1);
  auto name = percent_decode(segment);
  if (!name || name->empty() || *name == "." || *name == "..") return std::nullopt;
  if (name->find('/') != std::string::npos || name->find('\0') != std::string::npos) {
    return std::nullopt;
  }
  return name;
}

}  // namespace zcopy::http
