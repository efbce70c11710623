#include "zcopy/pipe.hpp"

#include <sys/ioctl.h>

#include "sys/sys.hpp"

namespace zcopy {

std::expected<pipe_pair, std::error_code> pipe_pair::create(std::size_t capacity) {
  int fds[2];
  if (auto r = sys::pipe2(fds, O_NONBLOCK); !r) return std::unexpected(r.error());
  pipe_pair p;
  p.read_.reset(fds[0]);
  p.write_.reset(fds[1]);
  // Growing the pipe is an optimisation: EPERM (over pipe-max-size or the per-user limit) keeps
  // the default size rather than failing the transfer.
  if (capacity > 0) (void)sys::fcntl(fds[1], F_SETPIPE_SZ, static_cast<long>(capacity));
  auto size = sys::fcntl(fds[1], F_GETPIPE_SZ);
  if (!size) return std::unexpected(size.error());
  p.capacity_ = static_cast<std::size_t>(*size);
  return p;
}

std::expected<std::size_t, std::error_code> pipe_pair::bytes_inside() const {
  int n = 0;
  if (auto r = sys::ioctl(read_.get(), FIONREAD, &n); !r) return std::unexpected(r.error());
  return static_cast<std::size_t>(n);
}

std::expected<pipe_pair, std::error_code> pipe_pool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      pipe_pair p = std::move(idle_.back());
      idle_.pop_back();
      return p;
    }
  }
  return pipe_pair::create(capacity_);
}

void pipe_pool::release(pipe_pair pipe, std::size_t bytes_inside) {
  if (!pipe) return;
  if (bytes_inside != 0) {
    std::lock_guard lock(mutex_);
    ++discarded_;
    return;  // `pipe` closes here
  }
  std::lock_guard lock(mutex_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(pipe));
}

std::size_t pipe_pool::idle() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

std::size_t pipe_pool::discarded() const {
  std::lock_guard lock(mutex_);
  return discarded_;
}

pipe_pool& pipe_pool::shared() {
  static pipe_pool pool;
  return pool;
}

}  // namespace zcopy
