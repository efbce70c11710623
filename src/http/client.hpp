// An HTTP/1.1 download client (the library behind `zcopy get`): one GET per connection
// ("Connection: close"), redirects followed, and the body received straight into a file with
// splice (socket → pipe → file, through transfer()), the mirror image of the server's sendfile.
//
// Ownership: `fetch` returns a `response` that owns the connected socket; the head has been read
// and parsed, and no byte of the body has left the kernel yet. The caller looks at the head
// (status, validators, Content-Range), opens its file, and calls `receive_body` with the file
// descriptor it owns (borrowed for the call) and the offset to write at.
//
// How bytes are read:
//   - the head: recv(MSG_PEEK) into a small buffer, http_parser (HTTP_RESPONSE) over it, then
//     exactly the head's bytes are consumed (recv with MSG_TRUNC, which discards on TCP). The
//     parser stops at the end of the head (on_headers_complete asks it to skip the body), so the
//     body stays in the socket for splice. The head is bounded (`max_head_bytes`);
//   - Content-Length: transfer() socket → file, `length` bytes at `sink_offset`. Fewer bytes
//     before the server closes is a short body (`client_error::short_body`);
//   - chunked: the framing is read in user space (chunk_framing, chunked.hpp: strict about bare
//     CR, as the server is), the chunk data is not. For each chunk the
//     client peeks a few bytes (the CRLF ending the previous chunk and the next chunk-size line,
//     extensions included), consumes exactly those framing bytes, then splices exactly chunk-size
//     bytes socket → pipe → file. User space touches only the framing (a few bytes per chunk,
//     typically 8 KiB to 1 MiB of data), so the chunked path costs the same copies as the
//     Content-Length path plus two small system calls per chunk. Trailer fields are skipped;
//   - neither: the body ends when the server closes; spliced to EOF.
// Every wait (connect, send, each read) is bounded by a timeout; the socket is non-blocking and
// waits are poll(2) in slices, so a stop request is noticed within a fraction of a second.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "http/request_parser.hpp"
#include "http/url.hpp"
#include "zcopy/endpoint.hpp"
#include "zcopy/fd.hpp"

namespace zcopy::http {

// What went wrong, with a message ready for "zcopy: get 'URL': <message>".
struct client_error {
  enum class kind {
    url,         // a bad URL, or a redirect to one (https)
    resolve,     // getaddrinfo failed
    connect,     // refused, unreachable, connect timeout
    timeout,     // a read or write waited longer than the timeout
    protocol,    // malformed head or chunked framing, head too large
    status,      // the final response is not 2xx (message: the status line)
    redirects,   // more redirects than allowed
    short_body,  // the server closed before the end of the body
    io,          // the file or the socket failed otherwise
    cancelled,   // the stop token was triggered
  };
  kind what = kind::io;
  std::error_code code;
  std::string message;           // lower case start: "connection refused", "HTTP/1.1 404 Not Found"
  std::uint64_t body_bytes = 0;  // body bytes written before the failure (receive_body)
};

class connection_pool;

struct request_options {
  std::chrono::milliseconds connect_timeout{30'000};
  std::chrono::milliseconds read_timeout{60'000};  // each wait for the server, not the whole body
  unsigned max_redirects = 10;
  std::string user_agent = "zcopy";
  std::optional<std::uint64_t> range_from;  // sends "Range: bytes=N-"
  std::optional<std::uint64_t> range_to;    // with range_from: "Range: bytes=N-M" (M inclusive)
  std::string if_range;                     // sent as If-Range with range_from when not empty
  std::size_t max_head_bytes = 64 * 1024;
  std::stop_token stop;
  // Keep-alive: with a pool, requests leave the connection open and a fetch to the same host and
  // port takes an idle one from the pool before connecting; without, "Connection: close".
  connection_pool* pool = nullptr;
};

// Idle keep-alive connections for a caller that makes many requests to one server (get -r): a
// response whose body was received whole, from an HTTP/1.1 server that did not say "close",
// hands its socket back; fetch takes it for the next request to the same host and port. A pooled
// connection the server has closed meanwhile is noticed on the request and replaced by a new one
// (every request here is a GET, which may be sent again). Thread-safe; owns the idle sockets.
class connection_pool {
 public:
  std::optional<unique_fd> take(const url& to);
  void give(const url& to, unique_fd socket);

 private:
  static constexpr std::size_t max_idle_per_server = 64;
  std::mutex mutex_;
  std::map<std::string, std::vector<unique_fd>> idle_;  // by "host:port"
};

struct response_head {
  int status = 0;
  std::string status_line;  // "HTTP/1.1 404 Not Found" (reason as sent)
  int version_major = 1;
  int version_minor = 1;
  std::vector<header_field> headers;  // names lower case, repeated fields joined with ", "
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool until_close = false;  // no length, not chunked: the body ends when the server closes
  bool no_body = false;      // 204, 304 (1xx heads are skipped by fetch)
  bool keep_alive = false;   // the connection carries the next request once this body is read

  std::optional<std::string_view> header(std::string_view lower_name) const noexcept;
};

// The response head as `fetch` reads it: http_parser (HTTP_RESPONSE) over the bytes peeked from
// the socket, stopping right after the blank line that ends the head so the body stays in the
// socket. Field names are lower-cased and repeated fields joined with ", ". Exposed for tests
// and fuzzing; fetch is its only other user.
class response_head_parser {
 public:
  response_head_parser();
  ~response_head_parser();
  response_head_parser(const response_head_parser&) = delete;
  response_head_parser& operator=(const response_head_parser&) = delete;

  // Feeds the bytes after those already taken; returns how many belong to the head (the rest is
  // body or a later message). Sets complete() or error().
  std::size_t feed(std::span<const char> bytes);
  bool complete() const noexcept;
  // http_parser's description of a syntax error; nullptr while there is none.
  const char* error() const noexcept;
  // Valid once complete().
  response_head& head() noexcept;
  // Starts over for the next head (after a 1xx).
  void reset();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Content-Range (RFC 9110 §14.4): "bytes FIRST-LAST/TOTAL", "bytes FIRST-LAST/*", "bytes */TOTAL".
struct content_range {
  std::optional<std::uint64_t> first, last;  // both or neither
  std::optional<std::uint64_t> total;
};
std::optional<content_range> parse_content_range(std::string_view value);

class response {
 public:
  response(response&&) noexcept = default;
  response& operator=(response&&) noexcept = default;

  const response_head& head() const noexcept { return head_; }
  const url& final_url() const noexcept { return url_; }
  unsigned redirects() const noexcept { return redirects_; }
  int socket() const noexcept { return socket_.get(); }

  // Receives the body into `file` from `offset` on (explicit offsets: the descriptor's position
  // is left alone), or, without an offset, at the descriptor's position (a pipe, a device, a
  // FIFO; a non-blocking one is waited for like the socket). `on_progress` gets the body bytes
  // written so far. Returns the body bytes written; a short body, a timeout or a framing error
  // carries the bytes written before it. Call once.
  std::expected<std::uint64_t, client_error> receive_body(
      int file, std::optional<std::uint64_t> offset,
      std::function<void(std::uint64_t)> on_progress = {});

  // Receives the body in pieces, for a caller that may stop before its end (a ranged download
  // whose range was shortened while it ran): at most `max` further bytes of a Content-Length body
  // into `file` at `offset`. Returns the bytes written: `max`, or the rest of the body when less
  // is left (0 at its end); a close before the announced length is a short body. A chunked or
  // close-delimited body is refused (its length is not known in advance). May be called again
  // until the body ends; the connection may be dropped at any point in between.
  std::expected<std::uint64_t, client_error> receive_some(int file, std::uint64_t offset,
                                                          std::uint64_t max);
  // Body bytes taken by receive_some so far.
  std::uint64_t body_taken() const noexcept { return body_taken_; }

 private:
  friend std::expected<response, client_error> fetch(const url&, const request_options&);
  response() = default;

  std::expected<std::uint64_t, client_error> receive_chunked(const endpoint_info& file,
                                                             std::optional<std::uint64_t> offset);
  std::expected<std::uint64_t, client_error> splice_into(const endpoint_info& file,
                                                         std::optional<std::uint64_t> offset,
                                                         std::optional<std::uint64_t> length,
                                                         std::uint64_t progress_base);

  unique_fd socket_;
  endpoint_info socket_info_;
  response_head head_;
  url url_;
  unsigned redirects_ = 0;
  std::chrono::milliseconds read_timeout_{60'000};
  std::stop_token stop_;
  std::function<void(std::uint64_t)> on_progress_;
  std::uint64_t body_taken_ = 0;
  connection_pool* pool_ = nullptr;  // where the socket goes back after a whole body
  bool reusable_ = false;            // HTTP/1.1, no "Connection: close", a delimited body
};

// Connects, sends the GET, reads the head; follows 301, 302, 303, 307 and 308 (Location resolved
// against the current URL) up to `max_redirects` times. Any final status is returned: the caller
// decides what 2xx, 206 or 416 mean for its file.
std::expected<response, client_error> fetch(const url& target, const request_options& options);

// The request head `fetch` sends (exposed for tests).
std::string request_head(const url& target, const request_options& options);

}  // namespace zcopy::http
