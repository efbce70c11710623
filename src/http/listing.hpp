// Directory listings for --autoindex: an HTML page like nginx's autoindex (name, date, size), or
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
// Order: directories first, then files, each by byte-wise name (nginx's ngx_http_autoindex_cmp).
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

// `url_path` is the decoded directory path ("/docs/"), shown in the title; under `root_fd` (ROOT,
// as open_root() opened it) it also locates the symlinks to look up.
std::expected<std::string, std::error_code> render_listing(
    int dir_fd, std::string_view url_path, int root_fd, resolve_options options,
    listing_format format = listing_format::html);

// & < > " ' as character references.
using zcopy::detail::html_escape;

}  // namespace zcopy::http
