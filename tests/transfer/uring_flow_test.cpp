// uring_flow on a caller's ring: the flow's entries queued beside the caller's own, completions
// routed back by user_data, each round judged by the engine's rules (judge_round), the way the
// server's io_uring loop drives a reply's body. Random data, compared byte for byte; refusals
// injected through the syscall seam.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <limits>
#include <optional>
#include <vector>

#include "support/test_support.hpp"
#include "zcopy/error.hpp"
#include "zcopy/transfer.hpp"

#ifdef ZCOPY_WITH_URING
#include "core/uring.hpp"
#include "sys/sys.hpp"
#include "transfer/state.hpp"
#include "transfer/uring_flow.hpp"
#endif

namespace zcopy {
namespace {

#ifdef ZCOPY_WITH_URING

using test::random_bytes;
using test::same_bytes;
using test::temp_dir;
using test::test_seed;

constexpr std::uint64_t flow_tag = 7;         // entries: 7 << 8 | index
constexpr std::uint64_t foreign_data = 1000;  // the caller's own entries

struct socket_pair {
  unique_fd sender;
  unique_fd receiver;
};

socket_pair make_socket_pair(bool nonblocking_sender) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  if (nonblocking_sender) {
    EXPECT_EQ(::fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  }
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

// What the seam saw of the splices submitted: the sink descriptor and the flags of each.
struct submitted_splice {
  int out_fd;
  unsigned flags;
};
std::vector<submitted_splice> seen_splices;
bool refuse_splices = false;

// Looks at (and, when asked, spoils) the splices queued in the ring before the real submit: an
// unknown splice flag makes the kernel answer EINVAL, as it does for a descriptor that cannot
// splice.
void inspect_queue(io_uring* ring) {
  for (unsigned i = ring->sq.sqe_head; i != ring->sq.sqe_tail; ++i) {
    io_uring_sqe& sqe = ring->sq.sqes[i & ring->sq.ring_mask];
    if (sqe.opcode != IORING_OP_SPLICE) continue;
    seen_splices.push_back({sqe.fd, sqe.splice_flags});
    if (refuse_splices) sqe.splice_flags |= 1u << 20;
  }
}

int inspecting_submit(io_uring* ring, unsigned wait_nr) {
  inspect_queue(ring);
  return sys::real_hooks().io_uring_submit_and_wait(ring, wait_nr);
}

class UringFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    auto info = detail::uring_support();
    if (info.setup_error) GTEST_SKIP() << "io_uring_setup refused: " << info.setup_error.message();
    if (!info.has(IORING_OP_SPLICE) || !info.has(IORING_OP_NOP)) {
      GTEST_SKIP() << "kernel lacks IORING_OP_SPLICE or IORING_OP_NOP";
    }
    auto r = detail::uring::create({.entries = 32});
    ASSERT_TRUE(r) << r.error().message();
    ring_.emplace(std::move(*r));
    seen_splices.clear();
    refuse_splices = false;
    sys::hooks().io_uring_submit_and_wait = inspecting_submit;
  }
  void TearDown() override {
    sys::restore_hooks();
    refuse_splices = false;
  }

  transfer_job body_job(int file, int socket, std::uint64_t offset, std::uint64_t length) {
    transfer_options o;
    o.use = method::io_uring;
    o.allow_fallback = true;
    o.source_offset = offset;
    o.length = length;
    auto job = transfer_job::create(file, socket, o);
    EXPECT_TRUE(job) << job.error().message();
    return std::move(*job);
  }

  // Drives the job's rounds on the caller's ring until it is done or falls back. Every round
  // shares a submission with one of the caller's own entries (a NOP), whose completion the
  // caller must not hand to the flow. `between` runs after each settled round.
  template <class Between>
  detail::round_verdict drive(transfer_job& job, Between between) {
    detail::transfer_state& st = detail::job_access::state(job);
    auto shape = detail::uring_shape_for(st);
    EXPECT_TRUE(shape && *shape == detail::flow_shape::splice);
    detail::uring_flow flow(detail::flow_shape::splice, 0);
    const detail::uring_lane lane{ring_->get(), 1, 0, nullptr};
    for (;;) {
      if (detail::finish_if_moved_all(st)) return detail::round_verdict::done;
      auto queued = flow.queue(lane, st, st.remaining.value_or(UINT64_MAX), flow_tag);
      if (!queued) {
        ADD_FAILURE() << queued.error().message();
        return detail::round_verdict::done;
      }
      io_uring_sqe* nop = io_uring_get_sqe(ring_->get());
      io_uring_prep_nop(nop);
      io_uring_sqe_set_data64(nop, foreign_data);
      ++foreign_queued_;
      while (flow.in_flight()) {
        auto s = sys::uring_submit(ring_->get(), 1);
        EXPECT_TRUE(s) << s.error().message();
        ring_->for_each_completion([&](const io_uring_cqe& cqe) {
          if (cqe.user_data == foreign_data) {
            ++foreign_completed_;
          } else {
            EXPECT_EQ(cqe.user_data >> 8, flow_tag);
            flow.complete(static_cast<unsigned>(cqe.user_data & 0xff), cqe.res);
          }
        });
      }
      auto out = flow.settle(lane, st, flow_tag);
      EXPECT_TRUE(out);  // the splice shape queues nothing when it settles
      if (!out) return detail::round_verdict::done;
      if (flow.last_poll()) ++polls_;
      between(flow);
      if (auto v = detail::judge_round(st, *out); v != detail::round_verdict::go_on) return v;
    }
  }
  detail::round_verdict drive(transfer_job& job) {
    return drive(job, [](const detail::uring_flow&) {});
  }

  void reap_foreign() {
    while (foreign_completed_ < foreign_queued_) {
      ASSERT_TRUE(sys::uring_submit(ring_->get(), 1));
      ring_->for_each_completion([&](const io_uring_cqe& cqe) {
        if (cqe.user_data == foreign_data) ++foreign_completed_;
      });
    }
  }

  std::uint64_t seed_ = test_seed();
  ::testing::ScopedTrace trace_{__FILE__, __LINE__, "seed " + std::to_string(test_seed())};
  temp_dir dir_;
  std::optional<detail::uring> ring_;
  unsigned foreign_queued_ = 0;
  unsigned foreign_completed_ = 0;
  unsigned polls_ = 0;
};

// A file range reaches the socket whole through the caller's ring, at sizes around a pipe's; the
// caller's own entries come back to the caller, not to the flow.
TEST_F(UringFlow, FileRangeOnCallersRing) {
  for (std::size_t size : {std::size_t{1}, std::size_t{70001}, (std::size_t{3} << 20) + 5}) {
    SCOPED_TRACE(size);
    auto data = random_bytes(size + 100, seed_ + size);
    auto src = test::write_file(dir_ / "src", data);
    auto sp = make_socket_pair(false);
    test::drainer rx(sp.receiver.get());
    transfer_job job = body_job(src.get(), sp.sender.get(), 100, size);
    EXPECT_EQ(drive(job), detail::round_verdict::done);
    reap_foreign();
    sp.sender.reset();
    const transfer_result& r = job.result();
    ASSERT_TRUE(r.ok()) << r.error.message();
    EXPECT_TRUE(r.complete);
    EXPECT_TRUE(job.done());
    EXPECT_EQ(r.bytes_with(method::io_uring), size);
    EXPECT_TRUE(r.fallbacks.empty());
    EXPECT_TRUE(same_bytes(std::span(data).subspan(100, size), rx.finish()));
    EXPECT_EQ(foreign_completed_, foreign_queued_);
    EXPECT_EQ(::lseek(src.get(), 0, SEEK_CUR), 0);
  }
}

// Every splice into the socket but the last says SPLICE_F_MORE (the body goes on after it); the
// last does not, so the end of the body is not held back.
TEST_F(UringFlow, SpliceMoreUntilTheLastBytes) {
  const std::size_t size = (std::size_t{3} << 20) + 7;
  auto data = random_bytes(size, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto sp = make_socket_pair(false);
  test::drainer rx(sp.receiver.get());
  transfer_job job = body_job(src.get(), sp.sender.get(), 0, size);
  EXPECT_EQ(drive(job), detail::round_verdict::done);
  sp.sender.reset();
  ASSERT_TRUE(job.result().ok()) << job.result().error.message();
  EXPECT_TRUE(same_bytes(data, rx.finish()));
  // Splices into the pipe carry no MORE; only those into the socket are checked.
  std::vector<unsigned> to_socket;
  for (const auto& s : seen_splices) {
    if (s.out_fd == detail::job_access::state(job).dst.fd()) to_socket.push_back(s.flags);
  }
  ASSERT_GE(to_socket.size(), 4u);  // at least one per pipe's capacity
  for (std::size_t i = 0; i + 1 < to_socket.size(); ++i) {
    EXPECT_TRUE(to_socket[i] & SPLICE_F_MORE) << "splice " << i;
  }
  EXPECT_FALSE(to_socket.back() & SPLICE_F_MORE);
}

// A full non-blocking socket answers EAGAIN: the next round drains the pipe behind a linked
// POLL_ADD that reports room, and nothing is lost or repeated.
TEST_F(UringFlow, FullSocketPollsBeforeDrain) {
  auto sp = make_socket_pair(true);
  // Fill the socket first, so the first splice out finds no room whatever the scheduling.
  std::vector<std::byte> filler(64 * 1024, std::byte{0x5a});
  std::size_t filled = 0;
  for (;;) {
    ssize_t n = ::send(sp.sender.get(), filler.data(), filler.size(), MSG_DONTWAIT);
    if (n <= 0) break;
    filled += static_cast<std::size_t>(n);
  }
  ASSERT_GT(filled, 0u);
  const std::size_t size = (std::size_t{1} << 20) + 3;
  auto data = random_bytes(size, seed_);
  auto src = test::write_file(dir_ / "src", data);
  transfer_job job = body_job(src.get(), sp.sender.get(), 0, size);
  std::optional<test::drainer> rx;
  bool blocked = false;
  EXPECT_EQ(drive(job,
                  [&](const detail::uring_flow& flow) {
                    if (!rx) {
                      // The first round met a full socket: its drain will poll first.
                      blocked = flow.polls_before_drain();
                      rx.emplace(sp.receiver.get());
                    }
                  }),
            detail::round_verdict::done);
  sp.sender.reset();
  ASSERT_TRUE(job.result().ok()) << job.result().error.message();
  EXPECT_TRUE(blocked);
  EXPECT_GE(polls_, 1u);
  auto got = rx->finish();
  ASSERT_EQ(got.size(), filled + size);
  EXPECT_TRUE(same_bytes(data, std::span(got).subspan(filled)));
}

// The kernel refuses the splice before the first byte (EINVAL: a descriptor that cannot splice):
// the round is a fallback, the job's chain goes on from the same offset with sendfile, and the
// bytes arrive once.
TEST_F(UringFlow, EinvalBeforeFirstByteFallsBackToChain) {
  const std::size_t size = (std::size_t{2} << 20) + 11;
  auto data = random_bytes(size + 50, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto sp = make_socket_pair(false);
  test::drainer rx(sp.receiver.get());
  transfer_job job = body_job(src.get(), sp.sender.get(), 50, size);
  refuse_splices = true;
  EXPECT_EQ(drive(job), detail::round_verdict::fall_back);
  refuse_splices = false;
  EXPECT_FALSE(job.done());
  transfer_result r = job.run();
  sp.sender.reset();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  ASSERT_EQ(r.fallbacks.size(), 1u);
  EXPECT_EQ(r.fallbacks[0].from, method::io_uring);
  EXPECT_EQ(r.fallbacks[0].to, method::sendfile);
  EXPECT_EQ(r.fallbacks[0].reason, std::errc::invalid_argument);
  EXPECT_EQ(r.fallbacks[0].at_byte, 0u);
  EXPECT_EQ(r.bytes_with(method::sendfile), size);
  EXPECT_TRUE(same_bytes(std::span(data).subspan(50, size), rx.finish()));
}

// A file cut short under the transfer: the zero from the splice is judged by the engine
// (source_truncated), not taken for the end.
TEST_F(UringFlow, TruncatedFileJudgedByEngine) {
  const std::size_t size = std::size_t{3} << 20;
  auto data = random_bytes(size, seed_);
  auto src = test::write_file(dir_ / "src", data, O_RDWR);
  auto sp = make_socket_pair(false);
  test::drainer rx(sp.receiver.get());
  transfer_job job = body_job(src.get(), sp.sender.get(), 0, size);
  bool cut = false;
  EXPECT_EQ(drive(job,
                  [&](const detail::uring_flow&) {
                    if (!cut) {
                      ASSERT_EQ(::ftruncate(src.get(), 1 << 20), 0);
                      cut = true;
                    }
                  }),
            detail::round_verdict::done);
  sp.sender.reset();
  auto got = rx.finish();
  EXPECT_EQ(job.result().error, errc::source_truncated);
  EXPECT_TRUE(job.done());
  // What arrived is the file's first bytes, never more than it still has.
  ASSERT_LE(got.size(), std::size_t{1} << 20);
  EXPECT_EQ(got.size(), job.result().bytes);
  EXPECT_TRUE(same_bytes(std::span(data).first(got.size()), got));
}

#endif

}  // namespace
}  // namespace zcopy
