#include "zcopy/aligned_buffer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "sys/sys.hpp"
#include "zcopy/fd.hpp"

namespace zcopy {
namespace {

bool is_power_of_two(std::uint64_t n) noexcept {
  return n != 0 && (n & (n - 1)) == 0;
}

// The kernel's statx(2) ABI: the direct-I/O alignments sit at fixed offsets (Linux 6.1). Kernel
// headers older than 6.1 have neither the mask bit nor the fields.
#ifdef STATX_DIOALIGN
std::uint32_t dio_mem_align(const struct statx& stx) noexcept {
  return stx.stx_dio_mem_align;
}
std::uint32_t dio_offset_align(const struct statx& stx) noexcept {
  return stx.stx_dio_offset_align;
}
#else
#define STATX_DIOALIGN 0x2000U
std::uint32_t field_at(const struct statx& stx, std::size_t offset) noexcept {
  std::uint32_t value = 0;
  std::memcpy(&value, reinterpret_cast<const char*>(&stx) + offset, sizeof value);
  return value;
}
std::uint32_t dio_mem_align(const struct statx& stx) noexcept {
  return field_at(stx, 0x98);
}
std::uint32_t dio_offset_align(const struct statx& stx) noexcept {
  return field_at(stx, 0x9c);
}
#endif

std::optional<std::uint32_t> read_block_size(const std::string& path) {
  auto fd = unique_fd::open(path.c_str(), O_RDONLY);
  if (!fd) return std::nullopt;
  char text[32];
  auto n = sys::read(fd->get(), text, sizeof text);
  if (!n) return std::nullopt;
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(text, text + *n, value);
  if (ec != std::errc{} || end == text || !is_power_of_two(value)) return std::nullopt;
  return value;
}

// The logical block size of the block device `dev`, from sysfs. A partition has no queue/ of
// its own; its parent disk (one directory up from the partition's sysfs entry) has.
std::optional<std::uint32_t> logical_block_size(dev_t dev) {
  const std::string entry =
      "/sys/dev/block/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  if (auto size = read_block_size(entry + "/queue/logical_block_size")) return size;
  return read_block_size(entry + "/../queue/logical_block_size");
}

}  // namespace

std::expected<direct_io_alignment, std::error_code> query_direct_io_alignment(int fd) {
  direct_io_alignment alignment;
  struct statx stx {};
  auto queried = sys::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx);
  if (queried && (stx.stx_mask & STATX_DIOALIGN) != 0) {
    alignment.from_statx = true;
    const std::uint32_t memory = dio_mem_align(stx);
    const std::uint32_t offset = dio_offset_align(stx);
    // Zeros mean the file cannot be opened O_DIRECT (ext4 with data=journal, some FUSE files).
    if (memory == 0 || offset == 0) {
      alignment.supported = false;
    } else {
      alignment.memory = memory;
      alignment.offset = offset;
    }
    return alignment;
  }
  if (!queried && queried.error() == std::errc::bad_file_descriptor) {
    return std::unexpected(queried.error());
  }
  // statx is missing (before 4.11, or seccomp says ENOSYS/EPERM) or the kernel predates
  // STATX_DIOALIGN (6.1), or the filesystem does not say: the device's logical block size is the
  // rule O_DIRECT followed before 6.1.
  auto st = sys::fstat(fd);
  if (!st) return std::unexpected(st.error());
  const dev_t device = S_ISBLK(st->st_mode) ? st->st_rdev : st->st_dev;
  if (auto size = logical_block_size(device)) {
    alignment.memory = *size;
    alignment.offset = *size;
  }
  return alignment;
}

aligned_buffer::aligned_buffer(aligned_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      alignment_(std::exchange(other.alignment_, 0)) {}

aligned_buffer& aligned_buffer::operator=(aligned_buffer&& other) noexcept {
  if (this != &other) {
    aligned_buffer old(std::move(*this));  // frees what this buffer held when it goes
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    alignment_ = std::exchange(other.alignment_, 0);
  }
  return *this;
}

aligned_buffer::~aligned_buffer() {
  std::free(data_);
}

std::expected<aligned_buffer, std::error_code> aligned_buffer::allocate(std::size_t size,
                                                                        std::size_t alignment) {
  if (!is_power_of_two(alignment)) {
    return std::unexpected(std::make_error_code(std::errc::invalid_argument));
  }
  if (size > std::numeric_limits<std::size_t>::max() - (alignment - 1)) {
    return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
  }
  aligned_buffer buffer;
  buffer.alignment_ = alignment;
  const std::size_t rounded = (size + alignment - 1) & ~(alignment - 1);
  if (rounded == 0) return buffer;
  void* memory = nullptr;
  // posix_memalign wants at least pointer alignment; a stricter one still satisfies the caller.
  if (int e = ::posix_memalign(&memory, std::max(alignment, sizeof(void*)), rounded); e != 0) {
    return std::unexpected(std::error_code(e, std::system_category()));
  }
  buffer.data_ = static_cast<std::byte*>(memory);
  buffer.size_ = rounded;
  return buffer;
}

}  // namespace zcopy
