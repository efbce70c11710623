// aligned_buffer: memory aligned for O_DIRECT, and the alignment a file asks for.
//
// O_DIRECT transfers go straight between the device and user memory, so the memory address, the
// file offset and the length must all be aligned. Linux 6.1+ reports both alignments through
// statx(STATX_DIOALIGN); before that (or on filesystems that do not say) the logical block size
// of the device the file lives on is the rule, read from sysfs, and 4096 when even that is
// unknown (what Seastar assumes). Alignment is part of the buffer: an aligned_buffer knows it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <system_error>

namespace zcopy {

struct direct_io_alignment {
  std::uint32_t memory = 4096;  // buffer address alignment
  std::uint32_t offset = 4096;  // file offset and length alignment
  bool supported = true;        // false when statx says the file does not support O_DIRECT
  bool from_statx = false;      // true when the kernel reported it (STATX_DIOALIGN)
};

// The direct-I/O alignment for `fd` (which need not be opened with O_DIRECT).
std::expected<direct_io_alignment, std::error_code> query_direct_io_alignment(int fd);

class aligned_buffer {
 public:
  aligned_buffer() noexcept = default;
  aligned_buffer(const aligned_buffer&) = delete;
  aligned_buffer& operator=(const aligned_buffer&) = delete;
  aligned_buffer(aligned_buffer&& other) noexcept;
  aligned_buffer& operator=(aligned_buffer&& other) noexcept;
  ~aligned_buffer();

  // `size` is rounded up to a multiple of `alignment` (a power of two).
  static std::expected<aligned_buffer, std::error_code> allocate(std::size_t size,
                                                                 std::size_t alignment);

  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t alignment() const noexcept { return alignment_; }
  std::span<std::byte> bytes() noexcept { return {data_, size_}; }

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t alignment_ = 0;
};

}  // namespace zcopy
