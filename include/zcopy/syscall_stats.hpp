// Per-thread system call counters.
//
// Every system call libzcopy issues goes through one thin layer (src/sys) that retries EINTR and
// counts the call on the calling thread. These counters are what `transfer_result::syscalls`,
// `zcopy bench` and the tests read: "sendfile moved 1 GiB in 3 calls" is a measurement, not a
// claim. Counters are thread-local, so a receiver thread does not pollute a sender's numbers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace zcopy {

// The system calls the library issues, one entry each. An EINTR retry counts as a second call.
enum class syscall_kind : unsigned {
  read,
  write,
  pread,
  pwrite,
  readv,
  writev,
  sendfile,
  splice,
  tee,
  vmsplice,
  copy_file_range,
  ioctl,
  mmap,
  munmap,
  msync,
  madvise,
  lseek,
  fstat,
  fstatfs,
  statx,
  openat,
  close,
  pipe2,
  fcntl,
  ftruncate,
  fallocate,
  fsync,
  fdatasync,
  fadvise,
  poll,
  readlink,
  socket,
  bind,
  listen,
  accept4,
  connect,
  getsockname,
  getpeername,
  getsockopt,
  setsockopt,
  shutdown,
  send,
  recv,
  sendmsg,
  recvmsg,
  io_uring_setup,
  io_uring_enter,
  io_uring_register,
  epoll_create1,
  epoll_ctl,
  epoll_wait,
  fstatat,
  mkdirat,
  unlinkat,
  renameat2,
  symlinkat,
  readlinkat,
  linkat,
  mknodat,
  fchmod,
  fchmodat,
  fchown,
  fchownat,
  utimensat,  // futimens(3) is utimensat with no path: counted here too
  getdents64,
  mincore,
  listxattr,
  getxattr,
  fsetxattr,
  sigaction,  // rt_sigaction
  eventfd,    // eventfd2
  other,
  count_  // not a call: the number of kinds
};

inline constexpr std::size_t syscall_kind_count = static_cast<std::size_t>(syscall_kind::count_);

// The name of a syscall kind, as the kernel spells it ("copy_file_range").
std::string_view syscall_name(syscall_kind kind) noexcept;

struct syscall_counts {
  std::array<std::uint64_t, syscall_kind_count> calls{};

  std::uint64_t total() const noexcept;
  std::uint64_t operator[](syscall_kind kind) const noexcept {
    return calls[static_cast<std::size_t>(kind)];
  }
  friend syscall_counts operator-(const syscall_counts& a, const syscall_counts& b) noexcept;
};

// The calls made by the current thread since it started.
syscall_counts thread_syscall_counts() noexcept;

}  // namespace zcopy
