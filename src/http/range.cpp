#include "http/range.hpp"

#include <limits>
#include <vector>

#include "http/syntax.hpp"

namespace zcopy::http {

namespace {

constexpr std::uint64_t no_value = std::numeric_limits<std::uint64_t>::max();

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// 1*DIGIT at the front of `text`, consumed; saturates at 2^64-1. nullopt when there is no digit.
std::optional<std::uint64_t> take_number(std::string_view& text) {
  if (text.empty() || !is_digit(text.front())) return std::nullopt;
  std::uint64_t value = 0;
  while (!text.empty() && is_digit(text.front())) {
    const auto d = static_cast<std::uint64_t>(text.front() - '0');
    value = value > (no_value - d) / 10 ? no_value : value * 10 + d;
    text.remove_prefix(1);
  }
  return value;
}

bool equals_ignore_case(std::string_view a, std::string_view lower) noexcept {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

struct spec {
  std::uint64_t first = no_value;  // no_value: suffix-range
  std::uint64_t last = no_value;   // no_value: open-ended (or suffix)
  std::uint64_t suffix = 0;
};

}  // namespace

range_result parse_range(std::string_view header, std::uint64_t size) {
  // ranges-specifier = range-unit "=" range-set; the unit is case-insensitive (§14.1).
  const std::size_t eq = header.find('=');
  if (eq == std::string_view::npos || !equals_ignore_case(header.substr(0, eq), "bytes")) return {};
  std::string_view text = header.substr(eq + 1);

  // range-set = 1#range-spec. The whole header is parsed before anything is decided, so a syntax
  // error anywhere means "ignore Range" (§14.2), never a partial answer.
  std::vector<spec> specs;
  while (true) {
    while (!text.empty() && (is_ows(text.front()) || text.front() == ',')) text.remove_prefix(1);
    if (text.empty()) break;
    spec s;
    if (text.front() == '-') {
      text.remove_prefix(1);
      auto n = take_number(text);
      if (!n) return {};
      s.suffix = *n;
    } else {
      auto first = take_number(text);
      if (!first || text.empty() || text.front() != '-') return {};
      text.remove_prefix(1);
      s.first = *first;
      if (!text.empty() && is_digit(text.front())) {
        s.last = *take_number(text);
        if (s.last < s.first) return {};  // §14.1.1: invalid, so the header is ignored
      }
    }
    specs.push_back(s);
    while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
    if (!text.empty() && text.front() != ',') return {};
  }
  if (specs.empty()) return {};

  range_result out;
  std::size_t satisfiable = 0;
  bool empty_suffix = false;
  for (const spec& s : specs) {
    byte_range r;
    if (s.first == no_value) {
      if (s.suffix == 0) continue;  // "-0" selects nothing
      if (size == 0) {
        empty_suffix = true;
        continue;
      }
      const std::uint64_t n = s.suffix < size ? s.suffix : size;
      r = {size - n, n};
    } else {
      if (s.first >= size) continue;
      const std::uint64_t last = s.last < size - 1 ? s.last : size - 1;
      r = {s.first, last - s.first + 1};
    }
    if (++satisfiable == 1) out.range = r;
  }
  if (satisfiable == 0) {
    out.kind = empty_suffix ? range_kind::none : range_kind::unsatisfiable;
    out.range = {};
  } else {
    out.kind = satisfiable == 1 ? range_kind::single : range_kind::multiple;
  }
  if (out.kind != range_kind::single) out.range = {};
  return out;
}

range_result select_range(std::optional<std::string_view> range,
                          std::optional<std::string_view> if_range, std::uint64_t size,
                          const validators& current, std::chrono::sys_seconds now) {
  if (!range) return {};
  if (if_range && !if_range_matches(*if_range, current, now)) return {};
  return parse_range(*range, size);
}

std::string content_range(byte_range range, std::uint64_t size) {
  std::string out = "bytes ";
  out += std::to_string(range.offset);
  out += '-';
  out += std::to_string(range.offset + range.length - 1);
  out += '/';
  out += std::to_string(size);
  return out;
}

std::string unsatisfied_content_range(std::uint64_t size) {
  return "bytes */" + std::to_string(size);
}

}  // namespace zcopy::http
