// mirror() (zcopy get -r) against a scripted loopback site that serves JSON listings and random
// file bodies by path: a tree comes back byte for byte with its modification times, a second run
// fetches nothing, hostile names and symlinks planted in DIR never lead outside DIR, a file that
// fails does not stop the others, and what is not a JSON listing is a clear error.
#include "http/mirror.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "http/digest.hpp"
#include "http/scripted_server.hpp"
#include "support/test_support.hpp"

namespace zcopy::http {
namespace {

namespace fs = std::filesystem;
using test::random_text;
using test::read_text;
using test::scripted_server;
using test::text_of;

std::string path_of(const std::string& request) {
  const std::size_t sp = request.find(' ');
  return request.substr(sp + 1, request.find(' ', sp + 1) - sp - 1);
}

// "Thu, 02 Jan 2020 03:04:05 GMT" + i seconds, and the same as seconds since the epoch.
constexpr std::int64_t base_time = 1577934245;
std::string http_date_of(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// A site: paths to bodies; listings are JSON text, files random bytes. Anything else is a 404.
class site {
 public:
  void file(const std::string& path, std::string body) { pages_[path] = std::move(body); }
  void listing(const std::string& path, const std::string& json) { pages_[path] = json; }
  scripted_server::script script() {
    return [this](int fd, const std::string& request) {
      ++requests_;
      const auto it = pages_.find(path_of(request));
      if (it == pages_.end()) {
        scripted_server::send_all(fd, test::simple_response("no", "404 Not Found"));
      } else {
        scripted_server::send_all(fd, test::simple_response(it->second));
      }
    };
  }
  int requests() const { return requests_; }

 private:
  std::map<std::string, std::string> pages_;
  std::atomic<int> requests_{0};
};

std::string file_entry(const std::string& name, std::size_t size, std::int64_t mtime) {
  return R"({"name":")" + name + R"(","type":"file","size":)" + std::to_string(size) +
         R"(,"mtime":")" + http_date_of(mtime) + "\"}";
}
std::string dir_entry(const std::string& name, std::int64_t mtime) {
  return R"({"name":")" + name + R"(","type":"directory","mtime":")" + http_date_of(mtime) + "\"}";
}

class Mirror : public ::testing::Test {
 protected:
  void SetUp() override { SCOPED_TRACE(::testing::Message() << "seed " << seed_); }

  std::expected<mirror_result, client_error> run(const scripted_server& server,
                                                 mirror_options o = {}) {
    auto u = parse_url(server.url("/"));
    EXPECT_TRUE(u);
    o.file.request.read_timeout = std::chrono::minutes(1);
    return mirror(*u, out_, o, [&](const mirror_event& e) { events_.push_back(e); });
  }

  static std::int64_t mtime_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mtim.tv_sec;
  }

  const std::uint64_t seed_ = test::test_seed();
  test::temp_dir tmp_;
  fs::path out_ = tmp_.path() / "out";
  std::vector<mirror_event> events_;
};

// A two-level tree: every file byte for byte, files' and directories' mtimes from the listing.
TEST_F(Mirror, TreeComesBackWithItsTimes) {
  site s;
  const std::string a = random_text(300'000, seed_), b = random_text(70'001, seed_ + 1);
  const std::string c = random_text(1, seed_ + 2);
  s.listing("/", "[" + dir_entry("sub", base_time + 10) + "," +
                     file_entry("a.bin", a.size(), base_time + 1) + "]");
  s.listing("/sub/", "[" + dir_entry("deeper", base_time + 20) + "," +
                         file_entry("b b.bin", b.size(), base_time + 2) + "]");
  s.listing("/sub/deeper/", "[" + file_entry("c", c.size(), base_time + 3) + "]");
  s.file("/a.bin", a);
  s.file("/sub/b%20b.bin", b);
  s.file("/sub/deeper/c", c);
  scripted_server server({s.script()});
  auto r = run(server);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->fetched, 3u);
  EXPECT_EQ(r->failed + r->refused, 0u);
  EXPECT_EQ(r->directories, 3u);
  EXPECT_EQ(r->bytes_received, a.size() + b.size() + c.size());
  EXPECT_TRUE(read_text(out_ / "a.bin") == a);
  EXPECT_TRUE(read_text(out_ / "sub" / "b b.bin") == b);
  EXPECT_TRUE(read_text(out_ / "sub" / "deeper" / "c") == c);
  EXPECT_EQ(mtime_of(out_ / "a.bin"), base_time + 1);
  EXPECT_EQ(mtime_of(out_ / "sub" / "b b.bin"), base_time + 2);
  EXPECT_EQ(mtime_of(out_ / "sub" / "deeper" / "c"), base_time + 3);
  EXPECT_EQ(mtime_of(out_ / "sub"), base_time + 10);
  EXPECT_EQ(mtime_of(out_ / "sub" / "deeper"), base_time + 20);
  for (const auto& entry : fs::recursive_directory_iterator(out_)) {
    EXPECT_FALSE(entry.path().string().ends_with(".part")) << entry.path();
  }

  // Again: every file has the listed size and time, so only the listings are asked for.
  const int before = s.requests();
  auto again = run(server);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->fetched, 0u);
  EXPECT_EQ(again->up_to_date, 3u);
  EXPECT_EQ(s.requests() - before, 3);

  // A file changed locally (same size, other time) is fetched again.
  const timespec old[2] = {{base_time, 0}, {base_time, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (out_ / "a.bin").c_str(), old, 0), 0);
  auto third = run(server);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->fetched, 1u);
  EXPECT_EQ(mtime_of(out_ / "a.bin"), base_time + 1);
}

// With -c, a small file's FILE.part left by an earlier run (its meta included) is not continued:
// the file is fetched whole (no Range), so a part of another version can never be completed.
TEST_F(Mirror, SmallFilesAreFetchedWholeEvenWithResume) {
  site s;
  const std::string a = random_text(40'000, seed_);
  s.listing("/", "[" + file_entry("a", a.size(), base_time) + "]");
  s.file("/a", a);
  fs::create_directories(out_);
  const std::string stale = random_text(1000, seed_ + 1);
  test::write_file(out_ / "a.part", std::as_bytes(std::span(stale)));
  const std::string meta = "url x\netag \"v0\"\n";
  test::write_file(out_ / "a.part.meta", std::as_bytes(std::span(meta)));
  scripted_server server({s.script()});
  mirror_options o;
  o.file.resume = true;
  auto r = run(server, o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->fetched, 1u);
  EXPECT_TRUE(read_text(out_ / "a") == a);
  for (const std::string& req : server.requests()) {
    EXPECT_EQ(req.find("Range:"), std::string::npos) << req;
  }
  EXPECT_FALSE(fs::exists(out_ / "a.part"));
  EXPECT_FALSE(fs::exists(out_ / "a.part.meta"));
}

// Names that try to leave DIR are refused; nothing appears outside DIR, the honest file arrives.
TEST_F(Mirror, HostileNamesNeverLeaveTheDirectory) {
  site s;
  const std::string good = random_text(1000, seed_);
  const std::string evil = random_text(50, seed_ + 1);
  s.listing("/", R"([{"name":"..","type":"directory"},{"name":"../escape","type":"file","size":50},
    {"name":"/abs","type":"file","size":50},{"name":"a\u0000b","type":"file","size":50},
    {"name":")" + std::string(300, 'L') +
                     R"(","type":"file","size":50},
    {"name":"good","type":"file","size":1000},{"name":"good","type":"file","size":50},
    {"name":"%2e%2e","type":"directory"}])");
  s.listing("/../", R"([{"name":"escape","type":"file","size":50}])");
  s.listing("/%252e%252e/", R"([{"name":"inner","type":"file","size":50}])");
  s.file("/good", good);
  s.file("/%252e%252e/inner", evil);
  s.file("/escape", evil);
  scripted_server server({s.script()});
  auto r = run(server);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->refused, 6u);
  EXPECT_TRUE(read_text(out_ / "good") == good);
  // "%2e%2e" is a name like any other: a directory of that literal name inside DIR.
  EXPECT_TRUE(read_text(out_ / "%2e%2e" / "inner") == evil);
  std::vector<fs::path> beside;
  for (const auto& e : fs::directory_iterator(tmp_.path())) beside.push_back(e.path().filename());
  EXPECT_EQ(beside, std::vector<fs::path>{"out"});
  for (const auto& e : events_) {
    EXPECT_EQ(e.path.find('\0'), std::string::npos);
  }
}

// Symlinks planted in DIR, at a directory's name and at a file's, are refused, never followed:
// the directory and file they point to stay as they were.
TEST_F(Mirror, SymlinksPlantedInTheDirectoryAreNotFollowed) {
  site s;
  s.listing("/", "[" + dir_entry("sub", base_time) + "," + file_entry("f", 10, base_time) + "]");
  s.listing("/sub/", "[" + file_entry("planted", 10, base_time) + "]");
  s.file("/f", random_text(10, seed_));
  s.file("/sub/planted", random_text(10, seed_ + 1));
  const fs::path outside = tmp_.path() / "outside";
  fs::create_directories(outside);
  const std::string keep = "keep";
  test::write_file(outside / "target", std::as_bytes(std::span(keep)));
  fs::create_directories(out_);
  fs::create_directory_symlink(outside, out_ / "sub");
  fs::create_symlink(outside / "target", out_ / "f");
  scripted_server server({s.script()});
  auto r = run(server);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->fetched, 0u);
  EXPECT_EQ(r->refused + r->failed, 2u);
  EXPECT_FALSE(fs::exists(outside / "planted"));
  EXPECT_EQ(read_text(outside / "target"), "keep");
  EXPECT_TRUE(fs::is_symlink(out_ / "f"));
}

// One file the server refuses (404) is reported; the others arrive; a subdirectory whose
// listing is not JSON is reported and skipped.
TEST_F(Mirror, OneFailureDoesNotStopTheOthers) {
  site s;
  const std::string a = random_text(5000, seed_);
  s.listing("/", "[" + file_entry("a", a.size(), base_time) + "," +
                     file_entry("gone", 7, base_time) + "," + dir_entry("html", base_time) + "]");
  s.listing("/html/", "<html>Index of /html/</html>");
  s.file("/a", a);
  scripted_server server({s.script()});
  auto r = run(server);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->fetched, 1u);
  EXPECT_EQ(r->failed, 2u);
  EXPECT_TRUE(read_text(out_ / "a") == a);
  EXPECT_FALSE(fs::exists(out_ / "gone"));
  ASSERT_EQ(r->problems.size(), 2u);
  bool saw_json_hint = false;
  for (const auto& p : r->problems) saw_json_hint |= p.message.find("JSON") != std::string::npos;
  EXPECT_TRUE(saw_json_hint);
}

// The top listing is what the run stands on: not JSON, or a 404, is an error for the whole.
TEST_F(Mirror, TopListingThatIsNotJsonIsAnError) {
  site s;
  s.listing("/", "<html><body><h1>Index of /</h1></body></html>");
  scripted_server server({s.script()});
  auto r = run(server);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("JSON"), std::string::npos) << r.error().message;
}

// A listing of 100,000 entries with a limit of 1,000: refused as too large a tree, nothing fetched
// from it; a listing larger than max_listing_bytes: refused without reading it all.
TEST_F(Mirror, LimitsBoundWhatAServerCanAsk) {
  site s;
  std::string big = "[";
  for (int i = 0; i < 100'000; ++i) {
    if (i) big += ',';
    big += file_entry("f" + std::to_string(i), 1, base_time);
  }
  big += "]";
  s.listing("/", big);
  scripted_server server({s.script()});
  mirror_options o;
  o.max_entries = 1000;
  auto r = run(server, o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->fetched, 0u);
  EXPECT_EQ(r->refused, 1u);
  EXPECT_EQ(s.requests(), 1);

  mirror_options small;
  small.max_listing_bytes = 4096;
  auto too_big = run(server, small);
  ASSERT_FALSE(too_big);
  EXPECT_NE(too_big.error().message.find("larger than 4096"), std::string::npos)
      << too_big.error().message;
}

// The SHA-256 of `text`, through a file as get -r hashes (sha256_of is checked against
// sha256sum in digest_test.cpp).
std::string sha256_text(const test::temp_dir& dir, const std::string& text) {
  test::write_file(dir / "hash-me", std::as_bytes(std::span(text)));
  unique_fd fd = test::open_or_die(dir / "hash-me", O_RDONLY | O_CLOEXEC);
  auto d = sha256_of(fd.get());
  EXPECT_TRUE(d);
  return d ? *d : std::string{};
}

// The kinds of the events for `path`, in order.
std::vector<mirror_event::kind> kinds_for(const std::vector<mirror_event>& events,
                                          const std::string& path) {
  std::vector<mirror_event::kind> out;
  for (const auto& e : events) {
    if (e.path == path) out.push_back(e.what);
  }
  return out;
}

// --checksum: where SHA256SUMS gives a digest, the content decides. A file with the right bytes
// and the wrong time is left alone (its time set); one with the listed size and time and other
// bytes is fetched again (without --checksum it is left alone); a file without a digest goes by
// size and time, and is counted.
TEST_F(Mirror, ChecksumLetsTheContentDecide) {
  using kind = mirror_event::kind;
  site s;
  const std::string a = random_text(5'000, seed_), b = random_text(7'000, seed_ + 1);
  const std::string c = random_text(900, seed_ + 2);
  const std::string sums = sha256_text(tmp_, a) + "  a.bin\n" + sha256_text(tmp_, b) + " *b.bin\n";
  s.listing("/", "[" + file_entry("SHA256SUMS", sums.size(), base_time) + "," +
                     file_entry("a.bin", a.size(), base_time + 1) + "," +
                     file_entry("b.bin", b.size(), base_time + 2) + "," +
                     file_entry("c.bin", c.size(), base_time + 3) + "]");
  s.file("/SHA256SUMS", sums);
  s.file("/a.bin", a);
  s.file("/b.bin", b);
  s.file("/c.bin", c);
  fs::create_directories(out_);
  test::write_file(out_ / "a.bin", std::as_bytes(std::span(a)));  // right bytes, today's time
  const std::string other = random_text(b.size(), seed_ + 3);     // listed size and time
  test::write_file(out_ / "b.bin", std::as_bytes(std::span(other)));
  const timespec listed[2] = {{base_time + 2, 0}, {base_time + 2, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (out_ / "b.bin").c_str(), listed, 0), 0);
  scripted_server server({s.script()});

  auto plain = run(server);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(kinds_for(events_, "b.bin"), std::vector<kind>{kind::up_to_date});
  EXPECT_TRUE(read_text(out_ / "b.bin") == other);  // size and time cannot see it
  EXPECT_EQ(plain->checked, 0u);

  events_.clear();
  ASSERT_EQ(::utimensat(AT_FDCWD, (out_ / "a.bin").c_str(), nullptr, 0), 0);
  auto checked = run(server, {.checksum = true});
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(kinds_for(events_, "a.bin"), std::vector<kind>{kind::up_to_date});
  EXPECT_EQ(mtime_of(out_ / "a.bin"), base_time + 1);
  EXPECT_EQ(kinds_for(events_, "b.bin"), std::vector<kind>{kind::fetched});
  EXPECT_TRUE(read_text(out_ / "b.bin") == b);
  EXPECT_EQ(checked->checked, 2u);
  EXPECT_EQ(checked->without_digest, 2u);  // c.bin, and SHA256SUMS itself
  EXPECT_EQ(checked->failed, 0u);
  EXPECT_TRUE(read_text(out_ / "c.bin") == c);
}

// A body that does not match the server's own digest never replaces the file: the download
// fails, NAME keeps its old bytes, no NAME.part is left, and the other files still arrive.
TEST_F(Mirror, ChecksumMismatchLeavesTheFileAsItWas) {
  using kind = mirror_event::kind;
  site s;
  const std::string good = random_text(4'000, seed_), served = random_text(4'000, seed_ + 1);
  const std::string fine = random_text(3'000, seed_ + 2);
  const std::string sums =
      sha256_text(tmp_, good) + "  x.bin\n" + sha256_text(tmp_, fine) + "  y.bin\n";
  s.listing("/", "[" + file_entry("SHA256SUMS", sums.size(), base_time) + "," +
                     file_entry("x.bin", served.size(), base_time + 1) + "," +
                     file_entry("y.bin", fine.size(), base_time + 2) + "]");
  s.file("/SHA256SUMS", sums);
  s.file("/x.bin", served);
  s.file("/y.bin", fine);
  fs::create_directories(out_);
  const std::string old = random_text(10, seed_ + 3);
  test::write_file(out_ / "x.bin", std::as_bytes(std::span(old)));
  scripted_server server({s.script()});
  auto r = run(server, {.checksum = true});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(kinds_for(events_, "x.bin"), std::vector<kind>{kind::failed});
  ASSERT_EQ(r->problems.size(), 1u);
  EXPECT_NE(r->problems[0].message.find(sha256_text(tmp_, served)), std::string::npos)
      << r->problems[0].message;
  EXPECT_NE(r->problems[0].message.find("SHA256SUMS"), std::string::npos);
  EXPECT_TRUE(read_text(out_ / "x.bin") == old);
  EXPECT_FALSE(fs::exists(out_ / "x.bin.part"));
  EXPECT_TRUE(read_text(out_ / "y.bin") == fine);
  EXPECT_EQ(r->checked, 1u);
}

// A SHA256SUMS the listing names but the server cannot give is reported; the files are then
// judged by size and time.
TEST_F(Mirror, MissingDigestsAreReportedAndSizeAndTimeDecide) {
  site s;
  const std::string a = random_text(2'000, seed_);
  s.listing("/", "[" + file_entry("SHA256SUMS", 100, base_time) + "," +
                     file_entry("a.bin", a.size(), base_time + 1) + "]");
  s.file("/a.bin", a);
  scripted_server server({s.script()});
  auto r = run(server, {.checksum = true});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(read_text(out_ / "a.bin") == a);
  EXPECT_EQ(r->checked, 0u);
  EXPECT_EQ(r->without_digest, 2u);
  bool reported = false;
  for (const auto& p : r->problems) {
    reported =
        reported || (p.path == "SHA256SUMS" && p.message.find("digests") != std::string::npos);
  }
  EXPECT_TRUE(reported);
}

}  // namespace
}  // namespace zcopy::http
