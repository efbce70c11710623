// Chunk planning and page-cache residency for the GPU loaders (zcopy/gpu_plan.hpp).
#include "zcopy/gpu_plan.hpp"

#include <unistd.h>

#include <algorithm>
#include <cassert>

#include "sys/sys.hpp"
#include "zcopy/mapping.hpp"

namespace zcopy {
namespace {

// The window residency() maps at once: bounds the mapping and the mincore vector (256 KiB).
constexpr std::uint64_t residency_window = std::uint64_t{1} << 30;

}  // namespace

std::vector<file_chunk> plan_chunks(std::uint64_t offset, std::uint64_t length,
                                    std::uint64_t chunk_size, std::uint64_t page_size) {
  assert(page_size != 0 && (page_size & (page_size - 1)) == 0);
  assert(chunk_size != 0);
  assert(offset + length >= offset);
  std::vector<file_chunk> chunks;
  if (length == 0) return chunks;
  const std::uint64_t mask = page_size - 1;
  const std::uint64_t step = (chunk_size + mask) & ~mask;
  const std::uint64_t end = offset + length;
  // The mapped end is rounded up to a page; at the top of the 64-bit range it saturates.
  const std::uint64_t map_end = end > ~mask ? ~std::uint64_t{0} : (end + mask) & ~mask;
  for (std::uint64_t start = offset & ~mask; start < end;) {
    const std::uint64_t stop = map_end - start > step ? start + step : map_end;
    file_chunk c;
    c.map_offset = start;
    c.map_length = stop - start;
    c.offset = std::max(start, offset);
    c.length = std::min(stop, end) - c.offset;
    chunks.push_back(c);
    start = stop;
  }
  return chunks;
}

std::expected<page_residency, std::error_code> residency(int fd, std::uint64_t offset,
                                                         std::uint64_t length) {
  auto st = sys::fstat(fd);
  if (!st) return std::unexpected(st.error());
  const auto file_size = static_cast<std::uint64_t>(st->st_size);
  page_residency result;
  if (offset >= file_size) return result;
  length = std::min(length, file_size - offset);
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec;
  for (const file_chunk& c : plan_chunks(offset, length, residency_window, page)) {
    // Never touched, so mapping does not fault anything in; no SIGBUS guard needed either.
    const std::uint64_t map_length = std::min(c.map_length, file_size - c.map_offset);
    auto m = mapping::map(fd, map_access::read_only, c.map_offset,
                          static_cast<std::size_t>(map_length), map_options{.guard = false});
    if (!m) return std::unexpected(m.error());
    const std::uint64_t pages = (map_length + page - 1) / page;
    vec.assign(pages, 0);
    if (auto r = sys::mincore(m->data(), m->size(), vec.data()); !r) {
      return std::unexpected(r.error());
    }
    result.total_pages += pages;
    result.resident_pages += static_cast<std::uint64_t>(
        std::count_if(vec.begin(), vec.end(), [](unsigned char v) { return (v & 1) != 0; }));
  }
  return result;
}

}  // namespace zcopy
