// mmap + write: map the source and write(2) from the mapping. One CPU copy fewer than read/write
// (the kernel copies from the page cache pages straight into the sink).
//
// The source is mapped in windows of 8 MiB (Java's transferToTrustedChannel maps 8 MiB at a time)
// so a huge file does not need a huge mapping. Truncation: the kernel, not user code, touches the
// mapping here, so a page past the new end makes write(2) return EFAULT (or a short count) rather
// than raising SIGBUS; the engine then reports the truncation.
#include <algorithm>

#include "sys/sys.hpp"
#include "transfer/state.hpp"

namespace zcopy::detail {

namespace {
constexpr std::uint64_t window_size = std::uint64_t{8} << 20;
}

step_outcome step_mmap_write(transfer_state& st, std::uint64_t budget) {
  if (budget == 0) return step_outcome::progress(0);
  if (!st.size_known) {
    // Size 0: an empty file, or a pseudo-file (procfs) whose content has no size. Mapping a page
    // tells them apart: procfs refuses mmap (ENODEV), an empty file maps and has nothing to send.
    auto probe = mapping::map(st.src.fd(), map_access::read_only, 0, 4096,
                              map_options{.populate = false, .guard = false});
    if (!probe) return step_outcome::unsupported(probe.error());
    return step_outcome::eof();
  }
  if (st.src.offset >= st.expected_end) return step_outcome::eof();

  const std::uint64_t window = std::max<std::uint64_t>(st.chunk_or(0), window_size);
  if (st.window.empty() || st.src.offset < st.window_offset ||
      st.src.offset >= st.window_offset + st.window.size()) {
    st.window = mapping();
    std::uint64_t len = std::min(window, st.expected_end - st.src.offset);
    auto m =
        mapping::map(st.src.fd(), map_access::read_only, st.src.offset,
                     static_cast<std::size_t>(len), map_options{.populate = false, .guard = false});
    if (!m) {
      // ENODEV: the filesystem cannot mmap; EACCES: not opened for reading as mmap wants.
      if (st.method_moved == 0) return step_outcome::unsupported(m.error());
      return step_outcome::failed(m.error());
    }
    st.window = std::move(*m);
    st.window_offset = st.src.offset;
    (void)st.window.advise(map_advice::sequential);
  }

  const std::byte* p = st.window.data() + (st.src.offset - st.window_offset);
  std::size_t n = static_cast<std::size_t>(
      std::min<std::uint64_t>(budget, st.window_offset + st.window.size() - st.src.offset));
  auto w = st.dst.positional ? sys::pwrite(st.dst.fd(), p, n, static_cast<off_t>(st.dst.offset))
                             : sys::write(st.dst.fd(), p, n);
  if (!w) {
    if (w.error() == std::errc::resource_unavailable_try_again) {
      return step_outcome::blocked(step_kind::blocked_write);
    }
    if (w.error() == std::errc::bad_address) {
      return step_outcome::failed(make_error_code(errc::source_truncated));
    }
    return step_outcome::failed(w.error());
  }
  st.src.offset += *w;
  if (st.dst.positional) st.dst.offset += *w;
  if (st.src.offset >= st.window_offset + st.window.size()) st.window = mapping();
  return step_outcome::progress(*w);
}

}  // namespace zcopy::detail
