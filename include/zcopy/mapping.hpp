// mapping: a memory mapping of a file that the library owns, with msync ("force") and madvise.
//
// A mapping is move-only and unmaps itself. Offsets need not be page-aligned: the mapping starts
// at the page below and `bytes()` begins exactly at the offset asked for.
//
// SIGBUS. Touching a mapped page that lies past the end of the file (because the file was
// truncated after it was mapped) raises SIGBUS, which kills the process by default
// (uutils/sed#443). libzcopy guards its own mappings: a process-wide SIGBUS handler, installed
// the first time a guarded mapping is made, looks the faulting address up among the live guarded
// mappings. When it belongs to one, the handler maps an anonymous zero page over the faulting
// page (MAP_FIXED) and marks the mapping `truncated()`; the faulting instruction then re-runs on
// that page and the program continues. Reads past the new end see zeros, writes there go nowhere,
// and every later `sync()` reports errc::mapping_truncated, so a truncation is reported instead of
// killing the process or silently dropping data. A fault outside guarded mappings is passed on to
// the handler that was installed before (or to the default action, which ends the process as
// usual). The guard is on by default; at most `max_guarded_mappings` mappings are guarded at once
// (more are still made, unguarded, with `guarded()` false).
//
// The read-modify-write helper `modify_file` is the classic example: open, map read-write,
// change in place, msync, unmap.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <system_error>

namespace zcopy {

inline constexpr std::size_t max_guarded_mappings = 1024;

enum class map_access { read_only, read_write };

enum class map_advice { normal, sequential, random, will_need, dont_need, huge_page };

struct map_options {
  bool populate = false;  // MAP_POPULATE: fault the pages in now
  bool guard = true;      // SIGBUS guard (see above)
};

class mapping {
 public:
  mapping() noexcept = default;
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
  mapping(mapping&& other) noexcept;
  mapping& operator=(mapping&& other) noexcept;
  ~mapping();

  // Maps [offset, offset + length) of `fd`; without a length, to the end of the file. A length
  // of zero (or an empty file) gives an empty mapping that maps nothing.
  static std::expected<mapping, std::error_code> map(int fd, map_access access,
                                                     std::uint64_t offset = 0,
                                                     std::optional<std::size_t> length = {},
                                                     map_options options = {});

  std::span<std::byte> bytes() noexcept { return {data_, size_}; }
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  map_access access() const noexcept { return access_; }
  bool guarded() const noexcept { return guard_slot_ >= 0; }
  // True once a SIGBUS on this mapping was absorbed by the guard.
  bool truncated() const noexcept;

  // msync: writes dirty pages of [offset, offset + length) (default: all) back to the file, and
  // with `wait` (MS_SYNC, the default) returns only when they are on stable storage, which is
  // what Java's MappedByteBuffer.force() does. Fails with errc::mapping_truncated after a
  // truncation was absorbed.
  std::expected<void, std::error_code> sync(bool wait = true, std::size_t offset = 0,
                                            std::optional<std::size_t> length = {});
  std::expected<void, std::error_code> advise(map_advice advice, std::size_t offset = 0,
                                              std::optional<std::size_t> length = {});
  // Unmaps now and reports munmap's answer.
  std::error_code unmap() noexcept;

 private:
  void release() noexcept;

  std::byte* base_ = nullptr;  // page-aligned start of the kernel mapping
  std::size_t mapped_ = 0;     // length of the kernel mapping
  std::byte* data_ = nullptr;  // the caller's offset inside it
  std::size_t size_ = 0;
  map_access access_ = map_access::read_only;
  int guard_slot_ = -1;
};

// Read-modify-write of part of a file through a mapping: opens `path` read-write, maps
// [offset, offset + length) (default: to the end), calls `edit` on the bytes, msyncs them to
// stable storage, unmaps. The file is not resized. Fails with errc::mapping_truncated when the
// file shrank under the edit (the edit's bytes past the new end are dropped, not written).
std::expected<void, std::error_code> modify_file(
    const char* path, const std::function<void(std::span<std::byte>)>& edit,
    std::uint64_t offset = 0, std::optional<std::size_t> length = {});

}  // namespace zcopy
