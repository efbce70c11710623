// same_contents(): equal and different files, sizes, empty files, and errors by name.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "support/test_support.hpp"
#include "zcopy/copy.hpp"

namespace zcopy {
namespace {

namespace fs = std::filesystem;
using test::random_bytes;
using test::write_file;

class SameContents : public ::testing::Test {
 protected:
  void SetUp() override { SCOPED_TRACE(::testing::Message() << "seed " << seed_); }
  test::temp_dir dir_;
  std::uint64_t seed_ = test::test_seed();
};

// The same bytes under two names are the same; so are two empty files.
TEST_F(SameContents, EqualFiles) {
  const auto data = random_bytes(3 * 1024 * 1024 + 5, seed_);
  write_file(dir_ / "a", data);
  write_file(dir_ / "b", data);
  auto r = same_contents(dir_ / "a", dir_ / "b");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(*r);
  write_file(dir_ / "e1", {});
  write_file(dir_ / "e2", {});
  auto empty = same_contents(dir_ / "e1", dir_ / "e2");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(*empty);
}

// One byte changed anywhere (first, middle, last) makes them different.
TEST_F(SameContents, OneByteDiffers) {
  const auto data = random_bytes(1024 * 1024, seed_);
  write_file(dir_ / "a", data);
  for (std::size_t at : {std::size_t{0}, data.size() / 2, data.size() - 1}) {
    SCOPED_TRACE(at);
    auto changed = data;
    changed[at] ^= std::byte{0x40};
    write_file(dir_ / "b", changed);
    auto r = same_contents(dir_ / "a", dir_ / "b");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_FALSE(*r);
  }
}

// Different sizes differ without reading anything.
TEST_F(SameContents, DifferentSizes) {
  const auto data = random_bytes(5000, seed_);
  write_file(dir_ / "a", data);
  write_file(dir_ / "b", std::span(data).first(4999));
  test::fault_scope faults;
  faults.mmap({});  // counts
  auto r = same_contents(dir_ / "a", dir_ / "b");
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_EQ(faults.calls(syscall_kind::mmap), 0u);
}

// A missing file and a directory are errors that name the path.
TEST_F(SameContents, ErrorsNameThePath) {
  write_file(dir_ / "a", random_bytes(100, seed_));
  auto missing = same_contents(dir_ / "a", dir_ / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, std::errc::no_such_file_or_directory);
  EXPECT_EQ(missing.error().step, copy_step::open);
  EXPECT_EQ(missing.error().path, dir_ / "nope");
  auto directory = same_contents(dir_.path(), dir_ / "a");
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, std::errc::invalid_argument);
}

// A mapping failure is reported as such.
TEST_F(SameContents, MapFailureIsAnError) {
  const auto data = random_bytes(10'000, seed_);
  write_file(dir_ / "a", data);
  write_file(dir_ / "b", data);
  test::fault_scope faults;
  faults.mmap({.error = ENOMEM});
  auto r = same_contents(dir_ / "a", dir_ / "b");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::not_enough_memory);
  EXPECT_EQ(r.error().step, copy_step::map);
}

}  // namespace
}  // namespace zcopy
