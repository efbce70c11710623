// uring_batch (zcopy/uring_batch.hpp): transfer_jobs whose states are driven by uring_flows on one
// ring. The engine's own rules (end of source, truncation, positions, pipe release) are reused
// through state.hpp; only the submit/reap loop is here.
#include "zcopy/uring_batch.hpp"

#include <limits>
#include <optional>
#include <vector>

#include "sys/sys.hpp"
#include "transfer/state.hpp"

#ifdef ZCOPY_WITH_URING
#include "transfer/uring_flow.hpp"
#endif

namespace zcopy {

#ifdef ZCOPY_WITH_URING

namespace {

struct entry {
  explicit entry(transfer_job j) : job(std::move(j)), st(&detail::job_access::state(job)) {}
  transfer_job job;
  detail::transfer_state* st;
  std::optional<detail::uring_flow> flow;
  bool started = false;
  bool done = false;
  bool holds_group = false;
};

bool busy(const std::error_code& ec) {
  return ec == std::errc::device_or_resource_busy ||
         ec == std::errc::resource_unavailable_try_again;
}

}  // namespace

struct uring_batch::impl {
  impl(detail::uring_context c, const uring_batch_options& o)
      : ctx(std::move(c)), options(o), own_pipes(16, o.chunk_size * o.depth) {}
  detail::uring_context ctx;
  uring_batch_options options;
  pipe_pool own_pipes;
  std::vector<std::unique_ptr<entry>> entries;
  std::size_t next = 0;    // the first entry not started yet
  std::size_t active = 0;  // started and not done
  std::size_t unfinished = 0;

  void reap() {
    ctx.ring().for_each_completion([&](const io_uring_cqe& cqe) {
      entry& e = *entries[cqe.user_data >> 8];
      e.flow->complete(static_cast<unsigned>(cqe.user_data & 0xff), cqe.res);
    });
  }

  // Room for `n` entries in the submission queue: a full queue is submitted first.
  std::error_code reserve(unsigned n) {
    io_uring* r = ctx.ring().get();
    while (io_uring_sq_space_left(r) < n) {
      if (auto s = sys::uring_submit(r, 0); !s) {
        if (!busy(s.error())) return s.error();
        reap();  // the completion queue is full: make room, then submit again
      }
    }
    return {};
  }

  // The entry leaves the batch's books: its buffer group and file slots are free again.
  void close(entry& e) {
    e.done = true;
    --unfinished;
    if (e.started) --active;
    if (e.holds_group) {
      (void)ctx.bind_files(e.flow->group(), -1, -1);
      ctx.give_group(e.flow->group());
      e.holds_group = false;
    }
  }

  void finish(entry& e) {
    close(e);
    detail::finish_transfer(*e.st);
  }

  // The engine's chain runs the transfer (a missing opcode, holes, a splice refused): the
  // fallback is recorded in its result as for any transfer.
  void hand_to_engine(entry& e) {
    transfer_result r = e.job.run();
    while (r.would_block()) {
      const bool reading = r.blocked == wait_for::readable;
      const int fd = reading ? e.job.source().fd : e.job.sink().fd;
      if (auto w = sys::wait_ready(fd, reading ? POLLIN : POLLOUT); !w) {
        e.st->result.error = w.error();
        break;
      }
      r = e.job.run();
    }
    close(e);
    if (!e.job.done()) detail::finish_transfer(*e.st);
  }

  // Starts a transfer: picks its shape, takes a buffer group for file → file. False: no group
  // free now (try again after a transfer ends).
  bool start(entry& e) {
    auto shape = detail::uring_shape_for(*e.st);
    if (!shape || e.st->sparse) {
      hand_to_engine(e);
      return true;
    }
    unsigned group = 0;
    if (*shape == detail::flow_shape::rw) {
      auto g = ctx.take_group();
      if (!g) return false;
      group = *g;
      e.holds_group = true;
      if (auto ec = ctx.bind_files(group, e.st->src.fd(), e.st->dst.fd())) {
        e.flow.emplace(*shape, group);
        e.st->result.error = ec;
        finish(e);
        return true;
      }
    }
    e.flow.emplace(*shape, group);
    e.started = true;
    ++active;
    return true;
  }

  // What one settled round means for the transfer (the engine's rules, uring_flow.hpp).
  void handle(entry& e, const detail::step_outcome& out) {
    switch (detail::judge_round(*e.st, out)) {
      case detail::round_verdict::go_on:
        return;
      case detail::round_verdict::done:
        finish(e);
        return;
      case detail::round_verdict::fall_back:
        hand_to_engine(e);
        return;
    }
  }

  // Queues or settles rounds of one transfer until it has entries in flight or is done.
  std::error_code drive(entry& e, std::size_t index) {
    detail::transfer_state& st = *e.st;
    while (!e.done && !e.flow->in_flight()) {
      const detail::uring_lane lane = detail::lane_of(ctx);
      if (auto ec = reserve(e.flow->max_entries(lane))) return ec;
      if (!e.flow->idle()) {
        if (auto out = e.flow->settle(lane, st, index)) handle(e, *out);
        continue;
      }
      if (detail::finish_if_moved_all(st)) {
        finish(e);
        break;
      }
      const std::uint64_t budget = st.remaining.value_or(std::numeric_limits<std::uint64_t>::max());
      auto queued = e.flow->queue(lane, st, budget, index);
      if (!queued) {
        st.result.error = queued.error();
        finish(e);
      }
    }
    return {};
  }

  std::expected<std::size_t, std::error_code> poll(bool wait) {
    while (next < entries.size() && active < options.max_active) {
      if (!start(*entries[next])) break;
      ++next;
    }
    bool in_flight = false;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      entry& e = *entries[i];
      if (!e.started || e.done) continue;
      if (auto ec = drive(e, i)) return std::unexpected(ec);
      in_flight = in_flight || (!e.done && e.flow->in_flight());
    }
    if (in_flight) {
      if (auto s = sys::uring_submit(ctx.ring().get(), wait ? 1 : 0); !s && !busy(s.error())) {
        return std::unexpected(s.error());
      }
      reap();
    }
    return unfinished;
  }
};

uring_batch::uring_batch(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
uring_batch::uring_batch(uring_batch&&) noexcept = default;
uring_batch& uring_batch::operator=(uring_batch&&) noexcept = default;
uring_batch::~uring_batch() = default;

std::expected<uring_batch, std::error_code> uring_batch::create(const uring_batch_options& o) {
  uring_batch_options options = o;
  options.depth = std::clamp(options.depth, 1u, detail::uring_max_depth);
  // A round of one transfer must fit the queue: 2 entries per pair, plus a poll.
  options.entries = std::max(options.entries, 2 * options.depth + 1);
  options.max_active = std::max<std::size_t>(options.max_active, 1);
  options.buffer_groups = std::max(options.buffer_groups, 1u);
  if (options.chunk_size == 0) options.chunk_size = uring_batch_options{}.chunk_size;
  auto ctx = detail::uring_context::create(options.entries, options.chunk_size, options.depth,
                                           options.buffer_groups);
  if (!ctx) {
    detail::note_refusal(method::io_uring, ctx.error());
    return std::unexpected(ctx.error());
  }
  return uring_batch(std::make_unique<impl>(std::move(*ctx), options));
}

std::expected<std::size_t, std::error_code> uring_batch::add(int source, int sink,
                                                             const transfer_options& options) {
  transfer_options o = options;
  o.use = method::io_uring;
  o.allow_fallback = true;
  o.chunk_size = impl_->options.chunk_size;
  o.pipes = impl_->options.pipes ? impl_->options.pipes : &impl_->own_pipes;
  o.step_limit = 0;
  auto job = transfer_job::create(source, sink, std::move(o));
  if (!job) return std::unexpected(job.error());
  if (!job->source().is_file_like()) {
    return std::unexpected(make_error_code(errc::method_not_applicable));
  }
  impl_->entries.push_back(std::make_unique<entry>(std::move(*job)));
  ++impl_->unfinished;
  return impl_->entries.size() - 1;
}

std::error_code uring_batch::run() {
  for (;;) {
    auto left = impl_->poll(true);
    if (!left) return left.error();
    if (*left == 0) return {};
  }
}

std::expected<std::size_t, std::error_code> uring_batch::poll(bool wait) {
  return impl_->poll(wait);
}

std::size_t uring_batch::size() const noexcept {
  return impl_->entries.size();
}

const transfer_result& uring_batch::result(std::size_t index) const {
  return impl_->entries.at(index)->st->result;
}

bool uring_batch::done(std::size_t index) const {
  return impl_->entries.at(index)->done;
}

#else

struct uring_batch::impl {};

uring_batch::uring_batch(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
uring_batch::uring_batch(uring_batch&&) noexcept = default;
uring_batch& uring_batch::operator=(uring_batch&&) noexcept = default;
uring_batch::~uring_batch() = default;

std::expected<uring_batch, std::error_code> uring_batch::create(const uring_batch_options&) {
  return std::unexpected(make_error_code(errc::method_unavailable));
}
std::expected<std::size_t, std::error_code> uring_batch::add(int, int, const transfer_options&) {
  return std::unexpected(make_error_code(errc::method_unavailable));
}
std::error_code uring_batch::run() {
  return {};
}
std::expected<std::size_t, std::error_code> uring_batch::poll(bool) {
  return 0;
}
std::size_t uring_batch::size() const noexcept {
  return 0;
}
const transfer_result& uring_batch::result(std::size_t) const {
  static const transfer_result none;
  return none;
}
bool uring_batch::done(std::size_t) const {
  return true;
}

#endif

}  // namespace zcopy
