#include "core/uring.hpp"

#ifdef ZCOPY_WITH_URING

#include <atomic>
#include <mutex>
#include <thread>

#include "sys/sys.hpp"

namespace zcopy::detail {

namespace {

struct probed {
  std::once_flag once;
  uring_support_info info;
  std::mutex hidden_lock;
  std::bitset<256> hidden;
};

probed& state() {
  static probed p;
  return p;
}

void probe_kernel(uring_support_info& info) {
  io_uring ring{};
  io_uring_params params{};
  if (auto r = sys::uring_setup(2, &ring, &params); !r) {
    info.setup_error = r.error();
    return;
  }
  info.features = params.features;
  if (io_uring_probe* p = io_uring_get_probe_ring(&ring)) {
    sys::count(syscall_kind::io_uring_register);
    for (unsigned op = 0; op <= p->last_op && op < 256; ++op) {
      if (io_uring_opcode_supported(p, static_cast<int>(op))) info.ops.set(op);
    }
    io_uring_free_probe(p);
  }
  io_uring_queue_exit(&ring);
}

}  // namespace

bool uring_support_info::has(unsigned op) const noexcept {
  return !setup_error && op < ops.size() && ops.test(op);
}

uring_support_info uring_support() {
  probed& p = state();
  // On a thread of its own: a thread that makes a ring stays tied to it after it is closed, and
  // the kernel's teardown interrupts that thread's blocking calls (EINTR from a recv with
  // SO_RCVTIMEO) until it returns to user space. A thread that ends is untied at its exit.
  std::call_once(p.once, [&] { std::thread([&] { probe_kernel(p.info); }).join(); });
  uring_support_info info = p.info;
  std::lock_guard lock(p.hidden_lock);
  info.ops &= ~p.hidden;
  return info;
}

void hide_uring_op_for_testing(unsigned op, bool hidden) {
  probed& p = state();
  std::lock_guard lock(p.hidden_lock);
  p.hidden.set(op, hidden);
}

void uring::deleter::operator()(io_uring* r) const noexcept {
  io_uring_queue_exit(r);
  delete r;
}

uring& uring::operator=(uring&& other) noexcept {
  ring_ = std::move(other.ring_);
  return *this;
}

uring::~uring() = default;

std::expected<uring, std::error_code> uring::create(config c) {
  auto ring = std::make_unique<io_uring>();
  io_uring_params params{};
  // A completion queue twice the submission queue (the kernel's default) is enough for event
  // loops: the kernel keeps overflowing completions (IORING_FEAT_NODROP, 5.5) rather than drop
  // them.
  if (c.single_issuer) {
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (auto r = sys::uring_setup(c.entries, ring.get(), &params); r) {
      // The one issuing thread registers the ring's descriptor: io_uring_enter then skips the
      // descriptor lookup on every call (5.18; liburing uses it by itself, failure is harmless).
      sys::count(syscall_kind::io_uring_register);
      (void)io_uring_register_ring_fd(ring.get());
      uring u;
      u.ring_.reset(ring.release());
      return u;
    } else if (r.error() != std::errc::invalid_argument) {
      return std::unexpected(r.error());
    }
    params = {};  // a kernel before 6.1: EINVAL for the flags; a plain ring does the same work
  }
  if (auto r = sys::uring_setup(c.entries, ring.get(), &params); !r) {
    return std::unexpected(r.error());
  }
  uring u;
  u.ring_.reset(ring.release());
  return u;
}

std::expected<io_uring_sqe*, std::error_code> uring::next_sqe() {
  if (io_uring_sqe* s = io_uring_get_sqe(ring_.get())) return s;
  if (auto r = sys::uring_submit(ring_.get(), 0); !r) return std::unexpected(r.error());
  if (io_uring_sqe* s = io_uring_get_sqe(ring_.get())) return s;
  return std::unexpected(std::make_error_code(std::errc::device_or_resource_busy));
}

std::expected<unsigned, std::error_code> uring::submit(unsigned wait_nr) {
  return sys::uring_submit(ring_.get(), wait_nr);
}

std::error_code uring::submit_and_wait(unsigned wait_nr, std::chrono::milliseconds timeout) {
  auto r = sys::uring_submit_wait(ring_.get(), wait_nr, static_cast<int>(timeout.count()));
  return r ? std::error_code{} : r.error();
}

unsigned uring::queued() const noexcept {
  return io_uring_sq_ready(ring_.get());
}

}  // namespace zcopy::detail

#endif
