// Conditional requests (RFC 9110 §13) and HTTP-dates (§5.6.7).
//
// Input: lines; "M:" If-Match, "N:" If-None-Match, "S:" If-Modified-Since, "U:"
// If-Unmodified-Since, "R:" If-Range, anything else a bare date. The file's validators come from
// the input's hash.
//
// Invariants:
//   - every line that parses as an HTTP-date formats to 29 characters of IMF-fixdate that parse
//     back to the same time (clamped to years 0..9999, as format_http_date documents) and format
//     again to the same text;
//   - entity-tag lists: a strong match is also a weak match; "*" matches anything; a list that
//     ends with the current ETag matches it (weakly, and strongly when the ETag is strong) as
//     long as everything before it is valid;
//   - preconditions: 304 only for GET/HEAD; If-Modified-Since alone gives 304 exactly when
//     the date parses, is not later than the server's clock (a future date is invalid and
//     ignored, RFC 9110 §13.1.3) and Last-Modified is not newer; If-Unmodified-Since alone gives
//     412 exactly when the date parses and Last-Modified is newer;
//   - If-Range: matches only a strong, exactly equal ETag or the exact Last-Modified date.
#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/conditional.hpp"
#include "http/date.hpp"

namespace {

using namespace zcopy::http;
using namespace std::chrono;

const sys_seconds now = sys_seconds(seconds(1'700'000'000));

sys_seconds clamp_to_format(sys_seconds t) {
  constexpr sys_seconds lowest = sys_days{year{0} / January / 1};
  constexpr sys_seconds highest =
      sys_days{year{9999} / December / 31} + hours{23} + minutes{59} + seconds{59};
  return std::clamp(t, lowest, highest);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void check_date(std::string_view text) {
  const auto t = parse_http_date(text, now);
  if (!t) return;
  const std::string formatted = format_http_date(*t);
  ZCOPY_FUZZ_CHECK(formatted.size() == 29);
  const auto again = parse_http_date(formatted, now);
  ZCOPY_FUZZ_CHECK(again && *again == clamp_to_format(*t));
  ZCOPY_FUZZ_CHECK(format_http_date(*again) == formatted);
}

// Whether `list` is a valid entity-tag list (so that a tag appended to it is reached).
bool valid_list(std::string_view list) {
  list = trim(list);
  while (!list.empty()) {
    while (!list.empty() && (list.front() == ' ' || list.front() == '\t' || list.front() == ','))
      list.remove_prefix(1);
    if (list.empty()) break;
    if (list.starts_with("W/")) list.remove_prefix(2);
    if (list.empty() || list.front() != '"') return false;
    std::size_t i = 1;
    while (i < list.size() && list[i] != '"') {
      const auto c = static_cast<unsigned char>(list[i]);
      if (c != 0x21 && (c < 0x23 || c == 0x7f)) return false;
      ++i;
    }
    if (i >= list.size()) return false;
    list.remove_prefix(i + 1);
    while (!list.empty() && (list.front() == ' ' || list.front() == '\t')) list.remove_prefix(1);
    if (!list.empty() && list.front() != ',') return false;
  }
  return true;
}

void check_list(std::string_view list, const validators& current) {
  const bool strong = etag_list_matches(list, current.etag, false);
  const bool weak = etag_list_matches(list, current.etag, true);
  ZCOPY_FUZZ_CHECK(!strong || weak);
  if (trim(list) == "*") ZCOPY_FUZZ_CHECK(strong && weak);
  if (valid_list(list)) {
    const std::string extended = std::string(list) + ", " + current.etag;
    ZCOPY_FUZZ_CHECK(etag_list_matches(extended, current.etag, true));
    ZCOPY_FUZZ_CHECK(etag_list_matches(extended, current.etag, false));
    const std::string weak_extended = std::string(list) + ", W/" + current.etag;
    ZCOPY_FUZZ_CHECK(etag_list_matches(weak_extended, current.etag, true));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint64_t seed = zcopy::fuzz::hash(input);
  const sys_seconds mtime(seconds(static_cast<std::int64_t>(seed % 2'000'000'000)));
  const validators current{make_etag(mtime, seed >> 40), mtime};

  conditional_headers headers;
  std::optional<std::string_view> if_range;
  std::string_view rest = input;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    const std::string_view value = line.size() >= 2 ? line.substr(2) : std::string_view{};
    if (line.starts_with("M:")) {
      headers.if_match = value;
      check_list(value, current);
    } else if (line.starts_with("N:")) {
      headers.if_none_match = value;
      check_list(value, current);
    } else if (line.starts_with("S:")) {
      headers.if_modified_since = value;
      check_date(trim(value));
    } else if (line.starts_with("U:")) {
      headers.if_unmodified_since = value;
      check_date(trim(value));
    } else if (line.starts_with("R:")) {
      if_range = value;
    } else {
      check_date(line);
    }
  }

  for (const bool get_or_head : {true, false}) {
    const precondition p = evaluate_preconditions(headers, current, get_or_head, now);
    ZCOPY_FUZZ_CHECK(get_or_head || p != precondition::not_modified);
  }
  if (headers.if_modified_since) {
    conditional_headers only;
    only.if_modified_since = headers.if_modified_since;
    const auto date = parse_http_date(trim(*headers.if_modified_since), now);
    const bool not_modified = date && *date <= now && current.last_modified <= *date;
    ZCOPY_FUZZ_CHECK((evaluate_preconditions(only, current, true, now) ==
                      precondition::not_modified) == not_modified);
    ZCOPY_FUZZ_CHECK(evaluate_preconditions(only, current, false, now) == precondition::proceed);
  }
  if (headers.if_unmodified_since) {
    conditional_headers only;
    only.if_unmodified_since = headers.if_unmodified_since;
    const auto date = parse_http_date(trim(*headers.if_unmodified_since), now);
    const bool failed = date && current.last_modified > *date;
    ZCOPY_FUZZ_CHECK((evaluate_preconditions(only, current, true, now) == precondition::failed) ==
                     failed);
  }
  if (if_range) {
    const bool matches = if_range_matches(*if_range, current, now);
    const std::string_view v = trim(*if_range);
    if (matches) {
      const auto date = parse_http_date(v, now);
      ZCOPY_FUZZ_CHECK(v == current.etag || (date && *date == current.last_modified));
    }
  }
  return 0;
}
