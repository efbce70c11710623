#include "net/loop_thread.hpp"

#include <sys/eventfd.h>

#include "sys/sys.hpp"

namespace zcopy::net {

std::error_code loop_thread::open_wake() {
  auto efd = sys::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!efd) return efd.error();
  wake.reset(*efd);
  return {};
}

void loop_thread::drain_wake() noexcept {
  std::uint64_t v;
  (void)sys::read(wake.get(), &v, sizeof v);
}

void loop_thread::request_stop(std::chrono::milliseconds grace) noexcept {
  grace_ms = grace.count();
  stopping = true;
  const std::uint64_t one = 1;
  (void)sys::write(wake.get(), &one, sizeof one);
}

}  // namespace zcopy::net
