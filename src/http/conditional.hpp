// Validators and conditional requests (RFC 9110 §8.8 and §13) for files served from disk.
//
// The ETag is nginx's: "<mtime seconds in hex>-<size in hex>", quoted, strong. Two versions of a
// file written within the same second with the same size share an ETag; nginx accepts that and so
// do we (the alternative, hashing content, would read every file).
//
// evaluate_preconditions follows the order of RFC 9110 §13.2.2:
//   1. If-Match (strong comparison)              false → 412
//   2. else If-Unmodified-Since                  false → 412
//   3. If-None-Match (weak comparison)           false → 304 for GET/HEAD, 412 otherwise
//   4. else If-Modified-Since (GET/HEAD only)    false → 304
// An invalid date is ignored (§13.1.3, §13.1.4), and an If-Modified-Since date later than `now`
// is invalid (RFC 2616 §14.25; nginx and Apache answer 200); an If-Unmodified-Since date in the
// future is valid (no RFC rule says otherwise) and simply holds. An If-Modified-Since is
// satisfied when the file is not newer than the date (mtime <= date), the RFC's rule. nginx's
// default
// (`if_modified_since exact`) wants equality instead; clients send back the Last-Modified they
// got, so both answer the same in practice.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zcopy::http {

struct validators {
  std::string etag;  // with its quotes: "\"5f1e2d3c-1a2b\""
  std::chrono::sys_seconds last_modified{};
};

std::string make_etag(std::chrono::sys_seconds mtime, std::uint64_t size);
validators make_validators(const struct stat& st);

// The conditional header fields of a request, absent when not sent.
struct conditional_headers {
  std::optional<std::string_view> if_match;
  std::optional<std::string_view> if_none_match;
  std::optional<std::string_view> if_modified_since;
  std::optional<std::string_view> if_unmodified_since;
};

enum class precondition {
  proceed,       // serve as usual (Range may still apply)
  not_modified,  // 304
  failed,        // 412
};

precondition evaluate_preconditions(const conditional_headers& headers, const validators& current,
                                    bool get_or_head, std::chrono::sys_seconds now);

// Entity-tag list matching (RFC 9110 §8.8.3.2). `list` is "*" or a comma-separated list of
// entity-tags; a syntax error ends the list (tags before it still count). Weak comparison ignores
// the W/ prefix on either side; strong comparison needs both tags strong and equal.
bool etag_list_matches(std::string_view list, std::string_view etag, bool weak);

// If-Range (RFC 9110 §13.1.5): an entity-tag must match strongly; an HTTP-date must equal
// Last-Modified exactly. Anything else (a weak tag, an invalid value) does not match.
bool if_range_matches(std::string_view if_range, const validators& current,
                      std::chrono::sys_seconds now);

}  // namespace zcopy::http
