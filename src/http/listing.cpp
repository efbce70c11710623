#include "http/listing.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <vector>

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

// The cells `text` takes in a monospace font: East Asian wide and fullwidth characters two,
// combining marks none, anything else one (a byte that is not valid UTF-8 too: it is shown as
// one replacement character).
std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = lead < 0x80           ? 1
                         : (lead >> 5) == 0x6  ? 2
                         : (lead >> 4) == 0xE  ? 3
                         : (lead >> 3) == 0x1E ? 4
                                               : 0;
    char32_t cp = length == 1   ? lead
                  : length == 2 ? (lead & 0x1F)
                  : length == 3 ? (lead & 0x0F)
                                : (lead & 0x07);
    bool valid = length != 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      valid = (c & 0xC0) == 0x80;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (!valid) {
      ++width;
      ++i;
      continue;
    }
    i += length;
    const bool combining = (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
                           (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
                           (cp >= 0xFE20 && cp <= 0xFE2F) || cp == 0x200B || cp == 0x200D;
    const bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) ||
                      (cp >= 0x3041 && cp <= 0x33FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
                      (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
                      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                      (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                      (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
                      (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
    width += combining ? 0 : wide ? 2 : 1;
  }
  return width;
}

// "06-Nov-1994 08:49" (nginx's autoindex date column).
std::string listing_date(std::chrono::sys_seconds t) {
  using namespace std::chrono;
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_days d = floor<days>(t);
  const year_month_day ymd{d};
  const hh_mm_ss hms{t - d};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02u-%s-%04d %02d:%02d", static_cast<unsigned>(ymd.day()),
                months[static_cast<unsigned>(ymd.month()) - 1].data(), static_cast<int>(ymd.year()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()));
  return buf;
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
  std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
    if (a.directory != b.directory) return a.directory;
    return a.name < b.name;
  });
  return entries;
}

std::string render_html(const std::vector<entry>& entries, std::string_view url_path) {
  const std::string title = "Index of " + html_escape(url_path);
  std::string out;
  out.reserve(512 + entries.size() * 160);
  out +=
      "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
  out += title;
  out += "</title></head>\n<body>\n<h1>";
  out += title;
  out += "</h1><hr><pre>";
  if (url_path != "/") out += "<a href=\"../\">../</a>\n";
  for (const entry& e : entries) {
    // Relative hrefs: the page is only ever served at the directory's own URL ending in '/'.
    const std::string shown = e.directory ? e.name + "/" : e.name;
    out += "<a href=\"";
    out += percent_encode_path(e.name);
    if (e.directory) out += '/';
    out += "\">";
    out += html_escape(shown);
    out += "</a>";
    // Pad the name column to 50 cells of the unescaped name as a monospace font shows it (not
    // its bytes: "é" is two bytes and one cell, "日" three bytes and two cells), so the dates
    // line up whatever the script.
    const std::size_t width = display_width(shown);
    out.append(width < 50 ? 51 - width : 1, ' ');
    if (e.has_info) {
      out += listing_date(e.mtime);
      const std::string size = e.directory ? "-" : std::to_string(e.size);
      out.append(size.size() < 20 ? 20 - size.size() : 1, ' ');
      out += size;
    }
    out += '\n';
  }
  out += "</pre><hr></body>\n</html>\n";
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

std::expected<std::string, std::error_code> render_listing(int dir_fd, std::string_view url_path,
                                                           int root_fd, resolve_options options,
                                                           listing_format format) {
  auto entries = read_entries(dir_fd, url_path, root_fd, options);
  if (!entries) return std::unexpected(entries.error());
  return format == listing_format::json ? render_json(*entries) : render_html(*entries, url_path);
}

}  // namespace zcopy::http
