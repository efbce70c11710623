// URLs for the HTTP client (`zcopy get`): parsing of absolute http:// URLs into the parts an
// HTTP/1.1 request needs (RFC 3986 §3), resolution of a redirect's Location against the URL it
// came from (§5.2, dot segments removed), and the file name a URL suggests (-O).
//
// Value types only: a `url` owns its strings, nothing here resolves names or opens sockets.
// Percent-encoding in the path and query is kept exactly as written (a server may treat "%2F" and
// "/" differently, RFC 3986 §2.4), so the request target is what the user or the server gave;
// only bytes that may not appear in a request target at all (non-ASCII) are percent-encoded, as
// browsers and curl do. The fragment is dropped: it never goes to the server (§3.5).
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace zcopy::http {

struct url {
  std::string scheme;  // lower case; parse_url accepts only "http"
  std::string host;    // as written; an IPv6 literal without its brackets
  std::uint16_t port = 80;
  std::string target;  // path and query ("/a/b?x=1"), never empty

  bool ipv6_literal() const noexcept { return host.find(':') != std::string::npos; }
  // host[:port] for the Host field: brackets around IPv6, the port only when not 80.
  std::string authority() const;
  // "http://" + authority() + target.
  std::string text() const;
  // The target without its query.
  std::string_view path() const noexcept;
};

// Why a URL was refused: `code` is invalid_argument for a malformed URL and
// protocol_not_supported for a scheme other than http ("https is not supported").
struct url_error {
  std::error_code code;
  std::string reason;  // lower case, no trailing period: "missing host", "invalid port '99999'"
};

std::expected<url, url_error> parse_url(std::string_view text);

// The URL a Location value points to, relative references resolved against `base`
// (RFC 3986 §5.2.2: "//host/p", "/p", "p", "?q", "../p"; an empty or fragment-only reference is
// `base` itself).
std::expected<url, url_error> resolve_reference(const url& base, std::string_view reference);

// The file name -O takes from a URL: its last path segment, percent-decoded. nullopt when there
// is none ("http://h/", "http://h/dir/") or when it could not be a plain name in the working
// directory: ".", "..", or a name that decodes to something with '/' or NUL in it.
std::optional<std::string> file_name_from(const url& u);

// Percent-decodes `text`; nullopt for a malformed escape ("%4", "%zz").
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace zcopy::http
