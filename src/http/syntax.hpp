// The character classes of HTTP/1.1 (RFC 9110 §5.1, §5.5, §5.6; RFC 9112 §5) that src/http reads
// with, and a byte-at-a-time check of one field line, shared by the two places that read field
// lines from a peer: the request head (request_parser.cpp) and the trailer section of a chunked
// body (chunked.cpp). Line endings are the caller's business: it hands over the bytes between
// them.
#pragma once

#include <cstddef>
#include <string_view>

namespace zcopy::http {

// tchar (RFC 9110 §5.6.2): the characters of a token (a method, a field name).
inline bool is_tchar(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

inline bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

// `s` without leading and trailing OWS (RFC 9110 §5.6.3): a field value as the parser keeps it.
inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// A HEXDIG's value, or -1 (chunk sizes, percent-encoding).
inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// field-vchar / SP / HTAB (RFC 9110 §5.5): VCHAR and obs-text. Everything else is a control
// character: NUL, CR and LF are "invalid and dangerous" (§5.5), and the others are refused too
// (nginx refuses NUL only; http_parser refused them all before this check existed).
inline bool is_field_value_char(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5), fed one byte at a time without
// its line ending. A line that starts with whitespace (obs-fold, §5.2) or has whitespace before
// the colon (§5.1: MUST be rejected) fails on that byte, as a field name holds tchars only.
class field_line_check {
 public:
  // The next byte of the line. False: the line is not a field line.
  bool take(char c) noexcept {
    if (in_value_) return is_field_value_char(c);
    if (c == ':') {
      in_value_ = true;
      return name_bytes_ != 0;
    }
    ++name_bytes_;
    return is_tchar(c);
  }
  // The line ended. False when it had no colon; ready for the next line either way.
  bool finish() noexcept {
    const bool ok = in_value_;
    *this = {};
    return ok;
  }

 private:
  std::size_t name_bytes_ = 0;
  bool in_value_ = false;
};

}  // namespace zcopy::http
