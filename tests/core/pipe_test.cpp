// pipe_pair and pipe_pool: sizing, non-blocking ends, reuse of clean pipes only, the bound.
#include "zcopy/pipe.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "support/test_support.hpp"

namespace zcopy {
namespace {

bool nonblocking(int fd) {
  return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

// CAP_SYS_RESOURCE lifts pipe-max-size; root in a container usually has it.
bool may_exceed_pipe_max_size() {
  return ::geteuid() == 0;
}

TEST(PipePair, HasTheCapacityAskedForAndNonblockingEnds) {
  auto pipe = pipe_pair::create(default_pipe_capacity);
  ASSERT_TRUE(pipe) << pipe.error().message();
  if (!may_exceed_pipe_max_size()) GTEST_SKIP() << "not root: capacity capped by pipe-max-size";
  // The kernel grew it to at least the request.
  EXPECT_GE(pipe->capacity(), default_pipe_capacity);
  EXPECT_EQ(static_cast<std::size_t>(::fcntl(pipe->write_fd(), F_GETPIPE_SZ)), pipe->capacity());
  // Both ends are non-blocking and close-on-exec.
  EXPECT_TRUE(nonblocking(pipe->read_fd()));
  EXPECT_TRUE(nonblocking(pipe->write_fd()));
  EXPECT_NE(::fcntl(pipe->read_fd(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(pipe->write_fd(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(PipePair, BytesInsideReportsFionread) {
  auto pipe = pipe_pair::create(64 * 1024);
  ASSERT_TRUE(pipe);
  // Empty at first, then exactly what was written.
  auto empty = pipe->bytes_inside();
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, 0u);
  auto data = test::random_bytes(123, test::test_seed());
  ASSERT_EQ(::write(pipe->write_fd(), data.data(), data.size()), 123);
  auto full = pipe->bytes_inside();
  ASSERT_TRUE(full);
  EXPECT_EQ(*full, 123u);
}

TEST(PipePool, ReusesACleanPipe) {
  pipe_pool pool(4, 64 * 1024);
  auto first = pool.acquire();
  ASSERT_TRUE(first);
  const int read_fd = first->read_fd();
  const int write_fd = first->write_fd();
  pool.release(std::move(*first), 0);
  EXPECT_EQ(pool.idle(), 1u);
  // The same pipe (same descriptors) comes back.
  auto second = pool.acquire();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->read_fd(), read_fd);
  EXPECT_EQ(second->write_fd(), write_fd);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST(PipePool, DiscardsAPipeThatHoldsBytes) {
  pipe_pool pool(4, 64 * 1024);
  auto pipe = pool.acquire();
  ASSERT_TRUE(pipe);
  auto data = test::random_bytes(17, test::test_seed());
  ASSERT_EQ(::write(pipe->write_fd(), data.data(), data.size()), 17);
  const int read_fd = pipe->read_fd();
  // A pipe reported to hold bytes is closed, not kept.
  pool.release(std::move(*pipe), 17);
  EXPECT_EQ(pool.discarded(), 1u);
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_EQ(::fcntl(read_fd, F_GETFD), -1);
}

TEST(PipePool, KeepsAtMostMaxIdle) {
  pipe_pool pool(2, 64 * 1024);
  std::vector<pipe_pair> pipes;
  for (int i = 0; i < 5; ++i) {
    auto p = pool.acquire();
    ASSERT_TRUE(p);
    pipes.push_back(std::move(*p));
  }
  // Five clean pipes come back; two are kept, the rest closed (and not counted as discarded).
  for (auto& p : pipes) pool.release(std::move(p), 0);
  EXPECT_EQ(pool.idle(), 2u);
  EXPECT_EQ(pool.discarded(), 0u);
}

}  // namespace
}  // namespace zcopy
