// unique_fd: the owner of one file descriptor.
//
// Move-only. The destructor closes the descriptor; `release()` hands ownership back to the caller.
// Every descriptor libzcopy opens is opened with O_CLOEXEC. Functions that borrow a descriptor
// take a plain `int`; functions that take ownership take a unique_fd by value.
#pragma once

#include <sys/types.h>

#include <expected>
#include <system_error>
#include <utility>

namespace zcopy {

class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~unique_fd() { reset(); }

  // Opens `path` (O_CLOEXEC is always added).
  static std::expected<unique_fd, std::error_code> open(const char* path, int flags,
                                                        mode_t mode = 0);
  static std::expected<unique_fd, std::error_code> openat(int dirfd, const char* path, int flags,
                                                          mode_t mode = 0);

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the owned descriptor (if any) and takes `fd`.
  void reset(int fd = -1) noexcept;
  // Closes now and reports what close(2) said (a deferred write error on NFS, say).
  std::error_code close() noexcept;

 private:
  int fd_ = -1;
};

}  // namespace zcopy
