// FILE.part.meta: what a later `zcopy get -c` needs to continue FILE.part safely. The URL, the
// validators that pin the file's version (If-Range), and for a download over several connections
// the file's size and the byte ranges still missing (the .part is then preallocated to the full
// size, so its length says nothing about what has arrived).
//
// Format, one field per line: "url URL", "etag VALUE", "last-modified VALUE", "size N", and one
// "todo FIRST END" per missing range [FIRST, END). Unknown lines are ignored. The file is read
// without following a symlink and written under a temporary name renamed into place (created
// with O_EXCL), so a link planted at either name is never written through, and a crash leaves the
// old meta or the new one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace zcopy::http {

struct byte_span {
  std::uint64_t first = 0, end = 0;  // [first, end)
  friend bool operator==(const byte_span&, const byte_span&) = default;
};

struct part_meta {
  std::string url, etag, last_modified;
  std::optional<std::uint64_t> size;  // set by ranged downloads only
  std::vector<byte_span> todo;        // ranged: what is still missing

  // If-Range takes a strong validator only (RFC 9110 §13.1.5: never a weak ETag).
  std::string validator() const {
    if (!etag.empty() && !etag.starts_with("W/")) return etag;
    return last_modified;
  }
  bool ranged() const noexcept { return size.has_value(); }
};

// The meta file's fields, or an empty meta where it is missing, not a regular file, too large or
// unreadable. A ranged meta whose ranges do not fit its size is returned without size and ranges
// (the part is then not trusted as a ranged one).
part_meta read_part_meta(int dir, const std::string& name);

std::error_code write_part_meta(int dir, const std::string& name, const part_meta& m);

}  // namespace zcopy::http
