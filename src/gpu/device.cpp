// Devices and device memory (zcopy/gpu.hpp), CUDA build.
#include <utility>

#include "gpu/checksum_kernel.hpp"
#include "gpu/cuda.hpp"
#include "zcopy/gpu.hpp"

namespace zcopy::gpu {

bool built_with_cuda() noexcept {
  return true;
}

std::expected<int, std::error_code> device_count() {
  return cuda::device_count();
}

device_buffer::device_buffer(device_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      device_(other.device_) {}

device_buffer& device_buffer::operator=(device_buffer&& other) noexcept {
  if (this != &other) {
    device_buffer old(std::move(*this));
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    device_ = other.device_;
  }
  return *this;
}

device_buffer::~device_buffer() {
  if (data_ != nullptr) {
    // cudaFree frees on the device the pointer belongs to; the current device only matters for
    // which context is made current, so set it like every other call here.
    (void)cudaSetDevice(device_);
    (void)cudaFree(data_);
  }
}

std::expected<device_buffer, std::error_code> device_buffer::allocate(std::size_t bytes,
                                                                      int device) {
  auto n = cuda::device_count();
  if (!n) return std::unexpected(n.error());
  if (device < 0 || device >= *n)
    return std::unexpected(std::make_error_code(std::errc::no_such_device));
  if (auto r = cuda::check(cudaSetDevice(device)); !r) return std::unexpected(r.error());
  device_buffer b;
  void* p = nullptr;
  if (auto r = cuda::check(cuda::hooks().malloc(&p, bytes == 0 ? 1 : bytes)); !r) {
    (void)cudaGetLastError();
    return std::unexpected(r.error());
  }
  b.data_ = p;
  b.size_ = bytes;
  b.device_ = device;
  return b;
}

std::expected<void, std::error_code> device_buffer::fill(std::byte value) {
  if (data_ == nullptr) return {};
  if (auto r = cuda::check(cudaSetDevice(device_)); !r) return r;
  return cuda::check(cudaMemset(data_, static_cast<int>(value), size_));
}

std::expected<void, std::error_code> device_buffer::copy_to_host(std::size_t offset,
                                                                 std::span<std::byte> out) const {
  if (offset > size_ || out.size() > size_ - offset) {
    return std::unexpected(std::make_error_code(std::errc::invalid_argument));
  }
  if (out.empty()) return {};
  if (auto r = cuda::check(cudaSetDevice(device_)); !r) return r;
  return cuda::check(cudaMemcpy(out.data(), static_cast<const std::byte*>(data_) + offset,
                                out.size(), cudaMemcpyDeviceToHost));
}

}  // namespace zcopy::gpu

namespace zcopy::gpu {

std::expected<std::uint64_t, std::error_code> device_checksum(const void* device_src,
                                                              std::uint64_t length, int device) {
  auto out = device_buffer::allocate(sizeof(unsigned long long), device);
  if (!out) return std::unexpected(out.error());
  if (length == 0) return 0;
  auto* sum = static_cast<unsigned long long*>(out->data());
  if (auto r = cuda::check(cudaMemset(sum, 0, sizeof *sum)); !r) return std::unexpected(r.error());
  int multiprocessors = 1;
  (void)cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device);
  if (auto r =
          cuda::check(detail::launch_checksum(device_src, length, multiprocessors, sum, nullptr));
      !r) {
    return std::unexpected(r.error());
  }
  unsigned long long result = 0;
  if (auto r = cuda::check(cudaMemcpy(&result, sum, sizeof result, cudaMemcpyDeviceToHost)); !r) {
    return std::unexpected(r.error());
  }
  return static_cast<std::uint64_t>(result);
}

}  // namespace zcopy::gpu
