// Endpoint classification (endpoint.hpp).
#include <linux/fs.h>
#include <sys/socket.h>

#include <cstring>
#include <string_view>

#include "sys/sys.hpp"
#include "zcopy/endpoint.hpp"

namespace zcopy {

std::string_view to_string(endpoint_kind kind) noexcept {
  switch (kind) {
    case endpoint_kind::regular_file:
      return "file";
    case endpoint_kind::memfd:
      return "memfd";
    case endpoint_kind::block_device:
      return "block-device";
    case endpoint_kind::socket:
      return "socket";
    case endpoint_kind::datagram_socket:
      return "datagram-socket";
    case endpoint_kind::pipe:
      return "pipe";
    case endpoint_kind::char_device:
      return "char-device";
    case endpoint_kind::other:
      return "other";
  }
  return "other";
}

bool endpoint_info::nonblocking() const noexcept {
  return (status_flags & O_NONBLOCK) != 0;
}
bool endpoint_info::append_only() const noexcept {
  return (status_flags & O_APPEND) != 0;
}
bool endpoint_info::direct_io() const noexcept {
  return (status_flags & O_DIRECT) != 0;
}

namespace {

// memfds are shmem files whose /proc/self/fd link reads "/memfd:NAME (deleted)". Only files that
// answer F_GET_SEALS (shmem) are asked, so ordinary files cost nothing extra.
bool is_memfd(int fd) {
  if (!sys::fcntl(fd, F_GET_SEALS)) return false;
  char link[64];
  char target[16] = {};
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  auto n = sys::readlink(link, target, sizeof target - 1);
  return n && std::string_view(target, *n).starts_with("/memfd:");
}

}  // namespace

std::expected<endpoint_info, std::error_code> classify(int fd) {
  auto st = sys::fstat(fd);
  if (!st) return std::unexpected(st.error());
  auto flags = sys::fcntl(fd, F_GETFL);
  if (!flags) return std::unexpected(flags.error());

  endpoint_info info = describe(fd, *st, *flags);
  switch (st->st_mode & S_IFMT) {
    case S_IFREG:
      if (is_memfd(fd)) info.kind = endpoint_kind::memfd;
      break;
    case S_IFBLK: {
      info.kind = endpoint_kind::block_device;
      std::uint64_t bytes = 0;
      if (sys::ioctl(fd, BLKGETSIZE64, &bytes)) info.size = bytes;
      info.allocated_bytes = info.size;
      break;
    }
    case S_IFSOCK: {
      int type = 0;
      socklen_t len = sizeof type;
      auto r = sys::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
      info.kind = r && type == SOCK_STREAM ? endpoint_kind::socket : endpoint_kind::datagram_socket;
      break;
    }
    default:
      break;
  }
  return info;
}

endpoint_info describe(int fd, const struct stat& st, int status_flags) noexcept {
  endpoint_info info;
  info.fd = fd;
  info.status_flags = status_flags;
  info.device = st.st_dev;
  info.inode = st.st_ino;
  info.block_size = st.st_blksize;
  switch (st.st_mode & S_IFMT) {
    case S_IFREG:
      info.kind = endpoint_kind::regular_file;
      info.size = static_cast<std::uint64_t>(st.st_size);
      info.allocated_bytes = static_cast<std::uint64_t>(st.st_blocks) * 512;
      break;
    case S_IFBLK:
      info.kind = endpoint_kind::block_device;
      break;
    case S_IFSOCK:
      info.kind = endpoint_kind::socket;
      break;
    case S_IFIFO:
      info.kind = endpoint_kind::pipe;
      break;
    case S_IFCHR:
      info.kind = endpoint_kind::char_device;
      break;
    default:
      info.kind = endpoint_kind::other;
  }
  return info;
}

}  // namespace zcopy
