// chunk_framing: sizes, extensions, trailers and line ends as the client and the server's request
// parser walk a chunked body (framing fed, data skipped by size), split anywhere; and every way a
// body may be malformed, each refused with its reason (RFC 9112 §7.1, §2.2 for bare CR).
#include "http/chunked.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace zcopy::http {
namespace {

struct framed {
  std::vector<std::uint64_t> sizes;
  bool done = false;
  std::string error;
  std::string data;  // chunk data as the framing delimited it
  std::size_t used = 0;
};

// Runs the framing over `body` as its users do: framing bytes fed, data skipped by size.
// `piece` feeds at most that many bytes at a time (a chunk line split across packets).
framed run_framing(std::string_view body, std::size_t piece = 1 << 20) {
  chunk_framing f;
  framed out;
  std::size_t at = 0;
  while (at < body.size()) {
    const std::size_t n = std::min(piece, body.size() - at);
    const auto s = f.feed(std::span<const char>(body.data() + at, n));
    EXPECT_LE(s.consumed, n);
    at += s.consumed;
    out.used = at;
    if (s.what == chunk_framing::event::error) {
      out.error = std::string(s.reason);
      EXPECT_EQ(f.feed(std::span<const char>(body.data(), body.size())).what,
                chunk_framing::event::error);  // errors are final
      return out;
    }
    if (s.what == chunk_framing::event::done) {
      out.done = true;
      EXPECT_EQ(f.feed({}).what, chunk_framing::event::done);
      return out;
    }
    if (s.what == chunk_framing::event::data) {
      EXPECT_GT(s.size, 0u);
      out.sizes.push_back(s.size);
      out.data += body.substr(at, s.size);
      at += std::min<std::size_t>(s.size, body.size() - at);
      out.used = at;
      f.data_done();
    } else {
      EXPECT_EQ(s.consumed, n);  // need_more: every byte given was framing
    }
  }
  return out;
}

TEST(ChunkFraming, SizesDataAndLastChunk) {
  const framed f = run_framing("5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n");
  EXPECT_TRUE(f.done) << f.error;
  EXPECT_EQ(f.sizes, (std::vector<std::uint64_t>{5, 26}));
  EXPECT_EQ(f.data, "helloabcdefghijklmnopqrstuvwxyz");
}

// chunk-ext (RFC 9112 §7.1.1), with BWS before ';', quoted values, on data and last chunks.
TEST(ChunkFraming, SkipsExtensions) {
  const framed f = run_framing("3;name=value\r\nabc\r\n2 ; a=\"q;x\"\r\nde\r\n0;last\r\n\r\n");
  EXPECT_TRUE(f.done) << f.error;
  EXPECT_EQ(f.data, "abcde");
}

// Whitespace after the size with nothing behind it is accepted (nginx does too).
TEST(ChunkFraming, AcceptsWhitespaceAfterTheSize) {
  const framed f = run_framing("3 \r\nabc\r\n0\t\r\n\r\n");
  EXPECT_TRUE(f.done) << f.error;
  EXPECT_EQ(f.data, "abc");
}

// Trailer fields after the last chunk are skipped; the section ends at the blank line.
TEST(ChunkFraming, SkipsTrailers) {
  const framed f = run_framing("4\r\nwxyz\r\n0\r\nX-Sum: 1234\r\nX-Other: a\r\n\r\n");
  EXPECT_TRUE(f.done) << f.error;
  EXPECT_EQ(f.data, "wxyz");
}

// The framing stops right after the last line end: the next message is not taken.
TEST(ChunkFraming, StopsAtTheEndOfTheBody) {
  const std::string body = "2\r\nab\r\n0\r\nT: v\r\n\r\n";
  const framed f = run_framing(body + "GET / HTTP/1.1\r\n");
  EXPECT_TRUE(f.done) << f.error;
  EXPECT_EQ(f.used, body.size());
}

// Every split point of the framing works: one byte at a time.
TEST(ChunkFraming, ByteAtATime) {
  const framed f = run_framing("a;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\n", 1);
  EXPECT_TRUE(f.done) << f.error;
  EXPECT_EQ(f.data, "0123456789");
}

// Chunk data is opaque: CR, LF and NUL inside it are data.
TEST(ChunkFraming, DataMayHoldAnyByte) {
  const std::string data("\r\r\n\0\rX", 6);
  const framed f = run_framing("6\r\n" + data + "\r\n0\r\n\r\n", 3);
  EXPECT_TRUE(f.done) << f.error;
  EXPECT_EQ(f.data, data);
}

// A bare LF ends a line (RFC 9112 §2.2 lets a recipient accept it).
TEST(ChunkFraming, AcceptsBareLf) {
  const framed f = run_framing("2\nab\n0\nT: v\n\n");
  EXPECT_TRUE(f.done) << f.error;
  EXPECT_EQ(f.data, "ab");
}

// Upper- and lower-case hex, leading zeros.
TEST(ChunkFraming, HexSizes) {
  const framed f = run_framing("00A\r\n0123456789\r\n0\r\n\r\n");
  EXPECT_TRUE(f.done) << f.error;
  EXPECT_EQ(f.sizes, (std::vector<std::uint64_t>{10}));
}

TEST(ChunkFraming, MalformedFramingIsAnError) {
  struct bad {
    std::string body;
    std::string_view reason;
  };
  const std::vector<bad> cases = {
      {"x\r\n", "chunk size is not hexadecimal"},
      {"\r\n", "chunk size is not hexadecimal"},
      {"5x\r\n", "chunk size is not hexadecimal"},
      {"+3\r\nabc\r\n0\r\n\r\n", "chunk size is not hexadecimal"},
      {"0x3\r\nabc\r\n0\r\n\r\n", "chunk size is not hexadecimal"},
      {" 3\r\nabc\r\n0\r\n\r\n", "chunk size is not hexadecimal"},
      {"3 x\r\nabc\r\n0\r\n\r\n", "chunk size is not hexadecimal"},
      {"5\rx", "CR without LF after the chunk size"},
      {"3\rabc\r\n0\r\n\r\n", "CR without LF after the chunk size"},
      {"3;ext=1\rx\r\nabc\r\n0\r\n\r\n", "CR without LF after the chunk size"},
      {"2\r\nabc\r\n", "chunk data longer than its size"},
      {"3\r\nabcXY0\r\n\r\n", "chunk data longer than its size"},
      {"2\r\nab\rx", "CR without LF after chunk data"},
      {"1;a\x01\r\n", "control character in a chunk extension"},
      {std::string("1;a\0b\r\n", 7), "control character in a chunk extension"},
      {"fffffffffffffffff\r\n", "chunk size too large"},
      {"1;" + std::string(5000, 'x'), "chunk-size line too long"},
      {"0\r\n" + std::string(20000, 'x'), "trailer section too long"},
      // The trailer section: every line a field line, every CR followed by LF.
      {"0\r\n\rX", "CR without LF after the trailer section"},
      {"0\r\n\r\r\n", "CR without LF after the trailer section"},
      {"0\r\nX: y\r\r\n", "CR without LF in the trailer section"},
      {"0\r\nX: a\rb\r\n\r\n", "CR without LF in the trailer section"},
      {"0\r\nX: y\rGET / HTTP/1.1\r\n\r\n", "CR without LF in the trailer section"},
      {std::string("0\r\nX: a\0b\r\n\r\n", 13), "malformed trailer field"},
      {"0\r\nX: a\x7f\r\n\r\n", "malformed trailer field"},
      {"0\r\nnocolon\r\n\r\n", "malformed trailer field"},
      {"0\r\n: v\r\n\r\n", "malformed trailer field"},
      {"0\r\nX : v\r\n\r\n", "malformed trailer field"},
      {"0\r\nX: a\r\n folded\r\n\r\n", "malformed trailer field"},
  };
  for (const bad& b : cases) {
    for (const std::size_t piece : {std::size_t{1} << 20, std::size_t{1}}) {
      SCOPED_TRACE(::testing::Message() << "piece " << piece << ", body: " << b.body.substr(0, 40));
      const framed f = run_framing(b.body, piece);
      EXPECT_FALSE(f.done);
      EXPECT_EQ(f.error, b.reason);
    }
  }
}

// Random chunk sizes and random data (CR and LF included) come back whole, in any split.
TEST(ChunkFraming, RandomBodiesRoundTrip) {
  const std::uint64_t seed = test::test_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const auto bytes = test::random_bytes(20000, seed);
  const std::string data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::string body;
  std::vector<std::uint64_t> sizes;
  for (std::size_t at = 0, n = 1; at < data.size(); at += n, n = n * 3 % 997 + 1) {
    n = std::min(n, data.size() - at);
    char line[32];
    std::snprintf(line, sizeof line, "%zx\r\n", n);
    body += line + data.substr(at, n) + "\r\n";
    sizes.push_back(n);
  }
  body += "0\r\nX-Check: 1\r\n\r\n";
  for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
    const framed f = run_framing(body, piece);
    EXPECT_TRUE(f.done) << f.error;
    EXPECT_EQ(f.sizes, sizes);
    EXPECT_TRUE(f.data == data) << "piece " << piece;
  }
}

}  // namespace
}  // namespace zcopy::http
