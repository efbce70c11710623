// `zcopy get`'s side of a response: the head as read_head parses it (response_head_parser over
// bytes arriving in deterministic random splits, 1xx heads skipped), then a chunked body's
// framing as receive_chunked walks it (chunk_framing over peeks of at most 256 bytes, the chunk
// data skipped as splice would move it), and Content-Range.
//
// Invariants:
//   - the head parser takes every byte it is given until the head is complete (else read_head
//     would peek the same bytes forever), never more than it is given;
//   - a complete head: status 100..999, a status line "HTTP/x.y NNN...", lower-case field names,
//     and exactly one body framing: no body, chunked, Content-Length or until close;
//   - chunk framing: consumes no more than it is given, all of it when it needs more, and
//     announces only non-empty chunks; after `done` or `error` it says so again;
//   - parse_content_range: first <= last < total whenever they are known.
#include <span>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/chunked.hpp"
#include "http/client.hpp"

namespace {

using namespace zcopy::http;

void check_head(const response_head& h) {
  ZCOPY_FUZZ_CHECK(h.status >= 100 && h.status <= 999);
  ZCOPY_FUZZ_CHECK(h.status_line.starts_with("HTTP/"));
  ZCOPY_FUZZ_CHECK(h.status_line.find(std::to_string(h.status)) != std::string::npos);
  for (const header_field& f : h.headers) {
    for (const char c : f.name) ZCOPY_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  }
  const int framings =
      int{h.no_body} + int{h.chunked} + int{h.content_length.has_value()} + int{h.until_close};
  ZCOPY_FUZZ_CHECK(framings == 1);
  if (const auto cr = h.header("content-range")) {
    if (const auto r = parse_content_range(*cr)) {
      ZCOPY_FUZZ_CHECK(r->first.has_value() == r->last.has_value());
      if (r->first) ZCOPY_FUZZ_CHECK(*r->first <= *r->last);
      if (r->first && r->total) ZCOPY_FUZZ_CHECK(*r->last < *r->total);
      if (!r->first) ZCOPY_FUZZ_CHECK(r->total.has_value());
    }
  }
}

// The chunked body after the head, as receive_chunked reads it.
void walk_chunks(std::string_view body) {
  chunk_framing framing;
  for (int rounds = 0; rounds < 10'000; ++rounds) {
    const std::string_view peek = body.substr(0, 256);
    const chunk_framing::step s = framing.feed(std::span<const char>(peek.data(), peek.size()));
    ZCOPY_FUZZ_CHECK(s.consumed <= peek.size());
    body.remove_prefix(s.consumed);
    switch (s.what) {
      case chunk_framing::event::need_more:
        ZCOPY_FUZZ_CHECK(s.consumed == peek.size());
        if (peek.empty()) return;  // the server closed inside the body
        break;
      case chunk_framing::event::data:
        ZCOPY_FUZZ_CHECK(s.size > 0);
        if (s.size > body.size()) return;  // short body
        body.remove_prefix(static_cast<std::size_t>(s.size));
        framing.data_done();
        break;
      case chunk_framing::event::done:
        ZCOPY_FUZZ_CHECK(framing.feed({}).what == chunk_framing::event::done);
        return;
      case chunk_framing::event::error:
        ZCOPY_FUZZ_CHECK(!s.reason.empty());
        ZCOPY_FUZZ_CHECK(framing.feed({}).what == chunk_framing::event::error);
        return;
    }
  }
  ZCOPY_FUZZ_CHECK(false);  // every round takes at least one byte or ends
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  zcopy::fuzz::splitter split(zcopy::fuzz::hash(input));

  response_head_parser parser;
  std::size_t offset = 0;    // bytes consumed, as read_head drops them from the socket
  std::size_t received = 0;  // bytes the "socket" has delivered so far
  while (true) {
    received += split.chunk(input.size() - received);
    const std::string_view peek = input.substr(offset, received - offset);
    if (peek.empty()) return 0;  // the server closed inside the head
    const std::size_t used = parser.feed(std::span<const char>(peek.data(), peek.size()));
    ZCOPY_FUZZ_CHECK(used <= peek.size());
    if (parser.error() != nullptr) return 0;
    offset += used;
    if (!parser.complete()) {
      ZCOPY_FUZZ_CHECK(used == peek.size());
      continue;
    }
    check_head(parser.head());
    if (parser.head().status / 100 == 1 && parser.head().status != 101) {
      parser.reset();
      continue;
    }
    break;
  }
  if (parser.head().chunked) walk_chunks(input.substr(offset));
  return 0;
}
