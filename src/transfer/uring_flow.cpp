#include "transfer/uring_flow.hpp"

#ifdef ZCOPY_WITH_URING
#include <algorithm>

#include "sys/sys.hpp"

namespace zcopy::detail {

namespace {

constexpr std::uint64_t at_position = static_cast<std::uint64_t>(-1);  // pipes, sockets

std::error_code op_missing() {
  return std::make_error_code(std::errc::operation_not_supported);
}

bool means_unsupported(const std::error_code& ec) {
  // As splice(2) (splice.cpp): EINVAL is "this descriptor type cannot splice" (Go).
  return ec == std::errc::invalid_argument || ec == std::errc::operation_not_supported;
}

}  // namespace

std::expected<uring_context, std::error_code> uring_context::create(unsigned entries,
                                                                    std::size_t chunk,
                                                                    unsigned depth,
                                                                    unsigned groups) {
  auto r = uring::create({.entries = entries});
  if (!r) return std::unexpected(r.error());
  uring_context ctx(std::move(*r));
  ctx.chunk_ = chunk;
  ctx.depth_ = std::min(depth, uring_max_depth);
  ctx.used_.assign(groups, false);
  auto mem = aligned_buffer::allocate(chunk * ctx.depth_ * groups, 4096);
  if (!mem) return std::unexpected(mem.error());
  ctx.memory_ = std::move(*mem);

  // Registered once for the ring's life. ENOMEM (RLIMIT_MEMLOCK counts pinned buffers) or EINVAL
  // (sparse tables before 5.5) leave the ring working with plain READ/WRITE.
  std::vector<iovec> iov(std::size_t{groups} * ctx.depth_);
  for (std::size_t i = 0; i < iov.size(); ++i) iov[i] = {ctx.memory_.data() + i * chunk, chunk};
  std::vector<int> empty(std::size_t{groups} * 2, -1);
  if (sys::uring_register_buffers(ctx.ring_.get(), iov.data(), static_cast<unsigned>(iov.size())) &&
      sys::uring_register_files(ctx.ring_.get(), empty.data(),
                                static_cast<unsigned>(empty.size()))) {
    ctx.fixed_ = true;
  }
  return ctx;
}

std::optional<unsigned> uring_context::take_group() noexcept {
  for (unsigned g = 0; g < used_.size(); ++g) {
    if (!used_[g]) {
      used_[g] = true;
      return g;
    }
  }
  return std::nullopt;
}

void uring_context::give_group(unsigned group) noexcept {
  used_[group] = false;
}

std::error_code uring_context::bind_files(unsigned group, int src, int dst) {
  if (!fixed_) return {};
  const int fds[2] = {src, dst};
  auto r = sys::uring_register_files_update(ring_.get(), 2 * group, fds, 2);
  return r ? std::error_code{} : r.error();
}

std::expected<flow_shape, std::error_code> uring_shape_for(const transfer_state& st) {
  const uring_support_info ops = uring_support();
  const endpoint_kind sink = st.dst.info.kind;
  if (st.src.positional && st.src.info.is_file_like() &&
      (sink == endpoint_kind::socket || sink == endpoint_kind::pipe ||
       sink == endpoint_kind::char_device)) {
    // file → socket, pipe, char device: the sendfile of io_uring is a pair of splices.
    if (!ops.has(IORING_OP_SPLICE)) return std::unexpected(op_missing());
    return flow_shape::splice;
  }
  if (st.src.positional && st.dst.positional) {
    if (!ops.has(IORING_OP_READ_FIXED) || !ops.has(IORING_OP_WRITE_FIXED)) {
      return std::unexpected(op_missing());
    }
    return flow_shape::rw;
  }
  if (!ops.has(IORING_OP_READ) || !ops.has(IORING_OP_WRITE)) return std::unexpected(op_missing());
  return flow_shape::rw;
}

std::expected<unsigned, std::error_code> uring_flow::queue(const uring_lane& lane,
                                                           transfer_state& st, std::uint64_t budget,
                                                           std::uint64_t tag) {
  io_uring* r = lane.ring;
  ops_ = 0;
  done_ = 0;
  polled_ = false;
  res_.fill(0);
  auto sqe_for = [&](unsigned index) {
    io_uring_sqe* sqe = io_uring_get_sqe(r);
    if (sqe) io_uring_sqe_set_data64(sqe, (tag << 8) | index);
    return sqe;
  };
  auto busy = [] {
    return std::unexpected(std::make_error_code(std::errc::device_or_resource_busy));
  };
  // SPLICE_F_MORE while more of the budget follows the bytes a splice sends (MSG_MORE: a partial
  // segment waits for them instead of leaving alone); the last one goes out at once. Only a
  // transfer of known length says so: a corked end of an open-ended one would wait for the
  // 200 ms timer. The budget, not `remaining`: callers account a round after it settles.
  auto more_after = [&](std::uint64_t sent_by_then) -> unsigned {
    return st.remaining && budget > sent_by_then ? SPLICE_F_MORE : 0;
  };

  if (shape_ == flow_shape::splice) {
    if (!st.pipe) {
      auto p = st.pipes().acquire();
      if (!p) return std::unexpected(p.error());
      st.pipe = std::move(*p);
      st.pipe_inside = 0;
    }
    // The sink of a splice shape is a socket, pipe or char device: no offset (a char device
    // that seeks, /dev/null, refuses one without FMODE_PWRITE).
    const std::uint64_t dst_off = at_position;
    if (st.pipe_inside > 0) {
      // Bytes left in the pipe by a short or refused splice go out before anything new goes in.
      phase_ = phase::drain;
      if (poll_first_) {
        io_uring_sqe* p = sqe_for(ops_++);
        if (!p) return busy();
        io_uring_prep_poll_add(p, st.dst.fd(), POLLOUT);
        p->flags |= IOSQE_IO_LINK;
        polled_ = true;
      }
      io_uring_sqe* s = sqe_for(ops_++);
      if (!s) return busy();
      io_uring_prep_splice(
          s, st.pipe.read_fd(), -1, st.dst.fd(), static_cast<std::int64_t>(dst_off),
          static_cast<unsigned>(st.pipe_inside), SPLICE_F_MOVE | more_after(st.pipe_inside));
      return ops_;
    }
    phase_ = phase::pairs;
    const std::size_t per_pair =
        lane.chunk ? std::min(st.pipe.capacity(), lane.chunk * lane.depth) : st.pipe.capacity();
    std::uint64_t planned = 0;
    io_uring_sqe* last = nullptr;
    for (unsigned k = 0; k < lane.depth && planned < budget; ++k) {
      const auto n = static_cast<unsigned>(std::min<std::uint64_t>(per_pair, budget - planned));
      io_uring_sqe* a = sqe_for(ops_++);
      if (!a) return busy();
      io_uring_prep_splice(a, st.src.fd(), static_cast<std::int64_t>(st.src.offset + planned),
                           st.pipe.write_fd(), -1, n, SPLICE_F_MOVE);
      a->flags |= IOSQE_IO_LINK;
      io_uring_sqe* b = sqe_for(ops_++);
      if (!b) return busy();
      planned += n;
      io_uring_prep_splice(b, st.pipe.read_fd(), -1, st.dst.fd(),
                           static_cast<std::int64_t>(dst_off), n,
                           SPLICE_F_MOVE | more_after(planned));
      b->flags |= IOSQE_IO_LINK;
      last = b;
    }
    if (!last) phase_ = phase::idle;
    if (last) last->flags &= static_cast<std::uint8_t>(~IOSQE_IO_LINK);  // the chain ends here
    return ops_;
  }

  // rw: the reads of this round.
  if (budget == 0) return 0u;
  phase_ = phase::reads;
  uring_context& ctx = *lane.buffers;
  const bool fixed = ctx.fixed() && st.src.positional && st.dst.positional;
  const unsigned reads = st.src.positional ? lane.depth : 1;
  const std::size_t chunk = std::min(ctx.chunk(), st.chunk_or(ctx.chunk()));
  std::uint64_t planned = 0;
  for (unsigned i = 0; i < reads && planned < budget; ++i) {
    const auto n = static_cast<unsigned>(std::min<std::uint64_t>(chunk, budget - planned));
    const std::uint64_t off = st.src.positional ? st.src.offset + planned : at_position;
    io_uring_sqe* s = sqe_for(ops_);
    if (!s) return busy();
    if (fixed) {
      io_uring_prep_read_fixed(s, static_cast<int>(2 * group_), ctx.buffer(group_, i), n, off,
                               static_cast<int>(ctx.buffer_index(group_, i)));
      s->flags |= IOSQE_FIXED_FILE;
    } else {
      io_uring_prep_read(s, st.src.fd(), ctx.buffer(group_, i), n, off);
    }
    asked_[ops_++] = n;
    planned += n;
  }
  return ops_;
}

void uring_flow::complete(unsigned index, int res) noexcept {
  if (index < res_.size()) res_[index] = res;
  ++done_;
}

std::optional<step_outcome> uring_flow::settle(const uring_lane& lane, transfer_state& st,
                                               std::uint64_t tag) {
  const phase was = phase_;
  phase_ = phase::idle;
  switch (was) {
    case phase::pairs:
      return settle_pairs(st);
    case phase::drain:
      return settle_drain(st);
    case phase::reads:
      return settle_reads(lane, st, tag);
    case phase::writes:
      return settle_writes(lane, st);
    case phase::idle:
      break;
  }
  return step_outcome::progress(0);
}

step_outcome uring_flow::settle_pairs(transfer_state& st) {
  std::uint64_t in = 0, out = 0;
  bool eof = false;
  std::error_code read_error, write_error;
  for (unsigned k = 0; 2 * k < ops_; ++k) {
    const int a = res_[2 * k];
    const int b = res_[2 * k + 1];
    if (a == -ECANCELED) break;
    if (a < 0) {
      read_error = sys::errno_code(-a);
      break;
    }
    if (a == 0) {
      eof = true;
      break;
    }
    in += static_cast<unsigned>(a);
    // A short first splice fails the link: its partner sees -ECANCELED and the bytes stay in
    // the pipe for the next round.
    if (b == -ECANCELED) break;
    if (b < 0) {
      write_error = sys::errno_code(-b);
      break;
    }
    out += static_cast<unsigned>(b);
    if (b < a) break;
  }
  st.src.offset += in;
  st.pipe_inside += in - out;
  if (st.dst.positional) st.dst.offset += out;
  if (write_error) {
    if (write_error == std::errc::resource_unavailable_try_again) {
      poll_first_ = true;
      return step_outcome::blocked(step_kind::blocked_write, out);
    }
    if (means_unsupported(write_error) && st.method_moved + out == 0) {
      return step_outcome::unsupported(write_error, out);
    }
    return step_outcome::failed(write_error, out);
  }
  if (read_error) {
    if (read_error == std::errc::resource_unavailable_try_again) return step_outcome::progress(out);
    if (means_unsupported(read_error) && st.method_moved + out == 0 && st.pipe_inside == 0) {
      return step_outcome::unsupported(read_error, out);
    }
    return step_outcome::failed(read_error, out);
  }
  if (eof && st.pipe_inside == 0) return step_outcome::eof(out);
  return step_outcome::progress(out);
}

step_outcome uring_flow::settle_drain(transfer_state& st) {
  const unsigned at = polled_ ? 1 : 0;
  int res = res_[at];
  last_poll_.reset();
  if (polled_) last_poll_ = res_[0];
  if (polled_ && res_[0] < 0) res = res_[0];  // the poll failed: its error, not -ECANCELED
  poll_first_ = false;
  if (res == -EAGAIN) {
    poll_first_ = true;
    return step_outcome::blocked(step_kind::blocked_write);
  }
  if (res < 0) {
    std::error_code ec = sys::errno_code(-res);
    if (means_unsupported(ec) && st.method_moved == 0) return step_outcome::unsupported(ec);
    return step_outcome::failed(ec);
  }
  // Nothing out of a pipe said to hold bytes: the count is wrong, and retrying would spin.
  if (res == 0) return step_outcome::failed(make_error_code(std::errc::io_error));
  const auto n = static_cast<std::size_t>(res);
  st.pipe_inside -= std::min(n, st.pipe_inside);
  if (st.dst.positional) st.dst.offset += n;
  return step_outcome::progress(n);
}

std::optional<step_outcome> uring_flow::settle_reads(const uring_lane& lane, transfer_state& st,
                                                     std::uint64_t tag) {
  // Keep the buffers up to the first short read: later ones would leave a gap.
  const unsigned reads = ops_;
  usable_ = 0;
  read_total_ = 0;
  for (; usable_ < reads; ++usable_) {
    const int r = res_[usable_];
    if (r < 0) {
      if (usable_ > 0) break;  // write what came before; the error returns on the next round
      std::error_code ec = sys::errno_code(-r);
      if (ec == std::errc::invalid_argument && st.method_moved == 0) {
        return step_outcome::unsupported(ec);
      }
      return step_outcome::failed(ec);
    }
    const auto got = static_cast<std::size_t>(r);
    const bool short_read = got < asked_[usable_];
    asked_[usable_] = got;
    read_total_ += got;
    if (short_read) {
      ++usable_;
      break;
    }
  }
  if (read_total_ == 0) return step_outcome::eof();
  if (st.src.positional) st.src.offset += read_total_;
  auto q = queue_writes(lane, st, tag);
  if (!q) {
    if (st.src.positional) st.src.offset -= read_total_;
    return step_outcome::failed(q.error());
  }
  return std::nullopt;
}

std::expected<unsigned, std::error_code> uring_flow::queue_writes(const uring_lane& lane,
                                                                  transfer_state& st,
                                                                  std::uint64_t tag) {
  io_uring* r = lane.ring;
  uring_context& ctx = *lane.buffers;
  const bool fixed = ctx.fixed() && st.src.positional && st.dst.positional;
  phase_ = phase::writes;
  ops_ = 0;
  done_ = 0;
  std::uint64_t at = st.dst.offset;
  for (unsigned i = 0; i < usable_; ++i) {
    if (asked_[i] == 0) continue;
    io_uring_sqe* s = io_uring_get_sqe(r);
    if (!s) return std::unexpected(std::make_error_code(std::errc::device_or_resource_busy));
    const std::uint64_t off = st.dst.positional ? at : at_position;
    const auto n = static_cast<unsigned>(asked_[i]);
    if (fixed) {
      io_uring_prep_write_fixed(s, static_cast<int>(2 * group_ + 1), ctx.buffer(group_, i), n, off,
                                static_cast<int>(ctx.buffer_index(group_, i)));
      s->flags |= IOSQE_FIXED_FILE;
    } else {
      io_uring_prep_write(s, st.dst.fd(), ctx.buffer(group_, i), n, off);
    }
    // A stream sink takes the writes in order.
    if (!st.dst.positional && i + 1 < usable_) s->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(s, (tag << 8) | ops_);
    ++ops_;
    at += n;
  }
  return ops_;
}

step_outcome uring_flow::settle_writes(const uring_lane& lane, transfer_state& st) {
  uring_context& ctx = *lane.buffers;
  std::uint64_t moved = 0;
  auto fail = [&](std::error_code ec) {
    // Bytes read but not written: a file source is rewound so the result says exactly what
    // reached the sink.
    if (st.src.positional) st.src.offset -= (read_total_ - moved);
    return step_outcome::failed(ec, moved);
  };
  bool sequential = false;
  for (unsigned i = 0; i < ops_; ++i) {
    const std::size_t want = asked_[i];
    std::size_t done = 0;
    if (!sequential) {
      const int w = res_[i];
      if (w < 0 && w != -ECANCELED) return fail(sys::errno_code(-w));
      done = w > 0 ? static_cast<std::size_t>(w) : 0;
      if (done < want) sequential = true;
    }
    if (st.dst.positional) st.dst.offset += done;
    moved += done;
    // A short write (which also cancels the linked writes after it) is finished here.
    while (done < want) {
      const std::byte* p = ctx.buffer(group_, i) + done;
      auto w = st.dst.positional
                   ? sys::pwrite(st.dst.fd(), p, want - done, static_cast<off_t>(st.dst.offset))
                   : sys::write(st.dst.fd(), p, want - done);
      if (!w) return fail(w.error());
      if (*w == 0) return fail(make_error_code(std::errc::io_error));
      done += *w;
      moved += *w;
      if (st.dst.positional) st.dst.offset += *w;
    }
  }
  return step_outcome::progress(moved);
}

bool finish_if_moved_all(transfer_state& st) {
  if (!st.remaining || *st.remaining != 0 || st.in_flight() != 0) return false;
  st.result.complete = true;
  finish_transfer(st);
  return true;
}

round_verdict judge_round(transfer_state& st, const step_outcome& out) {
  account_step(st, method::io_uring, out);
  std::error_code refusal = out.error;
  switch (out.kind) {
    case step_kind::progressed:
    case step_kind::blocked_read:
    case step_kind::blocked_write:  // the next drain waits for room
      return round_verdict::go_on;
    case step_kind::end_of_source:
      if (st.in_flight() > 0) return round_verdict::go_on;  // the pipe still holds bytes
      switch (judge_end_of_source(st)) {
        case eof_verdict::complete:
          st.result.complete = true;
          finish_transfer(st);
          return round_verdict::done;
        case eof_verdict::truncated:
          st.result.error = errc::source_truncated;
          finish_transfer(st);
          return round_verdict::done;
        case eof_verdict::fall_back:
          refusal = errc::unexpected_eof;
          break;
      }
      break;
    case step_kind::unsupported:
      break;
    case step_kind::failed:
      st.result.error = out.error;
      finish_transfer(st);
      return round_verdict::done;
  }
  if (auto ec = fall_back(st, refusal)) {
    st.result.error = ec;
    finish_transfer(st);
    return round_verdict::done;
  }
  return round_verdict::fall_back;
}

}  // namespace zcopy::detail

#endif
