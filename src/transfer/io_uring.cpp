// io_uring: the engine's step on a per-thread ring (uring_flow.hpp has the rounds).
//
//   file → socket, pipe, char device   linked SPLICE pairs through a pooled pipe (io_uring has no
//                                       sendfile: ANCHORS.md, liburing)
//   file → file                        READ_FIXED then WRITE_FIXED on buffers and files registered
//                                       with the ring, several reads in flight at consecutive
//                                       offsets; the engine walks holes around the step
//   stream → any                       one READ, then the WRITE
//
// One step runs rounds until 16 MiB reached the sink, the budget is spent, or something other
// than progress happened. An opcode the probe does not report (or a test hides) makes the step
// unsupported, so the engine falls back. A kernel without io_uring, or one where it is switched
// off (kernel.io_uring_disabled, seccomp in containers), answers ENOSYS or EPERM to
// io_uring_setup; that is remembered for the process (availability.cpp).
#include "transfer/state.hpp"

#ifdef ZCOPY_WITH_URING
#include <algorithm>
#include <optional>

#include "sys/sys.hpp"
#include "transfer/uring_flow.hpp"

namespace zcopy::detail {

namespace {

constexpr unsigned depth = 4;
constexpr std::size_t chunk = std::size_t{512} << 10;  // 4 × 512 KiB pinned: RLIMIT_MEMLOCK is
                                                       // 8 MiB on Debian 12
constexpr std::uint64_t step_cap = std::uint64_t{16} << 20;

thread_local std::optional<uring_context> tls_context;

std::expected<uring_context*, std::error_code> context() {
  if (!tls_context) {
    auto c = uring_context::create(4 * depth, chunk, depth, 1);
    if (!c) return std::unexpected(c.error());
    tls_context.emplace(std::move(*c));
  }
  return &*tls_context;
}

// Submits and reaps until the flow's round has an outcome. EBUSY/EAGAIN from submit (the
// completion queue is full, or the kernel is short of memory) is answered by reaping what is
// there and submitting again.
std::error_code run_uring_round(uring_context& ctx, uring_flow& flow, transfer_state& st,
                                std::uint64_t tag, std::optional<step_outcome>& out) {
  io_uring* r = ctx.ring().get();
  while (!out) {
    ctx.ring().for_each_completion([&](const io_uring_cqe& cqe) {
      flow.complete(static_cast<unsigned>(cqe.user_data & 0xff), cqe.res);
    });
    if (!flow.in_flight()) {
      out = flow.settle(lane_of(ctx), st, tag);
      continue;
    }
    if (auto s = sys::uring_submit(r, 1); !s) {
      if (s.error() != std::errc::device_or_resource_busy &&
          s.error() != std::errc::resource_unavailable_try_again) {
        return s.error();
      }
    }
  }
  return {};
}

}  // namespace

step_outcome step_io_uring(transfer_state& st, std::uint64_t budget) {
  auto ctx_or = context();
  if (!ctx_or) {
    note_refusal(method::io_uring, ctx_or.error());
    return step_outcome::unsupported(ctx_or.error());
  }
  uring_context& ctx = **ctx_or;
  auto shape = uring_shape_for(st);
  if (!shape) return step_outcome::unsupported(shape.error());
  if (budget == 0 && st.pipe_inside == 0) return step_outcome::progress(0);

  uring_flow flow(*shape, 0);
  const bool bind =
      *shape == flow_shape::rw && ctx.fixed() && st.src.positional && st.dst.positional;
  if (bind) {
    if (auto e = ctx.bind_files(0, st.src.fd(), st.dst.fd())) return step_outcome::failed(e);
  }
  std::uint64_t moved = 0;
  step_outcome result = step_outcome::progress(0);
  for (;;) {
    auto queued = flow.queue(lane_of(ctx), st, budget - std::min(budget, moved), 0);
    if (!queued) {
      result = step_outcome::failed(queued.error());
      break;
    }
    if (*queued == 0) break;
    std::optional<step_outcome> out;
    if (auto e = run_uring_round(ctx, flow, st, 0, out)) {
      result = step_outcome::failed(e);
      break;
    }
    moved += out->moved;
    if (out->kind != step_kind::progressed || moved >= budget || moved >= step_cap ||
        (out->moved == 0 && st.pipe_inside == 0)) {
      result = *out;
      break;
    }
  }
  result.moved = moved;
  if (bind) (void)ctx.bind_files(0, -1, -1);  // the table keeps no file open after the step
  return result;
}

}  // namespace zcopy::detail

#else

namespace zcopy::detail {
step_outcome step_io_uring(transfer_state&, std::uint64_t) {
  return step_outcome::unsupported(errc::method_unavailable);
}
}  // namespace zcopy::detail

#endif
