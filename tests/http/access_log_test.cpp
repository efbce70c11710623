// access_log: the combined format byte for byte, nginx's escaping, per-worker buffering (32 KiB,
// flush, destructor), reopen for log rotation, and open failures.
#include "http/access_log.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace zcopy::http {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;

std::string slurp(const fs::path& path) {
  auto bytes = test::read_file(path);
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.push_back(text.substr(start));  // an unterminated tail: a broken entry
      break;
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::string escaped(std::string_view value) {
  std::string out;
  append_log_field(out, value);
  return out;
}

// 23 Nov 2026 18:02:11 UTC, plus `extra`.
system_clock::time_point sample_time(system_clock::duration extra = {}) {
  return sys_days{year{2026} / November / 23} + 18h + 2min + 11s + extra;
}

// Runs every test with TZ=UTC (restored afterwards), so $time_local is deterministic.
class AccessLog : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* tz = ::getenv("TZ")) saved_tz_ = tz;
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    path_ = dir_ / "access.log";
  }
  void TearDown() override {
    if (saved_tz_) {
      ::setenv("TZ", saved_tz_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

  access_log open_log() {
    auto log = access_log::open(path_.string());
    if (!log) throw std::system_error(log.error(), "access_log::open");
    return std::move(*log);
  }

  test::temp_dir dir_;
  fs::path path_;
  std::optional<std::string> saved_tz_;
};

// The combined format exactly, as nginx writes it.
TEST_F(AccessLog, CombinedFormatLineExactly) {
  access_log log = open_log();
  {
    access_log::buffer buf(&log);
    buf.add("127.0.0.1", sample_time(), "GET /a.txt HTTP/1.1", 200, 5120, "http://example.com/",
            "curl/7.88.1");
    buf.add("::1", sample_time(999ms), "HEAD / HTTP/1.0", 404, 0, "", "Mozilla/5.0 (X11)");
    buf.flush();
  }
  EXPECT_EQ(slurp(path_),
            "127.0.0.1 - - [23/Nov/2026:18:02:11 +0000] \"GET /a.txt HTTP/1.1\" 200 5120 "
            "\"http://example.com/\" \"curl/7.88.1\"\n"
            "::1 - - [23/Nov/2026:18:02:11 +0000] \"HEAD / HTTP/1.0\" 404 0 \"-\" "
            "\"Mozilla/5.0 (X11)\"\n");
}

// $time_local follows the local zone, with its offset; a new second gets a new timestamp.
TEST_F(AccessLog, TimeIsLocalWithItsOffset) {
  ::setenv("TZ", "ZZZ-2", 1);  // POSIX: two hours east of UTC
  ::tzset();
  access_log log = open_log();
  {
    access_log::buffer buf(&log);
    buf.add("10.0.0.1", sample_time(), "GET / HTTP/1.1", 200, 1, "", "");
    buf.add("10.0.0.1", sample_time(6h), "GET / HTTP/1.1", 200, 1, "", "");
  }
  const auto lines = lines_of(slurp(path_));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("[23/Nov/2026:20:02:11 +0200]"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("[24/Nov/2026:02:02:11 +0200]"), std::string::npos) << lines[1];
}

// Empty request line, referer and user agent are logged as "-", and a large byte count in full.
TEST_F(AccessLog, EmptyFieldsAreDashes) {
  access_log log = open_log();
  {
    access_log::buffer buf(&log);
    buf.add("127.0.0.1", sample_time(), "", 408, 0, "", "");
    buf.add("127.0.0.1", sample_time(), "GET /big HTTP/1.1", 200, 5'000'000'000ULL, "", "");
  }
  EXPECT_EQ(slurp(path_),
            "127.0.0.1 - - [23/Nov/2026:18:02:11 +0000] \"-\" 408 0 \"-\" \"-\"\n"
            "127.0.0.1 - - [23/Nov/2026:18:02:11 +0000] \"GET /big HTTP/1.1\" 200 5000000000 "
            "\"-\" \"-\"\n");
}

// `"`, `\`, control bytes, DEL and bytes above 0x7e become \xHH (upper-case hex); the rest of
// printable ASCII, space included, is kept.
TEST(AppendLogField, EscapesAsNginxDoes) {
  EXPECT_EQ(escaped(""), "-");
  EXPECT_EQ(escaped("-"), "-");
  EXPECT_EQ(escaped("a\"b"), "a\\x22b");
  EXPECT_EQ(escaped("a\\b"), "a\\x5Cb");
  EXPECT_EQ(escaped(std::string_view("\x00\x01\t\r\n\x1f", 6)), "\\x00\\x01\\x09\\x0D\\x0A\\x1F");
  EXPECT_EQ(escaped("\x7f"), "\\x7F");
  EXPECT_EQ(escaped("caf\xc3\xa9"), "caf\\xC3\\xA9");
  EXPECT_EQ(escaped("\xff"), "\\xFF");
  std::string printable;
  for (char c = 0x20; c <= 0x7e; ++c) {
    if (c != '"' && c != '\\') printable += c;
  }
  EXPECT_EQ(escaped(printable), printable);
}

// append_log_field appends: what the string held stays in front.
TEST(AppendLogField, AppendsToWhatIsThere) {
  std::string out = "x=";
  append_log_field(out, "a b");
  append_log_field(out, "");
  EXPECT_EQ(out, "x=a b-");
}

// A request line carrying a newline and a fake entry stays on its one line, escaped; so do the
// referer and user agent.
TEST_F(AccessLog, RequestLineCannotForgeASecondLine) {
  access_log log = open_log();
  {
    access_log::buffer buf(&log);
    buf.add("127.0.0.1", sample_time(),
            "GET /x HTTP/1.1\n6.6.6.6 - - [01/Jan/2000:00:00:00 +0000] \"GET /forged HTTP/1.1\" "
            "200 1 \"-\" \"-\"",
            400, 150, "r\"ef\r\n", "ua\\\"\n");
  }
  const std::string text = slurp(path_);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text,
            "127.0.0.1 - - [23/Nov/2026:18:02:11 +0000] \"GET /x HTTP/1.1\\x0A6.6.6.6 - - "
            "[01/Jan/2000:00:00:00 +0000] \\x22GET /forged HTTP/1.1\\x22 200 1 \\x22-\\x22 "
            "\\x22-\\x22\" 400 150 \"r\\x22ef\\x0D\\x0A\" \"ua\\x5C\\x22\\x0A\"\n");
}

// Lines wait in the buffer until flush; flush writes all of them, and an empty flush writes
// nothing.
TEST_F(AccessLog, NothingIsWrittenBeforeFlush) {
  access_log log = open_log();
  access_log::buffer buf(&log);
  for (int i = 0; i < 10; ++i) {
    buf.add("127.0.0.1", sample_time(), "GET /" + std::to_string(i) + " HTTP/1.1", 200,
            static_cast<std::uint64_t>(i), "", "agent");
  }
  EXPECT_EQ(fs::file_size(path_), 0u);
  buf.flush();
  const auto lines = lines_of(slurp(path_));
  ASSERT_EQ(lines.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(lines[static_cast<std::size_t>(i)],
              "127.0.0.1 - - [23/Nov/2026:18:02:11 +0000] \"GET /" + std::to_string(i) +
                  " HTTP/1.1\" 200 " + std::to_string(i) + " \"-\" \"agent\"");
  }
  const auto size = fs::file_size(path_);
  buf.flush();
  EXPECT_EQ(fs::file_size(path_), size);
}

// The buffer writes itself out as soon as it holds 32 KiB, all of it, and not a line before.
TEST_F(AccessLog, BufferWritesOutAt32KiB) {
  access_log log = open_log();
  access_log::buffer buf(&log);
  const std::string target(200, 'p');  // fixed width lines
  auto add = [&] {
    buf.add("127.0.0.1", sample_time(), "GET /" + target + " HTTP/1.1", 200, 12345, "", "agent");
  };
  add();
  buf.flush();
  const std::size_t line = fs::file_size(path_);
  ASSERT_GT(line, 200u);
  const std::size_t threshold = 32 * 1024;
  const std::size_t fit = (threshold - 1) / line;  // lines that stay below the threshold
  for (std::size_t i = 0; i < fit; ++i) add();
  EXPECT_EQ(fs::file_size(path_), line) << "written before the buffer reached 32 KiB";
  add();  // this one crosses the threshold
  EXPECT_EQ(fs::file_size(path_), line * (fit + 2));
  const auto lines = lines_of(slurp(path_));
  EXPECT_EQ(lines.size(), fit + 2);
}

// Destroying the buffer (a worker exiting) writes out what it held.
TEST_F(AccessLog, BufferDestructorFlushes) {
  access_log log = open_log();
  {
    access_log::buffer buf(&log);
    buf.add("127.0.0.1", sample_time(), "GET /last HTTP/1.1", 200, 7, "", "");
    EXPECT_EQ(fs::file_size(path_), 0u);
  }
  EXPECT_EQ(slurp(path_),
            "127.0.0.1 - - [23/Nov/2026:18:02:11 +0000] \"GET /last HTTP/1.1\" 200 7 \"-\" "
            "\"-\"\n");
}

// A buffer without a log (logging off) accepts entries and writes nothing anywhere.
TEST_F(AccessLog, BufferWithoutLogDoesNothing) {
  access_log::buffer buf(nullptr);
  buf.add("127.0.0.1", sample_time(), "GET / HTTP/1.1", 200, 1, "", "");
  buf.flush();
  EXPECT_FALSE(fs::exists(path_));
}

// Opening appends to what the file already holds, and creates it 0644.
TEST_F(AccessLog, OpenAppendsToAnExistingFile) {
  const std::string earlier = "earlier line\n";
  test::write_file(path_, std::as_bytes(std::span(earlier.data(), earlier.size())));
  access_log log = open_log();
  {
    access_log::buffer buf(&log);
    buf.add("127.0.0.1", sample_time(), "GET / HTTP/1.1", 200, 1, "", "");
  }
  const auto lines = lines_of(slurp(path_));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "earlier line");

  const fs::path fresh = dir_ / "fresh.log";
  ASSERT_TRUE(access_log::open(fresh.string()));
  struct stat st {};
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  const mode_t umask_now = ::umask(0);
  ::umask(umask_now);
  EXPECT_EQ(st.st_mode & 0777, 0644u & ~umask_now);
}

// Rotation: after the file is renamed, lines still go to it until reopen; after reopen they go
// to a new file with the old name, and the renamed one keeps its lines.
TEST_F(AccessLog, ReopenAfterRenameWritesToTheNewFile) {
  access_log log = open_log();
  access_log::buffer buf(&log);
  buf.add("127.0.0.1", sample_time(), "GET /one HTTP/1.1", 200, 1, "", "");
  buf.flush();
  const fs::path rotated = dir_ / "access.log.1";
  fs::rename(path_, rotated);
  buf.add("127.0.0.1", sample_time(), "GET /two HTTP/1.1", 200, 2, "", "");
  buf.flush();
  EXPECT_FALSE(fs::exists(path_));

  ASSERT_TRUE(log.reopen());
  ASSERT_TRUE(fs::exists(path_));
  buf.add("127.0.0.1", sample_time(), "GET /three HTTP/1.1", 200, 3, "", "");
  buf.flush();

  const auto old_lines = lines_of(slurp(rotated));
  ASSERT_EQ(old_lines.size(), 2u);
  EXPECT_NE(old_lines[0].find("GET /one"), std::string::npos);
  EXPECT_NE(old_lines[1].find("GET /two"), std::string::npos);
  const auto new_lines = lines_of(slurp(path_));
  ASSERT_EQ(new_lines.size(), 1u);
  EXPECT_NE(new_lines[0].find("GET /three"), std::string::npos);
}

// A reopen that fails keeps the old descriptor: lines still land in the old file.
TEST_F(AccessLog, FailedReopenKeepsTheOldFile) {
  const fs::path sub = dir_ / "logs";
  fs::create_directory(sub);
  path_ = sub / "access.log";
  access_log log = open_log();
  const fs::path moved = dir_ / "moved.log";
  fs::rename(path_, moved);
  fs::remove(sub);  // the path cannot be created again

  auto r = log.reopen();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::no_such_file_or_directory);
  {
    access_log::buffer buf(&log);
    buf.add("127.0.0.1", sample_time(), "GET /kept HTTP/1.1", 200, 1, "", "");
  }
  EXPECT_NE(slurp(moved).find("GET /kept"), std::string::npos);
}

// A path that cannot be opened for writing is an error, not a log.
TEST_F(AccessLog, OpenFailureIsAnError) {
  auto missing_dir = access_log::open((dir_ / "no" / "such" / "dir.log").string());
  ASSERT_FALSE(missing_dir);
  EXPECT_EQ(missing_dir.error(), std::errc::no_such_file_or_directory);
  auto a_directory = access_log::open(dir_.path().string());
  ASSERT_FALSE(a_directory);
  EXPECT_EQ(a_directory.error(), std::errc::is_a_directory);
}

// "-" is standard output; reopen has nothing to do there and succeeds.
TEST_F(AccessLog, DashIsStandardOutput) {
  auto log = access_log::open("-");
  ASSERT_TRUE(log) << log.error().message();
  EXPECT_TRUE(log->reopen());
}

// Buffers of several workers flushing at once never interleave their lines.
TEST_F(AccessLog, ConcurrentFlushesDoNotInterleave) {
  access_log log = open_log();
  constexpr int workers = 4;
  constexpr int per_worker = 3000;
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&log, w] {
      access_log::buffer buf(&log);
      const std::string target =
          "GET /" + std::string(50 + static_cast<std::size_t>(w) * 13, static_cast<char>('a' + w)) +
          " HTTP/1.1";
      for (int i = 0; i < per_worker; ++i) {
        buf.add("127.0.0.1", sample_time(), target, 200, static_cast<std::uint64_t>(i), "", "");
        if (i % 97 == 0) buf.flush();
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto lines = lines_of(slurp(path_));
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(workers * per_worker));
  std::vector<int> next(workers, 0);
  for (const auto& line : lines) {
    const std::size_t at = line.find("\"GET /");
    ASSERT_NE(at, std::string::npos) << line;
    const int w = line[at + 6] - 'a';
    ASSERT_TRUE(w >= 0 && w < workers) << line;
    const std::string expected =
        "127.0.0.1 - - [23/Nov/2026:18:02:11 +0000] \"GET /" +
        std::string(50 + static_cast<std::size_t>(w) * 13, static_cast<char>('a' + w)) +
        " HTTP/1.1\" 200 " + std::to_string(next[static_cast<std::size_t>(w)]++) + " \"-\" \"-\"";
    ASSERT_EQ(line, expected);  // whole, and in each worker's order
  }
}

}  // namespace
}  // namespace zcopy::http
