// destination: what look_at_destination() says stands at a name (nothing, a file, a symlink chain
// to one, a directory, a device, a FIFO, a /proc magic link, a dangling link), and
// write_whole_file() replacing a file whole (a failed write leaves the old bytes) or writing into
// what is not a regular file.
#include "core/destination.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>
#include <string>

#include "support/test_support.hpp"

namespace zcopy::detail {
namespace {

namespace fs = std::filesystem;

std::string text_of(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

class Destination : public ::testing::Test {
 protected:
  destination look(const std::string& name, bool follow = true) {
    auto dir = test::open_or_die(dir_.path(), O_RDONLY | O_DIRECTORY);
    auto d = look_at_destination(dir.get(), name, dir_ / name, follow);
    EXPECT_TRUE(d) << name << ": " << (d ? "" : d.error().second.message());
    return d ? *d : destination{};
  }
  void write(const std::string& name, std::string_view text) {
    test::write_file(dir_ / name, std::as_bytes(std::span(text)));
  }
  test::temp_dir dir_;
  std::string text_ = text_of(test::random_bytes(5000, test::test_seed()));
};

// Each kind of thing at a name, as the callers decide from it.
TEST_F(Destination, TellsWhatStandsAtTheName) {
  write("file", "x");
  fs::create_directories(dir_ / "dir");
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  fs::create_symlink("file", dir_ / "to-file");
  fs::create_symlink("to-file", dir_ / "to-to-file");
  fs::create_symlink("dir", dir_ / "to-dir");
  fs::create_symlink("fifo", dir_ / "to-fifo");
  fs::create_symlink("nowhere", dir_ / "dangling");
  fs::create_symlink("/proc/self/fd/0", dir_ / "stdin");

  EXPECT_EQ(look("absent").what, destination::kind::absent);
  EXPECT_EQ(look("file").what, destination::kind::regular);
  EXPECT_FALSE(look("file").through_link);
  EXPECT_EQ(look("dir").what, destination::kind::directory);
  EXPECT_EQ(look("fifo").what, destination::kind::special);
  const destination chain = look("to-to-file");
  EXPECT_EQ(chain.what, destination::kind::linked);
  EXPECT_EQ(chain.target, dir_ / "file");
  EXPECT_TRUE(chain.through_link);
  EXPECT_EQ(look("to-dir").what, destination::kind::directory);
  EXPECT_EQ(look("to-fifo").what, destination::kind::special);
  EXPECT_TRUE(look("to-fifo").through_link);
  EXPECT_EQ(look("dangling").what, destination::kind::dangling);
  EXPECT_EQ(look("to-file", false).what, destination::kind::symlink);
  // Whatever descriptor 0 is here (a file, a pipe, a terminal, /dev/null), a link through /proc
  // names it, not a path: it is written into.
  if (fs::exists(dir_ / "stdin")) {
    EXPECT_EQ(look("stdin").what, destination::kind::special);
  }
}

// A regular file is replaced whole: a write that fails leaves the old bytes and no temporary file.
TEST_F(Destination, WriteWholeFileReplacesOrLeavesTheOldBytes) {
  write("report", "old report");
  ASSERT_EQ(::chmod((dir_ / "report").c_str(), 0640), 0);
  {
    test::fault_scope scope;
    scope.write({.error = ENOSPC});
    EXPECT_EQ(write_whole_file(dir_ / "report", text_), std::errc::no_space_on_device);
  }
  EXPECT_EQ(text_of(test::read_file(dir_ / "report")), "old report");
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"report"}));
  ASSERT_FALSE(write_whole_file(dir_ / "report", text_));
  EXPECT_EQ(text_of(test::read_file(dir_ / "report")), text_);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "report").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_FALSE(write_whole_file(dir_ / "new", text_));
  EXPECT_EQ(text_of(test::read_file(dir_ / "new")), text_);
}

// Through a symlink the file it names is replaced and the link stays; a directory and a dangling
// link are refused; a device is written into and stays a device.
TEST_F(Destination, WriteWholeFileFollowsLinksAndWritesIntoDevices) {
  write("target", "old");
  fs::create_symlink("target", dir_ / "link");
  ASSERT_FALSE(write_whole_file(dir_ / "link", text_));
  EXPECT_TRUE(fs::is_symlink(dir_ / "link"));
  EXPECT_EQ(text_of(test::read_file(dir_ / "target")), text_);
  fs::create_directories(dir_ / "dir");
  EXPECT_EQ(write_whole_file(dir_ / "dir", text_), std::errc::is_a_directory);
  fs::create_symlink("nowhere", dir_ / "dangling");
  EXPECT_EQ(write_whole_file(dir_ / "dangling", text_), std::errc::no_such_file_or_directory);
  EXPECT_FALSE(fs::exists(dir_ / "nowhere"));
  const fs::path node = dir_ / "null";
  if (::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod: " << std::strerror(errno);
  }
  ASSERT_FALSE(write_whole_file(node, text_));
  EXPECT_EQ(fs::symlink_status(node).type(), fs::file_type::character);
}

}  // namespace
}  // namespace zcopy::detail
