// Request-target decoding: forms, query and fragment, percent-decoding, dot segments, slashes.
#include "http/target.hpp"

#include <gtest/gtest.h>

#include <string>

namespace zcopy::http {
namespace {

// Decodes `target` and expects success.
decoded_target ok(std::string_view target) {
  auto r = decode_target(target);
  EXPECT_TRUE(r.has_value()) << "target " << target << ": " << describe(r.error());
  return r ? *r : decoded_target{};
}

// Decodes `target` and returns the error (fails the test if it decoded).
target_error error_of(std::string_view target) {
  auto r = decode_target(target);
  EXPECT_FALSE(r.has_value()) << "target " << target << " decoded to " << r->path;
  return r ? target_error::malformed : r.error();
}

TEST(Target, OriginFormPathIsTakenAsIs) {
  decoded_target t = ok("/docs/index.html");
  EXPECT_EQ(t.path, "/docs/index.html");
  EXPECT_EQ(t.query, "");
  EXPECT_FALSE(t.has_query);
  EXPECT_FALSE(t.trailing_slash);
}

TEST(Target, RootIsSlashWithTrailingSlash) {
  decoded_target t = ok("/");
  EXPECT_EQ(t.path, "/");
  EXPECT_TRUE(t.trailing_slash);
}

TEST(Target, AbsoluteFormKeepsOnlyPathAndQuery) {
  // RFC 9112 §3.2.2: the scheme and authority are dropped.
  decoded_target t = ok("http://example.com:8080/a/b?x=1");
  EXPECT_EQ(t.path, "/a/b");
  EXPECT_EQ(t.query, "x=1");
  EXPECT_TRUE(t.has_query);
  EXPECT_EQ(ok("https://example.com/s").path, "/s");
}

TEST(Target, AbsoluteFormSchemeIsCaseInsensitive) {
  EXPECT_EQ(ok("HTTP://Example.COM/x").path, "/x");
  EXPECT_EQ(ok("HtTpS://h/y").path, "/y");
}

TEST(Target, AbsoluteFormWithoutPathMeansRoot) {
  // RFC 3986 §6.2.3: an empty path is "/", also when a query follows.
  decoded_target bare = ok("http://example.com");
  EXPECT_EQ(bare.path, "/");
  EXPECT_TRUE(bare.trailing_slash);
  EXPECT_FALSE(bare.has_query);
  decoded_target with_query = ok("http://example.com?q=2");
  EXPECT_EQ(with_query.path, "/");
  EXPECT_EQ(with_query.query, "q=2");
  EXPECT_TRUE(with_query.has_query);
}

TEST(Target, AbsoluteFormWithoutAuthorityIsMalformed) {
  EXPECT_EQ(error_of("http:///etc/passwd"), target_error::malformed);
}

TEST(Target, OtherFormsAreMalformed) {
  // Asterisk, authority and relative forms, other schemes, and the empty target.
  EXPECT_EQ(error_of("*"), target_error::malformed);
  EXPECT_EQ(error_of("example.com:443"), target_error::malformed);
  EXPECT_EQ(error_of("a/b"), target_error::malformed);
  EXPECT_EQ(error_of("ftp://h/x"), target_error::malformed);
  EXPECT_EQ(error_of(""), target_error::malformed);
  EXPECT_EQ(error_of("?q"), target_error::malformed);
}

TEST(Target, QueryIsCutAndKeptRaw) {
  // The query is not decoded, and a '?' inside it is part of it.
  decoded_target t = ok("/search?q=a%20b&x=/../y?z");
  EXPECT_EQ(t.path, "/search");
  EXPECT_EQ(t.query, "q=a%20b&x=/../y?z");
  EXPECT_TRUE(t.has_query);
}

TEST(Target, EmptyQueryStillCounts) {
  decoded_target t = ok("/dir?");
  EXPECT_EQ(t.path, "/dir");
  EXPECT_EQ(t.query, "");
  EXPECT_TRUE(t.has_query);
}

TEST(Target, FragmentIsCutBeforeTheQuery) {
  decoded_target t = ok("/page#frag?notquery");
  EXPECT_EQ(t.path, "/page");
  EXPECT_FALSE(t.has_query);
  decoded_target q = ok("/page?a=1#frag");
  EXPECT_EQ(q.query, "a=1");
}

TEST(Target, EncodedQuestionMarkStaysInThePath) {
  // The query is split on the raw '?', so %3F is a character of the name.
  decoded_target t = ok("/what%3F.txt");
  EXPECT_EQ(t.path, "/what?.txt");
  EXPECT_FALSE(t.has_query);
}

TEST(Target, PercentEscapesAreDecoded) {
  EXPECT_EQ(ok("/a%20b/%41%42%63").path, "/a b/ABc");
  EXPECT_EQ(ok("/%e2%82%ac").path, "/\xe2\x82\xac");  // UTF-8 bytes pass through
  EXPECT_EQ(ok("/%7e%7E").path, "/~~");               // both hex cases
  EXPECT_EQ(ok("/100%25").path, "/100%");
}

TEST(Target, BadEscapesAreRefused) {
  // '%' without two hex digits, including at the very end.
  EXPECT_EQ(error_of("/a%"), target_error::bad_escape);
  EXPECT_EQ(error_of("/a%2"), target_error::bad_escape);
  EXPECT_EQ(error_of("/a%zz"), target_error::bad_escape);
  EXPECT_EQ(error_of("/a%g0/b"), target_error::bad_escape);
  EXPECT_EQ(error_of("/a%0"), target_error::bad_escape);
  EXPECT_EQ(error_of("/%%41"), target_error::bad_escape);
}

TEST(Target, EncodedNulIsRefused) {
  EXPECT_EQ(error_of("/a%00b"), target_error::encoded_nul);
  EXPECT_EQ(error_of("/%00"), target_error::encoded_nul);
}

TEST(Target, RawNulIsRefused) {
  EXPECT_FALSE(decode_target(std::string_view("/a\0b", 4)).has_value());
}

TEST(Target, EncodedSlashIsRefused) {
  // Both cases: a name can never mean two different paths.
  EXPECT_EQ(error_of("/a%2Fb"), target_error::encoded_slash);
  EXPECT_EQ(error_of("/a%2fb"), target_error::encoded_slash);
  EXPECT_EQ(error_of("/..%2f..%2fetc/passwd"), target_error::encoded_slash);
}

TEST(Target, DotSegmentsAreRemoved) {
  EXPECT_EQ(ok("/a/./b").path, "/a/b");
  EXPECT_EQ(ok("/a/b/../c").path, "/a/c");
  EXPECT_EQ(ok("/a/b/c/../../d").path, "/a/d");
  EXPECT_EQ(ok("/./a").path, "/a");
}

TEST(Target, EncodedDotSegmentsAreRemovedAfterDecoding) {
  // %2e%2e is ".." once decoded, and so is a mix of raw and encoded dots.
  EXPECT_EQ(ok("/a/b/%2e%2e/c").path, "/a/c");
  EXPECT_EQ(ok("/a/%2E./c").path, "/c");
  EXPECT_EQ(ok("/a/.%2e/c").path, "/c");
  EXPECT_EQ(ok("/a/%2e/c").path, "/a/c");
}

TEST(Target, DotsInsideNamesAreKept) {
  // Only whole segments are dot segments.
  EXPECT_EQ(ok("/a..b/...").path, "/a..b/...");
  EXPECT_EQ(ok("/.hidden").path, "/.hidden");
  EXPECT_EQ(ok("/file.").path, "/file.");
}

TEST(Target, DotDotAboveRootIsRefused) {
  // Never clamped to "/": the client is probing.
  EXPECT_EQ(error_of("/.."), target_error::above_root);
  EXPECT_EQ(error_of("/../etc/passwd"), target_error::above_root);
  EXPECT_EQ(error_of("/a/../../b"), target_error::above_root);
  EXPECT_EQ(error_of("/%2e%2e/etc/passwd"), target_error::above_root);
  EXPECT_EQ(error_of("/a/%2E%2E/%2e%2e"), target_error::above_root);
  EXPECT_EQ(error_of("http://h/../x"), target_error::above_root);
}

TEST(Target, DotDotBackToRootIsFine) {
  decoded_target t = ok("/a/..");
  EXPECT_EQ(t.path, "/");
  EXPECT_TRUE(t.trailing_slash);
}

TEST(Target, RunsOfSlashesCollapse) {
  // nginx merge_slashes.
  EXPECT_EQ(ok("//a///b////c").path, "/a/b/c");
  EXPECT_EQ(ok("/a//").path, "/a/");
  EXPECT_EQ(ok("////").path, "/");
  EXPECT_EQ(ok("/a//..//b").path, "/b");
}

TEST(Target, TrailingSlashIsReported) {
  EXPECT_TRUE(ok("/dir/").trailing_slash);
  EXPECT_EQ(ok("/dir/").path, "/dir/");
  EXPECT_FALSE(ok("/dir").trailing_slash);
  EXPECT_TRUE(ok("/dir/?x").trailing_slash);
  EXPECT_FALSE(ok("/dir?x/").trailing_slash);  // the slash is in the query
}

TEST(Target, TrailingDotSegmentsNameADirectory) {
  // RFC 3986 §5.2.4: "/a/." and "/a/b/.." both name "/a/".
  decoded_target dot = ok("/a/.");
  EXPECT_EQ(dot.path, "/a/");
  EXPECT_TRUE(dot.trailing_slash);
  decoded_target dotdot = ok("/a/b/..");
  EXPECT_EQ(dotdot.path, "/a/");
  EXPECT_TRUE(dotdot.trailing_slash);
  decoded_target encoded = ok("/a/b/%2e%2e");
  EXPECT_EQ(encoded.path, "/a/");
  EXPECT_TRUE(encoded.trailing_slash);
}

TEST(Target, DescribeNamesEveryError) {
  for (target_error e :
       {target_error::malformed, target_error::bad_escape, target_error::encoded_nul,
        target_error::encoded_slash, target_error::above_root}) {
    EXPECT_FALSE(describe(e).empty());
  }
  EXPECT_NE(describe(target_error::encoded_nul), describe(target_error::encoded_slash));
}

TEST(TargetAuthority, AbsoluteFormGivesTheAuthority) {
  EXPECT_EQ(target_authority("http://host:8080/x"), "host:8080");
  EXPECT_EQ(target_authority("https://h.example/"), "h.example");
  EXPECT_EQ(target_authority("http://h?q"), "h");
  EXPECT_EQ(target_authority("http://h#f"), "h");
  EXPECT_EQ(target_authority("http://h"), "h");
  EXPECT_EQ(target_authority("HTTP://[::1]:80/"), "[::1]:80");
}

TEST(TargetAuthority, OriginFormHasNone) {
  EXPECT_EQ(target_authority("/x"), "");
  EXPECT_EQ(target_authority("/http://h/"), "");
  EXPECT_EQ(target_authority("*"), "");
  EXPECT_EQ(target_authority(""), "");
}

TEST(PercentEncodePath, UnreservedAndSlashAreKept) {
  const std::string keep = "/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/";
  EXPECT_EQ(percent_encode_path(keep), keep);
}

TEST(PercentEncodePath, EverythingElseIsEncodedInUpperCaseHex) {
  EXPECT_EQ(percent_encode_path("a b"), "a%20b");
  EXPECT_EQ(percent_encode_path("<b>&\"x y.txt"), "%3Cb%3E%26%22x%20y.txt");
  EXPECT_EQ(percent_encode_path("100%"), "100%25");
  EXPECT_EQ(percent_encode_path("?#[]@!$'()*+,;="),
            "%3F%23%5B%5D%40%21%24%27%28%29%2A%2B%2C%3B%3D");
  EXPECT_EQ(percent_encode_path("\xe2\x82\xac"), "%E2%82%AC");
  EXPECT_EQ(percent_encode_path(std::string_view("\0\x7f", 2)), "%00%7F");
}

TEST(PercentEncodePath, ColonIsEncodedSoNoNameReadsAsAScheme) {
  EXPECT_EQ(percent_encode_path("javascript:alert(1)"), "javascript%3Aalert%281%29");
}

TEST(PercentEncodePath, DecodesBackToTheSamePath) {
  // Every byte but NUL and '/' survives encode then decode.
  std::string name = "/";
  for (int c = 1; c < 256; ++c) {
    if (c != '/') name += static_cast<char>(c);
  }
  // A '.' or ".." segment would be removed; this one is neither.
  EXPECT_EQ(ok(percent_encode_path(name)).path, name);
}

}  // namespace
}  // namespace zcopy::http
