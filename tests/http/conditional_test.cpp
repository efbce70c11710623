// Validators and conditional requests: nginx's ETag, entity-tag lists, the RFC 9110 §13.2.2 order
// of preconditions, If-Range.
#include "http/conditional.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <string>

#include "http/date.hpp"

namespace zcopy::http {
namespace {

using namespace std::chrono_literals;
using std::chrono::sys_seconds;

TEST(MakeEtag, IsQuotedHexMtimeDashHexSizeLikeNginx) {
  EXPECT_EQ(make_etag(sys_seconds{0x5f1e2d3cs}, 0x1a2b), "\"5f1e2d3c-1a2b\"");
  EXPECT_EQ(make_etag(sys_seconds{0s}, 0), "\"0-0\"");
  EXPECT_EQ(make_etag(sys_seconds{1700000000s}, 1000), "\"6553f100-3e8\"");
  // Lower-case hex, no padding, full 64-bit sizes.
  EXPECT_EQ(make_etag(sys_seconds{0xabcdefs}, UINT64_MAX), "\"abcdef-ffffffffffffffff\"");
}

TEST(MakeEtag, DiffersWhenMtimeOrSizeDiffers) {
  const sys_seconds t{1700000000s};
  EXPECT_NE(make_etag(t, 10), make_etag(t, 11));
  EXPECT_NE(make_etag(t, 10), make_etag(t + 1s, 10));
}

TEST(MakeValidators, UsesWholeSecondsOfMtimeAndTheSize) {
  // Nanoseconds are dropped, as in nginx and in Last-Modified.
  struct stat st {};
  st.st_mtim.tv_sec = 1700000000;
  st.st_mtim.tv_nsec = 999'999'999;
  st.st_size = 4096;
  validators v = make_validators(st);
  EXPECT_EQ(v.last_modified, sys_seconds{1700000000s});
  EXPECT_EQ(v.etag, "\"6553f100-1000\"");
}

TEST(EtagListMatches, StarMatchesAnything) {
  EXPECT_TRUE(etag_list_matches("*", "\"x\"", false));
  EXPECT_TRUE(etag_list_matches("*", "\"x\"", true));
  EXPECT_TRUE(etag_list_matches(" * ", "\"x\"", false));
}

TEST(EtagListMatches, StarInsideAListIsNotSpecial) {
  // "*" is only the whole field value; in a list it is a syntax error.
  EXPECT_FALSE(etag_list_matches("\"a\", *", "\"x\"", true));
}

TEST(EtagListMatches, FindsATagAnywhereInTheList) {
  EXPECT_TRUE(etag_list_matches("\"x\"", "\"x\"", false));
  EXPECT_TRUE(etag_list_matches("\"a\", \"b\", \"x\"", "\"x\"", false));
  EXPECT_TRUE(etag_list_matches("\"a\",\"x\"", "\"x\"", false));
  EXPECT_TRUE(etag_list_matches(" \"a\" ,\t\"x\" ", "\"x\"", false));
  EXPECT_FALSE(etag_list_matches("\"a\", \"b\"", "\"x\"", false));
}

TEST(EtagListMatches, EmptyElementsAreAllowed) {
  // #rule, RFC 9110 §5.6.1.2.
  EXPECT_TRUE(etag_list_matches(", ,\"x\",", "\"x\"", false));
  EXPECT_FALSE(etag_list_matches("", "\"x\"", true));
  EXPECT_FALSE(etag_list_matches(" , ", "\"x\"", true));
}

TEST(EtagListMatches, OpaqueTagsAreComparedExactly) {
  EXPECT_FALSE(etag_list_matches("\"X\"", "\"x\"", true));
  EXPECT_FALSE(etag_list_matches("\"x \"", "\"x\"", true));
  EXPECT_FALSE(etag_list_matches("\"xy\"", "\"x\"", true));
  EXPECT_TRUE(etag_list_matches("\"\"", "\"\"", false));
}

TEST(EtagListMatches, WeakComparisonIgnoresWeakness) {
  EXPECT_TRUE(etag_list_matches("W/\"x\"", "\"x\"", true));
  EXPECT_TRUE(etag_list_matches("\"x\"", "W/\"x\"", true));
  EXPECT_TRUE(etag_list_matches("W/\"x\"", "W/\"x\"", true));
}

TEST(EtagListMatches, StrongComparisonNeedsBothStrong) {
  EXPECT_FALSE(etag_list_matches("W/\"x\"", "\"x\"", false));
  EXPECT_FALSE(etag_list_matches("\"x\"", "W/\"x\"", false));
  EXPECT_FALSE(etag_list_matches("W/\"x\"", "W/\"x\"", false));
  EXPECT_TRUE(etag_list_matches("W/\"x\", \"x\"", "\"x\"", false));
}

TEST(EtagListMatches, SyntaxErrorEndsTheListButEarlierTagsCount) {
  const std::string list = "\"a\", bogus, \"b\"";
  EXPECT_TRUE(etag_list_matches(list, "\"a\"", true));
  EXPECT_FALSE(etag_list_matches(list, "\"b\"", true));
  // A missing comma is an error after the first tag.
  EXPECT_TRUE(etag_list_matches("\"a\" \"b\"", "\"a\"", false));
  EXPECT_FALSE(etag_list_matches("\"a\" \"b\"", "\"b\"", false));
}

TEST(EtagListMatches, MalformedTagsNeverMatch) {
  // Unquoted, unterminated, lower-case weak prefix, a quote or a control byte inside.
  EXPECT_FALSE(etag_list_matches("x", "\"x\"", true));
  EXPECT_FALSE(etag_list_matches("\"x", "\"x\"", true));
  EXPECT_FALSE(etag_list_matches("w/\"x\"", "\"x\"", true));
  EXPECT_FALSE(etag_list_matches("W/ \"x\"", "\"x\"", true));
  EXPECT_FALSE(etag_list_matches("\"a\"b\"", "\"a\"b\"", true));
  EXPECT_FALSE(etag_list_matches("\"a\x01\"", "\"a\x01\"", true));
  EXPECT_FALSE(etag_list_matches("\"a b\"", "\"a b\"", true));
}

TEST(EtagListMatches, ObsTextIsAllowedInTags) {
  EXPECT_TRUE(etag_list_matches("\"\xff\xfe\"", "\"\xff\xfe\"", false));
}

class Preconditions : public ::testing::Test {
 protected:
  const sys_seconds mtime{std::chrono::sys_days{std::chrono::year{2022} / 6 / 1} + 12h};
  const sys_seconds now = mtime + 48h;
  const validators current{make_etag(mtime, 1234), mtime};
  const std::string other_etag = make_etag(mtime, 4321);
  const std::string at = format_http_date(mtime);
  const std::string before = format_http_date(mtime - 1s);
  const std::string after = format_http_date(mtime + 1s);

  precondition eval(const conditional_headers& h, bool get_or_head = true) const {
    return evaluate_preconditions(h, current, get_or_head, now);
  }
};

TEST_F(Preconditions, NoConditionsProceed) {
  EXPECT_EQ(eval({}), precondition::proceed);
  EXPECT_EQ(eval({}, false), precondition::proceed);
}

TEST_F(Preconditions, IfMatchUsesStrongComparison) {
  EXPECT_EQ(eval({.if_match = current.etag}), precondition::proceed);
  EXPECT_EQ(eval({.if_match = "*"}), precondition::proceed);
  EXPECT_EQ(eval({.if_match = other_etag}), precondition::failed);
  // A weak tag never passes If-Match.
  const std::string weak = "W/" + current.etag;
  EXPECT_EQ(eval({.if_match = weak}), precondition::failed);
  // An unparsable If-Match matches nothing.
  EXPECT_EQ(eval({.if_match = "garbage"}), precondition::failed);
}

TEST_F(Preconditions, IfMatchTakesPrecedenceOverIfUnmodifiedSince) {
  // Step 2 only runs without If-Match.
  EXPECT_EQ(eval({.if_match = current.etag, .if_unmodified_since = before}), precondition::proceed);
  EXPECT_EQ(eval({.if_match = other_etag, .if_unmodified_since = after}), precondition::failed);
}

TEST_F(Preconditions, IfUnmodifiedSinceComparesWithLastModified) {
  EXPECT_EQ(eval({.if_unmodified_since = at}), precondition::proceed);
  EXPECT_EQ(eval({.if_unmodified_since = after}), precondition::proceed);
  EXPECT_EQ(eval({.if_unmodified_since = before}), precondition::failed);
  EXPECT_EQ(eval({.if_unmodified_since = before}, false), precondition::failed);
}

TEST_F(Preconditions, InvalidIfUnmodifiedSinceIsIgnored) {
  for (std::string_view v : {"", "yesterday", "Wed, 01 Jun 2022 12:00:00", "1654084800"}) {
    EXPECT_EQ(eval({.if_unmodified_since = v}), precondition::proceed) << v;
  }
  // Two dates (a repeated field joined by the parser) are not one date.
  const std::string two = before + ", " + before;
  EXPECT_EQ(eval({.if_unmodified_since = two}), precondition::proceed);
}

TEST_F(Preconditions, IfNoneMatchUsesWeakComparison) {
  EXPECT_EQ(eval({.if_none_match = current.etag}), precondition::not_modified);
  const std::string weak = "W/" + current.etag;
  EXPECT_EQ(eval({.if_none_match = weak}), precondition::not_modified);
  EXPECT_EQ(eval({.if_none_match = "*"}), precondition::not_modified);
  const std::string list = other_etag + ", " + current.etag;
  EXPECT_EQ(eval({.if_none_match = list}), precondition::not_modified);
  EXPECT_EQ(eval({.if_none_match = other_etag}), precondition::proceed);
}

TEST_F(Preconditions, IfNoneMatchFailsOtherMethods) {
  // 412 instead of 304 for methods other than GET and HEAD.
  EXPECT_EQ(eval({.if_none_match = current.etag}, false), precondition::failed);
  EXPECT_EQ(eval({.if_none_match = other_etag}, false), precondition::proceed);
}

TEST_F(Preconditions, IfNoneMatchTakesPrecedenceOverIfModifiedSince) {
  // Step 4 only runs without If-None-Match, whatever step 3 said.
  EXPECT_EQ(eval({.if_none_match = other_etag, .if_modified_since = after}), precondition::proceed);
  EXPECT_EQ(eval({.if_none_match = current.etag, .if_modified_since = before}),
            precondition::not_modified);
}

TEST_F(Preconditions, IfModifiedSinceComparesWithLastModified) {
  // Not modified when mtime <= date (the RFC's rule, not nginx's equality).
  EXPECT_EQ(eval({.if_modified_since = at}), precondition::not_modified);
  EXPECT_EQ(eval({.if_modified_since = after}), precondition::not_modified);
  EXPECT_EQ(eval({.if_modified_since = before}), precondition::proceed);
}

TEST_F(Preconditions, IfModifiedSinceLaterThanNowIsIgnored) {
  // A date later than the server's clock is invalid (RFC 2616 §14.25; nginx and Apache answer
  // 200): it used to give 304, hiding every change made before that date. Up to `now` it counts.
  EXPECT_EQ(eval({.if_modified_since = format_http_date(now + 1s)}), precondition::proceed);
  EXPECT_EQ(eval({.if_modified_since = format_http_date(now + 24h * 365 * 10)}),
            precondition::proceed);
  EXPECT_EQ(eval({.if_modified_since = format_http_date(now)}), precondition::not_modified);
}

TEST_F(Preconditions, IfUnmodifiedSinceLaterThanNowStillHolds) {
  // No rule makes a future If-Unmodified-Since invalid (RFC 9110 §13.1.4): the file is not newer
  // than it, so the request proceeds; the same date is never a reason to 412.
  EXPECT_EQ(eval({.if_unmodified_since = format_http_date(now + 24h)}), precondition::proceed);
  EXPECT_EQ(eval({.if_unmodified_since = format_http_date(now + 24h)}, false),
            precondition::proceed);
}

TEST_F(Preconditions, IfModifiedSinceAcceptsTheObsoleteForms) {
  // The same instant as "at", in RFC 850 and asctime form.
  EXPECT_EQ(eval({.if_modified_since = "Wednesday, 01-Jun-22 12:00:00 GMT"}),
            precondition::not_modified);
  EXPECT_EQ(eval({.if_modified_since = "Wed Jun  1 12:00:00 2022"}), precondition::not_modified);
  EXPECT_EQ(eval({.if_modified_since = "Wed Jun  1 11:59:59 2022"}), precondition::proceed);
}

TEST_F(Preconditions, IfModifiedSinceIsIgnoredForOtherMethods) {
  EXPECT_EQ(eval({.if_modified_since = after}, false), precondition::proceed);
}

TEST_F(Preconditions, InvalidIfModifiedSinceIsIgnored) {
  for (std::string_view v :
       {"", "garbage", "Wed, 01 Jun 2022 12:00:00 UTC", "Wed, 31 Jun 2022 12:00:00 GMT"}) {
    EXPECT_EQ(eval({.if_modified_since = v}), precondition::proceed) << v;
  }
}

TEST_F(Preconditions, DateValuesAreTrimmed) {
  const std::string padded = " " + at + "\t";
  EXPECT_EQ(eval({.if_modified_since = padded}), precondition::not_modified);
  const std::string padded_before = " " + before + " ";
  EXPECT_EQ(eval({.if_unmodified_since = padded_before}), precondition::failed);
}

TEST_F(Preconditions, FailedIfMatchBeatsIfNoneMatch) {
  // 412 from steps 1/2 comes before 304 from steps 3/4.
  EXPECT_EQ(eval({.if_match = other_etag, .if_none_match = current.etag}), precondition::failed);
  EXPECT_EQ(eval({.if_none_match = current.etag, .if_unmodified_since = before}),
            precondition::failed);
  EXPECT_EQ(eval({.if_modified_since = at, .if_unmodified_since = before}), precondition::failed);
}

TEST_F(Preconditions, PassingIfMatchThenIfNoneMatchStillApplies) {
  EXPECT_EQ(eval({.if_match = current.etag, .if_none_match = current.etag}),
            precondition::not_modified);
  EXPECT_EQ(eval({.if_match = current.etag, .if_modified_since = at}), precondition::not_modified);
}

TEST_F(Preconditions, IfRangeMatchesStrongEtagOrExactDate) {
  EXPECT_TRUE(if_range_matches(current.etag, current, now));
  EXPECT_TRUE(if_range_matches(at, current, now));
  EXPECT_FALSE(if_range_matches(other_etag, current, now));
  EXPECT_FALSE(if_range_matches("W/" + current.etag, current, now));
  EXPECT_FALSE(if_range_matches(before, current, now));
  EXPECT_FALSE(if_range_matches(after, current, now));
  EXPECT_FALSE(if_range_matches("", current, now));
  EXPECT_FALSE(if_range_matches("\"" + current.etag, current, now));
  EXPECT_FALSE(if_range_matches(current.etag + "x", current, now));
}

}  // namespace
}  // namespace zcopy::http
