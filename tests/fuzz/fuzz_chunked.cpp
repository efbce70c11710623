// chunk_framing (chunked.hpp) on its own: any bytes as a chunked body, fed the way a socket
// delivers them (deterministic random splits), the chunk data skipped by size as the client and
// the server's request parser skip it.
//
// Invariants:
//   - a feed consumes no more than it is given, all of it when it needs more, and announces only
//     non-empty chunks; after `done` or `error` it says so again;
//   - a body read to `done` is well-framed, checked on the bytes themselves: every CR in the
//     framing (size lines, extensions, trailers) is followed by LF (RFC 9112 §2.2: a bare CR
//     never ends a line), every chunk's data is followed at once by its line end, the last
//     chunk-size line is "0" (maybe with whitespace and extensions), and the chunk sizes add up
//     to the data skipped;
//   - the line and trailer limits hold: no size line over max_line, no trailer section over
//     max_trailers.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "http/chunked.hpp"

namespace {

using namespace zcopy::http;

// The framing bytes of a body read to `done` (data left out, a NUL marking where each chunk's
// data was: framing never holds one), checked line by line.
void check_framing(std::string_view framing) {
  for (std::size_t i = 0; i < framing.size(); ++i) {
    if (framing[i] == '\r') ZCOPY_FUZZ_CHECK(i + 1 < framing.size() && framing[i + 1] == '\n');
  }
  // After each chunk's data: its line end, then the next size line.
  for (std::size_t at = framing.find('\0'); at != std::string_view::npos;
       at = framing.find('\0', at + 1)) {
    const std::string_view next = framing.substr(at + 1);
    ZCOPY_FUZZ_CHECK(next.starts_with("\r\n") || next.starts_with("\n"));
  }
  // The last size line is "0": its first byte after the last data (or at the start) is '0' and
  // any further hex digits are zeros too.
  const std::size_t last = framing.rfind('\0');
  std::string_view tail = last == std::string_view::npos ? framing : framing.substr(last + 1);
  while (!tail.empty() && (tail.front() == '\r' || tail.front() == '\n')) tail.remove_prefix(1);
  ZCOPY_FUZZ_CHECK(!tail.empty() && tail.front() == '0');
  std::size_t line_end = tail.find('\n');
  ZCOPY_FUZZ_CHECK(line_end != std::string_view::npos && line_end <= chunk_framing::max_line);
  ZCOPY_FUZZ_CHECK(tail.size() - line_end - 1 <= chunk_framing::max_trailers);
  for (const char c : tail.substr(0, line_end)) {
    if (c == ';' || c == ' ' || c == '\t' || c == '\r') break;
    ZCOPY_FUZZ_CHECK(c == '0');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  zcopy::fuzz::splitter split(zcopy::fuzz::hash(input));

  chunk_framing framing;
  std::string seen;  // framing bytes, a NUL where data was
  std::uint64_t announced = 0, skipped = 0;
  std::size_t offset = 0;
  while (offset < input.size()) {
    const std::size_t n = split.chunk(input.size() - offset);
    const std::string_view piece = input.substr(offset, n);
    const chunk_framing::step s = framing.feed(std::span<const char>(piece.data(), piece.size()));
    ZCOPY_FUZZ_CHECK(s.consumed <= piece.size());
    seen.append(piece.substr(0, s.consumed));
    offset += s.consumed;
    switch (s.what) {
      case chunk_framing::event::need_more:
        ZCOPY_FUZZ_CHECK(s.consumed == piece.size());
        break;
      case chunk_framing::event::data: {
        ZCOPY_FUZZ_CHECK(s.size > 0);
        // Asked again before data_done(), it says the same.
        const chunk_framing::step again = framing.feed({});
        ZCOPY_FUZZ_CHECK(again.what == chunk_framing::event::data && again.size == s.size);
        announced += s.size;
        if (s.size > input.size() - offset) return 0;  // the body ends inside the chunk
        offset += static_cast<std::size_t>(s.size);
        skipped += s.size;
        seen += '\0';
        framing.data_done();
        break;
      }
      case chunk_framing::event::done:
        ZCOPY_FUZZ_CHECK(framing.feed(std::span<const char>(input.data(), input.size())).what ==
                         chunk_framing::event::done);
        ZCOPY_FUZZ_CHECK(announced == skipped);
        check_framing(seen);
        return 0;
      case chunk_framing::event::error:
        ZCOPY_FUZZ_CHECK(!s.reason.empty());
        ZCOPY_FUZZ_CHECK(framing.feed(std::span<const char>(input.data(), input.size())).what ==
                         chunk_framing::event::error);
        return 0;
    }
  }
  return 0;
}
