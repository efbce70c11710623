// O_DIRECT: reads (and, for a file sink, aligned writes) that go around the page cache, with
// buffers aligned as the file asks (aligned_buffer.hpp). For data read once, such as a backup or
// a large copy that should not evict a working set.
//
// The transfer's own descriptors are left as they are: the same files are opened a second time
// through /proc/self/fd with O_DIRECT. Unaligned parts are done through the original descriptors,
// as nginx does when it turns O_DIRECT off for an unaligned tail: an unaligned head up to the
// first aligned source offset, and, on the sink side, whatever does not fill a whole block.
// Reading at an aligned offset with an aligned length near the end of the file returns short:
// that is how the unaligned end of the source is read.
#include <algorithm>
#include <cstdio>

#include "sys/sys.hpp"
#include "transfer/state.hpp"

namespace zcopy::detail {

namespace {

constexpr std::size_t default_chunk = std::size_t{4} << 20;

std::expected<unique_fd, std::error_code> reopen_direct(int fd, int access) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  return unique_fd::open(path, access | O_DIRECT);
}

std::error_code prepare(transfer_state& st) {
  if (st.direct_ready) return {};
  if (st.src.info.direct_io()) {
    st.direct_src = unique_fd();  // the caller's descriptor is already O_DIRECT
  } else {
    auto src = reopen_direct(st.src.fd(), O_RDONLY);
    if (!src) return src.error();  // EINVAL: the filesystem (tmpfs) refuses O_DIRECT
    st.direct_src = std::move(*src);
  }
  auto align = query_direct_io_alignment(st.direct_src ? st.direct_src.get() : st.src.fd());
  if (!align) return align.error();
  if (!align->supported) return make_error_code(std::errc::invalid_argument);
  std::uint32_t a = std::max(align->memory, align->offset);

  if (st.dst.positional && st.dst.info.kind == endpoint_kind::regular_file) {
    if (auto dst = reopen_direct(st.dst.fd(), O_WRONLY); dst) {
      if (auto da = query_direct_io_alignment(dst->get()); da && da->supported) {
        a = std::max({a, da->memory, da->offset});
        st.direct_dst = std::move(*dst);
      }
    }
  }
  auto buf = aligned_buffer::allocate(std::max<std::size_t>(st.chunk_or(default_chunk), a), a);
  if (!buf) return buf.error();
  st.dio_buffer = std::move(*buf);
  st.dio_align = a;
  st.direct_ready = true;
  return {};
}

}  // namespace

step_outcome step_direct_io(transfer_state& st, std::uint64_t budget) {
  if (auto e = prepare(st)) {
    if (st.method_moved == 0) return step_outcome::unsupported(e);
    return step_outcome::failed(e);
  }
  const int direct_dst = st.direct_dst ? st.direct_dst.get() : -1;
  if (st.pending_size > 0) return write_pending(st, direct_dst, st.dio_align);
  if (budget == 0) return step_outcome::progress(0);

  const std::uint32_t a = st.dio_align;
  const int src_direct = st.direct_src ? st.direct_src.get() : st.src.fd();
  std::byte* buf = st.dio_buffer.data();
  std::size_t got;
  if (st.src.offset % a != 0) {
    // Unaligned head: through the page cache, up to the next aligned offset.
    std::size_t head =
        static_cast<std::size_t>(std::min<std::uint64_t>(a - st.src.offset % a, budget));
    auto r = sys::pread(st.src.fd(), buf, head, static_cast<off_t>(st.src.offset));
    if (!r) return step_outcome::failed(r.error());
    got = *r;
  } else {
    std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(budget, st.dio_buffer.size()));
    std::size_t aligned_want = (want + a - 1) / a * a;  // past the budget is read, not written
    auto r = sys::pread(src_direct, buf, std::min(aligned_want, st.dio_buffer.size()),
                        static_cast<off_t>(st.src.offset));
    if (!r) {
      if (r.error() == std::errc::invalid_argument && st.method_moved == 0) {
        return step_outcome::unsupported(r.error());
      }
      return step_outcome::failed(r.error());
    }
    got = std::min(*r, want);
  }
  if (got == 0) return step_outcome::eof();
  st.src.offset += got;
  st.pending = buf;
  st.pending_size = got;
  return write_pending(st, direct_dst, a);
}

}  // namespace zcopy::detail
