// The CUDA runtime as the loaders use it: errors as std::error_code, the few calls a test needs to
// refuse (registration, pinned allocation, device allocation) behind a replaceable table (the
// same seam src/sys gives system calls), and RAII for streams, events and pinned buffers.
// Internal; only built with ZCOPY_WITH_CUDA.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <expected>
#include <system_error>
#include <utility>

namespace zcopy::gpu::cuda {

const std::error_category& category() noexcept;

inline std::error_code code(cudaError_t e) noexcept {
  return {static_cast<int>(e), category()};
}

// cudaSuccess, or the error as std::unexpected (so `if (auto r = check(...); !r)` reads well).
inline std::expected<void, std::error_code> check(cudaError_t e) noexcept {
  if (e == cudaSuccess) return {};
  return std::unexpected(code(e));
}

struct hook_table {
  cudaError_t (*host_register)(void* ptr, size_t size, unsigned flags);
  cudaError_t (*host_unregister)(void* ptr);
  cudaError_t (*host_alloc)(void** ptr, size_t size, unsigned flags);
  cudaError_t (*malloc)(void** ptr, size_t size);
};

// The live table; tests assign entries and put them back with restore_hooks().
hook_table& hooks() noexcept;
void restore_hooks() noexcept;

// The device count, or errc::gpu_unavailable (no driver, a driver older than the runtime, no
// device).
std::expected<int, std::error_code> device_count();

// A CUDA handle (stream, event) destroyed by `destroy` with its owner. Move-only.
template <typename Handle, cudaError_t (*destroy)(Handle)>
class owned_handle {
 public:
  owned_handle() noexcept = default;
  explicit owned_handle(Handle h) noexcept : h_(h) {}
  owned_handle(const owned_handle&) = delete;
  owned_handle& operator=(const owned_handle&) = delete;
  owned_handle(owned_handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  // Swaps: the moved-from object releases what this one held.
  owned_handle& operator=(owned_handle&& o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  ~owned_handle() {
    if (h_ != nullptr) (void)destroy(h_);
  }
  Handle get() const noexcept { return h_; }

 private:
  Handle h_ = nullptr;
};

using stream = owned_handle<cudaStream_t, &cudaStreamDestroy>;
using event = owned_handle<cudaEvent_t, &cudaEventDestroy>;

// A stream that does not synchronise with the legacy default stream.
std::expected<stream, std::error_code> make_stream();
// An event without timing (cheaper to record and wait for).
std::expected<event, std::error_code> make_event();

// cudaHostAlloc'd (page-locked) host memory: page-aligned, so O_DIRECT reads can land in it.
class pinned_buffer {
 public:
  pinned_buffer() noexcept = default;
  pinned_buffer(const pinned_buffer&) = delete;
  pinned_buffer& operator=(const pinned_buffer&) = delete;
  pinned_buffer(pinned_buffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; }
  pinned_buffer& operator=(pinned_buffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  ~pinned_buffer();
  static std::expected<pinned_buffer, std::error_code> allocate(std::size_t bytes);
  std::byte* data() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }

 private:
  std::byte* p_ = nullptr;
  std::size_t n_ = 0;
};

// A registration of host memory (cudaHostRegister), undone on destruction.
class host_registration {
 public:
  host_registration() noexcept = default;
  host_registration(const host_registration&) = delete;
  host_registration& operator=(const host_registration&) = delete;
  host_registration(host_registration&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  host_registration& operator=(host_registration&& o) noexcept;
  ~host_registration();
  static std::expected<host_registration, std::error_code> make(void* ptr, std::size_t bytes,
                                                                unsigned flags);

 private:
  void* p_ = nullptr;
};

}  // namespace zcopy::gpu::cuda
