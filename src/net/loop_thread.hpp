// loop_thread: what every per-thread event loop of the server and the relay has alike: its
// thread, the eventfd that wakes its epoll_wait when a stop is requested, and the request itself
// (a flag and the grace period that open connections get). Each worker struct derives from it and
// provides run(); the owner starts, stops and joins them through the functions below.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

#include "zcopy/fd.hpp"

namespace zcopy::net {

struct loop_thread {
  unique_fd wake;  // eventfd, in the loop's epoll set: readable once a stop is requested
  std::atomic<bool> stopping{false};
  std::atomic<std::int64_t> grace_ms{0};
  std::thread thread;

  // Creates `wake` (non-blocking, close-on-exec).
  std::error_code open_wake();
  // Called by the loop when `wake` is readable: clears it so level-triggered epoll goes quiet.
  void drain_wake() noexcept;
  // From any thread: sets the grace period and the flag, then wakes the loop.
  void request_stop(std::chrono::milliseconds grace) noexcept;
};

template <class Worker>
void start_loops(std::vector<std::unique_ptr<Worker>>& workers) {
  for (auto& w : workers) {
    Worker* raw = w.get();
    w->thread = std::thread([raw] { raw->run(); });
  }
}

template <class Worker>
void stop_loops(std::vector<std::unique_ptr<Worker>>& workers, std::chrono::milliseconds grace) {
  for (auto& w : workers) w->request_stop(grace);
}

template <class Worker>
void join_loops(std::vector<std::unique_ptr<Worker>>& workers) {
  for (auto& w : workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

}  // namespace zcopy::net
