// read/write through a user buffer: the baseline every other method is measured against, and the
// last link of every chain. Also holds the pending-buffer writer that direct_io shares.
#include <algorithm>

#include "sys/sys.hpp"
#include "transfer/state.hpp"

namespace zcopy::detail {

namespace {

// The traditional loop's buffer: 128 KiB, the size GNU cp settled on (coreutils io_blksize).
constexpr std::size_t default_buffer = 128 * 1024;

bool would_block(const std::error_code& ec) {
  return ec == std::errc::resource_unavailable_try_again;
}

}  // namespace

step_outcome write_pending(transfer_state& st, int direct_fd, std::uint32_t align) {
  std::uint64_t moved = 0;
  while (st.pending_size > 0) {
    std::size_t n = st.pending_size;
    int fd = st.dst.fd();
    if (direct_fd >= 0 && align > 0 && st.dst.offset % align == 0 &&
        reinterpret_cast<std::uintptr_t>(st.pending) % align == 0 && n >= align) {
      fd = direct_fd;  // the aligned part goes around the page cache; the tail goes through it
      n -= n % align;
    }
    auto w = st.dst.positional ? sys::pwrite(fd, st.pending, n, static_cast<off_t>(st.dst.offset))
                               : sys::write(fd, st.pending, n);
    if (!w) {
      if (would_block(w.error())) return step_outcome::blocked(step_kind::blocked_write, moved);
      return step_outcome::failed(w.error(), moved);
    }
    if (*w == 0) return step_outcome::failed(make_error_code(std::errc::io_error), moved);
    st.pending += *w;
    st.pending_size -= *w;
    if (st.dst.positional) st.dst.offset += *w;
    moved += *w;
  }
  st.pending = nullptr;
  return step_outcome::progress(moved);
}

step_outcome step_read_write(transfer_state& st, std::uint64_t budget) {
  if (st.pending_size > 0) return write_pending(st);
  if (budget == 0) return step_outcome::progress(0);

  std::size_t want = st.chunk_or(default_buffer);
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(want, budget));
  std::byte* buf;
  if (st.src.info.direct_io()) {
    // The caller's descriptor is O_DIRECT: the buffer and the length must be aligned too. A read
    // near the end returns short, which is how the unaligned end of the file arrives.
    if (!st.dio_buffer.data()) {
      auto align = query_direct_io_alignment(st.src.fd());
      std::size_t a = align ? std::max(align->memory, align->offset) : 4096;
      auto b = aligned_buffer::allocate(std::max(want, a), a);
      if (!b) return step_outcome::failed(b.error());
      st.dio_buffer = std::move(*b);
    }
    const std::size_t a = st.dio_buffer.alignment();
    n = std::min((n + a - 1) / a * a, st.dio_buffer.size());
    buf = st.dio_buffer.data();
  } else {
    if (st.buffer.size() < want) st.buffer.resize(want);
    buf = st.buffer.data();
  }
  auto r = st.src.positional ? sys::pread(st.src.fd(), buf, n, static_cast<off_t>(st.src.offset))
                             : sys::read(st.src.fd(), buf, n);
  if (!r) {
    if (would_block(r.error())) return step_outcome::blocked(step_kind::blocked_read);
    return step_outcome::failed(r.error());
  }
  if (*r == 0) return step_outcome::eof();
  const std::size_t got = static_cast<std::size_t>(std::min<std::uint64_t>(*r, budget));
  if (st.src.positional) st.src.offset += got;
  st.pending = buf;
  st.pending_size = got;
  return write_pending(st);
}

}  // namespace zcopy::detail
