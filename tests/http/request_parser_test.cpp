// Request parsing: http_parser plus our limits, Host rules, body discarding and pipelining.
#include "http/request_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace zcopy::http {
namespace {

// Feeds `text` in one call and expects one complete request that uses all of it.
request parse_one(std::string_view text, parser_limits limits = {}) {
  request_parser p(limits);
  auto r = p.feed(text);
  EXPECT_EQ(r.state, parse_state::complete) << "status " << r.error_status;
  EXPECT_EQ(r.consumed, text.size());
  return p.take();
}

// Feeds `text` and returns the error status (0 when it did not fail).
int error_of(std::string_view text, parser_limits limits = {}) {
  request_parser p(limits);
  auto r = p.feed(text);
  return r.state == parse_state::error ? r.error_status : 0;
}

std::string request_with_line_of(std::size_t line_length) {
  // "GET /xxx HTTP/1.1" has 14 bytes besides the path's x's.
  std::string line = "GET /" + std::string(line_length - 14, 'x') + " HTTP/1.1";
  EXPECT_EQ(line.size(), line_length);
  return line + "\r\nHost: h\r\n\r\n";
}

// A header section of exactly `bytes` bytes (field lines with their CRLFs), Host first.
std::string request_with_header_bytes(std::size_t bytes) {
  std::string fields = "Host: h\r\n";
  const std::string prefix = "X-Pad: ";
  const std::size_t pad = bytes - fields.size() - prefix.size() - 2;
  fields += prefix + std::string(pad, 'p') + "\r\n";
  EXPECT_EQ(fields.size(), bytes);
  return "GET / HTTP/1.1\r\n" + fields + "\r\n";
}

TEST(RequestParser, ParsesSimpleGet) {
  // Method, target, version, lower-cased names, trimmed values, host, keep-alive.
  request r =
      parse_one("GET /a/b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nX-Thing:  v a l \t\r\n\r\n");
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/a/b?q=1");
  EXPECT_EQ(r.version_major, 1);
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_EQ(r.host, "example.com:8080");
  EXPECT_EQ(r.header("x-thing"), "v a l");
  EXPECT_EQ(r.header("host"), "example.com:8080");
  EXPECT_FALSE(r.header("X-Thing").has_value());  // lookups take lower-case names
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.body_bytes, 0u);
}

TEST(RequestParser, Http11ConnectionCloseIsNotKeepAlive) {
  // "Connection: close" ends a 1.1 connection.
  EXPECT_FALSE(parse_one("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive);
}

TEST(RequestParser, Http10KeepsAliveOnlyWhenAsked) {
  // HTTP/1.0 closes by default, needs no Host, and keeps alive with "Connection: keep-alive".
  request plain = parse_one("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(plain.version_minor, 0);
  EXPECT_FALSE(plain.keep_alive);
  EXPECT_TRUE(parse_one("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
}

TEST(RequestParser, ByteByByteFeedingCompletesOnLastByte) {
  // Every split point works: the parser copies what it keeps.
  const std::string text = "GET /split HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n";
  request_parser p;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto r = p.feed(std::string_view(text).substr(i, 1));
    ASSERT_EQ(r.consumed, 1u) << "at " << i;
    ASSERT_EQ(r.state, i + 1 == text.size() ? parse_state::complete : parse_state::need_more)
        << "at " << i;
  }
  EXPECT_EQ(p.current().target, "/split");
  EXPECT_EQ(p.current().header("accept"), "*/*");
}

TEST(RequestParser, PipelinedRequestsAreParsedOneByOne) {
  // Three requests in one buffer: each feed stops at the end of one.
  const std::string a = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string b = "HEAD /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
  const std::string c = "GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  std::string buffer = a + b + c;
  request_parser p;
  std::vector<std::string> targets;
  while (!buffer.empty()) {
    auto r = p.feed(buffer);
    ASSERT_EQ(r.state, parse_state::complete);
    targets.push_back(p.current().target);
    buffer.erase(0, r.consumed);
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"/1", "/2", "/3"}));
  EXPECT_FALSE(p.current().keep_alive);
}

TEST(RequestParser, PipelinedConsumedMatchesEachRequestLength) {
  // consumed is exactly the first request's length, body included.
  const std::string a = "GET /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  request_parser p;
  auto r = p.feed(a + "GET /2 HTTP/1.1\r\n");
  EXPECT_EQ(r.state, parse_state::complete);
  EXPECT_EQ(r.consumed, a.size());
  EXPECT_EQ(p.current().body_bytes, 3u);
}

TEST(RequestParser, LeadingEmptyLinesAreSkipped) {
  // RFC 9112 §2.2: empty lines before the request line are ignored.
  request r = parse_one("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r.target, "/");
}

TEST(RequestParser, IdleUntilTheFirstByteOfARequest) {
  // idle() tells a quiet keep-alive connection from one in the middle of a request.
  request_parser p;
  EXPECT_TRUE(p.idle());
  EXPECT_EQ(p.feed("\r\n").state, parse_state::need_more);
  EXPECT_TRUE(p.idle());
  EXPECT_EQ(p.feed("GE").state, parse_state::need_more);
  EXPECT_FALSE(p.idle());
  EXPECT_EQ(p.feed("T / HTTP/1.1\r\nHost: h\r\n\r\n").state, parse_state::complete);
  EXPECT_TRUE(p.idle());
}

TEST(RequestParser, RequestLineAtLimitIsAccepted) {
  // 8192 bytes of request line (without CRLF) is allowed. The target is the line minus
  // "GET " and " HTTP/1.1" (13 bytes): the '/' belongs to it.
  EXPECT_EQ(parse_one(request_with_line_of(8192)).target.size(), 8192u - 13u);
}

TEST(RequestParser, RequestLineOverLimitIs414) {
  // One byte more is 414.
  EXPECT_EQ(error_of(request_with_line_of(8193)), 414);
}

TEST(RequestParser, RequestLineOverLimitFailsBeforeItsEnd) {
  // A request line that never ends is refused as soon as it is too long, not when it ends.
  request_parser p;
  EXPECT_EQ(p.feed("GET /" + std::string(8000, 'a')).state, parse_state::need_more);
  auto r = p.feed(std::string(500, 'a'));
  EXPECT_EQ(r.state, parse_state::error);
  EXPECT_EQ(r.error_status, 414);
}

TEST(RequestParser, GarbageWithoutNewlineIsBadRequestNot414) {
  // A TLS handshake on the plain port is a syntax error, whatever its length.
  EXPECT_EQ(error_of(std::string("\x16\x03\x01\x02\x00", 5) + std::string(9000, 'x')), 400);
}

TEST(RequestParser, HeaderBlockAtLimitIsAccepted) {
  // 16384 bytes of field lines is allowed.
  request r = parse_one(request_with_header_bytes(16384));
  EXPECT_EQ(r.header("host"), "h");
}

TEST(RequestParser, HeaderBlockOverLimitIs431) {
  // One byte more is 431.
  EXPECT_EQ(error_of(request_with_header_bytes(16385)), 431);
}

TEST(RequestParser, HeaderBlockOverLimitFailsBeforeItsEnd) {
  // An endless field line is refused once the section is too large.
  request_parser p;
  auto r = p.feed("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(20000, 'v'));
  EXPECT_EQ(r.state, parse_state::error);
  EXPECT_EQ(r.error_status, 431);
}

TEST(RequestParser, HundredHeadersAreAcceptedAndOneMoreIs431) {
  // max_headers = 100 field lines, Host included.
  auto with_fields = [](int n) {
    std::string text = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 1; i < n; ++i) text += "X-" + std::to_string(i) + ": v\r\n";
    return text + "\r\n";
  };
  EXPECT_EQ(parse_one(with_fields(100)).headers.size(), 100u);
  EXPECT_EQ(error_of(with_fields(101)), 431);
}

TEST(RequestParser, MalformedRequestLinesAre400) {
  // Lower-case or unknown methods, missing parts, bad versions, control characters.
  EXPECT_EQ(error_of("get / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(error_of("BREW / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/12.3\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / FTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\rHost: h\r\n\r\n"), 400);
}

TEST(RequestParser, MalformedFieldsAre400) {
  // No colon, control characters, whitespace before the colon or in the name, obs-fold.
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX Y: v\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  folded\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tfolded\r\n\r\n"), 400);
}

TEST(RequestParser, UnsupportedVersionsAre505) {
  // HTTP/2.0 in an HTTP/1 request line, and HTTP/0.9 (no version at all).
  EXPECT_EQ(error_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(error_of("GET / HTTP/3.0\r\n\r\n"), 505);
  EXPECT_EQ(error_of("GET /\r\n\r\n"), 505);
}

TEST(RequestParser, HigherMinorVersionIsReadAsHttp11) {
  // RFC 9110 §2.5: HTTP/1.2 is served as 1.1 (and so needs a Host).
  request r = parse_one("GET / HTTP/1.2\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(error_of("GET / HTTP/1.2\r\n\r\n"), 400);
}

TEST(RequestParser, Http11WithoutHostIs400) {
  // RFC 9112 §3.2.
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\n\r\n"), 400);
}

TEST(RequestParser, TwoHostFieldsAre400) {
  // Also for HTTP/1.0, and also when both say the same.
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
}

TEST(RequestParser, InvalidHostValuesAre400) {
  // Not a uri-host[:port].
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"), 400);
}

TEST(RequestParser, ValidHostValuesAreAccepted) {
  // Names, IPv4, IPv6 literals, ports, and the empty value RFC 9110 §7.2 allows.
  EXPECT_EQ(parse_one("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").host, "[::1]:8080");
  EXPECT_EQ(parse_one("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").host, "127.0.0.1");
  EXPECT_EQ(parse_one("GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n").host,
            "xn--bcher-kva.example");
  EXPECT_EQ(parse_one("GET / HTTP/1.1\r\nHost:\r\n\r\n").host, "");
}

TEST(RequestParser, AbsoluteFormTargetSuppliesTheHost) {
  // RFC 9112 §3.2.2: the target's authority wins over Host; HTTP/1.0 needs no Host at all.
  request r = parse_one("GET http://origin.example:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
  EXPECT_EQ(r.host, "origin.example:81");
  EXPECT_EQ(r.target, "http://origin.example:81/p?q");
  EXPECT_EQ(parse_one("GET http://origin.example/ HTTP/1.0\r\n\r\n").host, "origin.example");
}

TEST(RequestParser, AbsoluteFormDoesNotExcuseAMissingHost) {
  // RFC 9112 §3.2: a 1.1 request without Host is 400 whatever its target's form (nginx: 400).
  EXPECT_EQ(error_of("GET http://origin.example/ HTTP/1.1\r\n\r\n"), 400);
  // And Host must be valid even where the target's authority is used.
  EXPECT_EQ(error_of("GET http://origin.example/ HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
}

TEST(RequestParser, RepeatedFieldsAreCombined) {
  // RFC 9110 §5.3: one value, joined with ", ".
  request r = parse_one("GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept: b\r\n\r\n");
  EXPECT_EQ(r.header("accept"), "a, b");
  EXPECT_EQ(r.headers.size(), 2u);
}

TEST(RequestParser, ContentLengthBodyIsDiscarded) {
  // A GET with a body: the body is read and dropped, the next request starts after it.
  const std::string text =
      "GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello worldGET /b HTTP/1.1\r\n"
      "Host: h\r\n\r\n";
  request_parser p;
  auto r = p.feed(text);
  ASSERT_EQ(r.state, parse_state::complete);
  EXPECT_EQ(p.current().body_bytes, 11u);
  auto next = p.feed(std::string_view(text).substr(r.consumed));
  ASSERT_EQ(next.state, parse_state::complete);
  EXPECT_EQ(p.current().target, "/b");
  EXPECT_EQ(r.consumed + next.consumed, text.size());
}

TEST(RequestParser, ChunkedBodyIsDiscardedAndTrailersDropped) {
  // Chunked framing is decoded, the data dropped, trailer fields not added to the headers.
  const std::string text =
      "GET /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  request r = parse_one(text);
  EXPECT_EQ(r.body_bytes, 11u);
  EXPECT_FALSE(r.header("x-trailer").has_value());
}

TEST(RequestParser, ChunkedBodyAcrossFeeds) {
  // The body may arrive in pieces; the request completes with the last chunk.
  request_parser p;
  EXPECT_EQ(p.feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab").state,
            parse_state::need_more);
  EXPECT_EQ(p.feed("c\r\n").state, parse_state::need_more);
  auto r = p.feed("0\r\n\r\nGET");
  EXPECT_EQ(r.state, parse_state::complete);
  EXPECT_EQ(r.consumed, 5u);
  EXPECT_EQ(p.current().method, "POST");
}

TEST(RequestParser, ContentLengthOverCapIs413AtOnce) {
  // A declared body over max_body is refused before any of it arrives.
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n"), 413);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n", {.max_body = 16}),
            413);
}

TEST(RequestParser, BodyExactlyAtCapIsAccepted) {
  // max_body bytes are fine.
  request r = parse_one("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 16\r\n\r\n0123456789abcdef",
                        {.max_body = 16});
  EXPECT_EQ(r.body_bytes, 16u);
}

TEST(RequestParser, ChunkedBodyOverCapIs413) {
  // The cap counts chunked bytes as received, framing included.
  request_parser p({.max_body = 16});
  auto r = p.feed("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n" +
                  std::string(16, 'x') + "\r\n0\r\n\r\n");
  EXPECT_EQ(r.state, parse_state::error);
  EXPECT_EQ(r.error_status, 413);
}

TEST(RequestParser, SmugglingShapesAre400) {
  // Transfer-Encoding with Content-Length, duplicate Content-Length, an unknown coding last.
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"),
            400);
  EXPECT_EQ(
      error_of("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
      400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), 400);
}

TEST(RequestParser, ErrorsAreFinal) {
  // After an error every feed reports it again and consumes nothing.
  request_parser p;
  auto first = p.feed("GET / HTTP/1.1\r\n\r\n");
  ASSERT_EQ(first.state, parse_state::error);
  auto again = p.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(again.state, parse_state::error);
  EXPECT_EQ(again.error_status, 400);
  EXPECT_EQ(again.consumed, 0u);
}

TEST(RequestParser, OtherMethodsParseForTheCallerToRefuse) {
  // POST, DELETE, OPTIONS parse (plan answers 405); CONNECT also closes the connection.
  EXPECT_EQ(parse_one("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi").method, "POST");
  EXPECT_EQ(parse_one("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").method, "OPTIONS");
  request c = parse_one("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
  EXPECT_EQ(c.method, "CONNECT");
  EXPECT_FALSE(c.keep_alive);
}

TEST(RequestParser, UpgradeRequestIsAnOrdinaryRequest) {
  // Upgrade is not supported: the request is answered normally and the next one parses.
  const std::string a = "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
  request_parser p;
  auto r = p.feed(a + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(r.state, parse_state::complete);
  EXPECT_EQ(r.consumed, a.size());
  auto next = p.feed("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(next.state, parse_state::complete);
  EXPECT_EQ(p.current().target, "/next");
}

TEST(RequestParser, ParserMovesWithItsState) {
  // A moved parser continues the request it was in the middle of.
  request_parser a;
  EXPECT_EQ(a.feed("GET /moved HTTP/1.1\r\nHo").state, parse_state::need_more);
  request_parser b = std::move(a);
  EXPECT_EQ(b.feed("st: h\r\n\r\n").state, parse_state::complete);
  EXPECT_EQ(b.current().target, "/moved");
}

// --- hostile input, case by case (RFC 9112; nginx 1.22's answer noted where it differs) -------

struct hostile_case {
  std::string_view what;
  std::string text;
  int status;  // 0: one complete request that uses all of `text`
};

// Feeds `text` whole, then one byte at a time, and checks both give the same verdict.
void expect_verdict(const hostile_case& c) {
  SCOPED_TRACE(::testing::Message() << c.what);
  for (const bool bytewise : {false, true}) {
    SCOPED_TRACE(bytewise ? "byte by byte" : "whole");
    request_parser p;
    feed_result r;
    std::size_t used = 0;
    if (bytewise) {
      for (std::size_t i = 0; i < c.text.size(); ++i) {
        r = p.feed(std::string_view(c.text).substr(i, 1));
        used += r.consumed;
        if (r.state != parse_state::need_more) break;
      }
    } else {
      r = p.feed(c.text);
      used = r.consumed;
    }
    if (c.status == 0) {
      EXPECT_EQ(r.state, parse_state::complete) << "status " << r.error_status;
      EXPECT_EQ(used, c.text.size());
    } else {
      EXPECT_EQ(r.state, parse_state::error);
      EXPECT_EQ(r.error_status, c.status);
    }
  }
}

const std::string host = "Host: x\r\n";
const std::string get_a = "GET /a HTTP/1.1\r\n" + host;

// A CR not followed by LF is never a line end (RFC 9112 §2.2). http_parser, built lenient, took
// "\r" + any byte as one, so "\r\n\rX" ended a head and X began a second request (two requests
// answered on one connection where a strict front end saw one: smuggling).
TEST(RequestParserHostile, BareCrIsRefusedEverywhereInTheHead) {
  const std::vector<hostile_case> cases = {
      {"blank line CR + byte (issue 17)",
       get_a + "\r" + "XGET /.hidden HTTP/1.1\r\n" + host + "\r\n", 400},
      {"blank line CR CR LF", get_a + "\r\r\n", 400},
      {"blank line CR CR", get_a + "\r\r", 400},
      {"field line ends in CR CR LF (nginx: 200)", get_a + "X: y\r\r\n\r\n", 400},
      {"field line ends in a bare CR", "GET /a HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400},
      {"bare CR inside a field value", get_a + "X: a\rb\r\n\r\n", 400},
      {"bare CR ends the request line", "GET /a HTTP/1.1\rHost: x\r\n\r\n", 400},
      {"bare CR inside the target", "GET /a\rb HTTP/1.1\r\n" + host + "\r\n", 400},
      {"request line ends in CR CR LF", "GET /a HTTP/1.1\r\r\n" + host + "\r\n", 400},
      {"leading empty line CR + byte (nginx: 200)", "\rGET /a HTTP/1.1\r\n" + host + "\r\n", 400},
      {"leading CR CR LF (nginx: 200)", "\r\r\nGET /a HTTP/1.1\r\n" + host + "\r\n", 400},
      // What stays accepted: CRLF and bare LF line ends, leading empty lines of either.
      {"CRLF everywhere", "\r\n\r\n" + get_a + "\r\n", 0},
      {"bare LF everywhere (RFC 9112 §2.2 MAY, nginx too)", "\n\nGET /a HTTP/1.1\nHost: x\n\n", 0},
      {"mixed line ends", "GET /a HTTP/1.1\nHost: x\r\nX: y\n\r\n", 0},
  };
  for (const hostile_case& c : cases) expect_verdict(c);
}

// The smuggling shape of issue 17 gives one answer (400) and nothing of the second request.
TEST(RequestParserHostile, BareCrSmugglingDoesNotYieldASecondRequest) {
  request_parser p;
  const auto r =
      p.feed(get_a + "\r" + "XGET /.hidden HTTP/1.1\r\n" + host + "\r\n" + "GET /b HTTP/1.1\r\n");
  EXPECT_EQ(r.state, parse_state::error);
  EXPECT_EQ(r.error_status, 400);
  EXPECT_EQ(p.feed(get_a + "\r\n").state, parse_state::error);
}

// method SP request-target SP HTTP-version, single spaces (RFC 9112 §3); 505 only for a
// well-formed line of another major version, or none (HTTP/0.9).
TEST(RequestParserHostile, RequestLineShape) {
  const std::vector<hostile_case> cases = {
      {"tab before the version (issue 17; was 505)", "GET /a\tHTTP/1.1\r\n" + host + "\r\n", 400},
      {"two spaces before the version (nginx: 200)", "GET /a  HTTP/1.1\r\n" + host + "\r\n", 400},
      {"two spaces after the method (nginx: 200)", "GET  /a HTTP/1.1\r\n" + host + "\r\n", 400},
      {"tab after the method", "GET\t/a HTTP/1.1\r\n" + host + "\r\n", 400},
      {"space before the method", " GET /a HTTP/1.1\r\n" + host + "\r\n", 400},
      {"trailing space after the version (nginx: 200)", "GET /a HTTP/1.1 \r\n" + host + "\r\n",
       400},
      {"trailing tab after the version", "GET /a HTTP/1.1\t\r\n" + host + "\r\n", 400},
      {"vertical tab as a separator", "GET\v/a HTTP/1.1\r\n" + host + "\r\n", 400},
      {"form feed in the target", "GET /a\fb HTTP/1.1\r\n" + host + "\r\n", 400},
      {"NUL in the target", std::string("GET /a\0b HTTP/1.1\r\n", 19) + host + "\r\n", 400},
      {"DEL in the target", "GET /a\x7f HTTP/1.1\r\n" + host + "\r\n", 400},
      {"NUL in the method", std::string("G\0T /a HTTP/1.1\r\n", 17) + host + "\r\n", 400},
      {"no target (HTTP/0.9 shape, nginx 400 too)", "GET HTTP/1.1\r\n" + host + "\r\n", 400},
      {"HTTP/0.9 with a junk target (nginx 400 too)", "GET x\r\n\r\n", 400},
      {"HTTP/0.9 absolute form", "GET http://x/a\r\n\r\n", 505},
      {"method alone", "GET\r\n" + host + "\r\n", 400},
      {"method and space", "GET \r\n" + host + "\r\n", 400},
      {"lower-case HTTP-name", "GET /a http/1.1\r\n" + host + "\r\n", 400},
      {"two-digit minor (nginx: 200)", "GET /a HTTP/1.10\r\n" + host + "\r\n", 400},
      {"two-digit major", "GET /a HTTP/01.1\r\n" + host + "\r\n", 400},
      {"version without minor", "GET /a HTTP/1\r\n" + host + "\r\n", 400},
      {"HTTP/2.0", "GET /a HTTP/2.0\r\n" + host + "\r\n", 505},
      {"HTTP/0.9 spelt out (nginx: 400)", "GET /a HTTP/0.9\r\n" + host + "\r\n", 505},
      {"HTTP/0.9 request line (nginx: serves a bare body)", "GET /a\r\n\r\n", 505},
      {"HTTP/1.2 reads as 1.1", "GET /a HTTP/1.2\r\n" + host + "\r\n", 0},
      {"raw UTF-8 in the target (nginx too)", "GET /\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", 0},
      {"asterisk-form", "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", 0},
      {"authority-form", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 0},
  };
  for (const hostile_case& c : cases) expect_verdict(c);
}

// Field lines (RFC 9110 §5.5, RFC 9112 §5).
TEST(RequestParserHostile, FieldLines) {
  const std::vector<hostile_case> cases = {
      {"NUL in a value", get_a + std::string("X: a\0b\r\n", 8) + "\r\n", 400},
      {"NUL in a name", get_a + std::string("X\0: a\r\n", 7) + "\r\n", 400},
      {"SOH in a value (nginx: 200)", get_a + "X: a\x01z\r\n\r\n", 400},
      {"DEL in a value (nginx: 200)", get_a + "X: a\x7fz\r\n\r\n", 400},
      {"obs-fold with SP", get_a + "X: a\r\n b\r\n\r\n", 400},
      {"obs-fold with HTAB", get_a + "X: a\r\n\tb\r\n\r\n", 400},
      {"obs-fold as the first field line", "GET /a HTTP/1.1\r\n Host: x\r\n\r\n", 400},
      {"space before the colon", "GET /a HTTP/1.1\r\nHost : x\r\n\r\n", 400},
      {"empty name", get_a + ": y\r\n\r\n", 400},
      {"no colon (nginx: ignored)", get_a + "nocolon\r\n\r\n", 400},
      {"tab inside a value", get_a + "X: a\tb\r\n\r\n", 0},
      {"obs-text in a value", get_a + "X: caf\xc3\xa9\r\n\r\n", 0},
      {"empty value", get_a + "X:\r\n\r\n", 0},
  };
  for (const hostile_case& c : cases) expect_verdict(c);
}

// Message framing (RFC 9112 §6): Content-Length and Transfer-Encoding shapes.
TEST(RequestParserHostile, Framing) {
  const std::string next = "GET /b HTTP/1.1\r\n" + host + "\r\n";
  const std::vector<hostile_case> cases = {
      {"Content-Length with '+'", get_a + "Content-Length: +3\r\n\r\nabc", 400},
      {"Content-Length in hex", get_a + "Content-Length: 0x3\r\n\r\nabc", 400},
      {"negative Content-Length", get_a + "Content-Length: -1\r\n\r\n", 400},
      {"Content-Length overflowing 64 bits", get_a + "Content-Length: 99999999999999999999\r\n\r\n",
       400},
      {"two equal Content-Length lines",
       get_a + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
      {"Content-Length list", get_a + "Content-Length: 3, 3\r\n\r\nabc", 400},
      {"Content-Length with spaces around", get_a + "Content-Length:  3 \r\n\r\nabc", 0},
      {"Transfer-Encoding and Content-Length",
       get_a + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding on HTTP/1.0 (was served)",
       "GET /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
      {"gzip alone: chunked not last", get_a + "Transfer-Encoding: gzip\r\n\r\n", 400},
      {"chunked, gzip: chunked not last", get_a + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"chunked twice (was served)",
       get_a + "Transfer-Encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
      {"two chunked lines (was served; nginx 400)",
       get_a + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"gzip, chunked: a coding not implemented (was served; nginx 501)",
       get_a + "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 501},
      {"identity (RFC 7230 removed it)", get_a + "Transfer-Encoding: identity\r\n\r\n", 400},
      {"chunked in any case, with spaces",
       get_a + "Transfer-Encoding:  Chunked \r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0},
      {"empty list elements", get_a + "Transfer-Encoding: , chunked,\r\n\r\n0\r\n\r\n", 0},
  };
  for (const hostile_case& c : cases) expect_verdict(c);
}

// Chunked request bodies go through the same strict chunk_framing as the client's; every error
// closes the connection before the bytes after it are read as a request.
TEST(RequestParserHostile, ChunkedBodies) {
  const std::string te = get_a + "Transfer-Encoding: chunked\r\n\r\n";
  const std::vector<hostile_case> cases = {
      {"chunk-size line ends in a bare CR", te + "3\rabc\r\n0\r\n\r\n", 400},
      {"chunk data then two other bytes (was served)", te + "3\r\nabcXY0\r\n\r\n", 400},
      {"chunk data then CR + byte", te + "3\r\nabc\rX0\r\n\r\n", 400},
      {"trailer section ended by a bare CR (was served)", te + "3\r\nabc\r\n0\r\n\rX", 400},
      {"last chunk then CR CR LF (was served)", te + "0\r\n\r\r\n", 400},
      {"trailer line ends in CR CR LF", te + "0\r\nX: y\r\r\n\r\n", 400},
      {"bare CR inside a trailer value", te + "0\r\nX: a\rb\r\n\r\n", 400},
      {"NUL in a trailer", te + std::string("0\r\nX: a\0b\r\n\r\n", 13), 400},
      {"trailer without a colon", te + "0\r\nnocolon\r\n\r\n", 400},
      {"bare CR in a chunk extension", te + "3;ext=1\rx\r\nabc\r\n0\r\n\r\n", 400},
      {"control character in a chunk extension", te + "3;a\x01\r\nabc\r\n0\r\n\r\n", 400},
      {"chunk size with '+'", te + "+3\r\nabc\r\n0\r\n\r\n", 400},
      {"chunk size in 0x form", te + "0x3\r\nabc\r\n0\r\n\r\n", 400},
      {"chunk size over 2^60", te + "fffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400},
      {"chunk size over max_body: 413 at the size line", te + "ffffffffffff\r\n", 413},
      {"bare LF line ends (was 400; nginx 200)", te + "3\nabc\n0\n\n", 0},
      {"data then bare LF (was 400; nginx 200)", te + "3\r\nabc\n0\r\n\r\n", 0},
      {"whitespace after the size (nginx too)", te + "3 \r\nabc\r\n0\r\n\r\n", 0},
      {"extensions and trailers", te + "3;a=\"b\"\r\nabc\r\n0;x\r\nT: v\r\n\r\n", 0},
      {"data holding CR, LF and NUL", te + std::string("4\r\n\r\0\n\r\r\n0\r\n\r\n", 14), 0},
  };
  for (const hostile_case& c : cases) expect_verdict(c);
}

// A request line's method is known before the head is over, so an error answer to a HEAD
// request can leave its body out.
TEST(RequestParser, MethodIsKnownWhenTheHeadFails) {
  request_parser p;
  auto r = p.feed("HEAD /a HTTP/1.1\r\nHost: x\r\nX: a\x01\r\n\r\n");
  ASSERT_EQ(r.state, parse_state::error);
  EXPECT_EQ(p.current().method, "HEAD");
}

// --- Expect: 100-continue (RFC 9110 §10.1.1) ----------------------------------------------------

TEST(RequestParser, ExpectContinueStopsAfterTheHead) {
  // The head alone: expect_continue, the head consumed, the request readable; the body then
  // completes it, and the next request starts after it.
  const std::string head = get_a + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  request_parser p;
  auto r = p.feed(head);
  ASSERT_EQ(r.state, parse_state::expect_continue);
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_EQ(p.current().target, "/a");
  EXPECT_FALSE(p.idle());
  r = p.feed("helloGET /b HTTP/1.1\r\n");
  ASSERT_EQ(r.state, parse_state::complete);
  EXPECT_EQ(r.consumed, 5u);
  EXPECT_EQ(p.current().body_bytes, 5u);
  EXPECT_EQ(p.feed("GET /b HTTP/1.1\r\n" + host + "\r\n").state, parse_state::complete);
  EXPECT_EQ(p.current().target, "/b");
}

TEST(RequestParser, ExpectContinueWithAChunkedBody) {
  request_parser p;
  ASSERT_EQ(p.feed(get_a + "Expect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n").state,
            parse_state::expect_continue);
  EXPECT_EQ(p.feed("3\r\nabc\r\n").state, parse_state::need_more);
  EXPECT_EQ(p.feed("0\r\n\r\n").state, parse_state::complete);
  EXPECT_EQ(p.current().body_bytes, 3u);
}

TEST(RequestParser, ExpectContinueOnlyWhenTheClientWaits) {
  // Not for HTTP/1.0 (MUST ignore), without a body, with another expectation, or when some of
  // the body came with the head: then the request parses as usual.
  EXPECT_EQ(parse_one("GET /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
                .body_bytes,
            2u);
  parse_one(get_a + "Expect: 100-continue\r\n\r\n");
  parse_one(get_a + "Expect: 100-continue\r\nContent-Length: 0\r\n\r\n");
  parse_one(get_a + "Expect: something-else\r\nContent-Length: 2\r\n\r\nhi");
  parse_one(get_a + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
  request_parser p;
  EXPECT_EQ(p.feed(get_a + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nh").state,
            parse_state::need_more);
  EXPECT_EQ(p.feed("i").state, parse_state::complete);
}

TEST(RequestParser, ExpectContinueWithATooLargeBodyIs413AtOnce) {
  // No 100 for a body that would be refused: 413 right after the head.
  EXPECT_EQ(error_of(get_a + "Expect: 100-continue\r\nContent-Length: 1048577\r\n\r\n"), 413);
}

}  // namespace
}  // namespace zcopy::http
