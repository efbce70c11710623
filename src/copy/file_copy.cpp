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

// One file copy's fixed inputs: SOURCE open and checked, DEST as `name` in the open directory
// `dir` (DEST's); the paths only name them in messages.
struct endpoints {
  int src_fd;
  const struct stat& src_stat;
  int dir;
  const std::string& name;
  const fs::path& source;
  const fs::path& dest;
};

// The phases of one file copy, each returning what it did:
//   1. copy_open: what stands at DEST decides how the copy is written (replace or
//      write_in_place), or that it is refused or (-n) not made;
//   2. copy_contents: the data (copy_data or stream_copy) into the new file or DEST itself, then
//      the source checked for changes;
//   3. the metadata (replacement_metadata, in_place_metadata), fsync;
//   4. put_in_place: the new file gets DEST's name (link_new, rename_over), or -n finds DEST
//      there and keeps it.

// Phase 2: the data of SOURCE into `sink` (the new file, or DEST itself when written in place).
// A source written while it was read may have given a copy that mixes two versions of it (a
// rename over it does not matter: the open file is the old one). Its size, mtime and ctime are
// compared with the stat taken before the copy; a change fails this file (tar's "file changed as
// we read it") and DEST stays as it was. A FIFO or a device has no version to compare.
std::expected<file_copy_result, copy_error> copy_contents(const endpoints& e, int sink,
                                                          const endpoint_info& sink_info,
                                                          const struct stat& sink_stat,
                                                          const copy_options& options) {
  auto src_info = describe_source(e.src_fd, e.src_stat);
  if (!src_info) return fail(src_info.error(), copy_step::stat, e.source);
  job j{e.source, e.dest, options, e.src_fd, sink, e.src_stat, {}, *src_info, sink_info};
  const bool regular_source = S_ISREG(e.src_stat.st_mode);
  j.result.size = regular_source ? static_cast<std::uint64_t>(e.src_stat.st_size) : 0;
  const bool streams = !regular_source || !S_ISREG(sink_stat.st_mode);
  const std::error_code data_error = streams ? stream_copy(j, sink_stat) : copy_data(j);
  settle(j.result);
  if (!regular_source) j.result.size = j.result.bytes;
  if (data_error) {
    const bool reflink_only =
        options.reflink == reflink_mode::always && data_error != errc::cancelled;
    return fail(data_error, reflink_only ? copy_step::reflink : copy_step::copy, e.dest);
  }

  if (cancelled(options.stop)) return fail(errc::cancelled, copy_step::copy, e.dest);
  if (!regular_source) return std::move(j.result);
  auto after = sys::fstat(e.src_fd);
  if (!after) return fail(after.error(), copy_step::stat, e.source);
  const struct stat& before = e.src_stat;
  if (after->st_size != before.st_size || after->st_mtim.tv_sec != before.st_mtim.tv_sec ||
      after->st_mtim.tv_nsec != before.st_mtim.tv_nsec ||
      after->st_ctim.tv_sec != before.st_ctim.tv_sec ||
      after->st_ctim.tv_nsec != before.st_ctim.tv_nsec) {
    return fail(errc::source_changed, copy_step::copy, e.source);
  }
  return std::move(j.result);
}

// The file a replacing copy is written to before it gets DEST's name.
struct temporary_file {
  unique_fd fd;
  std::optional<temp_entry> name;  // empty: unnamed (O_TMPFILE), nothing to remove on failure
};

// A new DEST is copied into an unnamed file (O_TMPFILE) that is linked in under DEST's name once
// complete: one directory entry written instead of two (create, then rename), and nothing to
// remove after a failure or a kill. Replacing an existing DEST needs the named temporary file
// and rename(2), which swaps atomically; so do filesystems without O_TMPFILE.
std::expected<temporary_file, copy_error> make_temporary(const endpoints& e, mode_t mode,
                                                         bool dest_exists) {
  temporary_file tmp;
  if (!dest_exists) {
    if (auto fd = unique_fd::openat(e.dir, ".", O_TMPFILE | O_WRONLY | O_NOCTTY, mode)) {
      tmp.fd = std::move(*fd);
      return tmp;
    }
  }
  auto named = create_temp(e.dir, e.name, [&](const std::string& n) -> std::error_code {
    auto fd = unique_fd::openat(e.dir, n.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY, mode);
    if (!fd) return fd.error();
    tmp.fd = std::move(*fd);
    return {};
  });
  if (!named) {
    return fail(named.error(), copy_step::create,
                parent_of(e.dest) / (std::string(".") + e.name + ".zcopy-*"));
  }
  tmp.name.emplace(std::move(*named));
  return tmp;
}

// Phase 3 for a replacing copy: it takes DEST's place, so without `preserve` it keeps what DEST
// had (cp writes into the existing file, which keeps its mode and owner). `made` is the new
// file's fstat.
final_metadata replacement_metadata(const struct stat& src, const std::optional<struct stat>& dest,
                                    const struct stat& made, const preserve_options& preserve) {
  const bool regular_dest = dest && S_ISREG(dest->st_mode);
  final_metadata meta;
  if (preserve.mode) {
    meta.mode = src.st_mode & 07777;
  } else if (regular_dest) {
    meta.mode = dest->st_mode & 07777 & ~mode_t{S_ISUID | S_ISGID};
  } else {
    meta.mode = new_entry_mode(src.st_mode, preserve);
  }
  if (preserve.ownership) {
    meta.owner = std::pair{src.st_uid, src.st_gid};
  } else if (regular_dest && (made.st_uid != dest->st_uid || made.st_gid != dest->st_gid)) {
    meta.owner = std::pair{dest->st_uid, dest->st_gid};
  }
  // Already right (created with it, and no chown since, which could clear setgid bits, nor an ACL
  // kept from DEST, which sets the group bits).
  if (meta.mode && !meta.owner && !dest && *meta.mode == (made.st_mode & 07777)) {
    meta.mode.reset();
  }
  if (preserve.timestamps) meta.times = std::array{src.st_atim, src.st_mtim};
  return meta;
}

// Phase 3 for a regular DEST written in place: it keeps its own mode and owner unless the
// source's are asked for.
final_metadata in_place_metadata(const struct stat& src, const preserve_options& preserve) {
  final_metadata meta;
  if (preserve.mode) meta.mode = src.st_mode & 07777;
  if (preserve.ownership) meta.owner = std::pair{src.st_uid, src.st_gid};
  if (preserve.timestamps) meta.times = std::array{src.st_atim, src.st_mtim};
  return meta;
}

// What phase 4 did: DEST is the new file, or (-n) a DEST found there stays and the copy is gone.
enum class placement { named, kept };

// Phase 4, named temporary: renamed over DEST, after DEST got its backup name. -n without racing a
// concurrent creator: RENAME_NOREPLACE, where the filesystem has it.
std::expected<placement, copy_error> rename_over(temporary_file& tmp, const endpoints& e,
                                                 const copy_options& options, bool no_replace) {
  if (auto c = tmp.fd.close(); c) return fail(c, copy_step::close, e.dest);
  if (!no_replace) {
    if (auto b = keep_backup(e.dir, e.name, options); b) return fail(b, copy_step::backup, e.dest);
  }
  const char* from = tmp.name->name().c_str();
  auto renamed =
      sys::renameat2(e.dir, from, e.dir, e.name.c_str(), no_replace ? RENAME_NOREPLACE : 0);
  if (!renamed && no_replace && renamed.error() == std::errc::invalid_argument) {
    // No RENAME_NOREPLACE here: a look, then a plain rename (a creator in between is replaced).
    if (sys::fstatat(e.dir, e.name.c_str(), AT_SYMLINK_NOFOLLOW)) return placement::kept;
    renamed = sys::renameat2(e.dir, from, e.dir, e.name.c_str(), 0);
  }
  if (!renamed) {
    if (no_replace && renamed.error() == std::errc::file_exists) return placement::kept;
    return fail(renamed.error(), copy_step::rename, e.dest);
  }
  tmp.name->commit();
  return placement::named;
}

// Phase 4, unnamed file: linkat gives it DEST's name and never replaces. A DEST that appeared
// meanwhile is kept under -n, and otherwise replaced through a temporary name and rename(2).
std::expected<placement, copy_error> link_new(temporary_file& tmp, const endpoints& e,
                                              const copy_options& options, bool no_replace) {
  auto linked = link_unnamed(tmp.fd.get(), e.dir, e.name.c_str());
  if (linked) {
    if (auto c = tmp.fd.close(); c) {
      // DEST did not exist before: taking the name back leaves things as they were.
      (void)sys::unlinkat(e.dir, e.name.c_str(), 0);
      return fail(c, copy_step::close, e.dest);
    }
    return placement::named;
  }
  if (linked.error() != std::errc::file_exists)
    return fail(linked.error(), copy_step::link, e.dest);
  if (no_replace) return placement::kept;
  auto named = create_temp(e.dir, e.name, [&](const std::string& n) -> std::error_code {
    auto r = link_unnamed(tmp.fd.get(), e.dir, n.c_str());
    return r ? std::error_code{} : r.error();
  });
  if (!named) return fail(named.error(), copy_step::link, e.dest);
  tmp.name.emplace(std::move(*named));
  return rename_over(tmp, e, options, no_replace);
}

std::expected<placement, copy_error> put_in_place(temporary_file& tmp, const endpoints& e,
                                                  const copy_options& options, bool no_replace) {
  auto placed =
      tmp.name ? rename_over(tmp, e, options, no_replace) : link_new(tmp, e, options, no_replace);
  if (!placed || *placed == placement::kept) return placed;
  if (options.fsync) {
    // The new name is durable only once the directory is.
    if (auto r = sys::fsync(e.dir); !r) return fail(r.error(), copy_step::fsync, parent_of(e.dest));
  }
  return placed;
}

// A new file beside DEST, filled, given its metadata, then DEST's name. `dest_stat`: DEST as it is
// now (a regular file, or a symlink replaced itself), none when absent.
std::expected<file_copy_outcome, copy_error> replace(const endpoints& e,
                                                     const std::optional<struct stat>& dest_stat,
                                                     const copy_options& options, bool no_replace) {
  // A new DEST without -p gets the source's mode masked by the umask, which is what open() makes
  // of it: created that way, the file needs no fchmod (one call per file of a tree). Otherwise
  // 0600 until the final mode is set.
  const mode_t create_mode = !options.preserve.mode && !dest_stat
                                 ? new_entry_mode(e.src_stat.st_mode, options.preserve)
                                 : mode_t{0600};
  auto tmp = make_temporary(e, create_mode, dest_stat.has_value());
  if (!tmp) return std::unexpected(tmp.error());

  // Both ends described from what is known (the source's fstat, the new file's), so the engine
  // does not classify them again: three calls per end saved on every file of a tree.
  auto tmp_stat = sys::fstat(tmp->fd.get());
  if (!tmp_stat) return fail(tmp_stat.error(), copy_step::stat, e.dest);
  auto copied = copy_contents(e, tmp->fd.get(), describe(tmp->fd.get(), *tmp_stat, O_WRONLY),
                              *tmp_stat, options);
  if (!copied) return std::unexpected(copied.error());

  // The replaced DEST's extended attributes and ACLs go with its name, as they would stay on the
  // inode that cp writes into.
  if (dest_stat && S_ISREG(dest_stat->st_mode)) {
    if (auto k = keep_attributes(e.dir, e.name, tmp->fd.get()); k) {
      return fail(k, copy_step::keep_attributes, e.dest);
    }
  }
  const final_metadata meta =
      replacement_metadata(e.src_stat, dest_stat, *tmp_stat, options.preserve);
  if (auto m = apply_metadata(tmp->fd.get(), meta); !m) {
    return fail(m.error().second, m.error().first, e.dest);
  }
  if (options.fsync) {
    if (auto r = sys::fsync(tmp->fd.get()); !r) return fail(r.error(), copy_step::fsync, e.dest);
  }
  if (cancelled(options.stop)) return fail(errc::cancelled, copy_step::copy, e.dest);

  auto placed = put_in_place(*tmp, e, options, no_replace);
  if (!placed) return std::unexpected(placed.error());
  if (*placed == placement::kept) return kept_existing{};
  return std::move(*copied);
}

// DEST itself written into: a device node, a FIFO, what /dev/stdout leads to, or a regular file
// under --inplace. Its inode, links, attributes and open handles stay; the guarantee that a
// failed copy leaves DEST as it was does not hold here (copy.hpp).
std::expected<file_copy_result, copy_error> write_in_place(const endpoints& e,
                                                           const destination& at_dest,
                                                           const copy_options& options) {
  const bool regular = at_dest.what == destination::kind::regular;
  auto opened = open_in_place(e.dir, e.name, at_dest, options.stop);
  if (!opened) {
    const std::error_code ec = opened.error().second;
    return fail(ec, ec == errc::cancelled ? copy_step::copy : step_of(opened.error().first),
                e.dest);
  }
  unique_fd out = std::move(opened->first);
  struct stat out_stat = opened->second;
  if (regular) {
    if (auto r = sys::ftruncate(out.get(), 0); !r)
      return fail(r.error(), copy_step::truncate, e.dest);
    out_stat.st_size = 0;
    out_stat.st_blocks = 0;
  }
  auto out_info = regular ? std::expected<endpoint_info, std::error_code>(
                                describe(out.get(), out_stat, O_WRONLY | O_NONBLOCK))
                          : classify(out.get());
  if (!out_info) return fail(out_info.error(), copy_step::stat, e.dest);
  auto copied = copy_contents(e, out.get(), *out_info, out_stat, options);
  if (!copied) return copied;
  copied->in_place = true;
  if (regular) {
    if (auto m = apply_metadata(out.get(), in_place_metadata(e.src_stat, options.preserve)); !m) {
      return fail(m.error().second, m.error().first, e.dest);
    }
  }
  if (options.fsync && seekable(out_stat)) {
    if (auto r = sys::fsync(out.get()); !r) return fail(r.error(), copy_step::fsync, e.dest);
  }
  if (auto c = out.close(); c) return fail(c, copy_step::close, e.dest);
  return copied;
}

// Phase 1. A DEST that is a symlink is written through, as cp does: the link stays, its target
// gets the copy (renamed over the target, in the target's directory). A dangling one is refused
// like cp's "not writing through dangling symlink". One lstat answers for the common cases
// (missing, or a plain file); only a symlink costs more.
std::expected<file_copy_outcome, copy_error> copy_open(const endpoints& e,
                                                       const copy_options& options,
                                                       const file_copy_extra& extra) {
  destination at_dest;
  if (!extra.dest_absent) {
    auto looked = look_at_destination(e.dir, e.name, e.dest, !options.replace_symlink);
    if (!looked) return fail(looked.error().second, step_of(looked.error().first), e.dest);
    at_dest = std::move(*looked);
  }
  using kind = destination::kind;
  switch (at_dest.what) {
    case kind::dangling:
      return fail(errc::dangling_symlink, copy_step::open, e.dest);
    case kind::linked:
      return copy_file_impl(e.source, at_dest.target, options, extra);
    case kind::absent:
      return replace(e, std::nullopt, options, extra.no_replace);
    default:
      break;
  }
  if (at_dest.st.st_dev == e.src_stat.st_dev && at_dest.st.st_ino == e.src_stat.st_ino) {
    return fail(errc::same_file, copy_step::copy, e.dest);
  }
  if (at_dest.what == kind::directory) {
    return fail(errc::non_directory_over_directory, copy_step::copy, e.dest);
  }
  if (extra.no_replace) return kept_existing{};
  if (at_dest.what == kind::special || (at_dest.what == kind::regular && options.in_place)) {
    return write_in_place(e, at_dest, options);
  }
  return replace(e, at_dest.st, options, extra.no_replace);
}

}  // namespace

std::expected<file_copy_outcome, copy_error> copy_file_impl(const fs::path& source,
                                                            const fs::path& dest,
                                                            const copy_options& options,
                                                            const file_copy_extra& extra) {
  if (cancelled(options.stop)) return fail(errc::cancelled, copy_step::copy, source);
  auto src = open_source(AT_FDCWD, source.c_str(), source, extra.special_source);
  if (!src) return std::unexpected(src.error());

  const fs::path parent = parent_of(dest);
  const std::string name = dest.filename().string();
  if (name.empty() || name == "." || name == "..") {
    return fail(std::make_error_code(std::errc::is_a_directory), copy_step::open, dest);
  }
  auto dir = unique_fd::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
  // cp names the file it could not create.
  if (!dir) return fail(dir.error(), copy_step::create, dest);
  return copy_open({src->first.get(), src->second, dir->get(), name, source, dest}, options, extra);
}

std::expected<file_copy_outcome, copy_error> copy_file_at(
    int source_dir, const char* source_name, int dest_dir, const std::string& dest_name,
    const fs::path& source, const fs::path& dest, const copy_options& options,
    const file_copy_extra& extra) {
  if (cancelled(options.stop)) return fail(errc::cancelled, copy_step::copy, source);
  if (extra.source_fd >= 0 && extra.source_stat != nullptr) {
    return copy_open({extra.source_fd, *extra.source_stat, dest_dir, dest_name, source, dest},
                     options, extra);
  }
  auto src = open_source(source_dir, source_name, source, extra.special_source);
  if (!src) return std::unexpected(src.error());
  return copy_open({src->first.get(), src->second, dest_dir, dest_name, source, dest}, options,
                   extra);
}

}  // namespace detail

std::expected<file_copy_result, copy_error> copy_file(const std::filesystem::path& source,
                                                      const std::filesystem::path& dest,
                                                      const copy_options& options) {
  auto r = detail::copy_file_impl(source, dest, options, {});
  if (!r) return std::unexpected(r.error());
  // Only -n (no_replace, not offered here) keeps an existing DEST.
  return std::get<file_copy_result>(std::move(*r));
}

}  // namespace zcopy
