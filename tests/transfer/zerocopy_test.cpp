// zerocopy_sender: bytes arrive intact in every mode, a buffer comes back exactly once and only
// after the kernel released it, and each fallback and failure path works (through the syscall
// seam). All on loopback TCP, where the kernel copies zero-copy sends anyway (skb_orphan_frags_rx).
#include "zcopy/zerocopy.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "core/uring.hpp"
#include "support/test_support.hpp"
#include "zcopy/error.hpp"
#include "zcopy/net.hpp"

namespace zcopy {
namespace {

using namespace std::chrono_literals;
using test::random_bytes;
using test::same_bytes;
using test::test_seed;

constexpr std::size_t kib = 1024;

bool send_zc_available() {
#ifdef ZCOPY_WITH_URING
  return detail::uring_support().has(IORING_OP_SEND_ZC);
#else
  return false;
#endif
}

// A loopback TCP connection whose receiving end is drained in the background.
struct connection {
  socket_pair pair;
  std::unique_ptr<test::drainer> rx;
  int fd() const { return pair.first.get(); }
  void drain() { rx = std::make_unique<test::drainer>(pair.second.get()); }
  // Ends the stream and returns everything the receiver got.
  std::vector<std::byte> received() {
    (void)sys::shutdown(fd(), SHUT_WR);
    return rx->finish();
  }
  // On every way out of a test: end the stream so the drainer sees EOF before it is joined.
  ~connection() { (void)sys::shutdown(fd(), SHUT_WR); }
};

// `drain` false: the caller starts the receiver (drain()) when it wants the socket emptied.
std::unique_ptr<connection> connect_draining(bool nonblocking = false, bool drain = true) {
  auto pair = loopback_tcp_pair(nonblocking);
  if (!pair) return nullptr;
  auto c = std::make_unique<connection>();
  c->pair = std::move(*pair);
  if (drain) c->drain();
  return c;
}

// A sender, what it handed back, and the stream the receiver must see.
struct harness {
  std::vector<send_completion> returned;
  std::vector<std::byte> expected;
  std::uint64_t seed = test_seed();

  completion_callback collect() {
    return [this](send_completion&& c) { returned.push_back(std::move(c)); };
  }
  // A random buffer of `n` bytes, appended to the expected stream.
  send_buffer next(std::size_t n) {
    send_buffer b = random_bytes(n, ++seed);
    expected.insert(expected.end(), b.begin(), b.end());
    return b;
  }
};

void expect_consistent(const zerocopy_sender& s, const std::vector<send_completion>& returned) {
  std::uint64_t zc = 0, copied = 0;
  for (const auto& c : returned) {
    zc += c.zerocopy_sends;
    copied += c.copied_sends;
    EXPECT_LE(c.copied_sends, c.zerocopy_sends);
  }
  EXPECT_EQ(zc, s.stats().zerocopy_sends);
  EXPECT_EQ(copied, s.stats().copied_sends);
  EXPECT_EQ(returned.size(), s.stats().buffers_returned);
}

class ZerocopySend : public ::testing::TestWithParam<send_mode> {
 protected:
  void SetUp() override {
    SCOPED_TRACE(::testing::Message() << "seed " << test_seed());
    if (GetParam() == send_mode::send_zc && !send_zc_available()) {
      GTEST_SKIP() << "IORING_OP_SEND_ZC unavailable here (Linux < 6.0, no liburing, or "
                      "io_uring disabled)";
    }
  }
};

// Buffers of many sizes (some below the threshold) arrive byte for byte; each comes back once,
// whole, with no error; the copied count agrees between stats and completions.
TEST_P(ZerocopySend, EveryModeDeliversTheBytes) {
  auto conn = connect_draining();
  ASSERT_TRUE(conn);
  harness h;
  {
    auto s = zerocopy_sender::create(conn->fd(), h.collect(), {.mode = GetParam()});
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->mode(), GetParam()) << s->fallback_reason().message();
    const std::size_t sizes[] = {1, 3 * kib, 16 * kib, 64 * kib, 100 * kib + 7, 1024 * kib};
    std::size_t given = 0;
    for (int round = 0; round < 8; ++round) {
      for (std::size_t n : sizes) {
        auto p = s->send(h.next(n));
        ASSERT_FALSE(p.error) << p.error.message();
        ASSERT_FALSE(p.would_block);
        ++given;
      }
    }
    ASSERT_EQ(s->flush(), std::error_code{});
    EXPECT_EQ(s->buffers_held(), 0u);
    ASSERT_EQ(h.returned.size(), given);
    for (const auto& c : h.returned) {
      EXPECT_FALSE(c.error);
      EXPECT_EQ(c.bytes_sent, c.buffer.size());
    }
    expect_consistent(*s, h.returned);
    EXPECT_EQ(s->stats().bytes, h.expected.size());
    if (GetParam() == send_mode::copy) {
      EXPECT_EQ(s->stats().zerocopy_sends, 0u);
    } else {
      EXPECT_GT(s->stats().zerocopy_sends, 0u);
      EXPECT_GT(s->stats().small_sends, 0u);  // the 1 B and 3 KiB buffers
      // Loopback: the kernel copies every zero-copy send (skb_orphan_frags_rx) and says so.
      EXPECT_EQ(s->stats().copied_sends, s->stats().zerocopy_sends);
      EXPECT_GT(s->stats().completions, 0u);
    }
  }
  EXPECT_TRUE(same_bytes(h.expected, conn->received()));
}

// Many buffers in flight at once, each overwritten with fresh random data the moment it comes
// back and sent again: the receiver still sees exactly the stream as it was when sent. A buffer
// returned before the kernel released it would let the overwrite reach the wire.
TEST_P(ZerocopySend, BufferReusedRightAfterItsCallbackNeverCorrupts) {
  auto conn = connect_draining();
  ASSERT_TRUE(conn);
  std::vector<std::byte> expected;
  std::vector<send_buffer> free_list;
  std::uint64_t seed = test_seed() * 31;
  std::size_t max_held = 0;
  const std::size_t total = 400;
  {
    auto s =
        zerocopy_sender::create(conn->fd(),
                                [&](send_completion&& c) {
                                  ASSERT_FALSE(c.error) << c.error.message();
                                  auto scribble = random_bytes(c.buffer.size(), ++seed);
                                  std::memcpy(c.buffer.data(), scribble.data(), scribble.size());
                                  free_list.push_back(std::move(c.buffer));
                                },
                                {.mode = GetParam(), .threshold = 0});
    ASSERT_TRUE(s);
    for (int i = 0; i < 16; ++i) free_list.emplace_back(64 * kib);
    for (std::size_t i = 0; i < total; ++i) {
      while (free_list.empty()) {
        auto w = s->wait(30s);
        ASSERT_TRUE(w) << w.error().message();
        ASSERT_GT(*w, 0u) << "no buffer came back within the bound";
      }
      send_buffer b = std::move(free_list.back());
      free_list.pop_back();
      auto fresh = random_bytes(b.size(), ++seed);
      std::memcpy(b.data(), fresh.data(), b.size());
      expected.insert(expected.end(), b.begin(), b.end());
      ASSERT_FALSE(s->send(std::move(b)).error);
      max_held = std::max(max_held, s->buffers_held());
    }
    ASSERT_EQ(s->flush(), std::error_code{});
    EXPECT_EQ(free_list.size(), 16u);
  }
  EXPECT_TRUE(same_bytes(expected, conn->received()));
  if (GetParam() != send_mode::copy) {
    EXPECT_GT(max_held, 1u) << "nothing was ever in flight";
  }
}

// A non-blocking socket: send() says would_block when the socket is full and keeps the rest
// queued; resume() continues mid-buffer with no byte lost or repeated.
TEST_P(ZerocopySend, NonBlockingSurfacesWouldBlockAndResumes) {
  auto conn = connect_draining(true, false);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(set_nonblocking(conn->pair.second.get(), false));
  int small = 64 * kib;
  ASSERT_TRUE(sys::setsockopt(conn->fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
  harness h;
  auto s = zerocopy_sender::create(conn->fd(), h.collect(), {.mode = GetParam()});
  ASSERT_TRUE(s);
  bool blocked = false;
  std::size_t given = 0;
  // Nobody reads yet: the socket and the receiver's window fill up.
  for (int i = 0; i < 256 && !blocked; ++i) {
    auto p = s->send(h.next(256 * kib + 13));
    ASSERT_FALSE(p.error) << p.error.message();
    ++given;
    blocked = p.would_block;
  }
  ASSERT_TRUE(blocked) << "the socket never filled";
  EXPECT_GT(s->queued_bytes(), 0u);
  // More sends while blocked queue behind the first.
  auto p = s->send(h.next(5 * kib));
  ++given;
  EXPECT_TRUE(p.would_block);
  conn->drain();
  while (s->queued_bytes() > 0) {
    ASSERT_TRUE(sys::wait_ready(conn->fd(), POLLOUT, 30'000));
    ASSERT_FALSE(s->resume().error);
  }
  ASSERT_EQ(s->flush(), std::error_code{});
  EXPECT_EQ(h.returned.size(), given);
  expect_consistent(*s, h.returned);
  EXPECT_TRUE(same_bytes(h.expected, conn->received()));
}

// The peer goes away mid-stream: the error is reported, and every buffer still comes back exactly
// once (those in flight only after the kernel released them), with the error on the unsent ones.
TEST_P(ZerocopySend, PeerCloseReportsErrorAndReturnsEveryBuffer) {
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair);
  std::thread closer([fd = pair->second.release()] {
    std::vector<std::byte> buf(64 * kib);
    (void)sys::read(fd, buf.data(), buf.size());
    // Unread data at close makes the kernel answer with RST: the sender gets ECONNRESET/EPIPE.
    ::close(fd);
  });
  harness h;
  std::set<const std::byte*> seen;
  bool duplicate = false;
  std::size_t given = 0;
  std::error_code error;
  {
    auto s = zerocopy_sender::create(pair->first.get(),
                                     [&](send_completion&& c) {
                                       duplicate |= !seen.insert(c.buffer.data()).second;
                                       h.returned.push_back(std::move(c));
                                     },
                                     {.mode = GetParam()});
    ASSERT_TRUE(s);
    for (int i = 0; i < 4096 && !error; ++i) {
      auto p = s->send(h.next(64 * kib));
      ++given;
      error = p.error;
    }
    // After the failure a new buffer comes straight back with the error.
    auto p = s->send(h.next(64 * kib));
    ++given;
    EXPECT_EQ(p.error, error);
    EXPECT_EQ(s->flush(), error);
    EXPECT_EQ(s->buffers_held(), 0u);
  }
  closer.join();
  ASSERT_TRUE(error) << "sending into a closed peer never failed";
  EXPECT_TRUE(error == std::errc::connection_reset || error == std::errc::broken_pipe)
      << error.message();
  EXPECT_EQ(h.returned.size(), given);
  EXPECT_FALSE(duplicate);
  EXPECT_TRUE(std::any_of(h.returned.begin(), h.returned.end(),
                          [&](const send_completion& c) { return c.error == error; }));
}

// Destroying a sender with buffers in flight hands each back once, after the kernel let go.
TEST_P(ZerocopySend, DestructionReturnsBuffersInFlight) {
  auto conn = connect_draining();
  ASSERT_TRUE(conn);
  harness h;
  {
    auto s = zerocopy_sender::create(conn->fd(), h.collect(), {.mode = GetParam()});
    ASSERT_TRUE(s);
    for (int i = 0; i < 64; ++i) ASSERT_FALSE(s->send(h.next(128 * kib)).error);
  }
  EXPECT_EQ(h.returned.size(), 64u);
  for (const auto& c : h.returned) {
    EXPECT_FALSE(c.error) << c.error.message();
    EXPECT_EQ(c.bytes_sent, 128 * kib);
  }
  EXPECT_TRUE(same_bytes(h.expected, conn->received()));
}

INSTANTIATE_TEST_SUITE_P(Modes, ZerocopySend,
                         ::testing::Values(send_mode::copy, send_mode::msg_zerocopy,
                                           send_mode::send_zc),
                         [](const ::testing::TestParamInfo<send_mode>& mode) {
                           return std::string(to_string(mode.param));
                         });

// --- msg_zerocopy through the syscall seam ------------------------------------------------------

// What the hooks saw: each zero-copy sendmsg that moved bytes gets the socket's next id, in order;
// the error queue reports finished id ranges.
struct seam {
  static inline std::vector<const std::byte*> sent_base;  // by id
  static inline std::set<std::uint32_t> finished;
  static inline int enobufs_at = -1;  // fail this zero-copy sendmsg (0-based) with ENOBUFS
  static inline int zerocopy_calls = 0;
  static inline int errqueue_reads_after_enobufs = 0;
  static inline bool enobufs_given = false;

  static void reset() {
    sent_base.clear();
    finished.clear();
    enobufs_at = -1;
    zerocopy_calls = 0;
    errqueue_reads_after_enobufs = 0;
    enobufs_given = false;
  }
  static ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    if (flags & MSG_ZEROCOPY) {
      if (zerocopy_calls++ == enobufs_at) {
        enobufs_given = true;
        errno = ENOBUFS;
        return -1;
      }
    }
    ssize_t r = sys::real_hooks().sendmsg(fd, msg, flags);
    if ((flags & MSG_ZEROCOPY) && r > 0) {
      sent_base.push_back(static_cast<const std::byte*>(msg->msg_iov[0].iov_base));
    }
    return r;
  }
  static ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    ssize_t r = sys::real_hooks().recvmsg(fd, msg, flags);
    if (!(flags & MSG_ERRQUEUE) || r < 0) return r;
    if (enobufs_given) ++errqueue_reads_after_enobufs;
    for (cmsghdr* cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
      sock_extended_err e;
      std::memcpy(&e, CMSG_DATA(cm), sizeof e);
      if (e.ee_origin != SO_EE_ORIGIN_ZEROCOPY) continue;
      for (std::uint32_t id = e.ee_info;; ++id) {
        finished.insert(id);
        if (id == e.ee_data) break;
      }
    }
    return r;
  }
};

struct hook_guard {
  hook_guard() { seam::reset(); }
  ~hook_guard() {
    sys::restore_hooks();
#ifdef ZCOPY_WITH_URING
    detail::hide_uring_op_for_testing(IORING_OP_SEND_ZC, false);
#endif
  }
};

// At the moment a buffer comes back, the error queue has reported every zero-copy send that read
// from it: never earlier.
TEST(ZerocopySeam, BufferComesBackOnlyAfterItsNotification) {
  hook_guard g;
  sys::hooks().sendmsg = seam::sendmsg;
  sys::hooks().recvmsg = seam::recvmsg;
  auto conn = connect_draining();
  ASSERT_TRUE(conn);
  harness h;
  std::size_t checked = 0;
  {
    auto s = zerocopy_sender::create(
        conn->fd(),
        [&](send_completion&& c) {
          const std::byte* lo = c.buffer.data();
          const std::byte* hi = lo + c.buffer.size();
          for (std::uint32_t id = 0; id < seam::sent_base.size(); ++id) {
            if (seam::sent_base[id] >= lo && seam::sent_base[id] < hi) {
              EXPECT_TRUE(seam::finished.count(id)) << "buffer returned before id " << id;
              ++checked;
            }
          }
          h.returned.push_back(std::move(c));
        },
        {.mode = send_mode::msg_zerocopy});
    ASSERT_TRUE(s);
    ASSERT_EQ(s->mode(), send_mode::msg_zerocopy);
    for (int i = 0; i < 100; ++i) ASSERT_FALSE(s->send(h.next(96 * kib)).error);
    ASSERT_EQ(s->flush(), std::error_code{});
    EXPECT_EQ(checked, s->stats().zerocopy_sends);
  }
  EXPECT_GT(checked, 0u);
  EXPECT_TRUE(same_bytes(h.expected, conn->received()));
}

// ENOBUFS (optmem full) once: the sender reaps the error queue and carries on; nothing is lost.
TEST(ZerocopySeam, EnobufsReapsCompletionsAndRetries) {
  hook_guard g;
  seam::enobufs_at = 5;
  sys::hooks().sendmsg = seam::sendmsg;
  sys::hooks().recvmsg = seam::recvmsg;
  auto conn = connect_draining();
  ASSERT_TRUE(conn);
  harness h;
  {
    auto s = zerocopy_sender::create(conn->fd(), h.collect(), {.mode = send_mode::msg_zerocopy});
    ASSERT_TRUE(s);
    for (int i = 0; i < 20; ++i) ASSERT_FALSE(s->send(h.next(64 * kib)).error);
    ASSERT_EQ(s->flush(), std::error_code{});
    EXPECT_EQ(h.returned.size(), 20u);
    expect_consistent(*s, h.returned);
  }
  EXPECT_TRUE(seam::enobufs_given);
  EXPECT_GT(seam::errqueue_reads_after_enobufs, 0);
  EXPECT_TRUE(same_bytes(h.expected, conn->received()));
}

// SO_ZEROCOPY refused (an old kernel, a socket without an error queue): copy mode, reason kept.
TEST(ZerocopySeam, RefusedSoZerocopyFallsBackToCopy) {
  hook_guard g;
  sys::hooks().setsockopt = [](int fd, int level, int name, const void* v, socklen_t n) {
    if (level == SOL_SOCKET && name == SO_ZEROCOPY) {
      errno = EOPNOTSUPP;
      return -1;
    }
    return sys::real_hooks().setsockopt(fd, level, name, v, n);
  };
  auto conn = connect_draining();
  ASSERT_TRUE(conn);
  harness h;
  {
    auto s = zerocopy_sender::create(conn->fd(), h.collect(), {.mode = send_mode::msg_zerocopy});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->mode(), send_mode::copy);
    EXPECT_EQ(s->fallback_reason(), std::errc::operation_not_supported);
    for (int i = 0; i < 10; ++i) ASSERT_FALSE(s->send(h.next(64 * kib)).error);
    // Plain sends: every buffer is back as soon as send returns.
    EXPECT_EQ(h.returned.size(), 10u);
    EXPECT_EQ(s->stats().zerocopy_sends, 0u);
  }
  EXPECT_TRUE(same_bytes(h.expected, conn->received()));
}

// A send failing with EPIPE midway: the error comes back, every buffer too.
TEST(ZerocopySeam, InjectedEpipeReturnsEveryBufferWithTheError) {
  hook_guard g;
  sys::hooks().sendmsg = [](int fd, const msghdr* msg, int flags) -> ssize_t {
    if (++seam::zerocopy_calls == 4) {
      errno = EPIPE;
      return -1;
    }
    return sys::real_hooks().sendmsg(fd, msg, flags);
  };
  auto conn = connect_draining();
  ASSERT_TRUE(conn);
  harness h;
  {
    auto s = zerocopy_sender::create(conn->fd(), h.collect(), {.mode = send_mode::msg_zerocopy});
    ASSERT_TRUE(s);
    for (int i = 0; i < 6; ++i) {
      auto p = s->send(h.next(64 * kib));
      if (i < 3) {
        EXPECT_FALSE(p.error);
      } else {
        EXPECT_EQ(p.error, std::errc::broken_pipe);
      }
    }
    EXPECT_EQ(s->flush(), std::errc::broken_pipe);
    // The three sent wait for their notifications; the failed and unsent ones come back first.
    ASSERT_EQ(h.returned.size(), 6u);
    std::size_t whole = 0, failed = 0;
    for (const auto& c : h.returned) {
      whole += c.bytes_sent == 64 * kib && !c.error;
      failed += c.bytes_sent == 0 && c.error == std::errc::broken_pipe;
    }
    EXPECT_EQ(whole, 3u);
    EXPECT_EQ(failed, 3u);
  }
  auto got = conn->received();
  EXPECT_TRUE(same_bytes(std::span(h.expected).first(3 * 64 * kib), got));
}

// Below the threshold a buffer goes out with a plain send and comes back at once; with the
// threshold at 0 the same buffers go zero-copy.
TEST(ZerocopySeam, BelowThresholdUsesPlainSend) {
  auto conn = connect_draining();
  ASSERT_TRUE(conn);
  harness h;
  {
    auto s = zerocopy_sender::create(conn->fd(), h.collect(),
                                     {.mode = send_mode::msg_zerocopy, .threshold = 8 * kib});
    ASSERT_TRUE(s);
    for (int i = 0; i < 50; ++i) ASSERT_FALSE(s->send(h.next(8 * kib - 1)).error);
    EXPECT_EQ(h.returned.size(), 50u);  // no completion to wait for
    EXPECT_EQ(s->stats().small_sends, 50u);
    EXPECT_EQ(s->stats().zerocopy_sends, 0u);
    auto zc = zerocopy_sender::create(conn->fd(), h.collect(),
                                      {.mode = send_mode::msg_zerocopy, .threshold = 0});
    ASSERT_TRUE(zc);
    for (int i = 0; i < 50; ++i) ASSERT_FALSE(zc->send(h.next(8 * kib - 1)).error);
    ASSERT_EQ(zc->flush(), std::error_code{});
    EXPECT_EQ(zc->stats().small_sends, 0u);
    EXPECT_EQ(zc->stats().zerocopy_sends, 50u);
    EXPECT_EQ(h.returned.size(), 100u);
  }
  EXPECT_TRUE(same_bytes(h.expected, conn->received()));
}

// SEND_ZC missing from the probe (before Linux 6.0, or hidden here): msg_zerocopy, reason kept.
TEST(ZerocopySeam, MissingSendZcFallsBackToMsgZerocopy) {
  hook_guard g;
#ifdef ZCOPY_WITH_URING
  detail::hide_uring_op_for_testing(IORING_OP_SEND_ZC, true);
#endif
  auto conn = connect_draining();
  ASSERT_TRUE(conn);
  harness h;
  {
    auto s = zerocopy_sender::create(conn->fd(), h.collect(), {.mode = send_mode::send_zc});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->requested_mode(), send_mode::send_zc);
    EXPECT_EQ(s->mode(), send_mode::msg_zerocopy);
    EXPECT_EQ(s->fallback_reason(), errc::method_unavailable);
    for (int i = 0; i < 10; ++i) ASSERT_FALSE(s->send(h.next(64 * kib)).error);
    ASSERT_EQ(s->flush(), std::error_code{});
    EXPECT_EQ(s->stats().zerocopy_sends, 10u);
  }
  EXPECT_TRUE(same_bytes(h.expected, conn->received()));
}

#ifdef ZCOPY_WITH_URING
// The ring cannot be set up (memlock limit, io_uring_disabled): msg_zerocopy, the error kept.
TEST(ZerocopySeam, RingSetupFailureFallsBackToMsgZerocopy) {
  if (!send_zc_available()) GTEST_SKIP() << "IORING_OP_SEND_ZC unavailable here";
  hook_guard g;
  sys::hooks().io_uring_queue_init_params = [](unsigned, io_uring*, io_uring_params*) {
    return -ENOMEM;
  };
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair);
  harness h;
  auto s = zerocopy_sender::create(pair->first.get(), h.collect(), {.mode = send_mode::send_zc});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->mode(), send_mode::msg_zerocopy);
  EXPECT_EQ(s->fallback_reason(), std::errc::not_enough_memory);
}

// send_zc: a buffer is never back before a NOTIF for each of its zero-copy sends was reaped.
TEST(ZerocopySeam, SendZcReturnsOnlyAfterNotifications) {
  if (!send_zc_available()) GTEST_SKIP() << "IORING_OP_SEND_ZC unavailable here";
  auto conn = connect_draining();
  ASSERT_TRUE(conn);
  harness h;
  std::uint64_t zc_returned = 0;
  zerocopy_sender* self = nullptr;
  {
    auto s = zerocopy_sender::create(conn->fd(),
                                     [&](send_completion&& c) {
                                       zc_returned += c.zerocopy_sends;
                                       EXPECT_LE(zc_returned, self->stats().completions);
                                       h.returned.push_back(std::move(c));
                                     },
                                     {.mode = send_mode::send_zc});
    ASSERT_TRUE(s);
    self = &*s;
    for (int i = 0; i < 100; ++i) ASSERT_FALSE(s->send(h.next(96 * kib)).error);
    ASSERT_EQ(s->flush(), std::error_code{});
    EXPECT_EQ(zc_returned, s->stats().zerocopy_sends);
  }
  EXPECT_GT(zc_returned, 0u);
  EXPECT_TRUE(same_bytes(h.expected, conn->received()));
}
#endif

}  // namespace
}  // namespace zcopy
