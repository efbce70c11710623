// Chunk planning (exact coverage, page-aligned mapped ranges, edge cases) and page-cache
// residency through mmap + mincore.
#include "zcopy/gpu_plan.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include "support/test_support.hpp"
#include "sys/sys.hpp"

namespace zcopy {
namespace {

constexpr std::uint64_t page = 4096;

// The bytes of interest tile [offset, offset + length) in order; every mapped range starts on a
// page, spans whole pages, holds its bytes of interest and is at most one chunk long.
void expect_plan_covers(std::uint64_t offset, std::uint64_t length, std::uint64_t chunk_size) {
  SCOPED_TRACE(testing::Message() << "offset " << offset << " length " << length << " chunk "
                                  << chunk_size);
  const auto chunks = plan_chunks(offset, length, chunk_size, page);
  const std::uint64_t step = (chunk_size + page - 1) / page * page;
  std::uint64_t next = offset;
  for (const auto& c : chunks) {
    EXPECT_EQ(c.map_offset % page, 0u);
    EXPECT_EQ(c.map_length % page, 0u);
    EXPECT_GT(c.map_length, 0u);
    EXPECT_LE(c.map_length, step);
    EXPECT_EQ(c.offset, next);
    EXPECT_GT(c.length, 0u);
    EXPECT_GE(c.offset, c.map_offset);
    EXPECT_LE(c.offset + c.length, c.map_offset + c.map_length);
    next = c.offset + c.length;
  }
  EXPECT_EQ(next, offset + length);
}

TEST(PlanChunks, CoversRangesExactly) {
  expect_plan_covers(0, 10 * page, 2 * page);
  expect_plan_covers(123, 1'000'000, 64 * 1024);
  expect_plan_covers(page - 1, 2, page);          // straddles one page boundary
  expect_plan_covers(5 * page, 3 * page + 1, 1);  // chunk below a page: rounded up to one
  expect_plan_covers(7, 1 << 20, 3 * page + 5);   // chunk size not a page multiple
}

TEST(PlanChunks, ZeroLengthGivesNoChunk) {
  EXPECT_TRUE(plan_chunks(12345, 0, page, page).empty());
}

// An unaligned offset: the first mapped range starts at the page below.
TEST(PlanChunks, UnalignedOffsetMapsFromPageBelow) {
  const auto chunks = plan_chunks(page + 100, 3 * page, 2 * page, page);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].map_offset, page);
  EXPECT_EQ(chunks[0].map_length, 2 * page);
  EXPECT_EQ(chunks[0].offset, page + 100);
  EXPECT_EQ(chunks[0].length, 2 * page - 100);
  EXPECT_EQ(chunks[1].map_offset, 3 * page);
  EXPECT_EQ(chunks[1].map_length, 2 * page);  // the last page is mapped whole
  EXPECT_EQ(chunks[1].offset, 3 * page);
  EXPECT_EQ(chunks[1].length, page + 100);
}

// A chunk larger than the range: one chunk, mapped over whole pages only.
TEST(PlanChunks, ChunkLargerThanRange) {
  const auto chunks = plan_chunks(10, 20, 1 << 20, page);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].map_offset, 0u);
  EXPECT_EQ(chunks[0].map_length, page);
  EXPECT_EQ(chunks[0].offset, 10u);
  EXPECT_EQ(chunks[0].length, 20u);
}

// A file just written and read is in the page cache; after fdatasync and
// POSIX_FADV_DONTNEED the kernel drops (most of) it.
TEST(Residency, DropsAfterFadviseDontNeed) {
  const auto seed = test::test_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  test::temp_dir dir;
  const auto data = test::random_bytes(4 << 20, seed);
  auto fd = test::write_file(dir / "f", data, O_RDWR);
  EXPECT_TRUE(test::same_bytes(data, test::read_range(fd.get(), 0, data.size())));

  auto warm = residency(fd.get(), 0, data.size());
  ASSERT_TRUE(warm.has_value()) << warm.error().message();
  EXPECT_EQ(warm->total_pages, data.size() / page);
  EXPECT_GT(warm->fraction(), 0.9);

  ASSERT_TRUE(sys::fdatasync(fd.get()).has_value());
  ASSERT_TRUE(sys::fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED).has_value());
  auto cold = residency(fd.get(), 0, data.size());
  ASSERT_TRUE(cold.has_value()) << cold.error().message();
  if (cold->fraction() >= warm->fraction()) {
    // tmpfs (a TMPDIR in memory) has no backing store to drop pages to.
    GTEST_SKIP() << "the page cache kept the file after POSIX_FADV_DONTNEED (tmpfs?)";
  }
  EXPECT_LT(cold->fraction(), warm->fraction());
}

// A range past the end of the file has no page; a range is clamped to the file; an unaligned
// sub-range counts the pages it touches.
TEST(Residency, ClampsToFileAndCountsTouchedPages) {
  test::temp_dir dir;
  const auto data = test::random_bytes(3 * page + 10, test::test_seed());
  auto fd = test::write_file(dir / "f", data);
  auto past = residency(fd.get(), 10 * page, page);
  ASSERT_TRUE(past.has_value());
  EXPECT_EQ(past->total_pages, 0u);
  EXPECT_EQ(past->fraction(), 1.0);
  auto all = residency(fd.get(), 0, 1 << 30);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->total_pages, 4u);
  auto middle = residency(fd.get(), page - 1, 2);
  ASSERT_TRUE(middle.has_value());
  EXPECT_EQ(middle->total_pages, 2u);
}

// mincore goes through the syscall layer: an injected failure comes back as the error.
TEST(Residency, ReportsMincoreFailure) {
  test::temp_dir dir;
  auto fd = test::write_file(dir / "f", test::random_bytes(page, test::test_seed()));
  sys::hooks().mincore = [](void*, size_t, unsigned char*) {
    errno = ENOMEM;
    return -1;
  };
  auto r = residency(fd.get(), 0, page);
  sys::restore_hooks();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), std::errc::not_enough_memory);
}

}  // namespace
}  // namespace zcopy
