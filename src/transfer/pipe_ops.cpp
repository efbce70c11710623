// tee, vmsplice and splice_memory (include/zcopy/pipe_ops.hpp).
//
// Every call passes SPLICE_F_NONBLOCK, so that a pipe end the caller left blocking can never park
// the thread inside the kernel; "blocking" is done here, with poll(2), on the end that is not
// ready. splice_memory counts the bytes it put into its pooled pipe and the bytes it took out, so
// the pool is told exactly what is left inside (a pipe with bytes left is closed, never reused).
#include "zcopy/pipe_ops.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <algorithm>
#include <vector>

#include "sys/sys.hpp"
#include "zcopy/pipe.hpp"

namespace zcopy {
namespace {

bool would_block(const std::error_code& ec) noexcept {
  return ec == std::errc::resource_unavailable_try_again;
}

// Moves the `inside` bytes left in a pipe to `sink` through read(2) and write(2), counting down
// `inside` as they leave.
std::expected<void, std::error_code> drain_by_copy(int pipe_read_fd, int sink,
                                                   std::size_t& inside) {
  std::vector<std::byte> buffer(std::min<std::size_t>(inside, 64 * 1024));
  while (inside > 0) {
    auto got = sys::read(pipe_read_fd, buffer.data(), std::min(inside, buffer.size()));
    if (!got) {
      if (!would_block(got.error())) return std::unexpected(got.error());
      if (auto w = sys::wait_ready(pipe_read_fd, POLLIN); !w) return w;
      continue;
    }
    if (*got == 0) return std::unexpected(std::make_error_code(std::errc::io_error));
    if (auto w = sys::write_all(sink, buffer.data(), *got); !w) return w;
    inside -= *got;
  }
  return {};
}

}  // namespace

std::expected<std::size_t, std::error_code> tee(int in_read_fd, int out_write_fd,
                                                std::size_t length, bool nonblocking) {
  if (length == 0) return 0;
  for (;;) {
    auto r = sys::tee(in_read_fd, out_write_fd, length, SPLICE_F_NONBLOCK);
    if (r || nonblocking || !would_block(r.error())) return r;
    // EAGAIN means an empty input or a full output; only the input's byte count tells which, and
    // polling both would spin while one of them is ready and the other is not.
    int queued = 0;
    if (auto q = sys::ioctl(in_read_fd, FIONREAD, &queued); !q) return std::unexpected(q.error());
    auto ready =
        queued == 0 ? sys::wait_ready(in_read_fd, POLLIN) : sys::wait_ready(out_write_fd, POLLOUT);
    if (!ready) return std::unexpected(ready.error());
  }
}

std::expected<std::size_t, std::error_code> vmsplice(int pipe_write_fd,
                                                     std::span<const std::byte> data,
                                                     bool nonblocking) {
  if (data.empty()) return 0;
  // iovec has no const; vmsplice into a pipe only reads the pages.
  iovec iov{const_cast<std::byte*>(data.data()), data.size()};
  for (;;) {
    auto r = sys::vmsplice(pipe_write_fd, &iov, 1, SPLICE_F_NONBLOCK);
    if (r || nonblocking || !would_block(r.error())) return r;
    if (auto w = sys::wait_ready(pipe_write_fd, POLLOUT); !w) return std::unexpected(w.error());
  }
}

std::expected<std::uint64_t, std::error_code> splice_memory(std::span<const std::byte> data,
                                                            int sink) {
  if (data.empty()) return 0;
  pipe_pool& pool = pipe_pool::shared();
  auto acquired = pool.acquire();
  if (!acquired) return std::unexpected(acquired.error());
  pipe_pair pipe = std::move(*acquired);

  std::size_t taken = 0;   // bytes vmspliced into the pipe
  std::size_t inside = 0;  // of those, bytes not yet spliced out to the sink
  auto give_up = [&](std::error_code ec) -> std::unexpected<std::error_code> {
    pool.release(std::move(pipe), inside);
    return std::unexpected(ec);
  };

  while (taken < data.size() || inside > 0) {
    if (inside == 0) {
      // Fill only an empty pipe: a pipe's capacity counts pages, and unaligned data spans one
      // more than its length suggests, so the kernel decides how much fits.
      iovec iov{const_cast<std::byte*>(data.data() + taken), data.size() - taken};
      auto in = sys::vmsplice(pipe.write_fd(), &iov, 1, SPLICE_F_NONBLOCK);
      if (!in) {
        if (!would_block(in.error())) return give_up(in.error());
        if (auto w = sys::wait_ready(pipe.write_fd(), POLLOUT); !w) return give_up(w.error());
        continue;
      }
      taken += *in;
      inside += *in;
    }
    auto out = sys::splice(pipe.read_fd(), nullptr, sink, nullptr, inside, SPLICE_F_NONBLOCK);
    if (out) {
      // The pipe holds bytes and its write end is ours, so 0 cannot mean end of input.
      if (*out == 0) return give_up(std::make_error_code(std::errc::io_error));
      inside -= *out;
      continue;
    }
    if (would_block(out.error())) {
      if (auto w = sys::wait_ready(sink, POLLOUT); !w) return give_up(w.error());
      continue;
    }
    if (out.error() != std::errc::invalid_argument) return give_up(out.error());
    // EINVAL: the sink takes no splice. Files opened O_APPEND never do (fs/splice.c), nor do
    // filesystems without splice_write. What is already in the pipe goes by read and write, the
    // rest straight from memory.
    if (auto drained = drain_by_copy(pipe.read_fd(), sink, inside); !drained) {
      return give_up(drained.error());
    }
    pool.release(std::move(pipe), 0);
    if (auto w = sys::write_all(sink, data.data() + taken, data.size() - taken); !w) {
      return std::unexpected(w.error());
    }
    return data.size();
  }
  pool.release(std::move(pipe), 0);
  return data.size();
}

}  // namespace zcopy
