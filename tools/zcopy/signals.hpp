// Signals taken synchronously: blocked in every thread, waited for by one.
//
// `blocked_signals` blocks a set in the calling thread; it must be made before any other thread
// starts, so that every thread inherits the mask and no handler ever runs in the middle of a copy
// or an event loop. `wait()` takes the next one (serve and relay wait in their main thread).
//
// `signal_watch`, for the subcommands that run long jobs (cp, get), turns SIGINT and SIGTERM into
// a stop request: it owns one thread that waits for them, and SIGUSR1 wakes that thread at the
// end. The stop token goes into the library's options.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <initializer_list>
#include <stop_token>
#include <thread>

#include "sys/sys.hpp"

namespace zcopy::cli {

class blocked_signals {
 public:
  blocked_signals(std::initializer_list<int> signals) {
    sigemptyset(&set_);
    for (int s : signals) sigaddset(&set_, s);
    // Fails only for an invalid `how`: a programming error, not a condition to handle.
    (void)sys::pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  // The next of the signals (sigwait cannot fail for a valid set of real signals).
  int wait() const {
    for (;;) {
      if (auto s = sys::sigwait(set_)) return *s;
    }
  }

 private:
  sigset_t set_;
};

class signal_watch {
 public:
  signal_watch() {
    thread_ = std::thread([this] {
      for (;;) {
        const int sig = blocked_.wait();
        if (sig == SIGUSR1) {
          if (done_.load()) return;
          continue;
        }
        int expected = 0;
        received_.compare_exchange_strong(expected, sig);
        stop_.request_stop();
      }
    });
  }
  ~signal_watch() {
    done_.store(true);
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }
  signal_watch(const signal_watch&) = delete;
  signal_watch& operator=(const signal_watch&) = delete;

  std::stop_token token() const { return stop_.get_token(); }
  int received() const { return received_.load(); }  // 0: none

 private:
  blocked_signals blocked_{SIGINT, SIGTERM, SIGUSR1};  // before the thread: it inherits the mask
  std::stop_source stop_;
  std::atomic<int> received_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace zcopy::cli
