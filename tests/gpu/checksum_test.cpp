// The load checksum's host side (zcopy/gpu.hpp), and what the loaders answer where no GPU can be
// used (every CI machine): run in every build.
#include <gtest/gtest.h>

#include <fcntl.h>

#include <bit>
#include <cstring>

#include "gpu/safetensors_writer.hpp"
#include "support/test_support.hpp"
#include "zcopy/error.hpp"
#include "zcopy/gpu.hpp"

namespace zcopy {
namespace {

// The definition in gpu.hpp, written out again independently of src/gpu/checksum_mix.hpp.
std::uint64_t reference_checksum(std::span<const std::byte> bytes) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i * 8 < bytes.size(); ++i) {
    std::uint64_t w = 0;
    for (std::size_t b = 0; b < 8 && i * 8 + b < bytes.size(); ++b) {
      w |= std::uint64_t(std::to_integer<unsigned>(bytes[i * 8 + b])) << (8 * b);
    }
    std::uint64_t x = w ^ (i * 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    sum += x ^ (x >> 31);
  }
  return sum;
}

TEST(HostChecksum, MatchesTheDefinitionForEveryTailLength) {
  const auto data = test::random_bytes(4096 + 7, test::test_seed());
  for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 4096u, 4103u}) {
    SCOPED_TRACE(n);
    EXPECT_EQ(gpu::host_checksum(std::span(data).first(n)),
              reference_checksum(std::span(data).first(n)));
  }
}

TEST(HostChecksum, PiecesAtWordBoundariesAddUp) {
  const auto data = test::random_bytes(1 << 20, test::test_seed() + 1);
  const std::span<const std::byte> all(data);
  const std::uint64_t whole = gpu::host_checksum(all);
  for (std::size_t cut : {8u, 4096u, 65536u + 8u, (1u << 20) - 8u}) {
    SCOPED_TRACE(cut);
    EXPECT_EQ(gpu::host_checksum(all.first(cut)) + gpu::host_checksum(all.subspan(cut), cut / 8),
              whole);
  }
}

TEST(HostChecksum, DetectsSwappedWordsAndFlippedBits) {
  auto data = test::random_bytes(1024, test::test_seed() + 2);
  const std::uint64_t before = gpu::host_checksum(data);
  auto swapped = data;
  std::swap_ranges(swapped.begin() + 64, swapped.begin() + 72, swapped.begin() + 512);
  ASSERT_NE(swapped, data);
  EXPECT_NE(gpu::host_checksum(swapped), before);
  for (std::size_t bit : {0u, 7u, 4000u, 8191u}) {
    auto flipped = data;
    flipped[bit / 8] ^= std::byte(1u << (bit % 8));
    EXPECT_NE(gpu::host_checksum(flipped), before) << "bit " << bit;
  }
  // A zero byte more is a word more: the length is part of what is checked.
  auto longer = data;
  longer.push_back(std::byte{0});
  EXPECT_NE(gpu::host_checksum(longer), before);
}

TEST(FileChecksum, EqualsTheHostChecksumOfTheRange) {
  test::temp_dir dir;
  const auto data = test::random_bytes((3 << 20) + 11, test::test_seed() + 3);
  auto fd = test::write_file(dir / "f", data);
  EXPECT_EQ(*gpu::file_checksum(fd.get(), 0, data.size()), gpu::host_checksum(data));
  EXPECT_EQ(*gpu::file_checksum(fd.get(), 4097, 1 << 20),
            gpu::host_checksum(std::span(data).subspan(4097, 1 << 20)));
  EXPECT_EQ(*gpu::file_checksum(fd.get(), data.size(), 0), 0u);
}

TEST(FileChecksum, RangePastTheEndIsAnError) {
  test::temp_dir dir;
  const auto data = test::random_bytes(5000, test::test_seed() + 4);
  auto fd = test::write_file(dir / "f", data);
  auto r = gpu::file_checksum(fd.get(), 4000, 1001);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(errc::unexpected_eof));
}

TEST(FileChecksum, MmapFailureIsReported) {
  test::temp_dir dir;
  const auto data = test::random_bytes(5000, test::test_seed() + 5);
  auto fd = test::write_file(dir / "f", data);
  test::fault_scope faults;
  faults.mmap({.error = ENOMEM});
  auto r = gpu::file_checksum(fd.get(), 0, data.size());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::not_enough_memory);
}

TEST(LoadMethods, NamesRoundTrip) {
  for (auto m : {gpu::load_method::automatic, gpu::load_method::registered,
                 gpu::load_method::bounce, gpu::load_method::cufile, gpu::load_method::naive}) {
    EXPECT_EQ(gpu::parse_load_method(gpu::to_string(m)), m);
  }
  EXPECT_FALSE(gpu::parse_load_method("mmap"));
}

// Where no device can be used (no CUDA in the build, or no driver or GPU), every device call says
// so with errc::gpu_unavailable instead of failing some other way.
class WithoutDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if (gpu::device_count()) GTEST_SKIP() << "a CUDA device is present (tests/gpu/device_test.cpp)";
  }
};

TEST_F(WithoutDevice, EveryDeviceCallAnswersGpuUnavailable) {
  const auto unavailable = make_error_code(errc::gpu_unavailable);
  EXPECT_EQ(gpu::device_count().error(), unavailable);
  EXPECT_EQ(gpu::device_buffer::allocate(4096).error(), unavailable);
  test::temp_dir dir;
  const auto data = test::random_bytes(8192, test::test_seed() + 6);
  auto fd = test::write_file(dir / "f", data);
  std::byte host[16];
  EXPECT_EQ(gpu::load(fd.get(), 0, data.size(), host).error(), unavailable);
  EXPECT_EQ(gpu::device_checksum(host, sizeof host).error(), unavailable);
  auto st = test::make_safetensors(test::random_tensors(test::test_seed()));
  test::write_file(dir / "m.safetensors", st);
  auto checkpoint = gpu::load_safetensors(dir / "m.safetensors");
  ASSERT_FALSE(checkpoint);
  EXPECT_EQ(checkpoint.error().code, unavailable);
}

TEST_F(WithoutDevice, CliLoadAndBenchSaySoAndExitOne) {
  test::temp_dir dir;
  const auto data = test::random_bytes(8192, test::test_seed() + 7);
  test::write_file(dir / "f", data);
  for (const char* sub : {"load", "bench"}) {
    const auto r = test::run_zcopy({"gpu", sub, (dir / "f").string()});
    EXPECT_EQ(r.exit_code, 1) << sub << ": " << r.err;
    EXPECT_NE(r.err.find(gpu::built_with_cuda() ? "no usable GPU" : "built without CUDA"),
              std::string::npos)
        << r.err;
  }
}

}  // namespace
}  // namespace zcopy
