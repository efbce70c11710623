// client: fetch + receive_body against a scripted loopback server
// (tests/http/scripted_server.hpp): the request head, Content-Length, chunked (extensions, the
// last chunk, trailers, chunks split across packets, malformed framing, a body cut mid-chunk),
// bodies until close, redirects, statuses, timeouts and connection failures.
#include "http/client.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "http/scripted_server.hpp"
#include "support/test_support.hpp"
#include "zcopy/net.hpp"
#include "zcopy/syscall_stats.hpp"

namespace zcopy::http {
namespace {

using namespace std::chrono_literals;
using test::random_text;
using test::scripted_server;
using test::simple_response;

std::string hex(std::size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

// --- helpers -----------------------------------------------------------------------------------

struct download {
  std::expected<std::uint64_t, client_error> result;
  std::string body;
  std::vector<std::uint64_t> progress;
  syscall_counts before, after;  // this thread's calls around fetch and receive_body
};

// fetch + receive_body into a temporary file at `offset`.
download get(const std::string& address, request_options options = {}, std::uint64_t offset = 0) {
  test::temp_dir dir;
  download d{std::unexpected(client_error{}), {}, {}};
  auto u = parse_url(address);
  EXPECT_TRUE(u.has_value());
  auto fd = test::open_or_die(dir / "out", O_RDWR | O_CREAT | O_TRUNC);
  d.before = thread_syscall_counts();
  auto r = fetch(*u, options);
  if (!r) {
    d.result = std::unexpected(r.error());
    return d;
  }
  d.result = r->receive_body(fd.get(), offset, [&](std::uint64_t n) { d.progress.push_back(n); });
  d.after = thread_syscall_counts();
  const auto bytes = test::read_file(dir / "out");
  d.body = std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (offset > 0 && d.body.size() >= offset) d.body.erase(0, offset);
  return d;
}

std::string chunked_head() {
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
}

// --- requests and Content-Length -----------------------------------------------------------------

// The request head: Host with the port, User-Agent, identity encoding, close; a Range and
// If-Range only when asked.
TEST(Client, SendsTheRequestHeadFetchNeeds) {
  scripted_server server(
      {[](int fd, const std::string&) { scripted_server::send_all(fd, simple_response("x")); }});
  request_options options;
  options.user_agent = "zcopy/test";
  auto d = get(server.url("/a%20b?q=1"), options);
  ASSERT_TRUE(d.result.has_value()) << d.result.error().message;
  const std::string req = server.requests().at(0);
  EXPECT_TRUE(req.starts_with("GET /a%20b?q=1 HTTP/1.1\r\n")) << req;
  EXPECT_NE(req.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos)
      << req;
  EXPECT_NE(req.find("\r\nUser-Agent: zcopy/test\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nAccept-Encoding: identity\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nConnection: close\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.find("Range"), std::string::npos) << req;

  request_options ranged;
  ranged.range_from = 100;
  ranged.if_range = "\"abc\"";
  const std::string head = request_head(*parse_url("http://h/x"), ranged);
  EXPECT_NE(head.find("\r\nRange: bytes=100-\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nIf-Range: \"abc\"\r\n"), std::string::npos) << head;
}

// With a pool: no "Connection: close"; a whole body from an HTTP/1.1 server that keeps the
// connection hands it back, and the next fetch sends its request on it (the server sees two
// requests on one connection).
TEST(Client, PooledConnectionCarriesTheNextRequest) {
  const std::string a = random_text(70'000, test::test_seed()), b = random_text(3, 7);
  std::vector<std::string> second_request;
  scripted_server server({[&](int fd, const std::string& req) {
    EXPECT_EQ(req.find("Connection: close"), std::string::npos) << req;
    scripted_server::send_all(
        fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(a.size()) + "\r\n\r\n" + a);
    // The next request arrives on this connection.
    std::string next;
    char ch = 0;
    while (!next.ends_with("\r\n\r\n") && ::recv(fd, &ch, 1, 0) == 1) next += ch;
    second_request.push_back(next);
    scripted_server::send_all(
        fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b);
  }});
  connection_pool pool;
  request_options options;
  options.pool = &pool;
  auto first = get(server.url("/a"), options);
  ASSERT_TRUE(first.result) << first.result.error().message;
  EXPECT_EQ(first.body, a);
  auto second = get(server.url("/b"), options);
  ASSERT_TRUE(second.result) << second.result.error().message;
  EXPECT_EQ(second.body, b);
  EXPECT_EQ(server.requests().size(), 1u);
  ASSERT_EQ(second_request.size(), 1u);
  EXPECT_TRUE(second_request[0].starts_with("GET /b HTTP/1.1\r\n")) << second_request[0];
}

// A pooled connection the server closed after its answer (or that a "Connection: close" answer
// never gave back): the next request goes on a new connection and succeeds.
TEST(Client, PooledConnectionClosedByTheServerIsReplaced) {
  const std::string body = random_text(5000, test::test_seed() + 1);
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " +
                                      std::to_string(body.size()) + "\r\n\r\n" + body);
  }});
  connection_pool pool;
  request_options options;
  options.pool = &pool;
  for (int i = 0; i < 3; ++i) {
    auto d = get(server.url("/x"), options);
    ASSERT_TRUE(d.result) << i << ": " << d.result.error().message;
    EXPECT_EQ(d.body, body);
  }
  EXPECT_EQ(server.requests().size(), 3u);
}

// A Content-Length body arrives byte for byte, through splice, with progress reported.
TEST(Client, ContentLengthBodyIsSpliced) {
  SCOPED_TRACE(testing::Message() << "seed " << test::test_seed());
  const std::string body = random_text((1 << 20) + 17, test::test_seed());
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(fd, simple_response(body, "200 OK", "ETag: \"e1\"\r\n"));
  }});
  auto d = get(server.url("/f"));
  ASSERT_TRUE(d.result.has_value()) << d.result.error().message;
  EXPECT_EQ(*d.result, body.size());
  EXPECT_EQ(d.body, body);
  ASSERT_FALSE(d.progress.empty());
  EXPECT_EQ(d.progress.back(), body.size());
  // The body went through splice; nothing was read(2) into user memory.
  EXPECT_GT(d.after[syscall_kind::splice] - d.before[syscall_kind::splice], 0u);
  EXPECT_EQ(d.after[syscall_kind::read] - d.before[syscall_kind::read], 0u);
}

// A body written at an offset (resume) leaves the bytes before it alone.
TEST(Client, WritesAtTheGivenOffset) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(
        fd, simple_response("tail", "206 Partial Content", "Content-Range: bytes 4-7/8\r\n"));
  }});
  auto d = get(server.url("/f"), {}, 4);
  ASSERT_TRUE(d.result.has_value()) << d.result.error().message;
  EXPECT_EQ(d.body, "tail");
}

// A server that closes before Content-Length bytes: short_body, with the bytes written.
TEST(Client, ShortContentLengthBodyIsAnError) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
  }});
  auto d = get(server.url("/f"));
  ASSERT_FALSE(d.result.has_value());
  EXPECT_EQ(d.result.error().what, client_error::kind::short_body);
  EXPECT_EQ(d.result.error().body_bytes, 10u);
  EXPECT_EQ(d.body, "0123456789");
  EXPECT_NE(d.result.error().message.find("10 of 100"), std::string::npos)
      << d.result.error().message;
}

// No length and not chunked: the body is everything to the close.
TEST(Client, BodyUntilClose) {
  const std::string body = random_text(300'000, test::test_seed() + 1);
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body);
  }});
  auto d = get(server.url("/f"));
  ASSERT_TRUE(d.result.has_value()) << d.result.error().message;
  EXPECT_EQ(d.body, body);
}

// A zero-length body writes nothing and succeeds.
TEST(Client, EmptyBody) {
  scripted_server server(
      {[](int fd, const std::string&) { scripted_server::send_all(fd, simple_response("")); }});
  auto d = get(server.url("/f"));
  ASSERT_TRUE(d.result.has_value()) << d.result.error().message;
  EXPECT_EQ(*d.result, 0u);
  EXPECT_EQ(d.body, "");
}

// --- chunked -------------------------------------------------------------------------------------

// Chunks of many sizes with extensions, the last chunk, trailers: bytes identical, and the data
// went through splice (user space saw only the framing).
TEST(Client, ChunkedBodyWithExtensionsAndTrailers) {
  SCOPED_TRACE(testing::Message() << "seed " << test::test_seed());
  const std::string body = random_text(700'000, test::test_seed() + 2);
  std::string wire = chunked_head();
  std::size_t at = 0, n = 1;
  while (at < body.size()) {
    const std::size_t size = std::min(n, body.size() - at);
    wire +=
        hex(size) + (size % 3 == 0 ? ";ext=\"v\"" : "") + "\r\n" + body.substr(at, size) + "\r\n";
    at += size;
    n = n * 3 + 7;
  }
  wire += "0;end\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n";
  scripted_server server(
      {[&](int fd, const std::string&) { scripted_server::send_all(fd, wire); }});
  auto d = get(server.url("/c"));
  ASSERT_TRUE(d.result.has_value()) << d.result.error().message;
  EXPECT_EQ(*d.result, body.size());
  EXPECT_EQ(d.body, body);
  // The body went through splice; nothing was read(2) into user memory.
  EXPECT_GT(d.after[syscall_kind::splice] - d.before[syscall_kind::splice], 0u);
  EXPECT_EQ(d.after[syscall_kind::read] - d.before[syscall_kind::read], 0u);
}

// A chunk-size line and the chunk data split across packets, with pauses between them.
TEST(Client, ChunkSplitAcrossPackets) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(fd, chunked_head() + "1");
    std::this_thread::sleep_for(50ms);
    scripted_server::send_all(fd, "0;a=b\r");
    std::this_thread::sleep_for(50ms);
    scripted_server::send_all(fd, "\n0123456789ab");
    std::this_thread::sleep_for(50ms);
    scripted_server::send_all(fd, "cdef\r");
    std::this_thread::sleep_for(50ms);
    scripted_server::send_all(fd, "\n0\r\n");
    std::this_thread::sleep_for(50ms);
    scripted_server::send_all(fd, "\r\n");
  }});
  auto d = get(server.url("/c"));
  ASSERT_TRUE(d.result.has_value()) << d.result.error().message;
  EXPECT_EQ(d.body, "0123456789abcdef");
}

TEST(Client, MalformedChunkFramingIsAnError) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(fd, chunked_head() + "3\r\nabc\r\nzz\r\n");
  }});
  auto d = get(server.url("/c"));
  ASSERT_FALSE(d.result.has_value());
  EXPECT_EQ(d.result.error().what, client_error::kind::protocol);
  EXPECT_EQ(d.result.error().message, "malformed chunked body: chunk size is not hexadecimal");
  EXPECT_EQ(d.result.error().body_bytes, 3u);
}

// The server closes inside a chunk's data: short_body with what was written.
TEST(Client, ServerClosingMidChunkIsAShortBody) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(fd, chunked_head() + "4\r\nabcd\r\n10\r\n01234");
  }});
  auto d = get(server.url("/c"));
  ASSERT_FALSE(d.result.has_value());
  EXPECT_EQ(d.result.error().what, client_error::kind::short_body);
  EXPECT_EQ(d.result.error().body_bytes, 9u);
  EXPECT_EQ(d.body, "abcd01234");
}

// ... and between chunks, before the last one.
TEST(Client, ServerClosingBeforeTheLastChunkIsAShortBody) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(fd, chunked_head() + "4\r\nabcd\r\n");
  }});
  auto d = get(server.url("/c"));
  ASSERT_FALSE(d.result.has_value());
  EXPECT_EQ(d.result.error().what, client_error::kind::short_body);
  EXPECT_EQ(d.result.error().body_bytes, 4u);
}

// --- heads, redirects, statuses ----------------------------------------------------------------

// A relative Location is resolved against the current URL; the second request goes there.
TEST(Client, FollowsRelativeRedirects) {
  scripted_server server({[](int fd, const std::string&) {
                            scripted_server::send_all(
                                fd, simple_response("", "302 Found", "Location: ../b/x?y=1\r\n"));
                          },
                          [](int fd, const std::string&) {
                            scripted_server::send_all(fd, simple_response("moved"));
                          }});
  auto u = parse_url(server.url("/a/start"));
  auto r = fetch(*u, {});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->redirects(), 1u);
  EXPECT_EQ(r->final_url().target, "/b/x?y=1");
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_TRUE(server.requests()[1].starts_with("GET /b/x?y=1 HTTP/1.1\r\n"));
}

// Every redirect status is followed; past max_redirects the error says so.
TEST(Client, TooManyRedirects) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(
        fd, simple_response("", "307 Temporary Redirect", "Location: /again\r\n"));
  }});
  request_options options;
  options.max_redirects = 3;
  auto r = fetch(*parse_url(server.url("/")), options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().what, client_error::kind::redirects);
  EXPECT_EQ(r.error().message, "too many redirects (more than 3)");
  EXPECT_EQ(server.requests().size(), 4u);
}

// Error statuses are returned with the status line as sent; the caller decides.
TEST(Client, ReturnsErrorStatusWithItsLine) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(fd, simple_response("nope", "404 Not Found"));
  }});
  auto r = fetch(*parse_url(server.url("/missing")), {});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->head().status, 404);
  EXPECT_EQ(r->head().status_line, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(r->head().content_length, 4u);
}

// 1xx heads before the final one are skipped.
TEST(Client, SkipsInformationalHeads) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(fd, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" +
                                      simple_response("ok", "200 OK", "X-A:  b \r\n"));
  }});
  auto d = get(server.url("/"));
  ASSERT_TRUE(d.result.has_value()) << d.result.error().message;
  EXPECT_EQ(d.body, "ok");
}

TEST(Client, MalformedOrHugeHeadIsAnError) {
  scripted_server server(
      {[](int fd, const std::string&) { scripted_server::send_all(fd, "HTTP/1.1 2x0 OK\r\n\r\n"); },
       [](int fd, const std::string&) {
         scripted_server::send_all(fd, "HTTP/1.1 200 OK\r\nX: " + std::string(100'000, 'a'));
       }});
  auto a = fetch(*parse_url(server.url("/")), {});
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().what, client_error::kind::protocol);
  EXPECT_TRUE(a.error().message.starts_with("malformed response head")) << a.error().message;
  auto b = fetch(*parse_url(server.url("/")), {});
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().what, client_error::kind::protocol);
  EXPECT_EQ(b.error().message, "response head larger than 65536 bytes");
}

// http_parser reads "HTTP/1.1 41" as status 41 (one to three digits); RFC 9112 §4 wants three,
// and a status below 100 has no meaning. Found by fuzz_response_head.
TEST(Client, StatusCodeBelow100IsAMalformedHead) {
  scripted_server server(
      {[](int fd, const std::string&) { scripted_server::send_all(fd, "HTTP/1.1 41\r\n\r\n"); },
       [](int fd, const std::string&) {
         scripted_server::send_all(fd, "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n");
       }});
  for (int i = 0; i < 2; ++i) {
    auto r = fetch(*parse_url(server.url("/")), {});
    ASSERT_FALSE(r.has_value()) << "status " << r->head().status;
    EXPECT_EQ(r.error().what, client_error::kind::protocol);
    EXPECT_EQ(r.error().message,
              "malformed response head: invalid status code (not three digits from 100 on)");
  }
}

TEST(ResponseHeadParser, RefusesStatusBelow100AndTakesOnlyTheHead) {
  response_head_parser bad;
  const std::string_view short_status = "HTTP/1.1 41\r\n\r\n";
  bad.feed(std::span<const char>(short_status.data(), short_status.size()));
  EXPECT_FALSE(bad.complete());
  ASSERT_NE(bad.error(), nullptr);

  response_head_parser good;
  const std::string_view head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  const std::size_t used = good.feed(std::span<const char>(head.data(), head.size()));
  EXPECT_EQ(good.error(), nullptr);
  ASSERT_TRUE(good.complete());
  EXPECT_EQ(used, head.size() - 2);
  EXPECT_EQ(good.head().status, 200);
  EXPECT_EQ(good.head().content_length, 2u);
}

// A server that stops sending: "read timed out", for the head and for the body.
TEST(Client, StalledServerTimesOut) {
  // Two servers: one connection at a time each, so a stalled script does not hold the other.
  scripted_server silent({[](int, const std::string&) { std::this_thread::sleep_for(1500ms); }});
  scripted_server stalls_in_body({[](int fd, const std::string&) {
    scripted_server::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
    std::this_thread::sleep_for(1500ms);
  }});
  request_options options;
  options.read_timeout = 300ms;
  auto a = fetch(*parse_url(silent.url("/")), options);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().what, client_error::kind::timeout);
  EXPECT_EQ(a.error().message, "read timed out");
  auto d = get(stalls_in_body.url("/"), options);
  ASSERT_FALSE(d.result.has_value());
  EXPECT_EQ(d.result.error().what, client_error::kind::timeout);
  EXPECT_EQ(d.result.error().message, "read timed out");
  EXPECT_EQ(d.result.error().body_bytes, 5u);
  EXPECT_EQ(d.body, "01234");
}

// A body's socket gathers bytes before poll wakes the reader (SO_RCVLOWAT), and the kernel's
// default is back once the body is in: a pooled socket's next head must wake its reader at its
// first byte. The server sends the second half only once the reader has set the mark, so the
// reader waits inside the body whatever the machine's speed.
// What the setsockopt hook saw (the hooks are plain function pointers).
std::vector<int>* seen_marks = nullptr;
std::promise<void>* first_mark = nullptr;

TEST(Client, LowWaterMarkIsSetForTheBodyAndPutBack) {
  const std::string body = random_text(300'000, test::test_seed() + 3);
  std::vector<int> marks;
  std::promise<void> mark_set;
  seen_marks = &marks;
  first_mark = &mark_set;
  test::fault_scope scope;  // before the server: its thread must never see the table change
  sys::hooks().setsockopt = [](int s, int level, int name, const void* v, socklen_t len) -> int {
    if (level == SOL_SOCKET && name == SO_RCVLOWAT) {
      seen_marks->push_back(*static_cast<const int*>(v));
      if (seen_marks->back() > 1 && first_mark) {
        first_mark->set_value();
        first_mark = nullptr;
      }
    }
    return sys::real_hooks().setsockopt(s, level, name, v, len);
  };
  std::future<void> marked = mark_set.get_future();
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(
        fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                body.substr(0, 1000));
    (void)marked.wait_for(std::chrono::minutes(2));
    scripted_server::send_all(fd, body.substr(1000));
  }});
  test::temp_dir dir;
  auto out = test::open_or_die(dir / "out", O_RDWR | O_CREAT | O_TRUNC);
  auto r = fetch(*parse_url(server.url("/f")), {});
  ASSERT_TRUE(r) << r.error().message;
  auto got = r->receive_body(out.get(), 0, {});
  ASSERT_TRUE(got) << got.error().message;
  const auto bytes = test::read_file(dir / "out");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), body);
  ASSERT_FALSE(marks.empty());
  EXPECT_GT(marks.front(), 1);
  EXPECT_EQ(marks.back(), 1);
  int now = 0;
  socklen_t len = sizeof now;
  ASSERT_EQ(::getsockopt(r->socket(), SOL_SOCKET, SO_RCVLOWAT, &now, &len), 0);
  EXPECT_EQ(now, 1);
}

// The mark is an economy: where the socket refuses it, the body still arrives whole.
TEST(Client, RefusedLowWaterMarkChangesNothing) {
  const std::string body = random_text(200'000, test::test_seed() + 4);
  test::fault_scope scope;
  sys::hooks().setsockopt = [](int s, int level, int name, const void* v, socklen_t len) -> int {
    if (level == SOL_SOCKET && name == SO_RCVLOWAT) {
      errno = ENOPROTOOPT;
      return -1;
    }
    return sys::real_hooks().setsockopt(s, level, name, v, len);
  };
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(
        fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
    for (std::size_t at = 0; at < body.size(); at += 50'000) {
      std::this_thread::sleep_for(10ms);
      scripted_server::send_all(fd, body.substr(at, 50'000));
    }
  }});
  auto d = get(server.url("/f"));
  ASSERT_TRUE(d.result) << d.result.error().message;
  EXPECT_EQ(d.body, body);
}

// A server that trickles (2,000 bytes every 100 ms here: the mark's 32 KiB would take 1.6 s, more
// than the read timeout) is read as its bytes come: no read timeout while bytes keep coming, and
// progress after each piece rather than once at the end.
TEST(Client, TricklingBodyIsReadAsItComes) {
  const std::string body = random_text(48'000, test::test_seed() + 5);
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(
        fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
    for (std::size_t at = 0; at < body.size(); at += 2000) {
      std::this_thread::sleep_for(100ms);
      scripted_server::send_all(fd, body.substr(at, 2000));
    }
  }});
  request_options options;
  options.read_timeout = 1s;  // under the 2.4 s the whole body takes
  auto d = get(server.url("/f"), options);
  ASSERT_TRUE(d.result) << d.result.error().message;
  EXPECT_EQ(d.body, body);
  EXPECT_GT(d.progress.size(), 2u);
}

TEST(Client, ConnectionRefused) {
  auto r = fetch(*parse_url("http://127.0.0.1:" + std::to_string(test::refusing_port()) + "/"), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().what, client_error::kind::connect);
  EXPECT_EQ(r.error().message, "connection refused");
}

TEST(Client, UnresolvableHost) {
  auto r = fetch(*parse_url("http://no-such-host.invalid/"), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().what, client_error::kind::resolve);
  EXPECT_TRUE(r.error().message.starts_with("cannot resolve 'no-such-host.invalid'"))
      << r.error().message;
}

// A stop request ends a wait promptly.
TEST(Client, StopRequestCancelsAWait) {
  scripted_server server({[](int, const std::string&) { std::this_thread::sleep_for(1s); }});
  std::stop_source stop;
  request_options options;
  options.stop = stop.get_token();
  std::thread stopper([&] {
    std::this_thread::sleep_for(100ms);
    stop.request_stop();
  });
  auto r = fetch(*parse_url(server.url("/")), options);
  stopper.join();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().what, client_error::kind::cancelled);
}

TEST(ContentRange, Parses) {
  auto a = parse_content_range("bytes 100-199/200");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, 100u);
  EXPECT_EQ(a->last, 199u);
  EXPECT_EQ(a->total, 200u);
  auto b = parse_content_range("bytes */1234");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->first);
  EXPECT_EQ(b->total, 1234u);
  auto c = parse_content_range("bytes 0-9/*");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->total);
  EXPECT_FALSE(parse_content_range("bytes */*"));
  EXPECT_FALSE(parse_content_range("bytes 9-0/10"));
  EXPECT_FALSE(parse_content_range("bytes 0-10/10"));
  EXPECT_FALSE(parse_content_range("items 0-1/2"));
  EXPECT_FALSE(parse_content_range("bytes 0-1"));
}

}  // namespace
}  // namespace zcopy::http
