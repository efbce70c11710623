// The syscall layer: EINTR retry, errno to std::error_code, per-thread counters, the hook table.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "support/test_support.hpp"
#include "sys/sys.hpp"
#include "zcopy/syscall_stats.hpp"

namespace zcopy {
namespace {

// Restores the real hook table however a test ends.
struct hook_guard {
  ~hook_guard() { sys::restore_hooks(); }
};

std::atomic<int> interrupts_left{0};
std::atomic<int> close_calls{0};

ssize_t read_interrupted_twice(int fd, void* buf, size_t n) {
  if (interrupts_left.fetch_sub(1) > 0) {
    errno = EINTR;
    return -1;
  }
  return sys::real_hooks().read(fd, buf, n);
}

// Linux releases the descriptor even when close reports EINTR; the hook does the same.
int close_interrupted(int fd) {
  ++close_calls;
  sys::real_hooks().close(fd);
  errno = EINTR;
  return -1;
}

std::uint64_t count_of(syscall_kind kind) {
  return thread_syscall_counts()[kind];
}

TEST(Sys, RetriesEintrAndCountsEachAttempt) {
  hook_guard restore;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  unique_fd read_end(fds[0]), write_end(fds[1]);
  auto data = test::random_bytes(64, test::test_seed());
  ASSERT_EQ(::write(write_end.get(), data.data(), data.size()), 64);

  // Two EINTRs, then the real read: the caller sees one successful read of all the bytes.
  interrupts_left = 2;
  sys::hooks().read = read_interrupted_twice;
  const auto before = count_of(syscall_kind::read);
  std::vector<std::byte> got(64);
  auto r = sys::read(read_end.get(), got.data(), got.size());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 64u);
  EXPECT_TRUE(test::same_bytes(data, got));
  // Each retry is a system call of its own, and the counters say so.
  EXPECT_EQ(count_of(syscall_kind::read) - before, 3u);
}

TEST(Sys, ErrorsCarryTheErrno) {
  // A closed descriptor: EBADF, in the system category.
  std::byte b{};
  auto r = sys::read(-1, &b, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().value(), EBADF);
  EXPECT_EQ(r.error().category(), std::system_category());
  EXPECT_EQ(r.error(), std::errc::bad_file_descriptor);

  // A missing file: ENOENT.
  test::temp_dir dir;
  auto fd = sys::open((dir / "missing").c_str(), O_RDONLY);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error(), std::errc::no_such_file_or_directory);

  // mmap reports through MAP_FAILED, not -1: still the errno (EBADF for a bad descriptor).
  auto m = sys::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, -1, 0);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error(), std::errc::bad_file_descriptor);

  // posix_fadvise returns its error instead of setting errno: still EBADF.
  auto f = sys::fadvise(-1, 0, 0, POSIX_FADV_NORMAL);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), std::errc::bad_file_descriptor);
}

TEST(Sys, CountersArePerThread) {
  const auto before = thread_syscall_counts();
  std::uint64_t other_thread_reads = 0;
  std::thread other([&] {
    const auto start = count_of(syscall_kind::read);
    std::byte b{};
    for (int i = 0; i < 5; ++i) (void)sys::read(-1, &b, 1);
    other_thread_reads = count_of(syscall_kind::read) - start;
  });
  other.join();
  // The other thread saw its own five reads ...
  EXPECT_EQ(other_thread_reads, 5u);
  // ... and none of them show up here.
  const auto diff = thread_syscall_counts() - before;
  EXPECT_EQ(diff[syscall_kind::read], 0u);
}

TEST(Sys, CloseIsNotRetriedOnEintr) {
  hook_guard restore;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[1]);
  close_calls = 0;
  sys::hooks().close = close_interrupted;
  const auto before = count_of(syscall_kind::close);
  // EINTR from close means "closed anyway": one call, reported as success.
  auto r = sys::close(fds[0]);
  EXPECT_TRUE(r);
  EXPECT_EQ(close_calls.load(), 1);
  EXPECT_EQ(count_of(syscall_kind::close) - before, 1u);
  EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);
}

TEST(Sys, RestoreHooksPutsTheRealCallsBack) {
  hook_guard restore;
  interrupts_left = 1000;
  sys::hooks().read = read_interrupted_twice;
  sys::restore_hooks();
  EXPECT_EQ(sys::hooks().read, sys::real_hooks().read);
  // A read after restoring reaches the kernel: EBADF, not an endless EINTR loop.
  std::byte b{};
  auto r = sys::read(-1, &b, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::bad_file_descriptor);
  EXPECT_EQ(interrupts_left.load(), 1000);
}

TEST(Sys, OpenAddsCloexec) {
  // Descriptors the layer opens never leak into exec'd children.
  test::temp_dir dir;
  auto fd = sys::open((dir / "f").c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_TRUE(fd) << fd.error().message();
  unique_fd owner(*fd);
  EXPECT_NE(::fcntl(owner.get(), F_GETFD) & FD_CLOEXEC, 0);
}

}  // namespace
}  // namespace zcopy
