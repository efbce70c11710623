// SIGINT and SIGTERM as a stop request, for the subcommands that run long jobs (cp, get).
//
// Ownership: a `signal_watch` owns one thread that sigwait()s. The constructor blocks SIGINT,
// SIGTERM and SIGUSR1 in the calling thread, so it must run before any other thread starts: every
// thread inherits the mask, no handler ever runs inside a copy, and only the watch's thread takes
// the signals. SIGUSR1 wakes it at the end. The stop token goes into the library's options.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <stop_token>
#include <thread>

namespace zcopy::cli {

class signal_watch {
 public:
  signal_watch() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] {
      for (;;) {
        int sig = 0;
        if (sigwait(&set_, &sig) != 0) continue;
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
  sigset_t set_;
  std::stop_source stop_;
  std::atomic<int> received_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace zcopy::cli
