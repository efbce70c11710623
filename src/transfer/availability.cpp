// Which mechanisms the kernel lets this process use at all.
//
// A missing system call (ENOSYS: old kernel, or a sandbox that stubs it) or one blocked by a
// seccomp filter (EPERM, as Docker's default profile did for copy_file_range: golang/go#40893)
// fails the same way for every file, so it is remembered for the process and not retried on
// every transfer. EPERM is ambiguous: CIFS also returns it for copy_file_range on some files
// (libuv#3354). Rust std disambiguates by probing the call with invalid descriptors: a syscall
// that exists answers EBADF, a blocked or missing one answers EPERM/ENOSYS again. We do the same.
#include <atomic>
#include <cstdio>

#include "sys/sys.hpp"
#include "transfer/state.hpp"

namespace zcopy::detail {
namespace {

enum : int { unknown = 0, available = 1, unavailable = 2 };

std::atomic<int> states[method_count];

std::atomic<int>& state_of(method m) {
  return states[static_cast<std::size_t>(m)];
}

template <class T>
std::error_code error_of(const sys::result<T>& r) {
  return r ? std::error_code{} : r.error();
}

// Calls the method's system call with invalid descriptors. EBADF means the call exists.
std::error_code probe_with_bad_fds(method m) {
  switch (m) {
    case method::sendfile:
      return error_of(sys::sendfile(-1, -1, nullptr, 1));
    case method::splice:
      return error_of(sys::splice(-1, nullptr, -1, nullptr, 1, 0));
    case method::copy_file_range:
      return error_of(sys::copy_file_range(-1, nullptr, -1, nullptr, 1, 0));
    default:
      return {};
  }
}

}  // namespace

bool method_available(method m) noexcept {
  return state_of(m).load(std::memory_order_relaxed) != unavailable;
}

bool note_refusal(method m, std::error_code ec) noexcept {
  if (ec != std::errc::function_not_supported && ec != std::errc::operation_not_permitted) {
    return false;
  }
  if (m == method::io_uring) {  // io_uring_setup: ENOSYS or EPERM (io_uring_disabled) is final
    state_of(m).store(unavailable, std::memory_order_relaxed);
    return true;
  }
  if (ec == std::errc::operation_not_permitted &&
      probe_with_bad_fds(m) == std::errc::bad_file_descriptor) {
    state_of(m).store(available, std::memory_order_relaxed);
    return false;  // the call exists: this EPERM is about the file (CIFS), fall back this once
  }
  state_of(m).store(unavailable, std::memory_order_relaxed);
  return true;
}

bool kernel_at_least(int major, int minor) noexcept {
  static const int version = [] {
    auto u = sys::uname();
    if (!u) return 0;
    int a = 0, b = 0;
    if (std::sscanf(u->release, "%d.%d", &a, &b) != 2) return 0;
    return a * 1000 + b;
  }();
  return version >= major * 1000 + minor;
}

void reset_availability_for_tests() noexcept {
  for (auto& s : states) s.store(unknown, std::memory_order_relaxed);
}

}  // namespace zcopy::detail
