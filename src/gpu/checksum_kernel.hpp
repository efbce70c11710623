// The checksum kernel's launcher (checksum_kernel.cu), declared without the C++23 library so the
// CUDA compiler, whose language level may be older than the rest of the build, compiles only
// the kernel and this.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace zcopy::gpu::detail {

// Adds the checksum of `length` bytes at `device_src` to `*device_sum` (device memory, zeroed by
// the caller) on `stream`; `multiprocessors` sizes the grid. The launch's error.
cudaError_t launch_checksum(const void* device_src, std::uint64_t length, int multiprocessors,
                            unsigned long long* device_sum, cudaStream_t stream);

}  // namespace zcopy::gpu::detail
