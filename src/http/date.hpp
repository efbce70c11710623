// HTTP-date (RFC 9110 §5.6.7): formatting in IMF-fixdate, the only form a sender may generate,
// and parsing of the three forms a recipient must accept (IMF-fixdate, the obsolete RFC 850 form
// and asctime). Pure functions on std::chrono::sys_seconds: no locale, no time zone (HTTP dates
// are always GMT), no system call. Used for Date, Last-Modified, If-Modified-Since,
// If-Unmodified-Since and If-Range.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace zcopy::http {

// "Sun, 06 Nov 1994 08:49:37 GMT". Years outside 0..9999 are clamped to that range so the
// output always has the fixed length of 29 characters.
std::string format_http_date(std::chrono::sys_seconds time);
void append_http_date(std::string& out, std::chrono::sys_seconds time);

// Any of the three forms, exactly as the grammar spells them (a header value is trimmed before it
// gets here). `now` resolves the two-digit year of the RFC 850 form: a year that would lie more
// than 50 years in the future is taken from the previous century (RFC 9110 §5.6.7).
std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text,
                                                        std::chrono::sys_seconds now);

// A file's modification time in whole seconds (HTTP dates have no finer resolution; nginx's
// ETag uses the same truncated value).
std::chrono::sys_seconds modification_time(const struct stat& st);

}  // namespace zcopy::http
