// sendfile(2): file → anything, inside the kernel.
//
// The kernel moves at most 0x7ffff000 bytes per call (MAX_RW_COUNT; 2147418112 on 64 KiB-page
// arm64: openjdk/jdk#5025), so large files loop. The count passed is the exact remaining length:
// asking for more than the file holds cost Go 200 ms stalls (golang/go#41513). Since 4.3 a call can
// return short without EAGAIN, so the engine simply calls again (nginx's comment on it).
// sendfile writes at the sink's file position, so for a file sink the position is moved to the
// offset first (and restored at the end when the caller gave explicit offsets).
#include <algorithm>

#include "sys/sys.hpp"
#include "transfer/state.hpp"

namespace zcopy::detail {

namespace {

constexpr std::uint64_t max_sendfile = 0x7ffff000;

// Go's internal/poll/sendfile_unix.go falls back on these; EOVERFLOW (offset + count past what
// the file can address) is Rust's addition, keeping the partial count.
bool means_unsupported(const std::error_code& ec) {
  return ec == std::errc::function_not_supported || ec == std::errc::invalid_argument ||
         ec == std::errc::operation_not_supported || ec == std::errc::value_too_large ||
         ec == std::errc::operation_not_permitted;
}

std::error_code seek_sink(transfer_state& st) {
  side& d = st.dst;
  if (!d.positional || d.kernel_at == d.offset) return {};
  if (!d.kernel_at) {
    auto cur = sys::lseek(d.fd(), 0, SEEK_CUR);
    if (!cur) return cur.error();
    if (d.explicit_offset && !d.original_position) {
      d.original_position = static_cast<std::uint64_t>(*cur);
    }
  }
  auto r = sys::lseek(d.fd(), static_cast<off_t>(d.offset), SEEK_SET);
  if (!r) return r.error();
  d.kernel_at = d.offset;
  return {};
}

}  // namespace

step_outcome step_sendfile(transfer_state& st, std::uint64_t budget) {
  if (budget == 0) return step_outcome::progress(0);
  if (auto e = seek_sink(st)) return step_outcome::failed(e);
  std::size_t n = static_cast<std::size_t>(std::min(budget, max_sendfile));
  if (!st.size_known) n = std::min<std::size_t>(n, st.chunk_or(1 << 20));
  off_t off = static_cast<off_t>(st.src.offset);
  auto r = sys::sendfile(st.dst.fd(), st.src.fd(), &off, n);
  if (!r) {
    const auto& ec = r.error();
    if (ec == std::errc::resource_unavailable_try_again) {
      return step_outcome::blocked(step_kind::blocked_write);
    }
    if (ec == std::errc::function_not_supported || ec == std::errc::operation_not_permitted) {
      note_refusal(method::sendfile, ec);
    }
    if (means_unsupported(ec)) return step_outcome::unsupported(ec);
    return step_outcome::failed(ec);
  }
  if (*r == 0) return step_outcome::eof();
  st.src.offset += *r;
  if (st.dst.positional) {
    st.dst.offset += *r;
    st.dst.kernel_at = st.dst.offset;
  }
  return step_outcome::progress(*r);
}

}  // namespace zcopy::detail
