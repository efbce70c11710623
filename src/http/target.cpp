#include "http/target.hpp"

#include <vector>

#include "http/syntax.hpp"

namespace zcopy::http {

namespace {

bool starts_with_ignore_case(std::string_view text, std::string_view prefix) noexcept {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// The length of "http://" or "https://" at the start of `target`, 0 when neither.
std::size_t scheme_length(std::string_view target) noexcept {
  if (starts_with_ignore_case(target, "http://")) return 7;
  if (starts_with_ignore_case(target, "https://")) return 8;
  return 0;
}

}  // namespace

std::string_view describe(target_error error) noexcept {
  switch (error) {
    case target_error::malformed:
      return "malformed request target";
    case target_error::bad_escape:
      return "invalid percent escape";
    case target_error::encoded_nul:
      return "encoded NUL";
    case target_error::encoded_slash:
      return "encoded slash";
    case target_error::above_root:
      return "path climbs above the root";
  }
  return "invalid target";
}

std::string_view target_authority(std::string_view target) noexcept {
  const std::size_t scheme = scheme_length(target);
  if (scheme == 0) return {};
  std::string_view rest = target.substr(scheme);
  return rest.substr(0, rest.find_first_of("/?#"));
}

std::expected<decoded_target, target_error> decode_target(std::string_view target) {
  // 1. The form. Absolute-form is what a proxy would send; RFC 9112 §3.2.2 requires servers to
  //    accept it. "http://host" and "http://host?q" have an empty path, which means "/"
  //    (RFC 3986 §6.2.3).
  std::string_view query_and_path = target;
  bool empty_path = false;
  if (const std::size_t scheme = scheme_length(target); scheme != 0) {
    std::string_view rest = target.substr(scheme);
    const std::size_t end = rest.find_first_of("/?#");
    if (end == 0) return std::unexpected(target_error::malformed);  // no authority
    query_and_path = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    empty_path = query_and_path.empty() || query_and_path.front() != '/';
  } else if (target.empty() || target.front() != '/') {
    return std::unexpected(target_error::malformed);
  }

  // 2. Fragment (never sent by conforming clients, tolerated as nginx does) and query.
  if (auto hash = query_and_path.find('#'); hash != std::string_view::npos) {
    query_and_path = query_and_path.substr(0, hash);
  }
  decoded_target out;
  std::string_view path = query_and_path;
  if (auto q = query_and_path.find('?'); q != std::string_view::npos) {
    out.has_query = true;
    out.query = std::string(query_and_path.substr(q + 1));
    path = query_and_path.substr(0, q);
  }
  if (empty_path) path = "/";

  // 3. Percent-decoding, one segment at a time; 4. dot and empty segments. Splitting on the raw
  //    '/' is sound because an encoded slash is refused.
  std::vector<std::string> segments;
  std::string segment;
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (segment == "..") {
        if (segments.empty()) return std::unexpected(target_error::above_root);
        segments.pop_back();
      } else if (!segment.empty() && segment != ".") {
        segments.push_back(segment);
      }
      // The output ends with '/' when the last segment was empty, "." or ".." (RFC 3986 §5.2.4:
      // "/a/." and "/a/b/.." both name the directory "/a/").
      out.trailing_slash = segment.empty() || segment == "." || segment == "..";
      segment.clear();
      continue;
    }
    char c = path[i];
    if (c == '%') {
      if (path.size() - i < 3) return std::unexpected(target_error::bad_escape);
      const int hi = hex_value(path[i + 1]);
      const int lo = hex_value(path[i + 2]);
      if (hi < 0 || lo < 0) return std::unexpected(target_error::bad_escape);
      c = static_cast<char>(hi * 16 + lo);
      if (c == '\0') return std::unexpected(target_error::encoded_nul);
      if (c == '/') return std::unexpected(target_error::encoded_slash);
      i += 2;
    } else if (c == '\0') {
      return std::unexpected(target_error::malformed);
    }
    segment += c;
  }

  out.path.push_back('/');  // not `= "/"`: g++ 12 -Wrestrict false positive (GCC PR 105329)
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.path += '/';
    out.path += segments[i];
  }
  if (segments.empty()) {
    out.trailing_slash = true;
  } else if (out.trailing_slash) {
    out.path += '/';
  }
  return out;
}

std::string percent_encode_path(std::string_view path) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size());
  for (char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                            c == '~' || c == '/';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

}  // namespace zcopy::http
