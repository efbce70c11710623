// Chunked framing (RFC 9112 §7.1) without the data, one strict reader for both directions: the
// download client (client.cpp) reads response bodies with it, the server (request_parser.cpp)
// discards request bodies with it. Pure: bytes in, events out; no sockets, no allocation.
//
// Fed the bytes between chunks, it says how many bytes of framing it took and what follows; the
// caller moves (or skips) the chunk data itself and calls data_done(). What it accepts:
//   - chunk-size: 1*HEXDIG, below 2^60; then optional whitespace and chunk extensions, skipped
//     (bounded by `max_line`, control characters refused);
//   - line ends: CRLF, or a bare LF (RFC 9112 §2.2 lets a recipient accept one, and nginx does).
//     A CR not followed by LF is an error wherever it appears (§2.2: a bare CR MUST be rejected or
//     replaced; reading it as a line end is how bodies get smuggled past a front end that does
//     not);
//   - chunk data must be followed by its line end at once: extra bytes are an error;
//   - trailer fields: each line must be a field line (syntax.hpp), the section is bounded by
//     `max_trailers`; the fields are dropped.
// Errors are final: once `error`, every feed says `error` again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "http/syntax.hpp"

namespace zcopy::http {

class chunk_framing {
 public:
  enum class event {
    need_more,  // every byte given was framing; give more
    data,       // `size` bytes of chunk data follow the consumed bytes; call data_done() after
    done,       // the last chunk and the trailer section are over
    error,      // malformed; `reason` says how
  };
  struct step {
    event what = event::need_more;
    std::size_t consumed = 0;
    std::uint64_t size = 0;
    std::string_view reason;
  };

  step feed(std::span<const char> bytes);
  void data_done() noexcept;  // the chunk's data has been received; its line end comes next

  static constexpr std::size_t max_line = 4096;       // a chunk-size line with extensions
  static constexpr std::size_t max_trailers = 16384;  // the whole trailer section

 private:
  enum class state {
    size_start,
    size,
    size_ws,  // whitespace after the size: a ';' or the line end must come
    ext,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailer_start,
    trailer,
    trailer_lf,
    trailer_end_lf,
    done,
    failed
  };
  state state_ = state::size_start;
  std::uint64_t size_ = 0;
  std::size_t line_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  field_line_check trailer_line_;
};

}  // namespace zcopy::http
