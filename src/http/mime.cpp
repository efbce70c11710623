#include "http/mime.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "sys/sys.hpp"
#include "zcopy/fd.hpp"

namespace zcopy::http {

namespace {

// What a static site needs when /etc/mime.types lacks it (or is missing: a minimal container).
// Values follow IANA's registry as Debian's media-types 10 has them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 22> builtin_types = {{
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},  // RFC 9239
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"svg", "image/svg+xml; charset=utf-8"},
    {"webp", "image/webp"},
    {"ico", "image/vnd.microsoft.icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"mp4", "video/mp4"},
    {"woff2", "font/woff2"},
    {"xml", "application/xml; charset=utf-8"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
}};

// Names without an extension that are text by long convention: checksum lists next to downloads
// (what `sha256sum -c` reads) and a project's top-level notes. Shown in a browser instead of
// downloaded as octet-stream; matched whole, case-insensitively.
constexpr std::array<std::string_view, 14> text_file_names = {
    "SHA256SUMS", "SHA512SUMS", "SHA1SUMS", "MD5SUMS", "B2SUMS",  "README", "LICENSE",
    "COPYING",    "CHANGELOG",  "NEWS",     "AUTHORS", "INSTALL", "NOTICE", "CHECKSUMS",
};

constexpr std::size_t max_file_size = 4 << 20;

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool needs_charset(std::string_view type) noexcept {
  if (type.starts_with("text/")) return true;
  for (std::string_view t :
       {"application/javascript", "application/ecmascript", "application/xml",
        "application/xhtml+xml", "application/rss+xml", "application/atom+xml", "image/svg+xml"}) {
    if (type == t) return true;
  }
  return false;
}

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r';
}

}  // namespace

std::string with_charset(std::string_view type) {
  std::string out(type);
  if (needs_charset(type) && type.find(';') == std::string_view::npos) out += "; charset=utf-8";
  return out;
}

std::string_view file_extension(std::string_view path) noexcept {
  if (auto slash = path.rfind('/'); slash != std::string_view::npos) path.remove_prefix(slash + 1);
  const std::size_t dot = path.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  return path.substr(dot + 1);
}

mime_table mime_table::parse(std::string_view text) {
  mime_table table;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);

    std::string type;
    while (!line.empty()) {
      while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
      std::size_t end = 0;
      while (end < line.size() && !is_space(line[end])) ++end;
      if (end == 0) break;
      std::string_view word = line.substr(0, end);
      line.remove_prefix(end);
      if (type.empty()) {
        // Media types are case-insensitive (RFC 9110 §8.3.1); lower case is the usual spelling.
        type = with_charset(to_lower(word));
      } else {
        table.types_.try_emplace(to_lower(word), type);  // the first line naming it wins
      }
    }
  }
  return table;
}

std::expected<mime_table, std::error_code> mime_table::load(const char* path) {
  auto fd = unique_fd::open(path, O_RDONLY);
  if (!fd) return std::unexpected(fd.error());
  auto st = sys::fstat(fd->get());
  if (!st) return std::unexpected(st.error());
  if (static_cast<std::size_t>(st->st_size) > max_file_size) {
    return std::unexpected(std::make_error_code(std::errc::file_too_large));
  }
  std::string text(static_cast<std::size_t>(st->st_size), '\0');
  auto n = sys::read_full(fd->get(), text.data(), text.size());
  if (!n) return std::unexpected(n.error());
  text.resize(*n);
  return parse(text);
}

const mime_table& mime_table::system() {
  // A function-local static: initialised once, thread-safe ([stmt.dcl]).
  static const mime_table table = [] {
    auto loaded = load("/etc/mime.types");
    return loaded ? std::move(*loaded) : mime_table{};
  }();
  return table;
}

std::string_view mime_table::lookup(std::string_view file_name) const {
  const std::string_view ext = file_extension(file_name);
  if (ext.empty()) {
    const std::string_view name = file_name.substr(file_name.rfind('/') + 1);
    for (std::string_view text_name : text_file_names) {
      if (std::equal(name.begin(), name.end(), text_name.begin(), text_name.end(),
                     [](char a, char b) { return lower(a) == lower(b); })) {
        return "text/plain; charset=utf-8";
      }
    }
    return default_content_type;
  }
  char buf[32];
  if (ext.size() > sizeof buf) return default_content_type;
  for (std::size_t i = 0; i < ext.size(); ++i) buf[i] = lower(ext[i]);
  const std::string_view key(buf, ext.size());
  if (auto it = types_.find(key); it != types_.end()) return it->second;
  for (const auto& [name, type] : builtin_types) {
    if (name == key) return type;
  }
  return default_content_type;
}

}  // namespace zcopy::http
