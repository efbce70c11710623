// Content-Type from a file name's extension.
//
// The table comes from /etc/mime.types (Debian's media-types package: "type ext ext ..." lines,
// '#' comments), read once per process on first use; where a name appears on several lines the
// first line wins. Extensions missing there (or the whole file, on a system without it) fall back
// to a small built-in table of the types a static site needs, then to application/octet-stream
// (RFC 9110 §8.3: a sender without better knowledge; nginx's default_type is the same).
//
// Text types carry "; charset=utf-8": text/*, plus the XML and JavaScript types that take a
// charset parameter. application/json does not: RFC 8259 §11 defines no charset parameter (JSON
// is UTF-8 by definition). Matching is case-insensitive ("INDEX.HTML" is text/html). A name
// without a dot, or whose only dot is the first character (".profile"), has no extension; such a
// name is application/octet-stream too, except the few that are text by convention (SHA256SUMS,
// README, LICENSE and the like), which are text/plain.
#pragma once

#include <cstddef>
#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

namespace zcopy::http {

inline constexpr std::string_view default_content_type = "application/octet-stream";

class mime_table {
 public:
  // An empty table: every lookup falls through to the built-in types.
  mime_table() = default;
  // Parses the text of a mime.types file.
  static mime_table parse(std::string_view text);
  // Reads and parses `path` (through src/sys; at most 4 MiB).
  static std::expected<mime_table, std::error_code> load(const char* path);
  // The process-wide table from /etc/mime.types (empty if it cannot be read), built once; safe to
  // call from any thread.
  static const mime_table& system();

  // The Content-Type value for `file_name` (a name or a path; only the last segment counts).
  std::string_view lookup(std::string_view file_name) const;
  std::size_t size() const noexcept { return types_.size(); }

 private:
  struct hash : std::hash<std::string_view> {
    using is_transparent = void;
  };
  // extension (lower case) → full Content-Type value, charset included
  std::unordered_map<std::string, std::string, hash, std::equal_to<>> types_;
};

// The extension of the last segment of `path`, without the dot, as written ("" when none).
std::string_view file_extension(std::string_view path) noexcept;

// "text/html" → "text/html; charset=utf-8"; others unchanged.
std::string with_charset(std::string_view type);

}  // namespace zcopy::http
