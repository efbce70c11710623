// session: the HTTP/1.1 protocol as the event loop drives it. Raw request bytes in, net::reply
// out: file ranges with their classification, pipelining, partial input, the 408 timeout (whole in
// its head), the keep-alive request limit, parser errors (no body for HEAD), Expect:
// 100-continue, the error log, and the access log entry once a response is over.
#include "http/session.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/resolve.hpp"
#include "support/test_support.hpp"
#include "zcopy/endpoint.hpp"
#include "zcopy/error.hpp"

namespace zcopy::http {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string status_line(const std::string& head) {
  return head.substr(0, head.find("\r\n"));
}

bool has_field(const std::string& head, std::string_view line) {
  return head.find("\r\n" + std::string(line) + "\r\n") != std::string::npos;
}

std::string slurp(const fs::path& path) {
  auto bytes = test::read_file(path);
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string get(std::string_view target, std::string_view extra_fields = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" +
         std::string(extra_fields) + "\r\n";
}

// ROOT: f.bin (random, 10000 bytes), dir/ (a directory without index.html).
// The access log goes to a temp file; TZ is UTC for the duration of each test.
class Session : public ::testing::Test {
 protected:
  void SetUp() override {
    SCOPED_TRACE(::testing::Message() << "seed " << test::test_seed());
    if (const char* tz = ::getenv("TZ")) saved_tz_ = tz;
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    root_path_ = base_.path() / "root";
    fs::create_directories(root_path_ / "dir");
    data_ = test::random_bytes(10000, test::test_seed());
    test::write_file(root_path_ / "f.bin", data_);
    auto r = open_root(root_path_.c_str());
    ASSERT_TRUE(r.has_value()) << r.error().message();
    root_ = std::move(*r);
    log_path_ = base_.path() / "access.log";
    auto log = access_log::open(log_path_.string());
    ASSERT_TRUE(log.has_value()) << log.error().message();
    log_.emplace(std::move(*log));
    settings_.serve.root_fd = root_.get();
    settings_.serve.mime = &mime_;
    // Most tests look at the sendfile path; SmallCachedBodiesGoInline turns this back on.
    settings_.serve.small_bodies_inline = false;
  }
  void TearDown() override {
    session_.reset();
    context_.reset();  // flushes the log buffer while the log is still there
    if (saved_tz_) {
      ::setenv("TZ", saved_tz_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

  // A session on a fresh worker context (the settings as they are now).
  session& open_session() {
    session_.reset();
    context_ = std::make_unique<worker_context>(
        settings_, open_file_cache::settings{.max_entries = 16, .valid = 1000ms}, &*log_);
    session_ = std::make_unique<session>(*context_, "127.0.0.1");
    return *session_;
  }

  std::vector<std::string> log_lines() {
    context_->tick();
    const std::string text = slurp(log_path_);
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
      const std::size_t nl = text.find('\n', start);
      out.push_back(text.substr(start, nl - start));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    return out;
  }

  test::temp_dir base_;
  fs::path root_path_;
  fs::path log_path_;
  unique_fd root_;
  std::vector<std::byte> data_;
  mime_table mime_;
  std::optional<access_log> log_;
  session_settings settings_;
  std::unique_ptr<worker_context> context_;
  std::unique_ptr<session> session_;
  std::optional<std::string> saved_tz_;
};

// A GET of a file: the whole request is consumed, the reply is a head plus the file range, with
// the file already classified (describe) and the connection kept.
TEST_F(Session, GetFileRepliesWithTheFileRange) {
  session& s = open_session();
  const std::string req = get("/f.bin");
  std::optional<net::reply> out;
  EXPECT_EQ(s.consume(req, out), req.size());
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 200 OK");
  EXPECT_TRUE(has_field(out->head, "Content-Length: 10000"));
  EXPECT_TRUE(has_field(out->head, "Connection: keep-alive"));
  EXPECT_TRUE(out->body.empty());
  EXPECT_FALSE(out->close);
  ASSERT_TRUE(out->file && *out->file);
  EXPECT_EQ(out->offset, 0u);
  EXPECT_EQ(out->length, 10000u);
  ASSERT_TRUE(out->file_info);
  EXPECT_EQ(out->file_info->fd, out->file->get());
  EXPECT_EQ(out->file_info->kind, endpoint_kind::regular_file);
  EXPECT_EQ(out->file_info->size, 10000u);
  EXPECT_EQ(out->file_info->status_flags & O_ACCMODE, O_RDONLY);
  struct stat st {};
  ASSERT_EQ(::stat((root_path_ / "f.bin").c_str(), &st), 0);
  EXPECT_EQ(out->file_info->inode, st.st_ino);
  EXPECT_EQ(out->file_info->device, st.st_dev);
  EXPECT_TRUE(
      test::same_bytes(data_, test::read_range(out->file->get(), out->offset, out->length)));
  EXPECT_TRUE(s.idle());
}

// A Range request gives 206 and the matching offset and length.
TEST_F(Session, RangeRequestGivesTheSubrange) {
  session& s = open_session();
  const std::string req = get("/f.bin", "Range: bytes=100-1099\r\n");
  std::optional<net::reply> out;
  EXPECT_EQ(s.consume(req, out), req.size());
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 206 Partial Content");
  ASSERT_TRUE(out->file);
  EXPECT_EQ(out->offset, 100u);
  EXPECT_EQ(out->length, 1000u);
  ASSERT_TRUE(out->file_info);
  EXPECT_TRUE(test::same_bytes(std::span(data_).subspan(100, 1000),
                               test::read_range(out->file->get(), out->offset, out->length)));
}

// HEAD and errors carry no file; an error has its inline body.
TEST_F(Session, HeadAndErrorsCarryNoFile) {
  session& s = open_session();
  std::optional<net::reply> out;
  const std::string head = "HEAD /f.bin HTTP/1.1\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(s.consume(head, out), head.size());
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 200 OK");
  EXPECT_TRUE(has_field(out->head, "Content-Length: 10000"));
  EXPECT_FALSE(out->file);
  EXPECT_FALSE(out->file_info);
  EXPECT_EQ(out->length, 0u);
  EXPECT_TRUE(out->body.empty());

  out.reset();
  const std::string missing = get("/nope");
  EXPECT_EQ(s.consume(missing, out), missing.size());
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 404 Not Found");
  EXPECT_FALSE(out->file);
  EXPECT_FALSE(out->body.empty());
  EXPECT_FALSE(out->close);
}

// Two requests in one buffer: the first consume takes the first request only; the rest is
// answered by the next call.
TEST_F(Session, PipelinedRequestsAreTakenOneAtATime) {
  session& s = open_session();
  const std::string first = get("/f.bin");
  const std::string second = get("/nope");
  const std::string input = first + second;
  std::optional<net::reply> out;
  ASSERT_EQ(s.consume(input, out), first.size());
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 200 OK");
  s.finished(out->length, true);

  out.reset();
  ASSERT_EQ(s.consume(std::string_view(input).substr(first.size()), out), second.size());
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 404 Not Found");
}

// Part of a request is consumed (the parser keeps it) with no reply; the session is no longer
// idle until the rest arrives.
TEST_F(Session, PartialInputNeedsMore) {
  session& s = open_session();
  EXPECT_TRUE(s.idle());
  const std::string req = get("/f.bin");
  const std::size_t cut = 20;
  std::optional<net::reply> out;
  EXPECT_EQ(s.consume(std::string_view(req).substr(0, cut), out), cut);
  EXPECT_FALSE(out);
  EXPECT_FALSE(s.idle());
  EXPECT_EQ(s.consume(std::string_view(req).substr(cut), out), req.size() - cut);
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 200 OK");
  EXPECT_EQ(out->length, 10000u);
  EXPECT_TRUE(s.idle());
}

// The header timeout answers 408 and closes, but only for a request cut off midway: an idle
// connection (fresh, or between requests) just closes.
TEST_F(Session, TimeoutGives408OnlyMidRequest) {
  session& s = open_session();
  EXPECT_FALSE(s.on_timeout());

  std::optional<net::reply> out;
  const std::string req = get("/f.bin");
  ASSERT_EQ(s.consume(req, out), req.size());
  ASSERT_TRUE(out);
  s.finished(out->length, true);
  EXPECT_FALSE(s.on_timeout());

  out.reset();
  ASSERT_EQ(s.consume("GET /f.b", out), 8u);
  EXPECT_FALSE(out);
  auto timeout = s.on_timeout();
  ASSERT_TRUE(timeout);
  EXPECT_EQ(status_line(timeout->head), "HTTP/1.1 408 Request Timeout");
  EXPECT_TRUE(timeout->close);
  EXPECT_TRUE(has_field(timeout->head, "Connection: close"));
  EXPECT_FALSE(timeout->file);
}

// The 408 is logged by on_timeout itself (the loop sends it best effort and never reports it
// back), with "-" for the request line and no body bytes.
TEST_F(Session, TimeoutIsLogged) {
  session& s = open_session();
  std::optional<net::reply> out;
  ASSERT_EQ(s.consume("GET /", out), 5u);
  ASSERT_TRUE(s.on_timeout());
  const auto lines = log_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with("127.0.0.1 - - [")) << lines[0];
  EXPECT_TRUE(lines[0].ends_with("] \"-\" 408 0 \"-\" \"-\"")) << lines[0];
}

// With max_requests, the last request of a connection gets "Connection: close" and closes.
TEST_F(Session, MaxRequestsMakesTheLastReplyClose) {
  settings_.max_requests = 3;
  session& s = open_session();
  const std::string req = get("/f.bin");
  for (int i = 1; i <= 3; ++i) {
    SCOPED_TRACE(i);
    std::optional<net::reply> out;
    ASSERT_EQ(s.consume(req, out), req.size());
    ASSERT_TRUE(out);
    EXPECT_EQ(status_line(out->head), "HTTP/1.1 200 OK");
    const bool last = i == 3;
    EXPECT_EQ(out->close, last);
    EXPECT_EQ(has_field(out->head, "Connection: close"), last);
    EXPECT_EQ(has_field(out->head, "Connection: keep-alive"), !last);
    s.finished(out->length, true);
  }
}

// max_requests 0 puts no limit on a connection.
TEST_F(Session, ZeroMaxRequestsIsNoLimit) {
  settings_.max_requests = 0;
  session& s = open_session();
  const std::string req = get("/f.bin");
  for (int i = 0; i < 50; ++i) {
    std::optional<net::reply> out;
    ASSERT_EQ(s.consume(req, out), req.size());
    ASSERT_TRUE(out);
    ASSERT_FALSE(out->close) << "request " << i;
    s.finished(out->length, true);
  }
}

// A client asking for "Connection: close", or an HTTP/1.0 one without keep-alive, gets it.
TEST_F(Session, ClientCloseIsHonoured) {
  session& s = open_session();
  std::optional<net::reply> out;
  const std::string req = get("/f.bin", "Connection: close\r\n");
  ASSERT_EQ(s.consume(req, out), req.size());
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->close);
  EXPECT_TRUE(has_field(out->head, "Connection: close"));

  session& t = open_session();
  out.reset();
  const std::string old = "GET /f.bin HTTP/1.0\r\n\r\n";
  ASSERT_EQ(t.consume(old, out), old.size());
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->close);
}

// Parser errors are answered and the connection closed.
TEST_F(Session, ParserErrorsClose) {
  {
    session& s = open_session();
    std::optional<net::reply> out;
    (void)s.consume("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", out);
    ASSERT_TRUE(out);
    EXPECT_EQ(status_line(out->head), "HTTP/1.1 400 Bad Request");
    EXPECT_TRUE(out->close);
    EXPECT_TRUE(has_field(out->head, "Connection: close"));
    EXPECT_FALSE(out->file);
  }
  {
    settings_.limits.max_request_line = 64;
    session& s = open_session();
    std::optional<net::reply> out;
    (void)s.consume(get("/" + std::string(200, 'a')), out);
    ASSERT_TRUE(out);
    EXPECT_EQ(status_line(out->head), "HTTP/1.1 414 URI Too Long");
    EXPECT_TRUE(out->close);
  }
  {
    settings_.limits = {};
    session& s = open_session();
    std::optional<net::reply> out;
    (void)s.consume("GET / HTTP/1.1\r\n\r\n", out);  // 1.1 without Host
    ASSERT_TRUE(out);
    EXPECT_EQ(status_line(out->head), "HTTP/1.1 400 Bad Request");
    EXPECT_TRUE(out->close);
  }
}

// A parser error is logged with its status and the bytes of its body.
TEST_F(Session, ParserErrorIsLogged) {
  session& s = open_session();
  std::optional<net::reply> out;
  (void)s.consume("GET / HTTP/1.1\r\n\r\n", out);
  ASSERT_TRUE(out);
  s.finished(out->body.size(), true);
  const auto lines = log_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].ends_with("\"-\" 400 " + std::to_string(out->body.size()) + " \"-\" \"-\""))
      << lines[0];
}

// finished() writes one combined-format line: remote, time, request line, status, the bytes
// that left, referer and user agent; a second call for the same response writes nothing.
TEST_F(Session, FinishedWritesOneAccessLogLine) {
  session& s = open_session();
  std::optional<net::reply> out;
  const std::string req =
      get("/f.bin?x=1", "Referer: http://ref.example/\r\nUser-Agent: agent/1\r\n");
  ASSERT_EQ(s.consume(req, out), req.size());
  ASSERT_TRUE(out);
  EXPECT_TRUE(log_lines().empty());  // nothing is logged before the response is over
  s.finished(10000, true);
  s.finished(10000, true);
  const auto lines = log_lines();
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines[0];
  EXPECT_TRUE(line.starts_with("127.0.0.1 - - [")) << line;
  EXPECT_NE(line.find(" +0000] "), std::string::npos) << line;
  EXPECT_TRUE(
      line.ends_with("] \"GET /f.bin?x=1 HTTP/1.1\" 200 10000 \"http://ref.example/\" \"agent/1\""))
      << line;
}

// A response cut short (complete=false) is logged with its status and the bytes that did leave.
TEST_F(Session, IncompleteResponseLogsTheBytesSent) {
  session& s = open_session();
  std::optional<net::reply> out;
  const std::string req = get("/f.bin", "User-Agent: quitter\r\n");
  ASSERT_EQ(s.consume(req, out), req.size());
  ASSERT_TRUE(out);
  s.finished(4321, false);
  const auto lines = log_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].ends_with("\"GET /f.bin HTTP/1.1\" 200 4321 \"-\" \"quitter\"")) << lines[0];
}

// Each response of a keep-alive connection gets its own line, in order, with its own status.
TEST_F(Session, EachResponseIsLogged) {
  session& s = open_session();
  const std::string a = get("/f.bin");
  const std::string b = get("/nope");
  const std::string input = a + b;
  std::optional<net::reply> out;
  std::size_t used = s.consume(input, out);
  ASSERT_TRUE(out);
  s.finished(out->length, true);
  out.reset();
  used += s.consume(std::string_view(input).substr(used), out);
  ASSERT_TRUE(out);
  EXPECT_EQ(used, input.size());
  s.finished(out->body.size(), true);
  const auto lines = log_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\"GET /f.bin HTTP/1.1\" 200 10000 "), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"GET /nope HTTP/1.1\" 404 " + std::to_string(out->body.size())),
            std::string::npos)
      << lines[1];
}

// Requests go through the worker's open-file cache: a second GET shares the descriptor.
TEST_F(Session, FilesComeFromTheWorkerCache) {
  session& s = open_session();
  const std::string req = get("/f.bin");
  std::optional<net::reply> first;
  ASSERT_EQ(s.consume(req, first), req.size());
  ASSERT_TRUE(first && first->file);
  s.finished(first->length, true);
  std::optional<net::reply> second;
  ASSERT_EQ(s.consume(req, second), req.size());
  ASSERT_TRUE(second && second->file);
  EXPECT_EQ(second->file.get(), first->file.get());
  EXPECT_GE(context_->cache.stats().hits, 1u);
}

// A body cut short by the file (truncated under the response) is a server-side error: one line on
// stderr with the peer, the target and the cause. A client that went away is not.
TEST_F(Session, FailedBodiesFromTheFileGoToStderrButClientResetsDoNot) {
  session& s = open_session();
  const std::string req = get("/f.bin");
  std::optional<net::reply> out;
  ASSERT_EQ(s.consume(req, out), req.size());

  ::testing::internal::CaptureStderr();
  s.failed(make_error_code(errc::source_truncated), 4096);
  s.failed(std::make_error_code(std::errc::connection_reset), 10);
  s.failed(std::make_error_code(std::errc::broken_pipe), 10);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("127.0.0.1 \"/f.bin\": body cut short after 4096 bytes"), std::string::npos)
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

// With small_bodies_inline a small cached file's body is borrowed from its mapping (no file
// descriptor in the reply), whole or as the requested range; HEAD still has no body.
TEST_F(Session, SmallCachedBodiesGoInline) {
  settings_.serve.small_bodies_inline = true;
  session& s = open_session();
  std::optional<net::reply> out;
  std::string req = get("/f.bin");
  ASSERT_EQ(s.consume(req, out), req.size());
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->file);
  EXPECT_TRUE(out->borrowed_owner);
  EXPECT_TRUE(test::same_bytes(data_, out->borrowed_body));

  out.reset();
  req = "GET /f.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-199\r\n\r\n";
  ASSERT_EQ(s.consume(req, out), req.size());
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 206 Partial Content");
  EXPECT_TRUE(test::same_bytes(std::span(data_).subspan(100, 100), out->borrowed_body));

  out.reset();
  req = "HEAD /f.bin HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(s.consume(req, out), req.size());
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->borrowed_body.empty());
  EXPECT_FALSE(out->file);
  EXPECT_TRUE(has_field(out->head, "Content-Length: 10000"));
}

// The loop sends a timeout's answer as one send of its head (net/server.cpp answer_timeout): the
// 408's head must hold the whole response, its Content-Length matching the bytes after the blank
// line (it used to announce 158 bytes and send none). A HEAD request's 408 has no body.
TEST_F(Session, TimeoutReplyIsCompleteInItsHead) {
  session& s = open_session();
  std::optional<net::reply> out;
  ASSERT_EQ(s.consume("GET /f.b", out), 8u);
  auto timeout = s.on_timeout();
  ASSERT_TRUE(timeout);
  EXPECT_TRUE(timeout->body.empty());
  const std::size_t end = timeout->head.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  const std::string body = timeout->head.substr(end + 4);
  EXPECT_FALSE(body.empty());
  EXPECT_TRUE(
      has_field(timeout->head.substr(0, end + 2), "Content-Length: " + std::to_string(body.size())))
      << timeout->head;
  EXPECT_NE(body.find("408 Request Timeout"), std::string::npos);

  session& t = open_session();
  ASSERT_EQ(t.consume("HEAD /f.bin HTTP/1.1\r\n", out), 22u);
  timeout = t.on_timeout();
  ASSERT_TRUE(timeout);
  EXPECT_TRUE(timeout->head.ends_with("\r\n\r\n")) << timeout->head;
  EXPECT_TRUE(timeout->body.empty());
}

// A HEAD request the parser refuses once its request line is known gets the error's head alone
// (RFC 9110 §9.3.2; nginx does the same); its Content-Length still says what a GET would get.
TEST_F(Session, ParserErrorToHeadHasNoBody) {
  session& s = open_session();
  std::optional<net::reply> out;
  (void)s.consume("HEAD /f.bin HTTP/1.1\r\nHost: x\r\nX: a\x01z\r\n\r\n", out);
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 400 Bad Request");
  EXPECT_TRUE(out->body.empty());
  EXPECT_TRUE(out->close);

  session& t = open_session();
  out.reset();
  (void)t.consume("GET /f.bin HTTP/1.1\r\nHost: x\r\nX: a\x01z\r\n\r\n", out);
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->body.empty());
}

// Expect: 100-continue on a GET with a body: an interim reply (the 100's status line alone, the
// connection kept, nothing logged), then the body is read and the request answered as usual.
TEST_F(Session, ExpectContinueGetsAnInterimReplyThenTheAnswer) {
  session& s = open_session();
  const std::string head =
      get("/f.bin", "Expect: 100-continue\r\nContent-Length: 5\r\nUser-Agent: waiter\r\n");
  std::optional<net::reply> out;
  ASSERT_EQ(s.consume(head, out), head.size());
  ASSERT_TRUE(out);
  EXPECT_EQ(out->head, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_TRUE(out->body.empty());
  EXPECT_FALSE(out->file);
  EXPECT_FALSE(out->close);
  EXPECT_FALSE(s.idle());
  s.finished(0, true);
  EXPECT_TRUE(log_lines().empty());

  out.reset();
  ASSERT_EQ(s.consume("hello", out), 5u);
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 200 OK");
  EXPECT_EQ(out->length, 10000u);
  EXPECT_FALSE(out->close);
  s.finished(out->length, true);
  const auto lines = log_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].ends_with("\"GET /f.bin HTTP/1.1\" 200 10000 \"-\" \"waiter\"")) << lines[0];
}

// An error the head alone decides goes out at once instead of the 100 (nginx answers POST to a
// file with 405 the same way), and the connection closes: the body is never read.
TEST_F(Session, ExpectContinueToAnErrorIsAnsweredAtOnceAndCloses) {
  for (const std::string& head : std::vector<std::string>{
           "POST /f.bin HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n",
           get("/nope", "Expect: 100-continue\r\nContent-Length: 100\r\n")}) {
    SCOPED_TRACE(head);
    session& s = open_session();
    std::optional<net::reply> out;
    ASSERT_EQ(s.consume(head, out), head.size());
    ASSERT_TRUE(out);
    EXPECT_NE(status_line(out->head), "HTTP/1.1 100 Continue");
    EXPECT_TRUE(status_line(out->head).starts_with("HTTP/1.1 4")) << out->head;
    EXPECT_TRUE(out->close);
    EXPECT_TRUE(has_field(out->head, "Connection: close"));
    s.finished(out->body.size(), true);
    const auto lines = log_lines();  // one log file for both sessions
    ASSERT_FALSE(lines.empty());
    EXPECT_NE(lines.back().find(head.substr(0, head.find(" HTTP/1.1"))), std::string::npos)
        << lines.back();
  }
}

// HTTP/1.0 expectations are ignored (RFC 9110 §10.1.1 MUST): no interim reply.
TEST_F(Session, ExpectContinueIsIgnoredForHttp10) {
  session& s = open_session();
  const std::string head =
      "GET /f.bin HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  std::optional<net::reply> out;
  ASSERT_EQ(s.consume(head, out), head.size());
  EXPECT_FALSE(out);
  ASSERT_EQ(s.consume("hi", out), 2u);
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 200 OK");
}

// A symlink refused for leaving ROOT is logged in words, not as EXDEV's "Invalid cross-device
// link".
TEST_F(Session, RefusedSymlinkIsLoggedInWords) {
  test::write_file(base_.path() / "outside.txt", test::random_bytes(10, test::test_seed()));
  fs::create_symlink("../outside.txt", root_path_ / "out");
  session& s = open_session();
  std::optional<net::reply> out;
  ::testing::internal::CaptureStderr();
  (void)s.consume(get("/out"), out);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(out);
  EXPECT_EQ(status_line(out->head), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(err, "zcopy serve: 127.0.0.1 \"/out\": 403 symlink leaves ROOT\n");
}

}  // namespace
}  // namespace zcopy::http
