// copy_file(): one regular file to a temporary file beside DEST, then renamed over DEST
// (copy.hpp has the contract).
//
// Data, in this order:
//   reflink always        one FICLONE (the engine, forced, no fallback); a refusal is the error
//   parallel ranges       reflink (automatic) tried once on the whole file first; refused →
//                         N threads, each transfer()ing one page-aligned range at explicit offsets
//   sparse always         reflink (automatic) first; refused → pread 128 KiB blocks and write
//                         only the 4 KiB blocks that hold a non-zero byte (the rest stay holes)
//   otherwise             one transfer(): the engine's chain, holes kept unless sparse never,
//                         reflink left out of the chain under reflink never
// Parallel ranges are for copy_file_range: one call copies on one core (ext4 copies page by page
// in the caller), so a large file on fast storage is CPU-bound in a single thread.
//
// Failure anywhere (data, metadata, fsync, rename, a stop request) leaves DEST untouched and
// removes the temporary file (temp_entry's destructor).
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <stop_token>
#include <thread>

#include "copy/internal.hpp"
#include "core/destination.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"

namespace zcopy {
namespace detail {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t page = 4096;
constexpr std::size_t zero_block = 4096;            // sparse always: holes are whole 4 KiB blocks
constexpr std::size_t zero_read_size = 128 * 1024;  // and are found in reads of this size

bool cancelled(const std::stop_token& stop) {
  return stop.stop_possible() && stop.stop_requested();
}

// The errors after which a whole-file reflink attempt means "this filesystem (or pair) does not
// clone": coreutils' is_CLONENOTSUP plus the engine's own "not for this pair" codes. Anything
// else (EIO, ENOSPC, EDQUOT, ENOMEM) is terminal.
bool clone_refused(const std::error_code& ec) {
  return ec == std::errc::function_not_supported ||
         ec == std::errc::inappropriate_io_control_operation ||
         ec == std::errc::operation_not_supported || ec == std::errc::invalid_argument ||
         ec == std::errc::bad_file_descriptor || ec == std::errc::cross_device_link ||
         ec == std::errc::text_file_busy || ec == std::errc::operation_not_permitted ||
         ec == std::errc::permission_denied || ec == errc::method_not_applicable ||
         ec == errc::method_unavailable;
}

// Folds one transfer's result into the file's.
void add_transfer(file_copy_result& out, const transfer_result& r) {
  for (std::size_t i = 0; i < method_count; ++i) out.bytes_by_method[i] += r.bytes_by_method[i];
  out.fallbacks.insert(out.fallbacks.end(), r.fallbacks.begin(), r.fallbacks.end());
}

void settle(file_copy_result& out) {
  out.bytes = 0;
  std::uint64_t best = 0;
  for (std::size_t i = 0; i < method_count; ++i) {
    out.bytes += out.bytes_by_method[i];
    if (out.bytes_by_method[i] > best) {
      best = out.bytes_by_method[i];
      out.used = static_cast<method>(i);  // indexed by the method's value
    }
  }
}

// Everything a copy of one file works with.
struct job {
  const fs::path& source;
  const fs::path& dest;
  const copy_options& options;
  int src = -1;
  int tmp = -1;
  struct stat src_stat {};
  file_copy_result result;
  endpoint_info src_info;
  endpoint_info tmp_info;
};

std::error_code whole_transfer(job& j, const transfer_options& t) {
  transfer_result r = transfer(j.src_info, j.tmp_info, t);
  add_transfer(j.result, r);
  if (!r.ok()) return r.error;
  if (!r.complete) return make_error_code(std::errc::io_error);  // cannot happen with blocking ends
  return {};
}

transfer_options base_options(const job& j) {
  transfer_options t;
  t.source_offset = 0;
  t.sink_offset = 0;
  t.on_progress = j.options.on_progress;
  t.stop = j.options.stop;
  t.allow_reflink = j.options.reflink != reflink_mode::never;
  return t;
}

// One FICLONE of the whole file. Returns true when it cloned, false when the filesystem refused
// (recorded as a fallback), or the terminal error.
std::expected<bool, std::error_code> try_reflink(job& j, method next) {
  transfer_options t = base_options(j);
  t.use = method::reflink;
  t.keep_holes = false;
  transfer_result r = transfer(j.src_info, j.tmp_info, t);
  if (r.ok() && r.complete) {
    add_transfer(j.result, r);
    return true;
  }
  if (r.bytes == 0 && clone_refused(r.error)) {
    j.result.fallbacks.push_back({method::reflink, next, r.error, 0});
    return false;
  }
  add_transfer(j.result, r);
  return std::unexpected(r.error ? r.error : make_error_code(std::errc::io_error));
}

// The source in ranges copied by several threads at once. The temporary file is first extended
// to the full size so every range writes inside the file.
std::error_code parallel_copy(job& j, unsigned ranges) {
  const std::uint64_t size = static_cast<std::uint64_t>(j.src_stat.st_size);
  std::uint64_t chunk = (size + ranges - 1) / ranges;
  chunk = (chunk + page - 1) / page * page;
  const unsigned count = static_cast<unsigned>((size + chunk - 1) / chunk);
  if (auto r = sys::ftruncate(j.tmp, static_cast<off_t>(size)); !r) return r.error();

  // One failing range stops the others; so does the caller's stop.
  std::stop_source internal;
  std::optional<std::stop_callback<std::function<void()>>> forward;
  if (j.options.stop.stop_possible()) {
    forward.emplace(j.options.stop,
                    std::function<void()>([&internal] { internal.request_stop(); }));
  }
  std::atomic<std::uint64_t> total{0};
  std::mutex lock;
  std::vector<transfer_result> results(count);
  std::vector<std::thread> threads;
  threads.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      transfer_options t;
      t.use = method::copy_file_range;
      // Forced copy_file_range does not fall back (copy.hpp); automatic falls back per range.
      t.allow_fallback = j.options.use == method::automatic;
      t.allow_reflink = false;
      t.keep_holes = false;
      t.source_offset = i * chunk;
      t.sink_offset = i * chunk;
      t.length = std::min(chunk, size - i * chunk);
      t.stop = internal.get_token();
      std::uint64_t reported = 0;
      if (j.options.on_progress) {
        t.on_progress = [&](std::uint64_t moved) {
          const std::uint64_t now = total.fetch_add(moved - reported) + (moved - reported);
          reported = moved;
          j.options.on_progress(now);
        };
      }
      transfer_result r = transfer(j.src_info, j.tmp_info, t);
      if (!r.ok() || !r.complete) internal.request_stop();
      std::lock_guard guard(lock);
      results[i] = std::move(r);
    });
  }
  for (auto& t : threads) t.join();

  j.result.ranges = count;
  std::error_code first, first_cancel;
  for (const auto& r : results) {
    add_transfer(j.result, r);
    std::error_code e = r.ok() && !r.complete ? make_error_code(std::errc::io_error) : r.error;
    if (!e) continue;
    // The ranges stopped by a sibling's failure report cancelled: the sibling's error is the one.
    if (e == errc::cancelled) {
      if (!first_cancel) first_cancel = e;
    } else if (!first) {
      first = e;
    }
  }
  return first ? first : first_cancel;
}

// sparse always: zero blocks become holes. The source's own holes are skipped with SEEK_DATA
// rather than read as zeros.
std::error_code zero_detecting_copy(job& j) {
  const std::uint64_t size = static_cast<std::uint64_t>(j.src_stat.st_size);
  const bool source_holes = static_cast<std::uint64_t>(j.src_stat.st_blocks) * 512 < size;
  static const std::array<std::byte, zero_block> zeros{};
  std::vector<std::byte> buffer(zero_read_size);
  std::uint64_t offset = 0;
  std::uint64_t data_end = source_holes ? 0 : size;
  std::uint64_t written = 0;
  while (offset < size) {
    if (cancelled(j.options.stop)) return errc::cancelled;
    if (offset >= data_end) {
      auto data = sys::lseek(j.src, static_cast<off_t>(offset), SEEK_DATA);
      if (!data) {
        if (data.error() != std::errc::no_such_device_or_address) return data.error();
        offset = size;  // ENXIO: a hole to the end
        break;
      }
      offset = std::min<std::uint64_t>(static_cast<std::uint64_t>(*data), size);
      auto hole = sys::lseek(j.src, static_cast<off_t>(offset), SEEK_HOLE);
      data_end = hole ? std::min<std::uint64_t>(static_cast<std::uint64_t>(*hole), size) : size;
      if (data_end <= offset) data_end = size;
      continue;
    }
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), data_end - offset));
    auto got = sys::pread(j.src, buffer.data(), want, static_cast<off_t>(offset));
    if (!got) return got.error();
    if (*got == 0) return errc::source_truncated;
    // Runs of blocks holding data are written with one pwrite each.
    std::size_t run_start = 0, at = 0;
    auto flush = [&](std::size_t end) -> std::error_code {
      for (std::size_t p = run_start; p < end;) {
        auto w = sys::pwrite(j.tmp, buffer.data() + p, end - p, static_cast<off_t>(offset + p));
        if (!w) return w.error();
        p += *w;
      }
      written += end - run_start;
      return {};
    };
    while (at < *got) {
      const std::size_t n = std::min(zero_block, *got - at);
      if (std::memcmp(buffer.data() + at, zeros.data(), n) == 0) {
        if (auto e = flush(at)) return e;
        run_start = at + n;
      }
      at += n;
    }
    if (auto e = flush(*got)) return e;
    offset += *got;
    j.result.bytes_by_method[static_cast<std::size_t>(method::read_write)] = written;
    if (j.options.on_progress) j.options.on_progress(written);
  }
  // A trailing run of zeros (or hole) still counts towards the size.
  if (auto r = sys::ftruncate(j.tmp, static_cast<off_t>(size)); !r) return r.error();
  return {};
}

// Descriptors of special files are opened non-blocking (a FIFO without a writer must not hang the
// open, nor a terminal the read): where one is not ready the copy waits for it in slices, so a
// stop request is seen within a fraction of a second.
constexpr int ready_slice_ms = 200;

std::error_code wait_ready(int fd, short events, const std::stop_token& stop) {
  for (;;) {
    if (cancelled(stop)) return errc::cancelled;
    auto r = sys::wait_ready(fd, events, ready_slice_ms);
    if (r) return {};
    if (r.error() != std::errc::timed_out) return r.error();
  }
}

bool seekable(const struct stat& st) {
  return S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
}

// The data when either end is not a regular file (a FIFO, a device, a terminal): a stream from
// the source's start (or its reading position) to its end, every byte written (a device has no
// holes to keep), never a clone.
std::error_code stream_copy(job& j, const struct stat& sink_stat) {
  transfer_options t;
  t.on_progress = j.options.on_progress;
  t.stop = j.options.stop;
  t.allow_reflink = false;
  t.keep_holes = false;
  t.use = j.options.use;
  t.allow_fallback = j.options.use != method::automatic;
  if (seekable(j.src_stat)) t.source_offset = 0;
  if (seekable(sink_stat)) t.sink_offset = 0;
  // A FIFO nobody has opened for writing yet reads as its end; it has not begun. poll reports
  // neither data nor a hang-up before the first writer comes.
  if (S_ISFIFO(j.src_stat.st_mode)) {
    if (auto e = wait_ready(j.src, POLLIN, j.options.stop)) return e;
  }
  auto tj = transfer_job::create(j.src_info, j.tmp_info, std::move(t));
  if (!tj) return tj.error();
  for (;;) {
    const transfer_result& r = tj->run();
    if (r.error || r.complete) {
      add_transfer(j.result, r);
      return r.error;
    }
    if (!r.would_block()) continue;
    const bool reading = r.blocked == wait_for::readable;
    if (auto e = wait_ready(reading ? j.src : j.tmp, reading ? POLLIN : POLLOUT, j.options.stop)) {
      add_transfer(j.result, r);
      return e;
    }
  }
}

std::error_code copy_data(job& j) {
  const copy_options& o = j.options;
  const std::uint64_t size = static_cast<std::uint64_t>(j.src_stat.st_size);
  const bool source_holes = static_cast<std::uint64_t>(j.src_stat.st_blocks) * 512 < size;

  if (o.reflink == reflink_mode::always) {
    if (o.use != method::automatic && o.use != method::reflink) {
      return errc::method_not_applicable;
    }
    transfer_options t = base_options(j);
    t.use = method::reflink;
    return whole_transfer(j, t);
  }

  const bool parallel = o.parallel_ranges > 1 && size >= o.parallel_min_size && size > 0 &&
                        (o.use == method::automatic || o.use == method::copy_file_range) &&
                        !source_holes && o.sparse != sparse_mode::always;
  const bool zeros_to_holes = o.sparse == sparse_mode::always &&
                              (o.use == method::automatic || o.use == method::read_write);
  if (parallel || zeros_to_holes) {
    // A reflink copies nothing; one ioctl tells whether the filesystem does them.
    if (o.reflink == reflink_mode::automatic && o.use == method::automatic) {
      auto cloned = try_reflink(j, parallel ? method::copy_file_range : method::read_write);
      if (!cloned) return cloned.error();
      if (*cloned) return {};
    }
    if (parallel) return parallel_copy(j, o.parallel_ranges);
    return zero_detecting_copy(j);
  }

  transfer_options t = base_options(j);
  t.use = o.use;
  t.allow_fallback = false;
  t.keep_holes = o.sparse != sparse_mode::never;
  return whole_transfer(j, t);
}

}  // namespace

namespace {

std::unexpected<copy_error> fail(std::error_code ec, copy_step step, const fs::path& p) {
  return std::unexpected(make_copy_error(ec, step, p));
}

copy_step step_of(destination_step step) {
  switch (step) {
    case destination_step::stat:
      return copy_step::stat;
    case destination_step::read_link:
      return copy_step::read_link;
    case destination_step::open:
      return copy_step::open;
  }
  return copy_step::open;
}

// DEST's directory as a path, for messages only (built when an error needs it, not per file).
fs::path parent_of(const fs::path& dest) {
  return dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
}

// Opens SOURCE (`name` in `dir`, or a path with AT_FDCWD) and checks that it is a regular file,
// or with `special` also a FIFO or a device (cp reads those it is named without -R).
std::expected<std::pair<unique_fd, struct stat>, copy_error> open_source(int dir, const char* name,
                                                                         const fs::path& source,
                                                                         bool special) {
  // O_NONBLOCK: a FIFO given as the source must not block the open (stream_copy waits for its
  // writer where the stop request is seen). It stays on: it has no effect on regular files
  // (open(2)), and clearing it would cost two fcntl calls per file of a tree.
  auto src = unique_fd::openat(dir, name, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (!src) return fail(src.error(), copy_step::open, source);
  auto src_stat = sys::fstat(src->get());
  if (!src_stat) return fail(src_stat.error(), copy_step::stat, source);
  if (S_ISDIR(src_stat->st_mode))
    return fail(std::make_error_code(std::errc::is_a_directory), copy_step::copy, source);
  const mode_t type = src_stat->st_mode & S_IFMT;
  const bool readable_special = type == S_IFIFO || type == S_IFCHR || type == S_IFBLK;
  if (!S_ISREG(src_stat->st_mode) && !(special && readable_special)) {
    return fail(errc::special_file_refused, copy_step::copy, source);
  }
  return std::pair{std::move(*src), *src_stat};
}

// Gives the O_TMPFILE file `fd` the name `name` in `dir`. AT_EMPTY_PATH needs
// CAP_DAC_READ_SEARCH before Linux 6.10 (ENOENT without it); /proc/self/fd is linkat(2)'s
// documented way round that.
// Once refused, AT_EMPTY_PATH is not tried again: the answer is the kernel's and the process's.
sys::result<void> link_unnamed(int fd, int dir, const char* name) {
  static std::atomic<bool> empty_path_refused{false};
  if (!empty_path_refused.load(std::memory_order_relaxed)) {
    auto r = sys::linkat(fd, "", dir, name, AT_EMPTY_PATH);
    if (r || (r.error() != std::errc::no_such_file_or_directory &&
              r.error() != std::errc::operation_not_permitted)) {
      return r;
    }
    empty_path_refused.store(true, std::memory_order_relaxed);
  }
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  return sys::linkat(AT_FDCWD, proc.c_str(), dir, name, AT_SYMLINK_FOLLOW);
}

// The source as the engine sees it. A regular file is described from the stat already taken (no
// calls per file of a tree); a FIFO or a device is classified (a block device's size takes an
// ioctl), with O_NONBLOCK as open_source opened it.
std::expected<endpoint_info, std::error_code> describe_source(int fd, const struct stat& st) {
  if (S_ISREG(st.st_mode)) return describe(fd, st, O_RDONLY);
  return classify(fd);
}

// The data of SOURCE into `j.tmp` (the new file, or DEST itself when written in place).
std::optional<std::unexpected<copy_error>> move_data(job& j, const struct stat& sink_stat) {
  j.result.size = S_ISREG(j.src_stat.st_mode) ? static_cast<std::uint64_t>(j.src_stat.st_size) : 0;
  const bool streams = !S_ISREG(j.src_stat.st_mode) || !S_ISREG(sink_stat.st_mode);
  const std::error_code data_error = streams ? stream_copy(j, sink_stat) : copy_data(j);
  settle(j.result);
  if (!S_ISREG(j.src_stat.st_mode)) j.result.size = j.result.bytes;
  if (!data_error) return std::nullopt;
  copy_step step = j.options.reflink == reflink_mode::always ? copy_step::reflink : copy_step::copy;
  if (data_error == errc::cancelled) step = copy_step::copy;
  return fail(data_error, step, j.dest);
}

// A source written while it was read may have given a copy that mixes two versions of it (a
// rename over it does not matter: the open file is the old one). Its size, mtime and ctime are
// compared with the stat taken before the copy; a change fails this file (tar's "file changed as
// we read it") and DEST stays as it was. A FIFO or a device has no version to compare.
std::optional<std::unexpected<copy_error>> check_source_unchanged(int src_fd,
                                                                  const struct stat& src_stat,
                                                                  const fs::path& source,
                                                                  const fs::path& dest,
                                                                  const copy_options& options) {
  if (cancelled(options.stop)) return fail(errc::cancelled, copy_step::copy, dest);
  if (!S_ISREG(src_stat.st_mode)) return std::nullopt;
  auto after = sys::fstat(src_fd);
  if (!after) return fail(after.error(), copy_step::stat, source);
  if (after->st_size != src_stat.st_size || after->st_mtim.tv_sec != src_stat.st_mtim.tv_sec ||
      after->st_mtim.tv_nsec != src_stat.st_mtim.tv_nsec ||
      after->st_ctim.tv_sec != src_stat.st_ctim.tv_sec ||
      after->st_ctim.tv_nsec != src_stat.st_ctim.tv_nsec) {
    return fail(errc::source_changed, copy_step::copy, source);
  }
  return std::nullopt;
}

// The copy of an open, checked SOURCE to `name` in the open directory `dir` (DEST's), in phases:
// what stands at DEST decides how it is written (copy_open), then the data (copy_data or
// stream_copy), the source checked for changes, the metadata, and the new file put in place
// (replace) or the existing one written into (write_in_place).
std::expected<file_copy_result, copy_error> replace(int src_fd, const struct stat& src_stat,
                                                    int dir, const std::string& name,
                                                    const fs::path& source, const fs::path& dest,
                                                    const copy_options& options,
                                                    const file_copy_extra& extra,
                                                    const destination& at_dest);
std::expected<file_copy_result, copy_error> write_in_place(
    int src_fd, const struct stat& src_stat, int dir, const std::string& name,
    const fs::path& source, const fs::path& dest, const copy_options& options,
    const file_copy_extra& extra, const destination& at_dest);

std::expected<file_copy_result, copy_error> copy_open(int src_fd, const struct stat& src_stat,
                                                      int dir, const std::string& name,
                                                      const fs::path& source, const fs::path& dest,
                                                      const copy_options& options,
                                                      const file_copy_extra& extra) {
  // A DEST that is a symlink is written through, as cp does: the link stays, its target gets the
  // copy (renamed over the target, in the target's directory). A dangling one is refused like
  // cp's "not writing through dangling symlink". One lstat answers for the common cases (missing,
  // or a plain file); only a symlink costs more.
  destination at_dest;
  if (!extra.dest_absent) {
    auto looked = look_at_destination(dir, name, dest, !options.replace_symlink);
    if (!looked) return fail(looked.error().second, step_of(looked.error().first), dest);
    at_dest = std::move(*looked);
  }
  using kind = destination::kind;
  if (at_dest.what == kind::dangling) {
    return fail(errc::dangling_symlink, copy_step::open, dest);
  }
  if (at_dest.what == kind::linked) return copy_file_impl(source, at_dest.target, options, extra);
  const bool exists = at_dest.what != kind::absent;
  if (exists && at_dest.st.st_dev == src_stat.st_dev && at_dest.st.st_ino == src_stat.st_ino) {
    return fail(errc::same_file, copy_step::copy, dest);
  }
  if (at_dest.what == kind::directory) {
    return fail(errc::non_directory_over_directory, copy_step::copy, dest);
  }
  if (exists && extra.no_replace) {
    *extra.skipped = true;
    return file_copy_result{};
  }
  if (at_dest.what == kind::special || (at_dest.what == kind::regular && options.in_place)) {
    return write_in_place(src_fd, src_stat, dir, name, source, dest, options, extra, at_dest);
  }
  return replace(src_fd, src_stat, dir, name, source, dest, options, extra, at_dest);
}

std::expected<file_copy_result, copy_error> replace(int src_fd, const struct stat& src_stat,
                                                    int dir, const std::string& name,
                                                    const fs::path& source, const fs::path& dest,
                                                    const copy_options& options,
                                                    const file_copy_extra& extra,
                                                    const destination& at_dest) {
  // DEST as it is now: a regular file, a symlink replaced itself, or nothing.
  std::optional<struct stat> dest_stat;
  if (at_dest.what != destination::kind::absent) dest_stat = at_dest.st;

  // A new DEST without -p gets the source's mode masked by the umask, which is what open() makes
  // of it: created that way, the file needs no fchmod (one call per file of a tree). Otherwise
  // 0600 until the final mode is set.
  const mode_t create_mode = !options.preserve.mode && !dest_stat
                                 ? new_entry_mode(src_stat.st_mode, options.preserve)
                                 : mode_t{0600};
  // A new DEST is copied into an unnamed file (O_TMPFILE) that is linked in under DEST's name once
  // complete: one directory entry written instead of two (create, then rename), and nothing to
  // remove after a failure or a kill. Replacing an existing DEST needs the named temporary file
  // and rename(2), which swaps atomically; so do filesystems without O_TMPFILE.
  unique_fd tmp_fd;
  std::optional<temp_entry> tmp;
  if (!dest_stat) {
    if (auto fd = unique_fd::openat(dir, ".", O_TMPFILE | O_WRONLY | O_NOCTTY, create_mode)) {
      tmp_fd = std::move(*fd);
    }
  }
  if (!tmp_fd) {
    auto named = create_temp(dir, name, [&](const std::string& n) -> std::error_code {
      auto fd =
          unique_fd::openat(dir, n.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY, create_mode);
      if (!fd) return fd.error();
      tmp_fd = std::move(*fd);
      return {};
    });
    if (!named) {
      return fail(named.error(), copy_step::create,
                  parent_of(dest) / (std::string(".") + name + ".zcopy-*"));
    }
    tmp.emplace(std::move(*named));
  }

  // Both ends described from what is known (the source's fstat, the new file's), so the engine
  // does not classify them again: three calls per end saved on every file of a tree.
  auto tmp_stat = sys::fstat(tmp_fd.get());
  if (!tmp_stat) return fail(tmp_stat.error(), copy_step::stat, dest);
  auto src_info = describe_source(src_fd, src_stat);
  if (!src_info) return fail(src_info.error(), copy_step::stat, source);
  job j{source, dest,         options,
        src_fd, tmp_fd.get(), src_stat,
        {},     *src_info,    describe(tmp_fd.get(), *tmp_stat, O_WRONLY)};
  if (auto e = move_data(j, *tmp_stat)) return *e;
  if (auto e = check_source_unchanged(src_fd, src_stat, source, dest, options)) return *e;
  // The replaced DEST's extended attributes and ACLs go with its name, as they would stay on the
  // inode that cp writes into.
  if (dest_stat && S_ISREG(dest_stat->st_mode)) {
    if (auto e = keep_attributes(dir, name, tmp_fd.get()); e)
      return fail(e, copy_step::keep_attributes, dest);
  }

  // Metadata: the copy replaces DEST, so without `preserve` it keeps what DEST had (cp writes
  // into the existing file, which keeps its mode and owner).
  final_metadata meta;
  if (options.preserve.mode) {
    meta.mode = src_stat.st_mode & 07777;
  } else if (dest_stat && S_ISREG(dest_stat->st_mode)) {
    meta.mode = dest_stat->st_mode & 07777 & ~mode_t{S_ISUID | S_ISGID};
  } else {
    meta.mode = new_entry_mode(src_stat.st_mode, options.preserve);
  }
  if (options.preserve.ownership) {
    meta.owner = std::pair{src_stat.st_uid, src_stat.st_gid};
  } else if (dest_stat && S_ISREG(dest_stat->st_mode)) {
    if (tmp_stat->st_uid != dest_stat->st_uid || tmp_stat->st_gid != dest_stat->st_gid) {
      meta.owner = std::pair{dest_stat->st_uid, dest_stat->st_gid};
    }
  }
  // Already right (created with it, and no chown since, which could clear setgid bits, nor an ACL
  // kept from DEST, which sets the group bits).
  if (meta.mode && !meta.owner && !dest_stat && *meta.mode == (tmp_stat->st_mode & 07777)) {
    meta.mode.reset();
  }
  if (options.preserve.timestamps) meta.times = std::array{src_stat.st_atim, src_stat.st_mtim};
  if (auto m = apply_metadata(tmp_fd.get(), meta); !m) {
    return fail(m.error().second, m.error().first, dest);
  }

  if (options.fsync) {
    if (auto r = sys::fsync(tmp_fd.get()); !r) return fail(r.error(), copy_step::fsync, dest);
  }
  if (cancelled(options.stop)) return fail(errc::cancelled, copy_step::copy, dest);

  if (!tmp) {
    // The unnamed copy gets DEST's name. linkat never replaces: a DEST that appeared meanwhile
    // is kept under -n, and otherwise replaced through a temporary name and rename(2).
    auto linked = link_unnamed(tmp_fd.get(), dir, name.c_str());
    if (!linked && linked.error() == std::errc::file_exists) {
      if (extra.no_replace) {
        *extra.skipped = true;
        return file_copy_result{};
      }
      auto named = create_temp(dir, name, [&](const std::string& n) -> std::error_code {
        auto r = link_unnamed(tmp_fd.get(), dir, n.c_str());
        return r ? std::error_code{} : r.error();
      });
      if (!named) return fail(named.error(), copy_step::link, dest);
      tmp.emplace(std::move(*named));
    } else if (!linked) {
      return fail(linked.error(), copy_step::link, dest);
    } else {
      if (auto c = tmp_fd.close(); c) {
        // DEST did not exist before: taking the name back leaves things as they were.
        (void)sys::unlinkat(dir, name.c_str(), 0);
        return fail(c, copy_step::close, dest);
      }
      if (options.fsync) {
        if (auto r = sys::fsync(dir); !r) return fail(r.error(), copy_step::fsync, parent_of(dest));
      }
      return std::move(j.result);
    }
  }
  if (auto c = tmp_fd.close(); c) return fail(c, copy_step::close, dest);

  if (!extra.no_replace) {
    if (auto e = keep_backup(dir, name, options); e) return fail(e, copy_step::backup, dest);
  }
  // -n without racing a concurrent creator: RENAME_NOREPLACE, where the filesystem has it.
  auto renamed = sys::renameat2(dir, tmp->name().c_str(), dir, name.c_str(),
                                extra.no_replace ? RENAME_NOREPLACE : 0);
  if (!renamed && extra.no_replace && renamed.error() == std::errc::invalid_argument) {
    if (sys::fstatat(dir, name.c_str(), AT_SYMLINK_NOFOLLOW)) {
      *extra.skipped = true;
      return file_copy_result{};
    }
    renamed = sys::renameat2(dir, tmp->name().c_str(), dir, name.c_str(), 0);
  }
  if (!renamed) {
    if (extra.no_replace && renamed.error() == std::errc::file_exists) {
      *extra.skipped = true;
      return file_copy_result{};
    }
    return fail(renamed.error(), copy_step::rename, dest);
  }
  tmp->commit();
  if (options.fsync) {
    // The rename is durable only once the directory is.
    if (auto r = sys::fsync(dir); !r) return fail(r.error(), copy_step::fsync, parent_of(dest));
  }
  return std::move(j.result);
}

// DEST itself written into: a device node, a FIFO, what /dev/stdout leads to, or a regular file
// under --inplace. Its inode, links, attributes and open handles stay; the guarantee that a
// failed copy leaves DEST as it was does not hold here (copy.hpp).
std::expected<file_copy_result, copy_error> write_in_place(
    int src_fd, const struct stat& src_stat, int dir, const std::string& name,
    const fs::path& source, const fs::path& dest, const copy_options& options,
    const file_copy_extra&, const destination& at_dest) {
  const bool regular = at_dest.what == destination::kind::regular;
  auto opened = open_in_place(dir, name, at_dest, options.stop);
  if (!opened) {
    const std::error_code ec = opened.error().second;
    return fail(ec, ec == errc::cancelled ? copy_step::copy : step_of(opened.error().first), dest);
  }
  unique_fd out = std::move(opened->first);
  std::optional<struct stat> out_stat = opened->second;
  if (regular) {
    if (auto r = sys::ftruncate(out.get(), 0); !r)
      return fail(r.error(), copy_step::truncate, dest);
    out_stat->st_size = 0;
    out_stat->st_blocks = 0;
  }
  auto src_info = describe_source(src_fd, src_stat);
  if (!src_info) return fail(src_info.error(), copy_step::stat, source);
  auto out_info = regular ? std::expected<endpoint_info, std::error_code>(
                                describe(out.get(), *out_stat, O_WRONLY | O_NONBLOCK))
                          : classify(out.get());
  if (!out_info) return fail(out_info.error(), copy_step::stat, dest);
  job j{source, dest, options, src_fd, out.get(), src_stat, {}, *src_info, *out_info};
  if (auto e = move_data(j, *out_stat)) return *e;
  if (auto e = check_source_unchanged(src_fd, src_stat, source, dest, options)) return *e;
  j.result.in_place = true;
  if (regular) {
    // The file keeps its own mode and owner unless the source's are asked for.
    final_metadata meta;
    if (options.preserve.mode) meta.mode = src_stat.st_mode & 07777;
    if (options.preserve.ownership) meta.owner = std::pair{src_stat.st_uid, src_stat.st_gid};
    if (options.preserve.timestamps) meta.times = std::array{src_stat.st_atim, src_stat.st_mtim};
    if (auto m = apply_metadata(out.get(), meta); !m) {
      return fail(m.error().second, m.error().first, dest);
    }
  }
  if (options.fsync && seekable(*out_stat)) {
    if (auto r = sys::fsync(out.get()); !r) return fail(r.error(), copy_step::fsync, dest);
  }
  if (auto c = out.close(); c) return fail(c, copy_step::close, dest);
  return std::move(j.result);
}

}  // namespace

std::expected<file_copy_result, copy_error> copy_file_impl(const fs::path& source,
                                                           const fs::path& dest,
                                                           const copy_options& options,
                                                           const file_copy_extra& extra) {
  if (extra.skipped) *extra.skipped = false;
  if (cancelled(options.stop)) return fail(errc::cancelled, copy_step::copy, source);
  auto src = open_source(AT_FDCWD, source.c_str(), source, extra.special_source);
  if (!src) return std::unexpected(src.error());

  const fs::path parent = parent_of(dest);
  const std::string name = dest.filename().string();
  if (name.empty() || name == "." || name == "..") {
    return fail(std::make_error_code(std::errc::is_a_directory), copy_step::open, dest);
  }
  auto dir = unique_fd::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (!dir)
    return fail(dir.error(), copy_step::create, dest);  // cp names the file it could not create
  return copy_open(src->first.get(), src->second, dir->get(), name, source, dest, options, extra);
}

std::expected<file_copy_result, copy_error> copy_file_at(int source_dir, const char* source_name,
                                                         int dest_dir, const std::string& dest_name,
                                                         const fs::path& source,
                                                         const fs::path& dest,
                                                         const copy_options& options,
                                                         const file_copy_extra& extra) {
  if (extra.skipped) *extra.skipped = false;
  if (cancelled(options.stop)) return fail(errc::cancelled, copy_step::copy, source);
  if (extra.source_fd >= 0 && extra.source_stat != nullptr) {
    return copy_open(extra.source_fd, *extra.source_stat, dest_dir, dest_name, source, dest,
                     options, extra);
  }
  auto src = open_source(source_dir, source_name, source, extra.special_source);
  if (!src) return std::unexpected(src.error());
  return copy_open(src->first.get(), src->second, dest_dir, dest_name, source, dest, options,
                   extra);
}

}  // namespace detail

std::expected<file_copy_result, copy_error> copy_file(const std::filesystem::path& source,
                                                      const std::filesystem::path& dest,
                                                      const copy_options& options) {
  return detail::copy_file_impl(source, dest, options, {});
}

}  // namespace zcopy
