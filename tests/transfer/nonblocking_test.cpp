// Non-blocking ends and bounded steps: run() hands control back when an end would block (saying
// which one) or when step_limit bytes moved, and the next run() continues where it stopped, with
// no byte lost, repeated or reordered.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"
#include "zcopy/net.hpp"
#include "zcopy/pipe.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy {
namespace {

using namespace std::chrono_literals;
using test::random_bytes;
using test::temp_dir;
using test::test_seed;

constexpr std::size_t kib = 1024;
constexpr auto bound = 30s;  // every wait loop gives up after this (not a timing assertion)
constexpr int max_rounds = 1'000'000;

// Reads 16 KiB at a time with a 1 ms pause after each read, until `expected` bytes, EOF, or the
// bound: a peer slow enough that a small send buffer fills up again and again.
class slow_reader {
 public:
  slow_reader(int fd, std::size_t expected) {
    thread_ = std::thread([this, fd, expected] {
      std::vector<std::byte> buf(16 * kib);
      const auto deadline = std::chrono::steady_clock::now() + bound;
      while (data_.size() < expected && std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        ssize_t r = ::read(fd, buf.data(), buf.size());
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) break;
        data_.insert(data_.end(), buf.begin(), buf.begin() + r);
        std::this_thread::sleep_for(1ms);
      }
    });
  }
  ~slow_reader() {
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::byte> finish() {
    if (thread_.joinable()) thread_.join();
    return std::move(data_);
  }

 private:
  std::vector<std::byte> data_;
  std::thread thread_;
};

void set_buffer(int fd, int option, int bytes) {
  if (::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes) != 0) {
    throw std::system_error(errno, std::system_category(), "setsockopt");
  }
}

bool wait_until(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, 1000) >= 0;
}

std::string method_name(const ::testing::TestParamInfo<method>& info) {
  return std::string(to_string(info.param));
}

// --- a non-blocking socket sink ------------------------------------------------------------

class NonBlockingSink : public ::testing::TestWithParam<method> {
 protected:
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }
};

// An 8 MiB file to a non-blocking socket with a tiny send buffer and a slow reader: run() returns
// would-block (waiting for writable) many times, and resuming after poll(POLLOUT) delivers every
// byte in order.
TEST_P(NonBlockingSink, ResumesAfterWouldBlockUntilComplete) {
  const method m = GetParam();
  temp_dir dir;
  const auto data = random_bytes(8 << 20, test_seed() + 20 + static_cast<unsigned>(m));
  unique_fd src = test::write_file(dir / "src", data);
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  const int sender = pair->first.get();
  // A tiny send buffer fills at once. The receive buffer stays moderate: a 4 KiB receive window
  // on loopback stalls TCP in zero-window probes (kilobytes per second).
  set_buffer(sender, SO_SNDBUF, 4096);
  set_buffer(pair->second.get(), SO_RCVBUF, 64 * 1024);
  ASSERT_TRUE(set_nonblocking(sender, true));
  slow_reader reader(pair->second.get(), data.size());

  transfer_options o;
  o.use = m;
  auto job = transfer_job::create(src.get(), sender, o);
  ASSERT_TRUE(job) << job.error().message();
  transfer_result r;
  std::size_t would_blocks = 0;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (int i = 0; i < max_rounds && std::chrono::steady_clock::now() < deadline; ++i) {
    r = job->run();
    if (!r.would_block()) break;
    ++would_blocks;
    EXPECT_EQ(r.blocked, wait_for::writable);
    EXPECT_FALSE(job->done());
    EXPECT_TRUE(r.ok());
    if (r.blocked != wait_for::writable || !wait_until(sender, POLLOUT)) break;
  }
  ::shutdown(sender, SHUT_WR);
  auto got = reader.finish();

  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(job->done());
  EXPECT_EQ(r.bytes, data.size());
  EXPECT_GE(would_blocks, 3u) << "a 4 KiB send buffer should fill up again and again";
  EXPECT_EQ(r.used, m == method::automatic ? method::sendfile : m);
  EXPECT_TRUE(r.fallbacks.empty());
  EXPECT_TRUE(test::same_bytes(data, got));
}

INSTANTIATE_TEST_SUITE_P(Methods, NonBlockingSink,
                         ::testing::Values(method::automatic, method::sendfile, method::splice,
                                           method::read_write, method::mmap_write),
                         method_name);

// --- step_limit on a blocking socket -------------------------------------------------------

class StepLimit : public ::testing::TestWithParam<method> {
 protected:
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }
};

// step_limit = 256 KiB: every run() moves something and at most 256 KiB (plus one chunk), the
// job is done only after the last byte, and the bytes arrive whole.
TEST_P(StepLimit, EachRunMovesAtMostTheLimit) {
  const method m = GetParam();
  constexpr std::size_t limit = 256 * kib;
  constexpr std::size_t one_chunk = 128 * kib;
  temp_dir dir;
  const auto data = random_bytes((8 << 20) + 1234, test_seed() + 40 + static_cast<unsigned>(m));
  unique_fd src = test::write_file(dir / "src", data);
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  test::drainer receiver(pair->second.get());

  transfer_options o;
  o.use = m;
  o.step_limit = limit;
  auto job = transfer_job::create(src.get(), pair->first.get(), o);
  ASSERT_TRUE(job) << job.error().message();
  std::uint64_t before = 0;
  std::size_t runs = 0;
  transfer_result r;
  for (; runs < 10000 && !job->done(); ++runs) {
    r = job->run();
    if (!r.ok() || r.would_block()) break;  // reported below, after the receiver has ended
    const std::uint64_t step = r.bytes - before;
    EXPECT_GT(step, 0u) << "run " << runs;
    EXPECT_LE(step, limit + one_chunk) << "run " << runs;
    if (r.bytes < data.size()) {
      EXPECT_FALSE(job->done()) << "run " << runs;
      EXPECT_FALSE(r.complete) << "run " << runs;
    }
    before = r.bytes;
  }
  ::shutdown(pair->first.get(), SHUT_WR);
  auto got = receiver.finish();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_FALSE(r.would_block());
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(job->done());
  EXPECT_EQ(r.bytes, data.size());
  EXPECT_GE(runs, data.size() / (limit + one_chunk));
  EXPECT_TRUE(test::same_bytes(data, got));
}

INSTANTIATE_TEST_SUITE_P(Methods, StepLimit,
                         ::testing::Values(method::automatic, method::sendfile, method::splice,
                                           method::read_write),
                         method_name);

// --- a non-blocking stream source ----------------------------------------------------------

enum class stream { socket, pipe };

struct source_case {
  method m;
  stream kind;
};

std::string source_case_name(const ::testing::TestParamInfo<source_case>& info) {
  return std::string(to_string(info.param.m)) +
         (info.param.kind == stream::socket ? "_socket" : "_pipe");
}

class NonBlockingSource : public ::testing::TestWithParam<source_case> {
 protected:
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }
};

// A non-blocking stream source with nothing in it yet: run() returns at once, waiting for
// readable, having moved nothing. Once a writer sends data and ends the stream, resuming moves
// all of it into the file.
TEST_P(NonBlockingSource, EmptySourceBlocksThenDelivers) {
  const auto [m, kind] = GetParam();
  temp_dir dir;
  const auto data = random_bytes(300 * kib + 7, test_seed() + 60 + static_cast<unsigned>(m));
  unique_fd reader_end, writer_end;
  if (kind == stream::socket) {
    auto pair = loopback_tcp_pair();
    ASSERT_TRUE(pair) << pair.error().message();
    writer_end = std::move(pair->first);
    reader_end = std::move(pair->second);
  } else {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    reader_end.reset(fds[0]);
    writer_end.reset(fds[1]);
  }
  ASSERT_TRUE(set_nonblocking(reader_end.get(), true));
  unique_fd dst = test::open_or_die(dir / "dst", O_WRONLY | O_CREAT | O_TRUNC);

  transfer_options o;
  o.use = m;
  auto job = transfer_job::create(reader_end.get(), dst.get(), o);
  ASSERT_TRUE(job) << job.error().message();
  transfer_result r = job->run();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.would_block());
  EXPECT_EQ(r.blocked, wait_for::readable);
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_FALSE(r.complete);
  EXPECT_FALSE(job->done());

  std::thread writer([&] {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t w = kind == stream::socket
                      ? ::send(writer_end.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL)
                      : ::write(writer_end.get(), data.data() + off, data.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      off += static_cast<std::size_t>(w);
    }
    if (kind == stream::socket) {
      ::shutdown(writer_end.get(), SHUT_WR);
    } else {
      writer_end.reset();
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (int i = 0; i < max_rounds && std::chrono::steady_clock::now() < deadline; ++i) {
    r = job->run();
    if (!r.would_block()) break;
    EXPECT_EQ(r.blocked, wait_for::readable);
    if (r.blocked != wait_for::readable || !wait_until(reader_end.get(), POLLIN)) break;
  }
  reader_end.reset();  // a writer still blocked on a full buffer fails instead of hanging
  writer.join();

  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, data.size());
  EXPECT_EQ(r.used, m == method::automatic ? method::splice : m);
  EXPECT_TRUE(test::same_bytes(data, test::read_file(dir / "dst")));
}

INSTANTIATE_TEST_SUITE_P(Streams, NonBlockingSource,
                         ::testing::Values(source_case{method::splice, stream::socket},
                                           source_case{method::read_write, stream::socket},
                                           source_case{method::automatic, stream::socket},
                                           source_case{method::splice, stream::pipe},
                                           source_case{method::read_write, stream::pipe},
                                           source_case{method::automatic, stream::pipe}),
                         source_case_name);

// socket → socket through a pipe: while the source has nothing to read, the job holds no pipe
// (it went back to the pool, as HAProxy returns idle pipes), so quiet relayed connections cost
// their two sockets and nothing else; the next run() takes a pipe again and loses no byte.
TEST(NonBlockingSplice, IdleSourceReturnsItsPipeToThePool) {
  auto in = loopback_tcp_pair();
  auto out = loopback_tcp_pair();
  ASSERT_TRUE(in && out);
  ASSERT_TRUE(set_nonblocking(in->second.get(), true));
  transfer_options o;
  o.use = method::splice;
  auto job = transfer_job::create(in->second.get(), out->first.get(), o);
  ASSERT_TRUE(job) << job.error().message();

  const auto data = random_bytes(64 * kib + 3, test_seed() + 70);
  ASSERT_EQ(::send(in->first.get(), data.data(), data.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(data.size()));
  const std::size_t idle_at_start = pipe_pool::shared().idle();
  std::vector<std::byte> got(data.size());
  std::size_t have = 0;
  transfer_result r;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (have < data.size() && std::chrono::steady_clock::now() < deadline) {
    r = job->run();
    ASSERT_TRUE(r.ok()) << r.error.message();
    ssize_t n = ::recv(out->second.get(), got.data() + have, got.size() - have, MSG_DONTWAIT);
    if (n > 0) have += static_cast<std::size_t>(n);
    if (r.would_block()) wait_until(in->second.get(), POLLIN);
  }
  ASSERT_EQ(have, data.size());
  EXPECT_TRUE(test::same_bytes(data, got));
  // Everything sent has been relayed; one more run finds the source empty.
  r = job->run();
  ASSERT_TRUE(r.ok()) << r.error.message();
  ASSERT_TRUE(r.would_block());
  EXPECT_EQ(r.blocked, wait_for::readable);
  // The job took an idle pipe if there was one (other transfers on this thread leave theirs in
  // the pool), else made one; either way it is back now.
  EXPECT_EQ(pipe_pool::shared().idle(), std::max<std::size_t>(idle_at_start, 1));

  // The stream goes on after the idle spell, byte for byte.
  const auto more = random_bytes(5 * kib + 1, test_seed() + 71);
  ASSERT_EQ(::send(in->first.get(), more.data(), more.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(more.size()));
  ::shutdown(in->first.get(), SHUT_WR);
  for (int i = 0; i < max_rounds && !job->done() && std::chrono::steady_clock::now() < deadline;
       ++i) {
    r = job->run();
    ASSERT_TRUE(r.ok()) << r.error.message();
    if (r.would_block()) wait_until(in->second.get(), POLLIN);
  }
  EXPECT_TRUE(job->done());
  std::vector<std::byte> tail(more.size());
  std::size_t tail_have = 0;
  while (tail_have < tail.size()) {
    ssize_t n = ::recv(out->second.get(), tail.data() + tail_have, tail.size() - tail_have, 0);
    if (n <= 0) break;
    tail_have += static_cast<std::size_t>(n);
  }
  EXPECT_TRUE(test::same_bytes(more, tail));
}

}  // namespace
}  // namespace zcopy
