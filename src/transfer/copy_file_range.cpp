// copy_file_range(2): file → file inside the kernel; on filesystems that can (XFS, btrfs, NFS
// 4.2 server-side copy) inside the filesystem, possibly as a reflink.
//
// Rounds are at most 1 GiB, as Go (maxCopyFileRangeRound), Rust (0x4000_0000) and coreutils do,
// which keeps a single call short enough to cancel and stays clear of glibc 2.41/2.42's data
// corruption for ranges over 2 GiB (sourceware PR33245). Both offsets are passed explicitly, so
// the descriptors' positions never move.
#include <algorithm>

#include "sys/sys.hpp"
#include "transfer/state.hpp"

namespace zcopy::detail {

namespace {

constexpr std::uint64_t max_round = std::uint64_t{1} << 30;

// Fall back whenever these come back, even after some bytes moved (continuing from the offsets):
// the call is not usable for this pair.
bool unsupported_for_pair(const std::error_code& ec) {
  return ec == std::errc::function_not_supported ||   // ENOSYS: before 4.5
         ec == std::errc::cross_device_link ||        // EXDEV: cross-fs, again since 5.18.10
                                                      // (qbittorrent/qBittorrent#17352)
         ec == std::errc::invalid_argument ||         // EINVAL: odd file types, overlap
         ec == std::errc::operation_not_supported ||  // EOPNOTSUPP: NFS on RHEL7 (go#40731)
         ec == std::errc::operation_not_permitted;    // EPERM: seccomp (go#40893), CIFS
}

// Fall back on these only before the first byte: afterwards they are real errors.
bool unsupported_at_start(const std::error_code& ec) {
  return ec == std::errc::io_error ||                   // EIO: CIFS (golang/go#42334)
         ec == std::errc::bad_file_descriptor ||        // EBADF: O_APPEND sink
         ec == std::errc::text_file_busy ||             // ETXTBSY: swap files
         ec == std::errc::permission_denied ||          // EACCES: CephFS before 4.20 (libuv#3117)
         ec == std::errc::no_such_file_or_directory ||  // ENOENT: CIFS (coreutils)
         ec == std::errc::file_too_large;               // EFBIG at EOF on 6.17 (coreutils)
}

}  // namespace

step_outcome step_copy_file_range(transfer_state& st, std::uint64_t budget) {
  if (budget == 0) return step_outcome::progress(0);
  std::size_t n = static_cast<std::size_t>(std::min(budget, max_round));
  if (!st.size_known) n = std::min<std::size_t>(n, st.chunk_or(1 << 20));
  loff_t in_off = static_cast<loff_t>(st.src.offset);
  loff_t out_off = static_cast<loff_t>(st.dst.offset);
  auto r = sys::copy_file_range(st.src.fd(), &in_off, st.dst.fd(), &out_off, n, 0);
  if (!r) {
    const auto& ec = r.error();
    if (ec == std::errc::function_not_supported || ec == std::errc::operation_not_permitted) {
      note_refusal(method::copy_file_range, ec);
    }
    if (unsupported_for_pair(ec)) return step_outcome::unsupported(ec);
    if (unsupported_at_start(ec) && st.method_moved == 0) return step_outcome::unsupported(ec);
    return step_outcome::failed(ec);
  }
  // 0 before the end: the engine decides between truncation, a pseudo-file (procfs, sysfs and
  // overlayfs answer 0 at once: golang/go#44272) and the real end.
  if (*r == 0) return step_outcome::eof();
  st.src.offset += *r;
  st.dst.offset += *r;
  return step_outcome::progress(*r);
}

}  // namespace zcopy::detail
