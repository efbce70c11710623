// HTTP-date: IMF-fixdate formatting, parsing of all three forms, the RFC 850 year rule, invalid
// input, and round trips over random times.
#include "http/date.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "support/test_support.hpp"

namespace zcopy::http {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

// The RFC's example instant: Sun, 06 Nov 1994 08:49:37 GMT.
constexpr sys_seconds example = sys_days{1994y / November / 6} + 8h + 49min + 37s;

sys_seconds at(year_month_day ymd, hours h = 0h, minutes m = 0min, seconds s = 0s) {
  return sys_days{ymd} + h + m + s;
}

std::optional<sys_seconds> parse(std::string_view text, sys_seconds now = example) {
  return parse_http_date(text, now);
}

constexpr std::array<const char*, 7> long_days = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                  "Thursday", "Friday", "Saturday"};
constexpr std::array<const char*, 7> short_days = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> month_names = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// The obsolete forms, written independently of the code under test.
std::string rfc850(sys_seconds t) {
  const sys_days d = floor<days>(t);
  const year_month_day ymd{d};
  const hh_mm_ss hms{t - d};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u-%s-%02d %02d:%02d:%02d GMT",
                long_days[weekday{d}.c_encoding()], static_cast<unsigned>(ymd.day()),
                month_names[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()) % 100, static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return buf;
}

std::string asctime_form(sys_seconds t) {
  const sys_days d = floor<days>(t);
  const year_month_day ymd{d};
  const hh_mm_ss hms{t - d};
  char buf[64];
  std::snprintf(
      buf, sizeof buf, "%s %s %2u %02d:%02d:%02d %04d", short_days[weekday{d}.c_encoding()],
      month_names[static_cast<unsigned>(ymd.month()) - 1], static_cast<unsigned>(ymd.day()),
      static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
      static_cast<int>(hms.seconds().count()), static_cast<int>(ymd.year()));
  return buf;
}

TEST(FormatHttpDate, WritesImfFixdate) {
  EXPECT_EQ(format_http_date(example), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(format_http_date(sys_seconds{0s}), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(format_http_date(at(2000y / February / 29, 23h, 59min, 59s)),
            "Tue, 29 Feb 2000 23:59:59 GMT");
  EXPECT_EQ(format_http_date(at(2038y / January / 19, 3h, 14min, 8s)),
            "Tue, 19 Jan 2038 03:14:08 GMT");
}

TEST(FormatHttpDate, TimesBeforeTheEpochWork) {
  EXPECT_EQ(format_http_date(sys_seconds{-1s}), "Wed, 31 Dec 1969 23:59:59 GMT");
  EXPECT_EQ(format_http_date(at(1900y / March / 1)), "Thu, 01 Mar 1900 00:00:00 GMT");
}

TEST(FormatHttpDate, YearsOutsideFourDigitsAreClamped) {
  // Always 29 characters: the first and last second of years 0000 and 9999.
  const std::string low = format_http_date(at(-5y / January / 1));
  const std::string high = format_http_date(at(12000y / June / 1));
  EXPECT_EQ(low, format_http_date(at(0y / January / 1)));
  EXPECT_EQ(low, "Sat, 01 Jan 0000 00:00:00 GMT");
  EXPECT_EQ(high, "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(format_http_date(sys_seconds{seconds::min() / 2}).size(), 29u);
  EXPECT_EQ(format_http_date(sys_seconds{seconds::max() / 2}).size(), 29u);
}

TEST(FormatHttpDate, AppendAddsToWhatIsThere) {
  std::string out = "Date: ";
  append_http_date(out, example);
  EXPECT_EQ(out, "Date: Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(ParseHttpDate, AcceptsTheThreeForms) {
  // RFC 9110 §5.6.7's three examples name the same instant.
  EXPECT_EQ(parse("Sun, 06 Nov 1994 08:49:37 GMT"), example);
  EXPECT_EQ(parse("Sunday, 06-Nov-94 08:49:37 GMT"), example);
  EXPECT_EQ(parse("Sun Nov  6 08:49:37 1994"), example);
}

TEST(ParseHttpDate, AsctimeTakesTwoDigitDays) {
  EXPECT_EQ(parse("Wed Nov 16 08:49:37 1994"), example + days{10});
  // date3 = month SP ( 2DIGIT / ( SP DIGIT ) ): a zero-padded day is 2DIGIT.
  EXPECT_EQ(parse("Sun Nov 06 08:49:37 1994"), example);
}

TEST(ParseHttpDate, EveryDayAndMonthNameIsKnown) {
  // One date in every month, whatever weekday it is.
  for (unsigned m = 1; m <= 12; ++m) {
    const sys_seconds t = at(2021y / month{m} / 10, 10h);
    EXPECT_EQ(parse(format_http_date(t)), t) << format_http_date(t);
  }
  for (int d = 0; d < 7; ++d) {
    const sys_seconds t = at(2021y / March / 1) + days{d};
    EXPECT_EQ(parse(rfc850(t), t), t) << rfc850(t);
    EXPECT_EQ(parse(asctime_form(t)), t) << asctime_form(t);
  }
}

TEST(ParseHttpDate, LeapDays) {
  EXPECT_EQ(parse("Thu, 29 Feb 2024 00:00:00 GMT"), at(2024y / February / 29));
  EXPECT_EQ(parse("Tue, 29 Feb 2000 00:00:00 GMT"), at(2000y / February / 29));
  EXPECT_FALSE(parse("Thu, 29 Feb 2023 00:00:00 GMT"));
  EXPECT_FALSE(parse("Thu, 29 Feb 1900 00:00:00 GMT"));
}

TEST(ParseHttpDate, LeapSecondIsAccepted) {
  // second = 00-60 (RFC 9110 §5.6.7).
  EXPECT_EQ(parse("Sat, 31 Dec 2016 23:59:60 GMT"), at(2017y / January / 1));
}

TEST(ParseHttpDate, OutOfRangeFieldsAreInvalid) {
  for (std::string_view text :
       {"Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 32 Dec 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sunday, 31-Apr-94 08:49:37 GMT", "Sun Nov  0 08:49:37 1994", "Sun Feb 30 08:49:37 1994"}) {
    EXPECT_FALSE(parse(text)) << text;
  }
}

TEST(ParseHttpDate, SyntaxErrorsAreInvalid) {
  for (std::string_view text : {
           "",
           "Sun",
           "Sun,",
           "Sun, 06 Nov 1994 08:49:37",           // no zone
           "Sun, 06 Nov 1994 08:49:37 UTC",       // only GMT
           "Sun, 06 Nov 1994 08:49:37 gmt",       // case-sensitive
           "Sun, 06 Nov 1994 08:49:37 GMT ",      // trailing space (values arrive trimmed)
           " Sun, 06 Nov 1994 08:49:37 GMT",      // leading space
           "Sun, 6 Nov 1994 08:49:37 GMT",        // 2DIGIT day
           "Sun, 06 nov 1994 08:49:37 GMT",       // month name case
           "sun, 06 Nov 1994 08:49:37 GMT",       // day name case
           "Sun, 06 November 1994 08:49:37 GMT",  // long month
           "Sun, 06 Nov 94 08:49:37 GMT",         // two-digit year in IMF-fixdate
           "Sun, 06 Nov 1994 8:49:37 GMT",        // 2DIGIT hour
           "Sun, 06 Nov 1994 08:49 GMT",          // no seconds
           "Sun, 06 Nov 1994 08.49.37 GMT",       // separators
           "Sun,06 Nov 1994 08:49:37 GMT",        // missing space
           "Xyz, 06 Nov 1994 08:49:37 GMT",       // unknown day
           "Sun, 06 Nov 1994 08:49:37 GMTx",      // trailing garbage
           "Sunday, 06-Nov-1994 08:49:37 GMT",    // four-digit year in RFC 850
           "Sunday, 06 Nov 94 08:49:37 GMT",      // RFC 850 needs dashes
           "Sun, 06-Nov-94 08:49:37 GMT",         // short day name in RFC 850
           "Sunday, 06-Nov-94 08:49:37",          // RFC 850 without zone
           "Sun Nov 6 08:49:37 1994",             // asctime pads the day with a space
           "Sun Nov  6 08:49:37 94",              // asctime has four-digit years
           "Sun Nov  6 08:49:37 1994 GMT",        // asctime has no zone
           "Sun  Nov  6 08:49:37 1994",           // extra space
           "1994-11-06T08:49:37Z",                // ISO 8601
           "784111777",                           // seconds
       }) {
    EXPECT_FALSE(parse(text)) << '"' << text << '"';
  }
}

TEST(ParseHttpDate, Rfc850YearWithinFiftyYearsIsInThisCentury) {
  // In 2024, "94" is 1994, "24" is 2024, "74" (50 years ahead, not more) is 2074.
  const sys_seconds now = at(2024y / May / 5, 12h);
  EXPECT_EQ(parse("Sunday, 06-Nov-94 08:49:37 GMT", now), example);
  EXPECT_EQ(parse("Sunday, 05-May-24 12:00:00 GMT", now), now);
  EXPECT_EQ(parse("Monday, 01-Jan-74 00:00:00 GMT", now), at(2074y / January / 1));
  EXPECT_EQ(parse("Tuesday, 01-Jan-02 00:00:00 GMT", now), at(2002y / January / 1));
}

TEST(ParseHttpDate, Rfc850YearMoreThanFiftyYearsAheadIsFromThePreviousCentury) {
  // In 2024, "75" would be 2075: 51 years ahead, so it is 1975.
  const sys_seconds now = at(2024y / May / 5, 12h);
  EXPECT_EQ(parse("Wednesday, 01-Jan-75 00:00:00 GMT", now), at(1975y / January / 1));
  EXPECT_EQ(parse("Friday, 31-Dec-99 23:59:59 GMT", now),
            at(1999y / December / 31, 23h, 59min, 59s));
  // "80" is 1980 in 2024 and 2080 in 2030 (then 50 years ahead).
  const sys_seconds later = at(2030y / January / 1);
  EXPECT_EQ(parse("Tuesday, 01-Jan-80 00:00:00 GMT", now), at(1980y / January / 1));
  EXPECT_EQ(parse("Monday, 01-Jan-80 00:00:00 GMT", later), at(2080y / January / 1));
}

TEST(ParseHttpDate, RoundTripsRandomTimes) {
  // format → parse over many random instants in years 0000..9999; also the two obsolete forms
  // built independently (RFC 850 with `now` in the same year, so the century is this one).
  SCOPED_TRACE(::testing::Message() << "seed " << test::test_seed());
  std::mt19937_64 gen(test::test_seed());
  const auto lowest = sys_seconds{sys_days{0y / January / 1}}.time_since_epoch().count();
  const auto highest = sys_seconds{sys_days{9999y / December / 31}}.time_since_epoch().count();
  std::uniform_int_distribution<std::int64_t> dist(lowest, highest + 86399);
  for (int i = 0; i < 20000; ++i) {
    const sys_seconds t{seconds{dist(gen)}};
    const std::string text = format_http_date(t);
    ASSERT_EQ(text.size(), 29u) << text;
    ASSERT_EQ(parse(text), t) << text;
    ASSERT_EQ(parse(asctime_form(t)), t) << asctime_form(t);
    ASSERT_EQ(parse(rfc850(t), t), t) << rfc850(t);
  }
}

TEST(ParseHttpDate, FormatMatchesTheIndependentFormatter) {
  // IMF-fixdate is asctime's fields reordered: check day and month names on random instants.
  std::mt19937_64 gen(test::test_seed() + 1);
  std::uniform_int_distribution<std::int64_t> dist(0, 4'102'444'800);  // 1970..2100
  for (int i = 0; i < 2000; ++i) {
    const sys_seconds t{seconds{dist(gen)}};
    const std::string imf = format_http_date(t);
    const std::string asc = asctime_form(t);
    ASSERT_EQ(imf.substr(0, 3), asc.substr(0, 3)) << imf;    // day name
    ASSERT_EQ(imf.substr(8, 3), asc.substr(4, 3)) << imf;    // month name
    ASSERT_EQ(imf.substr(17, 8), asc.substr(11, 8)) << imf;  // time of day
    ASSERT_EQ(imf.substr(12, 4), asc.substr(20, 4)) << imf;  // year
  }
}

TEST(ModificationTime, DropsNanoseconds) {
  struct stat st {};
  st.st_mtim.tv_sec = 784111777;
  st.st_mtim.tv_nsec = 999'999'999;
  EXPECT_EQ(modification_time(st), example);
}

}  // namespace
}  // namespace zcopy::http
