#include "zcopy/fd.hpp"

#include <cassert>

#include "sys/sys.hpp"

namespace zcopy {

std::expected<unique_fd, std::error_code> unique_fd::open(const char* path, int flags,
                                                          mode_t mode) {
  return openat(AT_FDCWD, path, flags, mode);
}

std::expected<unique_fd, std::error_code> unique_fd::openat(int dirfd, const char* path, int flags,
                                                            mode_t mode) {
  auto fd = sys::openat(dirfd, path, flags, mode);
  if (!fd) return std::unexpected(fd.error());
  return unique_fd(*fd);
}

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) {
    [[maybe_unused]] auto ec = sys::close(fd_);
    // EBADF here means someone else closed our descriptor: a double close is a bug.
    assert(!ec || ec.error() != std::errc::bad_file_descriptor);
  }
  fd_ = fd;
}

std::error_code unique_fd::close() noexcept {
  if (fd_ < 0) return {};
  auto r = sys::close(std::exchange(fd_, -1));
  return r ? std::error_code{} : r.error();
}

}  // namespace zcopy
