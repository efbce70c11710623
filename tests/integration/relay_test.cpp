// `zcopy relay` as a user runs it: the real binary between real clients and threaded backends on
// loopback. Payloads byte-compared both ways, half-close, 200 concurrent connections, backends
// that refuse or reset, round robin, memory under a slow reader, signals and bad arguments.
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <regex>
#include <thread>

#include "integration/serve_fixture.hpp"
#include "support/relay_peers.hpp"
#include "support/test_support.hpp"

namespace zcopy::test {
namespace {

using clock = std::chrono::steady_clock;

// read_until_end and echo_through (tests/support/relay_peers.hpp) bound a whole transfer, not a
// silence: for tens of MiB through a sanitized relay on a busy machine the bound is set far
// beyond any speed, so that it only ends a transfer that stalled.
constexpr std::chrono::milliseconds transfer_bound = 10min;

// `zcopy relay --listen 127.0.0.1:0 ARGS...`, started and parsed: waits (bounded) for its
// "listening on" line. The child is killed at the end whatever happens.
struct relay_process {
  std::unique_ptr<child_process> child;
  int port = 0;

  static relay_process start(const std::vector<std::string>& args) {
    relay_process r;
    const char* binary = std::getenv("ZCOPY_BINARY");
    if (binary == nullptr || *binary == '\0') {
      ADD_FAILURE() << "ZCOPY_BINARY is not set";
      return r;
    }
    std::vector<std::string> argv{binary, "relay", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    r.child = child_process::spawn(argv);
    if (!r.child) return r;
    static const std::regex line_re(R"(zcopy relay: listening on 127\.0\.0\.1:([0-9]+) -> )");
    const auto deadline = clock::now() + patience;
    while (clock::now() < deadline) {
      std::smatch m;
      const std::string out = r.child->out();
      if (std::regex_search(out, m, line_re)) {
        r.port = std::stoi(m[1].str());
        return r;
      }
      if (!r.child->running()) break;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "zcopy relay did not start; stderr:\n" << r.child->err();
    r.child.reset();
    return r;
  }
  explicit operator bool() const { return child && port > 0; }
  pid_t pid() const { return child->pid(); }
  std::string err() const { return child->err(); }
  // Waits (bounded) until stderr contains `needle` `times` times.
  bool wait_for_log(std::string_view needle, std::size_t times = 1,
                    std::chrono::milliseconds timeout = patience) const {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      const std::string e = err();
      std::size_t n = 0;
      for (auto at = e.find(needle); at != std::string::npos; at = e.find(needle, at + 1)) ++n;
      if (n >= times) return true;
      if (clock::now() >= deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
  }
};

std::string dead_target() {
  return "127.0.0.1:" + std::to_string(refusing_port());
}

class RelayCli : public ::testing::Test {
 protected:
  void SetUp() override {
    trace_.emplace(__FILE__, __LINE__, "seed " + std::to_string(test_seed()));
  }
  std::optional<::testing::ScopedTrace> trace_;
};

// Random payloads of many sizes, up to 64 MiB, come back byte for byte through an echo backend.
TEST_F(RelayCli, EchoesRandomPayloadsOfManySizesBothWays) {
  tcp_backend backend([&](int fd, std::size_t) { echo(backend, fd); });
  auto relay = relay_process::start({"--to", backend.address()});
  ASSERT_TRUE(relay);
  std::uint64_t seed = test_seed();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{4096},
                        (std::size_t{1} << 20) + 13, std::size_t{64} << 20}) {
    SCOPED_TRACE("size " + std::to_string(n));
    auto payload = random_bytes(n, seed++);
    auto got = echo_through(relay.port, payload, transfer_bound);
    EXPECT_EQ(got.how, read_end::eof);
    EXPECT_TRUE(same_bytes(payload, got.bytes));
  }
  EXPECT_TRUE(relay.wait_for_log("reason=done", 5)) << relay.err();
}

// A client that shuts down its writing side still receives the whole response, and the backend
// sees EOF.
TEST_F(RelayCli, HalfClosedClientReceivesTheWholeResponse) {
  const auto request = random_bytes(65'537, test_seed());
  const auto answer = random_bytes((std::size_t{8} << 20) + 5, test_seed() + 1);
  std::atomic<bool> saw_eof{false};
  std::vector<std::byte> received;
  tcp_backend backend([&](int fd, std::size_t) {
    auto in = read_until_end(fd, patience);
    received = std::move(in.bytes);
    saw_eof.store(in.how == read_end::eof, std::memory_order_release);
    send_all(fd, answer);
  });
  auto relay = relay_process::start({"--to", backend.address()});
  ASSERT_TRUE(relay);
  auto got = echo_through(relay.port, request);
  EXPECT_EQ(got.how, read_end::eof);
  EXPECT_TRUE(same_bytes(answer, got.bytes));
  EXPECT_TRUE(saw_eof.load(std::memory_order_acquire));
  EXPECT_TRUE(same_bytes(request, received));
}

// 200 connections at once, each with its own payload, each verified.
TEST_F(RelayCli, TwoHundredConcurrentConnectionsEachVerified) {
  tcp_backend backend([&](int fd, std::size_t) { echo(backend, fd); });
  auto relay = relay_process::start({"--to", backend.address()});
  ASSERT_TRUE(relay);
  constexpr int clients = 200;
  std::atomic<int> good{0};
  std::vector<std::string> failures(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      auto payload = random_bytes(16 * 1024 + static_cast<std::size_t>(i) * 997,
                                  test_seed() + static_cast<std::uint64_t>(i));
      auto got = echo_through(relay.port, payload, transfer_bound);
      if (got.how == read_end::eof && got.bytes == payload) {
        ++good;
      } else {
        failures[static_cast<std::size_t>(i)] = "client " + std::to_string(i) + ": got " +
                                                std::to_string(got.bytes.size()) + " of " +
                                                std::to_string(payload.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), clients);
  for (auto& f : failures) {
    if (!f.empty()) ADD_FAILURE() << f;
  }
  EXPECT_EQ(backend.accepted(), static_cast<std::size_t>(clients));
}

// The backend is down: the client is closed within a bounded time and the reason is on stderr.
TEST_F(RelayCli, BackendDownClosesClientAndSaysWhy) {
  auto relay = relay_process::start({"--to", dead_target()});
  ASSERT_TRUE(relay);
  unique_fd c = connect_loopback(relay.port);
  ASSERT_TRUE(c);
  auto got = read_until_end(c.get(), patience);
  EXPECT_NE(got.how, read_end::timeout);
  EXPECT_TRUE(got.bytes.empty());
  EXPECT_TRUE(relay.wait_for_log("Connection refused")) << relay.err();
  EXPECT_TRUE(relay.wait_for_log("reason=no backend reachable")) << relay.err();
}

// A backend that resets mid-stream: the client sees EOF or a reset promptly, and the relay keeps
// serving other clients.
TEST_F(RelayCli, BackendResetMidStreamEndsClientAndRelayKeepsServing) {
  tcp_backend backend([&](int fd, std::size_t index) {
    if (index == 0) {
      read_until_end(fd, patience, 256 * 1024);
      reset_close(fd);
      return;
    }
    echo(backend, fd);
  });
  auto relay = relay_process::start({"--to", backend.address()});
  ASSERT_TRUE(relay);
  auto big = random_bytes(std::size_t{32} << 20, test_seed());
  auto got = echo_through(relay.port, big, patience);
  EXPECT_TRUE(got.how == read_end::eof || got.how == read_end::reset);
  EXPECT_LT(got.bytes.size(), big.size());
  EXPECT_TRUE(relay.wait_for_log("Connection reset")) << relay.err();

  auto payload = random_bytes(100'000, test_seed() + 1);
  auto again = echo_through(relay.port, payload);
  EXPECT_EQ(again.how, read_end::eof);
  EXPECT_TRUE(same_bytes(payload, again.bytes));
}

// Round robin across two backends; a dead third is tried once and then skipped.
TEST_F(RelayCli, RoundRobinAcrossBackendsSkipsTheDeadOne) {
  tcp_backend a([&](int fd, std::size_t) { echo(a, fd); });
  tcp_backend b([&](int fd, std::size_t) { echo(b, fd); });
  const std::string dead = dead_target();
  auto relay = relay_process::start(
      {"--to", a.address(), "--to", dead, "--to", b.address(), "--retry-after", "60"});
  ASSERT_TRUE(relay);
  for (int i = 0; i < 12; ++i) {
    auto payload = random_bytes(2048 + static_cast<std::size_t>(i), test_seed() + i);
    auto got = echo_through(relay.port, payload);
    EXPECT_TRUE(same_bytes(payload, got.bytes));
  }
  EXPECT_GE(a.accepted(), 3u);
  EXPECT_GE(b.accepted(), 3u);
  EXPECT_EQ(a.accepted() + b.accepted(), 12u);
  const std::string e = relay.err();
  std::size_t failed = 0;
  const std::string needle = "backend " + dead + " failed";
  for (auto at = e.find(needle); at != std::string::npos; at = e.find(needle, at + 1)) ++failed;
  EXPECT_EQ(failed, 1u) << e;
}

// A fast producer (512 MiB) and a slow reader: the relay's memory stays bounded (the pipes are
// the only buffers), every byte arrives, and its descriptors go back to the baseline.
TEST_F(RelayCli, SlowReaderKeepsRelayMemoryBounded) {
  constexpr std::size_t chunk = std::size_t{1} << 20;
  constexpr std::size_t chunks = 512;
  const auto block = random_bytes(chunk, test_seed());
  tcp_backend backend([&](int fd, std::size_t index) {
    if (index == 0) return;  // the warm-up connection
    for (std::size_t i = 0; i < chunks; ++i) {
      if (!send_all(fd, block)) return;
    }
  });
  auto relay = relay_process::start({"--to", backend.address(), "--threads", "1"});
  ASSERT_TRUE(relay);
  {
    // One connection first, so that the pipe pool and the allocator have their steady state.
    unique_fd warm = connect_loopback(relay.port);
    ASSERT_TRUE(warm);
    EXPECT_EQ(read_until_end(warm.get(), patience).how, read_end::eof);
  }
  ASSERT_TRUE(relay.wait_for_log("reason=done"));
  const long baseline_fds = fd_count(relay.pid());
  const long baseline_rss = rss_kib(relay.pid());
  ASSERT_GT(baseline_fds, 0);

  unique_fd c = connect_loopback(relay.port);
  ASSERT_TRUE(c);
  int small = 64 * 1024;
  ::setsockopt(c.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  // Each recv below returns within `patience`: a stall ends the test, a slow machine does not
  // (no budget for the whole 512 MiB).
  timeval bounded{std::chrono::duration_cast<std::chrono::seconds>(patience).count(), 0};
  ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &bounded, sizeof bounded);
  long peak_rss = baseline_rss;
  std::uint64_t total = 0;
  bool matches = true;
  std::vector<std::byte> buf(64 * 1024);
  // The first 8 MiB slowly (4 KiB reads with a pause), so the relay meets a slow reader.
  constexpr std::uint64_t slow_bytes = std::uint64_t{8} << 20;
  auto next_sample = clock::now();
  while (total < chunk * chunks) {
    const bool slow = total < slow_bytes;
    ssize_t n = ::recv(c.get(), buf.data(), slow ? 4096 : buf.size(), 0);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && matches; ++i) {
      matches = buf[static_cast<std::size_t>(i)] ==
                block[(total + static_cast<std::uint64_t>(i)) % chunk];
    }
    total += static_cast<std::uint64_t>(n);
    if (clock::now() >= next_sample) {
      peak_rss = std::max(peak_rss, rss_kib(relay.pid()));
      next_sample = clock::now() + 50ms;
    }
    if (slow) std::this_thread::sleep_for(1ms);
  }
  peak_rss = std::max(peak_rss, rss_kib(relay.pid()));
  EXPECT_EQ(total, std::uint64_t{chunk} * chunks);
  EXPECT_TRUE(matches) << "first difference before byte " << total;
  RecordProperty("peak_rss_kib", static_cast<int>(peak_rss));
  EXPECT_LT(peak_rss, 64 * 1024) << "VmRSS peaked at " << peak_rss << " KiB (baseline "
                                 << baseline_rss << " KiB)";
  c.reset();
  ASSERT_TRUE(relay.wait_for_log("reason=done", 2));
  long fds = fd_count(relay.pid());
  for (auto until = clock::now() + patience; fds > baseline_fds && clock::now() < until;
       fds = fd_count(relay.pid())) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_LE(fds, baseline_fds);
}

// SIGTERM: exits 0 (with a connection open, after --grace at most).
TEST_F(RelayCli, SigtermExitsZero) {
  tcp_backend backend([&](int fd, std::size_t) { echo(backend, fd); });
  auto relay = relay_process::start({"--to", backend.address(), "--grace", "1"});
  ASSERT_TRUE(relay);
  unique_fd idle = connect_loopback(relay.port);
  ASSERT_TRUE(idle);
  auto code = relay.child->stop(SIGTERM, patience);
  ASSERT_TRUE(code.has_value()) << "still running after SIGTERM";
  EXPECT_EQ(*code, 0) << relay.err();
  EXPECT_NE(relay.err().find("SIGTERM"), std::string::npos) << relay.err();
}

// Bad --to or --listen: a clear message and a non-zero exit.
TEST_F(RelayCli, BadAddressesAreUsageErrors) {
  const char* binary = std::getenv("ZCOPY_BINARY");
  ASSERT_NE(binary, nullptr);
  struct bad_case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<bad_case> cases = {
      {{"--listen", "127.0.0.1:0", "--to", "nonsense"}, "--to 'nonsense'"},
      {{"--listen", "127.0.0.1:0", "--to", "127.0.0.1:99999"}, "--to '127.0.0.1:99999'"},
      {{"--listen", "127.0.0.1", "--to", "127.0.0.1:80"}, "--listen '127.0.0.1'"},
      {{"--listen", "127.0.0.1:0"}, "--to"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{binary, "relay"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run_bounded(argv, patience);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace zcopy::test
