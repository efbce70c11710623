// HTTP/1.1 request parsing (RFC 9112) on top of Node's http_parser 2.9 (Debian's
// libhttp-parser-dev), one request at a time, fed incrementally from a connection's input.
//
// Ownership: the parser copies what it keeps (method, target, header fields) into the `request`,
// so `feed` consumes every byte it is given up to the end of the current request; the caller drops
// the consumed bytes and keeps the rest. It stops right after a complete request (http_parser is
// paused in on_message_complete), so pipelined requests wait in the caller's buffer until it has
// answered this one; the next `feed` starts the next request.
//
// What http_parser checks: the request line and field syntax, Content-Length and chunked framing,
// Transfer-Encoding + Content-Length together and duplicate Content-Length (both 400: request
// smuggling, RFC 9112 §6.1 and §6.3), control characters in values. What this layer adds:
//   - limits, counted on the bytes as received: the request line (without its line ending) over
//     `max_request_line` → 414; the header section (field lines with their line endings, not the
//     blank line that ends it) over `max_header_bytes` → 431; more than `max_headers` field
//     lines → 431 (nginx: large_client_header_buffers; RFC 6585 §5 for 431). Leading empty lines
//     before a request are skipped and not counted (RFC 9112 §2.2);
//   - obs-fold (a field line starting with SP/HT) → 400, the first choice RFC 9112 §5.2 offers
//     (http_parser would splice the lines silently);
//   - field names must be tokens: whitespace before the colon or inside a name → 400
//     (RFC 9112 §5.1 MUST; http_parser lets "Host :" through);
//   - Host: a 1.1 request without one, a request with two, or a value that is not a valid
//     uri-host[:port] → 400 (RFC 9112 §3.2). With an absolute-form target its authority is the
//     host (§3.2.2);
//   - version: HTTP/1.x is accepted, 1.2 and later read as 1.1 (RFC 9110 §2.5, §6.2; nginx does the
//     same); any other major version, and HTTP/0.9 (a request line without a version) → 505.
//     A version that is not "DIGIT.DIGIT" is a syntax error → 400;
//   - bodies: a request body (Content-Length or chunked) is read and thrown away so that the next
//     request starts where it should. Content-Length over `max_body` → 413 at once; a chunked body
//     is capped at `max_body` bytes as received, chunk framing included. Trailer fields are
//     parsed by http_parser (bounded by its own 80 KiB header limit) and dropped. No
//     "100 Continue" is sent: a client that waits for it sends the body after its own timeout;
//   - methods: any method http_parser knows is parsed (the caller answers 405); one it does not
//     know, or a lower-case one, is a syntax error → 400.
// Errors are final: after `error` the parser answers `error` to every feed, and the connection
// should get the error response and be closed (its byte stream can no longer be trusted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zcopy::http {

struct header_field {
  std::string name;   // lower case
  std::string value;  // without leading and trailing whitespace
};

struct request {
  std::string method;  // "GET", "HEAD", ... as http_parser spells it
  std::string target;  // the request-target, raw
  int version_major = 1;
  int version_minor = 1;
  // Field lines in order of arrival. Repeated names are combined into one line, values joined with
  // ", " (RFC 9110 §5.3), so a repeated single-valued field (an If-Modified-Since date, Range)
  // becomes invalid and is ignored as the RFC asks for invalid values.
  std::vector<header_field> headers;
  std::string host;              // Host, or the authority of an absolute-form target
  bool keep_alive = true;        // http_should_keep_alive: version and Connection
  std::uint64_t body_bytes = 0;  // bytes of body read and discarded

  // The value of the field `lower_name` (which must be lower case), if sent.
  std::optional<std::string_view> header(std::string_view lower_name) const noexcept;
};

struct parser_limits {
  std::size_t max_request_line = 8 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_headers = 100;
  std::uint64_t max_body = 1 << 20;
};

enum class parse_state { need_more, complete, error };

struct feed_result {
  parse_state state = parse_state::need_more;
  std::size_t consumed = 0;  // bytes of the input that belong to this request
  int error_status = 0;      // for `error`: 400, 413, 414, 431 or 505
};

class request_parser {
 public:
  explicit request_parser(parser_limits limits = {});
  ~request_parser();
  request_parser(request_parser&&) noexcept;
  request_parser& operator=(request_parser&&) noexcept;

  // Parses the front of `input`. `consumed` bytes belong to the current request and must not be
  // passed again; with `complete`, `current()` holds the request until the next feed.
  feed_result feed(std::string_view input);

  const request& current() const noexcept;
  request take() noexcept;

  // True when no byte of a next request has arrived (the connection is idle, not mid-request):
  // a timeout then closes quietly instead of answering 408.
  bool idle() const noexcept;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace zcopy::http
