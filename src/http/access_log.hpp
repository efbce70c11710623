// access_log: nginx's "combined" access log, buffered per worker thread.
//
//   127.0.0.1 - - [23/Nov/2026:18:02:11 +0000] "GET /a.txt HTTP/1.1" 200 5120 "-" "curl/7.88.1"
//
// Fields are escaped as nginx escapes them (`"`, `\` and bytes outside 0x20..0x7e become \xHH),
// so a request line can never forge a second log entry. Each worker fills its own `buffer` and
// hands whole lines to the shared log when the buffer passes 32 KiB, on `flush` (the event loop's
// once-a-second tick) and when the buffer is destroyed: one write per flush, with O_APPEND, so
// lines from different workers never interleave (nginx's `access_log ... buffer=32k flush=1s`).
//
// `reopen` (on SIGHUP) opens the path again and switches to it, for log rotation: move the file
// away, send SIGHUP, and the next flush goes to a new file with the old name. "-" logs to stdout.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>

#include "zcopy/fd.hpp"

namespace zcopy::http {

class access_log {
 public:
  // Opens `path` for appending (created 0644), or stdout for "-".
  static std::expected<access_log, std::error_code> open(std::string path);

  access_log(access_log&&) noexcept;
  access_log& operator=(access_log&&) = delete;

  // Opens the path again and switches to the new descriptor; on failure the old one stays.
  std::expected<void, std::error_code> reopen();
  // Appends whole lines (one write; a short write is completed).
  void write(std::string_view lines);

  class buffer {
   public:
    explicit buffer(access_log* log) : log_(log) {}
    ~buffer() { flush(); }
    buffer(const buffer&) = delete;
    buffer& operator=(const buffer&) = delete;

    // One entry. `request_line` and the header values are raw (escaped here); `time` is when the
    // request arrived.
    void add(std::string_view remote, std::chrono::system_clock::time_point time,
             std::string_view request_line, int status, std::uint64_t body_bytes,
             std::string_view referer, std::string_view user_agent);
    void flush();
    bool enabled() const noexcept { return log_ != nullptr; }

   private:
    access_log* log_;
    std::string pending_;
    std::int64_t cached_second_ = -1;
    std::string cached_time_;
  };

 private:
  access_log(std::string path, unique_fd fd, bool standard_output)
      : path_(std::move(path)), fd_(std::move(fd)), standard_output_(standard_output) {}

  std::string path_;
  std::mutex mutex_;  // guards fd_: workers flush while SIGHUP reopens
  unique_fd fd_;
  bool standard_output_ = false;
};

// nginx's escaping of a logged variable; "-" for an empty value.
void append_log_field(std::string& out, std::string_view value);

}  // namespace zcopy::http
