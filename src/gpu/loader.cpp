// The loaders of zcopy/gpu.hpp (CUDA build): registered, bounce, cufile, naive, and the automatic
// choice with its fallbacks.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gpu/cuda.hpp"
#include "gpu/cufile.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"
#include "zcopy/fd.hpp"
#include "zcopy/gpu.hpp"
#include "zcopy/gpu_plan.hpp"
#include "zcopy/mapping.hpp"

namespace zcopy::gpu {
namespace {

// O_DIRECT wants file offsets, lengths and buffer addresses aligned to the logical block size;
// a page covers every block size in use (512 and 4096).
constexpr std::uint64_t direct_alignment = 4096;
constexpr std::uint64_t min_bounce_piece = std::uint64_t{1} << 20;

struct job {
  int fd = -1;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::byte* dst = nullptr;
  int device = 0;
  std::uint64_t file_size = 0;
};

struct attempt_info {
  bool direct = false;
  unsigned threads = 1;
};

// Why an attempt stopped: `fall_back` when the system refused the method (the next method can
// still do the job), otherwise an error to report.
struct attempt_failure {
  std::error_code code;
  std::string reason;
  bool fall_back = false;
};

using attempt = std::expected<attempt_info, attempt_failure>;

std::unexpected<attempt_failure> refused(std::error_code code, std::string reason) {
  return std::unexpected(attempt_failure{code, std::move(reason), true});
}
std::unexpected<attempt_failure> failed(std::error_code code, std::string reason = {}) {
  return std::unexpected(attempt_failure{code, std::move(reason), false});
}

// The first failure among a method's threads; the others see failed() and stop.
class first_failure {
 public:
  void set(attempt_failure f) {
    std::lock_guard lock(lock_);
    if (!failed_.exchange(true)) failure_ = std::move(f);
  }
  bool failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
  attempt_failure take() { return std::move(failure_); }

 private:
  std::mutex lock_;
  std::atomic<bool> failed_{false};
  attempt_failure failure_;
};

// Runs worker(i) for i in [0, count) on count threads, the calling thread being one of them.
template <typename F>
void run_workers(unsigned count, F&& worker) {
  std::vector<std::jthread> pool;
  pool.reserve(count - 1);
  for (unsigned i = 1; i < count; ++i) pool.emplace_back([&worker, i] { worker(i); });
  worker(0u);
}

std::uint64_t round_up(std::uint64_t v, std::uint64_t to) {
  return (v + to - 1) / to * to;
}

// pread until `need` bytes are in `buf` (asking for up to `want`, need <= want). An end of file
// before `need` means the file shrank after load() checked its size.
std::expected<void, std::error_code> read_at_least(int fd, std::byte* buf, std::uint64_t want,
                                                   std::uint64_t need, std::uint64_t at) {
  std::uint64_t got = 0;
  while (got < need) {
    auto n =
        sys::pread(fd, buf + got, static_cast<size_t>(want - got), static_cast<off_t>(at + got));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return std::unexpected(make_error_code(errc::source_truncated));
    got += *n;
  }
  return {};
}

unsigned worker_count(const load_options& o, std::size_t pieces) {
  unsigned n = o.threads;
  if (n == 0) n = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  return static_cast<unsigned>(std::clamp<std::size_t>(pieces, 1, n));
}

// Opens the file again with O_DIRECT (through /proc/self/fd, so the caller's descriptor and its
// flags stay as they are).
std::expected<unique_fd, std::error_code> reopen_direct(int fd) {
  return unique_fd::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDONLY | O_DIRECT);
}

std::uint64_t bounce_piece_size(const load_options& o) {
  return round_up(std::max(o.chunk_size / 4, min_bounce_piece), direct_alignment);
}

// What the bounce threads of one load share: the file (and its O_DIRECT twin while direct reads
// work) and the notes they leave in the report.
struct bounce_source {
  int fd = -1;
  unique_fd direct_fd;
  std::atomic<bool> direct{false};
  std::mutex notes_lock;
  std::vector<std::string>* notes = nullptr;
};

// One thread's pair of pinned buffers and its stream: a piece is read into one buffer while the
// other's DMA runs.
class bounce_lane {
 public:
  // The stream and buffers, or the failure (a refused pinned allocation is a fallback).
  std::expected<void, attempt_failure> open(std::uint64_t piece) {
    auto st = cuda::make_stream();
    if (!st) return std::unexpected(attempt_failure{st.error(), {}});
    stream_ = std::move(*st);
    for (slot& sl : ring_) {
      auto b = cuda::pinned_buffer::allocate(static_cast<std::size_t>(piece));
      if (!b) {
        return std::unexpected(attempt_failure{b.error(),
                                               "cudaHostAlloc of " + std::to_string(piece) +
                                                   " bytes refused (" + b.error().message() + ")",
                                               true});
      }
      auto e = cuda::make_event();
      if (!e) return std::unexpected(attempt_failure{e.error(), {}});
      sl.buffer = std::move(*b);
      sl.copied = std::move(*e);
    }
    return {};
  }

  // Reads piece `c` (page-aligned map range, as plan_chunks makes them with a 4 KiB page) and
  // queues its copy to `dst`.
  std::expected<void, attempt_failure> copy(bounce_source& src, const file_chunk& c,
                                            std::byte* dst) {
    slot& sl = ring_[next_];
    next_ ^= 1;
    if (sl.busy) {
      if (auto r = cuda::check(cudaEventSynchronize(sl.copied.get())); !r) {
        return std::unexpected(attempt_failure{r.error(), {}});
      }
      sl.busy = false;
    }
    std::byte* from = nullptr;
    std::expected<void, std::error_code> read;
    if (src.direct.load(std::memory_order_relaxed)) {
      // Whole pages from the page-aligned start; the bytes of interest lie inside.
      const std::uint64_t need = c.offset + c.length - c.map_offset;
      read = read_at_least(src.direct_fd.get(), sl.buffer.data(), c.map_length, need, c.map_offset);
      if (!read && read.error() == std::errc::invalid_argument) {
        // The filesystem takes O_DIRECT opens but not these reads: go on buffered.
        if (src.direct.exchange(false)) {
          std::lock_guard lock(src.notes_lock);
          src.notes->push_back("bounce: O_DIRECT reads refused (EINVAL); buffered reads");
        }
      } else {
        from = sl.buffer.data() + (c.offset - c.map_offset);
      }
    }
    if (from == nullptr) {
      read = read_at_least(src.fd, sl.buffer.data(), c.length, c.length, c.offset);
      from = sl.buffer.data();
    }
    if (!read) return std::unexpected(attempt_failure{read.error(), {}});
    if (auto r = cuda::check(cudaMemcpyAsync(dst, from, static_cast<std::size_t>(c.length),
                                             cudaMemcpyHostToDevice, stream_.get()));
        !r) {
      return std::unexpected(attempt_failure{r.error(), {}});
    }
    if (auto r = cuda::check(cudaEventRecord(sl.copied.get(), stream_.get())); !r) {
      return std::unexpected(attempt_failure{r.error(), {}});
    }
    sl.busy = true;
    return {};
  }

  // Waits for the queued copies (the buffers must outlive them).
  std::expected<void, std::error_code> finish() {
    if (stream_.get() == nullptr) return {};
    return cuda::check(cudaStreamSynchronize(stream_.get()));
  }

 private:
  struct slot {
    cuda::pinned_buffer buffer;
    cuda::event copied;
    bool busy = false;
  };
  cuda::stream stream_;
  std::array<slot, 2> ring_;
  unsigned next_ = 0;
};

// (a) The page cache pinned in place. A registering thread keeps two chunks registered: the DMA
// of one runs while the next is registered, and a chunk is unregistered once its copy is done.
// The driver registers memory one call at a time (measured: 2 to 16 threads register no faster
// than one), so only `register_threads` threads register; the others take chunks from the same
// queue through bounce buffers, the two paths sharing the copy engines and PCIe bandwidth that
// registration alone leaves idle.
attempt load_registered(const job& j, const load_options& o, std::vector<std::string>& notes) {
  int read_only = 0;
  if (cudaDeviceGetAttribute(&read_only, cudaDevAttrHostRegisterReadOnlySupported, j.device) !=
          cudaSuccess ||
      read_only == 0) {
    (void)cudaGetLastError();
    return refused(make_error_code(errc::method_unavailable),
                   "the device cannot register read-only host memory");
  }
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::vector<file_chunk> chunks = plan_chunks(j.offset, j.length, o.chunk_size, page);
  const std::uint64_t base = chunks.front().map_offset;
  const std::uint64_t end = chunks.back().map_offset + chunks.back().map_length;
  // Never touched by the CPU (the driver pins the pages, the copy engine reads them): no SIGBUS
  // guard needed; a truncation shows up as a refused registration or in the final size check.
  auto map = mapping::map(j.fd, map_access::read_only, base, static_cast<std::size_t>(end - base),
                          map_options{.guard = false});
  if (!map) return refused(map.error(), "mmap: " + map.error().message());

  const unsigned threads = worker_count(o, chunks.size());
  const unsigned registering = std::clamp(o.register_threads, 1u, threads);
  const std::uint64_t piece = bounce_piece_size(o);
  bounce_source source;
  source.fd = j.fd;
  source.notes = &notes;
  std::atomic<std::size_t> next{0};
  first_failure failure;

  const auto register_chunks = [&] {
    auto s = cuda::make_stream();
    if (!s) return failure.set({s.error(), {}});
    struct slot {
      cuda::event copied;
      cuda::host_registration pinned;
      bool busy = false;
    };
    std::array<slot, 2> ring;
    for (slot& sl : ring) {
      auto e = cuda::make_event();
      if (!e) return failure.set({e.error(), {}});
      sl.copied = std::move(*e);
    }
    unsigned k = 0;
    for (std::size_t i; !failure.failed() && (i = next++) < chunks.size(); k ^= 1) {
      slot& sl = ring[k];
      if (sl.busy) {
        if (auto r = cuda::check(cudaEventSynchronize(sl.copied.get())); !r) {
          failure.set({r.error(), {}});
          break;
        }
        sl.pinned = {};
        sl.busy = false;
      }
      const file_chunk& c = chunks[i];
      std::byte* host = map->data() + (c.map_offset - base);
      // The driver faults the pages in as it pins them. Faulting them in first on this thread
      // (MADV_POPULATE_READ) was measured on the H200 machine and gained nothing: 12.6 against
      // 12.9 GB/s over 8 thread settings (docs/bench/gpu-registered-threads-h200.txt).
      auto pinned = cuda::host_registration::make(host, static_cast<std::size_t>(c.map_length),
                                                  cudaHostRegisterReadOnly);
      if (!pinned) {
        failure.set({pinned.error(),
                     "cudaHostRegister of " + std::to_string(c.map_length) +
                         " bytes at file offset " + std::to_string(c.map_offset) + " refused (" +
                         pinned.error().message() + ")",
                     true});
        break;
      }
      if (auto r = cuda::check(cudaMemcpyAsync(
              j.dst + (c.offset - j.offset), host + (c.offset - c.map_offset),
              static_cast<std::size_t>(c.length), cudaMemcpyHostToDevice, s->get()));
          !r) {
        failure.set({r.error(), {}});
        break;
      }
      if (auto r = cuda::check(cudaEventRecord(sl.copied.get(), s->get())); !r) {
        failure.set({r.error(), {}});
        break;
      }
      sl.pinned = std::move(*pinned);
      sl.busy = true;
    }
    // The copies still queued read the pinned pages: wait for them before the ring unregisters.
    if (auto r = cuda::check(cudaStreamSynchronize(s->get())); !r) failure.set({r.error(), {}});
  };

  const auto bounce_chunks = [&] {
    bounce_lane lane;
    if (auto r = lane.open(piece); !r) {
      // Pinned buffers refused: the registering threads still do the whole job.
      return;
    }
    for (std::size_t i; !failure.failed() && (i = next++) < chunks.size();) {
      const file_chunk& c = chunks[i];
      for (const file_chunk& p : plan_chunks(c.offset, c.length, piece, direct_alignment)) {
        if (auto r = lane.copy(source, p, j.dst + (p.offset - j.offset)); !r) {
          failure.set(r.error());
          break;
        }
      }
    }
    if (auto r = lane.finish(); !r) failure.set({r.error(), {}});
  };

  run_workers(threads, [&](unsigned index) {
    if (auto r = cuda::check(cudaSetDevice(j.device)); !r) return failure.set({r.error(), {}});
    if (index < registering) {
      register_chunks();
    } else {
      bounce_chunks();
    }
  });
  if (failure.failed()) return std::unexpected(failure.take());
  return attempt_info{.direct = false, .threads = threads};
}

// (b) Pinned bounce buffers, two per thread: one is read into while the other's DMA runs.
attempt load_bounce(const job& j, const load_options& o, bool want_direct,
                    std::vector<std::string>& notes) {
  const std::uint64_t piece = bounce_piece_size(o);
  const std::vector<file_chunk> pieces = plan_chunks(j.offset, j.length, piece, direct_alignment);
  bounce_source source;
  source.fd = j.fd;
  source.notes = &notes;
  if (want_direct) {
    if (auto d = reopen_direct(j.fd)) {
      source.direct_fd = std::move(*d);
      source.direct = true;
    } else {
      notes.push_back("bounce: O_DIRECT refused (" + d.error().message() + "); buffered reads");
    }
  }
  const unsigned threads = worker_count(o, pieces.size());
  std::atomic<std::size_t> next{0};
  first_failure failure;
  run_workers(threads, [&](unsigned) {
    if (auto r = cuda::check(cudaSetDevice(j.device)); !r) return failure.set({r.error(), {}});
    bounce_lane lane;
    if (auto r = lane.open(piece); !r) return failure.set(r.error());
    for (std::size_t i; !failure.failed() && (i = next++) < pieces.size();) {
      const file_chunk& c = pieces[i];
      if (auto r = lane.copy(source, c, j.dst + (c.offset - j.offset)); !r) {
        failure.set(r.error());
        break;
      }
    }
    if (auto r = lane.finish(); !r) failure.set({r.error(), {}});
  });
  if (failure.failed()) return std::unexpected(failure.take());
  return attempt_info{.direct = source.direct.load(), .threads = threads};
}

// (c) GPUDirect Storage.
attempt load_cufile(const job& j, const load_options& o) {
  if (auto r = cufile::open_driver(); !r) {
    return refused(make_error_code(errc::method_unavailable), r.error());
  }
  auto d = reopen_direct(j.fd);
  if (!d) return refused(d.error(), "O_DIRECT open refused (" + d.error().message() + ")");
  const std::uint64_t piece = round_up(o.chunk_size, direct_alignment);
  const unsigned threads =
      worker_count(o, static_cast<std::size_t>((j.length + piece - 1) / piece));
  if (auto r = cufile::read(d->get(), j.offset, j.length, j.dst, threads, piece, j.device); !r) {
    return refused(make_error_code(errc::method_unavailable), r.error());
  }
  return attempt_info{.direct = true, .threads = threads};
}

// (d) The baseline: read(2) into pageable memory, cudaMemcpy from it (which stages it through
// the driver's own pinned buffer).
attempt load_naive(const job& j, const load_options& o) {
  const std::uint64_t piece = std::min(o.chunk_size, j.length);
  auto buffer = std::make_unique_for_overwrite<std::byte[]>(static_cast<std::size_t>(piece));
  for (std::uint64_t done = 0; done < j.length;) {
    const std::uint64_t n = std::min(piece, j.length - done);
    if (auto r = read_at_least(j.fd, buffer.get(), n, n, j.offset + done); !r) {
      return failed(r.error());
    }
    if (auto r = cuda::check(cudaMemcpy(j.dst + done, buffer.get(), static_cast<std::size_t>(n),
                                        cudaMemcpyHostToDevice));
        !r) {
      return failed(r.error());
    }
    done += n;
  }
  return attempt_info{.direct = false, .threads = 1};
}

// Where a refused method falls back to.
std::optional<load_method> fallback_of(load_method m) {
  switch (m) {
    case load_method::registered:
    case load_method::cufile:
      return load_method::bounce;
    case load_method::bounce:
      return load_method::naive;
    case load_method::automatic:
    case load_method::naive:
      break;
  }
  return std::nullopt;
}

}  // namespace

std::expected<load_report, std::error_code> load(int fd, std::uint64_t offset, std::uint64_t length,
                                                 void* device_dst, const load_options& options) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto devices = cuda::device_count();
  if (!devices) return std::unexpected(devices.error());
  if (options.device < 0 || options.device >= *devices) {
    return std::unexpected(std::make_error_code(std::errc::no_such_device));
  }
  if (options.chunk_size == 0 || (device_dst == nullptr && length != 0)) {
    return std::unexpected(std::make_error_code(std::errc::invalid_argument));
  }
  if (auto r = cuda::check(cudaSetDevice(options.device)); !r) return std::unexpected(r.error());
  if (length != 0) {
    // Host memory given as the destination would be written by the CPU paths and DMA'd into by
    // none: refuse anything but memory of the device asked for.
    cudaPointerAttributes attributes{};
    if (cudaPointerGetAttributes(&attributes, device_dst) != cudaSuccess ||
        (attributes.type != cudaMemoryTypeDevice && attributes.type != cudaMemoryTypeManaged) ||
        attributes.device != options.device) {
      (void)cudaGetLastError();
      return std::unexpected(std::make_error_code(std::errc::bad_address));
    }
  }
  auto st = sys::fstat(fd);
  if (!st) return std::unexpected(st.error());
  if (!S_ISREG(st->st_mode)) return std::unexpected(make_error_code(errc::method_not_applicable));
  const auto file_size = static_cast<std::uint64_t>(st->st_size);
  if (offset > file_size || length > file_size - offset) {
    return std::unexpected(make_error_code(errc::unexpected_eof));
  }

  load_report report;
  report.bytes = length;
  load_method method = options.method;
  if (method == load_method::automatic || options.direct == direct_io::automatic) {
    if (auto cached = residency(fd, offset, length)) report.resident_fraction = cached->fraction();
  }
  const bool mostly_cached = report.resident_fraction >= options.resident_threshold;
  if (method == load_method::automatic) {
    method = mostly_cached                 ? load_method::registered
             : cufile::gds_driver_loaded() ? load_method::cufile
                                           : load_method::bounce;
  }
  const bool want_direct =
      options.direct == direct_io::always ||
      (options.direct == direct_io::automatic && report.resident_fraction >= 0 && !mostly_cached);

  if (length != 0) {
    const job j{fd, offset, length, static_cast<std::byte*>(device_dst), options.device, file_size};
    for (;;) {
      attempt a = [&]() -> attempt {
        switch (method) {
          case load_method::registered:
            return load_registered(j, options, report.fallbacks);
          case load_method::bounce:
            return load_bounce(j, options, want_direct, report.fallbacks);
          case load_method::cufile:
            return load_cufile(j, options);
          case load_method::naive:
          case load_method::automatic:
            break;
        }
        return load_naive(j, options);
      }();
      if (a) {
        report.direct = a->direct;
        report.threads = a->threads;
        break;
      }
      const auto next = fallback_of(method);
      if (!a.error().fall_back || !next) return std::unexpected(a.error().code);
      report.fallbacks.push_back(std::string(to_string(method)) + ": " + a.error().reason);
      method = *next;
    }
  }
  report.method = method;
  // A file cut short while it was pinned or read may have delivered stale or partial pages.
  auto after = sys::fstat(fd);
  if (!after) return std::unexpected(after.error());
  if (static_cast<std::uint64_t>(after->st_size) < offset + length) {
    return std::unexpected(make_error_code(errc::source_truncated));
  }
  report.seconds = std::chrono::duration<double>(clock::now() - start).count();
  return report;
}

}  // namespace zcopy::gpu
