// The host side of the load checksum (zcopy/gpu.hpp): built with or without CUDA.
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "gpu/checksum_mix.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"
#include "zcopy/gpu.hpp"
#include "zcopy/gpu_plan.hpp"
#include "zcopy/mapping.hpp"

namespace zcopy::gpu {

std::uint64_t host_checksum(std::span<const std::byte> bytes, std::uint64_t word_index) noexcept {
  static_assert(std::endian::native == std::endian::little,
                "the checksum reads little-endian words");
  std::uint64_t sum = 0;
  const std::size_t whole = bytes.size() / 8;
  for (std::size_t i = 0; i < whole; ++i) {
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + i * 8, 8);
    sum += detail::checksum_mix(word, word_index + i);
  }
  if (const std::size_t tail = bytes.size() % 8; tail != 0) {
    std::uint64_t word = 0;
    std::memcpy(&word, bytes.data() + whole * 8, tail);
    sum += detail::checksum_mix(word, word_index + whole);
  }
  return sum;
}

std::expected<std::uint64_t, std::error_code> file_checksum(int fd, std::uint64_t offset,
                                                            std::uint64_t length) {
  // Mapped a window at a time; a window is a multiple of 8 bytes, so the pieces add up.
  constexpr std::uint64_t window = std::uint64_t{256} << 20;
  auto st = sys::fstat(fd);
  if (!st) return std::unexpected(st.error());
  const auto size = static_cast<std::uint64_t>(st->st_size);
  if (offset > size || length > size - offset) {
    return std::unexpected(make_error_code(errc::unexpected_eof));
  }
  std::uint64_t sum = 0;
  for (std::uint64_t done = 0; done < length;) {
    const std::uint64_t n = std::min(window, length - done);
    auto m = mapping::map(fd, map_access::read_only, offset + done, static_cast<std::size_t>(n));
    if (!m) return std::unexpected(m.error());
    (void)m->advise(map_advice::sequential);
    sum += host_checksum(m->bytes(), done / 8);
    // A file truncated under the mapping reads as zeros past its end: report it, not a sum.
    if (m->truncated()) return std::unexpected(make_error_code(errc::source_truncated));
    done += n;
  }
  return sum;
}

}  // namespace zcopy::gpu
