// tee, vmsplice and splice_memory: duplication without consumption, user pages into a pipe, memory
// to a socket, and the write(2) fallback when the sink refuses splice.
#include "zcopy/pipe_ops.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "support/test_support.hpp"
#include "zcopy/net.hpp"
#include "zcopy/pipe.hpp"

namespace zcopy {
namespace {

// Reads exactly `n` bytes from a (non-blocking) pipe that already holds them.
std::vector<std::byte> read_pipe(int fd, std::size_t n) {
  std::vector<std::byte> out(n);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, out.data() + got, n - got);
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

struct plain_pipe {
  unique_fd read_end;
  unique_fd write_end;
};

// A pipe whose ends can be closed one at a time (pipe_pair owns both together).
plain_pipe make_plain_pipe() {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
    throw std::system_error(errno, std::system_category());
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

pipe_pair make_pipe(std::size_t capacity = 64 * 1024) {
  auto p = pipe_pair::create(capacity);
  if (!p) throw std::system_error(p.error(), "pipe_pair::create");
  return std::move(*p);
}

TEST(PipeOps, TeeDuplicatesWithoutConsuming) {
  pipe_pair in = make_pipe();
  pipe_pair out = make_pipe();
  auto data = test::random_bytes(1000, test::test_seed());
  ASSERT_EQ(::write(in.write_fd(), data.data(), data.size()), 1000);

  // All of it is duplicated into the second pipe ...
  auto n = tee(in.read_fd(), out.write_fd(), data.size());
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, data.size());
  EXPECT_TRUE(test::same_bytes(data, read_pipe(out.read_fd(), data.size())));
  // ... and the first pipe still holds every byte.
  EXPECT_EQ(*in.bytes_inside(), data.size());
  EXPECT_TRUE(test::same_bytes(data, read_pipe(in.read_fd(), data.size())));
}

TEST(PipeOps, TeeOnAnEmptyPipe) {
  pipe_pair in = make_pipe();
  pipe_pair out = make_pipe();
  // Non-blocking: EAGAIN while writers remain.
  auto would_block = tee(in.read_fd(), out.write_fd(), 100, true);
  ASSERT_FALSE(would_block);
  EXPECT_EQ(would_block.error(), std::errc::resource_unavailable_try_again);
  // Blocking: 0 once the last writer is gone (the wait sees the hangup).
  plain_pipe closed = make_plain_pipe();
  closed.write_end.reset();
  auto end = tee(closed.read_end.get(), out.write_fd(), 100);
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_EQ(*end, 0u);
}

TEST(PipeOps, VmspliceThenReadBack) {
  pipe_pair pipe = make_pipe();
  auto data = test::random_bytes(5000, test::test_seed());
  // The pages go in by reference and come out as the same bytes.
  auto n = vmsplice(pipe.write_fd(), data);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, data.size());
  EXPECT_TRUE(test::same_bytes(data, read_pipe(pipe.read_fd(), data.size())));
}

TEST(PipeOps, VmspliceIntoAFullPipe) {
  pipe_pair pipe = make_pipe(4096);
  auto data = test::random_bytes(pipe.capacity() * 4, test::test_seed());
  // It takes what fits, then (non-blocking) says EAGAIN.
  auto first = vmsplice(pipe.write_fd(), data, true);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_GT(*first, 0u);
  EXPECT_LT(*first, data.size());
  auto second = vmsplice(pipe.write_fd(), std::span(data).subspan(*first), true);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::resource_unavailable_try_again);
  EXPECT_TRUE(test::same_bytes(std::span(data).first(*first), read_pipe(pipe.read_fd(), *first)));
}

TEST(PipeOps, SpliceMemoryToATcpSocket) {
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto data = test::random_bytes((std::size_t{1} << 20) + 1, test::test_seed());
  test::drainer reader(pair->second.get());
  const auto before = thread_syscall_counts();

  // 1 MiB + 1 through vmsplice and splice; the peer receives exactly the bytes.
  auto sent = splice_memory(data, pair->first.get());
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, data.size());
  const auto calls = thread_syscall_counts() - before;
  EXPECT_GT(calls[syscall_kind::vmsplice], 0u);
  EXPECT_GT(calls[syscall_kind::splice], 0u);
  EXPECT_EQ(calls[syscall_kind::write], 0u);
  pair->first.reset();
  EXPECT_TRUE(test::same_bytes(data, reader.finish()));
}

TEST(PipeOps, SpliceMemoryIntoAPipe) {
  plain_pipe sink = make_plain_pipe();
  auto data = test::random_bytes(300 * 1024 + 7, test::test_seed());
  test::drainer reader(sink.read_end.get());
  // A non-blocking pipe sink (64 KiB) that fills up: the call waits for the reader and finishes.
  auto sent = splice_memory(data, sink.write_end.get());
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, data.size());
  sink.write_end.reset();
  EXPECT_TRUE(test::same_bytes(data, reader.finish()));
}

TEST(PipeOps, SpliceMemoryFallsBackForAnAppendOnlyFile) {
  test::temp_dir dir;
  auto prefix = test::random_bytes(100, test::test_seed() + 1);
  unique_fd file = test::write_file(dir / "f", prefix, O_WRONLY | O_APPEND);
  auto data = test::random_bytes((std::size_t{1} << 20) + 1, test::test_seed());
  const auto before = thread_syscall_counts();

  // splice refuses O_APPEND sinks with EINVAL; the bytes go by write(2), after the old ones.
  auto sent = splice_memory(data, file.get());
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, data.size());
  const auto calls = thread_syscall_counts() - before;
  EXPECT_GT(calls[syscall_kind::splice], 0u);
  EXPECT_GT(calls[syscall_kind::write], 0u);
  std::vector<std::byte> expected = prefix;
  expected.insert(expected.end(), data.begin(), data.end());
  EXPECT_TRUE(test::same_bytes(expected, test::read_file(dir / "f")));
}

TEST(PipeOps, SpliceMemoryDrainsThePipeBeforeFallingBack) {
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair);
  auto data = test::random_bytes((std::size_t{1} << 20) + 1, test::test_seed());
  test::drainer reader(pair->second.get());
  const std::size_t discarded = pipe_pool::shared().discarded();
  {
    // The first splice fails with EINVAL while the pipe is full: those bytes leave through
    // read+write, the rest through write, in order.
    test::fault_scope faults;
    faults.splice({.error = EINVAL});
    auto sent = splice_memory(data, pair->first.get());
    ASSERT_TRUE(sent) << sent.error().message();
    EXPECT_EQ(*sent, data.size());
  }
  // The drained pipe was clean, so it went back to the pool.
  EXPECT_EQ(pipe_pool::shared().discarded(), discarded);
  pair->first.reset();
  EXPECT_TRUE(test::same_bytes(data, reader.finish()));
}

TEST(PipeOps, SpliceMemoryNeverPoolsAPipeWithBytesLeft) {
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair);
  auto data = test::random_bytes(64 * 1024, test::test_seed());
  const std::size_t discarded = pipe_pool::shared().discarded();
  // A hard error with bytes still in the pipe: reported, and the pipe is closed, not pooled.
  test::fault_scope faults;
  faults.splice({.error = EIO});
  auto sent = splice_memory(data, pair->first.get());
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error(), std::errc::io_error);
  EXPECT_EQ(pipe_pool::shared().discarded(), discarded + 1);
}

}  // namespace
}  // namespace zcopy
