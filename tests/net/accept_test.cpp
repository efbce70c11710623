// Accepting under descriptor exhaustion: EMFILE/ENFILE from accept4 pause accepting instead of
// spinning on a listener that stays readable, and the loop recovers once descriptors are back.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "net/server.hpp"
#include "support/test_support.hpp"

namespace zcopy::net {
namespace {

using namespace std::chrono_literals;

class echo_protocol final : public protocol {
 public:
  std::size_t consume(std::string_view input, std::optional<reply>& out) override {
    const auto nl = input.find('\n');
    if (nl == std::string_view::npos) return 0;
    reply r;
    r.head = std::string(input.substr(0, nl + 1));
    out = std::move(r);
    return nl + 1;
  }
};

std::atomic<int> accept_calls{0};
std::atomic<bool> accept_fails{false};
std::atomic<int> accept_errno{EMFILE};

int failing_accept4(int fd, sockaddr* address, socklen_t* length, int flags) {
  ++accept_calls;
  if (accept_fails.load()) {
    errno = accept_errno.load();
    return -1;
  }
  return sys::real_hooks().accept4(fd, address, length, flags);
}

class AcceptExhaustion : public ::testing::TestWithParam<int> {
 protected:
  void TearDown() override { sys::restore_hooks(); }
};

// While accept4 keeps failing with EMFILE (or ENFILE) the worker retries about every 100 ms, not
// in a busy loop; when descriptors are available again the waiting client is served.
TEST_P(AcceptExhaustion, PausesInsteadOfSpinningAndRecovers) {
  accept_calls = 0;
  accept_fails = true;
  accept_errno = GetParam();
  sys::hooks().accept4 = failing_accept4;

  server_options o;
  o.listen.push_back(*parse_address("127.0.0.1:0"));
  o.threads = 1;
  auto s = server::start(std::move(o),
                         [](std::string_view) { return std::make_unique<echo_protocol>(); });
  ASSERT_TRUE(s) << s.error().message();
  auto addr = parse_address((*s)->addresses().at(0));
  ASSERT_TRUE(addr);

  // The connection completes in the backlog; the server cannot take it yet.
  unique_fd client(::socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), addr->get(), addr->length), 0) << std::strerror(errno);
  timeval tv{10, 0};
  ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ASSERT_EQ(::send(client.get(), "hello\n", 6, MSG_NOSIGNAL), 6);

  std::this_thread::sleep_for(500ms);
  const int during = accept_calls.load();
  EXPECT_GE(during, 1);
  // About 5 tries in 500 ms with a 100 ms pause; a spinning loop makes hundreds of thousands.
  EXPECT_LE(during, 20) << "accept4 was retried in a busy loop";
  EXPECT_EQ((*s)->stats().accepted, 0u);

  accept_fails = false;
  char buf[16] = {};
  std::size_t got = 0;
  while (got < 6) {
    const ssize_t r = ::recv(client.get(), buf + got, sizeof buf - got, 0);
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  EXPECT_EQ(std::string(buf, got), "hello\n");
  EXPECT_EQ((*s)->stats().accepted, 1u);
}

std::string error_name(const ::testing::TestParamInfo<int>& param) {
  return param.param == EMFILE ? "EMFILE" : "ENFILE";
}

INSTANTIATE_TEST_SUITE_P(Errors, AcceptExhaustion, ::testing::Values(EMFILE, ENFILE), error_name);

}  // namespace
}  // namespace zcopy::net
