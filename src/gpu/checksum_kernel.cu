// The device side of the load checksum (zcopy/gpu.hpp): one pass over device memory, each thread
// summing the mixed words of a grid-stride slice, warps reducing with shuffles, one atomic add
// per warp.
#include <cstdint>

#include "gpu/checksum_kernel.hpp"
#include "gpu/checksum_mix.hpp"

namespace zcopy::gpu::detail {
namespace {

constexpr unsigned block_threads = 256;

__device__ void add_warp_sum(std::uint64_t sum, unsigned long long* out) {
  for (int delta = 16; delta > 0; delta /= 2) sum += __shfl_down_sync(0xffffffffu, sum, delta);
  if ((threadIdx.x & 31u) == 0) atomicAdd(out, static_cast<unsigned long long>(sum));
}

// Whole 8-byte words at an 8-byte-aligned address.
__global__ void sum_words(const std::uint64_t* words, std::uint64_t count,
                          unsigned long long* out) {
  std::uint64_t sum = 0;
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    sum += checksum_mix(words[i], i);
  }
  add_warp_sum(sum, out);
}

// Any address and length: words assembled byte by byte (little-endian, the last one padded with
// zeros), indices counted from `first_index`.
__global__ void sum_bytes(const unsigned char* bytes, std::uint64_t length,
                          std::uint64_t first_index, unsigned long long* out) {
  std::uint64_t sum = 0;
  const std::uint64_t count = (length + 7) / 8;
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    std::uint64_t word = 0;
    for (unsigned b = 0; b < 8; ++b) {
      const std::uint64_t at = i * 8 + b;
      if (at < length) word |= std::uint64_t{bytes[at]} << (8 * b);
    }
    sum += checksum_mix(word, first_index + i);
  }
  add_warp_sum(sum, out);
}

unsigned grid_for(std::uint64_t words, int multiprocessors) {
  const std::uint64_t wanted = (words + block_threads - 1) / block_threads;
  const std::uint64_t cap = std::uint64_t(multiprocessors > 0 ? multiprocessors : 1) * 8;
  return static_cast<unsigned>(wanted == 0 ? 1 : (wanted < cap ? wanted : cap));
}

}  // namespace

cudaError_t launch_checksum(const void* device_src, std::uint64_t length, int multiprocessors,
                            unsigned long long* device_sum, cudaStream_t stream) {
  const auto* bytes = static_cast<const unsigned char*>(device_src);
  if (reinterpret_cast<std::uintptr_t>(bytes) % 8 == 0) {
    const std::uint64_t whole = length / 8;
    if (whole != 0) {
      sum_words<<<grid_for(whole, multiprocessors), block_threads, 0, stream>>>(
          reinterpret_cast<const std::uint64_t*>(bytes), whole, device_sum);
    }
    if (const std::uint64_t tail = length % 8; tail != 0) {
      sum_bytes<<<1, 32, 0, stream>>>(bytes + whole * 8, tail, whole, device_sum);
    }
  } else {
    sum_bytes<<<grid_for((length + 7) / 8, multiprocessors), block_threads, 0, stream>>>(
        bytes, length, 0, device_sum);
  }
  return cudaGetLastError();
}

}  // namespace zcopy::gpu::detail
