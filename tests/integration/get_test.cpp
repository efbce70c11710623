// zcopy get as a user runs it: downloads from a real nginx and from `zcopy serve` compared byte
// for byte, resume with -c (after a server that closed early, and with a changed ETag), a chunked
// body, redirects, error statuses, connection failures, -O naming, and the exit statuses.
// Every server is on 127.0.0.1; every run is bounded.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/scripted_server.hpp"
#include "integration/serve_fixture.hpp"
#include "support/test_support.hpp"
#include "zcopy/net.hpp"

namespace zcopy::test {
namespace {

namespace fs = std::filesystem;

std::string binary() {
  const char* b = std::getenv("ZCOPY_BINARY");
  return b ? b : "";
}

run_result zget(std::vector<std::string> args, std::chrono::milliseconds timeout = 120s) {
  std::vector<std::string> argv{binary(), "get"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_bounded(argv, timeout);
}

class Get : public ::testing::Test {
 protected:
  void SetUp() override {
    SCOPED_TRACE(::testing::Message() << "seed " << test_seed());
    if (binary().empty()) GTEST_SKIP() << "ZCOPY_BINARY is not set";
    fs::create_directories(root_.path() / "dir");
  }
  fs::path root() const { return root_.path(); }
  fs::path out(const std::string& name) const { return out_ / name; }
  std::vector<std::byte> put(const std::string& name, std::size_t size, std::uint64_t seed) {
    auto data = random_bytes(size, seed);
    write_file(root() / name, data);
    return data;
  }
  std::unique_ptr<nginx_process> nginx(const std::string& directives = {}) {
    std::string why;
    auto n = nginx_process::start(root(), why, directives);
    if (!n && !why.empty()) skip_reason_ = why;
    return n;
  }
  std::string nginx_url(const nginx_process& n, const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(n.port()) + path;
  }

  temp_dir root_;
  temp_dir out_;
  std::string skip_reason_;
};

// Sizes 0, 1, 1 MiB + 17 and 64 MiB from nginx (sendfile on), compared byte for byte.
TEST_F(Get, DownloadsFromNginx) {
  auto n = nginx();
  if (!n) GTEST_SKIP() << skip_reason_;
  const std::size_t sizes[] = {0, 1, (1u << 20) + 17, 64u << 20};
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    SCOPED_TRACE(::testing::Message() << "size " << sizes[i]);
    const std::string name = "f" + std::to_string(i);
    const auto data = put(name, sizes[i], test_seed() + i);
    auto r = zget({"-q", nginx_url(*n, "/" + name), "-o", out(name).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(same_bytes(data, read_file(out(name))));
    EXPECT_FALSE(fs::exists(out(name + ".part")));
    EXPECT_FALSE(fs::exists(out(name + ".part.meta")));
  }
}

// The same sizes from `zcopy serve`.
TEST_F(Get, DownloadsFromZcopyServe) {
  const std::size_t sizes[] = {0, 1, (1u << 20) + 17, 64u << 20};
  for (std::size_t i = 0; i < std::size(sizes); ++i)
    put("s" + std::to_string(i), sizes[i], test_seed() + 10 + i);
  auto s = serve_process::start(root(), {"--listen", "127.0.0.1:0", "--threads", "1"});
  ASSERT_TRUE(s);
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    SCOPED_TRACE(::testing::Message() << "size " << sizes[i]);
    const std::string name = "s" + std::to_string(i);
    auto r = zget({"-q", s->url("/" + name), "-o", out(name).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(same_bytes(read_file(root() / name), read_file(out(name))));
  }
}

// A 256 MiB download cut short by the server keeps FILE.part and its meta; -c then completes it
// from nginx with a 206 (If-Range matches nginx's ETag), and the bytes match.
TEST_F(Get, ResumesAnInterruptedDownload) {
  auto n = nginx();
  if (!n) GTEST_SKIP() << skip_reason_;
  const std::size_t size = 256u << 20, cut = 100u << 20;
  const auto data = put("big", size, test_seed() + 20);
  const std::string etag = nginx_etag(root() / "big");
  scripted_server early({[&](int fd, const std::string&) {
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) +
                             "\r\nETag: " + etag + "\r\nConnection: close\r\n\r\n";
    scripted_server::send_all(fd, head);
    scripted_server::send_all(fd,
                              std::string_view(reinterpret_cast<const char*>(data.data()), cut));
  }});
  const std::string file = out("big").string();
  auto first = zget({"-q", early.url("/big"), "-o", file});
  EXPECT_EQ(first.exit_code, 1);
  EXPECT_NE(first.err.find("kept (resume with -c)"), std::string::npos) << first.err;
  ASSERT_TRUE(fs::exists(file + ".part"));
  EXPECT_EQ(fs::file_size(file + ".part"), cut);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_NE(text_of(read_file(file + ".part.meta")).find("etag " + etag), std::string::npos);

  auto second = zget({"-c", nginx_url(*n, "/big"), "-o", file});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("resumed at " + std::to_string(cut)), std::string::npos) << second.err;
  EXPECT_TRUE(same_bytes(data, read_file(file)));
  EXPECT_FALSE(fs::exists(file + ".part"));
  EXPECT_FALSE(fs::exists(file + ".part.meta"));
}

// -c with a validator the file no longer has: nginx answers 200 and the download starts over.
TEST_F(Get, ChangedEtagRestartsFromZero) {
  auto n = nginx();
  if (!n) GTEST_SKIP() << skip_reason_;
  const auto data = put("changed", (1u << 20) + 5, test_seed() + 21);
  const std::string file = out("changed").string();
  write_file(file + ".part", random_bytes(3000, test_seed() + 22));
  std::ofstream(file + ".part.meta") << "url x\netag \"stale-1\"\n";
  auto r = zget({"-q", "-c", nginx_url(*n, "/changed"), "-o", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_bytes(data, read_file(file)));
  EXPECT_FALSE(fs::exists(file + ".part"));
}

// -c on a FILE that is already complete: a 416 with the same total, exit 0, file untouched.
TEST_F(Get, ContinueOnACompleteFile) {
  auto n = nginx();
  if (!n) GTEST_SKIP() << skip_reason_;
  const auto data = put("done", 5000, test_seed() + 23);
  const std::string file = out("done").string();
  write_file(file, data);
  auto r = zget({"-c", nginx_url(*n, "/done"), "-o", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("already complete"), std::string::npos) << r.err;
  EXPECT_TRUE(same_bytes(data, read_file(file)));
  // Without -c an existing file is replaced, as wget -O does.
  write_file(out("other"), random_bytes(100, 1));
  auto again = zget({"-q", nginx_url(*n, "/done"), "-o", out("other").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(same_bytes(data, read_file(out("other"))));
}

// A chunked body from a scripted server, compared byte for byte.
TEST_F(Get, ChunkedBody) {
  const auto data = random_bytes(3'000'000, test_seed() + 24);
  const std::string body = text_of(data);
  scripted_server server({[&](int fd, const std::string&) {
    std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    char size[32];
    for (std::size_t at = 0, n = 1000; at < body.size(); at += n, n = n * 2 + 1) {
      const std::size_t len = std::min(n, body.size() - at);
      std::snprintf(size, sizeof size, "%zx;i=%zu\r\n", len, at);
      wire += size + body.substr(at, len) + "\r\n";
    }
    wire += "0\r\nX-Trailer: t\r\n\r\n";
    scripted_server::send_all(fd, wire);
  }});
  auto r = zget({"-q", server.url("/chunked"), "-o", out("c").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_bytes(data, read_file(out("c"))));
}

// nginx `return 301 /x` is followed (and -O names the file after the URL given, as curl does).
TEST_F(Get, FollowsNginxRedirects) {
  auto n = nginx(
      "    location = /old { return 301 /dir/new.bin; }\n"
      "    location = /loop { return 302 /loop; }");
  if (!n) GTEST_SKIP() << skip_reason_;
  const auto data = put("dir/new.bin", 12345, test_seed() + 25);
  auto r = zget({"-q", nginx_url(*n, "/old"), "-o", out("moved").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_bytes(data, read_file(out("moved"))));

  auto loop =
      zget({"-q", "--max-redirects", "3", nginx_url(*n, "/loop"), "-o", out("loop").string()});
  EXPECT_EQ(loop.exit_code, 1);
  EXPECT_NE(loop.err.find("too many redirects (more than 3)"), std::string::npos) << loop.err;
  EXPECT_FALSE(fs::exists(out("loop")));
  EXPECT_FALSE(fs::exists(out("loop.part")));
}

// 404: exit 1 with the status line, and no file at all.
TEST_F(Get, NotFoundWritesNothing) {
  auto n = nginx();
  if (!n) GTEST_SKIP() << skip_reason_;
  const std::string url = nginx_url(*n, "/missing");
  auto r = zget({url, "-o", out("missing").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("zcopy: get '" + url + "': HTTP/1.1 404 Not Found"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(out("missing")));
  EXPECT_FALSE(fs::exists(out("missing.part")));
  EXPECT_FALSE(fs::exists(out("missing.part.meta")));
}

// A server that closes early: non-zero exit, FILE.part kept with what arrived.
TEST_F(Get, ServerClosingEarlyKeepsThePart) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"e\"\r\n\r\n" +
                                      std::string(300, 'a'));
  }});
  auto r = zget({server.url("/x"), "-o", out("x").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("300 of 1000"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out("x")));
  ASSERT_TRUE(fs::exists(out("x.part")));
  EXPECT_EQ(fs::file_size(out("x.part")), 300u);
}

// SIGINT during the body: exit 130, FILE.part kept for -c.
TEST_F(Get, InterruptKeepsThePart) {
  scripted_server server({[](int fd, const std::string&) {
    scripted_server::send_all(
        fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(100, 'b'));
    std::this_thread::sleep_for(3s);
  }});
  auto p = child_process::spawn({binary(), "get", "-q", server.url("/y"), "-o", out("y").string()});
  ASSERT_TRUE(p);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline &&
         !(fs::exists(out("y.part")) && fs::file_size(out("y.part")) == 100)) {
    std::this_thread::sleep_for(20ms);
  }
  p->signal(SIGINT);
  auto code = p->wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 130) << p->err();
  EXPECT_NE(p->err().find("interrupted by SIGINT"), std::string::npos) << p->err();
  EXPECT_TRUE(fs::exists(out("y.part")));
  EXPECT_FALSE(fs::exists(out("y")));
}

// How many requests in an nginx access log were answered with `status`.
std::size_t answered(const std::string& log, int status) {
  std::size_t n = 0;
  const std::string mark = "\" " + std::to_string(status) + " ";
  for (std::size_t at = log.find(mark); at != std::string::npos; at = log.find(mark, at + 1)) ++n;
  return n;
}

// Bytes still missing according to a FILE.part.meta ("todo FIRST END" lines); nullopt before the
// meta lists any.
std::optional<std::uint64_t> missing_in_meta(const fs::path& meta) {
  std::ifstream in(meta);
  std::string word;
  std::optional<std::uint64_t> missing;
  while (in >> word) {
    if (word != "todo") continue;
    std::uint64_t first = 0, end = 0;
    if (!(in >> first >> end)) break;
    missing = missing.value_or(0) + (end - first);
  }
  return missing;
}

// -x 4 from nginx: the file arrives byte for byte over several range requests (206s in nginx's
// log, not one 200), and nothing is left beside it.
TEST_F(Get, ConnectionsFetchRangesFromNginx) {
  auto n = nginx();
  if (!n) GTEST_SKIP() << skip_reason_;
  const std::size_t size = (48u << 20) + 12345;
  const auto data = put("x", size, test_seed() + 40);
  auto r = zget({"-q", "-x", "4", nginx_url(*n, "/x"), "-o", out("x").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_bytes(data, read_file(out("x"))));
  EXPECT_FALSE(fs::exists(out("x.part")));
  EXPECT_FALSE(fs::exists(out("x.part.meta")));
  const std::string log = n->access_log();
  EXPECT_GE(answered(log, 206), 4u) << log;
  EXPECT_EQ(answered(log, 200), 0u) << log;
}

// -x 4 from `zcopy serve`, small and large files: the same bytes.
TEST_F(Get, ConnectionsFetchRangesFromZcopyServe) {
  const std::size_t sizes[] = {0, 1000, (3u << 20) + 1, (40u << 20) + 999};
  for (std::size_t i = 0; i < std::size(sizes); ++i)
    put("x" + std::to_string(i), sizes[i], test_seed() + 50 + i);
  auto s = serve_process::start(root(), {"--listen", "127.0.0.1:0", "--threads", "1"});
  ASSERT_TRUE(s);
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    SCOPED_TRACE(::testing::Message() << "size " << sizes[i]);
    const std::string name = "x" + std::to_string(i);
    auto r = zget({"-q", "-x", "4", s->url("/" + name), "-o", out(name).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(same_bytes(read_file(root() / name), read_file(out(name))));
    EXPECT_FALSE(fs::exists(out(name + ".part")));
  }
}

// nginx with `max_ranges 0` ignores Range and answers 200: -x 4 takes that one answer, on one
// connection, and the file is whole.
TEST_F(Get, ConnectionsFallBackToOneWhenNginxIgnoresRanges) {
  auto n = nginx("max_ranges 0;");
  if (!n) GTEST_SKIP() << skip_reason_;
  const auto data = put("y", (8u << 20) + 3, test_seed() + 60);
  auto r = zget({"-q", "-x", "4", nginx_url(*n, "/y"), "-o", out("y").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_bytes(data, read_file(out("y"))));
  const std::string log = n->access_log();
  EXPECT_EQ(answered(log, 200), 1u) << log;
  EXPECT_EQ(answered(log, 206), 0u) << log;
}

// -x auto against nginx holding each connection to 2 MB/s: one connection starts, and after the
// first measured window a second is added (nginx logs every range request as a 206); the file
// arrives byte for byte. Whether a third follows depends on nginx's pacing, which grants each
// connection its rate in one-second bursts, so the test does not count on it.
TEST_F(Get, AutoConnectionsGrowWhereEachOneAddsRate) {
  auto n = nginx("limit_rate 2m;");
  if (!n) GTEST_SKIP() << skip_reason_;
  const std::size_t size = 24u << 20;
  const auto data = put("auto", size, test_seed() + 65);
  auto r = zget({"-q", "-x", "auto", nginx_url(*n, "/auto"), "-o", out("auto").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_bytes(data, read_file(out("auto"))));
  const std::string log = n->access_log();
  EXPECT_GE(answered(log, 206), 2u) << log;
  EXPECT_EQ(answered(log, 200), 0u) << log;
}

// A client killed with SIGKILL in the middle of -x 4 (nginx slowed to 1 MB/s per connection)
// leaves FILE.part and a meta listing what is missing; -c -x 4 against a full-speed nginx fetches
// only that (resumed, fewer bytes than the file) and the file is whole.
TEST_F(Get, KilledRangedDownloadResumes) {
  auto slow = nginx("limit_rate 1m;");
  if (!slow) GTEST_SKIP() << skip_reason_;
  const std::size_t size = 64u << 20;
  const auto data = put("k", size, test_seed() + 70);
  const fs::path file = out("k");
  auto p = child_process::spawn(
      {binary(), "get", "-q", "-x", "4", nginx_url(*slow, "/k"), "-o", file.string()});
  ASSERT_TRUE(p);
  // Killed once the meta records progress (about a second in; the whole file takes 16 s).
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  std::optional<std::uint64_t> missing;
  while (std::chrono::steady_clock::now() < deadline && p->running()) {
    missing = missing_in_meta(fs::path(file.string() + ".part.meta"));
    if (missing && *missing < size) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(missing && *missing < size) << p->err();
  p->signal(SIGKILL);
  ASSERT_TRUE(p->wait(30s).has_value());
  ASSERT_FALSE(fs::exists(file)) << "finished before the kill";
  ASSERT_TRUE(fs::exists(file.string() + ".part"));

  auto fast = nginx();
  ASSERT_TRUE(fast) << skip_reason_;
  auto r = zget({"-c", "-x", "4", nginx_url(*fast, "/k"), "-o", file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resumed at"), std::string::npos) << r.err;
  EXPECT_TRUE(same_bytes(data, read_file(file)));
  EXPECT_FALSE(fs::exists(file.string() + ".part.meta"));
  const std::string log = fast->access_log();
  EXPECT_EQ(answered(log, 200), 0u) << log;
}

// A tree of random files for -r: names with spaces and UTF-8, three levels, sizes from 0 to one
// large enough for ranges, each file and directory with its own old modification time.
std::vector<fs::path> make_tree(const fs::path& top, std::uint64_t seed, std::size_t large) {
  const std::vector<std::pair<std::string, std::size_t>> files = {
      {"empty", 0},
      {"one", 1},
      {"a b.txt", 4096},
      {"R\xc3\xa9sum\xc3\xa9 caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.txt", 70'001},
      {"d1/x.bin", (1u << 20) + 7},
      {"d1/d2/deep.bin", 12345},
      {"d1/d2/d3/large.bin", large},
      {"d1/empty dir/.keep", 3},
  };
  std::vector<fs::path> made;
  std::int64_t t = 1500000000;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const fs::path p = top / files[i].first;
    fs::create_directories(p.parent_path());
    write_file(p, random_bytes(files[i].second, seed + i));
    made.push_back(p);
  }
  // Times last (writing a file changes its directory's), files then directories, deepest first.
  std::vector<fs::path> all;
  for (const auto& e : fs::recursive_directory_iterator(top)) all.push_back(e.path());
  std::sort(all.begin(), all.end(), [](const fs::path& a, const fs::path& b) {
    return std::distance(a.begin(), a.end()) > std::distance(b.begin(), b.end());
  });
  for (const fs::path& p : all) {
    const timespec times[2] = {{t, 0}, {t, 0}};
    EXPECT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << p;
    t += 3601;
  }
  return made;
}

// Every file and directory under `a` is under `b` with the same bytes and modification time,
// and `b` holds nothing else (no .part, no .meta).
void expect_same_tree(const fs::path& a, const fs::path& b, bool hidden_too = true) {
  std::vector<fs::path> left, right;
  for (const auto& e : fs::recursive_directory_iterator(a)) {
    const fs::path rel = fs::relative(e.path(), a);
    if (!hidden_too && rel.filename().string().starts_with('.')) continue;
    left.push_back(rel);
  }
  for (const auto& e : fs::recursive_directory_iterator(b))
    right.push_back(fs::relative(e.path(), b));
  std::sort(left.begin(), left.end());
  std::sort(right.begin(), right.end());
  EXPECT_EQ(left, right);
  for (const fs::path& rel : left) {
    struct stat sa {
    }, sb{};
    ASSERT_EQ(::lstat((a / rel).c_str(), &sa), 0) << rel;
    ASSERT_EQ(::lstat((b / rel).c_str(), &sb), 0) << rel;
    EXPECT_EQ(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec) << rel;
    if (S_ISREG(sa.st_mode)) {
      EXPECT_TRUE(same_bytes(read_file(a / rel), read_file(b / rel))) << rel;
    }
  }
}

// get -r from nginx (autoindex_format json): the tree byte for byte with its times, the large
// file over four connections (206s in nginx's log); a second run fetches no file.
TEST_F(Get, MirrorsANginxTree) {
  auto n = nginx("autoindex on; autoindex_format json;");
  if (!n) GTEST_SKIP() << skip_reason_;
  fs::create_directories(root() / "tree");
  make_tree(root() / "tree", test_seed() + 80, (65u << 20) + 3);
  const fs::path into = out("mirror");
  auto r =
      zget({"-r", "-x", "4", "-j", "3", "--json", nginx_url(*n, "/tree/"), "-o", into.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  // nginx's autoindex leaves out names starting with '.'.
  EXPECT_NE(r.out.find("\"fetched\": 7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"failed\": 0"), std::string::npos) << r.out;
  expect_same_tree(root() / "tree", into, false);
  EXPECT_GE(answered(n->access_log(), 206), 4u);

  auto again = zget({"-r", "--json", nginx_url(*n, "/tree/"), "-o", into.string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("\"fetched\": 0"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("\"up_to_date\": 7"), std::string::npos) << again.out;
}

// nginx writes a name that is not UTF-8 as raw bytes, which no JSON parser takes: that
// directory is reported (exit 1), everything else arrives.
TEST_F(Get, MirrorReportsANginxListingThatIsNotUtf8) {
  auto n = nginx("autoindex on; autoindex_format json;");
  if (!n) GTEST_SKIP() << skip_reason_;
  fs::create_directories(root() / "t" / "latin1");
  const auto good = put("t/good", 1000, test_seed() + 90);
  put("t/latin1/caf\xe9", 10, test_seed() + 91);
  auto r = zget({"-r", nginx_url(*n, "/t/"), "-o", out("m").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("latin1/"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << r.err;
  EXPECT_TRUE(same_bytes(good, read_file(out("m") / "good")));
}

// get -r from `zcopy serve --autoindex-format json`, hidden files shown: the same tree.
TEST_F(Get, MirrorsAZcopyServeTree) {
  make_tree(root(), test_seed() + 100, (3u << 20) + 1);
  fs::remove(root() / "dir");
  auto s = serve_process::start(root(), {"--listen", "127.0.0.1:0", "--threads", "1", "--autoindex",
                                         "--autoindex-format", "json", "--show-hidden"});
  ASSERT_TRUE(s);
  const fs::path into = out("copy");
  auto r = zget({"-q", "-r", "-j", "8", s->url("/"), "-o", into.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_tree(root(), into);
}

// get -r --checksum from zcopy serve with SHA256SUMS beside the files (made by sha256sum): a
// corrupted copy with the listed size and time is fetched again over four connections (the ranged
// path) where size and time would skip it; a stale digest on the server fails that file and
// leaves the copy as it was.
TEST_F(Get, MirrorChecksumUsesTheServersSha256sums) {
  make_tree(root(), test_seed() + 110, (65u << 20) + 5);
  fs::remove(root() / "dir");
  const fs::path deep = root() / "d1" / "d2" / "d3";
  const auto sums = [](const fs::path& dir, const std::string& names) {
    const std::string cmd = "cd '" + dir.string() + "' && sha256sum " + names + " > SHA256SUMS";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  };
  sums(deep, "large.bin");
  sums(root(), "one 'a b.txt'");
  auto s = serve_process::start(root(), {"--listen", "127.0.0.1:0", "--threads", "1", "--autoindex",
                                         "--autoindex-format", "json", "--show-hidden"});
  ASSERT_TRUE(s);
  const fs::path into = out("sums");
  auto first = zget({"-r", "-x", "4", "--checksum", "--json", s->url("/"), "-o", into.string()});
  ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
  EXPECT_NE(first.out.find("\"checked\": 3"), std::string::npos) << first.out;
  EXPECT_NE(first.err.find("3 checked against the server's SHA256SUMS"), std::string::npos)
      << first.err;
  expect_same_tree(root(), into);

  // One byte changed, the size and time kept: only the digest can tell.
  const fs::path copy = into / "d1" / "d2" / "d3" / "large.bin";
  struct stat before {};
  ASSERT_EQ(::stat(copy.c_str(), &before), 0);
  const auto flip_byte = [&copy](off_t at) {
    unique_fd fd = test::open_or_die(copy, O_RDWR | O_CLOEXEC);
    char byte = 0;
    ASSERT_EQ(::pread(fd.get(), &byte, 1, at), 1);
    byte = static_cast<char>(byte ^ 0x5a);
    ASSERT_EQ(::pwrite(fd.get(), &byte, 1, at), 1);
  };
  flip_byte(4096);
  const timespec times[2] = {before.st_mtim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, copy.c_str(), times, 0), 0);
  auto blind = zget({"-r", "--json", s->url("/"), "-o", into.string()});
  ASSERT_EQ(blind.exit_code, 0) << blind.err;
  EXPECT_NE(blind.out.find("\"fetched\": 0"), std::string::npos) << blind.out;
  auto checked = zget({"-r", "-x", "4", "--checksum", "--json", s->url("/"), "-o", into.string()});
  ASSERT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_NE(checked.out.find("\"fetched\": 1"), std::string::npos) << checked.out;
  EXPECT_TRUE(same_bytes(read_file(deep / "large.bin"), read_file(copy)));

  // The server's file changes and its SHA256SUMS does not. A copy that matches the digest stays;
  // one that does not is fetched, and the download is refused at the end: the copy stays too.
  const auto changed = random_bytes((65u << 20) + 5, test_seed() + 111);
  write_file(deep / "large.bin", changed);
  auto matching = zget({"-r", "--checksum", "--json", s->url("/"), "-o", into.string()});
  ASSERT_EQ(matching.exit_code, 0) << matching.err;
  EXPECT_NE(matching.out.find("\"fetched\": 0"), std::string::npos) << matching.out;
  flip_byte(0);
  const auto kept = read_file(copy);
  auto stale = zget({"-r", "-x", "4", "--checksum", "--json", s->url("/"), "-o", into.string()});
  EXPECT_EQ(stale.exit_code, 1) << stale.err;
  EXPECT_NE(stale.err.find("SHA256SUMS"), std::string::npos) << stale.err;
  EXPECT_NE(stale.out.find("\"failed\": 1"), std::string::npos) << stale.out;
  EXPECT_TRUE(same_bytes(kept, read_file(copy)));
  EXPECT_FALSE(fs::exists(copy.string() + ".part"));
  EXPECT_FALSE(fs::exists(copy.string() + ".part.meta"));
}

// Usage: -r with -O, and --json without -r, are refused with exit status 2.
TEST_F(Get, MirrorUsageErrors) {
  EXPECT_EQ(zget({"-r", "-O", "http://127.0.0.1:1/x/"}).exit_code, 2);
  EXPECT_EQ(zget({"--json", "http://127.0.0.1:1/x"}).exit_code, 2);
  EXPECT_EQ(zget({"--checksum", "http://127.0.0.1:1/x"}).exit_code, 2);
  const auto r = zget({"-r", "http://127.0.0.1:1/"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("-o DIR"), std::string::npos) << r.err;
}

TEST_F(Get, ConnectionRefused) {
  const std::string url = "http://127.0.0.1:" + std::to_string(test::refusing_port()) + "/f";
  auto r = zget({url, "-o", out("f").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("zcopy: get '" + url + "': connection refused"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out("f")));
}

TEST_F(Get, UnresolvableHost) {
  auto r = zget({"http://nothing-here.invalid/f", "-o", out("f").string()}, 60s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot resolve 'nothing-here.invalid'"), std::string::npos) << r.err;
}

// -O: the name is the URL's last segment, decoded, in the working directory; a URL without one
// is a usage error.
TEST_F(Get, RemoteName) {
  auto n = nginx();
  if (!n) GTEST_SKIP() << skip_reason_;
  const auto data = put("dir/my file.bin", 777, test_seed() + 26);
  const std::string script = "cd \"$1\" && shift && exec \"$@\"";
  auto r = run_bounded({"/bin/sh", "-c", script, "sh", out_.path().string(), binary(), "get", "-q",
                        "-O", nginx_url(*n, "/dir/my%20file.bin?x=1")},
                       60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_bytes(data, read_file(out("my file.bin"))));

  for (const char* bad : {"/", "/dir/", "/%2e%2e", "/a%2Fb"}) {
    auto b = zget({"-O", nginx_url(*n, bad)});
    EXPECT_EQ(b.exit_code, 2) << bad << ": " << b.err;
    EXPECT_NE(b.err.find("cannot take a file name"), std::string::npos) << b.err;
  }
}

TEST_F(Get, UsageErrors) {
  auto https = zget({"https://127.0.0.1/x", "-o", out("h").string()});
  EXPECT_EQ(https.exit_code, 2);
  EXPECT_NE(https.err.find("https is not supported"), std::string::npos) << https.err;
  auto both = zget({"http://127.0.0.1/x", "-o", "a", "-O"});
  EXPECT_EQ(both.exit_code, 2);
  auto bad = zget({"http://:80/x", "-o", out("b").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("missing host"), std::string::npos) << bad.err;
  auto none = zget({});
  EXPECT_EQ(none.exit_code, 2);
}

// What stands at -o FILE: an existing directory is refused before a request is sent (it used
// to download the whole body, then fail on the rename and leave dir.part behind); a device node
// is written into, as curl writes into -o /dev/null, and stays a device; a link to
// /proc/self/fd/1 (/dev/stdout) writes the body to the standard output.
TEST_F(Get, OutputThatIsNotARegularFile) {
  const std::string body = random_text(256 * 1024 + 3, test_seed());
  scripted_server server(
      {[&](int fd, const std::string&) { scripted_server::send_all(fd, simple_response(body)); }});
  fs::create_directories(out("dir"));
  auto dir = zget({server.url("/x"), "-o", out("dir").string()});
  EXPECT_EQ(dir.exit_code, 1);
  EXPECT_NE(dir.err.find("Is a directory"), std::string::npos) << dir.err;
  EXPECT_TRUE(server.requests().empty());
  EXPECT_FALSE(fs::exists(out("dir.part")));

  // A link of the test's own, made as /dev/stdout is (a defect would replace the machine's).
  fs::create_symlink("/proc/self/fd/1", out("stdout"));
  auto stdout_run = zget({"-q", server.url("/x"), "-o", out("stdout").string()});
  ASSERT_EQ(stdout_run.exit_code, 0) << stdout_run.err;
  EXPECT_EQ(stdout_run.out, body);
  EXPECT_TRUE(fs::is_symlink(out("stdout")));

  const fs::path node = out("null");
  if (::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod: " << std::strerror(errno);
  }
  auto device = zget({server.url("/x"), "-o", node.string()});
  ASSERT_EQ(device.exit_code, 0) << device.err;
  EXPECT_NE(device.err.find("written in place"), std::string::npos) << device.err;
  EXPECT_EQ(fs::symlink_status(node).type(), fs::file_type::character);
  EXPECT_FALSE(fs::exists(out("null.part")));
}

}  // namespace
}  // namespace zcopy::test
