// splice(2): pages move between two descriptors through a pipe, never through user memory.
//
// When one end is a pipe, one splice does it. Otherwise the bytes go source → pooled pipe → sink;
// the engine counts every byte in the pipe (Go does the same) so a pipe that still holds data is
// never returned to the pool, and a fallback can recover what is inside (engine.cpp).
// SPLICE_F_NONBLOCK is always passed: without it a splice on a socket could block even when the
// socket is non-blocking, which hung Go on kernels before 5.1 (golang/go#63795). EAGAIN is then
// ambiguous (source empty or pipe full: a 64 KiB pipe has 16 slots and each skb fragment takes
// one, sozu-proxy/sozu#1323), so the pipe is drained before it is refilled, and an EAGAIN on an
// empty pipe can only mean the source has nothing.
#include <algorithm>

#include "sys/sys.hpp"
#include "transfer/state.hpp"

namespace zcopy::detail {

namespace {

bool means_unsupported(const std::error_code& ec) {
  // EINVAL: the descriptor type cannot splice (Go falls back on it at the first drain).
  return ec == std::errc::function_not_supported || ec == std::errc::invalid_argument ||
         ec == std::errc::operation_not_supported || ec == std::errc::operation_not_permitted;
}

step_outcome refusal(const std::error_code& ec, std::uint64_t moved) {
  if (ec == std::errc::function_not_supported || ec == std::errc::operation_not_permitted) {
    note_refusal(method::splice, ec);
  }
  if (means_unsupported(ec)) return step_outcome::unsupported(ec, moved);
  return step_outcome::failed(ec, moved);
}

loff_t* offset_of(side& s, loff_t& storage) {
  if (!s.positional) return nullptr;
  storage = static_cast<loff_t>(s.offset);
  return &storage;
}

// With a pipe on one end (or both) the call is direct. An EAGAIN there needs one poll to tell
// which end is not ready.
step_outcome splice_direct(transfer_state& st, std::uint64_t budget) {
  loff_t in_off = 0, out_off = 0;
  std::size_t n =
      static_cast<std::size_t>(std::min<std::uint64_t>(budget, st.chunk_or(default_pipe_capacity)));
  unsigned flags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;
  // Only when more is known to follow: on a stream of unknown length SPLICE_F_MORE (MSG_MORE on
  // a socket) corks the last partial segment until the 200 ms probe timer fires, which made
  // every request/response exchange through `zcopy relay` take 200 ms per hop.
  if (st.remaining && *st.remaining > n) flags |= SPLICE_F_MORE;
  auto r = sys::splice(st.src.fd(), offset_of(st.src, in_off), st.dst.fd(),
                       offset_of(st.dst, out_off), n, flags);
  if (!r) {
    if (r.error() != std::errc::resource_unavailable_try_again) return refusal(r.error(), 0);
    if (st.src.info.is_file_like()) return step_outcome::blocked(step_kind::blocked_write);
    pollfd p{st.src.fd(), POLLIN, 0};
    auto ready = sys::poll(&p, 1, 0);
    bool readable = ready && *ready > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
    return step_outcome::blocked(readable ? step_kind::blocked_write : step_kind::blocked_read);
  }
  if (*r == 0) return step_outcome::eof();
  if (st.src.positional) st.src.offset += *r;
  if (st.dst.positional) st.dst.offset += *r;
  return step_outcome::progress(*r);
}

}  // namespace

step_outcome step_splice(transfer_state& st, std::uint64_t budget) {
  const bool src_pipe = st.src.info.kind == endpoint_kind::pipe;
  const bool dst_pipe = st.dst.info.kind == endpoint_kind::pipe;
  if (src_pipe || dst_pipe) {
    if (budget == 0) return step_outcome::progress(0);
    return splice_direct(st, budget);
  }

  if (!st.pipe) {
    auto p = st.pipes().acquire();
    if (!p) return step_outcome::failed(p.error());
    st.pipe = std::move(*p);
    st.pipe_inside = 0;
  }
  std::uint64_t moved = 0;
  for (;;) {
    if (st.pipe_inside > 0) {
      loff_t out_off = 0;
      unsigned flags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;
      // Known-longer transfers only (see splice_direct): MSG_MORE on an open-ended stream
      // delays its tail by 200 ms.
      if (st.remaining && *st.remaining > moved + st.pipe_inside) flags |= SPLICE_F_MORE;
      auto w = sys::splice(st.pipe.read_fd(), nullptr, st.dst.fd(), offset_of(st.dst, out_off),
                           st.pipe_inside, flags);
      if (!w) {
        if (w.error() == std::errc::resource_unavailable_try_again) {
          return step_outcome::blocked(step_kind::blocked_write, moved);
        }
        return refusal(w.error(), moved);
      }
      st.pipe_inside -= *w;
      if (st.dst.positional) st.dst.offset += *w;
      moved += *w;
      continue;
    }
    if (moved >= budget) return step_outcome::progress(moved);

    loff_t in_off = 0;
    std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(budget - moved, st.pipe.capacity()));
    auto r = sys::splice(st.src.fd(), offset_of(st.src, in_off), st.pipe.write_fd(), nullptr, want,
                         SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (!r) {
      if (r.error() == std::errc::resource_unavailable_try_again) {
        // The pipe is empty here, so only the source can be the one not ready. An empty pipe
        // goes back to the pool while the source is idle (HAProxy does the same): a relay or
        // server with many quiet connections then holds two descriptors per connection, not
        // six, and no pipe memory.
        st.pipes().release(std::move(st.pipe), 0);
        if (moved > 0) return step_outcome::progress(moved);
        return step_outcome::blocked(step_kind::blocked_read);
      }
      return refusal(r.error(), moved);
    }
    if (*r == 0) return moved > 0 ? step_outcome::progress(moved) : step_outcome::eof();
    st.pipe_inside += *r;
    if (st.src.positional) st.src.offset += *r;
  }
}

}  // namespace zcopy::detail
