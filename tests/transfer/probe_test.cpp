// probe_mechanisms and probe_path: the mechanisms every Linux we support has must show up as
// working, and a directory's report must say what its filesystem can do.
#include "zcopy/probe.hpp"

#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#ifdef ZCOPY_WITH_URING
#include <liburing.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace zcopy {

// Readable names in assertion messages (found by ADL; static: other test files may print too).
static void PrintTo(probe_outcome outcome, std::ostream* os) {
  *os << to_string(outcome);
}
static void PrintTo(method m, std::ostream* os) {
  *os << to_string(m);
}

namespace {

namespace fs = std::filesystem;

// One probe run, shared by the tests that read it (each run makes about 70 transfers).
class ProbeMechanisms : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::temp_dir("/tmp");
    probe_options options;
    options.directory = dir_->path().string();
    auto result = probe_mechanisms(options);
    if (result) {
      entries_ = new std::vector<probe_entry>(std::move(*result));
    } else {
      error_ = new std::error_code(result.error());
    }
  }
  static void TearDownTestSuite() {
    delete entries_;
    delete error_;
    delete dir_;
    entries_ = nullptr;
    error_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(error_, nullptr) << "probe_mechanisms failed: " << error_->message();
    ASSERT_NE(entries_, nullptr);
  }

  static const probe_entry* find(std::string_view pair, method m) {
    for (const auto& e : *entries_) {
      if (e.pair == pair && e.tried == m) return &e;
    }
    return nullptr;
  }

  static std::string describe(const probe_entry& e) {
    std::ostringstream out;
    out << e.pair << " " << to_string(e.tried) << ": " << to_string(e.outcome) << " (moved by "
        << to_string(e.moved_by) << ", " << e.bytes
        << " bytes, reason: " << (e.reason ? e.reason.message() : "none") << ")";
    return out.str();
  }

  void expect_works(std::string_view pair, method m) {
    const probe_entry* e = find(pair, m);
    ASSERT_NE(e, nullptr) << "no entry for " << pair << " " << to_string(m);
    EXPECT_EQ(e->outcome, probe_outcome::works) << describe(*e);
    EXPECT_EQ(e->moved_by, m) << describe(*e);
    EXPECT_EQ(e->bytes, probe_options{}.size) << describe(*e);
  }

  static test::temp_dir* dir_;
  static std::vector<probe_entry>* entries_;
  static std::error_code* error_;
};

test::temp_dir* ProbeMechanisms::dir_ = nullptr;
std::vector<probe_entry>* ProbeMechanisms::entries_ = nullptr;
std::error_code* ProbeMechanisms::error_ = nullptr;

constexpr std::string_view stream_and_file_pairs[] = {
    "file->file", "file->socket", "file->pipe", "socket->file", "socket->socket", "pipe->file",
};

// Every pair gets one entry per method plus one for automatic mode.
TEST_F(ProbeMechanisms, ReportsEveryMethodForEveryPair) {
  for (std::string_view pair : stream_and_file_pairs) {
    for (method m : all_methods()) EXPECT_NE(find(pair, m), nullptr) << pair << " " << to_string(m);
    EXPECT_NE(find(pair, method::automatic), nullptr) << pair;
  }
  EXPECT_EQ(entries_->size(), 7 * (all_methods().size() + 1));
}

// The baseline moves bytes between any two ends (an O_DIRECT source is not one of them: a plain
// read into an unaligned buffer, or of the file's unaligned tail, is EINVAL).
TEST_F(ProbeMechanisms, ReadWriteWorksForEveryPair) {
  for (std::string_view pair : stream_and_file_pairs) expect_works(pair, method::read_write);
}

// An O_DIRECT source: direct_io moves it with aligned buffers, and automatic mode picks it.
TEST_F(ProbeMechanisms, DirectIoWorksFromDirectFile) {
  auto data = test::random_bytes(100, test::test_seed());
  test::write_file(dir_->path() / "direct", data);
  auto direct = unique_fd::open((dir_->path() / "direct").c_str(), O_RDONLY | O_DIRECT);
  fs::remove(dir_->path() / "direct");
  if (!direct) {
    GTEST_SKIP() << "the filesystem under /tmp refuses O_DIRECT: " << direct.error().message();
  }
  expect_works("direct-file->file", method::direct_io);
  // read_write uses an aligned buffer for an O_DIRECT source.
  expect_works("direct-file->file", method::read_write);
  // Automatic mode tries a reflink first (ext4 refuses it), then reads around the page cache.
  const probe_entry* e = find("direct-file->file", method::automatic);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->outcome == probe_outcome::works || e->outcome == probe_outcome::falls_back)
      << describe(*e);
  EXPECT_EQ(e->moved_by, method::direct_io) << describe(*e);
}

// sendfile(2) takes a file source and any sink since Linux 2.6.33.
TEST_F(ProbeMechanisms, SendfileWorksFromFiles) {
  expect_works("file->file", method::sendfile);
  expect_works("file->socket", method::sendfile);
}

// splice(2) needs a pipe on one side, or a pooled one in between.
TEST_F(ProbeMechanisms, SpliceWorksIntoPipesAndBetweenSockets) {
  expect_works("file->pipe", method::splice);
  expect_works("socket->socket", method::splice);
}

// copy_file_range(2) works between two files of one filesystem (Linux 4.5+).
TEST_F(ProbeMechanisms, CopyFileRangeWorksBetweenFiles) {
  expect_works("file->file", method::copy_file_range);
}

// Automatic mode moves the bytes; when its first choice did not, it says why.
TEST_F(ProbeMechanisms, AutomaticMovesFileToFile) {
  const probe_entry* e = find("file->file", method::automatic);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->outcome == probe_outcome::works || e->outcome == probe_outcome::falls_back)
      << describe(*e);
  EXPECT_EQ(e->bytes, probe_options{}.size) << describe(*e);
  if (e->outcome == probe_outcome::falls_back) {
    EXPECT_TRUE(e->reason) << describe(*e);
  }
}

// A method that cannot serve a pair is reported, not tried: copy_file_range has no socket side.
TEST_F(ProbeMechanisms, MarksImpossiblePairsNotApplicable) {
  const probe_entry* e = find("socket->socket", method::copy_file_range);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->outcome, probe_outcome::not_applicable) << describe(*e);
}

// Nothing the probe creates outlives it.
TEST_F(ProbeMechanisms, LeavesNothingBehind) {
  EXPECT_TRUE(fs::is_empty(dir_->path())) << dir_->path();
}

const probe_entry* find_in(const std::vector<probe_entry>& entries, std::string_view pair,
                           method m) {
  for (const auto& e : entries) {
    if (e.pair == pair && e.tried == m) return &e;
  }
  return nullptr;
}

std::expected<std::vector<probe_entry>, std::error_code> probe_in(const test::temp_dir& dir) {
  probe_options options;
  options.directory = dir.path().string();
  return probe_mechanisms(options);
}

// A kernel that refuses splice (EINVAL, as for socket types without splice_read): the forced
// method is reported unsupported with the errno, and automatic mode falls back and says why.
TEST(ProbeThroughSeam, ReportsRefusalAndFallback) {
  test::temp_dir dir("/tmp");
  test::fault_scope faults;
  faults.splice({.error = EINVAL, .nth = 1, .repeat = true});
  auto entries = probe_in(dir);
  ASSERT_TRUE(entries) << entries.error().message();
  const probe_entry* forced = find_in(*entries, "socket->socket", method::splice);
  ASSERT_NE(forced, nullptr);
  EXPECT_EQ(forced->outcome, probe_outcome::unsupported);
  EXPECT_EQ(forced->reason, std::errc::invalid_argument) << forced->reason.message();
  const probe_entry* automatic = find_in(*entries, "socket->socket", method::automatic);
  ASSERT_NE(automatic, nullptr);
  EXPECT_EQ(automatic->outcome, probe_outcome::falls_back);
  EXPECT_EQ(automatic->moved_by, method::read_write);
  EXPECT_EQ(automatic->reason, std::errc::invalid_argument) << automatic->reason.message();
  EXPECT_EQ(automatic->bytes, probe_options{}.size);
}

// Short returns are not failures: sendfile capped at 1000 bytes a call still moves every byte.
TEST(ProbeThroughSeam, ShortCallsStillWork) {
  test::temp_dir dir("/tmp");
  test::fault_scope faults;
  faults.sendfile({.nth = 1, .repeat = true, .short_to = 1000});
  auto entries = probe_in(dir);
  ASSERT_TRUE(entries) << entries.error().message();
  const probe_entry* e = find_in(*entries, "file->socket", method::sendfile);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->outcome, probe_outcome::works) << e->reason.message();
  EXPECT_GT(e->syscalls, probe_options{}.size / 1000);
}

// Bytes are compared, not counted: a write(2) that corrupts what it writes makes the
// read_write trials fail with bad_message although every byte "moved".
TEST(ProbeThroughSeam, CatchesWrongBytes) {
  test::temp_dir dir("/tmp");
  test::fault_scope faults;
  sys::hooks().write = [](int fd, const void* buf, size_t n) -> ssize_t {
    std::vector<std::byte> copy(static_cast<const std::byte*>(buf),
                                static_cast<const std::byte*>(buf) + n);
    if (!copy.empty()) copy.back() = ~copy.back();
    return sys::real_hooks().write(fd, copy.data(), copy.size());
  };
  auto entries = probe_in(dir);
  ASSERT_TRUE(entries) << entries.error().message();
  const probe_entry* e = find_in(*entries, "file->file", method::read_write);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->outcome, probe_outcome::failed);
  EXPECT_EQ(e->reason, std::errc::bad_message) << e->reason.message();
}

// A size of zero proves nothing; it is refused.
TEST(ProbeOptions, RejectsZeroSize) {
  probe_options options;
  options.size = 0;
  auto result = probe_mechanisms(options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), std::errc::invalid_argument);
}

// /tmp on ext4: no reflinks (FICLONE says EOPNOTSUPP), copy_file_range works.
TEST(ProbePath, ReportsExt4WithoutReflink) {
  struct statfs st {};
  ASSERT_EQ(::statfs("/tmp", &st), 0);
  if ((static_cast<unsigned long>(st.f_type) & 0xffffffffUL) != 0xEF53) {
    GTEST_SKIP() << "/tmp is not ext4 here (magic " << std::hex << st.f_type << ")";
  }
  auto report = probe_path("/tmp");
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->filesystem, "ext4");
  EXPECT_EQ(report->filesystem_magic, 0xEF53u);
  EXPECT_FALSE(report->reflink);
  EXPECT_TRUE(report->reflink_reason) << "a missing reflink must say why";
  EXPECT_TRUE(report->copy_file_range) << report->copy_file_range_reason.message();
}

// The report leaves no temporary files in the directory it probed.
TEST(ProbePath, RemovesItsFiles) {
  test::temp_dir dir("/tmp");
  auto report = probe_path(dir.path().string());
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->path, dir.path().string());
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

// A file stands for the directory it is in.
TEST(ProbePath, UsesTheDirectoryOfAFile) {
  test::temp_dir dir("/tmp");
  auto data = test::random_bytes(100, test::test_seed());
  test::write_file(dir / "f", data);
  auto report = probe_path((dir / "f").string());
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->path, dir.path().string());
  EXPECT_EQ(test::read_file(dir / "f"), data);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1);
}

// A path that does not exist is an error, not a report.
TEST(ProbePath, FailsOnMissingPath) {
  auto report = probe_path("/nonexistent/zcopy-probe-test");
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error(), std::errc::no_such_file_or_directory);
}

// XFS made with reflink=1 shares extents: FICLONE works and copy_file_range works.
TEST(ProbePath, ReportsXfsReflink) {
  test::xfs_mount xfs;
  if (xfs.skip_reason()) GTEST_SKIP() << *xfs.skip_reason();
  auto report = probe_path(xfs.path().string());
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->filesystem, "xfs");
  EXPECT_EQ(report->filesystem_magic, 0x58465342u);
  EXPECT_TRUE(report->reflink) << report->reflink_reason.message();
  EXPECT_TRUE(report->copy_file_range) << report->copy_file_range_reason.message();
  EXPECT_TRUE(report->direct_io) << report->direct_io_reason.message();
  EXPECT_TRUE(fs::is_empty(xfs.path())) << "the probe left files on the XFS mount";
}

// The kernel release is what uname -r prints: never empty.
TEST(ProbeSystem, KnowsTheKernelRelease) {
  EXPECT_FALSE(kernel_release().empty());
}

// io_uring either sets up or says why not (containers often block it).
// The status is what setting up a ring says here and now (a seccomp filter or
// kernel.io_uring_disabled refuses it): not "works" without a ring, nor an error with one.
TEST(ProbeSystem, IoUringStatusIsWhatARingSetupSays) {
#ifdef ZCOPY_WITH_URING
  io_uring ring{};
  const int rc = io_uring_queue_init(4, &ring, 0);
  if (rc == 0) io_uring_queue_exit(&ring);
  const std::error_code ec = io_uring_status();
  EXPECT_EQ(!ec, rc == 0) << ec.message() << " / io_uring_queue_init: " << rc;
  if (rc != 0) {
    EXPECT_FALSE(ec.message().empty());
  }
#else
  EXPECT_EQ(io_uring_status(), std::errc::not_supported);
#endif
}

}  // namespace
}  // namespace zcopy
