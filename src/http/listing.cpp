#include "http/listing.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "http/date.hpp"
#include "http/target.hpp"

namespace zcopy::http {

namespace {

struct entry {
  std::string name;
  bool directory = false;
  bool has_info = false;
  std::uint64_t size = 0;
  std::chrono::sys_seconds mtime{};
};

// "1994-11-06 08:49" (UTC, as the datetime attribute says): sorts as text, reads in any locale.
std::string listing_date(std::chrono::sys_seconds t) {
  using namespace std::chrono;
  const sys_days d = floor<days>(t);
  const year_month_day ymd{d};
  const hh_mm_ss hms{t - d};
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count());
}

// "1994-11-06T08:49:37Z", for <time datetime>.
std::string iso_time(std::chrono::sys_seconds t) {
  using namespace std::chrono;
  const sys_days d = floor<days>(t);
  const hh_mm_ss hms{t - d};
  return fmt::format("{}:{:02}Z", listing_date(t).replace(10, 1, "T"), hms.seconds().count());
}

// "0 B", "999 B", "1.0 KiB", "12.1 KiB", "256 MiB": three significant figures at most, in the
// binary units the rest of zcopy prints.
std::string human_size(std::uint64_t bytes) {
  static constexpr std::string_view units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  // 1023.96 KiB would print as "1024 KiB"; keep the next unit's "1.0" instead.
  if (value >= 999.95 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return value < 99.95 ? fmt::format("{:.1f} {}", value, units[unit])
                       : fmt::format("{:.0f} {}", value, units[unit]);
}

// The entries to show, in listing order.
std::expected<std::vector<entry>, std::error_code> read_entries(int dir_fd,
                                                                std::string_view url_path,
                                                                int root_fd,
                                                                resolve_options options) {
  namespace fs = std::filesystem;
  const fs::path self = "/proc/self/fd/" + std::to_string(dir_fd);
  std::error_code ec;
  fs::directory_iterator it(self, ec);
  if (ec) return std::unexpected(ec);

  std::vector<entry> entries;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return std::unexpected(ec);
    entry e;
    e.name = it->path().filename().string();
    if (!options.show_hidden && e.name.starts_with('.')) continue;
    std::error_code stat_ec;
    if (!options.follow_symlinks && it->is_symlink(stat_ec)) {
      // What a request for the link would get (see the header): its target's metadata only if
      // it would be served.
      const resolved target = resolve(root_fd, std::string(url_path) + e.name, options);
      if (target.status == resolve_status::file || target.status == resolve_status::directory) {
        e.directory = target.status == resolve_status::directory;
        e.has_info = true;
        e.mtime = modification_time(target.st);
        e.size = e.directory ? 0 : static_cast<std::uint64_t>(target.st.st_size);
      }
      entries.push_back(std::move(e));
      continue;
    }
    const fs::file_status st = it->status(stat_ec);  // follows symlinks, like nginx's stat
    if (!stat_ec) {
      e.directory = fs::is_directory(st);
      const auto mtime = it->last_write_time(stat_ec);
      if (!stat_ec) {
        e.has_info = true;
        e.mtime = std::chrono::floor<std::chrono::seconds>(std::chrono::file_clock::to_sys(mtime));
        if (!e.directory) {
          const auto size = it->file_size(stat_ec);
          e.size = stat_ec ? 0 : size;
        }
      }
    }
    entries.push_back(std::move(e));
  }
  if (ec) return std::unexpected(ec);
  return entries;
}

// Directories first whatever the order (as nginx, Caddy and file managers do), then by the
// chosen key; ties, and the name key, by byte-wise name (nginx's ngx_http_autoindex_cmp). An
// entry without date or size (a link listed by name alone) counts as 0 for that key.
void sort_entries(std::vector<entry>& entries, listing_order order) {
  std::sort(entries.begin(), entries.end(), [order](const entry& a, const entry& b) {
    if (a.directory != b.directory) return a.directory;
    const auto key = [&](const entry& e) -> std::int64_t {
      switch (order.by) {
        case listing_order::key::size:
          return static_cast<std::int64_t>(e.size);
        case listing_order::key::time:
          return e.mtime.time_since_epoch().count();
        case listing_order::key::name:
          break;
      }
      return 0;
    };
    const std::int64_t ka = key(a), kb = key(b);
    if (ka != kb) return order.descending ? ka > kb : ka < kb;
    if (order.by == listing_order::key::name && order.descending) return b.name < a.name;
    return a.name < b.name;
  });
}

constexpr std::string_view listing_style =
    ":root{color-scheme:light dark}"
    "body{font:16px/1.45 system-ui,sans-serif;max-width:64rem;margin:0 auto;padding:1rem}"
    "h1{font-size:1.25rem;font-weight:600;overflow-wrap:anywhere}"
    "h1 a{text-decoration:none}"
    "table{width:100%;border-collapse:collapse}"
    "th,td{padding:.4rem .5rem;text-align:left;vertical-align:top}"
    "th{border-bottom:2px solid #8886;white-space:nowrap;font-weight:600}"
    "th a{color:inherit}"
    "tbody tr:nth-child(even){background:#8881}"
    "tbody tr:hover{background:#8882}"
    "td:first-child{width:100%;overflow-wrap:anywhere}"
    ".s{text-align:right;white-space:nowrap}"
    ".s,.t{font-variant-numeric:tabular-nums}"
    ".t{white-space:nowrap}.t span{white-space:nowrap}"
    "td:first-child a::before{content:'';display:inline-block;width:.7em;height:.9em;"
    "margin-right:.5em;vertical-align:-.1em;border:1px solid currentColor;border-radius:2px;"
    "opacity:.55}"
    "tr.d td:first-child a::before{width:.95em;height:.75em;background:#e3a72f;"
    "border-color:#a8781a;border-radius:1px 4px 2px 2px;opacity:1}"
    "tr.d a{font-weight:600}"
    "footer{margin-top:1rem;opacity:.75;font-size:.9rem}"
    "@media (max-width:40rem){body{padding:.5rem}th,td{padding:.4rem .25rem}"
    ".t{white-space:normal;min-width:5.6em}}";

// "Index of /a/b/" with each ancestor a link: relative ("../../" is ROOT from /a/b/), so the page
// stays right behind a proxy that serves it under a prefix. The current directory is plain text.
std::string breadcrumbs(std::string_view url_path) {
  std::vector<std::string_view> segments;
  for (std::size_t i = 1; i < url_path.size();) {
    const std::size_t slash = url_path.find('/', i);
    const std::size_t end = slash == std::string_view::npos ? url_path.size() : slash;
    if (end > i) segments.push_back(url_path.substr(i, end - i));
    i = end + 1;
  }
  const auto up = [](std::size_t levels) {
    std::string href;
    for (std::size_t i = 0; i < levels; ++i) href += "../";
    return href;
  };
  std::string out = "Index of ";
  out += segments.empty() ? "/" : "<a href=\"" + up(segments.size()) + "\">/</a>";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string name = html_escape(segments[i]);
    if (i + 1 == segments.size()) {
      out += "<span aria-current=\"page\">" + name + "</span>/";
    } else {
      out += "<a href=\"" + up(segments.size() - 1 - i) + "\">" + name + "</a>/";
    }
  }
  return out;
}

// A column heading that sorts by its key: ascending first, and the other way when the listing is
// already sorted by it. The arrow marks the current order.
std::string sort_heading(std::string_view label, std::string_view key, listing_order::key which,
                         listing_order order, std::string_view cell_class) {
  const bool current = order.by == which;
  const bool next_descending = current && !order.descending;
  std::string out = "<th";
  if (!cell_class.empty()) out += fmt::format(" class=\"{}\"", cell_class);
  if (current) out += order.descending ? " aria-sort=\"descending\"" : " aria-sort=\"ascending\"";
  out += fmt::format("><a href=\"?sort={}&amp;order={}\">{}</a>", key,
                     next_descending ? "desc" : "asc", label);
  if (current) out += order.descending ? " \u2193" : " \u2191";
  out += "</th>";
  return out;
}

std::string render_html(const std::vector<entry>& entries, std::string_view url_path,
                        listing_order order) {
  const std::string title = "Index of " + html_escape(url_path);
  std::string out;
  out.reserve(2048 + entries.size() * 240);
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
  out += title;
  out += "</title>\n<style>";
  out += listing_style;
  out += "</style></head>\n<body>\n<h1>";
  out += breadcrumbs(url_path);
  out += "</h1>\n<table>\n<thead><tr>";
  out += sort_heading("Name", "name", listing_order::key::name, order, "");
  out += sort_heading("Size", "size", listing_order::key::size, order, "s");
  out += sort_heading("Modified (UTC)", "time", listing_order::key::time, order, "t");
  out += "</tr></thead>\n<tbody>\n";
  if (url_path != "/") {
    out +=
        "<tr class=\"d\"><td><a href=\"../\">../</a></td><td class=\"s\"></td>"
        "<td class=\"t\"></td></tr>\n";
  }
  std::size_t directories = 0, files = 0;
  std::uint64_t total = 0;
  for (const entry& e : entries) {
    // Relative hrefs: the page is only ever served at the directory's own URL ending in '/'.
    out += e.directory ? "<tr class=\"d\"><td><a href=\"" : "<tr><td><a href=\"";
    out += percent_encode_path(e.name);
    if (e.directory) out += '/';
    out += "\">";
    out += html_escape(e.name);
    if (e.directory) out += '/';
    out += "</a></td><td class=\"s\"";
    if (e.has_info && !e.directory) {
      out += fmt::format(" title=\"{} bytes\">{}",
                         zcopy::detail::group_digits(std::to_string(e.size)), human_size(e.size));
    } else {
      out += '>';
      if (e.has_info) out += "\u2014";  // a directory: no size
    }
    out += "</td><td class=\"t\">";
    if (e.has_info) {
      // Date and time each unbreakable, so a narrow column wraps between them, not at a '-'.
      const std::string shown = listing_date(e.mtime);
      out += fmt::format("<time datetime=\"{}\"><span>{}</span> <span>{}</span></time>",
                         iso_time(e.mtime), shown.substr(0, 10), shown.substr(11));
    }
    out += "</td></tr>\n";
    if (e.directory) {
      ++directories;
    } else {
      ++files;
      total += e.size;
    }
  }
  out += "</tbody>\n</table>\n<footer>";
  out += fmt::format("{} {}, {} {}", directories, directories == 1 ? "directory" : "directories",
                     files, files == 1 ? "file" : "files");
  if (files != 0) out += fmt::format(" ({})", human_size(total));
  out += "</footer>\n</body>\n</html>\n";
  return out;
}

// nginx's autoindex_format json: [{"name":..., "type":"directory"|"file", "mtime":"<HTTP date>",
// "size":N (files)}]. JSON strings are UTF-8: a name that is not is written with U+FFFD in place
// of its bad bytes (nginx writes the raw bytes, which no JSON parser accepts).
std::string render_json(const std::vector<entry>& entries) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const entry& e : entries) {
    nlohmann::ordered_json item = {{"name", e.name}, {"type", e.directory ? "directory" : "file"}};
    if (e.has_info) {
      std::string date;
      append_http_date(date, e.mtime);
      item["mtime"] = date;
      if (!e.directory) item["size"] = e.size;
    }
    out.push_back(std::move(item));
  }
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace

listing_order parse_listing_order(std::string_view query) {
  listing_order order;
  while (!query.empty()) {
    const std::size_t end = query.find_first_of("&;");
    const std::string_view pair = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view{} : query.substr(end + 1);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view name = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (name == "sort") {
      if (value == "name") order.by = listing_order::key::name;
      if (value == "size") order.by = listing_order::key::size;
      if (value == "time") order.by = listing_order::key::time;
    } else if (name == "order") {
      if (value == "asc") order.descending = false;
      if (value == "desc") order.descending = true;
    }
  }
  return order;
}

std::expected<std::string, std::error_code> render_listing(int dir_fd, std::string_view url_path,
                                                           int root_fd, resolve_options options,
                                                           listing_format format,
                                                           listing_order order) {
  auto entries = read_entries(dir_fd, url_path, root_fd, options);
  if (!entries) return std::unexpected(entries.error());
  sort_entries(*entries, order);
  return format == listing_format::json ? render_json(*entries)
                                        : render_html(*entries, url_path, order);
}

}  // namespace zcopy::http
