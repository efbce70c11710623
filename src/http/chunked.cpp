#include "http/chunked.hpp"

#include <optional>

namespace zcopy::http {

chunk_framing::step chunk_framing::feed(std::span<const char> bytes) {
  auto fail = [this](std::size_t at, std::string_view reason) {
    state_ = state::failed;
    return step{event::error, at, 0, reason};
  };
  if (state_ == state::failed) return {event::error, 0, 0, "earlier error"};
  if (state_ == state::done) return {event::done, 0, 0, {}};
  if (state_ == state::data) return {event::data, 0, size_, {}};

  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    const bool in_size_line = state_ == state::size_start || state_ == state::size ||
                              state_ == state::size_ws || state_ == state::ext ||
                              state_ == state::size_lf;
    if (in_size_line && ++line_bytes_ > max_line) return fail(i, "chunk-size line too long");
    const bool in_trailers = state_ == state::trailer_start || state_ == state::trailer ||
                             state_ == state::trailer_lf || state_ == state::trailer_end_lf;
    if (in_trailers && ++trailer_bytes_ > max_trailers) return fail(i, "trailer section too long");

    // A line end of the chunk-size line: the chunk's data, or the trailer section, follows.
    auto size_line_end = [&]() -> std::optional<step> {
      line_bytes_ = 0;
      if (size_ == 0) {
        state_ = state::trailer_start;
        return std::nullopt;
      }
      state_ = state::data;
      return step{event::data, i + 1, size_, {}};
    };

    switch (state_) {
      case state::size_start:
      case state::size: {
        const int v = hex_value(c);
        if (v >= 0) {
          // 2^60: far beyond any file, and no overflow in the shift below.
          if (size_ >> 60 != 0) return fail(i, "chunk size too large");
          size_ = size_ * 16 + static_cast<std::uint64_t>(v);
          state_ = state::size;
          break;
        }
        if (state_ == state::size_start) return fail(i, "chunk size is not hexadecimal");
        if (c == ';') {
          state_ = state::ext;
        } else if (is_ows(c)) {
          state_ = state::size_ws;  // the BWS RFC 9112 §7.1.1 allows before ';'
        } else if (c == '\r') {
          state_ = state::size_lf;
        } else if (c == '\n') {
          if (auto s = size_line_end()) return *s;
        } else {
          return fail(i, "chunk size is not hexadecimal");
        }
        break;
      }
      case state::size_ws:
        if (c == ';') {
          state_ = state::ext;
        } else if (c == '\r') {
          state_ = state::size_lf;
        } else if (c == '\n') {
          if (auto s = size_line_end()) return *s;
        } else if (!is_ows(c)) {
          return fail(i, "chunk size is not hexadecimal");
        }
        break;
      case state::ext:
        if (c == '\r') {
          state_ = state::size_lf;
        } else if (c == '\n') {
          if (auto s = size_line_end()) return *s;
        } else if (!is_field_value_char(c)) {
          return fail(i, "control character in a chunk extension");
        }
        break;
      case state::size_lf:
        if (c != '\n') return fail(i, "CR without LF after the chunk size");
        if (auto s = size_line_end()) return *s;
        break;
      case state::data_cr:
        if (c == '\r') {
          state_ = state::data_lf;
        } else if (c == '\n') {
          state_ = state::size_start;
        } else {
          return fail(i, "chunk data longer than its size");
        }
        break;
      case state::data_lf:
        if (c != '\n') return fail(i, "CR without LF after chunk data");
        state_ = state::size_start;
        break;
      case state::trailer_start:
        if (c == '\r') {
          state_ = state::trailer_end_lf;
        } else if (c == '\n') {
          state_ = state::done;
          return {event::done, i + 1, 0, {}};
        } else {
          if (!trailer_line_.take(c)) return fail(i, "malformed trailer field");
          state_ = state::trailer;
        }
        break;
      case state::trailer:
        if (c == '\r') {
          state_ = state::trailer_lf;
        } else if (c == '\n') {
          if (!trailer_line_.finish()) return fail(i, "malformed trailer field");
          state_ = state::trailer_start;
        } else if (!trailer_line_.take(c)) {
          return fail(i, "malformed trailer field");
        }
        break;
      case state::trailer_lf:
        if (c != '\n') return fail(i, "CR without LF in the trailer section");
        if (!trailer_line_.finish()) return fail(i, "malformed trailer field");
        state_ = state::trailer_start;
        break;
      case state::trailer_end_lf:
        if (c != '\n') return fail(i, "CR without LF after the trailer section");
        state_ = state::done;
        return {event::done, i + 1, 0, {}};
      case state::data:
      case state::done:
      case state::failed:
        break;  // handled before the loop
    }
  }
  return {event::need_more, bytes.size(), 0, {}};
}

void chunk_framing::data_done() noexcept {
  if (state_ != state::data) return;
  state_ = state::data_cr;
  size_ = 0;
}

}  // namespace zcopy::http
