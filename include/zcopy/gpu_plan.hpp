// gpu_plan: how a byte range of a file is cut into chunks for a device copy, and how much of it
// the page cache already holds.
//
// A loader moves [offset, offset + length) of a file in chunks. Each chunk is mapped (or read)
// from a page boundary, because mmap and buffer registration work on whole pages, so a chunk has
// two ranges: the mapped one (page-aligned start, whole pages) and the bytes of interest inside
// it (the first and last chunk may start or end mid-page). `residency` says which fraction of a
// range's pages are in the page cache: a mostly resident file is cheap to copy from a mapping,
// a cold one is better read with large direct reads into bounce buffers. Plain values; nothing
// here owns a resource past the call.
#pragma once

#include <cstdint>
#include <expected>
#include <system_error>
#include <vector>

namespace zcopy {

struct file_chunk {
  std::uint64_t map_offset = 0;  // page-aligned
  std::uint64_t map_length = 0;  // whole pages, at most the chunk size
  std::uint64_t offset = 0;      // the bytes of interest: inside the mapped range
  std::uint64_t length = 0;
};

// Chunks whose bytes of interest cover [offset, offset + length) exactly, in order, without
// overlap. Chunk boundaries sit at page_aligned(offset) + k * chunk_size; `chunk_size` is rounded
// up to a multiple of `page_size` (a power of two). Length 0 gives no chunk. Preconditions
// (asserted): page_size a power of two, chunk_size > 0, offset + length does not overflow.
std::vector<file_chunk> plan_chunks(std::uint64_t offset, std::uint64_t length,
                                    std::uint64_t chunk_size, std::uint64_t page_size);

struct page_residency {
  std::uint64_t resident_pages = 0;
  std::uint64_t total_pages = 0;
  // resident / total; 1 for an empty range (nothing to fetch).
  double fraction() const noexcept {
    return total_pages == 0
               ? 1.0
               : static_cast<double>(resident_pages) / static_cast<double>(total_pages);
  }
};

// Pages of [offset, offset + length) of `fd` (clamped to the file's size) that are in the page
// cache: mmap (read-only, never touched, so nothing is faulted in) and mincore(2), a window of
// at most 1 GiB at a time.
std::expected<page_residency, std::error_code> residency(int fd, std::uint64_t offset,
                                                         std::uint64_t length);

}  // namespace zcopy
