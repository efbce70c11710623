#include "http/conditional.hpp"

#include <cstdio>

#include "http/date.hpp"
#include "http/syntax.hpp"

namespace zcopy::http {

namespace {

// etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3)
bool is_etagc(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

struct entity_tag {
  bool weak = false;
  std::string_view opaque;  // with the quotes
};

// One entity-tag at the front of `text`, consumed; nullopt on a syntax error.
std::optional<entity_tag> take_etag(std::string_view& text) {
  entity_tag tag;
  if (text.starts_with("W/")) {
    tag.weak = true;
    text.remove_prefix(2);
  }
  if (text.empty() || text.front() != '"') return std::nullopt;
  std::size_t i = 1;
  while (i < text.size() && is_etagc(text[i])) ++i;
  if (i >= text.size() || text[i] != '"') return std::nullopt;
  tag.opaque = text.substr(0, i + 1);
  text.remove_prefix(i + 1);
  return tag;
}

}  // namespace

std::string make_etag(std::chrono::sys_seconds mtime, std::uint64_t size) {
  // nginx: ngx_sprintf(etag, "\"%xT-%xO\"", last_modified_time, content_length_n)
  char buf[48];
  const int n = std::snprintf(buf, sizeof buf, "\"%llx-%llx\"",
                              static_cast<unsigned long long>(mtime.time_since_epoch().count()),
                              static_cast<unsigned long long>(size));
  return std::string(buf, static_cast<std::size_t>(n));
}

validators make_validators(const struct stat& st) {
  validators v;
  v.last_modified = modification_time(st);
  v.etag = make_etag(v.last_modified, static_cast<std::uint64_t>(st.st_size));
  return v;
}

bool etag_list_matches(std::string_view list, std::string_view etag, bool weak) {
  list = trim_ows(list);
  if (list == "*") return true;
  std::string_view current = etag;
  bool current_weak = false;
  if (current.starts_with("W/")) {
    current_weak = true;
    current.remove_prefix(2);
  }
  while (!list.empty()) {
    // #rule: empty list elements and OWS around commas are allowed (RFC 9110 §5.6.1.2).
    while (!list.empty() && (is_ows(list.front()) || list.front() == ',')) list.remove_prefix(1);
    if (list.empty()) break;
    auto tag = take_etag(list);
    if (!tag) return false;
    if (tag->opaque == current && (weak || (!tag->weak && !current_weak))) return true;
    while (!list.empty() && is_ows(list.front())) list.remove_prefix(1);
    if (!list.empty() && list.front() != ',') return false;
  }
  return false;
}

bool if_range_matches(std::string_view if_range, const validators& current,
                      std::chrono::sys_seconds now) {
  if_range = trim_ows(if_range);
  if (if_range.starts_with("W/")) return false;  // a weak tag never validates a range
  if (if_range.starts_with("\"")) {
    std::string_view rest = if_range;
    auto tag = take_etag(rest);
    return tag && rest.empty() && tag->opaque == current.etag;
  }
  auto date = parse_http_date(if_range, now);
  return date && *date == current.last_modified;
}

precondition evaluate_preconditions(const conditional_headers& headers, const validators& current,
                                    bool get_or_head, std::chrono::sys_seconds now) {
  // Steps 1 and 2: the client's copy must still be current (used for lost-update avoidance; on a
  // read-only server they matter for clients resuming with If-Match).
  if (headers.if_match) {
    if (!etag_list_matches(*headers.if_match, current.etag, false)) return precondition::failed;
  } else if (headers.if_unmodified_since) {
    auto date = parse_http_date(trim_ows(*headers.if_unmodified_since), now);
    if (date && current.last_modified > *date) return precondition::failed;
  }
  // Steps 3 and 4: the client's cached copy is still good.
  if (headers.if_none_match) {
    if (etag_list_matches(*headers.if_none_match, current.etag, true)) {
      return get_or_head ? precondition::not_modified : precondition::failed;
    }
  } else if (headers.if_modified_since && get_or_head) {
    // "A date which is later than the server's current time is invalid" (RFC 2616 §14.25;
    // Apache ignores it too, nginx's exact match never meets it): no client holds a copy from the
    // future, and taking the date would answer 304 to every change made before it.
    auto date = parse_http_date(trim_ows(*headers.if_modified_since), now);
    if (date && *date <= now && current.last_modified <= *date) return precondition::not_modified;
  }
  return precondition::proceed;
}

}  // namespace zcopy::http
