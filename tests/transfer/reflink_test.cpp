// Reflinks on a real XFS filesystem: an image under /tmp, made with mkfs.xfs -m reflink=1 and
// loop-mounted for the suite (test::xfs_mount). Needs root, mkfs.xfs
// and loop devices; without them the tests skip and say which was missing.
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "support/test_support.hpp"
#include "zcopy/error.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy {
namespace {

using test::random_bytes;
using test::temp_dir;
using test::test_seed;

constexpr std::uint64_t block = 4096;

struct extent_report {
  std::size_t extents = 0;
  std::size_t shared = 0;
};

// FS_IOC_FIEMAP over the whole file (synced first): how many extents, how many shared.
extent_report fiemap_report(int fd) {
  constexpr std::size_t max_extents = 64;
  std::vector<std::byte> storage(sizeof(fiemap) + max_extents * sizeof(fiemap_extent));
  auto* map = reinterpret_cast<fiemap*>(storage.data());
  map->fm_start = 0;
  map->fm_length = FIEMAP_MAX_OFFSET;
  map->fm_flags = FIEMAP_FLAG_SYNC;
  map->fm_extent_count = max_extents;
  if (::ioctl(fd, FS_IOC_FIEMAP, map) != 0) {
    throw std::system_error(errno, std::system_category(), "FS_IOC_FIEMAP");
  }
  extent_report out;
  for (std::uint32_t i = 0; i < map->fm_mapped_extents; ++i) {
    ++out.extents;
    if (map->fm_extents[i].fe_flags & FIEMAP_EXTENT_SHARED) ++out.shared;
  }
  return out;
}

class ReflinkXfs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { xfs_ = std::make_unique<test::xfs_mount>(); }
  static void TearDownTestSuite() { xfs_.reset(); }

  void SetUp() override {
    if (xfs_->skip_reason()) GTEST_SKIP() << *xfs_->skip_reason();
    dir_ = std::make_unique<temp_dir>(xfs_->path());
  }
  void TearDown() override { dir_.reset(); }

  std::filesystem::path at(const std::string& name) const { return *dir_ / name; }

  static inline std::unique_ptr<test::xfs_mount> xfs_;
  std::unique_ptr<temp_dir> dir_;
};

// A whole-file automatic copy on XFS is a reflink: the bytes are the source's and the copy's
// extents are shared with it.
TEST_F(ReflinkXfs, WholeFileCopyIsAReflink) {
  const auto data = random_bytes((1 << 20) + 123, test_seed() + 1);
  unique_fd src = test::write_file(at("src"), data);
  unique_fd dst = test::open_or_die(at("dst"), O_RDWR | O_CREAT | O_TRUNC);
  transfer_result r = transfer(src.get(), dst.get());
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, data.size());
  EXPECT_EQ(r.used, method::reflink) << to_string(r.used);
  EXPECT_EQ(r.bytes_with(method::reflink), data.size());
  EXPECT_TRUE(r.fallbacks.empty());
  EXPECT_TRUE(test::same_bytes(data, test::read_file(at("dst"))));
  extent_report report = fiemap_report(dst.get());
  EXPECT_GT(report.extents, 0u);
  EXPECT_EQ(report.shared, report.extents) << "FIEMAP_EXTENT_SHARED missing on the copy";
}

// A forced reflink of a block-aligned range with explicit offsets (FICLONERANGE) replaces just
// that range of the sink and leaves both positions alone.
TEST_F(ReflinkXfs, AlignedRangeWithExplicitOffsetsIsCloned) {
  const auto data = random_bytes(16 * block, test_seed() + 2);
  const auto old = random_bytes(16 * block, test_seed() + 3);
  unique_fd src = test::write_file(at("src"), data);
  unique_fd dst = test::write_file(at("dst"), old, O_RDWR);
  transfer_options o;
  o.use = method::reflink;
  o.source_offset = 2 * block;
  o.sink_offset = 5 * block;
  o.length = 4 * block;
  transfer_result r = transfer(src.get(), dst.get(), o);
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, 4 * block);
  EXPECT_EQ(r.used, method::reflink);
  EXPECT_EQ(r.bytes_with(method::reflink), 4 * block);
  auto want = old;
  std::copy_n(data.begin() + 2 * block, 4 * block, want.begin() + 5 * block);
  EXPECT_TRUE(test::same_bytes(want, test::read_file(at("dst"))));
  EXPECT_EQ(::lseek(src.get(), 0, SEEK_CUR), 0);
  EXPECT_EQ(::lseek(dst.get(), 0, SEEK_CUR), 0);
  EXPECT_GT(fiemap_report(dst.get()).shared, 0u);
}

// A range that starts off a block boundary cannot be cloned: a forced reflink says
// method_not_applicable and writes nothing; with allow_fallback copy_file_range does it and the
// fallback is recorded.
TEST_F(ReflinkXfs, UnalignedRangeNeedsTheFallback) {
  const auto data = random_bytes(5 * block, test_seed() + 4);
  unique_fd src = test::write_file(at("src"), data);
  transfer_options o;
  o.use = method::reflink;
  o.source_offset = 100;
  o.length = 8000;
  {
    unique_fd dst = test::open_or_die(at("refused"), O_RDWR | O_CREAT | O_TRUNC);
    transfer_result r = transfer(src.get(), dst.get(), o);
    EXPECT_EQ(r.error, errc::method_not_applicable) << r.error.message();
    EXPECT_EQ(r.bytes, 0u);
    EXPECT_FALSE(r.complete);
    EXPECT_TRUE(test::read_file(at("refused")).empty());
  }
  o.allow_fallback = true;
  unique_fd dst = test::open_or_die(at("dst"), O_RDWR | O_CREAT | O_TRUNC);
  transfer_result r = transfer(src.get(), dst.get(), o);
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, 8000u);
  EXPECT_EQ(r.used, method::copy_file_range) << to_string(r.used);
  EXPECT_EQ(r.bytes_with(method::reflink), 0u);
  ASSERT_EQ(r.fallbacks.size(), 1u);
  EXPECT_EQ(r.fallbacks[0].from, method::reflink);
  EXPECT_EQ(r.fallbacks[0].to, method::copy_file_range);
  EXPECT_EQ(r.fallbacks[0].reason, errc::method_not_applicable);
  EXPECT_EQ(r.fallbacks[0].at_byte, 0u);
  EXPECT_TRUE(test::same_bytes(std::span(data).subspan(100, 8000), test::read_file(at("dst"))));
}

// A range that ends at the source's unaligned end of file (3 blocks + 123 bytes, from the
// second block) is cloned whole: the partial last block is shared too.
TEST_F(ReflinkXfs, RangeEndingAtUnalignedEofIsClonedWhole) {
  const std::size_t size = 3 * block + 123;
  const auto data = random_bytes(size, test_seed() + 5);
  unique_fd src = test::write_file(at("src"), data);
  unique_fd dst = test::open_or_die(at("dst"), O_RDWR | O_CREAT | O_TRUNC);
  transfer_options o;
  o.use = method::reflink;
  o.source_offset = block;
  o.sink_offset = block;
  transfer_result r = transfer(src.get(), dst.get(), o);
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, size - block);
  EXPECT_EQ(r.bytes_with(method::reflink), size - block);
  EXPECT_TRUE(r.fallbacks.empty());
  auto want = data;
  std::fill_n(want.begin(), block, std::byte{0});
  EXPECT_TRUE(test::same_bytes(want, test::read_file(at("dst"))));
}

// A forced reflink of an empty file completes with nothing to move, as every other forced
// method does for an empty file (methods_test) and as FICLONE of an empty file does on XFS.
// (Regression: size-0 sources are "size unknown" because of procfs; a whole-file clone is what
// tells an empty file from a pseudo-file.)
TEST_F(ReflinkXfs, EmptyFileForcedReflinkCompletes) {
  unique_fd src = test::write_file(at("src"), {});
  unique_fd dst = test::open_or_die(at("dst"), O_RDWR | O_CREAT | O_TRUNC);
  transfer_options o;
  o.use = method::reflink;
  transfer_result r = transfer(src.get(), dst.get(), o);
  EXPECT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_TRUE(test::read_file(at("dst")).empty());
}

// XFS → ext4 (/tmp): no reflink across filesystems; copy_file_range or sendfile moves the bytes.
TEST_F(ReflinkXfs, AcrossFilesystemsCopiesWithoutReflink) {
  const auto data = random_bytes((1 << 20) + 5, test_seed() + 6);
  unique_fd src = test::write_file(at("src"), data);
  temp_dir other("/tmp");
  unique_fd dst = test::open_or_die(other / "dst", O_RDWR | O_CREAT | O_TRUNC);
  auto job = transfer_job::create(src.get(), dst.get());
  ASSERT_TRUE(job) << job.error().message();
  for (method m : job->plan()) EXPECT_NE(m, method::reflink);
  transfer_result r = job->run();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, data.size());
  EXPECT_EQ(r.bytes_with(method::reflink), 0u);
  EXPECT_TRUE(r.used == method::copy_file_range || r.used == method::sendfile) << to_string(r.used);
  EXPECT_TRUE(test::same_bytes(data, test::read_file(other / "dst")));
}

}  // namespace
}  // namespace zcopy
