// Byte ranges: parsing against a size, the outcomes of RFC 9110 §14, Content-Range values, and
// If-Range through select_range.
#include "http/range.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "http/date.hpp"

namespace zcopy::http {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t max64 = UINT64_MAX;

// A single range, or a failure that names what came back.
::testing::AssertionResult is_single(const range_result& r, std::uint64_t offset,
                                     std::uint64_t length) {
  if (r.kind != range_kind::single) {
    return ::testing::AssertionFailure() << "kind " << static_cast<int>(r.kind);
  }
  if (r.range != byte_range{offset, length}) {
    return ::testing::AssertionFailure()
           << "range {" << r.range.offset << ", " << r.range.length << "}";
  }
  return ::testing::AssertionSuccess();
}

range_kind kind_of(std::string_view header, std::uint64_t size) {
  return parse_range(header, size).kind;
}

TEST(Range, SingleClosedRange) {
  EXPECT_TRUE(is_single(parse_range("bytes=0-99", 1000), 0, 100));
  EXPECT_TRUE(is_single(parse_range("bytes=10-10", 1000), 10, 1));
  EXPECT_TRUE(is_single(parse_range("bytes=999-999", 1000), 999, 1));
}

TEST(Range, OpenEndedRangeRunsToTheEnd) {
  EXPECT_TRUE(is_single(parse_range("bytes=100-", 1000), 100, 900));
  EXPECT_TRUE(is_single(parse_range("bytes=0-", 1000), 0, 1000));
  EXPECT_TRUE(is_single(parse_range("bytes=999-", 1000), 999, 1));
}

TEST(Range, SuffixRangeIsTheLastBytes) {
  EXPECT_TRUE(is_single(parse_range("bytes=-1", 1000), 999, 1));
  EXPECT_TRUE(is_single(parse_range("bytes=-100", 1000), 900, 100));
}

TEST(Range, SuffixLongerThanFileMeansWholeFile) {
  EXPECT_TRUE(is_single(parse_range("bytes=-1000", 1000), 0, 1000));
  EXPECT_TRUE(is_single(parse_range("bytes=-5000", 1000), 0, 1000));
}

TEST(Range, LastPositionBeyondTheEndIsCut) {
  EXPECT_TRUE(is_single(parse_range("bytes=500-5000", 1000), 500, 500));
  EXPECT_TRUE(is_single(parse_range("bytes=0-1000", 1000), 0, 1000));
}

TEST(Range, UnitIsCaseInsensitive) {
  EXPECT_TRUE(is_single(parse_range("BYTES=0-0", 10), 0, 1));
  EXPECT_TRUE(is_single(parse_range("Bytes=1-2", 10), 1, 2));
}

TEST(Range, WhitespaceAndEmptyListElementsAreAllowed) {
  // #rule (RFC 9110 §5.6.1.2): OWS around commas, empty elements.
  EXPECT_TRUE(is_single(parse_range("bytes= 0-9 ", 100), 0, 10));
  EXPECT_TRUE(is_single(parse_range("bytes=,0-9,", 100), 0, 10));
  EXPECT_TRUE(is_single(parse_range("bytes=0-9 ,\t, ", 100), 0, 10));
  EXPECT_EQ(kind_of("bytes=0-1 , 5-6", 100), range_kind::multiple);
}

TEST(Range, TwoSatisfiableRangesAreMultiple) {
  // Answered with 200 and the whole body; no range is reported.
  range_result r = parse_range("bytes=0-0,-1", 1000);
  EXPECT_EQ(r.kind, range_kind::multiple);
  EXPECT_EQ(r.range, byte_range{});
  EXPECT_EQ(kind_of("bytes=0-9,20-29,40-", 1000), range_kind::multiple);
  EXPECT_EQ(kind_of("bytes=0-5,3-8", 1000), range_kind::multiple);  // overlapping
}

TEST(Range, OneSatisfiableAmongUnsatisfiableIsSingle) {
  // Only satisfiable range-specs count.
  EXPECT_TRUE(is_single(parse_range("bytes=5000-6000,10-19", 1000), 10, 10));
  EXPECT_TRUE(is_single(parse_range("bytes=-0,0-0", 1000), 0, 1));
}

TEST(Range, FirstPositionAtOrBeyondTheEndIsUnsatisfiable) {
  range_result r = parse_range("bytes=1000-", 1000);
  EXPECT_EQ(r.kind, range_kind::unsatisfiable);
  EXPECT_EQ(r.range, byte_range{});
  EXPECT_EQ(kind_of("bytes=1000-1000", 1000), range_kind::unsatisfiable);
  EXPECT_EQ(kind_of("bytes=2000-3000,1000-", 1000), range_kind::unsatisfiable);
}

TEST(Range, ZeroLengthSuffixIsUnsatisfiable) {
  // "-0" selects nothing (§14.1.1: a suffix-range needs a non-zero length).
  EXPECT_EQ(kind_of("bytes=-0", 1000), range_kind::unsatisfiable);
}

TEST(Range, ZeroLengthFileIntRangeIsUnsatisfiable) {
  // "bytes 0--1/0" does not exist: 416.
  EXPECT_EQ(kind_of("bytes=0-", 0), range_kind::unsatisfiable);
  EXPECT_EQ(kind_of("bytes=0-0", 0), range_kind::unsatisfiable);
  EXPECT_EQ(kind_of("bytes=-0", 0), range_kind::unsatisfiable);
}

TEST(Range, ZeroLengthFileSuffixRangeServesTheWholeEmptyBody) {
  // Satisfiable by the RFC's letter, answered 200 with nothing.
  EXPECT_EQ(kind_of("bytes=-1", 0), range_kind::none);
  EXPECT_EQ(kind_of("bytes=-500", 0), range_kind::none);
  EXPECT_EQ(kind_of("bytes=0-0,-5", 0), range_kind::none);
}

TEST(Range, InvalidSyntaxIsIgnored) {
  // Any syntax error anywhere means "no Range", never a partial answer.
  for (std::string_view h : {"",
                             "bytes",
                             "bytes=",
                             "bytes=,",
                             "bytes=a-b",
                             "bytes=5",
                             "bytes=-",
                             "bytes=--5",
                             "bytes=5-4",
                             "bytes=0-1x",
                             "bytes=0-1;2-3",
                             "bytes=0-1,x",
                             "bytes=1-2-3",
                             "bytes=+1-2",
                             "bytes=0 -1",
                             "bytes=0- 1",
                             "bytes =0-1",
                             " bytes=0-1",
                             "bytes=0-1,5-4",
                             "=0-1",
                             "bytes=0x10-20"}) {
    range_result r = parse_range(h, 1000);
    EXPECT_EQ(r.kind, range_kind::none) << '"' << h << '"';
    EXPECT_EQ(r.range, byte_range{}) << '"' << h << '"';
  }
}

TEST(Range, OtherUnitsAreIgnored) {
  EXPECT_EQ(kind_of("items=0-1", 1000), range_kind::none);
  EXPECT_EQ(kind_of("bytesx=0-1", 1000), range_kind::none);
  EXPECT_EQ(kind_of("byte=0-1", 1000), range_kind::none);
}

TEST(Range, HugeNumbersSaturate) {
  // Beyond 2^64-1 a number is "beyond the end": cut, whole file, or unsatisfiable.
  const std::string huge = "99999999999999999999999999";
  EXPECT_TRUE(is_single(parse_range("bytes=10-" + huge, 1000), 10, 990));
  EXPECT_TRUE(is_single(parse_range("bytes=-" + huge, 1000), 0, 1000));
  EXPECT_EQ(kind_of("bytes=" + huge + "-", 1000), range_kind::unsatisfiable);
  EXPECT_EQ(kind_of("bytes=" + huge + "-" + huge, 1000), range_kind::unsatisfiable);
  // first > last after saturation is still a syntax check on the saturated values.
  EXPECT_EQ(kind_of("bytes=" + huge + "-5", 1000), range_kind::none);
}

TEST(Range, LargestSizesWork) {
  // A size of 2^64-1: its last byte is at 2^64-2.
  EXPECT_EQ(kind_of("bytes=18446744073709551615-", max64), range_kind::unsatisfiable);
  EXPECT_TRUE(is_single(parse_range("bytes=18446744073709551614-", max64), max64 - 1, 1));
  EXPECT_TRUE(is_single(parse_range("bytes=0-", max64), 0, max64));
  EXPECT_TRUE(is_single(parse_range("bytes=-18446744073709551616", max64), 0, max64));
}

TEST(ContentRange, FormatsFirstLastAndSize) {
  EXPECT_EQ(content_range({0, 100}, 1000), "bytes 0-99/1000");
  EXPECT_EQ(content_range({999, 1}, 1000), "bytes 999-999/1000");
  EXPECT_EQ(content_range({0, max64}, max64), "bytes 0-18446744073709551614/18446744073709551615");
}

TEST(ContentRange, UnsatisfiedFormatsOnlyTheSize) {
  EXPECT_EQ(unsatisfied_content_range(1000), "bytes */1000");
  EXPECT_EQ(unsatisfied_content_range(0), "bytes */0");
}

class SelectRange : public ::testing::Test {
 protected:
  const std::chrono::sys_seconds mtime{
      std::chrono::sys_days{std::chrono::year{2023} / std::chrono::March / 14} + 15h + 9min + 26s};
  const std::chrono::sys_seconds now = mtime + 24h;
  const validators current{make_etag(mtime, 1000), mtime};
};

TEST_F(SelectRange, NoRangeMeansNone) {
  EXPECT_EQ(select_range(std::nullopt, std::nullopt, 1000, current, now).kind, range_kind::none);
  // If-Range without Range changes nothing.
  EXPECT_EQ(select_range(std::nullopt, current.etag, 1000, current, now).kind, range_kind::none);
}

TEST_F(SelectRange, RangeWithoutIfRangeIsParsed) {
  EXPECT_TRUE(is_single(select_range("bytes=1-2", std::nullopt, 1000, current, now), 1, 2));
  EXPECT_EQ(select_range("bytes=5000-", std::nullopt, 1000, current, now).kind,
            range_kind::unsatisfiable);
}

TEST_F(SelectRange, MatchingStrongEtagKeepsTheRange) {
  EXPECT_TRUE(is_single(select_range("bytes=1-2", current.etag, 1000, current, now), 1, 2));
  // Unsatisfiable stays unsatisfiable when the validator matches.
  EXPECT_EQ(select_range("bytes=5000-", current.etag, 1000, current, now).kind,
            range_kind::unsatisfiable);
}

TEST_F(SelectRange, OtherEtagIgnoresTheRange) {
  // The client's copy is stale: it gets the whole new representation.
  const std::string other = make_etag(mtime, 999);
  EXPECT_EQ(select_range("bytes=1-2", other, 1000, current, now).kind, range_kind::none);
  EXPECT_EQ(select_range("bytes=5000-", other, 1000, current, now).kind, range_kind::none);
}

TEST_F(SelectRange, WeakEtagNeverValidatesARange) {
  // Even when the opaque part is the current one (§13.1.5: strong comparison).
  const std::string weak = "W/" + current.etag;
  EXPECT_EQ(select_range("bytes=1-2", weak, 1000, current, now).kind, range_kind::none);
}

TEST_F(SelectRange, EqualDateKeepsTheRange) {
  EXPECT_TRUE(
      is_single(select_range("bytes=1-2", format_http_date(mtime), 1000, current, now), 1, 2));
}

TEST_F(SelectRange, OtherDateIgnoresTheRange) {
  // Earlier and later dates both fail: If-Range needs an exact match.
  EXPECT_EQ(select_range("bytes=1-2", format_http_date(mtime - 1s), 1000, current, now).kind,
            range_kind::none);
  EXPECT_EQ(select_range("bytes=1-2", format_http_date(mtime + 1s), 1000, current, now).kind,
            range_kind::none);
}

TEST_F(SelectRange, InvalidIfRangeIgnoresTheRange) {
  for (std::string_view v : {"", "garbage", "\"unterminated", "yesterday"}) {
    EXPECT_EQ(select_range("bytes=1-2", v, 1000, current, now).kind, range_kind::none) << v;
  }
  // An entity-tag followed by anything else is not one entity-tag.
  EXPECT_EQ(select_range("bytes=1-2", current.etag + ", " + current.etag, 1000, current, now).kind,
            range_kind::none);
}

TEST_F(SelectRange, IfRangeValueIsTrimmed) {
  EXPECT_TRUE(
      is_single(select_range("bytes=1-2", " " + current.etag + "\t", 1000, current, now), 1, 2));
}

}  // namespace
}  // namespace zcopy::http
