// Request-target decoding (RFC 9112 §3.2, RFC 3986): from the bytes of the request line to the
// path that is looked up under ROOT. This is the first line of defence against traversal; the
// second is resolve.hpp, which opens with RESOLVE_BENEATH whatever this lets through.
//
// Steps, in order:
//   1. origin-form "/p?q" is taken as is; absolute-form "http://host/p?q" keeps only "/p?q"
//      (RFC 9112 §3.2.2); any other form (asterisk, authority, relative) is rejected;
//   2. the fragment and the query are cut off (the query is kept, raw, for redirects);
//   3. percent-decoding: a '%' not followed by two hex digits, an encoded NUL (%00) and an encoded
//      slash (%2F) are rejected. nginx decodes %2F into a separator; refusing it means a name can
//      never mean two different paths;
//   4. dot segments are removed after decoding (so %2e%2e is ".."), as in RFC 3986 §5.2.4, except
//      that a ".." above the root is an error, never clamped to "/" (a client that sends one is
//      probing, and nginx answers 400 too); runs of slashes collapse to one (nginx merge_slashes).
// Every failure is a 400.
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace zcopy::http {

enum class target_error {
  malformed,      // not origin-form or absolute-form, or an empty path
  bad_escape,     // '%' without two hex digits
  encoded_nul,    // %00
  encoded_slash,  // %2F / %2f
  above_root,     // a ".." segment that would leave the root
};

std::string_view describe(target_error error) noexcept;

struct decoded_target {
  std::string path;             // decoded and normalised; starts with '/'; no "//", "." or ".."
  std::string query;            // raw, without the '?' (empty when there was none)
  bool has_query = false;       // "?" was present, even with nothing after it
  bool trailing_slash = false;  // the path ends with '/' (always true for "/")
};

std::expected<decoded_target, target_error> decode_target(std::string_view target);

// The authority of an absolute-form target ("http://host:8080/x" → "host:8080"); empty for
// origin-form. RFC 9112 §3.2.2: with an absolute-form target the server uses this, not Host.
std::string_view target_authority(std::string_view target) noexcept;

// Percent-encodes everything but RFC 3986 unreserved characters and '/', for a decoded path put
// back into a Location header or an href. ':' is encoded too, so that a relative href made from a
// file name like "javascript:x" can never read as a scheme.
std::string percent_encode_path(std::string_view path);

}  // namespace zcopy::http
