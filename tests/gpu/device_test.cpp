// The device loaders on a real GPU (ctest label `gpu`; every test skips where no CUDA device can
// be used). Each load is checked twice: the device-side checksum against the host's, and the
// bytes copied back against the file's. Fault injection goes through the system-call table and
// the CUDA seam of src/gpu/cuda.hpp.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <tuple>

#include "gpu/cuda.hpp"
#include "gpu/safetensors_writer.hpp"
#include "support/test_support.hpp"
#include "zcopy/error.hpp"
#include "zcopy/gpu.hpp"

namespace zcopy {
namespace {

class Device : public ::testing::Test {
 protected:
  void SetUp() override {
    auto n = gpu::device_count();
    if (!n) GTEST_SKIP() << "no CUDA device: " << n.error().message();
  }
  void TearDown() override { gpu::cuda::restore_hooks(); }

  // A file of random bytes with an odd size, written through the page cache (so: warm).
  void make_file(std::size_t size, std::uint64_t seed_offset = 0) {
    data_ = test::random_bytes(size, test::test_seed() + seed_offset);
    fd_ = test::write_file(dir_ / "data", data_);
  }
  void drop_cache() {
    ASSERT_EQ(::fdatasync(fd_.get()), 0);
    ASSERT_EQ(::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_DONTNEED), 0);
  }

  // Loads [offset, offset + length) and checks it on the device and byte for byte.
  gpu::load_report load_and_check(std::uint64_t offset, std::uint64_t length,
                                  const gpu::load_options& options) {
    SCOPED_TRACE(testing::Message() << "offset " << offset << " length " << length << " method "
                                    << gpu::to_string(options.method));
    auto buffer = gpu::device_buffer::allocate(length);
    EXPECT_TRUE(buffer);
    if (!buffer) return {};
    EXPECT_TRUE(buffer->fill(std::byte{0x5A}));
    auto report = gpu::load(fd_.get(), offset, length, buffer->data(), options);
    EXPECT_TRUE(report) << report.error().message();
    if (!report) return {};
    EXPECT_EQ(report->bytes, length);
    const std::span<const std::byte> expected = std::span(data_).subspan(offset, length);
    auto sum = gpu::device_checksum(buffer->data(), length);
    EXPECT_TRUE(sum);
    if (sum) {
      EXPECT_EQ(*sum, gpu::host_checksum(expected));
    }
    std::vector<std::byte> back(length);
    EXPECT_TRUE(buffer->copy_to_host(0, back));
    EXPECT_TRUE(test::same_bytes(expected, back));
    return *report;
  }

  test::temp_dir dir_;
  std::vector<std::byte> data_;
  unique_fd fd_;
};

gpu::load_options small_chunks(gpu::load_method m) {
  return gpu::load_options{.method = m, .chunk_size = 1 << 20, .threads = 3};
}

class DeviceMethods : public Device,
                      public ::testing::WithParamInterface<std::tuple<gpu::load_method, bool>> {};

// Whole file, a range starting and ending mid-page, one byte, a range shorter than a word: warm
// and cold, with chunks small enough that several threads each take several.
TEST_P(DeviceMethods, LoadsExactlyTheRange) {
  const auto [method, cold] = GetParam();
  make_file((9 << 20) + 4097, cold ? 1 : 0);
  const std::pair<std::uint64_t, std::uint64_t> ranges[] = {
      {0, data_.size()}, {4095, (5 << 20) + 13}, {data_.size() - 1, 1}, {12345, 5}};
  for (const auto& [offset, length] : ranges) {
    if (cold) drop_cache();
    const auto report = load_and_check(offset, length, small_chunks(method));
    if (method != gpu::load_method::automatic && method != gpu::load_method::cufile) {
      EXPECT_EQ(report.method, method) << (report.fallbacks.empty() ? "" : report.fallbacks[0]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllMethods, DeviceMethods,
    ::testing::Combine(::testing::Values(gpu::load_method::automatic, gpu::load_method::registered,
                                         gpu::load_method::bounce, gpu::load_method::cufile,
                                         gpu::load_method::naive),
                       ::testing::Bool()),
    [](const auto& param_info) {
      return std::string(gpu::to_string(std::get<0>(param_info.param))) +
             (std::get<1>(param_info.param) ? "_cold" : "_warm");
    });

// Registering threads and bounce threads share one queue of chunks: whichever way a chunk goes,
// it lands at its place.
TEST_F(Device, RegisteredWithBounceHelpersLoadsExactly) {
  make_file((13 << 20) + 77, 11);
  for (unsigned registering : {1u, 2u, 4u}) {
    SCOPED_TRACE(testing::Message() << registering << " registering");
    auto o = small_chunks(gpu::load_method::registered);
    o.threads = 4;
    o.register_threads = registering;
    const auto report = load_and_check(4099, data_.size() - 4099 - 5, o);
    EXPECT_EQ(report.method, gpu::load_method::registered);
    EXPECT_EQ(report.threads, 4u);
  }
}

TEST_F(Device, AutomaticRegistersACachedFileAndReadsAColdOne) {
  make_file(8 << 20);
  const auto warm = load_and_check(0, data_.size(), {});
  EXPECT_GE(warm.resident_fraction, 0.9);
  EXPECT_EQ(warm.method, gpu::load_method::registered)
      << (warm.fallbacks.empty() ? "" : warm.fallbacks[0]);
  drop_cache();
  const auto cold = load_and_check(0, data_.size(), {});
  EXPECT_LT(cold.resident_fraction, 0.9);
  EXPECT_NE(cold.method, gpu::load_method::registered);
}

TEST_F(Device, BounceUsesDirectIoWhereTheFilesystemAllowsIt) {
  make_file((4 << 20) + 100);
  drop_cache();
  auto o = small_chunks(gpu::load_method::bounce);
  o.direct = gpu::direct_io::always;
  const auto report = load_and_check(100, (3 << 20) + 7, o);
  // tmpfs and some others refuse O_DIRECT: then the report says so and the bytes still arrive.
  if (!report.direct) {
    ASSERT_FALSE(report.fallbacks.empty());
    EXPECT_NE(report.fallbacks[0].find("O_DIRECT"), std::string::npos);
  }
}

TEST_F(Device, RefusedDirectOpenFallsBackToBufferedReads) {
  make_file(3 << 20);
  auto o = small_chunks(gpu::load_method::bounce);
  o.direct = gpu::direct_io::always;
  test::fault_scope faults;
  faults.openat({.error = EINVAL});
  const auto report = load_and_check(0, data_.size(), o);
  EXPECT_FALSE(report.direct);
  ASSERT_EQ(report.fallbacks.size(), 1u);
  EXPECT_NE(report.fallbacks[0].find("O_DIRECT refused"), std::string::npos);
}

TEST_F(Device, RefusedMappingFallsBackToBounce) {
  make_file(3 << 20);
  auto o = small_chunks(gpu::load_method::registered);
  o.direct = gpu::direct_io::never;
  test::fault_scope faults;
  faults.mmap({.error = ENODEV});
  const auto report = load_and_check(0, data_.size(), o);
  EXPECT_EQ(report.method, gpu::load_method::bounce);
  ASSERT_EQ(report.fallbacks.size(), 1u);
  EXPECT_EQ(report.fallbacks[0].rfind("registered: mmap", 0), 0u) << report.fallbacks[0];
}

TEST_F(Device, RefusedRegistrationFallsBackToBounce) {
  make_file((5 << 20) + 3);
  static int registrations;
  registrations = 0;
  // The third registration is refused: chunks already copied are not trusted, all is reloaded.
  gpu::cuda::hooks().host_register = [](void* p, size_t n, unsigned flags) {
    if (++registrations == 3) return cudaErrorNotSupported;
    return cudaHostRegister(p, n, flags);
  };
  auto o = small_chunks(gpu::load_method::registered);
  o.register_threads = o.threads;  // every chunk registered: the third is reached
  const auto report = load_and_check(0, data_.size(), o);
  EXPECT_GE(registrations, 3);
  EXPECT_EQ(report.method, gpu::load_method::bounce);
  ASSERT_FALSE(report.fallbacks.empty());
  EXPECT_NE(report.fallbacks[0].find("cudaHostRegister"), std::string::npos);
}

TEST_F(Device, RefusedPinnedMemoryFallsBackToNaive) {
  make_file((2 << 20) + 9);
  gpu::cuda::hooks().host_alloc = [](void**, size_t, unsigned) {
    return cudaErrorMemoryAllocation;
  };
  const auto report = load_and_check(0, data_.size(), small_chunks(gpu::load_method::bounce));
  EXPECT_EQ(report.method, gpu::load_method::naive);
  ASSERT_FALSE(report.fallbacks.empty());
  EXPECT_NE(report.fallbacks[0].find("cudaHostAlloc"), std::string::npos);
}

TEST_F(Device, ReadErrorsAreReportedNotHidden) {
  make_file(4 << 20);
  auto buffer = gpu::device_buffer::allocate(data_.size());
  ASSERT_TRUE(buffer);
  for (auto method : {gpu::load_method::bounce, gpu::load_method::naive}) {
    test::fault_scope faults;
    faults.pread({.error = EIO, .nth = 2});
    auto o = small_chunks(method);
    o.direct = gpu::direct_io::never;
    auto r = gpu::load(fd_.get(), 0, data_.size(), buffer->data(), o);
    ASSERT_FALSE(r) << gpu::to_string(method);
    EXPECT_EQ(r.error(), std::errc::io_error);
  }
}

TEST_F(Device, BadArgumentsAreRefused) {
  make_file(64 << 10);
  auto buffer = gpu::device_buffer::allocate(data_.size());
  ASSERT_TRUE(buffer);
  EXPECT_EQ(gpu::load(fd_.get(), 1, data_.size(), buffer->data()).error(),
            make_error_code(errc::unexpected_eof));
  std::vector<std::byte> host(data_.size());
  EXPECT_EQ(gpu::load(fd_.get(), 0, data_.size(), host.data()).error(), std::errc::bad_address);
  EXPECT_EQ(gpu::load(fd_.get(), 0, data_.size(), buffer->data(), {.device = 999}).error(),
            std::errc::no_such_device);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  unique_fd r(fds[0]), w(fds[1]);
  EXPECT_EQ(gpu::load(r.get(), 0, 1, buffer->data()).error(),
            make_error_code(errc::method_not_applicable));
}

TEST_F(Device, ChecksumAtAnyAlignmentAndLength) {
  const auto data = test::random_bytes((1 << 20) + 21, test::test_seed() + 9);
  auto buffer = gpu::device_buffer::allocate(data.size());
  ASSERT_TRUE(buffer);
  ASSERT_EQ(cudaMemcpy(buffer->data(), data.data(), data.size(), cudaMemcpyHostToDevice),
            cudaSuccess);
  auto* base = static_cast<const std::byte*>(buffer->data());
  for (std::size_t start : {0u, 1u, 3u, 8u}) {
    for (std::size_t length : {0u, 1u, 7u, 8u, 9u, 4096u + 5u, (1u << 20) + 13u}) {
      const auto sum = gpu::device_checksum(base + start, length);
      ASSERT_TRUE(sum);
      EXPECT_EQ(*sum, gpu::host_checksum(std::span(data).subspan(start, length)))
          << "start " << start << " length " << length;
    }
  }
}

TEST_F(Device, SafetensorsTensorsLandAtTheirPlaces) {
  const auto tensors = test::random_tensors(test::test_seed());
  const auto file = test::make_safetensors(tensors);
  test::write_file(dir_ / "m.safetensors", file);
  auto checkpoint = gpu::load_safetensors(dir_ / "m.safetensors");
  ASSERT_TRUE(checkpoint) << checkpoint.error().message;
  ASSERT_EQ(checkpoint->tensors.size(), tensors.size());
  for (const auto& spec : tensors) {
    const gpu::device_tensor* t = checkpoint->find(spec.name);
    ASSERT_NE(t, nullptr) << spec.name;
    EXPECT_EQ(t->shape, spec.shape);
    EXPECT_EQ(to_string(t->dtype), spec.dtype);
    ASSERT_EQ(t->size, spec.data.size());
    std::vector<std::byte> back(t->size);
    const auto at =
        static_cast<std::size_t>(static_cast<const std::byte*>(t->data) -
                                 static_cast<const std::byte*>(checkpoint->storage.data()));
    ASSERT_TRUE(checkpoint->storage.copy_to_host(at, back));
    EXPECT_TRUE(test::same_bytes(spec.data, back)) << spec.name;
  }
  EXPECT_EQ(checkpoint->find("no such tensor"), nullptr);
}

TEST_F(Device, MalformedSafetensorsIsRefusedBeforeAnyAllocation) {
  test::write_file(
      dir_ / "bad.safetensors",
      test::make_safetensors_raw(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})",
                                 test::random_bytes(8, 1)));
  static int allocations;
  allocations = 0;
  gpu::cuda::hooks().malloc = [](void** p, size_t n) {
    ++allocations;
    return cudaMalloc(p, n);
  };
  auto r = gpu::load_safetensors(dir_ / "bad.safetensors");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, make_error_code(errc::malformed_safetensors));
  EXPECT_NE(r.error().message.find("'w'"), std::string::npos) << r.error().message;
  EXPECT_EQ(allocations, 0);
}

TEST_F(Device, CliLoadVerifiesAndBenchComparesEveryMethod) {
  make_file((6 << 20) + 5);
  auto load = test::run_zcopy({"gpu", "load", (dir_ / "data").string(), "--verify", "--json"});
  ASSERT_EQ(load.exit_code, 0) << load.err;
  EXPECT_NE(load.out.find("\"verified\":true"), std::string::npos) << load.out;
  auto bench = test::run_zcopy(
      {"gpu", "bench", (dir_ / "data").string(), "--rounds", "1", "--chunk-size", "1M"});
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  for (const char* m : {"registered", "bounce", "naive"}) {
    EXPECT_NE(bench.out.find(m), std::string::npos) << bench.out;
  }
  EXPECT_EQ(bench.out.find(" NO"), std::string::npos) << bench.out;
  const auto tensors = test::make_safetensors(test::random_tensors(test::test_seed() + 1));
  test::write_file(dir_ / "m.safetensors", tensors);
  auto st = test::run_zcopy({"gpu", "load", (dir_ / "m.safetensors").string(), "--verify"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  EXPECT_NE(st.out.find("tensors"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("match"), std::string::npos) << st.out;
}

}  // namespace
}  // namespace zcopy
