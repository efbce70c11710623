// Shared by the libFuzzer targets in this directory: invariant checks that stop the run with a
// message, and deterministic byte-stream splitting (the same input always gives the same splits,
// so every crash reproduces from its file alone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

// A violated invariant: print what and where, then abort (libFuzzer reports the crash and keeps
// the input).
#define ZCOPY_FUZZ_CHECK(condition)                                                            \
  do {                                                                                         \
    if (!(condition)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

namespace zcopy::fuzz {

// FNV-1a over the input, the seed of `splitter`.
inline std::uint64_t hash(std::string_view data) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// Chunk sizes for feeding a byte stream the way a socket delivers it: mostly small pieces (1 to
// 16 bytes, where parsers keep state across calls), sometimes everything that is left.
class splitter {
 public:
  explicit splitter(std::uint64_t seed) noexcept : state_(seed | 1) {}

  std::uint64_t next() noexcept {  // xorshift64
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }

  std::size_t chunk(std::size_t left) noexcept {
    if (left == 0) return 0;
    const std::uint64_t r = next();
    if (r % 4 == 0) return left;
    const std::size_t n = 1 + static_cast<std::size_t>((r >> 8) % 16);
    return n < left ? n : left;
  }

 private:
  std::uint64_t state_;
};

}  // namespace zcopy::fuzz
