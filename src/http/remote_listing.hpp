// A directory listing as `zcopy get -r` reads it: the JSON array of nginx's
// `autoindex_format json` (and `zcopy serve --autoindex-format json`, the same shape):
// [{"name": "a.txt", "type": "file", "mtime": "Sat, 05 Dec 2026 10:00:00 GMT", "size": 1234},
//  {"name": "sub", "type": "directory", "mtime": "..."}].
//
// The listing comes from the network, so every name is a hostile input until it is checked here:
// a name becomes one path component in the mirror's directory or it is refused, with a reason,
// never "repaired". Refused: empty, "." and "..", a '/' or a NUL anywhere, more than NAME_MAX
// bytes, a name given twice, and NAME.part or NAME.part.meta beside a NAME (the download of NAME
// writes those). Entries of another type ("other", symlinks nginx reports as such) are skipped;
// an entry whose size or date is malformed is refused. A listing that is not a JSON array of
// objects is an error as a whole (so is one that is not valid UTF-8: nginx writes such names'
// raw bytes, which no JSON parser takes).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zcopy::http {

struct remote_entry {
  enum class kind { file, directory };
  std::string name;
  kind type = kind::file;
  std::optional<std::uint64_t> size;              // files; absent when the server gave none
  std::optional<std::chrono::sys_seconds> mtime;  // absent when the server gave none
};

struct refused_entry {
  std::string name;    // as given, for the message (may hold any bytes)
  std::string reason;  // "a name with '/'", "given twice", ...
};

struct remote_listing {
  std::vector<remote_entry> entries;
  std::vector<refused_entry> refused;
  std::size_t skipped = 0;  // entries of another type
};

// `now` resolves two-digit years in dates (parse_http_date).
std::expected<remote_listing, std::string> parse_remote_listing(std::string_view text,
                                                                std::chrono::sys_seconds now);

// Why `name` cannot be one path component of the mirror; nullopt when it can.
std::optional<std::string> unsafe_name(std::string_view name);

}  // namespace zcopy::http
