// The relay's loop in-process, against threaded backends on loopback: bytes both ways, half-close
// in each direction, fallback when splice is refused, backends that refuse, reset or never
// answer, round robin, limits, timeouts and a graceful stop.
#include "net/relay.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/relay_peers.hpp"
#include "support/test_support.hpp"
#include "sys/sys.hpp"

namespace zcopy::net {
namespace {

using namespace std::chrono_literals;
using test::read_end;

// How long a test waits for something that is bound to happen (bytes, an EOF, a log line): the
// wait ends when it happens, so only a failure waits this long. Generous, because the relay runs
// under TSan on busy 2-CPU machines too; a test must not depend on speed.
constexpr std::chrono::milliseconds patience = 60s;
// read_until_end and echo_through (tests/support/relay_peers.hpp) bound a whole transfer, not a
// silence: for MiBs the bound is set far beyond any speed, so that it only ends a stall.
constexpr std::chrono::milliseconds transfer_bound = 10min;

// A relay on 127.0.0.1:0 with its log lines collected.
struct running_relay {
  std::unique_ptr<relay> r;
  int port = 0;
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();

  std::vector<std::string> log() const {
    std::lock_guard lock(*mutex);
    return *lines;
  }
  std::size_t count(std::string_view needle) const {
    auto l = log();
    return static_cast<std::size_t>(std::count_if(l.begin(), l.end(), [&](const std::string& s) {
      return s.find(needle) != std::string::npos;
    }));
  }
  std::string text() const {
    std::string all;
    for (auto& l : log()) all += l + "\n";
    return all;
  }
  // Waits (bounded) until a log line contains `needle`.
  bool wait_for_line(std::string_view needle, std::chrono::milliseconds timeout = patience) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count(needle) > 0) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

running_relay start_relay(std::vector<std::string> targets,
                          std::function<void(relay_options&)> tune = {}) {
  running_relay out;
  relay_options o;
  o.listen.push_back(*parse_address("127.0.0.1:0"));
  for (auto& t : targets) o.targets.push_back(*parse_address(t));
  o.threads = 2;
  o.log = [m = out.mutex, l = out.lines](std::string_view line) {
    std::lock_guard lock(*m);
    l->emplace_back(line);
  };
  if (tune) tune(o);
  auto r = relay::start(std::move(o));
  if (!r) {
    ADD_FAILURE() << "relay::start: " << r.error().message();
    return out;
  }
  out.r = std::move(*r);
  const std::string& a = out.r->addresses().at(0);
  out.port = std::stoi(a.substr(a.rfind(':') + 1));
  return out;
}

std::string dead_target() {
  return "127.0.0.1:" + std::to_string(test::refusing_port());
}

class Relay : public ::testing::Test {
 protected:
  void SetUp() override { trace_.emplace(__FILE__, __LINE__, seed_text()); }
  static std::string seed_text() { return "seed " + std::to_string(test::test_seed()); }
  std::optional<::testing::ScopedTrace> trace_;
};

// Payloads of many sizes go through and come back byte for byte (splice both ways).
TEST_F(Relay, EchoesPayloadsOfManySizesByteExact) {
  test::tcp_backend backend([&](int fd, std::size_t) { test::echo(backend, fd); });
  auto r = start_relay({backend.address()});
  ASSERT_TRUE(r.r);
  std::uint64_t seed = test::test_seed();
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{4096}, (std::size_t{1} << 20) + 7}) {
    SCOPED_TRACE("size " + std::to_string(n));
    auto payload = test::random_bytes(n, seed++);
    auto got = test::echo_through(r.port, payload, transfer_bound);
    EXPECT_EQ(got.how, read_end::eof);
    EXPECT_TRUE(test::same_bytes(payload, got.bytes));
  }
  EXPECT_EQ(backend.eofs(), 4u);  // each client's half-close reached the backend
  EXPECT_TRUE(r.wait_for_line("reason=done")) << r.text();
}

// The forced read/write engine moves the same bytes.
TEST_F(Relay, ReadWriteEngineEchoesByteExact) {
  test::tcp_backend backend([&](int fd, std::size_t) { test::echo(backend, fd); });
  auto r =
      start_relay({backend.address()}, [](relay_options& o) { o.engine = method::read_write; });
  ASSERT_TRUE(r.r);
  auto payload = test::random_bytes((std::size_t{3} << 20) + 5, test::test_seed());
  auto got = test::echo_through(r.port, payload, transfer_bound);
  EXPECT_EQ(got.how, read_end::eof);
  EXPECT_TRUE(test::same_bytes(payload, got.bytes));
}

// splice refused with EINVAL on every call (a socket type that cannot splice): the transfers
// fall back to read/write and still relay every byte.
TEST_F(Relay, SpliceRefusedFallsBackToReadWriteByteExact) {
  // Hooks change only while no relay or backend thread runs: installed before they start,
  // restored after they stopped (`faults` outlives `backend` and `r`).
  test::fault_scope faults;
  faults.splice({.error = EINVAL, .nth = 1, .repeat = true});
  test::tcp_backend backend([&](int fd, std::size_t) { test::echo(backend, fd); });
  auto r = start_relay({backend.address()});
  ASSERT_TRUE(r.r);
  auto payload = test::random_bytes((std::size_t{2} << 20) + 3, test::test_seed());
  auto got = test::echo_through(r.port, payload, transfer_bound);
  EXPECT_EQ(got.how, read_end::eof);
  EXPECT_TRUE(test::same_bytes(payload, got.bytes));
  EXPECT_GT(faults.calls(syscall_kind::splice), 0u);
}

// splice refused after it has moved bytes (EINVAL on the 5th call): the fallback continues
// from where splice stopped, nothing lost or repeated.
TEST_F(Relay, SpliceRefusedMidStreamContinuesWithoutLoss) {
  test::fault_scope faults;
  faults.splice({.error = EINVAL, .nth = 5, .repeat = true});
  test::tcp_backend backend([&](int fd, std::size_t) { test::echo(backend, fd); });
  auto r = start_relay({backend.address()});
  ASSERT_TRUE(r.r);
  auto payload = test::random_bytes((std::size_t{4} << 20) + 11, test::test_seed());
  auto got = test::echo_through(r.port, payload, transfer_bound);
  EXPECT_EQ(got.how, read_end::eof);
  EXPECT_TRUE(test::same_bytes(payload, got.bytes));
}

// Streams of unknown length are spliced without SPLICE_F_MORE: on a socket it means MSG_MORE,
// which corks the last partial segment until the 200 ms probe timer, so every request/response
// exchange through the relay took 200 ms per hop (regression).
std::atomic<int> corked_splices{0};
ssize_t counting_splice(int in, loff_t* in_off, int out, loff_t* out_off, size_t len,
                        unsigned flags) {
  if (flags & SPLICE_F_MORE) ++corked_splices;
  return sys::real_hooks().splice(in, in_off, out, out_off, len, flags);
}

TEST_F(Relay, OpenEndedStreamsAreNotCorked) {
  corked_splices = 0;
  struct restore_at_end {
    ~restore_at_end() { sys::restore_hooks(); }
  } restore;  // after the relay's and the backend's threads are gone (destroyed first)
  sys::hooks().splice = counting_splice;
  test::tcp_backend backend([&](int fd, std::size_t) { test::echo(backend, fd); });
  auto r = start_relay({backend.address()});
  ASSERT_TRUE(r.r);
  unique_fd c = test::connect_loopback(r.port);
  ASSERT_TRUE(c);
  const auto ping = test::random_bytes(100, test::test_seed());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(test::send_all(c.get(), ping));
    auto got = test::read_until_end(c.get(), patience, ping.size());
    EXPECT_TRUE(test::same_bytes(ping, got.bytes));
  }
  EXPECT_EQ(corked_splices.load(), 0);
}

// The relay loop's turns, counted through the epoll_wait hook: waits that returned events, and
// waits that timed out (the loop waits at most 100 ms). A loop that waits for its peers times out
// ten times a second and is woken by nothing; a spinning one is woken thousands of times a second
// and never times out.
std::atomic<std::uint64_t> loop_woken{0};
std::atomic<std::uint64_t> loop_timed_out{0};
int counting_epoll_wait(int epfd, epoll_event* events, int max_events, int timeout_ms) {
  const int r = sys::real_hooks().epoll_wait(epfd, events, max_events, timeout_ms);
  (r == 0 ? loop_timed_out : loop_woken).fetch_add(1);
  return r;
}

// Installs counting_epoll_wait for its lifetime: declared before the relay and the backends, so
// that the hook changes only while none of their threads runs.
struct counted_loop {
  counted_loop() {
    loop_woken = 0;
    loop_timed_out = 0;
    sys::hooks().epoll_wait = counting_epoll_wait;
  }
  ~counted_loop() { sys::restore_hooks(); }
  counted_loop(const counted_loop&) = delete;
  counted_loop& operator=(const counted_loop&) = delete;

  // Once the loop has gone quiet (its first timeout, after whatever moved before), the wakeups
  // over its next ten timeouts; a loop that never times out ends the count at 10,000 wakeups.
  // Both ends are the loop's own events: no clock of the test's decides.
  static std::uint64_t wakeups_while_quiet() {
    const auto wait_for = [](std::uint64_t timeouts) {
      const std::uint64_t woken = loop_woken, timed_out = loop_timed_out;
      const auto give_up = std::chrono::steady_clock::now() + patience;
      while (loop_timed_out < timed_out + timeouts && loop_woken < woken + 10'000 &&
             std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(10ms);
      }
      return loop_woken - woken;
    };
    wait_for(1);
    return wait_for(10);
  }
};

// The client half-closes after its request and then does not read while the backend's long
// answer fills every buffer: the relay waits (EPOLLOUT on the client only) instead of spinning,
// and once the client reads, the answer arrives whole and the connection ends.
TEST_F(Relay, HalfClosedClientThatDoesNotReadCostsNothing) {
  counted_loop counted;
  const auto request = test::random_bytes(1000, test::test_seed());
  const auto answer = test::random_bytes(std::size_t{16} << 20, test::test_seed() + 1);
  test::tcp_backend backend([&](int fd, std::size_t) {
    if (test::read_until_end(fd, patience).how == read_end::eof) backend.note_eof();
    test::send_all(fd, answer);
  });
  auto r = start_relay({backend.address()}, [](relay_options& o) { o.threads = 1; });
  ASSERT_TRUE(r.r);
  unique_fd c = test::connect_loopback(r.port);
  ASSERT_TRUE(c);
  int small_buf = 65536;
  ::setsockopt(c.get(), SOL_SOCKET, SO_RCVBUF, &small_buf, sizeof small_buf);
  ASSERT_TRUE(test::send_all(c.get(), request));
  ::shutdown(c.get(), SHUT_WR);
  EXPECT_LT(counted_loop::wakeups_while_quiet(), 50u);
  EXPECT_EQ(backend.eofs(), 1u);
  auto got = test::read_until_end(c.get(), patience);
  EXPECT_EQ(got.how, read_end::eof);
  EXPECT_TRUE(test::same_bytes(answer, got.bytes));
}

// The backend half-closes at once and then does not read while the client uploads more than the
// buffers hold: the relay waits for room on the backend without spinning, passes the EOF to the
// client, and once the backend reads, the upload arrives whole.
TEST_F(Relay, HalfClosedBackendThatDoesNotReadCostsNothing) {
  counted_loop counted;
  const auto upload = test::random_bytes(std::size_t{16} << 20, test::test_seed());
  std::mutex mutex;
  std::condition_variable changed;
  bool release = false;
  std::optional<std::vector<std::byte>> received;
  test::tcp_backend backend([&](int fd, std::size_t) {
    ::shutdown(fd, SHUT_WR);
    {
      std::unique_lock lock(mutex);
      changed.wait_for(lock, patience, [&] { return release; });
    }
    auto in = test::read_until_end(fd, patience).bytes;
    std::lock_guard lock(mutex);
    received = std::move(in);
    changed.notify_all();
  });
  auto r = start_relay({backend.address()}, [](relay_options& o) { o.threads = 1; });
  ASSERT_TRUE(r.r);
  unique_fd c = test::connect_loopback(r.port);
  ASSERT_TRUE(c);
  EXPECT_EQ(test::read_until_end(c.get(), patience).how, read_end::eof);  // the backend's FIN
  std::thread writer([&] {
    test::send_all(c.get(), upload);
    ::shutdown(c.get(), SHUT_WR);
  });
  EXPECT_LT(counted_loop::wakeups_while_quiet(), 50u);
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  changed.notify_all();
  writer.join();
  std::unique_lock lock(mutex);
  ASSERT_TRUE(changed.wait_for(lock, patience, [&] { return received.has_value(); }));
  EXPECT_TRUE(test::same_bytes(upload, *received));
  lock.unlock();
  EXPECT_TRUE(r.wait_for_line("reason=done")) << r.text();
}

// The client half-closes after its request: the backend sees EOF, and its answer, sent only
// after that EOF, still reaches the client whole.
TEST_F(Relay, ClientHalfCloseReachesBackendAndTheAnswerStillArrives) {
  const auto request = test::random_bytes(100'003, test::test_seed());
  const auto answer = test::random_bytes((std::size_t{1} << 20) + 9, test::test_seed() + 1);
  std::vector<std::byte> received;
  std::atomic<bool> answered{false};
  test::tcp_backend backend([&](int fd, std::size_t) {
    auto in = test::read_until_end(fd, patience);
    if (in.how == read_end::eof) backend.note_eof();
    received = std::move(in.bytes);
    answered.store(true, std::memory_order_release);
    test::send_all(fd, answer);
  });
  auto r = start_relay({backend.address()});
  ASSERT_TRUE(r.r);
  auto got = test::echo_through(r.port, request, transfer_bound);
  EXPECT_EQ(got.how, read_end::eof);
  EXPECT_TRUE(test::same_bytes(answer, got.bytes));
  EXPECT_EQ(backend.eofs(), 1u);
  ASSERT_TRUE(answered.load(std::memory_order_acquire));
  EXPECT_TRUE(test::same_bytes(request, received));
}

// The backend half-closes first (a greeting, then FIN): the client sees EOF, and its own bytes
// still flow to the backend afterwards.
TEST_F(Relay, BackendHalfCloseKeepsTheOtherDirectionFlowing) {
  const auto greeting = test::random_bytes(4096, test::test_seed());
  const auto upload = test::random_bytes((std::size_t{2} << 20) + 1, test::test_seed() + 1);
  std::vector<std::byte> received;
  std::atomic<bool> finished{false};
  test::tcp_backend backend([&](int fd, std::size_t) {
    test::send_all(fd, greeting);
    ::shutdown(fd, SHUT_WR);
    received = test::read_until_end(fd, patience).bytes;
    finished.store(true, std::memory_order_release);
  });
  auto r = start_relay({backend.address()});
  ASSERT_TRUE(r.r);
  unique_fd c = test::connect_loopback(r.port);
  ASSERT_TRUE(c);
  auto first = test::read_until_end(c.get(), patience);
  EXPECT_EQ(first.how, read_end::eof);
  EXPECT_TRUE(test::same_bytes(greeting, first.bytes));
  EXPECT_TRUE(test::send_all(c.get(), upload));
  ::shutdown(c.get(), SHUT_WR);
  ASSERT_TRUE(test::eventually([&] { return finished.load(std::memory_order_acquire); }, patience));
  EXPECT_TRUE(test::same_bytes(upload, received));
  EXPECT_TRUE(r.wait_for_line("reason=done")) << r.text();
}

// A backend that refuses: the client is closed at once and the reason is logged.
TEST_F(Relay, RefusedBackendClosesClientAndLogsReason) {
  auto r = start_relay({dead_target()});
  ASSERT_TRUE(r.r);
  unique_fd c = test::connect_loopback(r.port);
  ASSERT_TRUE(c);
  auto got = test::read_until_end(c.get(), patience);
  EXPECT_NE(got.how, read_end::timeout);
  EXPECT_TRUE(got.bytes.empty());
  EXPECT_TRUE(r.wait_for_line("no backend reachable")) << r.text();
  EXPECT_GE(r.count("Connection refused"), 1u) << r.text();
  EXPECT_EQ(r.r->stats().backend_failures, 1u);
}

// Round robin over two live backends and a dead one: the dead one fails once, is then skipped
// for --retry-after, and every client is served.
TEST_F(Relay, RoundRobinSkipsADeadTarget) {
  test::tcp_backend a([&](int fd, std::size_t) { test::echo(a, fd); });
  test::tcp_backend b([&](int fd, std::size_t) { test::echo(b, fd); });
  const std::string dead = dead_target();
  auto r =
      start_relay({a.address(), dead, b.address()}, [](relay_options& o) { o.retry_after = 60s; });
  ASSERT_TRUE(r.r);
  for (int i = 0; i < 9; ++i) {
    auto payload = test::random_bytes(1000 + static_cast<std::size_t>(i), test::test_seed() + i);
    auto got = test::echo_through(r.port, payload, transfer_bound);
    EXPECT_EQ(got.how, read_end::eof);
    EXPECT_TRUE(test::same_bytes(payload, got.bytes));
  }
  EXPECT_GT(a.accepted(), 0u);
  EXPECT_GT(b.accepted(), 0u);
  EXPECT_EQ(a.accepted() + b.accepted(), 9u);
  EXPECT_EQ(r.count("backend " + dead + " failed"), 1u) << r.text();
}

// A backend that accepts and resets before a byte has moved: marked down, and the same client
// is relayed to the next backend.
TEST_F(Relay, ResetBeforeAnyByteMovesClientToNextTarget) {
  test::tcp_backend resetting([](int fd, std::size_t) { test::reset_close(fd); });
  test::tcp_backend good([&](int fd, std::size_t) { test::echo(good, fd); });
  auto r = start_relay({resetting.address(), good.address()});
  ASSERT_TRUE(r.r);
  // Nothing is sent before the reset has happened, so no byte can reach the first backend.
  unique_fd c = test::connect_loopback(r.port);
  ASSERT_TRUE(c);
  test::eventually([&] { return good.accepted() != 0; }, patience);
  ASSERT_EQ(good.accepted(), 1u) << r.text();
  auto payload = test::random_bytes(70'001, test::test_seed());
  ASSERT_TRUE(test::send_all(c.get(), payload));
  ::shutdown(c.get(), SHUT_WR);
  auto got = test::read_until_end(c.get(), patience);
  EXPECT_EQ(got.how, read_end::eof);
  EXPECT_TRUE(test::same_bytes(payload, got.bytes));
  EXPECT_EQ(resetting.accepted(), 1u);
  EXPECT_GE(r.r->stats().backend_failures, 1u);
}

// A backend that resets mid-stream: the client sees the end promptly, and the relay goes on
// serving new clients.
TEST_F(Relay, BackendResetMidStreamEndsClientPromptly) {
  test::tcp_backend backend([&](int fd, std::size_t index) {
    if (index == 0) {
      test::read_until_end(fd, patience, 64 * 1024);
      test::reset_close(fd);
      return;
    }
    test::echo(backend, fd);
  });
  auto r = start_relay({backend.address()});
  ASSERT_TRUE(r.r);
  auto big = test::random_bytes(std::size_t{16} << 20, test::test_seed());
  auto got = test::echo_through(r.port, big, transfer_bound);
  EXPECT_TRUE(got.how == read_end::eof || got.how == read_end::reset);
  EXPECT_LT(got.bytes.size(), big.size());
  EXPECT_TRUE(r.wait_for_line("Connection reset")) << r.text();

  auto payload = test::random_bytes(5000, test::test_seed() + 1);
  auto again = test::echo_through(r.port, payload, transfer_bound);
  EXPECT_EQ(again.how, read_end::eof);
  EXPECT_TRUE(test::same_bytes(payload, again.bytes));
}

// Over --max-connections (counted across workers) a client is accepted and closed at once;
// once one leaves, a new client is served.
TEST_F(Relay, MaxConnectionsClosesTheExtraAtOnce) {
  test::tcp_backend backend([&](int fd, std::size_t) { test::echo(backend, fd); });
  auto r = start_relay({backend.address()}, [](relay_options& o) { o.max_connections = 2; });
  ASSERT_TRUE(r.r);
  const std::byte ping[1] = {std::byte{'p'}};
  std::vector<unique_fd> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(test::connect_loopback(r.port));
    ASSERT_TRUE(held.back());
    ASSERT_TRUE(test::send_all(held.back().get(), ping));
    auto one = test::read_until_end(held.back().get(), patience, 1);
    ASSERT_EQ(one.bytes.size(), 1u);  // relayed: the connection is counted
  }
  unique_fd extra = test::connect_loopback(r.port);
  ASSERT_TRUE(extra);
  auto got = test::read_until_end(extra.get(), patience);
  EXPECT_NE(got.how, read_end::timeout);
  EXPECT_TRUE(got.bytes.empty());
  EXPECT_EQ(r.r->stats().refused, 1u);

  held.pop_back();  // closes: the relay sees EOF and closes its side
  ASSERT_TRUE(r.wait_for_line("reason=done"));
  auto payload = test::random_bytes(3000, test::test_seed());
  auto again = test::echo_through(r.port, payload, transfer_bound);
  EXPECT_TRUE(test::same_bytes(payload, again.bytes));
}

// No byte either way for --idle-timeout: closed, with the reason logged.
TEST_F(Relay, IdleTimeoutClosesAQuietConnection) {
  test::tcp_backend backend([&](int fd, std::size_t) { test::echo(backend, fd); });
  auto r = start_relay({backend.address()}, [](relay_options& o) { o.idle_timeout = 300ms; });
  ASSERT_TRUE(r.r);
  unique_fd c = test::connect_loopback(r.port);
  ASSERT_TRUE(c);
  auto got = test::read_until_end(c.get(), patience);
  EXPECT_EQ(got.how, read_end::eof);
  EXPECT_TRUE(r.wait_for_line("reason=idle timeout")) << r.text();
}

// A backend that never answers the handshake (its accept queue is full, so SYNs are dropped):
// after --connect-timeout the next backend gets the client.
TEST_F(Relay, ConnectTimeoutMovesClientToNextTarget) {
  // A listener with backlog 0 that never accepts, filled by non-blocking connects.
  unique_fd full(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(full.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(full.get(), 0), 0);
  socklen_t len = sizeof a;
  ::getsockname(full.get(), reinterpret_cast<sockaddr*>(&a), &len);
  std::vector<unique_fd> fillers;
  for (int i = 0; i < 4; ++i) {
    fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    (void)::connect(fillers.back().get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  std::this_thread::sleep_for(100ms);
  {
    // Probe: does one more connect hang here? (It does on Linux once the accept queue is full.)
    unique_fd probe(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    (void)::connect(probe.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    pollfd p{probe.get(), POLLOUT, 0};
    if (::poll(&p, 1, 300) != 0) GTEST_SKIP() << "connects to a full accept queue complete here";
  }
  test::tcp_backend good([&](int fd, std::size_t) { test::echo(good, fd); });
  const std::string silent = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto r =
      start_relay({silent, good.address()}, [](relay_options& o) { o.connect_timeout = 300ms; });
  ASSERT_TRUE(r.r);
  auto payload = test::random_bytes(12'345, test::test_seed());
  auto got = test::echo_through(r.port, payload, transfer_bound);
  EXPECT_EQ(got.how, read_end::eof);
  EXPECT_TRUE(test::same_bytes(payload, got.bytes));
  EXPECT_GE(r.count("timed out"), 1u) << r.text();
}

// stop(grace): no new clients, but the open connection finishes its exchange.
TEST_F(Relay, StopLetsOpenConnectionsFinish) {
  test::tcp_backend backend([&](int fd, std::size_t) { test::echo(backend, fd); });
  auto r = start_relay({backend.address()});
  ASSERT_TRUE(r.r);
  unique_fd c = test::connect_loopback(r.port);
  ASSERT_TRUE(c);
  const std::byte ping[1] = {std::byte{'p'}};
  ASSERT_TRUE(test::send_all(c.get(), ping));
  ASSERT_EQ(test::read_until_end(c.get(), patience, 1).bytes.size(), 1u);

  // A grace far beyond the exchange's needs: the workers exit when it is done, not at its end.
  r.r->stop(10min);
  // The workers close their listeners when they see the stop: connects are refused from then on.
  // Refused once is the evidence; a second try could reach a listener another test opened on the
  // freed port, or connect to itself (a loopback connect may pick that port as its own source).
  EXPECT_TRUE(test::eventually([&] { return !test::connect_loopback(r.port); }, patience))
      << "the listener stayed open after stop";
  auto payload = test::random_bytes(300'000, test::test_seed());
  std::thread writer([&] {
    test::send_all(c.get(), payload);
    ::shutdown(c.get(), SHUT_WR);
  });
  auto got = test::read_until_end(c.get(), patience);
  writer.join();
  EXPECT_EQ(got.how, read_end::eof);
  EXPECT_TRUE(test::same_bytes(payload, got.bytes));
  r.r->wait();
  EXPECT_EQ(r.r->stats().open_connections, 0u);
}

// Without a target or a listen address there is nothing to relay.
TEST(RelayStart, RejectsMissingTargets) {
  relay_options o;
  o.listen.push_back(*parse_address("127.0.0.1:0"));
  auto r = relay::start(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::invalid_argument);
}

}  // namespace
}  // namespace zcopy::net
