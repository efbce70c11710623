// The transfer engine: plans the chain for a pair of endpoints and walks it (transfer.hpp).
//
// Rules it keeps (each with its source in docs/DESIGN.md):
//  - A method that is unsupported for this pair hands over to the next one from the current
//    offsets. Nothing restarts at offset 0 (rust-lang/rust#91152).
//  - Offsets are tracked here for every seekable side, also when the caller asked for the current
//    position: the kernel position is read once and written back at the end, so a fallback, a
//    pipe still holding bytes, or a resumed job can never lose or repeat a byte.
//  - A source that returns 0 before the length it had when the transfer began was truncated:
//    that is an error, not a spin and not a silent short copy (nginx reports it by name).
//  - Holes in a file source stay holes in a file sink (SEEK_DATA/SEEK_HOLE), except under
//    reflink, which shares the source's extents (holes included) anyway.
#include <algorithm>
#include <array>
#include <limits>

#include "sys/sys.hpp"
#include "transfer/state.hpp"

namespace zcopy {

namespace {

constexpr std::array<method, method_count - 1> concrete_methods = {
    method::read_write,      method::mmap_write, method::sendfile,  method::splice,
    method::copy_file_range, method::reflink,    method::direct_io, method::io_uring};

// With a progress callback or a stop token, no single step may run longer than this many bytes,
// so progress is reported and cancellation honoured promptly (Java caps at 1 MiB per call when
// interruptible; 8 MiB keeps the call count low at gigabytes per second).
constexpr std::uint64_t responsive_step = std::uint64_t{8} << 20;

}  // namespace

std::string_view to_string(method m) noexcept {
  switch (m) {
    case method::automatic:
      return "auto";
    case method::read_write:
      return "read_write";
    case method::mmap_write:
      return "mmap_write";
    case method::sendfile:
      return "sendfile";
    case method::splice:
      return "splice";
    case method::copy_file_range:
      return "copy_file_range";
    case method::reflink:
      return "reflink";
    case method::direct_io:
      return "direct_io";
    case method::io_uring:
      return "io_uring";
  }
  return "?";
}

std::optional<method> parse_method(std::string_view name) noexcept {
  if (name == "auto" || name == "automatic") return method::automatic;
  for (method m : concrete_methods) {
    if (to_string(m) == name) return m;
  }
  // Accept the spellings people type.
  if (name == "read-write" || name == "rw") return method::read_write;
  if (name == "mmap" || name == "mmap-write") return method::mmap_write;
  if (name == "copy-file-range" || name == "cfr") return method::copy_file_range;
  if (name == "direct" || name == "odirect" || name == "direct-io") return method::direct_io;
  if (name == "uring" || name == "io-uring") return method::io_uring;
  return std::nullopt;
}

std::span<const method> all_methods() noexcept {
  return concrete_methods;
}

bool applicable(method m, const endpoint_info& src, const endpoint_info& dst) noexcept {
  const bool src_file = src.is_file_like();
  const bool src_regular =
      src.kind == endpoint_kind::regular_file || src.kind == endpoint_kind::memfd;
  const bool dst_regular =
      dst.kind == endpoint_kind::regular_file || dst.kind == endpoint_kind::memfd;
  switch (m) {
    case method::automatic:
    case method::read_write:
      return true;
    case method::mmap_write:
    case method::direct_io:
      return src_file;
    case method::sendfile:
      // The kernel takes any sink; an O_APPEND file sink is refused with EINVAL (Java).
      return src_file && !dst.append_only();
    case method::splice:
      return !dst.append_only();
    case method::copy_file_range:
      return src_regular && dst_regular && !dst.append_only();
    case method::reflink:
      return src_regular && dst_regular && !dst.append_only() && src.device == dst.device;
    case method::io_uring:
#ifdef ZCOPY_WITH_URING
      // Event-loop integration of io_uring is its own engine; here both ends must block.
      return !src.nonblocking() && !dst.nonblocking();
#else
      return false;
#endif
  }
  return false;
}

std::vector<method> plan_for(const endpoint_info& src, const endpoint_info& dst,
                             const transfer_options& options) {
  std::vector<method> automatic;
  const bool dst_regular =
      (dst.kind == endpoint_kind::regular_file || dst.kind == endpoint_kind::memfd) &&
      !dst.append_only();
  if (dst.append_only()) {
    automatic = {method::read_write};
  } else if (src.is_file_like() && (src.direct_io() || dst.direct_io())) {
    // O_DIRECT asks to leave the page cache alone; a reflink copies nothing at all.
    if (dst_regular && src.device == dst.device && src.kind == endpoint_kind::regular_file) {
      automatic.push_back(method::reflink);
    }
    automatic.insert(automatic.end(), {method::direct_io, method::read_write});
  } else if (src.is_file_like() && src.size == 0 && src.kind != endpoint_kind::block_device) {
    // procfs and friends report size 0 with content behind it: only a read loop is reliable, and
    // an empty file costs one read either way (Rust std skips the kernel paths for len 0).
    automatic = {method::read_write};
  } else if (src.is_file_like() && dst_regular) {
    if (src.device == dst.device && src.kind == endpoint_kind::regular_file) {
      automatic.push_back(method::reflink);
    }
    // Go and coreutils skip copy_file_range before 5.3: earlier kernels could return short or
    // zero-byte copies on some filesystems (golang/go#42400).
    if (src.kind != endpoint_kind::block_device && detail::kernel_at_least(5, 3)) {
      automatic.push_back(method::copy_file_range);
    }
    automatic.insert(automatic.end(), {method::sendfile, method::read_write});
  } else if (src.is_file_like() && dst.kind == endpoint_kind::pipe) {
    automatic = {method::splice, method::sendfile, method::read_write};
  } else if (src.is_file_like()) {
    automatic = {method::sendfile, method::splice, method::read_write};
  } else if (src.kind == endpoint_kind::datagram_socket ||
             dst.kind == endpoint_kind::datagram_socket) {
    automatic = {method::read_write};  // splice would merge or split datagrams
  } else {
    automatic = {method::splice, method::read_write};
  }
  if (!options.allow_reflink) std::erase(automatic, method::reflink);
  if (options.use == method::automatic) return automatic;

  std::vector<method> chain = {options.use};
  // read_write never refuses a pair: nothing to fall back to.
  if (options.allow_fallback && options.use != method::read_write) {
    for (method m : automatic) {
      if (m != options.use) chain.push_back(m);
    }
    if (chain.back() != method::read_write) chain.push_back(method::read_write);
  }
  return chain;
}

namespace detail {
namespace {

bool stop_requested(const transfer_state& st) {
  return st.options.stop.stop_possible() && st.options.stop.stop_requested();
}

step_outcome run_step(transfer_state& st, method m, std::uint64_t budget) {
  if (!method_available(m)) return step_outcome::unsupported(errc::method_unavailable);
  if (!applicable(m, st.src.info, st.dst.info)) {
    return step_outcome::unsupported(errc::method_not_applicable);
  }
  switch (m) {
    case method::read_write:
      return step_read_write(st, budget);
    case method::mmap_write:
      return step_mmap_write(st, budget);
    case method::sendfile:
      return step_sendfile(st, budget);
    case method::splice:
      return step_splice(st, budget);
    case method::copy_file_range:
      return step_copy_file_range(st, budget);
    case method::reflink:
      return step_reflink(st, budget);
    case method::direct_io:
      return step_direct_io(st, budget);
    case method::io_uring:
      return step_io_uring(st, budget);
    case method::automatic:
      break;
  }
  return step_outcome::unsupported(errc::method_not_applicable);
}

// The bytes the next step may move.
std::uint64_t step_budget(const transfer_state& st, std::uint64_t moved_this_run) {
  std::uint64_t budget = std::numeric_limits<std::uint64_t>::max();
  if (st.remaining) budget = *st.remaining;
  if (st.options.step_limit) {
    budget = std::min<std::uint64_t>(budget, st.options.step_limit - moved_this_run);
  }
  // A clone only writes extent metadata: a whole file takes about a millisecond per GiB, so
  // splitting it for responsiveness would only multiply the calls (128 per GiB).
  if ((st.options.on_progress || st.options.stop.stop_possible()) &&
      st.current() != method::reflink) {
    budget = std::min(budget, responsive_step);
  }
  if (st.sparse && st.current() != method::reflink) {
    budget = std::min(budget, st.data_end - st.src.offset);
  }
  return budget;
}

// Moves a pipe's leftover bytes from a stream source into the buffered method's pending buffer,
// so a fallback from splice neither loses nor repeats them.
std::error_code rescue_pipe(transfer_state& st) {
  if (st.pipe_inside == 0) return {};
  if (st.src.positional) {
    // The bytes are still in the file: read them again from there.
    st.src.offset -= st.pipe_inside;
  } else {
    st.buffer.resize(std::max(st.buffer.size(), st.pipe_inside));
    auto got = sys::read_full(st.pipe.read_fd(), st.buffer.data(), st.pipe_inside);
    if (!got) return got.error();
    if (*got != st.pipe_inside) return make_error_code(std::errc::io_error);
    st.pending = st.buffer.data();
    st.pending_size = st.pipe_inside;
  }
  st.pipes().release(std::move(st.pipe), st.pipe_inside);
  st.pipe_inside = 0;
  return {};
}

// file → file with holes: skips the hole at the current offset, if any, and finds where the data
// that follows ends. Returns the bytes skipped.
std::expected<std::uint64_t, std::error_code> skip_hole(transfer_state& st) {
  const std::uint64_t end = st.expected_end;
  auto data = sys::lseek(st.src.fd(), static_cast<off_t>(st.src.offset), SEEK_DATA);
  std::uint64_t data_start;
  if (data) {
    data_start = std::min<std::uint64_t>(static_cast<std::uint64_t>(*data), end);
  } else if (data.error() == std::errc::no_such_device_or_address) {
    data_start = end;  // ENXIO: no data after the offset, the rest is a hole
  } else {
    return std::unexpected(data.error());
  }
  std::uint64_t skipped = data_start - st.src.offset;
  if (skipped > 0) {
    // Inside the sink's old extent a skipped hole must read back as zeros: punch it.
    std::uint64_t dst_from = st.dst.offset;
    std::uint64_t dst_to = std::min(st.dst.offset + skipped, st.dst_size_at_start);
    if (dst_from < dst_to) {
      auto punched =
          sys::fallocate(st.dst.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         static_cast<off_t>(dst_from), static_cast<off_t>(dst_to - dst_from));
      if (!punched) {
        // Filesystems without hole punching get real zeros instead.
        static const std::array<std::byte, 65536> zeros{};
        for (std::uint64_t o = dst_from; o < dst_to;) {
          std::size_t n =
              static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), dst_to - o));
          auto w = sys::pwrite(st.dst.fd(), zeros.data(), n, static_cast<off_t>(o));
          if (!w) return std::unexpected(w.error());
          o += *w;
        }
      }
    }
    st.src.offset += skipped;
    st.dst.offset += skipped;
    st.holes_skipped = true;
  }
  if (data_start < end) {
    auto hole = sys::lseek(st.src.fd(), static_cast<off_t>(data_start), SEEK_HOLE);
    st.data_end = hole ? std::min<std::uint64_t>(static_cast<std::uint64_t>(*hole), end) : end;
    if (st.data_end <= data_start) st.data_end = end;
  } else {
    st.data_end = end;
  }
  return skipped;
}

void finish_positions(transfer_state& st) {
  // Current-position mode: the position moves by what reached the sink, like read/write would.
  // Explicit offsets: put back a position that sendfile had to move.
  for (side* s : {&st.src, &st.dst}) {
    if (!s->positional) continue;
    std::optional<std::uint64_t> want;
    if (!s->explicit_offset) {
      want = s->start + st.result.bytes;
    } else if (s->original_position) {
      want = s->original_position;  // sendfile moved it (sendfile.cpp)
    }
    if (want) (void)sys::lseek(s->fd(), static_cast<off_t>(*want), SEEK_SET);
  }
}

}  // namespace

std::error_code fall_back(transfer_state& st, std::error_code why) {
  if (st.chain_index + 1 >= st.chain.size()) return why;
  const method m = st.current();
  const method next = st.chain[st.chain_index + 1];
  st.result.fallbacks.push_back({m, next, why, st.result.bytes});
  if (auto e = rescue_pipe(st)) return e;
  leave_method(st);
  ++st.chain_index;
  st.method_moved = 0;
  return {};
}

eof_verdict judge_end_of_source(const transfer_state& st) {
  if (!st.size_known || st.src.offset >= st.expected_end) return eof_verdict::complete;
  // A zero before the end this transfer planned for. Either the file shrank (truncated under
  // us: an error), or its size is a guess (sysfs says 4096 for a few bytes) and the method
  // cannot read it (copy_file_range returns 0 there: golang/go#44272), or the method already
  // read all there is.
  auto now = sys::fstat(st.src.fd());
  if (now && static_cast<std::uint64_t>(now->st_size) < st.expected_end &&
      static_cast<std::uint64_t>(now->st_size) != st.src.info.size) {
    return eof_verdict::truncated;
  }
  if (st.method_moved > 0 || st.chain_index + 1 >= st.chain.size()) return eof_verdict::complete;
  return eof_verdict::fall_back;
}

void account_step(transfer_state& st, method m, const step_outcome& out) {
  if (out.moved == 0) return;
  st.result.bytes += out.moved;
  st.result.bytes_by_method[static_cast<std::size_t>(m)] += out.moved;
  st.result.used = m;
  st.method_moved += out.moved;
  if (st.remaining) *st.remaining -= std::min(*st.remaining, out.moved);
  if (st.options.on_progress) st.options.on_progress(st.result.bytes);
}

void finish_transfer(transfer_state& st) {
  if (st.finished) return;
  st.finished = true;
  if (st.result.complete && st.holes_skipped) {
    // A trailing hole: the sink must still end where the source range ends.
    if (auto s = sys::fstat(st.dst.fd());
        s && static_cast<std::uint64_t>(s->st_size) < st.dst.offset) {
      if (auto t = sys::ftruncate(st.dst.fd(), static_cast<off_t>(st.dst.offset)); !t) {
        st.result.error = t.error();
        st.result.complete = false;
      }
    }
  }
  leave_method(st);
  finish_positions(st);
}

void leave_method(transfer_state& st) {
  if (st.pipe) {
    st.pipes().release(std::move(st.pipe), st.pipe_inside);
    st.pipe_inside = 0;
  }
  st.window = mapping();
  st.direct_src.reset();
  st.direct_dst.reset();
  st.direct_ready = false;
}

}  // namespace detail

// --- transfer_job --------------------------------------------------------------------------

transfer_job::transfer_job(std::unique_ptr<detail::transfer_state> state) noexcept
    : state_(std::move(state)) {}
transfer_job::transfer_job(transfer_job&&) noexcept = default;
transfer_job& transfer_job::operator=(transfer_job&&) noexcept = default;
transfer_job::~transfer_job() {
  if (state_ && !state_->finished) detail::finish_transfer(*state_);
}

const transfer_result& transfer_job::result() const noexcept {
  return state_->result;
}
bool transfer_job::done() const noexcept {
  return state_->finished;
}
std::uint64_t transfer_job::in_flight() const noexcept {
  return state_->in_flight();
}
const endpoint_info& transfer_job::source() const noexcept {
  return state_->src.info;
}
const endpoint_info& transfer_job::sink() const noexcept {
  return state_->dst.info;
}
std::span<const method> transfer_job::plan() const noexcept {
  return state_->chain;
}

std::expected<transfer_job, std::error_code> transfer_job::create(int source, int sink,
                                                                  transfer_options options) {
  const auto before = thread_syscall_counts().total();
  auto src = classify(source);
  if (!src) return std::unexpected(src.error());
  auto dst = classify(sink);
  if (!dst) return std::unexpected(dst.error());
  const auto classifying = thread_syscall_counts().total() - before;
  auto job = create(*src, *dst, std::move(options));
  if (job) job->state_->result.syscalls += classifying;  // the result counts every call
  return job;
}

std::expected<transfer_job, std::error_code> transfer_job::create(const endpoint_info& source,
                                                                  const endpoint_info& sink,
                                                                  transfer_options options) {
  auto before = thread_syscall_counts().total();
  auto st = std::make_unique<detail::transfer_state>();
  if ((source.status_flags & O_ACCMODE) == O_WRONLY ||
      (sink.status_flags & O_ACCMODE) == O_RDONLY) {
    return std::unexpected(std::make_error_code(std::errc::bad_file_descriptor));
  }

  st->options = std::move(options);
  st->src.info = source;
  st->dst.info = sink;
  for (detail::side* s : {&st->src, &st->dst}) {
    s->positional = s->info.is_seekable() && !(s == &st->dst && s->info.append_only());
  }
  st->src.explicit_offset = st->options.source_offset.has_value();
  st->dst.explicit_offset = st->options.sink_offset.has_value();
  if (st->src.explicit_offset && !st->src.positional) {
    return std::unexpected(std::make_error_code(std::errc::invalid_seek));
  }
  if (st->dst.explicit_offset && !st->dst.positional) {
    return std::unexpected(std::make_error_code(std::errc::invalid_seek));
  }
  // (A lambda per end rather than a loop over an initializer list of pointers: g++ 12 at -O3
  // reports a false stringop-overflow for the loop.)
  auto place = [](auto& end, std::optional<std::uint64_t> given) -> std::error_code {
    if (!end.positional) return {};
    if (given) {
      end.start = *given;
    } else {
      auto pos = sys::lseek(end.fd(), 0, SEEK_CUR);
      if (!pos) return pos.error();
      end.start = static_cast<std::uint64_t>(*pos);
      end.kernel_at = end.start;
    }
    end.offset = end.start;
    return {};
  };
  if (auto ec = place(st->src, st->options.source_offset); ec) return std::unexpected(ec);
  if (auto ec = place(st->dst, st->options.sink_offset); ec) return std::unexpected(ec);

  // The end: a length limit, the size of a file source, or the end of a stream.
  st->remaining = st->options.length;
  const bool sized = st->src.info.is_file_like() &&
                     (st->src.info.size > 0 || st->src.info.kind == endpoint_kind::block_device);
  if (sized) {
    st->size_known = true;
    std::uint64_t end = std::max(st->src.info.size, st->src.start);
    if (st->options.length) end = std::min(end, st->src.start + *st->options.length);
    st->expected_end = end;
    st->remaining = end - st->src.start;
  }

  // The same file on both sides: overlapping ranges would read what was just written.
  if (st->src.info.is_file_like() && st->dst.info.is_file_like() &&
      st->src.info.device == st->dst.info.device && st->src.info.inode == st->dst.info.inode) {
    const std::uint64_t len = st->remaining.value_or(std::numeric_limits<std::uint64_t>::max() / 2);
    const std::uint64_t a = st->src.start,
                        b = st->dst.positional ? st->dst.start : st->dst.info.size;
    if (a < b + len && b < a + len) {
      return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    }
  }

  if (st->dst.positional) st->dst_size_at_start = st->dst.info.size;
  st->chain = plan_for(st->src.info, st->dst.info, st->options);
  if (st->options.use != method::automatic && !st->options.allow_fallback &&
      !applicable(st->options.use, st->src.info, st->dst.info)) {
    return std::unexpected(make_error_code(errc::method_not_applicable));
  }
  st->sparse = st->options.keep_holes && st->size_known && st->src.positional &&
               st->dst.positional && st->src.info.may_have_holes() &&
               (st->dst.info.kind == endpoint_kind::regular_file);
  st->data_end = st->src.offset;
  st->result.syscalls = thread_syscall_counts().total() - before;
  return transfer_job(std::move(st));
}

transfer_result transfer_job::run() {
  using namespace detail;
  transfer_state& st = *state_;
  if (st.finished) return st.result;
  const auto before = thread_syscall_counts().total();
  st.result.blocked = wait_for::nothing;
  std::uint64_t moved_this_run = 0;

  for (;;) {
    if (st.remaining && *st.remaining == 0 && st.in_flight() == 0) {
      st.result.complete = true;
      break;
    }
    if (stop_requested(st)) {
      st.result.error = errc::cancelled;
      break;
    }
    if (st.options.step_limit && moved_this_run >= st.options.step_limit) break;

    const method m = st.current();
    if (st.sparse && m != method::reflink && st.src.offset >= st.data_end && st.in_flight() == 0) {
      auto skipped = skip_hole(st);
      if (!skipped) {
        st.result.error = skipped.error();
        break;
      }
      st.result.bytes += *skipped;
      moved_this_run += *skipped;
      if (st.remaining) *st.remaining -= *skipped;
      if (*skipped > 0) continue;
    }

    step_outcome out = run_step(st, m, step_budget(st, moved_this_run));
    account_step(st, m, out);
    moved_this_run += out.moved;

    if (out.kind == step_kind::progressed) continue;

    if (out.kind == step_kind::end_of_source) {
      if (st.in_flight() > 0) continue;  // the method still holds bytes to write
      const eof_verdict verdict = judge_end_of_source(st);
      if (verdict == eof_verdict::truncated) {
        st.result.error = errc::source_truncated;
        break;
      }
      if (verdict == eof_verdict::complete) {
        st.result.complete = true;
        break;
      }
      out = step_outcome::unsupported(errc::unexpected_eof);
    }

    if (out.kind == step_kind::unsupported) {
      if (auto e = fall_back(st, out.error)) {
        st.result.error = e;
        break;
      }
      continue;
    }

    if (out.kind == step_kind::blocked_read || out.kind == step_kind::blocked_write) {
      const bool reading = out.kind == step_kind::blocked_read;
      const side& s = reading ? st.src : st.dst;
      if (s.info.nonblocking()) {
        st.result.blocked = reading ? wait_for::readable : wait_for::writable;
        break;
      }
      // A blocking end answered EAGAIN because splice was asked not to block
      // (SPLICE_F_NONBLOCK is always passed: golang/go#63795). Wait, then go on.
      if (auto w = sys::wait_ready(s.fd(), reading ? POLLIN : POLLOUT); !w) {
        st.result.error = w.error();
        break;
      }
      continue;
    }

    st.result.error = out.error;  // step_kind::failed
    break;
  }

  if (st.result.complete || st.result.error) finish_transfer(st);
  st.result.syscalls += thread_syscall_counts().total() - before;
  return st.result;
}

namespace {

// Runs a created job to completion (or a would-block that leaves nothing in flight).
transfer_result run_to_end(std::expected<transfer_job, std::error_code> job,
                           std::uint64_t syscalls_before) {
  if (!job) {
    transfer_result r;
    r.error = job.error();
    r.syscalls = thread_syscall_counts().total() - syscalls_before;
    return r;
  }
  transfer_result r = job->run();
  while (r.would_block() && job->in_flight() > 0 && !job->source().is_seekable()) {
    const int fd = r.blocked == wait_for::readable ? job->source().fd : job->sink().fd;
    if (auto w = sys::wait_ready(fd, r.blocked == wait_for::readable ? POLLIN : POLLOUT); !w) {
      r.error = w.error();
      break;
    }
    r = job->run();
  }
  return r;
}

}  // namespace

transfer_result transfer(int source, int sink, const transfer_options& options) {
  const auto before = thread_syscall_counts().total();
  return run_to_end(transfer_job::create(source, sink, options), before);
}

transfer_result transfer(const endpoint_info& source, const endpoint_info& sink,
                         const transfer_options& options) {
  const auto before = thread_syscall_counts().total();
  return run_to_end(transfer_job::create(source, sink, options), before);
}

}  // namespace zcopy
