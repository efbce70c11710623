// zcopy/gpu.hpp in a build without CUDA (ZCOPY_WITH_CUDA off): the API is all there, and every
// call that needs a device answers errc::gpu_unavailable.
#include <utility>

#include "zcopy/error.hpp"
#include "zcopy/gpu.hpp"

namespace zcopy::gpu {
namespace {

std::unexpected<std::error_code> unavailable() {
  return std::unexpected(make_error_code(errc::gpu_unavailable));
}

}  // namespace

bool built_with_cuda() noexcept {
  return false;
}

std::expected<int, std::error_code> device_count() {
  return unavailable();
}

// Never holds memory here: allocate() is the only way to fill one.
device_buffer::device_buffer(device_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      device_(other.device_) {}
device_buffer& device_buffer::operator=(device_buffer&& other) noexcept {
  data_ = std::exchange(other.data_, nullptr);
  size_ = std::exchange(other.size_, 0);
  device_ = other.device_;
  return *this;
}
device_buffer::~device_buffer() = default;

std::expected<device_buffer, std::error_code> device_buffer::allocate(std::size_t, int) {
  return unavailable();
}

std::expected<void, std::error_code> device_buffer::fill(std::byte) {
  return unavailable();
}

std::expected<void, std::error_code> device_buffer::copy_to_host(std::size_t,
                                                                 std::span<std::byte>) const {
  return unavailable();
}

std::expected<load_report, std::error_code> load(int, std::uint64_t, std::uint64_t, void*,
                                                 const load_options&) {
  return unavailable();
}

std::expected<std::uint64_t, std::error_code> device_checksum(const void*, std::uint64_t, int) {
  return unavailable();
}

}  // namespace zcopy::gpu
