// net::connect_tcp and net::wait_ready: a loopback listener accepts, a closed port refuses, a
// name that does not exist is a resolve failure, and a connect that never completes ends at the
// timeout or at a stop request (through the connect and poll seams), its socket closed.
#include "net/connect.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <thread>

#include "support/test_support.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"
#include "zcopy/net.hpp"

namespace zcopy::net {
namespace {

using namespace std::chrono_literals;

// The bytes sent on the connected socket arrive at the accepted one.
TEST(ConnectTcp, ConnectsToALoopbackListener) {
  auto listener = listen_loopback_tcp();
  ASSERT_TRUE(listener) << listener.error().message();
  const std::uint16_t port = local_port(listener->get()).value_or(0);
  for (const char* host : {"127.0.0.1", "localhost"}) {
    SCOPED_TRACE(host);
    auto fd = connect_tcp(host, port, 5s, {});
    ASSERT_TRUE(fd) << fd.error().code.message();
    auto accepted = sys::accept4(listener->get(), nullptr, nullptr, 0);
    ASSERT_TRUE(accepted) << accepted.error().message();
    unique_fd peer(*accepted);
    const auto data = test::random_bytes(3000, test::test_seed());
    ASSERT_TRUE(write_all(fd->get(), data));
    std::vector<std::byte> got(data.size());
    std::size_t have = 0;
    while (have < got.size()) {
      auto r = sys::recv(peer.get(), got.data() + have, got.size() - have, 0);
      ASSERT_TRUE(r && *r > 0);
      have += *r;
    }
    EXPECT_TRUE(test::same_bytes(data, got));
  }
}

TEST(ConnectTcp, AClosedPortIsRefused) {
  const auto closed_port = static_cast<std::uint16_t>(test::refusing_port());
  auto fd = connect_tcp("127.0.0.1", closed_port, 5s, {});
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().what, connect_error::kind::refused);
  EXPECT_EQ(fd.error().code, std::errc::connection_refused);
}

// RFC 6761: .invalid never resolves.
TEST(ConnectTcp, AMissingNameIsAResolveFailure) {
  auto fd = connect_tcp("no-such-host.invalid", 80, 5s, {});
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().what, connect_error::kind::resolve);
  EXPECT_EQ(fd.error().code, std::errc::address_not_available);
}

// A connect that stays in progress: the kernel's is made to say EINPROGRESS and poll never sees
// the socket writable.
std::atomic<int> pending_socket{-1};
std::atomic<int> polls{0};

// Called with a live fault_scope, which puts the real hooks back.
void hang_connects() {
  pending_socket = -1;
  polls = 0;
  sys::hooks().connect = [](int fd, const sockaddr*, socklen_t) {
    pending_socket = fd;
    errno = EINPROGRESS;
    return -1;
  };
  sys::hooks().poll = [](pollfd* fds, nfds_t n, int timeout) {
    ++polls;
    if (n == 1 && fds[0].fd == pending_socket) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(timeout, 20)));
      fds[0].revents = 0;
      return 0;
    }
    return sys::real_hooks().poll(fds, n, timeout);
  };
}

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

TEST(ConnectTcp, APendingConnectEndsAtTheTimeout) {
  test::fault_scope faults;
  hang_connects();
  auto fd = connect_tcp("127.0.0.1", 9, 100ms, {});
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().what, connect_error::kind::timeout);
  EXPECT_EQ(fd.error().code, std::errc::timed_out);
  EXPECT_GT(polls.load(), 0);
  ASSERT_GE(pending_socket.load(), 0);
  EXPECT_FALSE(is_open(pending_socket.load()));
}

TEST(ConnectTcp, AStopRequestEndsAPendingConnect) {
  test::fault_scope faults;
  hang_connects();
  std::stop_source stop;
  std::jthread stopper([&] {
    while (polls.load() == 0) std::this_thread::sleep_for(1ms);
    stop.request_stop();
  });
  auto fd = connect_tcp("127.0.0.1", 9, 60s, stop.get_token());
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().what, connect_error::kind::cancelled);
  EXPECT_EQ(fd.error().code, make_error_code(errc::cancelled));
  EXPECT_FALSE(is_open(pending_socket.load()));
}

// SO_ERROR after the wait names the failure of the attempt: the next address is tried, and the
// last error is the one reported.
TEST(ConnectTcp, SoErrorAfterTheWaitIsTheError) {
  const auto closed_port = static_cast<std::uint16_t>(test::refusing_port());
  test::fault_scope faults;
  sys::hooks().connect = [](int, const sockaddr*, socklen_t) {
    errno = EINPROGRESS;
    return -1;
  };
  sys::hooks().poll = [](pollfd* fds, nfds_t n, int) {
    for (nfds_t i = 0; i < n; ++i) fds[i].revents = POLLOUT;
    return static_cast<int>(n);
  };
  sys::hooks().getsockopt = [](int, int level, int name, void* value, socklen_t* length) {
    if (level == SOL_SOCKET && name == SO_ERROR) {
      *static_cast<int*>(value) = EHOSTUNREACH;
      *length = sizeof(int);
      return 0;
    }
    errno = EINVAL;
    return -1;
  };
  auto fd = connect_tcp("127.0.0.1", closed_port, 5s, {});
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().what, connect_error::kind::refused);
  EXPECT_EQ(fd.error().code, std::errc::host_unreachable);
}

TEST(WaitReady, ReadyTimedOutOrStopped) {
  auto pair = loopback_tcp_pair(true);
  ASSERT_TRUE(pair) << pair.error().message();
  EXPECT_TRUE(wait_ready(pair->first.get(), POLLOUT, 1s, {}));

  auto idle = wait_ready(pair->first.get(), POLLIN, 50ms, {});
  ASSERT_FALSE(idle);
  EXPECT_EQ(idle.error(), std::errc::timed_out);

  std::stop_source stop;
  stop.request_stop();
  auto stopped = wait_ready(pair->first.get(), POLLIN, 60s, stop.get_token());
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error(), make_error_code(errc::cancelled));

  const std::byte one{0x5a};
  ASSERT_TRUE(write_all(pair->second.get(), std::span(&one, 1)));
  EXPECT_TRUE(wait_ready(pair->first.get(), POLLIN, 5s, {}));
}

}  // namespace
}  // namespace zcopy::net
