// The event loop with a toy line protocol ("FILE <name>\n" → the file, "CLOSE\n" → close):
// pipelining, slow readers, limits, timeouts, truncation and graceful stop, all on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "net/server.hpp"
#include "sys/sys.hpp"
#ifdef ZCOPY_WITH_URING
#include "core/uring.hpp"
#endif
#include "support/test_support.hpp"
#include "zcopy/endpoint.hpp"
#include "zcopy/syscall_stats.hpp"

namespace zcopy::net {
namespace {

using namespace std::chrono_literals;

// How long a test waits for something that is bound to happen (a reply, a close, a timeout
// firing): it returns as soon as it happens, so only a failure waits this long. Generous, because
// a sanitized build on a busy 2-CPU machine is slow, and a test must not depend on speed.
constexpr auto patience = 60s;

using test::eventually;

// What a worker costs while a test holds its connections still: `tick`, which runs on the
// worker's own thread about once a second, samples the thread's system calls (the sys:: counters)
// and CPU time. A loop that waits makes a few calls a second (its 250 ms wait, the sweep); a loop
// that spins makes 10^4 to 10^5. Counted between two ticks, so the window is ended by the loop's
// own events, not by the test's clock.
struct worker_load {
  struct sample {
    std::uint64_t calls = 0;
    std::chrono::nanoseconds cpu{0};
  };
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<sample> samples;

  // The server's tick; it shares `load`, which the workers may outlive the test body with.
  static std::function<void()> tick(std::shared_ptr<worker_load> load) {
    return [load] {
      timespec t{};
      ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
      const sample now{thread_syscall_counts().total(),
                       std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec)};
      std::lock_guard lock(load->mutex);
      load->samples.push_back(now);
      load->changed.notify_all();
    };
  }
  // The calls and CPU time between the next tick and the `n`th one after it (bounded wait).
  std::optional<sample> over_ticks(std::size_t n) {
    std::unique_lock lock(mutex);
    const std::size_t first = samples.size();
    if (!changed.wait_for(lock, patience, [&] { return samples.size() > first + n; })) {
      return std::nullopt;
    }
    return sample{samples[first + n].calls - samples[first].calls,
                  samples[first + n].cpu - samples[first].cpu};
  }
};

// At most this many system calls per tick (about a second) for a loop that waits: an idle one
// makes about 10, a spinning one thousands at the very least.
constexpr std::uint64_t idle_calls_per_tick = 50;

// The body of the last "BORROW n" reply: a test checks that the loop lets go of it.
std::mutex borrowed_mutex;
std::weak_ptr<const std::vector<std::byte>> last_borrowed;
constexpr std::uint64_t borrowed_seed = 0x5eed;

class line_protocol final : public protocol {
 public:
  explicit line_protocol(std::filesystem::path root) : root_(std::move(root)) {}
  std::size_t consume(std::string_view input, std::optional<reply>& out) override {
    auto nl = input.find('\n');
    if (nl == std::string_view::npos) return 0;
    std::string_view line = input.substr(0, nl);
    reply r;
    if (line.starts_with("FILE ")) {
      auto fd = unique_fd::open((root_ / std::string(line.substr(5))).c_str(), O_RDONLY);
      if (fd) {
        struct stat st {};
        ::fstat(fd->get(), &st);
        r.head = "SIZE " + std::to_string(st.st_size) + "\n";
        r.length = static_cast<std::uint64_t>(st.st_size);
        r.file = std::make_shared<const unique_fd>(std::move(*fd));
      } else {
        r.head = "MISSING\n";
      }
    } else if (line.starts_with("BORROW ")) {
      // A body the reply does not own (as a mapping would be), kept alive by borrowed_owner.
      auto data = std::make_shared<const std::vector<std::byte>>(
          test::random_bytes(std::stoul(std::string(line.substr(7))), borrowed_seed));
      r.head = "SIZE " + std::to_string(data->size()) + "\n";
      r.borrowed_body = std::span(*data);
      r.borrowed_owner = data;
      std::lock_guard lock(borrowed_mutex);
      last_borrowed = data;
    } else if (line == "CLOSE") {
      r.head = "BYE\n";
      r.close = true;
    } else {
      r.head = "ECHO ";
      r.body = std::string(line) + "\n";
    }
    out = std::move(r);
    return nl + 1;
  }
  std::optional<reply> on_timeout() override {
    reply r;
    r.head = "TIMEOUT\n";
    return r;
  }

 private:
  std::filesystem::path root_;
};

// What the loop told the protocols, shared with the test thread.
struct recorder {
  struct finish {
    std::uint64_t body_bytes;
    bool complete;
    bool operator==(const finish&) const = default;
  };
  std::mutex mutex;
  std::vector<finish> finished;
  std::vector<std::string> peers;
  std::atomic<int> timeouts{0};

  std::vector<finish> finishes() {
    std::lock_guard lock(mutex);
    return finished;
  }
  // Waits (bounded) until at least `n` finished() calls were seen.
  std::vector<finish> wait_finishes(std::size_t n) {
    eventually([&] {
      std::lock_guard lock(mutex);
      return finished.size() >= n;
    });
    return finishes();
  }
};

// line_protocol, with finished() and on_timeout() reported to a recorder.
class recording_protocol final : public protocol {
 public:
  recording_protocol(std::filesystem::path root, std::shared_ptr<recorder> rec)
      : inner_(std::move(root)), rec_(std::move(rec)) {}
  std::size_t consume(std::string_view input, std::optional<reply>& out) override {
    return inner_.consume(input, out);
  }
  std::optional<reply> on_timeout() override {
    ++rec_->timeouts;
    return inner_.on_timeout();
  }
  void finished(std::uint64_t body_bytes, bool complete) override {
    std::lock_guard lock(rec_->mutex);
    rec_->finished.push_back({body_bytes, complete});
  }

 private:
  line_protocol inner_;
  std::shared_ptr<recorder> rec_;
};

// An incremental protocol: it takes every byte it is given and keeps a partial line itself, so
// the loop's `input` is empty while a request is half there; idle() says so.
class holding_protocol final : public protocol {
 public:
  explicit holding_protocol(std::shared_ptr<recorder> rec) : rec_(std::move(rec)) {}
  std::size_t consume(std::string_view input, std::optional<reply>& out) override {
    const auto nl = input.find('\n');
    if (nl == std::string_view::npos) {
      held_ += input;
      return input.size();
    }
    held_ += input.substr(0, nl);
    reply r;
    r.head = "ECHO ";
    r.body = held_ + "\n";
    held_.clear();
    out = std::move(r);
    return nl + 1;
  }
  bool idle() const override { return held_.empty(); }
  std::optional<reply> on_timeout() override {
    ++rec_->timeouts;
    reply r;
    r.head = "TIMEOUT\n";
    return r;
  }

 private:
  std::string held_;
  std::shared_ptr<recorder> rec_;
};

// "RANGE <name> <offset> <length>\n" → that range of the file, with file_info filled in from the
// protocol's own fstat (describe), as the HTTP session does.
class described_protocol final : public protocol {
 public:
  described_protocol(std::filesystem::path root, std::shared_ptr<recorder> rec)
      : root_(std::move(root)), rec_(std::move(rec)) {}
  std::size_t consume(std::string_view input, std::optional<reply>& out) override {
    const auto nl = input.find('\n');
    if (nl == std::string_view::npos) return 0;
    std::istringstream words{std::string(input.substr(0, nl))};
    std::string verb, name;
    std::uint64_t offset = 0, length = 0;
    words >> verb >> name >> offset >> length;
    reply r;
    auto fd = unique_fd::open((root_ / name).c_str(), O_RDONLY | O_NONBLOCK);
    if (verb != "RANGE" || !fd) {
      r.head = "BAD\n";
    } else {
      struct stat st {};
      ::fstat(fd->get(), &st);
      r.file_info = describe(fd->get(), st, O_RDONLY | O_NONBLOCK);
      r.head = "OK\n";
      r.offset = offset;
      r.length = length;
      r.file = std::make_shared<const unique_fd>(std::move(*fd));
    }
    out = std::move(r);
    return nl + 1;
  }
  void finished(std::uint64_t body_bytes, bool complete) override {
    std::lock_guard lock(rec_->mutex);
    rec_->finished.push_back({body_bytes, complete});
  }

 private:
  std::filesystem::path root_;
  std::shared_ptr<recorder> rec_;
};

class Server : public ::testing::TestWithParam<loop_engine> {
 protected:
  void start(server_options o = {}) {
    auto root = dir_.path();
    start_with(std::move(o),
               [root](std::string_view) { return std::make_unique<line_protocol>(root); });
  }
  void start_with(server_options o, protocol_factory factory) {
    if (o.listen.empty()) o.listen.push_back(*parse_address("127.0.0.1:0"));
    if (o.threads == 0) o.threads = 2;
    const loop_engine engine = GetParam();
    o.engine = engine;
    auto s = server::start(std::move(o), std::move(factory));
    if (!s && engine == loop_engine::io_uring && s.error() != std::errc::invalid_argument) {
      GTEST_SKIP() << "io_uring is not available here: " << s.error().message();
    }
    ASSERT_TRUE(s) << s.error().message();
    server_ = std::move(*s);
  }
  // A factory of recording_protocol (line_protocol that reports to rec_), peers recorded.
  protocol_factory recording_factory() {
    auto root = dir_.path();
    auto rec = rec_;
    return [root, rec](std::string_view peer) {
      {
        std::lock_guard lock(rec->mutex);
        rec->peers.emplace_back(peer);
      }
      return std::make_unique<recording_protocol>(root, rec);
    };
  }
  unique_fd connect_client() {
    auto addr = parse_address(server_->addresses().at(0));
    EXPECT_TRUE(addr);
    int fd = ::socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(fd, addr->get(), addr->length), 0) << std::strerror(errno);
    timeval tv{std::chrono::duration_cast<std::chrono::seconds>(patience).count(), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return unique_fd(fd);
  }
  static void send_text(int fd, std::string_view s) {
    ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }
  // Reads exactly n bytes (or fails after the socket's timeout).
  static std::string read_n(int fd, std::size_t n) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
  }
  static std::string read_line(int fd) {
    std::string out;
    char c;
    while (::recv(fd, &c, 1, 0) == 1 && c != '\n') out.push_back(c);
    return out;
  }
  static bool peer_closed(int fd) {
    char c;
    return ::recv(fd, &c, 1, 0) == 0;
  }
  void wait_open(std::uint64_t n) {
    eventually([&] { return server_->stats().open_connections == n; });
    EXPECT_EQ(server_->stats().open_connections, n);
  }
  // Not below the loopback MSS (32 KiB): a window smaller than one segment stalls TCP itself.
  static void small_receive_buffer(int fd) {
    int small_buf = 65536;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small_buf, sizeof small_buf);
  }
  // A client with a small receive buffer that sends `text` and shuts its sending side down.
  unique_fd half_closed_request(std::string_view text) {
    auto c = connect_client();
    small_receive_buffer(c.get());
    send_text(c.get(), text);
    EXPECT_EQ(::shutdown(c.get(), SHUT_WR), 0);
    return c;
  }
  // A client that asks for 16 MiB (more than both sockets' buffers hold: a file, or with
  // `memory` a borrowed body that goes out by sendmsg), half-closes and does not read: two ticks
  // of a worker that waits, then the whole reply, then the close. With `stopping`, stop(grace)
  // comes first, and the worker exits once the reply is out.
  void half_closed_client_costs_nothing(bool stopping = false, bool memory = false) {
    const std::size_t size = 16u << 20;
    auto big = test::random_bytes(size, memory ? borrowed_seed : seed_);
    if (!memory) test::write_file(dir_ / "big", big);
    auto load = std::make_shared<worker_load>();
    start({.threads = 1, .tick = worker_load::tick(load)});
    auto c = half_closed_request(memory ? "BORROW " + std::to_string(size) + "\n" : "FILE big\n");
    EXPECT_EQ(read_line(c.get()), "SIZE 16777216");
    if (stopping) server_->stop(10min);
    expect_quiet(*load, stopping ? "while stopping" : "while the half-closed client did not read");
    std::string got = read_n(c.get(), big.size());
    EXPECT_TRUE(test::same_bytes(big, std::as_bytes(std::span(got))));
    EXPECT_TRUE(peer_closed(c.get()));
    if (stopping) {
      server_->wait();
    } else {
      wait_open(0);
    }
  }
  // One worker sends a 3 MiB file twice to a client with a small receive buffer, so the body has
  // to wait for room: both arrive byte-exact.
  void two_large_bodies_arrive_whole() {
    auto big = test::random_bytes((3u << 20) + 17, seed_);
    test::write_file(dir_ / "big", big);
    start({.threads = 1});
    auto c = connect_client();
    small_receive_buffer(c.get());  // the socket fills: the transfer has to wait for room
    send_text(c.get(), "FILE big\nFILE big\n");
    for (int round = 0; round < 2; ++round) {
      EXPECT_EQ(read_line(c.get()), "SIZE " + std::to_string(big.size()));
      auto got = read_n(c.get(), big.size());
      EXPECT_TRUE(test::same_bytes(big, std::as_bytes(std::span(got))));
    }
  }
  // Two ticks of the worker while the test holds its connections still: it must be waiting.
  static void expect_quiet(worker_load& load, std::string_view what) {
    const auto stuck = load.over_ticks(2);
    ASSERT_TRUE(stuck) << "no tick";
    const auto cpu_us = std::chrono::duration_cast<std::chrono::microseconds>(stuck->cpu).count();
    RecordProperty("calls_over_2_ticks", std::to_string(stuck->calls));
    RecordProperty("cpu_us_over_2_ticks", std::to_string(cpu_us));
    EXPECT_LT(stuck->calls, 2 * idle_calls_per_tick)
        << "system calls over 2 ticks " << what << " (CPU " << cpu_us << " us)";
  }

  test::temp_dir dir_;
  std::uint64_t seed_ = test::test_seed();
  std::shared_ptr<recorder> rec_ = std::make_shared<recorder>();
  std::unique_ptr<server> server_;
};

// Replaced syscall hooks go back only once the workers have stopped (they read the table).
struct stop_then_restore_hooks {
  std::unique_ptr<server>& running;
  ~stop_then_restore_hooks() {
    running.reset();
    sys::restore_hooks();
  }
};

// Large bodies and TCP_CORK (nginx's tcp_nopush): what the hooks below saw. The hooks are plain
// function pointers, so they reach the test through these.
struct cork_record {
  const char* congestion = nullptr;  // what TCP_CONGESTION answers; nullptr: the call fails
  enum class refusal { none, every, uncork };
  refusal refuse = refusal::none;  // which setsockopt(TCP_CORK) calls fail with EPERM
  std::mutex mutex;
  std::vector<int> corks;  // every TCP_CORK value asked for, in order
  int congestion_asked = 0;
};
cork_record* corks_seen = nullptr;

class ServerCork : public Server {
 protected:
  using refusal = cork_record::refusal;
  // Two 1 MiB bodies (16 steps of 64 KiB) around a small one, asked for on one connection, each
  // byte-exact; returns the TCP_CORK values the loop asked for. Where the uncork is refused the
  // connection ends after the first body instead.
  std::vector<int> serve_bodies(const char* congestion, refusal refuse = refusal::none) {
    cork_record rec;
    rec.congestion = congestion;
    rec.refuse = refuse;
    corks_seen = &rec;
    sys::hooks().getsockopt = [](int s, int level, int name, void* v, socklen_t* len) -> int {
      if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
        std::lock_guard lock(corks_seen->mutex);
        ++corks_seen->congestion_asked;
        if (!corks_seen->congestion) {
          errno = ENOPROTOOPT;
          return -1;
        }
        std::strncpy(static_cast<char*>(v), corks_seen->congestion, *len);
        return 0;
      }
      return sys::real_hooks().getsockopt(s, level, name, v, len);
    };
    sys::hooks().setsockopt = [](int s, int level, int name, const void* v, socklen_t len) -> int {
      if (level == IPPROTO_TCP && name == TCP_CORK) {
        std::lock_guard lock(corks_seen->mutex);
        const int value = *static_cast<const int*>(v);
        corks_seen->corks.push_back(value);
        if (corks_seen->refuse == refusal::every ||
            (corks_seen->refuse == refusal::uncork && value == 0)) {
          errno = EPERM;
          return -1;
        }
      }
      return sys::real_hooks().setsockopt(s, level, name, v, len);
    };
    {
      stop_then_restore_hooks restore{server_};
      auto big = test::random_bytes(1 << 20, seed_);
      auto small = test::random_bytes(1000, seed_ + 1);
      test::write_file(dir_ / "big", big);
      test::write_file(dir_ / "small", small);
      server_options o;
      o.threads = 1;
      o.step_limit = 64 << 10;
      start(std::move(o));
      auto c = connect_client();
      send_text(c.get(), "FILE big\nFILE small\nFILE big\n");
      for (const auto* want : {&big, &small, &big}) {
        EXPECT_EQ(read_line(c.get()), "SIZE " + std::to_string(want->size()));
        auto got = read_n(c.get(), want->size());
        EXPECT_TRUE(test::same_bytes(*want, std::as_bytes(std::span(got))));
        if (refuse == refusal::uncork) break;
      }
      if (refuse == refusal::uncork) {
        EXPECT_TRUE(peer_closed(c.get())) << "the connection outlived a cork left on";
      }
    }
    corks_seen = nullptr;
    EXPECT_EQ(rec.congestion_asked, 1) << "asked once per connection";
    return rec.corks;
  }
};

// Under a congestion control that does not pace (cubic, Debian's default), each large body is
// corked and uncorked when it is done; the small one between them is not touched.
TEST_P(ServerCork, LargeBodiesGoOutCorked) {
  EXPECT_EQ(serve_bodies("cubic"), (std::vector<int>{1, 0, 1, 0}));
}

// bbr without fq paces each departure with a timer, and corked bodies went out at half the rate:
// not corked. Nor where the congestion control cannot be read.
TEST_P(ServerCork, PacedOrUnknownSocketsAreNotCorked) {
  EXPECT_EQ(serve_bodies("bbr"), std::vector<int>{});
  EXPECT_EQ(serve_bodies(nullptr), std::vector<int>{});
}

// A refused cork changes how segments are cut, never what is sent, and is not undone.
TEST_P(ServerCork, RefusedCorkSendsTheSameBytes) {
  EXPECT_EQ(serve_bodies("cubic", refusal::every), (std::vector<int>{1, 1}));
}

// A cork that cannot be taken off would hold the last segment of every later reply for the
// kernel's 200 ms: the connection ends after the body instead, and its close sends the rest.
TEST_P(ServerCork, RefusedUncorkEndsTheConnectionAfterTheBody) {
  EXPECT_EQ(serve_bodies("cubic", refusal::uncork), (std::vector<int>{1, 0}));
}

// The epoll loop only: the io_uring loop splices bodies and does not cork.
INSTANTIATE_TEST_SUITE_P(Epoll, ServerCork, ::testing::Values(loop_engine::epoll));

// Pipelined requests in one packet are answered in order, file bodies byte-exact.
TEST_P(Server, PipelinedRequestsAnsweredInOrder) {
  auto a = test::random_bytes(100'000, seed_);
  auto b = test::random_bytes(3, seed_ + 1);
  test::write_file(dir_ / "a", a);
  test::write_file(dir_ / "b", b);
  start();
  auto c = connect_client();
  send_text(c.get(), "FILE a\nhello\nFILE b\nFILE nope\n");
  EXPECT_EQ(read_line(c.get()), "SIZE 100000");
  auto got_a = read_n(c.get(), a.size());
  EXPECT_TRUE(test::same_bytes(a, std::as_bytes(std::span(got_a))));
  EXPECT_EQ(read_line(c.get()), "ECHO hello");
  EXPECT_EQ(read_line(c.get()), "SIZE 3");
  auto got_b = read_n(c.get(), 3);
  EXPECT_TRUE(test::same_bytes(b, std::as_bytes(std::span(got_b))));
  EXPECT_EQ(read_line(c.get()), "MISSING");
  send_text(c.get(), "CLOSE\n");
  EXPECT_EQ(read_line(c.get()), "BYE");
  EXPECT_TRUE(peer_closed(c.get()));
}

// A client that reads slowly gets every byte of a large file; meanwhile another client is served.
TEST_P(Server, SlowReaderDoesNotBlockOthers) {
  auto big = test::random_bytes(32u << 20, seed_);
  test::write_file(dir_ / "big", big);
  test::write_file(dir_ / "small", test::random_bytes(10, seed_ + 1));
  start({.threads = 1});
  auto slow = connect_client();
  small_receive_buffer(slow.get());
  send_text(slow.get(), "FILE big\n");
  EXPECT_EQ(read_line(slow.get()), "SIZE 33554432");
  // The single worker is now parked on the slow client's EPOLLOUT; a second client still gets in.
  auto quick = connect_client();
  send_text(quick.get(), "FILE small\n");
  EXPECT_EQ(read_line(quick.get()), "SIZE 10");
  EXPECT_EQ(read_n(quick.get(), 10).size(), 10u);
  std::string got;
  while (got.size() < big.size()) {
    auto part = read_n(slow.get(), std::min<std::size_t>(64 * 1024, big.size() - got.size()));
    if (part.empty()) break;
    got += part;
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(test::same_bytes(big, std::as_bytes(std::span(got))));
}

// Over max_connections new connections are closed at once.
TEST_P(Server, RefusesOverMaxConnections) {
  start({.threads = 1, .max_connections = 2});
  auto a = connect_client();
  auto b = connect_client();
  send_text(a.get(), "x\n");
  EXPECT_EQ(read_line(a.get()), "ECHO x");
  send_text(b.get(), "y\n");
  EXPECT_EQ(read_line(b.get()), "ECHO y");
  auto c = connect_client();
  EXPECT_TRUE(peer_closed(c.get()));
  EXPECT_GE(server_->stats().refused, 1u);
}

// A request that never completes is timed out (slowloris) and the connection closed.
TEST_P(Server, HeaderTimeoutCloses) {
  start({.threads = 1, .header_timeout = 300ms});
  auto c = connect_client();
  send_text(c.get(), "FILE partial-without-newline");
  EXPECT_EQ(read_line(c.get()), "TIMEOUT");
  EXPECT_TRUE(peer_closed(c.get()));
  wait_open(0);
}

// An idle keep-alive connection is closed after the idle timeout.
TEST_P(Server, IdleTimeoutCloses) {
  start({.threads = 1, .idle_timeout = 300ms});
  auto c = connect_client();
  send_text(c.get(), "ping\n");
  EXPECT_EQ(read_line(c.get()), "ECHO ping");
  EXPECT_TRUE(peer_closed(c.get()));
}

// A file truncated while it is being sent ends that reply by closing the connection: the client
// sees a short body, the server keeps going.
TEST_P(Server, TruncatedFileClosesConnection) {
  auto big = test::random_bytes(64u << 20, seed_);
  test::write_file(dir_ / "big", big);
  start({.threads = 1, .step_limit = 256 * 1024});
  auto c = connect_client();
  small_receive_buffer(c.get());
  send_text(c.get(), "FILE big\n");
  EXPECT_EQ(read_line(c.get()), "SIZE 67108864");
  auto first = read_n(c.get(), 1 << 20);
  ASSERT_EQ(::truncate((dir_ / "big").c_str(), 2 << 20), 0);
  std::size_t total = first.size();
  for (;;) {
    auto part = read_n(c.get(), 1 << 20);
    total += part.size();
    if (part.size() < (1u << 20)) break;
  }
  EXPECT_LT(total, big.size());
  wait_open(0);
  auto d = connect_client();
  send_text(d.get(), "still\n");
  EXPECT_EQ(read_line(d.get()), "ECHO still");
}

// A client that disconnects mid-body frees its connection.
TEST_P(Server, ClientGoneMidBodyIsCleanedUp) {
  test::write_file(dir_ / "big", test::random_bytes(16u << 20, seed_));
  start({.threads = 1});
  {
    auto c = connect_client();
    send_text(c.get(), "FILE big\n");
    EXPECT_EQ(read_line(c.get()), "SIZE 16777216");
    read_n(c.get(), 1000);
  }
  wait_open(0);
}

// stop() lets a reply in flight finish, then the workers exit: at the end of the reply, not of
// the grace period (which is long here, so that no machine is too slow for it).
TEST_P(Server, GracefulStopFinishesReply) {
  auto big = test::random_bytes(16u << 20, seed_);
  test::write_file(dir_ / "big", big);
  start({.threads = 1});
  auto c = connect_client();
  small_receive_buffer(c.get());
  send_text(c.get(), "FILE big\n");
  EXPECT_EQ(read_line(c.get()), "SIZE 16777216");
  server_->stop(10min);
  std::string got = read_n(c.get(), big.size());
  EXPECT_TRUE(test::same_bytes(big, std::as_bytes(std::span(got))));
  EXPECT_TRUE(peer_closed(c.get()));
  server_->wait();
}

// A client that half-closes after its request (HTTP allows it) and then does not read: the
// worker waits for room without spinning (it spun on the peer's FIN at 100 % CPU, issue 17), and
// once the client reads the reply arrives whole, then the connection closes.
TEST_P(Server, HalfClosedClientThatDoesNotReadCostsNothing) {
  half_closed_client_costs_nothing();
}

// The same with a body in memory (head and body in one sendmsg, which stays short).
TEST_P(Server, HalfClosedClientOfAMemoryBodyCostsNothing) {
  half_closed_client_costs_nothing(false, true);
}

// The same client never reading: the send timeout closes it (the reply is reported cut short).
TEST_P(Server, HalfClosedClientThatNeverReadsMeetsTheSendTimeout) {
  test::write_file(dir_ / "big", test::random_bytes(16u << 20, seed_));
  start_with({.threads = 1, .send_timeout = 300ms}, recording_factory());
  auto c = half_closed_request("FILE big\n");
  EXPECT_EQ(read_line(c.get()), "SIZE 16777216");
  wait_open(0);
  auto calls = rec_->wait_finishes(1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_FALSE(calls[0].complete);
  EXPECT_LT(calls[0].body_bytes, 16u << 20);
}

// Requests pipelined before the client's FIN are all answered, in order, also while the first
// reply waits for room; a partial request left before the FIN is dropped without an answer
// (nginx closes such a connection too), and the connection closes.
TEST_P(Server, RequestsBeforeTheFinAreAllAnswered) {
  auto big = test::random_bytes((4u << 20) + 3, seed_);
  auto small = test::random_bytes(17, seed_ + 1);
  test::write_file(dir_ / "big", big);
  test::write_file(dir_ / "small", small);
  start({.threads = 1});
  auto c = half_closed_request("FILE big\nhello\nFILE small\nFILE par");
  EXPECT_EQ(read_line(c.get()), "SIZE " + std::to_string(big.size()));
  auto got = read_n(c.get(), big.size());
  EXPECT_TRUE(test::same_bytes(big, std::as_bytes(std::span(got))));
  EXPECT_EQ(read_line(c.get()), "ECHO hello");
  EXPECT_EQ(read_line(c.get()), "SIZE 17");
  got = read_n(c.get(), small.size());
  EXPECT_TRUE(test::same_bytes(small, std::as_bytes(std::span(got))));
  EXPECT_TRUE(peer_closed(c.get()));
  wait_open(0);
}

// The same client resetting instead of ever reading: the connection closes at once (the reset
// reaches a connection that waits for room, in either engine), the reply reported cut short.
TEST_P(Server, HalfClosedClientThatResetsWhileWaitingIsClosed) {
  test::write_file(dir_ / "big", test::random_bytes(16u << 20, seed_));
  auto load = std::make_shared<worker_load>();
  server_options o{.threads = 1, .tick = worker_load::tick(load)};
  start_with(std::move(o), recording_factory());
  auto c = half_closed_request("FILE big\n");
  EXPECT_EQ(read_line(c.get()), "SIZE 16777216");
  expect_quiet(*load, "while the half-closed client did not read");
  linger hard{1, 0};
  ::setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  c.reset();
  wait_open(0);
  auto calls = rec_->wait_finishes(1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_FALSE(calls[0].complete);
}

// A client that half-closes in the middle of a request: closed at once, nothing answered.
TEST_P(Server, FinInsideARequestClosesWithoutAnswer) {
  start_with({.threads = 1}, recording_factory());
  auto c = connect_client();
  send_text(c.get(), "FILE half-a-requ");
  ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
  EXPECT_TRUE(peer_closed(c.get()));
  wait_open(0);
  EXPECT_EQ(rec_->timeouts.load(), 0);
}

// stop(grace) while a half-closed client does not read: no spinning through the grace period
// either, and the worker exits as soon as the client has taken the whole reply.
TEST_P(Server, GracefulStopWithAHalfClosedClientCostsNothing) {
  half_closed_client_costs_nothing(true);
}

// Input the protocol cannot use yet fills the 64 KiB the loop keeps: reading stops, and the
// socket that stays readable does not keep the worker busy until the header timeout.
TEST_P(Server, InputOverTheCapDoesNotSpin) {
  auto load = std::make_shared<worker_load>();
  start({.threads = 1, .header_timeout = 10min, .tick = worker_load::tick(load)});
  auto c = connect_client();
  // No newline: the line protocol keeps waiting for the end of the line.
  const std::string line(100'000, 'x');
  send_text(c.get(), line);
  expect_quiet(*load, "with unread input");
  // Its FIN behind the unread bytes changes nothing.
  ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
  expect_quiet(*load, "with unread input and the FIN behind it");
}

// finished() comes once per reply, complete, with the body bytes that followed the head: a file
// body, an inline body, and none.
TEST_P(Server, FinishedOncePerReplyWithBodyBytes) {
  auto a = test::random_bytes(100'000, seed_);
  test::write_file(dir_ / "a", a);
  start_with({.threads = 1}, recording_factory());
  auto c = connect_client();
  send_text(c.get(), "FILE a\nhello\nFILE nope\nCLOSE\n");
  EXPECT_EQ(read_line(c.get()), "SIZE 100000");
  auto got = read_n(c.get(), a.size());
  EXPECT_TRUE(test::same_bytes(a, std::as_bytes(std::span(got))));
  EXPECT_EQ(read_line(c.get()), "ECHO hello");
  EXPECT_EQ(read_line(c.get()), "MISSING");
  EXPECT_EQ(read_line(c.get()), "BYE");
  EXPECT_TRUE(peer_closed(c.get()));
  wait_open(0);
  using f = recorder::finish;
  EXPECT_EQ(rec_->wait_finishes(4),
            (std::vector<f>{{100'000, true}, {6, true}, {0, true}, {0, true}}));
  server_->stop();
  server_->wait();
  EXPECT_EQ(rec_->finishes().size(), 4u);  // nothing more at exit
}

// A client that disconnects mid-body gets finished(complete=false) with the bytes that left.
TEST_P(Server, FinishedIncompleteWhenClientLeavesMidBody) {
  const std::size_t size = 16u << 20;
  test::write_file(dir_ / "big", test::random_bytes(size, seed_));
  start_with({.threads = 1}, recording_factory());
  {
    auto c = connect_client();
    small_receive_buffer(c.get());
    send_text(c.get(), "FILE big\n");
    EXPECT_EQ(read_line(c.get()), "SIZE 16777216");
    EXPECT_EQ(read_n(c.get(), 1000).size(), 1000u);
  }  // closed with unread data: the kernel resets the connection
  wait_open(0);
  auto calls = rec_->wait_finishes(1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_FALSE(calls[0].complete);
  EXPECT_GE(calls[0].body_bytes, 1000u);
  EXPECT_LT(calls[0].body_bytes, size);
}

// A protocol that holds a partial request itself (input empty, idle() false) gets the header
// timeout, not the idle one: on_timeout is called and the connection closed.
TEST_P(Server, NotIdleProtocolStartsTheHeaderTimeout) {
  auto rec = rec_;
  start_with({.threads = 1, .header_timeout = 300ms, .idle_timeout = 10min},
             [rec](std::string_view) { return std::make_unique<holding_protocol>(rec); });
  auto c = connect_client();
  // A first request answered: the connection is now on the (long) idle timeout.
  send_text(c.get(), "ping\n");
  EXPECT_EQ(read_line(c.get()), "ECHO ping");
  send_text(c.get(), "partial request");
  // Bounded by the client's receive timeout; the idle timeout (10 min) would never get here.
  EXPECT_EQ(read_line(c.get()), "TIMEOUT");
  EXPECT_TRUE(peer_closed(c.get()));
  EXPECT_EQ(rec->timeouts.load(), 1);
  wait_open(0);
}

// A protocol that is idle with nothing in `input` is on the idle timeout: closed quietly, no
// on_timeout answer.
TEST_P(Server, IdleProtocolIsClosedQuietly) {
  auto rec = rec_;
  start_with({.threads = 1, .header_timeout = 60s, .idle_timeout = 300ms},
             [rec](std::string_view) { return std::make_unique<holding_protocol>(rec); });
  auto c = connect_client();
  send_text(c.get(), "ping\n");
  EXPECT_EQ(read_line(c.get()), "ECHO ping");
  EXPECT_TRUE(peer_closed(c.get()));
  EXPECT_EQ(rec->timeouts.load(), 0);
}

// tick runs on the worker threads (not the caller's) about once a second, and once more on each
// worker as it exits.
TEST_P(Server, TickRunsOnWorkersAndAtExit) {
  struct ticks {
    std::mutex mutex;
    std::size_t count = 0;
    std::set<std::thread::id> threads;
  };
  auto t = std::make_shared<ticks>();
  server_options o;
  o.threads = 2;
  o.tick = [t] {
    std::lock_guard lock(t->mutex);
    ++t->count;
    t->threads.insert(std::this_thread::get_id());
  };
  start(std::move(o));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(t->mutex);
    return t->count > 0;
  }));
  std::size_t seen = 0;
  {
    std::lock_guard lock(t->mutex);
    seen = t->count;
  }
  server_->stop(0ms);
  server_->wait();
  std::lock_guard lock(t->mutex);
  EXPECT_GE(t->count, seen + 2);  // both workers, on their way out
  EXPECT_EQ(t->threads.size(), 2u);
  EXPECT_EQ(t->threads.count(std::this_thread::get_id()), 0u);
}

// A reply that comes with file_info (no classify in the loop) delivers the exact range.
TEST_P(Server, ReplyWithFileInfoSendsTheRange) {
  auto data = test::random_bytes(3'000'001, seed_);
  test::write_file(dir_ / "f", data);
  auto root = dir_.path();
  auto rec = rec_;
  start_with({.threads = 1}, [root, rec](std::string_view) {
    return std::make_unique<described_protocol>(root, rec);
  });
  auto c = connect_client();
  send_text(c.get(), "RANGE f 12345 2000000\nRANGE f 0 3000001\n");
  EXPECT_EQ(read_line(c.get()), "OK");
  auto first = read_n(c.get(), 2'000'000);
  EXPECT_TRUE(
      test::same_bytes(std::span(data).subspan(12345, 2'000'000), std::as_bytes(std::span(first))));
  EXPECT_EQ(read_line(c.get()), "OK");
  auto second = read_n(c.get(), data.size());
  EXPECT_TRUE(test::same_bytes(data, std::as_bytes(std::span(second))));
  using f = recorder::finish;
  EXPECT_EQ(rec->wait_finishes(2), (std::vector<f>{{2'000'000, true}, {3'000'001, true}}));
}

// The factory is given the client's address without the port.
TEST_P(Server, FactoryGetsThePeerAddressWithoutPort) {
  start_with({.threads = 1}, recording_factory());
  auto c = connect_client();
  send_text(c.get(), "x\n");
  EXPECT_EQ(read_line(c.get()), "ECHO x");
  std::lock_guard lock(rec_->mutex);
  EXPECT_EQ(rec_->peers, std::vector<std::string>{"127.0.0.1"});
}

// Addresses: IPv4, [IPv6], port 0 resolved; malformed ones refused.
// A borrowed body larger than the socket buffer goes out whole (resumed on EPOLLOUT after
// partial sends, head first), and the loop releases its owner once the reply is over.
TEST_P(Server, BorrowedBodyIsSentWholeAndReleased) {
  start({.threads = 1});
  auto c = connect_client();
  const std::size_t n = 3'000'000 + 17;
  send_text(c.get(), "BORROW " + std::to_string(n) + "\nping\n");
  EXPECT_EQ(read_line(c.get()), "SIZE " + std::to_string(n));
  const std::string body = read_n(c.get(), n);
  EXPECT_TRUE(
      test::same_bytes(test::random_bytes(n, borrowed_seed), std::as_bytes(std::span(body))));
  EXPECT_EQ(read_line(c.get()), "ECHO ping");
  EXPECT_TRUE(eventually([] {
    std::lock_guard lock(borrowed_mutex);
    return last_borrowed.expired();
  }));
}

// The next request arriving while a long body in memory is still going out (the receive that
// follows a reply can be in flight beside its sends): the body arrives byte-exact, then the next
// answer. (The io_uring loop queued a second send of the same bytes beside the first.)
TEST_P(Server, RequestArrivingDuringAMemoryBodyWaitsForIt) {
  start({.threads = 1});
  auto c = connect_client();
  small_receive_buffer(c.get());
  const std::size_t n = (16u << 20) + 5;
  send_text(c.get(), "BORROW " + std::to_string(n) + "\n");
  EXPECT_EQ(read_line(c.get()), "SIZE " + std::to_string(n));
  send_text(c.get(), "ping\n");
  const std::string body = read_n(c.get(), n);
  EXPECT_TRUE(
      test::same_bytes(test::random_bytes(n, borrowed_seed), std::as_bytes(std::span(body))));
  EXPECT_EQ(read_line(c.get()), "ECHO ping");
}

#ifdef ZCOPY_WITH_URING
// Where the kernel lacks IORING_OP_SPLICE the io_uring loop sends file bodies through the
// library's transfer (sendfile), waiting for room with POLL_ADD; the bytes are the same.
TEST_P(Server, BodiesWithoutTheSpliceOpcode) {
  detail::hide_uring_op_for_testing(IORING_OP_SPLICE, true);
  struct unhide {
    ~unhide() { detail::hide_uring_op_for_testing(IORING_OP_SPLICE, false); }
  } restore;
  two_large_bodies_arrive_whole();
}

// The same path with a half-closed client that does not read for a while: the transfer job's
// wait for room does not spin either (its POLL_ADD completed at once on the FIN, issue 17).
TEST_P(Server, HalfClosedClientWithoutTheSpliceOpcodeCostsNothing) {
  detail::hide_uring_op_for_testing(IORING_OP_SPLICE, true);
  struct unhide {
    ~unhide() { detail::hide_uring_op_for_testing(IORING_OP_SPLICE, false); }
  } restore;
  half_closed_client_costs_nothing();
}

// Splices the kernel refuses before the first byte (EINVAL, as for a descriptor that cannot
// splice: an unknown splice flag set on every queued splice through the syscall seam) hand each
// body to its transfer job's chain (sendfile), which waits for room with POLL_ADD; the bytes are
// the same.
TEST_P(Server, RefusedSplicesFallBackToTheJobsChain) {
  static auto spoil = [](io_uring* r) {
    for (unsigned i = r->sq.sqe_head; i != r->sq.sqe_tail; ++i) {
      io_uring_sqe& sqe = r->sq.sqes[i & r->sq.ring_mask];
      if (sqe.opcode == IORING_OP_SPLICE) sqe.splice_flags |= 1u << 20;
    }
  };
  sys::hooks().io_uring_submit_and_wait = [](io_uring* r, unsigned wait_nr) {
    spoil(r);
    return sys::real_hooks().io_uring_submit_and_wait(r, wait_nr);
  };
  sys::hooks().io_uring_submit_and_wait_timeout =
      [](io_uring* r, io_uring_cqe** cqe, unsigned wait_nr, __kernel_timespec* ts, sigset_t* mask) {
        spoil(r);
        return sys::real_hooks().io_uring_submit_and_wait_timeout(r, cqe, wait_nr, ts, mask);
      };
  stop_then_restore_hooks restore{server_};
  two_large_bodies_arrive_whole();
}

// A kernel without multishot accept (before 5.19) gets one accept re-armed after each.
TEST_P(Server, SingleShotAcceptServesEveryClient) {
  test::write_file(dir_ / "f", test::random_bytes(1000, seed_));
  start({.threads = 1, .multishot_accept = false});
  std::vector<unique_fd> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(connect_client());
  for (auto& c : clients) send_text(c.get(), "FILE f\n");
  for (auto& c : clients) {
    EXPECT_EQ(read_line(c.get()), "SIZE 1000");
    EXPECT_EQ(read_n(c.get(), 1000).size(), 1000u);
  }
}

// io_uring_enter answering EBUSY (completions must be reaped first) costs a turn of the loop,
// never a connection.
TEST_P(Server, BusyRingIsReapedAndServingGoesOn) {
  static std::atomic<int> busy_left{0};
  busy_left = 50;
  sys::hooks().io_uring_submit_and_wait_timeout =
      [](io_uring* r, io_uring_cqe** cqe, unsigned wait_nr, __kernel_timespec* ts, sigset_t* mask) {
        if (busy_left.fetch_sub(1) > 0) return -EBUSY;
        return sys::real_hooks().io_uring_submit_and_wait_timeout(r, cqe, wait_nr, ts, mask);
      };
  stop_then_restore_hooks restore{server_};
  auto data = test::random_bytes(200'000, seed_);
  test::write_file(dir_ / "f", data);
  start({.threads = 1});
  auto c = connect_client();
  for (int i = 0; i < 5; ++i) {
    send_text(c.get(), "FILE f\n");
    EXPECT_EQ(read_line(c.get()), "SIZE 200000");
    auto got = read_n(c.get(), data.size());
    EXPECT_TRUE(test::same_bytes(data, std::as_bytes(std::span(got))));
  }
  if (GetParam() == loop_engine::io_uring) {
    EXPECT_LE(busy_left.load(), 0);
  }
}
#endif

INSTANTIATE_TEST_SUITE_P(Engines, Server,
                         ::testing::Values(loop_engine::epoll, loop_engine::io_uring),
                         [](const ::testing::TestParamInfo<loop_engine>& engine) {
                           return engine.param == loop_engine::epoll ? std::string("epoll")
                                                                     : std::string("io_uring");
                         });

TEST(ListenAddress, Parses) {
  EXPECT_TRUE(parse_address("127.0.0.1:8080"));
  EXPECT_TRUE(parse_address("[::1]:0"));
  EXPECT_TRUE(parse_address(":9000"));
  EXPECT_FALSE(parse_address("::1:80"));
  EXPECT_FALSE(parse_address("127.0.0.1"));
  EXPECT_FALSE(parse_address("127.0.0.1:99999"));
  EXPECT_FALSE(parse_address("[::1]80"));
}

}  // namespace
}  // namespace zcopy::net
