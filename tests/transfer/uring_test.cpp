// io_uring: the engine's step (linked SPLICE pairs for file → socket, READ_FIXED/WRITE_FIXED for
// file → file) and uring_batch (many transfers on one ring). Random data, compared byte for byte;
// every fallback driven by hiding an opcode or through the syscall seam.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <vector>

#include "core/uring.hpp"
#include "support/test_support.hpp"
#include "zcopy/error.hpp"
#include "zcopy/transfer.hpp"
#include "zcopy/uring_batch.hpp"

namespace zcopy {
namespace {

using test::random_bytes;
using test::same_bytes;
using test::temp_dir;
using test::test_seed;

struct socket_pair {
  unique_fd sender;
  unique_fd receiver;
};

socket_pair make_socket_pair(bool nonblocking_sender = false, int sndbuf = 0) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  socket_pair p{unique_fd(fds[0]), unique_fd(fds[1])};
  if (sndbuf > 0) {
    EXPECT_EQ(::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
  }
  if (nonblocking_sender) {
    EXPECT_EQ(::fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  }
  return p;
}

// Hides an opcode from uring_support() for one scope.
class hidden_op {
 public:
  explicit hidden_op(unsigned op) : op_(op) { detail::hide_uring_op_for_testing(op_, true); }
  ~hidden_op() { detail::hide_uring_op_for_testing(op_, false); }
  hidden_op(const hidden_op&) = delete;
  hidden_op& operator=(const hidden_op&) = delete;

 private:
  unsigned op_;
};

class Uring : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef ZCOPY_WITH_URING
    GTEST_SKIP() << "libzcopy was built without liburing";
#else
    auto info = detail::uring_support();
    if (info.setup_error) GTEST_SKIP() << "io_uring_setup refused: " << info.setup_error.message();
    for (unsigned op : {IORING_OP_SPLICE, IORING_OP_READ_FIXED, IORING_OP_WRITE_FIXED}) {
      if (!info.has(op)) GTEST_SKIP() << "kernel lacks io_uring opcode " << op;
    }
#endif
  }
  void TearDown() override {
    sys::restore_hooks();
  }

  std::uint64_t seed_ = test_seed();
  ::testing::ScopedTrace trace_{__FILE__, __LINE__, "seed " + std::to_string(test_seed())};
  temp_dir dir_;
};

transfer_options forced() {
  transfer_options o;
  o.use = method::io_uring;
  return o;
}

// file → socket goes out as linked splice pairs and arrives whole, at sizes around a pipe's.
TEST_F(Uring, FileToSocketThroughSplicePairs) {
  for (std::size_t size : {std::size_t{1}, std::size_t{4097}, (std::size_t{3} << 20) + 5}) {
    SCOPED_TRACE(size);
    auto data = random_bytes(size, seed_ + size);
    auto src = test::write_file(dir_ / "src", data);
    auto sp = make_socket_pair();
    test::drainer rx(sp.receiver.get());
    transfer_result r = transfer(src.get(), sp.sender.get(), forced());
    sp.sender.reset();
    ASSERT_TRUE(r.ok()) << r.error.message();
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.bytes_with(method::io_uring), size);
    EXPECT_TRUE(r.fallbacks.empty());
    EXPECT_TRUE(same_bytes(data, rx.finish()));
  }
}

// An explicit source range: only those bytes go, and the descriptor's position stays put.
TEST_F(Uring, FileToSocketRangeLeavesPosition) {
  auto data = random_bytes(1 << 20, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto sp = make_socket_pair();
  test::drainer rx(sp.receiver.get());
  transfer_options o = forced();
  o.source_offset = 12345;
  o.length = 300001;
  transfer_result r = transfer(src.get(), sp.sender.get(), o);
  sp.sender.reset();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_EQ(r.bytes, 300001u);
  EXPECT_TRUE(same_bytes(std::span(data).subspan(12345, 300001), rx.finish()));
  EXPECT_EQ(::lseek(src.get(), 0, SEEK_CUR), 0);
}

// A receiver that reads a little at a time makes the pipe → socket splices short: bytes left in
// the pipe go out first in the next round, none lost or repeated.
TEST_F(Uring, SlowReceiverShortSplicesLoseNothing) {
  auto data = random_bytes((std::size_t{2} << 20) + 333, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto sp = make_socket_pair(false, 4096);
  test::drainer rx(sp.receiver.get(), true, 1000);
  transfer_result r = transfer(src.get(), sp.sender.get(), forced());
  sp.sender.reset();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(same_bytes(data, rx.finish()));
}

// file → file with registered buffers and files, at sizes that are and are not multiples of
// the buffer size, with and without explicit offsets.
TEST_F(Uring, FileToFileFixedBuffers) {
  for (std::size_t size : {std::size_t{1}, std::size_t{4096}, (std::size_t{2} << 20) + 17,
                           (std::size_t{5} << 20) + 4095}) {
    SCOPED_TRACE(size);
    auto data = random_bytes(size, seed_ + size);
    auto src = test::write_file(dir_ / "src", data);
    auto dst = test::open_or_die(dir_ / "dst", O_RDWR | O_CREAT | O_TRUNC);
    transfer_result r = transfer(src.get(), dst.get(), forced());
    ASSERT_TRUE(r.ok()) << r.error.message();
    EXPECT_EQ(r.bytes_with(method::io_uring), size);
    EXPECT_TRUE(same_bytes(data, test::read_file(dir_ / "dst")));
    EXPECT_EQ(::lseek(src.get(), 0, SEEK_CUR), static_cast<off_t>(size));
  }
}

TEST_F(Uring, FileToFileExplicitOffsets) {
  auto data = random_bytes(3 << 20, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto dst = test::open_or_die(dir_ / "dst", O_RDWR | O_CREAT | O_TRUNC);
  transfer_options o = forced();
  o.source_offset = 4097;
  o.sink_offset = 100;
  o.length = (1 << 20) + 3;
  transfer_result r = transfer(src.get(), dst.get(), o);
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_EQ(r.bytes, (1u << 20) + 3);
  EXPECT_TRUE(same_bytes(std::span(data).subspan(4097, (1 << 20) + 3),
                         test::read_range(dst.get(), 100, (1 << 20) + 3)));
}

// The probe says SPLICE is missing: the step is unsupported and the engine's chain takes over
// from io_uring, which the result records.
TEST_F(Uring, HiddenSpliceFallsBack) {
  hidden_op hide(IORING_OP_SPLICE);
  auto data = random_bytes((1 << 20) + 9, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto sp = make_socket_pair();
  test::drainer rx(sp.receiver.get());
  transfer_options o = forced();
  o.allow_fallback = true;
  transfer_result r = transfer(src.get(), sp.sender.get(), o);
  sp.sender.reset();
  ASSERT_TRUE(r.ok()) << r.error.message();
  ASSERT_FALSE(r.fallbacks.empty());
  EXPECT_EQ(r.fallbacks.front().from, method::io_uring);
  EXPECT_EQ(r.fallbacks.front().reason, std::errc::operation_not_supported);
  EXPECT_EQ(r.bytes_with(method::io_uring), 0u);
  EXPECT_TRUE(same_bytes(data, rx.finish()));
}

TEST_F(Uring, HiddenReadFixedFallsBack) {
  hidden_op hide(IORING_OP_READ_FIXED);
  auto data = random_bytes((1 << 20) + 9, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto dst = test::open_or_die(dir_ / "dst", O_RDWR | O_CREAT | O_TRUNC);
  transfer_options o = forced();
  o.allow_fallback = true;
  transfer_result r = transfer(src.get(), dst.get(), o);
  ASSERT_TRUE(r.ok()) << r.error.message();
  ASSERT_FALSE(r.fallbacks.empty());
  EXPECT_EQ(r.fallbacks.front().from, method::io_uring);
  EXPECT_TRUE(same_bytes(data, test::read_file(dir_ / "dst")));
  // Without fallback the missing opcode is the error.
  auto dst2 = test::open_or_die(dir_ / "dst2", O_RDWR | O_CREAT | O_TRUNC);
  transfer_options only = forced();
  only.source_offset = 0;
  transfer_result forced_only = transfer(src.get(), dst2.get(), only);
  EXPECT_EQ(forced_only.error, std::errc::operation_not_supported);
}

// A source cut short after the transfer was planned is reported by name.
TEST_F(Uring, TruncatedSourceReported) {
  auto data = random_bytes(1 << 20, seed_);
  auto src = test::write_file(dir_ / "src", data, O_RDWR);
  auto dst = test::open_or_die(dir_ / "dst", O_RDWR | O_CREAT | O_TRUNC);
  auto job = transfer_job::create(src.get(), dst.get(), forced());
  ASSERT_TRUE(job);
  ASSERT_EQ(::ftruncate(src.get(), 1000), 0);
  transfer_result r = job->run();
  EXPECT_EQ(r.error, errc::source_truncated);
  EXPECT_EQ(r.bytes, 1000u);
  EXPECT_TRUE(same_bytes(std::span(data).first(1000), test::read_file(dir_ / "dst")));
}

// --- uring_batch ---------------------------------------------------------------------------

// 64 transfers (half to sockets, half to files) on a ring of 8 entries: the submission queue
// fills again and again, the completion queue overflows, and every byte still arrives.
TEST_F(Uring, BatchManyTransfersOnSmallRing) {
  uring_batch_options bo;
  bo.entries = 8;
  bo.max_active = 32;
  bo.chunk_size = 64 << 10;
  auto batch = uring_batch::create(bo);
  ASSERT_TRUE(batch) << batch.error().message();
  constexpr int n = 64;
  std::vector<std::vector<std::byte>> data;
  std::vector<unique_fd> keep;
  std::vector<socket_pair> sockets;
  std::vector<std::unique_ptr<test::drainer>> rx;
  sockets.reserve(n);
  for (int i = 0; i < n; ++i) {
    data.push_back(random_bytes(1000 + static_cast<std::size_t>(i) * 7919, seed_ + i));
    auto src = test::write_file(dir_ / ("src" + std::to_string(i)), data.back());
    int sink = -1;
    if (i % 2 == 0) {
      sockets.push_back(make_socket_pair());
      rx.push_back(std::make_unique<test::drainer>(sockets.back().receiver.get()));
      sink = sockets.back().sender.get();
    } else {
      keep.push_back(
          test::open_or_die(dir_ / ("dst" + std::to_string(i)), O_RDWR | O_CREAT | O_TRUNC));
      sink = keep.back().get();
    }
    auto index = batch->add(src.get(), sink);
    ASSERT_TRUE(index) << index.error().message();
    EXPECT_EQ(*index, static_cast<std::size_t>(i));
    keep.push_back(std::move(src));
  }
  ASSERT_FALSE(batch->run());
  for (int i = 0; i < n; ++i) {
    SCOPED_TRACE(i);
    const transfer_result& r = batch->result(i);
    EXPECT_TRUE(r.ok()) << r.error.message();
    EXPECT_TRUE(r.complete);
    EXPECT_TRUE(r.fallbacks.empty());
    EXPECT_EQ(r.bytes_with(method::io_uring), data[i].size());
    if (i % 2 == 1) {
      EXPECT_TRUE(same_bytes(data[i], test::read_file(dir_ / ("dst" + std::to_string(i)))));
    }
  }
  for (auto& s : sockets) s.sender.reset();
  for (int i = 0; i < n; i += 2) {
    EXPECT_TRUE(same_bytes(data[i], rx[i / 2]->finish())) << i;
  }
}

// EBUSY from io_uring_enter (completion queue full) is answered by reaping and submitting again.
int ebusy_left = 0;
int submits_seen = 0;
int ebusy_once(io_uring* ring, unsigned wait_nr) {
  ++submits_seen;
  if (ebusy_left > 0) {
    --ebusy_left;
    return -EBUSY;
  }
  return sys::real_hooks().io_uring_submit_and_wait(ring, wait_nr);
}

TEST_F(Uring, BatchEbusyFromSubmitHandled) {
  auto batch = uring_batch::create({.entries = 8});
  ASSERT_TRUE(batch);
  auto data = random_bytes((1 << 20) + 77, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto dst = test::open_or_die(dir_ / "dst", O_RDWR | O_CREAT | O_TRUNC);
  auto sp = make_socket_pair();
  test::drainer rx(sp.receiver.get());
  ASSERT_TRUE(batch->add(src.get(), dst.get()));
  ASSERT_TRUE(batch->add(src.get(), sp.sender.get()));
  ebusy_left = 1;
  submits_seen = 0;
  sys::hooks().io_uring_submit_and_wait = ebusy_once;
  std::error_code ec = batch->run();
  sys::restore_hooks();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(ebusy_left, 0);
  EXPECT_GT(submits_seen, 1);
  EXPECT_TRUE(batch->result(0).ok());
  EXPECT_TRUE(batch->result(1).ok());
  EXPECT_TRUE(same_bytes(data, test::read_file(dir_ / "dst")));
  sp.sender.reset();
  EXPECT_TRUE(same_bytes(data, rx.finish()));
}

// A non-blocking socket with a tiny send buffer and a slow reader: EAGAIN from the splice arms a
// POLL_ADD before the retry.
TEST_F(Uring, BatchNonblockingSocketSlowReader) {
  auto batch = uring_batch::create();
  ASSERT_TRUE(batch);
  auto data = random_bytes((std::size_t{2} << 20) + 5, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto sp = make_socket_pair(true, 4096);
  test::drainer rx(sp.receiver.get(), true, 1000);
  transfer_options o;
  o.source_offset = 5;
  ASSERT_TRUE(batch->add(src.get(), sp.sender.get(), o));
  ASSERT_FALSE(batch->run());
  const transfer_result& r = batch->result(0);
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_EQ(r.bytes, data.size() - 5);
  sp.sender.reset();
  EXPECT_TRUE(same_bytes(std::span(data).subspan(5), rx.finish()));
}

// A missing opcode in a batch: the transfer runs down the engine's chain, recorded as a fallback.
TEST_F(Uring, BatchHiddenOpFallsBack) {
  hidden_op hide(IORING_OP_SPLICE);
  auto batch = uring_batch::create();
  ASSERT_TRUE(batch);
  auto data = random_bytes(300000, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto sp = make_socket_pair();
  test::drainer rx(sp.receiver.get());
  ASSERT_TRUE(batch->add(src.get(), sp.sender.get()));
  ASSERT_FALSE(batch->run());
  const transfer_result& r = batch->result(0);
  ASSERT_TRUE(r.ok()) << r.error.message();
  ASSERT_FALSE(r.fallbacks.empty());
  EXPECT_EQ(r.fallbacks.front().from, method::io_uring);
  sp.sender.reset();
  EXPECT_TRUE(same_bytes(data, rx.finish()));
}

TEST_F(Uring, BatchTruncatedSourceReported) {
  auto batch = uring_batch::create();
  ASSERT_TRUE(batch);
  auto data = random_bytes(1 << 20, seed_);
  auto src = test::write_file(dir_ / "src", data, O_RDWR);
  auto dst = test::open_or_die(dir_ / "dst", O_RDWR | O_CREAT | O_TRUNC);
  ASSERT_TRUE(batch->add(src.get(), dst.get()));
  ASSERT_EQ(::ftruncate(src.get(), 5000), 0);
  ASSERT_FALSE(batch->run());
  EXPECT_EQ(batch->result(0).error, errc::source_truncated);
  EXPECT_EQ(batch->result(0).bytes, 5000u);
}

}  // namespace
}  // namespace zcopy
