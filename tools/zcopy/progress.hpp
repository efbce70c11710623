// The progress bar the subcommands share (cp, get): bytes, rate over the last few seconds, ETA,
// redrawn at 5 Hz on a terminal (once a second as plain lines elsewhere) by a thread of its own,
// and only once the job has lasted a second, so short jobs stay silent.
//
// Ownership: a `terminal` is the one place that writes to stderr while a bar may be shown; the
// subcommand owns it and writes its own lines through it, so an error never lands in the middle
// of the bar. A `progress_bar` borrows the terminal and owns its thread; finish() (or the
// destructor) stops the thread and erases the bar. update() and segment_done() are lock-free and
// may be called from any thread (the transfer's on_progress).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace zcopy::cli {

class terminal {
 public:
  // Writes one line (a newline is added) after erasing the bar.
  void line(std::FILE* stream, const std::string& text);
  // Writes `question` on stderr and reads one line of stdin, holding the lock so that no other
  // line or bar lands in between: whether the answer begins with 'y' or 'Y' (end of input: no).
  bool ask(const std::string& question);
  void draw_bar(const std::string& text, bool tty);
  void erase_bar();

 private:
  void erase_bar_locked();
  std::mutex mutex_;
  bool bar_shown_ = false;
};

// "1.5 MiB", "17 B".
std::string human(double bytes);
// "1:05", "2:03:04".
std::string clock_text(double seconds);

class progress_bar {
 public:
  // Runs on the bar's thread before the first draw: the total bytes, or nullopt when unknown
  // (then no percentage or ETA). It may take long (cp walks the sources); `quit` tells it the job
  // is over.
  using total_function = std::function<std::optional<std::uint64_t>(const std::atomic<bool>& quit)>;

  // `already`: bytes done before this bar started (a resumed download); counted in the total
  // shown, not in the rate.
  progress_bar(terminal& term, bool tty, total_function total, std::uint64_t already = 0);
  ~progress_bar();
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

  // The running count of the current segment (never shown going backwards).
  void update(std::uint64_t bytes);
  // A segment (cp: one SOURCE operand) ended with `bytes`; update() counts from 0 again.
  void segment_done(std::uint64_t bytes);
  void finish();

 private:
  void run();

  terminal& term_;
  bool tty_;
  std::uint64_t already_;
  std::atomic<std::uint64_t> done_{0};       // finished segments, `already` included
  std::atomic<std::uint64_t> in_flight_{0};  // the current segment's running total
  std::atomic<std::uint64_t> total_{0};      // total + 1 once known; 0 while unknown
  std::atomic<bool> quit_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace zcopy::cli
