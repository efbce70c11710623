// The event loop with a toy line protocol ("FILE <name>\n" → the file, "CLOSE\n" → close):
// pipelining, slow readers, limits, timeouts, truncation and graceful stop, all on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "net/server.hpp"
#include "support/test_support.hpp"

namespace zcopy::net {
namespace {

using namespace std::chrono_literals;

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

class Server : public ::testing::Test {
 protected:
  void start(server_options o = {}) {
    if (o.listen.empty()) o.listen.push_back(*parse_address("127.0.0.1:0"));
    if (o.threads == 0) o.threads = 2;
    auto root = dir_.path();
    auto s = server::start(
        std::move(o), [root](std::string_view) { return std::make_unique<line_protocol>(root); });
    ASSERT_TRUE(s) << s.error().message();
    server_ = std::move(*s);
  }
  unique_fd connect_client() {
    auto addr = parse_address(server_->addresses().at(0));
    EXPECT_TRUE(addr);
    int fd = ::socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(fd, addr->get(), addr->length), 0) << std::strerror(errno);
    timeval tv{10, 0};
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
    for (int i = 0; i < 200 && server_->stats().open_connections != n; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(server_->stats().open_connections, n);
  }

  test::temp_dir dir_;
  std::uint64_t seed_ = test::test_seed();
  std::unique_ptr<server> server_;
};

// Pipelined requests in one packet are answered in order, file bodies byte-exact.
TEST_F(Server, PipelinedRequestsAnsweredInOrder) {
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
TEST_F(Server, SlowReaderDoesNotBlockOthers) {
  auto big = test::random_bytes(32u << 20, seed_);
  test::write_file(dir_ / "big", big);
  test::write_file(dir_ / "small", test::random_bytes(10, seed_ + 1));
  start({.threads = 1});
  auto slow = connect_client();
  // Not below the loopback MSS (32 KiB): a window smaller than one segment stalls TCP itself.
  int small_buf = 65536;
  ::setsockopt(slow.get(), SOL_SOCKET, SO_RCVBUF, &small_buf, sizeof small_buf);
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
TEST_F(Server, RefusesOverMaxConnections) {
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
TEST_F(Server, HeaderTimeoutCloses) {
  start({.threads = 1, .header_timeout = 300ms});
  auto c = connect_client();
  send_text(c.get(), "FILE partial-without-newline");
  EXPECT_EQ(read_line(c.get()), "TIMEOUT");
  EXPECT_TRUE(peer_closed(c.get()));
  wait_open(0);
}

// An idle keep-alive connection is closed after the idle timeout.
TEST_F(Server, IdleTimeoutCloses) {
  start({.threads = 1, .idle_timeout = 300ms});
  auto c = connect_client();
  send_text(c.get(), "ping\n");
  EXPECT_EQ(read_line(c.get()), "ECHO ping");
  EXPECT_TRUE(peer_closed(c.get()));
}

// A file truncated while it is being sent ends that reply by closing the connection: the client
// sees a short body, the server keeps going.
TEST_F(Server, TruncatedFileClosesConnection) {
  auto big = test::random_bytes(64u << 20, seed_);
  test::write_file(dir_ / "big", big);
  start({.threads = 1, .step_limit = 256 * 1024});
  auto c = connect_client();
  // Not below the loopback MSS (32 KiB): a window smaller than one segment stalls TCP itself.
  int small_buf = 65536;
  ::setsockopt(c.get(), SOL_SOCKET, SO_RCVBUF, &small_buf, sizeof small_buf);
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
TEST_F(Server, ClientGoneMidBodyIsCleanedUp) {
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

// stop() lets a reply in flight finish, then the workers exit.
TEST_F(Server, GracefulStopFinishesReply) {
  auto big = test::random_bytes(16u << 20, seed_);
  test::write_file(dir_ / "big", big);
  start({.threads = 1});
  auto c = connect_client();
  // Not below the loopback MSS (32 KiB): a window smaller than one segment stalls TCP itself.
  int small_buf = 65536;
  ::setsockopt(c.get(), SOL_SOCKET, SO_RCVBUF, &small_buf, sizeof small_buf);
  send_text(c.get(), "FILE big\n");
  EXPECT_EQ(read_line(c.get()), "SIZE 16777216");
  server_->stop(5s);
  std::string got = read_n(c.get(), big.size());
  EXPECT_TRUE(test::same_bytes(big, std::as_bytes(std::span(got))));
  server_->wait();
  EXPECT_TRUE(peer_closed(c.get()));
}

// Addresses: IPv4, [IPv6], port 0 resolved; malformed ones refused.
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
