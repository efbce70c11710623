// Reflinks: FICLONE shares a whole file's extents, FICLONERANGE a block-aligned range. Nothing is
// copied; the filesystem (XFS, btrfs, bcachefs, OCFS2) makes the blocks copy-on-write.
//
// A whole-file clone is used when the transfer is exactly "all of the source to offset 0 of the
// sink". Otherwise the block-aligned part of the range is cloned and the unaligned tail is left
// to the next method of the chain (copy_file_range), continuing from the offsets.
// The errno split is GNU cp's (coreutils copy.c is_CLONENOTSUP / is_terminal_error).
#include <linux/fs.h>

#include <algorithm>

#include "sys/sys.hpp"
#include "transfer/state.hpp"

namespace zcopy::detail {

namespace {

bool clone_not_supported(const std::error_code& ec) {
  return ec == std::errc::function_not_supported ||
         ec == std::errc::inappropriate_io_control_operation ||
         ec == std::errc::operation_not_supported || ec == std::errc::invalid_argument ||
         ec == std::errc::bad_file_descriptor || ec == std::errc::cross_device_link ||
         ec == std::errc::text_file_busy || ec == std::errc::operation_not_permitted ||
         ec == std::errc::permission_denied;
}

}  // namespace

step_outcome step_reflink(transfer_state& st, std::uint64_t budget) {
  if (budget == 0) return step_outcome::progress(0);
  if (!st.size_known) {
    // Size 0: an empty file (which clones fine) or a pseudo-file (which does not: EXDEV or
    // EOPNOTSUPP). Only a whole-file clone can tell, and only into an empty sink at offset 0.
    if (st.src.offset != 0 || st.dst.offset != 0 || st.dst_size_at_start != 0) {
      return step_outcome::unsupported(errc::method_not_applicable);
    }
    auto r = sys::ioctl(st.dst.fd(), FICLONE,
                        reinterpret_cast<void*>(static_cast<intptr_t>(st.src.fd())));
    if (r) return step_outcome::eof();
    if (clone_not_supported(r.error())) return step_outcome::unsupported(r.error());
    return step_outcome::failed(r.error());
  }
  const std::uint64_t src_size = st.src.info.size;
  const bool to_eof = st.src.offset + budget >= src_size;

  if (st.src.offset == 0 && st.dst.offset == 0 && to_eof && st.dst_size_at_start <= src_size &&
      st.method_moved == 0) {
    auto r = sys::ioctl(st.dst.fd(), FICLONE,
                        reinterpret_cast<void*>(static_cast<intptr_t>(st.src.fd())));
    if (r) {
      const std::uint64_t n = src_size;
      st.src.offset = n;
      st.dst.offset = n;
      return step_outcome::progress(n);
    }
    if (clone_not_supported(r.error())) return step_outcome::unsupported(r.error());
    return step_outcome::failed(r.error());  // EIO, ENOMEM, ENOSPC, EDQUOT: terminal
  }

  const std::uint64_t block =
      st.dst.info.block_size > 0 ? static_cast<std::uint64_t>(st.dst.info.block_size) : 4096;
  if (st.src.offset % block != 0 || st.dst.offset % block != 0) {
    return step_outcome::unsupported(errc::method_not_applicable);
  }
  std::uint64_t len = std::min(budget, src_size - st.src.offset);
  // The range may end off a block boundary only at the source's end, and only when that is also
  // at or past the sink's end (otherwise the sink's tail block would be replaced).
  if (!(to_eof && st.dst.offset + len >= st.dst_size_at_start)) len -= len % block;
  if (len == 0) return step_outcome::unsupported(errc::method_not_applicable);

  file_clone_range range{};
  range.src_fd = st.src.fd();
  range.src_offset = st.src.offset;
  range.src_length = len;
  range.dest_offset = st.dst.offset;
  auto r = sys::ioctl(st.dst.fd(), FICLONERANGE, &range);
  if (!r) {
    if (clone_not_supported(r.error())) return step_outcome::unsupported(r.error());
    return step_outcome::failed(r.error());
  }
  st.src.offset += len;
  st.dst.offset += len;
  return step_outcome::progress(len);
}

}  // namespace zcopy::detail
