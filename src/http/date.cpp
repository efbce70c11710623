#include "http/date.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace zcopy::http {

namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 7> short_days = {"Sun", "Mon", "Tue", "Wed",
                                                        "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> long_days = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void append_digits(std::string& out, long value, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, static_cast<std::size_t>(width));
}

// A cursor over the text; every read checks the bounds, and any mismatch makes the whole parse
// fail (no partial dates).
class cursor {
 public:
  explicit cursor(std::string_view text) : text_(text) {}
  bool literal(std::string_view s) {
    if (!text_.starts_with(s)) return false;
    text_.remove_prefix(s.size());
    return true;
  }
  // Exactly `width` digits.
  std::optional<int> digits(int width) {
    if (text_.size() < static_cast<std::size_t>(width)) return std::nullopt;
    int value = 0;
    for (int i = 0; i < width; ++i) {
      char c = text_[static_cast<std::size_t>(i)];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    text_.remove_prefix(static_cast<std::size_t>(width));
    return value;
  }
  template <std::size_t N>
  std::optional<unsigned> one_of(const std::array<std::string_view, N>& names) {
    for (std::size_t i = 0; i < N; ++i) {
      if (literal(names[i])) return static_cast<unsigned>(i);
    }
    return std::nullopt;
  }
  bool done() const { return text_.empty(); }
  std::string_view rest() const { return text_; }

 private:
  std::string_view text_;
};

struct fields {
  int year = 0;
  unsigned month = 0;  // 0-based
  int day = 0;
  int hour = 0, minute = 0, second = 0;
};

std::optional<sys_seconds> to_time(const fields& f) {
  // RFC 9110 §5.6.7: hour 00-23, minute 00-59, second 00-60 (a leap second).
  if (f.hour > 23 || f.minute > 59 || f.second > 60) return std::nullopt;
  year_month_day ymd{year{f.year}, month{f.month + 1}, day{static_cast<unsigned>(f.day)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd} + hours{f.hour} + minutes{f.minute} + seconds{f.second};
}

// "08:49:37"
bool time_of_day(cursor& c, fields& f) {
  auto h = c.digits(2);
  if (!h || !c.literal(":")) return false;
  auto m = c.digits(2);
  if (!m || !c.literal(":")) return false;
  auto s = c.digits(2);
  if (!s) return false;
  f.hour = *h;
  f.minute = *m;
  f.second = *s;
  return true;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<sys_seconds> parse_imf(std::string_view text) {
  cursor c(text);
  fields f;
  if (!c.one_of(short_days) || !c.literal(", ")) return std::nullopt;
  auto d = c.digits(2);
  if (!d || !c.literal(" ")) return std::nullopt;
  auto m = c.one_of(months);
  if (!m || !c.literal(" ")) return std::nullopt;
  auto y = c.digits(4);
  if (!y || !c.literal(" ") || !time_of_day(c, f) || !c.literal(" GMT") || !c.done()) {
    return std::nullopt;
  }
  f.day = *d;
  f.month = *m;
  f.year = *y;
  return to_time(f);
}

// rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT"
std::optional<sys_seconds> parse_rfc850(std::string_view text, sys_seconds now) {
  cursor c(text);
  fields f;
  if (!c.one_of(long_days) || !c.literal(", ")) return std::nullopt;
  auto d = c.digits(2);
  if (!d || !c.literal("-")) return std::nullopt;
  auto m = c.one_of(months);
  if (!m || !c.literal("-")) return std::nullopt;
  auto yy = c.digits(2);
  if (!yy || !c.literal(" ") || !time_of_day(c, f) || !c.literal(" GMT") || !c.done()) {
    return std::nullopt;
  }
  // RFC 9110 §5.6.7: a two-digit year that appears more than 50 years in the future means the
  // most recent past year with the same last two digits.
  const int now_year = static_cast<int>(year_month_day{floor<days>(now)}.year());
  int full = now_year - now_year % 100 + *yy;
  if (full > now_year + 50) full -= 100;
  f.day = *d;
  f.month = *m;
  f.year = full;
  return to_time(f);
}

// asctime-date: "Sun Nov  6 08:49:37 1994" (the day is padded with a space, not a zero)
std::optional<sys_seconds> parse_asctime(std::string_view text) {
  cursor c(text);
  fields f;
  if (!c.one_of(short_days) || !c.literal(" ")) return std::nullopt;
  auto m = c.one_of(months);
  if (!m || !c.literal(" ")) return std::nullopt;
  std::optional<int> d;
  if (c.literal(" ")) {
    d = c.digits(1);
  } else {
    d = c.digits(2);
  }
  if (!d || !c.literal(" ") || !time_of_day(c, f) || !c.literal(" ")) return std::nullopt;
  auto y = c.digits(4);
  if (!y || !c.done()) return std::nullopt;
  f.day = *d;
  f.month = *m;
  f.year = *y;
  return to_time(f);
}

}  // namespace

void append_http_date(std::string& out, sys_seconds time) {
  // Clamp to what four year digits can show, so the output length never varies.
  constexpr sys_seconds lowest = sys_days{year{0} / January / 1};
  constexpr sys_seconds highest =
      sys_days{year{9999} / December / 31} + hours{23} + minutes{59} + seconds{59};
  time = std::clamp(time, lowest, highest);
  const sys_days day_point = floor<days>(time);
  const year_month_day ymd{day_point};
  const hh_mm_ss hms{time - day_point};
  out += short_days[weekday{day_point}.c_encoding()];
  out += ", ";
  append_digits(out, static_cast<unsigned>(ymd.day()), 2);
  out += ' ';
  out += months[static_cast<unsigned>(ymd.month()) - 1];
  out += ' ';
  append_digits(out, static_cast<int>(ymd.year()), 4);
  out += ' ';
  append_digits(out, hms.hours().count(), 2);
  out += ':';
  append_digits(out, hms.minutes().count(), 2);
  out += ':';
  append_digits(out, static_cast<long>(hms.seconds().count()), 2);
  out += " GMT";
}

std::string format_http_date(sys_seconds time) {
  std::string out;
  out.reserve(29);
  append_http_date(out, time);
  return out;
}

std::optional<sys_seconds> parse_http_date(std::string_view text, sys_seconds now) {
  // The forms differ from the fourth character on: ',' (IMF-fixdate), ' ' (asctime), a letter
  // (the long day name of RFC 850).
  if (text.size() < 4) return std::nullopt;
  if (text[3] == ',') return parse_imf(text);
  if (text[3] == ' ') return parse_asctime(text);
  return parse_rfc850(text, now);
}

sys_seconds modification_time(const struct stat& st) {
  return sys_seconds{seconds{st.st_mtim.tv_sec}};
}

}  // namespace zcopy::http
