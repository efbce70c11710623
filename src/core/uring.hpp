// uring: one io_uring, owned, and what this kernel's io_uring offers.
//
// Built on liburing. Every submission goes through src/sys (counted, EINTR retried, the tests'
// fault seam). `uring_support()` asks io_uring_get_probe once per process, so an opcode the kernel
// lacks (IORING_OP_SEND_ZC before 6.0, multishot accept before 5.19) is known before it is used;
// tests hide opcodes to drive every fallback. Only in builds with liburing (ZCOPY_WITH_URING).
#pragma once

#ifdef ZCOPY_WITH_URING
#include <liburing.h>

#include <bitset>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <system_error>

namespace zcopy::detail {

struct uring_support_info {
  std::error_code setup_error;  // why no ring can be made here (ENOSYS, EPERM); empty when one can
  std::bitset<256> ops;         // opcodes the probe reports
  unsigned features = 0;        // IORING_FEAT_* of a plain ring
  bool has(unsigned op) const noexcept;
};

// What this kernel offers, probed on the first call (thread-safe), minus the opcodes hidden by
// tests.
uring_support_info uring_support();
// Tests: report `op` as missing (or present again) from now on.
void hide_uring_op_for_testing(unsigned op, bool hidden);

// Kernel ABI values newer than Debian 12's liburing 2.3 headers.
inline constexpr unsigned send_zc_report_usage = 1u << 3;         // IORING_SEND_ZC_REPORT_USAGE
inline constexpr std::uint32_t notif_usage_zc_copied = 1u << 31;  // IORING_NOTIF_USAGE_ZC_COPIED

class uring {
 public:
  struct config {
    unsigned entries = 64;
    // Only the creating thread submits (an event loop): SINGLE_ISSUER | DEFER_TASKRUN (6.1) let
    // the kernel skip locking and run completion work when the loop waits instead of
    // interrupting it. Dropped where the kernel refuses them.
    bool single_issuer = false;
  };
  static std::expected<uring, std::error_code> create(config c);
  static std::expected<uring, std::error_code> create() { return create(config{}); }

  uring(uring&&) noexcept = default;
  uring& operator=(uring&&) noexcept;
  ~uring();

  io_uring* get() const noexcept { return ring_.get(); }

  // A free submission entry. When the queue is full the queued entries are submitted first; that
  // can fail (EBUSY: the completion queue is full, reap first).
  std::expected<io_uring_sqe*, std::error_code> next_sqe();
  // Submits what is queued and waits for `wait_nr` completions. Returns the entries submitted.
  std::expected<unsigned, std::error_code> submit(unsigned wait_nr = 0);
  // Submits and waits at most `timeout` for `wait_nr` completions (a timeout is not an error).
  std::error_code submit_and_wait(unsigned wait_nr, std::chrono::milliseconds timeout);
  // Calls f(const io_uring_cqe&) for each completion ready now and marks them seen. `f` may
  // queue new entries. Returns how many it saw.
  template <class F>
  unsigned for_each_completion(F&& f) {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(ring_.get(), head, cqe) {
      f(*cqe);
      ++seen;
    }
    io_uring_cq_advance(ring_.get(), seen);
    return seen;
  }
  // Entries queued but not yet submitted.
  unsigned queued() const noexcept;

 private:
  uring() = default;
  struct deleter {
    void operator()(io_uring* r) const noexcept;
  };
  std::unique_ptr<io_uring, deleter> ring_;
};

}  // namespace zcopy::detail

#endif
