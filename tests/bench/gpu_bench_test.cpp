// The GPU bench's host side: the page cache made warm or cold as asked (and measured, not
// assumed), read failures reported rather than taken for a warm cache, and a bench without a
// usable device refused before it loads anything.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bench/gpu_bench.hpp"
#include "support/test_support.hpp"
#include "zcopy/error.hpp"
#include "zcopy/gpu.hpp"

namespace zcopy::bench {
namespace {

constexpr std::size_t file_size = (std::size_t{4} << 20) + 123;

class GpuBenchCache : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = test::random_bytes(file_size, test::test_seed() + 31);
    fd_ = test::write_file(dir_ / "data", data_, O_RDWR);
  }
  test::temp_dir dir_;
  std::vector<std::byte> data_;
  unique_fd fd_;
};

TEST_F(GpuBenchCache, WarmReadsTheWholeRangeIntoTheCache) {
  auto resident = prepare_cache(fd_.get(), 0, file_size, true);
  ASSERT_TRUE(resident) << resident.error().message();
  EXPECT_DOUBLE_EQ(*resident, 1.0);
}

TEST_F(GpuBenchCache, ColdDropsTheRangeWhereTheFilesystemCan) {
  struct statfs fs {};
  ASSERT_EQ(::fstatfs(fd_.get(), &fs), 0);
  // tmpfs pages are the file itself: there is nothing to drop them to.
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "tmpfs keeps every page resident";
  // Written just now: dirty pages, which DONTNEED alone would keep.
  auto resident = prepare_cache(fd_.get(), 0, file_size, false);
  ASSERT_TRUE(resident) << resident.error().message();
  EXPECT_LT(*resident, 0.5);
  // The bytes are still the file's after a drop.
  EXPECT_TRUE(test::same_bytes(data_, test::read_range(fd_.get(), 0, file_size)));
}

TEST_F(GpuBenchCache, AFailedReadIsAnErrorNotAWarmCache) {
  test::fault_scope faults;
  faults.pread({.error = EIO});
  auto resident = prepare_cache(fd_.get(), 0, file_size, true);
  ASSERT_FALSE(resident);
  EXPECT_EQ(resident.error(), std::error_code(EIO, std::system_category()));
}

TEST_F(GpuBenchCache, ARangePastTheEndIsAnError) {
  auto resident = prepare_cache(fd_.get(), file_size - 10, 20, true);
  ASSERT_FALSE(resident);
  EXPECT_EQ(resident.error(), make_error_code(errc::unexpected_eof));
}

TEST_F(GpuBenchCache, APipeIsRefused) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  unique_fd r(p[0]), w(p[1]);
  auto report = run_gpu(r.get(), {});
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().step, "stat");
}

TEST_F(GpuBenchCache, NoDeviceIsSaidBeforeAnyLoad) {
  if (gpu::built_with_cuda() && gpu::device_count().value_or(0) > 0) {
    GTEST_SKIP() << "a device is present";
  }
  auto report = run_gpu(fd_.get(), {});
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().step, "device allocation");
  EXPECT_NE(report.error().message().find("device allocation: "), std::string::npos);
}

}  // namespace
}  // namespace zcopy::bench
