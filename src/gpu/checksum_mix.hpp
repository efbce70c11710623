// The per-word step of zcopy::gpu::host_checksum / device_checksum, shared by the host code and
// the CUDA kernel so both sides compute the same function by construction.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ZCOPY_HOST_DEVICE __host__ __device__
#else
#define ZCOPY_HOST_DEVICE
#endif

namespace zcopy::gpu::detail {

// splitmix64's finalizer of the word xor its index times 2^64/phi: a word moved to another
// index, or two words swapped, changes the sum.
ZCOPY_HOST_DEVICE inline std::uint64_t checksum_mix(std::uint64_t word, std::uint64_t index) {
  std::uint64_t x = word ^ (index * 0x9E3779B97F4A7C15ull);
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

}  // namespace zcopy::gpu::detail
