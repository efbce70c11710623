// plan: one parsed request in, one response out, for the event loop (src/net) to send.
//
// Everything between the two is here: method check, target decoding, lookup under ROOT,
// directories (301, index.html, listing, 403), validators and conditionals, Range, the head. The
// loop sends `head`, then `body` (inline, small: errors, listings) or `length` bytes of `file` from
// `offset` (send_file), then closes the connection if `close_connection`. It maps 1:1 onto
// net::reply { head, body, file, offset, length, close }.
//
// Decisions, in order (nginx's static module makes the same ones unless noted):
//   1. method not GET/HEAD → 405 with "Allow: GET, HEAD" (RFC 9110 §15.5.6);
//   2. target that does not decode (target.hpp) → 400;
//   3. resolve (resolve.hpp): 404 / 403 / 500;
//   4. directory: a path without the trailing slash → 301 to the same path with '/', query kept
//      (Location is a relative reference, RFC 9110 §10.2.2; nginx sends an absolute URL built
//      from Host); else index.html if it is a regular file; else a listing with autoindex; else
//      403;
//   5. file: If-Match / If-Unmodified-Since → 412, If-None-Match / If-Modified-Since → 304
//      (conditional.hpp), then Range for GET (range.hpp): 206, 416, or 200 for everything else;
//   6. HEAD gets GET's head with no body, Content-Length included (RFC 9110 §9.3.2).
// Error responses carry a small HTML body. Parser errors (400, 413, 414, 431, 501, 505) come
// through plan_error and always close the connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>

#include "http/listing.hpp"
#include "http/mime.hpp"
#include "http/open_file_cache.hpp"
#include "http/request_parser.hpp"
#include "zcopy/fd.hpp"

namespace zcopy::http {

struct serve_options {
  int root_fd = -1;  // from open_root(); borrowed
  bool autoindex = false;
  listing_format listing = listing_format::html;  // --autoindex-format
  bool follow_symlinks = false;
  bool show_hidden = false;
  const mime_table* mime = nullptr;  // nullptr: mime_table::system()
  open_file_cache* cache = nullptr;  // the worker's cache of open files; nullptr: none
  // Send small cached files' bodies with the head in one sendmsg from their mapping, not with
  // sendfile (off when an engine is forced: comparisons then measure that engine alone).
  bool small_bodies_inline = true;
};

struct response_plan {
  int status = 500;
  std::string head;
  std::string body;  // inline body (errors, listings); empty for files and for HEAD
  std::shared_ptr<const unique_fd> file;  // the file to send from, when send_file (maybe cached)
  struct stat file_stat {};               // its stat, as looked up
  // Instead of send_file: the body's bytes in a mapping of a small cached file (see
  // open_file_cache.hpp), sent with the head in one sendmsg; kept alive by `mapped_owner`.
  std::span<const std::byte> mapped_body;
  std::shared_ptr<const mapping> mapped_owner;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool send_file = false;  // false for HEAD, 304, errors and empty ranges of nothing
  bool close_connection = false;
  std::error_code error;  // a 500's cause (what the kernel said), for the error log
};

response_plan plan(const request& req, const serve_options& options, std::chrono::sys_seconds now);

// The answer to a request the parser refused (`status` from feed_result::error_status), or to a
// timeout (408). Always closes the connection. `head_only` (a HEAD request) leaves the body out
// and keeps its Content-Length, as for any HEAD.
response_plan plan_error(int status, std::chrono::sys_seconds now, bool head_only = false);

}  // namespace zcopy::http
