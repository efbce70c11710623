#include "http/part_meta.hpp"

#include <fcntl.h>

#include <charconv>
#include <string_view>

#include "core/temp_entry.hpp"
#include "sys/sys.hpp"
#include "zcopy/fd.hpp"

namespace zcopy::http {

namespace {

std::optional<std::uint64_t> number(std::string_view text) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

}  // namespace

part_meta read_part_meta(int dir, const std::string& name) {
  part_meta m;
  auto fd = unique_fd::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (!fd) return m;
  auto st = sys::fstat(fd->get());
  // A meta file is a few short lines and one per missing range (a handful per connection);
  // anything this large is not one.
  if (!st || !S_ISREG(st->st_mode) || st->st_size > 1024 * 1024) return m;
  std::string text(static_cast<std::size_t>(st->st_size), '\0');
  auto got = sys::read_full(fd->get(), text.data(), text.size());
  if (!got) return m;
  text.resize(*got);
  bool bad_range = false;
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, space), value = line.substr(space + 1);
    if (key == "url") m.url = value;
    if (key == "etag") m.etag = value;
    if (key == "last-modified") m.last_modified = value;
    if (key == "size") {
      m.size = number(value);
      bad_range = bad_range || !m.size;
    }
    if (key == "todo") {
      const std::size_t sep = value.find(' ');
      const auto first = number(value.substr(0, sep));
      const auto last =
          sep == std::string_view::npos ? std::nullopt : number(value.substr(sep + 1));
      if (!first || !last || *first >= *last) {
        bad_range = true;
      } else {
        m.todo.push_back({*first, *last});
      }
    }
  }
  // Ranges must lie inside the file, in order and without overlap.
  std::uint64_t previous_end = 0;
  for (const byte_span& r : m.todo) {
    if (!m.size || r.first < previous_end || r.end > *m.size) bad_range = true;
    previous_end = r.end;
  }
  if (bad_range) {
    m.size.reset();
    m.todo.clear();
  }
  return m;
}

std::error_code write_part_meta(int dir, const std::string& name, const part_meta& m) {
  std::string text = "url " + m.url + "\n";
  if (!m.etag.empty()) text += "etag " + m.etag + "\n";
  if (!m.last_modified.empty()) text += "last-modified " + m.last_modified + "\n";
  if (m.size) {
    text += "size " + std::to_string(*m.size) + "\n";
    for (const byte_span& r : m.todo) {
      text += "todo " + std::to_string(r.first) + " " + std::to_string(r.end) + "\n";
    }
  }
  unique_fd fd;
  auto tmp = zcopy::detail::create_temp(dir, name, [&](const std::string& n) -> std::error_code {
    auto opened = unique_fd::openat(dir, n.c_str(),
                                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0666);
    if (!opened) return opened.error();
    fd = std::move(*opened);
    return {};
  });
  if (!tmp) return tmp.error();
  if (auto w = sys::write_all(fd.get(), text.data(), text.size()); !w) return w.error();
  if (auto c = fd.close(); c) return c;
  if (auto r = sys::renameat2(dir, tmp->name().c_str(), dir, name.c_str(), 0); !r) {
    return r.error();
  }
  tmp->commit();
  return {};
}

}  // namespace zcopy::http
