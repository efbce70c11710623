// url: absolute http:// URLs split into what a request needs, Location references resolved
// against the current URL (RFC 3986 §5.2 and its §5.4 examples), and the -O file name.
#include "http/url.hpp"

#include <gtest/gtest.h>

namespace zcopy::http {
namespace {

url must_parse(std::string_view text) {
  auto u = parse_url(text);
  EXPECT_TRUE(u.has_value()) << text << ": " << (u ? "" : u.error().reason);
  return u.value_or(url{});
}

std::string resolved(std::string_view base, std::string_view reference) {
  auto r = resolve_reference(must_parse(base), reference);
  if (!r) return "error: " + r.error().reason;
  return r->text();
}

// The parts of a plain URL; the default port is left out of the authority.
TEST(Url, SplitsSchemeHostPortAndTarget) {
  const url u = must_parse("HTTP://Example.com:8080/a/b?x=1&y=2#frag");
  EXPECT_EQ(u.scheme, "http");
  EXPECT_EQ(u.host, "Example.com");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.target, "/a/b?x=1&y=2");
  EXPECT_EQ(u.path(), "/a/b");
  EXPECT_EQ(u.authority(), "Example.com:8080");
  EXPECT_EQ(must_parse("http://h/").authority(), "h");
  EXPECT_EQ(must_parse("http://h:80/").authority(), "h");
}

// No path means "/"; a query without a path gets one.
TEST(Url, EmptyPathBecomesSlash) {
  EXPECT_EQ(must_parse("http://h").target, "/");
  EXPECT_EQ(must_parse("http://h?q=1").target, "/?q=1");
  EXPECT_EQ(must_parse("http://h:81").port, 81);
  EXPECT_EQ(must_parse("http://h:/x").port, 80);  // RFC 3986 §3.2.3: empty port is the default
}

// IPv6 literals lose their brackets in `host` and get them back in the authority.
TEST(Url, Ipv6Literal) {
  const url u = must_parse("http://[::1]:8080/x");
  EXPECT_EQ(u.host, "::1");
  EXPECT_TRUE(u.ipv6_literal());
  EXPECT_EQ(u.authority(), "[::1]:8080");
  EXPECT_EQ(must_parse("http://[2001:db8::7]/").authority(), "[2001:db8::7]");
}

// Percent-encoding is kept as written; non-ASCII bytes are encoded.
TEST(Url, KeepsPercentEncodingAndEncodesNonAscii) {
  EXPECT_EQ(must_parse("http://h/a%2Fb%20c?q=%41").target, "/a%2Fb%20c?q=%41");
  EXPECT_EQ(must_parse("http://h/caf\xc3\xa9").target, "/caf%C3%A9");
}

TEST(Url, RefusesMalformedUrlsWithAReason) {
  struct bad {
    const char* text;
    const char* reason_part;
  };
  for (const bad& b :
       {bad{"example.com/x", "not an absolute URL"}, bad{"http:/x", "not an absolute URL"},
        bad{"http:///x", "missing host"}, bad{"http://h:99999/", "invalid port"},
        bad{"http://h:0/", "invalid port"}, bad{"http://h:8x/", "invalid port"},
        bad{"http://[::1/", "unterminated IPv6"}, bad{"http://[zz::1]/", "invalid IPv6"},
        bad{"http://u:p@h/", "user information"}, bad{"http://h/a b", "space"},
        bad{"http://h/%zz", "percent-encoding"}, bad{"http://h/%4", "percent-encoding"},
        bad{"http://h<>/", "invalid character"}}) {
    auto u = parse_url(b.text);
    ASSERT_FALSE(u.has_value()) << b.text;
    EXPECT_EQ(u.error().code, std::errc::invalid_argument) << b.text;
    EXPECT_NE(u.error().reason.find(b.reason_part), std::string::npos)
        << b.text << ": " << u.error().reason;
  }
}

// https and other schemes are refused as not supported, with a message that says so.
TEST(Url, HttpsIsNotSupported) {
  auto u = parse_url("https://example.com/");
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().code, std::errc::protocol_not_supported);
  EXPECT_EQ(u.error().reason, "https is not supported (http:// only)");
  auto f = parse_url("ftp://example.com/");
  ASSERT_FALSE(f.has_value());
  EXPECT_NE(f.error().reason.find("'ftp'"), std::string::npos);
}

// RFC 3986 §5.4.1, the normal examples that apply to http (base http://a/b/c/d;p?q).
TEST(Url, ResolvesRelativeReferencesAsRfc3986) {
  const std::string base = "http://a/b/c/d;p?q";
  EXPECT_EQ(resolved(base, "g"), "http://a/b/c/g");
  EXPECT_EQ(resolved(base, "./g"), "http://a/b/c/g");
  EXPECT_EQ(resolved(base, "g/"), "http://a/b/c/g/");
  EXPECT_EQ(resolved(base, "/g"), "http://a/g");
  EXPECT_EQ(resolved(base, "//g"), "http://g/");
  EXPECT_EQ(resolved(base, "?y"), "http://a/b/c/d;p?y");
  EXPECT_EQ(resolved(base, "g?y"), "http://a/b/c/g?y");
  EXPECT_EQ(resolved(base, "#s"), "http://a/b/c/d;p?q");
  EXPECT_EQ(resolved(base, ";x"), "http://a/b/c/;x");
  EXPECT_EQ(resolved(base, ""), "http://a/b/c/d;p?q");
  EXPECT_EQ(resolved(base, "."), "http://a/b/c/");
  EXPECT_EQ(resolved(base, "./"), "http://a/b/c/");
  EXPECT_EQ(resolved(base, ".."), "http://a/b/");
  EXPECT_EQ(resolved(base, "../"), "http://a/b/");
  EXPECT_EQ(resolved(base, "../g"), "http://a/b/g");
  EXPECT_EQ(resolved(base, "../.."), "http://a/");
  EXPECT_EQ(resolved(base, "../../g"), "http://a/g");
  // §5.4.2, abnormal: more ".." than segments stop at the root.
  EXPECT_EQ(resolved(base, "../../../g"), "http://a/g");
  EXPECT_EQ(resolved(base, "/./g"), "http://a/g");
  EXPECT_EQ(resolved(base, "/../g"), "http://a/g");
}

// Absolute Location values replace the URL (port included); an https one is refused.
TEST(Url, ResolvesAbsoluteLocations) {
  EXPECT_EQ(resolved("http://a:81/x", "http://b:82/y?z"), "http://b:82/y?z");
  EXPECT_EQ(resolved("http://a:81/x", "/y"), "http://a:81/y");
  EXPECT_EQ(resolved("http://a/x", "https://b/"), "error: https is not supported (http:// only)");
}

// -O: the last segment, decoded; nothing usable means no name.
TEST(Url, FileNameFromLastSegment) {
  EXPECT_EQ(file_name_from(must_parse("http://h/dir/file.tar.gz?x=1")), "file.tar.gz");
  EXPECT_EQ(file_name_from(must_parse("http://h/a%20b.txt")), "a b.txt");
  EXPECT_EQ(file_name_from(must_parse("http://h/")), std::nullopt);
  EXPECT_EQ(file_name_from(must_parse("http://h")), std::nullopt);
  EXPECT_EQ(file_name_from(must_parse("http://h/dir/")), std::nullopt);
  EXPECT_EQ(file_name_from(must_parse("http://h/%2E%2E")), std::nullopt);
  EXPECT_EQ(file_name_from(must_parse("http://h/x/%2e")), std::nullopt);
  EXPECT_EQ(file_name_from(must_parse("http://h/a%2Fb")), std::nullopt);
  EXPECT_EQ(file_name_from(must_parse("http://h/a%00b")), std::nullopt);
}

}  // namespace
}  // namespace zcopy::http
