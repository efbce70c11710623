// Endpoint classification: what kind of descriptor each side of a transfer is.
//
// The transfer engine classifies both ends once, then the pair decides the mechanism (the same
// shape as Rust std's FdMeta in kernel_copy.rs). Classification costs an fstat and, for some
// kinds, one more call (a block device's size, whether a socket is a stream socket).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <string_view>
#include <system_error>

namespace zcopy {

enum class endpoint_kind {
  regular_file,
  memfd,  // a regular file in memory (memfd_create); behaves as regular_file
  block_device,
  socket,  // a stream socket (TCP, Unix stream)
  datagram_socket,
  pipe,  // pipe or FIFO
  char_device,
  other,
};

std::string_view to_string(endpoint_kind kind) noexcept;

struct endpoint_info {
  int fd = -1;
  endpoint_kind kind = endpoint_kind::other;
  // Regular files and memfds: st_size; block devices: the device size; otherwise 0.
  std::uint64_t size = 0;
  dev_t device = 0;  // st_dev: two files on one filesystem share it
  ino_t inode = 0;
  blksize_t block_size = 0;
  std::uint64_t allocated_bytes = 0;  // st_blocks * 512: less than size means holes
  int status_flags = 0;               // F_GETFL: O_APPEND, O_NONBLOCK, O_DIRECT, access mode

  bool is_file_like() const noexcept {
    return kind == endpoint_kind::regular_file || kind == endpoint_kind::memfd ||
           kind == endpoint_kind::block_device;
  }
  bool is_seekable() const noexcept { return is_file_like(); }
  bool is_stream() const noexcept {
    return kind == endpoint_kind::socket || kind == endpoint_kind::pipe;
  }
  bool nonblocking() const noexcept;
  bool append_only() const noexcept;
  bool direct_io() const noexcept;
  bool may_have_holes() const noexcept {
    return (kind == endpoint_kind::regular_file || kind == endpoint_kind::memfd) &&
           allocated_bytes < size;
  }
};

std::expected<endpoint_info, std::error_code> classify(int fd);

// The classification of a descriptor whose stat and status flags the caller already holds, with
// no system call: an event loop that opened a file (and fstat'ed it for its headers) and accepted
// a stream socket knows both ends. The caller vouches for two things classify() would check: a
// regular file is not a memfd, and a socket is a stream socket.
endpoint_info describe(int fd, const struct stat& st, int status_flags) noexcept;

// True when both ends are files of one filesystem (where copy_file_range and reflinks can work
// without crossing filesystems).
inline bool same_filesystem(const endpoint_info& a, const endpoint_info& b) noexcept {
  return a.is_file_like() && b.is_file_like() && a.device == b.device;
}

}  // namespace zcopy
