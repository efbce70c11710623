// Byte ranges (RFC 9110 §14): the Range header of a GET for a representation of a known size.
//
// Outcomes:
//   none           no Range, an invalid one, or a unit other than "bytes": serve the whole file
//                  with 200. §14.2 lets a server ignore Range, and requires it for a syntax error;
//   single         exactly one satisfiable range: 206 with Content-Range "bytes FIRST-LAST/SIZE";
//   multiple       two or more satisfiable ranges: we answer 200 with the whole body rather than
//                  multipart/byteranges (§14.2 allows ignoring Range; browsers and download tools
//                  only ask for one range; many small ranges are a known amplification vector,
//                  CVE-2011-3192). nginx answers multipart here: a documented difference;
//   unsatisfiable  no range-spec is satisfiable: 416 with Content-Range "bytes */SIZE" (§15.5.17).
//
// Satisfiable (§14.1.1): first-pos below the size, or a suffix-range with a non-zero length. A
// last-pos beyond the end is cut to the end; a suffix longer than the file means the whole file.
// Numbers too large for 64 bits saturate (so they are simply "beyond the end").
// A zero-length file has nothing a 206 could describe ("bytes 0--1/0" does not exist): an
// int-range there is unsatisfiable (416), and a suffix-range, satisfiable by the RFC's letter, is
// answered with the whole, empty, body (200). nginx answers 416 for both.
//
// If-Range (§13.1.5) is evaluated by select_range: when present and not matching, Range is ignored.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/conditional.hpp"

namespace zcopy::http {

enum class range_kind { none, single, multiple, unsatisfiable };

struct byte_range {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  friend bool operator==(const byte_range&, const byte_range&) = default;
};

struct range_result {
  range_kind kind = range_kind::none;
  byte_range range;  // for `single`
};

range_result parse_range(std::string_view header, std::uint64_t size);

// Range and If-Range together. GET only: RFC 9110 §14.2 says a server MUST ignore Range on any
// method for which range handling is not defined, and GET is the only one (so HEAD gets 200).
range_result select_range(std::optional<std::string_view> range,
                          std::optional<std::string_view> if_range, std::uint64_t size,
                          const validators& current, std::chrono::sys_seconds now);

// "bytes 0-99/1000"
std::string content_range(byte_range range, std::uint64_t size);
// "bytes */1000"
std::string unsatisfied_content_range(std::uint64_t size);

}  // namespace zcopy::http
