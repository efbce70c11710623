#include "progress.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <iterator>
#include <utility>

namespace zcopy::cli {

namespace {
using clock = std::chrono::steady_clock;
}  // namespace
using namespace std::chrono_literals;

void terminal::line(std::FILE* stream, const std::string& text) {
  std::lock_guard lock(mutex_);
  erase_bar_locked();
  std::fputs(text.c_str(), stream);
  std::fputc('\n', stream);
  std::fflush(stream);
}

bool terminal::ask(const std::string& question) {
  std::lock_guard lock(mutex_);
  erase_bar_locked();
  std::fputs(question.c_str(), stderr);
  std::fflush(stderr);
  char answer[256];
  if (std::fgets(answer, sizeof answer, stdin) == nullptr) return false;
  // The rest of a long line is not the next answer.
  while (std::strchr(answer, '\n') == nullptr && std::fgets(answer, sizeof answer, stdin)) {
  }
  return answer[0] == 'y' || answer[0] == 'Y';
}

void terminal::draw_bar(const std::string& text, bool tty) {
  std::lock_guard lock(mutex_);
  if (tty) {
    fmt::print(stderr, "\r{}\033[K", text);
    bar_shown_ = true;
  } else {
    fmt::print(stderr, "{}\n", text);  // a file or pipe gets lines, no control characters
  }
  std::fflush(stderr);
}

void terminal::erase_bar() {
  std::lock_guard lock(mutex_);
  erase_bar_locked();
}

void terminal::erase_bar_locked() {
  if (!bar_shown_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  bar_shown_ = false;
}

std::string human(double bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  std::size_t u = 0;
  while (bytes >= 1024 && u + 1 < std::size(units)) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} {}", bytes, units[u])
                : fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string clock_text(double seconds) {
  const auto s = static_cast<std::uint64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

progress_bar::progress_bar(terminal& term, bool tty, total_function total, std::uint64_t already)
    : term_(term), tty_(tty), already_(already), done_(already) {
  thread_ = std::thread([this, total = std::move(total)] {
    if (total) {
      if (auto t = total(quit_)) total_.store(*t + 1, std::memory_order_relaxed);
    }
    run();
  });
}

progress_bar::~progress_bar() {
  finish();
}

void progress_bar::update(std::uint64_t bytes) {
  std::uint64_t seen = in_flight_.load(std::memory_order_relaxed);
  while (bytes > seen &&
         !in_flight_.compare_exchange_weak(seen, bytes, std::memory_order_relaxed)) {
  }
}

void progress_bar::segment_done(std::uint64_t bytes) {
  done_.fetch_add(bytes, std::memory_order_relaxed);
  in_flight_.store(0, std::memory_order_relaxed);
}

void progress_bar::finish() {
  {
    std::lock_guard lock(mutex_);
    if (quit_.exchange(true)) return;
  }
  wake_.notify_all();
  thread_.join();
  term_.erase_bar();
}

void progress_bar::run() {
  const auto start = clock::now();
  const auto period = tty_ ? 200ms : 1000ms;
  std::deque<std::pair<clock::time_point, std::uint64_t>> samples;
  std::uint64_t shown = 0;
  std::unique_lock lock(mutex_);
  auto next = start + 1s;
  while (!wake_.wait_until(lock, next, [this] { return quit_.load(); })) {
    const auto now = clock::now();
    next = now + period;
    // Never backwards: an in-flight value is dropped when another segment finishes first.
    shown = std::max(
        shown, done_.load(std::memory_order_relaxed) + in_flight_.load(std::memory_order_relaxed));
    const std::uint64_t copied = shown;
    samples.emplace_back(now, copied);
    while (samples.size() > 2 && now - samples.front().first > 3s) samples.pop_front();
    const double window = std::chrono::duration<double>(now - samples.front().first).count();
    const double rate = window > 0.1 ? static_cast<double>(copied - samples.front().second) / window
                                     : static_cast<double>(copied - std::min(copied, already_)) /
                                           std::chrono::duration<double>(now - start).count();
    const std::uint64_t total_plus_one = total_.load(std::memory_order_relaxed);
    std::string text = human(static_cast<double>(copied));
    if (total_plus_one > 0) {
      const std::uint64_t total = std::max(total_plus_one - 1, copied);
      const double fraction = total ? static_cast<double>(copied) / static_cast<double>(total) : 1;
      text += fmt::format(" / {} {:3.0f}%", human(static_cast<double>(total)), fraction * 100);
      text += fmt::format("  {}/s", human(rate));
      if (rate > 0) text += "  ETA " + clock_text(static_cast<double>(total - copied) / rate);
    } else {
      text += fmt::format("  {}/s", human(rate));
    }
    lock.unlock();
    term_.draw_bar(text, tty_);
    lock.lock();
  }
}

}  // namespace zcopy::cli
