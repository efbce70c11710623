#include "http/access_log.hpp"

#include <fmt/format.h>
#include <time.h>

#include "sys/sys.hpp"

namespace zcopy::http {

namespace {

constexpr std::size_t flush_threshold = 32 * 1024;
constexpr int log_flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;

}  // namespace

std::expected<access_log, std::error_code> access_log::open(std::string path) {
  if (path == "-") {
    auto copy = sys::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
    if (!copy) return std::unexpected(copy.error());
    return access_log(std::move(path), unique_fd(*copy), true);
  }
  auto fd = sys::open(path.c_str(), log_flags, 0644);
  if (!fd) return std::unexpected(fd.error());
  return access_log(std::move(path), unique_fd(*fd), false);
}

access_log::access_log(access_log&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::move(other.fd_)),
      standard_output_(other.standard_output_) {}

std::expected<void, std::error_code> access_log::reopen() {
  if (standard_output_) return {};
  auto fd = sys::open(path_.c_str(), log_flags, 0644);
  if (!fd) return std::unexpected(fd.error());
  std::lock_guard lock(mutex_);
  fd_ = unique_fd(*fd);
  return {};
}

void access_log::write(std::string_view lines) {
  std::lock_guard lock(mutex_);
  // A full disk loses log lines, never requests: the error is not the client's business.
  (void)sys::write_all(fd_.get(), lines.data(), lines.size());
}

void append_log_field(std::string& out, std::string_view value) {
  if (value.empty()) {
    out += '-';
    return;
  }
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\' || c < 0x20 || c > 0x7e) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += ch;
    }
  }
}

void access_log::buffer::add(std::string_view remote, std::chrono::system_clock::time_point time,
                             std::string_view request_line, int status, std::uint64_t body_bytes,
                             std::string_view referer, std::string_view user_agent) {
  if (!log_) return;
  const std::int64_t second =
      std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
  if (second != cached_second_) {
    // $time_local: local time with its offset, formatted once per second.
    const time_t t = static_cast<time_t>(second);
    struct tm local {};
    localtime_r(&t, &local);
    char text[64];
    const std::size_t n = strftime(text, sizeof text, "%d/%b/%Y:%H:%M:%S %z", &local);
    cached_time_.assign(text, n);
    cached_second_ = second;
  }
  pending_ += remote;
  pending_ += " - - [";
  pending_ += cached_time_;
  pending_ += "] \"";
  append_log_field(pending_, request_line);
  fmt::format_to(std::back_inserter(pending_), "\" {} {} \"", status, body_bytes);
  append_log_field(pending_, referer);
  pending_ += "\" \"";
  append_log_field(pending_, user_agent);
  pending_ += "\"\n";
  if (pending_.size() >= flush_threshold) flush();
}

void access_log::buffer::flush() {
  if (pending_.empty() || !log_) return;
  log_->write(pending_);
  pending_.clear();
}

}  // namespace zcopy::http
