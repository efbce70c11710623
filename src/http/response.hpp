// Response heads (RFC 9112 §4, RFC 9110 §6-§8, §10, §14, §15) and the small HTML bodies of error
// responses. Builds bytes only; what is sent, and when, is the event loop's business.
//
// The status line always says HTTP/1.1, also to HTTP/1.0 clients (RFC 9110 §6.2: a server sends
// the highest minor version it conforms to within the request's major version; nginx does the
// same). Connection: "close" when the connection will be closed after this response, otherwise
// "keep-alive" (for HTTP/1.1 that is the default and the header only restates it, as nginx does;
// for HTTP/1.0 it is required, RFC 9112 §9.3 and RFC 2068 §19.7.1).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zcopy::http {

// The interim answer to "Expect: 100-continue" (RFC 9110 §15.2.1): a status line and nothing
// else, the bytes nginx sends.
inline constexpr std::string_view continue_head = "HTTP/1.1 100 Continue\r\n\r\n";

// "OK", "Not Found", ...; "Unknown" for codes without one here.
std::string_view reason_phrase(int status) noexcept;

// The fields a head can carry; empty or absent ones are left out. Date and Server are always
// sent (RFC 9110 §6.6.1: an origin server with a clock MUST send Date).
struct head_fields {
  int status = 200;
  std::chrono::sys_seconds date{};
  std::optional<std::uint64_t> content_length;  // absent for 304
  std::string_view content_type;
  std::optional<std::chrono::sys_seconds> last_modified;
  std::string_view etag;
  bool accept_ranges = false;      // "Accept-Ranges: bytes" (RFC 9110 §14.3)
  std::string_view content_range;  // 206 and 416
  std::string_view allow;          // 405 (RFC 9110 §15.5.6: MUST send Allow)
  std::string_view location;       // 301; already percent-encoded
  bool close = false;              // "Connection: close" instead of "keep-alive"
};

// The complete head, status line to the blank line.
std::string build_head(const head_fields& fields);

// "<html>...<h1>404 Not Found</h1>...</html>\n": what nginx sends, minus its signature.
std::string error_body(int status);

}  // namespace zcopy::http
