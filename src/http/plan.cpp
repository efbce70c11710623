#include "http/plan.hpp"

#include "http/conditional.hpp"
#include "http/listing.hpp"
#include "http/range.hpp"
#include "http/resolve.hpp"
#include "http/response.hpp"
#include "http/target.hpp"

namespace zcopy::http {

namespace {

constexpr std::string_view html_type = "text/html; charset=utf-8";

// A generated body (error page, listing): GET gets it, HEAD only its length.
response_plan inline_response(int status, std::string body, bool head_only, bool close,
                              std::chrono::sys_seconds now, head_fields fields = {}) {
  response_plan out;
  out.status = status;
  out.close_connection = close;
  fields.status = status;
  fields.date = now;
  if (fields.content_type.empty()) fields.content_type = html_type;
  fields.content_length = body.size();
  fields.close = close;
  out.head = build_head(fields);
  if (!head_only) out.body = std::move(body);
  return out;
}

response_plan error_response(int status, bool head_only, bool close, std::chrono::sys_seconds now,
                             head_fields fields = {}) {
  return inline_response(status, error_body(status), head_only, close, now, fields);
}

// The query as sent, with anything that cannot appear in a header value encoded. http_parser
// already refuses control characters in the request line; this keeps the Location header safe
// for any caller.
std::string safe_query(std::string_view query) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : query) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

open_file lookup(const serve_options& options, const std::string& path, resolve_options how) {
  if (options.cache) {
    return options.cache->lookup(options.root_fd, path, how, open_file_cache::clock::now());
  }
  return open_uncached(options.root_fd, path, how);
}

response_plan serve_file(const request& req, const serve_options& options, open_file file,
                         std::string_view name, bool head_only, std::chrono::sys_seconds now) {
  const bool close = !req.keep_alive;
  const auto size = static_cast<std::uint64_t>(file.st.st_size);
  const validators current = make_validators(file.st);

  conditional_headers cond;
  cond.if_match = req.header("if-match");
  cond.if_none_match = req.header("if-none-match");
  cond.if_modified_since = req.header("if-modified-since");
  cond.if_unmodified_since = req.header("if-unmodified-since");
  const precondition pre = evaluate_preconditions(cond, current, true, now);

  head_fields fields;
  fields.date = now;
  fields.close = close;
  fields.etag = current.etag;
  fields.last_modified = current.last_modified;
  if (pre == precondition::not_modified) {
    // RFC 9110 §15.4.5: a 304 carries the validators (and Date), no content, and here no
    // Content-Length either, as nginx does.
    response_plan out;
    out.status = fields.status = 304;
    out.close_connection = close;
    out.head = build_head(fields);
    return out;
  }
  if (pre == precondition::failed) return error_response(412, head_only, close, now);

  const mime_table& mime = options.mime ? *options.mime : mime_table::system();
  fields.content_type = mime.lookup(name);
  fields.accept_ranges = true;

  range_result range;
  if (!head_only) {
    range = select_range(req.header("range"), req.header("if-range"), size, current, now);
  }
  std::string content_range_value;
  response_plan out;
  out.close_connection = close;
  switch (range.kind) {
    case range_kind::unsatisfiable: {
      content_range_value = unsatisfied_content_range(size);
      head_fields f;
      f.content_range = content_range_value;
      f.last_modified = current.last_modified;
      f.etag = current.etag;
      return error_response(416, head_only, close, now, f);
    }
    case range_kind::single:
      out.status = 206;
      out.offset = range.range.offset;
      out.length = range.range.length;
      content_range_value = content_range(range.range, size);
      fields.content_range = content_range_value;
      break;
    case range_kind::none:
    case range_kind::multiple:
      out.status = 200;
      out.offset = 0;
      out.length = size;
      break;
  }
  fields.status = out.status;
  fields.content_length = out.length;
  out.head = build_head(fields);
  if (!head_only && out.length > 0 && options.small_bodies_inline && file.small_body &&
      out.offset + out.length <= file.small_body->size()) {
    out.mapped_body = file.small_body->bytes().subspan(out.offset, out.length);
    out.mapped_owner = std::move(file.small_body);
  } else if (!head_only && out.length > 0) {
    out.file = std::move(file.fd);
    out.file_stat = file.st;
    out.send_file = true;
  } else {
    out.length = 0;  // nothing follows the head
    out.offset = 0;
  }
  return out;
}

}  // namespace

response_plan plan_error(int status, std::chrono::sys_seconds now, bool head_only) {
  return error_response(status, head_only, true, now);
}

response_plan plan(const request& req, const serve_options& options, std::chrono::sys_seconds now) {
  const bool close = !req.keep_alive;
  const bool head_only = req.method == "HEAD";
  if (req.method != "GET" && !head_only) {
    head_fields f;
    f.allow = "GET, HEAD";
    return error_response(405, false, close, now, f);
  }

  auto target = decode_target(req.target);
  if (!target) return error_response(400, head_only, close, now);

  const resolve_options how{.follow_symlinks = options.follow_symlinks,
                            .show_hidden = options.show_hidden};
  open_file found = lookup(options, target->path, how);
  switch (found.status) {
    case resolve_status::file:
      return serve_file(req, options, std::move(found), target->path, head_only, now);
    case resolve_status::not_found:
    case resolve_status::forbidden:
    case resolve_status::error: {
      response_plan out = error_response(http_status(found.status), head_only, close, now);
      out.error = found.error;
      return out;
    }
    case resolve_status::directory:
      break;
  }

  if (!target->trailing_slash) {
    std::string location = percent_encode_path(target->path);
    location += '/';
    if (target->has_query) {
      location += '?';
      location += safe_query(target->query);
    }
    head_fields f;
    f.location = location;
    return error_response(301, head_only, close, now, f);
  }

  open_file index = lookup(options, target->path + "index.html", how);
  if (index.status == resolve_status::file) {
    return serve_file(req, options, std::move(index), "index.html", head_only, now);
  }
  if (index.status == resolve_status::error || index.status == resolve_status::forbidden) {
    // An index.html that exists but cannot be opened is an error, not a reason to list.
    response_plan out = error_response(http_status(index.status), head_only, close, now);
    out.error = index.error;
    return out;
  }
  if (!options.autoindex) return error_response(403, head_only, close, now);

  auto page = render_listing(found.fd->get(), target->path, options.root_fd, how, options.listing,
                             parse_listing_order(target->query));
  if (!page) {
    response_plan out = error_response(500, head_only, close, now);
    out.error = page.error();
    return out;
  }
  head_fields fields;
  if (options.listing == listing_format::json) fields.content_type = "application/json";
  return inline_response(200, std::move(*page), head_only, close, now, fields);
}

}  // namespace zcopy::http
