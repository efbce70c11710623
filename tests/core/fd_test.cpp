// unique_fd: ownership of one descriptor.
#include "zcopy/fd.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "support/test_support.hpp"

namespace zcopy {
namespace {

// True when `fd` is not an open descriptor any more.
bool is_closed(int fd) {
  return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

unique_fd open_temp(const test::temp_dir& dir) {
  auto fd = unique_fd::open((dir / "f").c_str(), O_RDWR | O_CREAT, 0600);
  EXPECT_TRUE(fd) << fd.error().message();
  return fd ? std::move(*fd) : unique_fd{};
}

TEST(UniqueFd, ClosesOnDestruction) {
  test::temp_dir dir;
  int number = -1;
  {
    unique_fd fd = open_temp(dir);
    number = fd.get();
    ASSERT_GE(number, 0);
    EXPECT_FALSE(is_closed(number));
  }
  // The old number is gone once the owner is.
  EXPECT_TRUE(is_closed(number));
}

TEST(UniqueFd, MoveTransfersOwnership) {
  test::temp_dir dir;
  unique_fd first = open_temp(dir);
  const int number = first.get();
  unique_fd second(std::move(first));
  // The source is empty, the target owns the same number.
  EXPECT_FALSE(first);
  EXPECT_EQ(second.get(), number);
  // Move assignment closes what the target held before.
  unique_fd third = open_temp(dir);
  const int replaced = third.get();
  third = std::move(second);
  EXPECT_EQ(third.get(), number);
  EXPECT_TRUE(is_closed(replaced));
  EXPECT_FALSE(is_closed(number));
}

TEST(UniqueFd, ReleaseGivesUpOwnership) {
  test::temp_dir dir;
  int number = -1;
  {
    unique_fd fd = open_temp(dir);
    number = fd.release();
    EXPECT_FALSE(fd);
  }
  // Released: the destructor left it open, and closing it is now the caller's job.
  EXPECT_FALSE(is_closed(number));
  EXPECT_EQ(::close(number), 0);
}

TEST(UniqueFd, OpenFailureReportsTheErrno) {
  test::temp_dir dir;
  // A missing file: ENOENT.
  auto missing = unique_fd::open((dir / "missing").c_str(), O_RDONLY);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory);
  // O_EXCL on an existing file: EEXIST.
  unique_fd existing = open_temp(dir);
  auto again = unique_fd::open((dir / "f").c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), std::errc::file_exists);
}

TEST(UniqueFd, OpensWithCloexec) {
  test::temp_dir dir;
  // O_CLOEXEC is added although the caller did not ask for it.
  unique_fd fd = open_temp(dir);
  EXPECT_NE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  auto at = unique_fd::openat(AT_FDCWD, (dir / "f").c_str(), O_RDONLY);
  ASSERT_TRUE(at);
  EXPECT_NE(::fcntl(at->get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(UniqueFd, CloseReportsAndEmpties) {
  test::temp_dir dir;
  unique_fd fd = open_temp(dir);
  const int number = fd.get();
  // close() closes now and says what close(2) said; a second close() is a no-op.
  EXPECT_FALSE(fd.close());
  EXPECT_FALSE(fd);
  EXPECT_TRUE(is_closed(number));
  EXPECT_FALSE(fd.close());
}

TEST(UniqueFd, ResetClosesTheOldDescriptor) {
  test::temp_dir dir;
  unique_fd fd = open_temp(dir);
  const int old = fd.get();
  unique_fd other = open_temp(dir);
  const int taken = other.release();
  // reset(n) closes the owned descriptor and owns n.
  fd.reset(taken);
  EXPECT_TRUE(is_closed(old));
  EXPECT_EQ(fd.get(), taken);
  fd.reset();
  EXPECT_TRUE(is_closed(taken));
}

}  // namespace
}  // namespace zcopy
