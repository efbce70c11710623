// Directory listings for --autoindex: a small self-contained HTML page (a table of name, size and
// date: sizes in binary units with the exact byte count on hover, dates in UTC, breadcrumbs to
// every ancestor, directories marked and listed first, columns sortable by `?sort=name|size|time
// &order=asc|desc`, the query Caddy's browser uses; inline CSS only, no script), or
// with --autoindex-format json the JSON array nginx's `autoindex_format json` writes (name, type,
// mtime, size), which scripts and `zcopy get -r` read.
//
// The directory is the descriptor resolve() returned, so the listing shows exactly what was
// resolved under ROOT. Entries are read with std::filesystem through /proc/self/fd/N (the brief
// allows std::filesystem here; it saves a getdents64 wrapper in src/sys, and the path names our
// own descriptor, so nothing is looked up by name again). Each entry is stat'ed following symlinks,
// as nginx does, so a link to a directory is listed as a directory; an entry that cannot be
// stat'ed (a dangling link) is listed as a file without date and size.
//
// Symlinks show what a request for them would get, no more: unless `follow_symlinks`, a link is
// looked up as the server looks it up (resolve() under ROOT, by the URL path), and one it refuses
// (403: the link leaves ROOT, or openat2 is missing) or cannot open is listed by name alone, as a
// file, without the date, size or type of its target (nginx's autoindex shows a target's
// metadata wherever it lies: sizes and dates from outside ROOT would leak). A link inside ROOT
// shows its target's, as the response would. With `follow_symlinks` every target is served, so
// every target's metadata is shown.
//
// Order: directories first, then files, each by byte-wise name (nginx's ngx_http_autoindex_cmp)
// unless the query asks for another key.
// Hidden entries (a leading '.') are left out unless `show_hidden`. Names are percent-encoded in
// hrefs and HTML-escaped in text, so a file named `<b>&"x y.txt` stays a file name.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <system_error>

#include "http/html.hpp"
#include "http/resolve.hpp"

namespace zcopy::http {

enum class listing_format { html, json };

// The order a listing is sorted in: directories always first, then by `by`.
struct listing_order {
  enum class key { name, size, time };
  key by = key::name;
  bool descending = false;
};

// `sort=name|size|time` and `order=asc|desc` from a query string ("&" or ";" between pairs);
// anything else is ignored, as a static server ignores a query it has no use for.
listing_order parse_listing_order(std::string_view query);

// `url_path` is the decoded directory path ("/docs/"), shown in the title; under `root_fd` (ROOT,
// as open_root() opened it) it also locates the symlinks to look up.
std::expected<std::string, std::error_code> render_listing(
    int dir_fd, std::string_view url_path, int root_fd, resolve_options options,
    listing_format format = listing_format::html, listing_order order = {});

// & < > " ' as character references.
using zcopy::detail::html_escape;

}  // namespace zcopy::http
