// Range (RFC 9110 §14.2) against representation sizes, and If-Range in front of it.
//
// Input: "<size>\n<Range value>[\n<If-Range value>]"; a first line that is not a number takes the
// size from the input's hash (so mutations that break the number still try many sizes).
//
// Invariants:
//   - parse_range agrees with a second, independent reading of range.hpp's rules (split on
//     commas instead of scanning): the same kind, and for `single` the same range;
//   - a single range lies inside the representation and is not empty;
//   - unsatisfiable (416) exactly when the header is valid, and no range-spec is satisfiable, and
//     it is not a suffix-range asked of an empty representation (answered 200);
//   - Content-Range round trip: what content_range / unsatisfied_content_range write, the
//     client's parse_content_range reads back to the same numbers;
//   - select_range: absent Range → none; an If-Range that matches (the current ETag, or the
//     Last-Modified date as formatted) leaves parse_range's answer, one that does not → none.
#include <charconv>
#include <chrono>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "http/client.hpp"
#include "http/conditional.hpp"
#include "http/date.hpp"
#include "http/range.hpp"

namespace {

using namespace zcopy::http;

constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();

bool ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && ows(s.back())) s.remove_suffix(1);
  return s;
}

// All digits, saturating; nullopt when empty or not all digits.
std::optional<std::uint64_t> number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    v = v > (max - d) / 10 ? max : v * 10 + d;
  }
  return v;
}

// The rules of range.hpp, read again.
range_result reference(std::string_view header, std::uint64_t size) {
  const std::size_t eq = header.find('=');
  if (eq == std::string_view::npos) return {};
  std::string unit(header.substr(0, eq));
  for (char& c : unit) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (unit != "bytes") return {};
  std::string_view set = header.substr(eq + 1);

  std::vector<byte_range> satisfiable;
  bool any = false, empty_suffix = false;
  while (true) {
    const std::size_t comma = set.find(',');
    const std::string_view element = trim(set.substr(0, comma));
    if (!element.empty()) {
      any = true;
      const std::size_t dash = element.find('-');
      if (dash == std::string_view::npos) return {};
      const auto first = element.substr(0, dash);
      const auto last = element.substr(dash + 1);
      if (first.empty()) {
        const auto n = number(last);
        if (!n) return {};
        if (*n > 0 && size == 0) empty_suffix = true;
        if (*n > 0 && size > 0) {
          const std::uint64_t len = std::min(*n, size);
          satisfiable.push_back({size - len, len});
        }
      } else {
        const auto f = number(first);
        if (!f) return {};
        std::optional<std::uint64_t> l;
        if (!last.empty()) {
          l = number(last);
          if (!l || *l < *f) return {};
        }
        if (*f < size) {
          const std::uint64_t end = std::min(l.value_or(max), size - 1);
          satisfiable.push_back({*f, end - *f + 1});
        }
      }
    }
    if (comma == std::string_view::npos) break;
    set.remove_prefix(comma + 1);
  }
  if (!any) return {};
  range_result out;
  if (satisfiable.empty()) {
    out.kind = empty_suffix ? range_kind::none : range_kind::unsatisfiable;
  } else if (satisfiable.size() == 1) {
    out.kind = range_kind::single;
    out.range = satisfiable.front();
  } else {
    out.kind = range_kind::multiple;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t length) {
  std::string_view input(reinterpret_cast<const char*>(data), length);
  const std::uint64_t seed = zcopy::fuzz::hash(input);
  std::uint64_t size = 0;
  const std::size_t nl = input.find('\n');
  const std::string_view first_line = input.substr(0, nl);
  const auto [end, ec] =
      std::from_chars(first_line.data(), first_line.data() + first_line.size(), size);
  if (ec != std::errc() || end != first_line.data() + first_line.size()) {
    // Small sizes mostly (edges at 0 and 1), sometimes anything.
    size = seed % 8 == 0 ? seed : seed % 2048;
  }
  std::string_view rest = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
  const std::size_t nl2 = rest.find('\n');
  const std::string_view range = rest.substr(0, nl2);
  const std::optional<std::string_view> if_range =
      nl2 == std::string_view::npos ? std::nullopt : std::optional(rest.substr(nl2 + 1));

  const range_result got = parse_range(range, size);
  const range_result want = reference(range, size);
  ZCOPY_FUZZ_CHECK(got.kind == want.kind);
  ZCOPY_FUZZ_CHECK(got.range == want.range);

  switch (got.kind) {
    case range_kind::single: {
      ZCOPY_FUZZ_CHECK(got.range.length > 0);
      ZCOPY_FUZZ_CHECK(got.range.offset < size);
      ZCOPY_FUZZ_CHECK(got.range.length <= size - got.range.offset);
      const auto cr = parse_content_range(content_range(got.range, size));
      ZCOPY_FUZZ_CHECK(cr && cr->first && cr->last && cr->total);
      ZCOPY_FUZZ_CHECK(*cr->first == got.range.offset);
      ZCOPY_FUZZ_CHECK(*cr->last - *cr->first + 1 == got.range.length);
      ZCOPY_FUZZ_CHECK(*cr->total == size);
      break;
    }
    case range_kind::unsatisfiable: {
      ZCOPY_FUZZ_CHECK(got.range == byte_range{});
      const auto cr = parse_content_range(unsatisfied_content_range(size));
      ZCOPY_FUZZ_CHECK(cr && !cr->first && !cr->last && cr->total && *cr->total == size);
      break;
    }
    case range_kind::none:
    case range_kind::multiple:
      ZCOPY_FUZZ_CHECK(got.range == byte_range{});
      break;
  }

  // If-Range in front of it.
  const auto now = std::chrono::sys_seconds(std::chrono::seconds(1'700'000'000));
  const auto mtime = std::chrono::sys_seconds(
      std::chrono::seconds(static_cast<std::int64_t>(seed % 1'700'000'000)));
  const validators current{make_etag(mtime, size), mtime};
  ZCOPY_FUZZ_CHECK(select_range(std::nullopt, if_range, size, current, now).kind ==
                   range_kind::none);
  const range_result selected = select_range(range, if_range, size, current, now);
  if (!if_range || if_range_matches(*if_range, current, now)) {
    ZCOPY_FUZZ_CHECK(selected.kind == got.kind && selected.range == got.range);
  } else {
    ZCOPY_FUZZ_CHECK(selected.kind == range_kind::none);
  }
  ZCOPY_FUZZ_CHECK(if_range_matches(current.etag, current, now));
  ZCOPY_FUZZ_CHECK(if_range_matches(format_http_date(mtime), current, now));
  ZCOPY_FUZZ_CHECK(!if_range_matches("W/" + current.etag, current, now));
  return 0;
}
