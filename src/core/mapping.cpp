#include "zcopy/mapping.hpp"

#include <linux/fs.h>
#include <sys/mman.h>
#include <unistd.h>

#include <limits>
#include <utility>

#include "core/sigbus_guard.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"
#include "zcopy/fd.hpp"

namespace zcopy {
namespace {

std::size_t page_size() noexcept {
  static const auto size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

std::unexpected<std::error_code> fail(std::errc e) {
  return std::unexpected(make_error_code(e));
}
std::unexpected<std::error_code> fail(errc e) {
  return std::unexpected(make_error_code(e));
}

// Bytes a mapping of `fd` can cover: st_size, or for a block device (whose st_size is 0) the
// device size.
std::expected<std::uint64_t, std::error_code> mappable_size(int fd) {
  auto st = sys::fstat(fd);
  if (!st) return std::unexpected(st.error());
  if (S_ISBLK(st->st_mode)) {
    std::uint64_t bytes = 0;
    if (auto r = sys::ioctl(fd, BLKGETSIZE64, &bytes); !r) return std::unexpected(r.error());
    return bytes;
  }
  return st->st_size > 0 ? static_cast<std::uint64_t>(st->st_size) : 0;
}

// The page-aligned kernel range that covers [data + offset, data + offset + length).
struct page_range {
  void* start;
  std::size_t length;
};

std::expected<page_range, std::error_code> pages_of(std::byte* data, std::size_t size,
                                                    std::size_t offset,
                                                    std::optional<std::size_t> length) {
  if (offset > size || (length && *length > size - offset)) {
    return fail(std::errc::invalid_argument);
  }
  const std::size_t count = length.value_or(size - offset);
  const auto first = reinterpret_cast<std::uintptr_t>(data + offset);
  const std::uintptr_t aligned = first & ~(std::uintptr_t{page_size()} - 1);
  return page_range{reinterpret_cast<void*>(aligned), count == 0 ? 0 : count + (first - aligned)};
}

int to_madvise(map_advice advice) noexcept {
  switch (advice) {
    case map_advice::normal:
      return MADV_NORMAL;
    case map_advice::sequential:
      return MADV_SEQUENTIAL;
    case map_advice::random:
      return MADV_RANDOM;
    case map_advice::will_need:
      return MADV_WILLNEED;
    case map_advice::dont_need:
      return MADV_DONTNEED;
    case map_advice::huge_page:
      return MADV_HUGEPAGE;
  }
  return MADV_NORMAL;
}

}  // namespace

mapping::mapping(mapping&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      mapped_(std::exchange(other.mapped_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      access_(other.access_),
      guard_slot_(std::exchange(other.guard_slot_, -1)) {}

mapping& mapping::operator=(mapping&& other) noexcept {
  if (this != &other) {
    release();
    base_ = std::exchange(other.base_, nullptr);
    mapped_ = std::exchange(other.mapped_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    access_ = other.access_;
    guard_slot_ = std::exchange(other.guard_slot_, -1);
  }
  return *this;
}

mapping::~mapping() {
  release();
}

std::expected<mapping, std::error_code> mapping::map(int fd, map_access access,
                                                     std::uint64_t offset,
                                                     std::optional<std::size_t> length,
                                                     map_options options) {
  mapping m;
  m.access_ = access;
  std::uint64_t size = 0;
  if (length) {
    size = *length;
  } else {
    auto end = mappable_size(fd);
    if (!end) return std::unexpected(end.error());
    size = offset < *end ? *end - offset : 0;
  }
  // mmap(2) rejects a zero length; an empty mapping needs no kernel object at all.
  if (size == 0) return m;

  const std::uint64_t page = page_size();
  const std::uint64_t aligned_offset = offset & ~(page - 1);
  const std::uint64_t lead = offset - aligned_offset;
  if (aligned_offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
    return fail(std::errc::value_too_large);
  }
  if (size > std::numeric_limits<std::size_t>::max() - lead - page) {
    return fail(std::errc::not_enough_memory);
  }
  const std::size_t span = static_cast<std::size_t>(lead + size);
  const int prot = access == map_access::read_write ? PROT_READ | PROT_WRITE : PROT_READ;
  const int flags = MAP_SHARED | (options.populate ? MAP_POPULATE : 0);
  auto base = sys::mmap(nullptr, span, prot, flags, fd, static_cast<off_t>(aligned_offset));
  if (!base) return std::unexpected(base.error());

  m.base_ = static_cast<std::byte*>(*base);
  m.mapped_ = (span + page - 1) & ~(page - 1);
  m.data_ = m.base_ + lead;
  m.size_ = static_cast<std::size_t>(size);
  if (options.guard) m.guard_slot_ = detail::sigbus_guard_register(m.base_, m.mapped_, prot);
  return m;
}

bool mapping::truncated() const noexcept {
  return guard_slot_ >= 0 && detail::sigbus_guard_truncated(guard_slot_);
}

std::expected<void, std::error_code> mapping::sync(bool wait, std::size_t offset,
                                                   std::optional<std::size_t> length) {
  auto range = pages_of(data_, size_, offset, length);
  if (!range) return std::unexpected(range.error());
  if (range->length != 0) {
    // Flushed even after a truncation: the pages still inside the file are worth keeping. msync
    // skips the guard's anonymous pages.
    auto r = sys::msync(range->start, range->length, wait ? MS_SYNC : MS_ASYNC);
    if (!r && !truncated()) return r;
  }
  if (truncated()) return fail(errc::mapping_truncated);
  return {};
}

std::expected<void, std::error_code> mapping::advise(map_advice advice, std::size_t offset,
                                                     std::optional<std::size_t> length) {
  auto range = pages_of(data_, size_, offset, length);
  if (!range) return std::unexpected(range.error());
  if (range->length == 0) return {};
  return sys::madvise(range->start, range->length, to_madvise(advice));
}

std::error_code mapping::unmap() noexcept {
  // The guard lets go first: once the range is unmapped, its addresses may be reused by anyone.
  if (guard_slot_ >= 0) detail::sigbus_guard_unregister(std::exchange(guard_slot_, -1));
  std::error_code ec;
  if (base_ != nullptr) {
    if (auto r = sys::munmap(base_, mapped_); !r) ec = r.error();
  }
  base_ = nullptr;
  mapped_ = 0;
  data_ = nullptr;
  size_ = 0;
  return ec;
}

void mapping::release() noexcept {
  (void)unmap();
}

std::expected<void, std::error_code> modify_file(
    const char* path, const std::function<void(std::span<std::byte>)>& edit, std::uint64_t offset,
    std::optional<std::size_t> length) {
  auto fd = unique_fd::open(path, O_RDWR);
  if (!fd) return std::unexpected(fd.error());
  auto before = mappable_size(fd->get());
  if (!before) return std::unexpected(before.error());
  const std::uint64_t available = offset < *before ? *before - offset : 0;
  // The file is never grown, so a range past its end is the caller's mistake, not a truncation.
  if (length && *length > available) return fail(std::errc::invalid_argument);
  const auto size = static_cast<std::size_t>(length.value_or(available));

  auto m = mapping::map(fd->get(), map_access::read_write, offset, size);
  if (!m) return std::unexpected(m.error());
  edit(m->bytes());
  if (auto synced = m->sync(); !synced) return synced;
  // A shrink the edit never touched raises no SIGBUS (or only drops bytes in the last, partly
  // valid page), so the size tells what the guard cannot.
  auto after = mappable_size(fd->get());
  if (!after) return std::unexpected(after.error());
  if (size != 0 && *after < offset + size) return fail(errc::mapping_truncated);
  if (auto ec = m->unmap()) return std::unexpected(ec);
  return {};
}

}  // namespace zcopy
