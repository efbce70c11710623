// HTTP/1.1 request parsing (RFC 9112), one request at a time, fed incrementally from a
// connection's input: a strict scan of the head written here, Node's http_parser 2.9 (Debian's
// libhttp-parser-dev) to split the checked head into method, target, version and fields, and the
// body read and thrown away by this layer (chunked through chunked.hpp).
//
// Ownership: the parser copies what it keeps (the head's bytes, method, target, header fields)
// into itself and the `request`, so `feed` consumes every byte it is given up to the end of the
// current request; the caller drops the consumed bytes and keeps the rest. It stops right after
// a complete request, so pipelined requests wait in the caller's buffer until it has answered
// this one; the next `feed` starts the next request.
//
// Debian builds http_parser without HTTP_PARSER_STRICT: it takes a CR followed by anything as a
// line end, which splits one connection's bytes into requests differently from a strict front
// end (request smuggling). So the scan decides where lines and the head end, and http_parser only
// ever sees a head the scan has accepted:
//   - line ends: CRLF or a bare LF (RFC 9112 §2.2 MAY; nginx accepts it too). A CR not followed
//     by LF, anywhere in the head (leading empty lines included), is 400 (§2.2);
//   - the request line is method SP request-target SP HTTP-version with single spaces (§3): a
//     tchar method, a target of visible ASCII or bytes over 0x7f (raw UTF-8, as nginx), and
//     "HTTP/" DIGIT "." DIGIT. Anything else (a tab, two spaces, trailing whitespace, a control
//     character or space in the target, a lower-case "http/") is 400. A well-formed line with a
//     major version other than 1, or with no version at all (HTTP/0.9), is 505; 1.2 and later
//     minor versions read as 1.1 (RFC 9110 §2.5, §6.2; nginx does the same);
//   - field lines (syntax.hpp): tchar names up to the colon, so whitespace before the colon or
//     inside a name is 400 (§5.1 MUST; http_parser lets "Host :" through); values without
//     control characters (NUL, bare CR, ...: RFC 9110 §5.5) → 400; obs-fold, a line starting
//     with SP/HT, → 400, the first choice §5.2 offers (http_parser would splice the lines);
//     a line without a colon → 400;
//   - limits, counted on the bytes as received: the request line (without its line ending) over
//     `max_request_line` → 414; the header section (field lines with their line endings, not the
//     blank line that ends it) over `max_header_bytes` → 431; more than `max_headers` field
//     lines → 431 (nginx: large_client_header_buffers; RFC 6585 §5 for 431). Leading empty lines
//     before a request are skipped and not counted (RFC 9112 §2.2);
//   - methods: any method http_parser knows is parsed (the caller answers 405); one it does not
//     know is a syntax error → 400.
// After the head:
//   - Host: a 1.1 request without one (also with an absolute-form target), a request with two,
//     or a value that is not a valid uri-host[:port] → 400 (RFC 9112 §3.2). With an absolute-form
//     target its authority is the host, whatever Host says (§3.2.2);
//   - framing (§6): Transfer-Encoding in an HTTP/1.0 request, or with Content-Length → 400;
//     chunked not the last coding, or twice → 400 (§6.3); another coding before chunked → 501
//     (§6.1). Content-Length must be 1*DIGIT (a repeated one joins into a list → 400); over
//     `max_body` → 413 at once;
//   - bodies are read and thrown away so that the next request starts where it should:
//     Content-Length bytes counted down; chunked through chunk_framing, strict about line ends
//     and trailer fields, capped at `max_body` bytes as received, framing included;
//   - Expect: 100-continue (RFC 9110 §10.1.1) on an HTTP/1.1 request with a body of which no
//     byte has arrived yet: `feed` returns `expect_continue` once, right after the head, and the
//     caller answers "100 Continue" (or a final status, closing the connection) before feeding
//     the body. An HTTP/1.0 request's expectation is ignored, as the RFC requires.
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
  std::string method;  // "GET", "HEAD", ... as http_parser spells it (known once the request
                       // line is, also when the head then fails)
  std::string target;  // the request-target, raw
  int version_major = 1;
  int version_minor = 1;
  // Field lines in order of arrival. Repeated names are combined into one line, values joined with
  // ", " (RFC 9110 §5.3), so a repeated single-valued field (an If-Modified-Since date, Range)
  // becomes invalid and is ignored as the RFC asks for invalid values.
  std::vector<header_field> headers;
  std::string host;              // Host, or the authority of an absolute-form target
  bool keep_alive = true;        // http_should_keep_alive: version and Connection
  std::uint64_t body_bytes = 0;  // bytes of body data read and discarded (no chunk framing)

  // The value of the field `lower_name` (which must be lower case), if sent.
  std::optional<std::string_view> header(std::string_view lower_name) const noexcept;
};

struct parser_limits {
  std::size_t max_request_line = 8 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_headers = 100;
  std::uint64_t max_body = 1 << 20;
};

enum class parse_state {
  need_more,
  complete,
  error,
  // The head is complete (current() holds it) and the client waits for an interim
  // "100 Continue" before it sends the body: answer, then feed again for the body.
  expect_continue,
};

struct feed_result {
  parse_state state = parse_state::need_more;
  std::size_t consumed = 0;  // bytes of the input that belong to this request
  int error_status = 0;      // for `error`: 400, 413, 414, 431, 501 or 505
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
