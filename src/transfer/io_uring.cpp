// io_uring: reads and writes submitted in batches. One io_uring_enter submits up to `depth` reads
// and waits for them; one more submits the matching writes. For seekable sources the reads of a
// batch run at consecutive offsets in parallel; streams are read one request at a time. Writes to
// a stream are linked (IOSQE_IO_LINK) so they land in order.
//
// The ring is per thread and made on first use. A kernel without io_uring, or one where it is
// switched off (kernel.io_uring_disabled, or seccomp in containers), answers ENOSYS or EPERM to
// io_uring_setup; that is remembered for the process (availability.cpp).
#include "transfer/state.hpp"

#ifdef ZCOPY_WITH_URING
#include <liburing.h>

#include <algorithm>
#include <array>

#include "sys/sys.hpp"

namespace zcopy::detail {

namespace {

constexpr unsigned depth = 4;
constexpr std::size_t default_chunk = std::size_t{1} << 20;

struct ring_holder {
  io_uring ring{};
  int status = 1;  // 1: not made yet; 0: ready; < 0: -errno from io_uring_queue_init
  ~ring_holder() {
    if (status == 0) io_uring_queue_exit(&ring);
  }
};

thread_local ring_holder tls_ring;

std::expected<io_uring*, std::error_code> ring() {
  if (tls_ring.status == 1) {
    sys::count(syscall_kind::io_uring_setup);
    tls_ring.status = io_uring_queue_init(2 * depth, &tls_ring.ring, 0);
  }
  if (tls_ring.status < 0) return std::unexpected(errno_code(-tls_ring.status));
  return &tls_ring.ring;
}

// Submits what is queued and waits for `n` completions, retrying EINTR.
std::error_code submit_wait(io_uring* r, unsigned n) {
  for (;;) {
    sys::count(syscall_kind::io_uring_enter);
    int rc = io_uring_submit_and_wait(r, n);
    if (rc == -EINTR) continue;
    return rc < 0 ? errno_code(-rc) : std::error_code{};
  }
}

// Reaps exactly `n` completions into `results` indexed by user_data.
std::error_code reap(io_uring* r, unsigned n, std::array<int, depth>& results) {
  for (unsigned i = 0; i < n; ++i) {
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_wait_cqe(r, &cqe);
    if (rc < 0) return errno_code(-rc);
    results[static_cast<std::size_t>(cqe->user_data)] = cqe->res;
    io_uring_cqe_seen(r, cqe);
  }
  return {};
}

}  // namespace

step_outcome step_io_uring(transfer_state& st, std::uint64_t budget) {
  auto ring_or = ring();
  if (!ring_or) {
    note_refusal(method::io_uring, ring_or.error());
    return step_outcome::unsupported(ring_or.error());
  }
  io_uring* r = *ring_or;
  if (budget == 0) return step_outcome::progress(0);

  const std::size_t chunk = st.chunk_or(default_chunk);
  if (st.buffer.size() < chunk * depth) st.buffer.resize(chunk * depth);

  // Reads.
  std::array<std::size_t, depth> asked{};
  unsigned reads = 0;
  std::uint64_t planned = 0;
  const unsigned max_reads = st.src.positional ? depth : 1;
  while (reads < max_reads && planned < budget) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, budget - planned));
    io_uring_sqe* sqe = io_uring_get_sqe(r);
    if (!sqe) break;
    io_uring_prep_read(
        sqe, st.src.fd(), st.buffer.data() + reads * chunk, static_cast<unsigned>(n),
        st.src.positional ? st.src.offset + planned : static_cast<std::uint64_t>(-1));
    io_uring_sqe_set_data64(sqe, reads);
    asked[reads++] = n;
    planned += n;
  }
  std::array<int, depth> res{};
  if (auto e = submit_wait(r, reads)) return step_outcome::failed(e);
  if (auto e = reap(r, reads, res)) return step_outcome::failed(e);

  // Keep the buffers up to the first short read: later ones would leave a gap.
  std::array<std::size_t, depth> got{};
  unsigned usable = 0;
  for (; usable < reads; ++usable) {
    if (res[usable] < 0) {
      std::error_code ec = errno_code(-res[usable]);
      if (usable > 0) break;  // write what came before; the error returns on the next step
      if (ec == std::errc::invalid_argument && st.method_moved == 0) {
        return step_outcome::unsupported(ec);
      }
      return step_outcome::failed(ec);
    }
    got[usable] = static_cast<std::size_t>(res[usable]);
    if (got[usable] < asked[usable]) {
      ++usable;
      break;
    }
  }
  std::uint64_t total = 0;
  for (unsigned i = 0; i < usable; ++i) total += got[i];
  if (total == 0) return step_outcome::eof();
  if (st.src.positional) st.src.offset += total;

  // Writes: one batch, linked for a stream sink so they land in order. A short write (which also
  // cancels the linked writes after it) is finished one request at a time.
  std::uint64_t dst_at = st.dst.offset;
  for (unsigned i = 0; i < usable; ++i) {
    io_uring_sqe* sqe = io_uring_get_sqe(r);
    io_uring_prep_write(sqe, st.dst.fd(), st.buffer.data() + i * chunk,
                        static_cast<unsigned>(got[i]),
                        st.dst.positional ? dst_at : static_cast<std::uint64_t>(-1));
    if (!st.dst.positional && i + 1 < usable) sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqe, i);
    dst_at += got[i];
  }
  std::array<int, depth> wres{};
  if (auto e = submit_wait(r, usable)) return step_outcome::failed(e);
  if (auto e = reap(r, usable, wres)) return step_outcome::failed(e);

  std::uint64_t moved = 0;
  auto fail = [&](std::error_code ec) {
    // Bytes read but not written: for a file source the offset is rewound so the result says
    // exactly what reached the sink.
    if (st.src.positional) st.src.offset -= (total - moved);
    return step_outcome::failed(ec, moved);
  };
  bool sequential = false;
  for (unsigned i = 0; i < usable; ++i) {
    std::size_t done = 0;
    if (!sequential) {
      if (wres[i] < 0 && wres[i] != -ECANCELED) return fail(errno_code(-wres[i]));
      done = wres[i] > 0 ? static_cast<std::size_t>(wres[i]) : 0;
      if (done < got[i]) sequential = true;
    }
    if (st.dst.positional) st.dst.offset += done;
    moved += done;
    while (done < got[i]) {
      const std::byte* p = st.buffer.data() + i * chunk + done;
      auto w = st.dst.positional
                   ? sys::pwrite(st.dst.fd(), p, got[i] - done, static_cast<off_t>(st.dst.offset))
                   : sys::write(st.dst.fd(), p, got[i] - done);
      if (!w) return fail(w.error());
      if (*w == 0) return fail(make_error_code(std::errc::io_error));
      done += *w;
      moved += *w;
      if (st.dst.positional) st.dst.offset += *w;
    }
  }
  return step_outcome::progress(moved);
}

}  // namespace zcopy::detail

#else

namespace zcopy::detail {
step_outcome step_io_uring(transfer_state&, std::uint64_t) {
  return step_outcome::unsupported(errc::method_unavailable);
}
}  // namespace zcopy::detail

#endif
