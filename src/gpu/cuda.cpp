// The CUDA runtime wrappers of src/gpu/cuda.hpp.
#include "gpu/cuda.hpp"

#include <string>

#include "zcopy/error.hpp"

namespace zcopy::gpu::cuda {
namespace {

class cuda_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "cuda"; }
  std::string message(int value) const override {
    const auto e = static_cast<cudaError_t>(value);
    return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
  }
};

constexpr hook_table real_table{
    .host_register = &cudaHostRegister,
    .host_unregister = &cudaHostUnregister,
    .host_alloc = &cudaHostAlloc,
    .malloc = &cudaMalloc,
};

hook_table live_table = real_table;

}  // namespace

const std::error_category& category() noexcept {
  static const cuda_category instance;
  return instance;
}

hook_table& hooks() noexcept {
  return live_table;
}
void restore_hooks() noexcept {
  live_table = real_table;
}

std::expected<int, std::error_code> device_count() {
  int n = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess) {
    (void)cudaGetLastError();  // not sticky, but do not leave it for the next call to find
    return std::unexpected(make_error_code(errc::gpu_unavailable));
  }
  if (n == 0) return std::unexpected(make_error_code(errc::gpu_unavailable));
  return n;
}

std::expected<stream, std::error_code> make_stream() {
  cudaStream_t s = nullptr;
  if (auto r = check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); !r) {
    return std::unexpected(r.error());
  }
  return stream(s);
}

std::expected<event, std::error_code> make_event() {
  cudaEvent_t e = nullptr;
  if (auto r = check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming)); !r) {
    return std::unexpected(r.error());
  }
  return event(e);
}

pinned_buffer::~pinned_buffer() {
  if (p_ != nullptr) (void)cudaFreeHost(p_);
}

std::expected<pinned_buffer, std::error_code> pinned_buffer::allocate(std::size_t bytes) {
  pinned_buffer b;
  void* p = nullptr;
  if (auto r = check(hooks().host_alloc(&p, bytes, cudaHostAllocDefault)); !r) {
    return std::unexpected(r.error());
  }
  b.p_ = static_cast<std::byte*>(p);
  b.n_ = bytes;
  return b;
}

host_registration& host_registration::operator=(host_registration&& o) noexcept {
  if (this != &o) {
    if (p_ != nullptr) (void)hooks().host_unregister(p_);
    p_ = o.p_;
    o.p_ = nullptr;
  }
  return *this;
}

host_registration::~host_registration() {
  if (p_ != nullptr) (void)hooks().host_unregister(p_);
}

std::expected<host_registration, std::error_code> host_registration::make(void* ptr,
                                                                          std::size_t bytes,
                                                                          unsigned flags) {
  if (auto r = check(hooks().host_register(ptr, bytes, flags)); !r) {
    (void)cudaGetLastError();
    return std::unexpected(r.error());
  }
  host_registration h;
  h.p_ = ptr;
  return h;
}

}  // namespace zcopy::gpu::cuda
