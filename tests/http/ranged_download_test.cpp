// download() over several connections (-x N), against a scripted loopback server that answers
// "Range: bytes=A-B" from a body of random bytes: the file is put together byte for byte, a
// server that ignores Range gets one connection, a range cut mid-way is asked again from where it
// stopped, a file that changes on the server between ranges restarts the download (never a file
// from two versions), a part left by an earlier run is continued from its meta's missing ranges
// only, and a range the server refuses ends the download with FILE.part and its meta kept.
#include <gtest/gtest.h>

#include <fcntl.h>

#include <atomic>
#include <charconv>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "http/download.hpp"
#include "http/part_meta.hpp"
#include "http/scripted_server.hpp"
#include "support/test_support.hpp"
#include "zcopy/fd.hpp"

namespace zcopy::http {
namespace {

namespace fs = std::filesystem;
using test::random_text;
using test::read_text;
using test::scripted_server;
using test::text_of;

// The value of a request field ("" when absent).
std::string field(const std::string& request, std::string_view name) {
  const std::string key = "\r\n" + std::string(name) + ": ";
  const std::size_t at = request.find(key);
  if (at == std::string::npos) return {};
  const std::size_t from = at + key.size();
  return request.substr(from, request.find("\r\n", from) - from);
}

struct asked {
  std::uint64_t first = 0, last = 0;
  bool ranged = false;
};

asked range_of(const std::string& request, std::uint64_t size) {
  asked a{0, size - 1, false};
  const std::string value = field(request, "Range");
  if (!value.starts_with("bytes=")) return a;
  const std::string spec = value.substr(6);
  const std::size_t dash = spec.find('-');
  std::from_chars(spec.data(), spec.data() + dash, a.first);
  if (dash + 1 < spec.size())
    std::from_chars(spec.data() + dash + 1, spec.data() + spec.size(), a.last);
  a.last = std::min(a.last, size - 1);
  a.ranged = true;
  return a;
}

// What a server with ranges answers: a 206 for a Range (whose If-Range, when sent, matches
// `etag`), else the whole body with a 200. `cut` sends only that many body bytes of the answer
// before closing.
void answer(int fd, const std::string& request, const std::string& body, const std::string& etag,
            std::optional<std::size_t> cut = std::nullopt) {
  asked a = range_of(request, body.size());
  const std::string if_range = field(request, "If-Range");
  if (!if_range.empty() && if_range != etag) a.ranged = false;
  std::string head;
  std::string_view part = body;
  if (a.ranged) {
    part = part.substr(a.first, a.last - a.first + 1);
    head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + std::to_string(a.first) + "-" +
           std::to_string(a.last) + "/" + std::to_string(body.size()) + "\r\n";
  } else {
    head = "HTTP/1.1 200 OK\r\n";
  }
  head += "Content-Length: " + std::to_string(part.size()) + "\r\nETag: " + etag +
          "\r\nConnection: close\r\n\r\n";
  if (!scripted_server::send_all(fd, head)) return;
  scripted_server::send_all(fd, cut ? part.substr(0, *cut) : part);
}

class RangedDownload : public ::testing::Test {
 protected:
  void SetUp() override { SCOPED_TRACE(::testing::Message() << "seed " << seed_); }

  std::expected<download_result, download_error> get(const scripted_server& server,
                                                     unsigned connections, bool resume = false) {
    auto u = parse_url(server.url("/f"));
    EXPECT_TRUE(u.has_value());
    download_options o;
    o.resume = resume;
    o.connections = connections;
    o.request.read_timeout = std::chrono::minutes(1);
    return download(*u, dir_ / "f", o);
  }

  static std::size_t ranged_requests(const scripted_server& server) {
    std::size_t n = 0;
    for (const std::string& r : server.requests()) n += !field(r, "Range").empty();
    return n;
  }

  std::uint64_t seed_ = test::test_seed();
  test::temp_dir dir_;
  // Large enough for four ranges of at least a MiB each, and not a multiple of anything.
  std::string body_ = random_text((5 << 20) + 12345, seed_);
};

TEST_F(RangedDownload, FourConnectionsPutTheFileTogether) {
  scripted_server server(
      {[&](int fd, const std::string& req) { answer(fd, req, body_, "\"v1\""); }});
  auto r = get(server, 4);
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_EQ(r->size, body_.size());
  EXPECT_EQ(r->received, body_.size());
  EXPECT_TRUE(read_text(dir_ / "f") == body_);
  EXPECT_FALSE(fs::exists(dir_ / "f.part"));
  EXPECT_FALSE(fs::exists(dir_ / "f.part.meta"));
  const auto requests = server.requests();
  ASSERT_GE(requests.size(), 4u);
  EXPECT_EQ(field(requests[0], "Range"), "bytes=0-");
  EXPECT_EQ(field(requests[0], "If-Range"), "");
  for (std::size_t i = 1; i < requests.size(); ++i) {
    // Every later range is closed ("A-B") and pinned to the first answer's version.
    const std::string range = field(requests[i], "Range");
    EXPECT_TRUE(range.starts_with("bytes=") && !range.ends_with("-")) << range;
    EXPECT_EQ(field(requests[i], "If-Range"), "\"v1\"");
  }
}

// A server that ignores Range answers the first request with a 200: that answer is the download,
// on one connection, and nothing is asked twice.
TEST_F(RangedDownload, ServerWithoutRangesGetsOneConnection) {
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(fd, test::simple_response(body_, "200 OK", "ETag: \"v1\"\r\n"));
  }});
  auto r = get(server, 8);
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_TRUE(read_text(dir_ / "f") == body_);
  EXPECT_EQ(server.requests().size(), 1u);
}

// Without a validator nothing pins the version across connections: one connection, from 0.
TEST_F(RangedDownload, NoValidatorMeansOneConnection) {
  scripted_server server({[&](int fd, const std::string& req) {
    asked a = range_of(req, body_.size());
    std::string head = a.ranged ? "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-" +
                                      std::to_string(body_.size() - 1) + "/" +
                                      std::to_string(body_.size()) + "\r\n"
                                : "HTTP/1.1 200 OK\r\n";
    head += "Content-Length: " + std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n";
    if (scripted_server::send_all(fd, head)) scripted_server::send_all(fd, body_);
  }});
  auto r = get(server, 4);
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_TRUE(read_text(dir_ / "f") == body_);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(field(requests[1], "Range"), "");
}

// The second connection's answer stops a third of the way into its range: that range is asked
// again from the byte where it stopped.
TEST_F(RangedDownload, RangeCutMidwayIsAskedAgainFromWhereItStopped) {
  std::atomic<int> connection{0};
  std::uint64_t cut_at = 0;
  scripted_server server({[&](int fd, const std::string& req) {
    if (connection++ == 1) {
      const asked a = range_of(req, body_.size());
      const std::size_t third = (a.last - a.first + 1) / 3;
      cut_at = a.first + third;
      answer(fd, req, body_, "\"v1\"", third);
      return;
    }
    answer(fd, req, body_, "\"v1\"");
  }});
  auto r = get(server, 4);
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_TRUE(read_text(dir_ / "f") == body_);
  bool asked_again = false;
  for (const std::string& req : server.requests()) {
    asked_again =
        asked_again || field(req, "Range").starts_with("bytes=" + std::to_string(cut_at) + "-");
  }
  EXPECT_TRUE(asked_again) << "no request from byte " << cut_at;
}

// The file changes on the server after the first answer: the If-Range requests get 200s, the
// download starts over, and the file is the new version whole, never a mix.
TEST_F(RangedDownload, FileChangedBetweenRangesRestartsTheDownload) {
  const std::string second = random_text(body_.size(), seed_ + 1);
  std::atomic<int> connection{0};
  scripted_server server({[&](int fd, const std::string& req) {
    if (connection++ == 0) {
      answer(fd, req, body_, "\"v1\"");
    } else {
      answer(fd, req, second, "\"v2\"");
    }
  }});
  auto r = get(server, 4);
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_TRUE(read_text(dir_ / "f") == second);
  // A second "bytes=0-" without If-Range: the restart.
  std::size_t fresh = 0;
  for (const std::string& req : server.requests()) {
    fresh += field(req, "Range") == "bytes=0-" && field(req, "If-Range").empty();
  }
  EXPECT_EQ(fresh, 2u);
}

// A part an earlier run left: only the meta's missing ranges are fetched (bytes elsewhere in the
// part are kept as they are, so a wrong byte there would show), each with If-Range.
TEST_F(RangedDownload, ResumeFetchesOnlyTheMissingRanges) {
  const std::uint64_t size = body_.size();
  std::string part = body_;
  // Two holes, filled with other bytes.
  const std::vector<byte_span> todo = {{1000, 700'000}, {3'000'000, size}};
  const std::string noise = random_text(size, seed_ + 2);
  for (const auto& r : todo)
    part.replace(r.first, r.end - r.first, noise.substr(r.first, r.end - r.first));
  test::write_file(dir_ / "f.part", std::as_bytes(std::span(part)));
  part_meta meta;
  meta.etag = "\"v1\"";
  meta.size = size;
  meta.todo = todo;
  auto dir = unique_fd::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir);
  ASSERT_FALSE(write_part_meta(dir->get(), "f.part.meta", meta));

  scripted_server server(
      {[&](int fd, const std::string& req) { answer(fd, req, body_, "\"v1\""); }});
  auto r = get(server, 2, true);
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_TRUE(read_text(dir_ / "f") == body_);
  EXPECT_EQ(r->resumed_at, size - (700'000 - 1000) - (size - 3'000'000));
  EXPECT_EQ(r->received, size - r->resumed_at);
  for (const std::string& req : server.requests()) {
    const asked a = range_of(req, size);
    ASSERT_TRUE(a.ranged) << req;
    EXPECT_EQ(field(req, "If-Range"), "\"v1\"");
    const bool inside = (a.first >= 1000 && a.last < 700'000) || (a.first >= 3'000'000);
    EXPECT_TRUE(inside) << field(req, "Range");
  }
}

// A range the server refuses (404 after the first answer) ends the download: FILE is not created,
// FILE.part and a meta that lists what is missing are kept for -c.
TEST_F(RangedDownload, RefusedRangeKeepsThePartAndItsMeta) {
  std::atomic<int> connection{0};
  scripted_server server({[&](int fd, const std::string& req) {
    if (connection++ == 0) {
      answer(fd, req, body_, "\"v1\"");
    } else {
      scripted_server::send_all(fd, test::simple_response("gone", "404 Not Found"));
    }
  }});
  auto r = get(server, 4);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().part_kept);
  EXPECT_NE(r.error().error.message.find("404"), std::string::npos) << r.error().error.message;
  EXPECT_FALSE(fs::exists(dir_ / "f"));
  ASSERT_TRUE(fs::exists(dir_ / "f.part"));
  auto dir = unique_fd::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir);
  const part_meta meta = read_part_meta(dir->get(), "f.part.meta");
  ASSERT_TRUE(meta.ranged());
  EXPECT_EQ(*meta.size, body_.size());
  EXPECT_FALSE(meta.todo.empty());
  EXPECT_EQ(meta.etag, "\"v1\"");
}

// A 206 that claims a size no disk holds (2^62 bytes) fails on the preallocation, before any body
// byte is written, and leaves neither FILE nor FILE.part nor a meta.
TEST_F(RangedDownload, SizeNoDiskHoldsFailsBeforeTheBodyAndLeavesNothing) {
  const std::uint64_t huge = std::uint64_t{1} << 62;
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(
        fd, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-" + std::to_string(huge - 1) +
                "/" + std::to_string(huge) + "\r\nContent-Length: " + std::to_string(huge) +
                "\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n" + body_.substr(0, 1000));
  }});
  auto r = get(server, 4);
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().part_kept);
  EXPECT_NE(r.error().error.message.find("allocate"), std::string::npos) << r.error().error.message;
  EXPECT_FALSE(fs::exists(dir_ / "f"));
  EXPECT_FALSE(fs::exists(dir_ / "f.part"));
  EXPECT_FALSE(fs::exists(dir_ / "f.part.meta"));
}

// Hostile or stale meta files: ranges outside the size, overlapping or malformed make the meta
// not a ranged one (the part is then not continued from it).
TEST(PartMeta, RangesThatDoNotFitAreNotTrusted) {
  test::temp_dir tmp;
  auto dir = unique_fd::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir);
  for (const std::string text :
       {"size 100\ntodo 0 200\n", "size 100\ntodo 10 50\ntodo 40 60\n", "size 100\ntodo 50 10\n",
        "size x\ntodo 0 10\n", "todo 0 10\n", "size 100\ntodo 5\n"}) {
    test::write_file(tmp.path() / "m", std::as_bytes(std::span(text)));
    const part_meta m = read_part_meta(dir->get(), "m");
    EXPECT_FALSE(m.ranged()) << text;
    EXPECT_TRUE(m.todo.empty()) << text;
  }
  part_meta good;
  good.url = "http://x/f";
  good.etag = "\"e\"";
  good.size = 100;
  good.todo = {{0, 10}, {20, 100}};
  ASSERT_FALSE(write_part_meta(dir->get(), "m", good));
  const part_meta back = read_part_meta(dir->get(), "m");
  EXPECT_EQ(back.size, good.size);
  EXPECT_EQ(back.todo, good.todo);
  EXPECT_EQ(back.etag, good.etag);
}

}  // namespace
}  // namespace zcopy::http
