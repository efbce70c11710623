// aligned_buffer and query_direct_io_alignment: alignment and rounding, what statx reports, the
// sysfs fallback, and O_DIRECT reads into the buffer.
#include "zcopy/aligned_buffer.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "support/test_support.hpp"

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x2000U
#endif

namespace zcopy {
namespace {

bool aligned_to(const void* p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

bool power_of_two(std::uint32_t n) {
  return n != 0 && (n & (n - 1)) == 0;
}

// What the kernel says about DIOALIGN for `fd`, straight from statx(2).
bool kernel_reports_dioalign(int fd) {
  struct statx stx {};
  return ::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
         (stx.stx_mask & STATX_DIOALIGN) != 0;
}

// The logical block size sysfs gives for the device under `fd` (4096 when it has none).
std::uint32_t sysfs_block_size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return 0;
  const std::string entry =
      "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  for (const char* tail : {"/queue/logical_block_size", "/../queue/logical_block_size"}) {
    std::ifstream in(entry + tail);
    std::uint32_t size = 0;
    if (in >> size) return size;
  }
  return 4096;
}

TEST(AlignedBuffer, AlignsAndRoundsUp) {
  // 5000 bytes at 4096: one more block, aligned, all of it writable.
  auto b = aligned_buffer::allocate(5000, 4096);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->size(), 8192u);
  EXPECT_EQ(b->alignment(), 4096u);
  EXPECT_TRUE(aligned_to(b->data(), 4096));
  std::fill(b->bytes().begin(), b->bytes().end(), std::byte{0x11});

  // An exact multiple stays as it is; a small alignment still rounds.
  auto exact = aligned_buffer::allocate(4096, 4096);
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->size(), 4096u);
  auto small = aligned_buffer::allocate(1, 512);
  ASSERT_TRUE(small);
  EXPECT_EQ(small->size(), 512u);
  EXPECT_TRUE(aligned_to(small->data(), 512));
  // Alignments below a pointer's and above a page's both hold.
  auto tiny = aligned_buffer::allocate(3, 2);
  ASSERT_TRUE(tiny);
  EXPECT_EQ(tiny->size(), 4u);
  EXPECT_TRUE(aligned_to(tiny->data(), 2));
  auto huge = aligned_buffer::allocate(100, std::size_t{2} << 20);
  ASSERT_TRUE(huge);
  EXPECT_TRUE(aligned_to(huge->data(), std::size_t{2} << 20));

  // Zero bytes: an empty buffer that still knows its alignment.
  auto none = aligned_buffer::allocate(0, 4096);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->size(), 0u);
  EXPECT_EQ(none->alignment(), 4096u);
}

TEST(AlignedBuffer, RejectsAnAlignmentThatIsNotAPowerOfTwo) {
  for (std::size_t alignment : {std::size_t{0}, std::size_t{3}, std::size_t{3000}}) {
    auto b = aligned_buffer::allocate(4096, alignment);
    ASSERT_FALSE(b) << alignment;
    EXPECT_EQ(b.error(), std::errc::invalid_argument);
  }
}

TEST(AlignedBuffer, MoveTransfersOwnership) {
  auto b = aligned_buffer::allocate(4096, 4096);
  ASSERT_TRUE(b);
  std::byte* data = b->data();
  aligned_buffer moved(std::move(*b));
  EXPECT_EQ(b->data(), nullptr);
  EXPECT_EQ(b->size(), 0u);
  EXPECT_EQ(moved.data(), data);
  // Assignment frees what the target held and takes the source's memory.
  auto other = aligned_buffer::allocate(512, 512);
  ASSERT_TRUE(other);
  moved = std::move(*other);
  EXPECT_EQ(moved.size(), 512u);
  EXPECT_EQ(other->data(), nullptr);
}

TEST(DirectIoAlignment, StatxReportsItForAFileInTmp) {
  test::temp_dir dir("/tmp");
  auto data = test::random_bytes(100, test::test_seed());
  unique_fd fd = test::write_file(dir / "f", data);
  if (!kernel_reports_dioalign(fd.get())) {
    GTEST_SKIP() << "statx(STATX_DIOALIGN) not reported here (Linux < 6.1 or the filesystem)";
  }
  // The kernel answered, with powers of two no larger than a page.
  auto a = query_direct_io_alignment(fd.get());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->from_statx);
  EXPECT_TRUE(a->supported);
  EXPECT_TRUE(power_of_two(a->memory)) << a->memory;
  EXPECT_TRUE(power_of_two(a->offset)) << a->offset;
  EXPECT_LE(a->memory, 4096u);
  EXPECT_LE(a->offset, 4096u);
  EXPECT_LE(a->memory, a->offset);
}

TEST(DirectIoAlignment, FallsBackToTheDeviceBlockSize) {
  test::temp_dir dir("/tmp");
  auto data = test::random_bytes(100, test::test_seed());
  unique_fd fd = test::write_file(dir / "f", data);
  const std::uint32_t expected = sysfs_block_size(fd.get());
  test::fault_scope restore;

  // statx missing (ENOSYS, as before 4.11 or under seccomp): sysfs decides.
  sys::hooks().statx = [](int, const char*, int, unsigned, struct statx*) -> int {
    errno = ENOSYS;
    return -1;
  };
  auto a = query_direct_io_alignment(fd.get());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_FALSE(a->from_statx);
  EXPECT_TRUE(a->supported);
  EXPECT_EQ(a->memory, expected);
  EXPECT_EQ(a->offset, expected);

  // statx works but does not know DIOALIGN (Linux 4.11 to 6.0): the same fallback.
  sys::hooks().statx = [](int d, const char* p, int f, unsigned, struct statx* out) -> int {
    return sys::real_hooks().statx(d, p, f, STATX_BASIC_STATS, out);
  };
  auto b = query_direct_io_alignment(fd.get());
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_FALSE(b->from_statx);
  EXPECT_EQ(b->memory, expected);
}

TEST(DirectIoAlignment, BadDescriptorIsAnError) {
  // EBADF is the caller's, not a reason to guess.
  auto a = query_direct_io_alignment(-1);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), std::errc::bad_file_descriptor);
}

TEST(AlignedBuffer, DirectReadsMatchTheFileIncludingAShortLastRead) {
  test::temp_dir dir("/tmp");
  const std::size_t chunk = 64 * 1024;
  const std::size_t tail = 1234;
  auto data = test::random_bytes(16 * chunk + tail, test::test_seed());
  test::write_file(dir / "f", data);
  auto fd = unique_fd::open((dir / "f").c_str(), O_RDONLY | O_DIRECT);
  if (!fd && fd.error() == std::errc::invalid_argument) {
    GTEST_SKIP() << "the filesystem under " << dir.path() << " refuses O_DIRECT";
  }
  ASSERT_TRUE(fd) << fd.error().message();
  auto a = query_direct_io_alignment(fd->get());
  ASSERT_TRUE(a);
  auto buffer = aligned_buffer::allocate(chunk, std::max(a->memory, a->offset));
  ASSERT_TRUE(buffer);
  ASSERT_EQ(buffer->size() % a->offset, 0u);

  // Whole chunks at aligned offsets, then one that ends at EOF and comes back short.
  std::vector<std::byte> got;
  std::size_t last = 0;
  for (off_t offset = 0;; offset += static_cast<off_t>(chunk)) {
    ssize_t n = ::pread(fd->get(), buffer->data(), buffer->size(), offset);
    ASSERT_GE(n, 0) << "pread at " << offset << ": " << std::strerror(errno);
    if (n == 0) break;
    got.insert(got.end(), buffer->data(), buffer->data() + n);
    last = static_cast<std::size_t>(n);
    if (last < buffer->size()) break;
  }
  EXPECT_EQ(last, tail);
  EXPECT_TRUE(test::same_bytes(data, got));
}

}  // namespace
}  // namespace zcopy
