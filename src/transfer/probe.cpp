// probe: find out what works here by doing it.
//
// Every trial is a real transfer of random bytes through the public engine, verified byte for
// byte at the other end. Stream ends get a real peer: a thread feeds a source socket or pipe and
// ends the stream (EOF), a thread drains a sink socket or pipe. Nothing here may hang, whatever a
// broken method does: the transfer's sockets carry SO_RCVTIMEO/SO_SNDTIMEO, the transfer runs as
// a resumable job under a deadline, a feeder ends its stream at that deadline at the latest (so
// a blocked read sees EOF), and a collector drains until the transfer is over (so a blocked write
// into a pipe always finishes). Helpers never close their end while the transfer may still write
// to it, so a trial cannot raise SIGPIPE in a process that did not ignore it.
//
// Temporary files and directories are made and removed through std::filesystem: the syscall layer
// wraps the calls that move bytes and that tests count, not mkdir and unlink.
#include "zcopy/probe.hpp"

#include <linux/fs.h>
#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <span>
#include <thread>
#include <utility>

#ifdef ZCOPY_WITH_URING
#include <liburing.h>

#include "core/uring.hpp"
#endif

#include "sys/sys.hpp"
#include "transfer/state.hpp"
#include "transfer/stream_peer.hpp"
#include "zcopy/aligned_buffer.hpp"
#include "zcopy/error.hpp"
#include "zcopy/fd.hpp"
#include "zcopy/net.hpp"

namespace zcopy {

std::string_view to_string(probe_outcome outcome) noexcept {
  switch (outcome) {
    case probe_outcome::works:
      return "works";
    case probe_outcome::falls_back:
      return "falls_back";
    case probe_outcome::unsupported:
      return "unsupported";
    case probe_outcome::not_applicable:
      return "not_applicable";
    case probe_outcome::failed:
      return "failed";
  }
  return "unknown";
}

namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

// A blocked socket call on the transfer's side returns EAGAIN after this long; the engine then
// hands back a would-block result and the deadline loop decides.
constexpr auto socket_timeout = std::chrono::seconds(2);
// After the transfer ends, a drained stream must reach EOF within this grace period.
constexpr auto drain_grace = std::chrono::seconds(1);

// Time allowed for one trial: a few seconds, plus time for large --size values (at 32 MiB/s, far
// below any working mechanism, so only a stuck method runs into it).
clock::duration trial_budget(std::uint64_t size) {
  return std::chrono::seconds(5) + std::chrono::milliseconds(size / (32 * 1024));
}

std::string hex(std::uint64_t value) {
  std::array<char, 24> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value, 16);
  (void)ec;  // 24 characters always hold a 64-bit value in hex
  return "0x" + std::string(buf.data(), end);
}

// Random bytes, none of them zero: a sink left zero-filled (a hole, a skipped write) can never
// pass for the data.
std::vector<std::byte> random_data(std::size_t n) {
  std::mt19937_64 gen(std::random_device{}());
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t x = gen();
    for (std::size_t j = i; j < std::min(n, i + 8); ++j, x >>= 8) {
      auto b = static_cast<std::byte>(x & 0xff);
      out[j] = b == std::byte{0} ? std::byte{0xa5} : b;
    }
  }
  return out;
}

std::string random_suffix() {
  std::mt19937_64 gen(std::random_device{}());
  return hex(gen()).substr(2);
}

// A scratch directory under `parent`, removed with its contents on destruction.
class scratch_dir {
 public:
  scratch_dir(const fs::path& parent, std::error_code& ec) {
    for (int attempt = 0; attempt < 16; ++attempt) {
      fs::path candidate = parent / ("zcopy-probe-" + random_suffix());
      if (fs::create_directory(candidate, ec)) {
        path_ = candidate;
        return;
      }
      if (ec) return;
    }
    ec = std::make_error_code(std::errc::file_exists);
  }
  ~scratch_dir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

// A file this probe created; removed on destruction, whatever happened in between.
class scratch_file {
 public:
  scratch_file() = default;
  scratch_file(const scratch_file&) = delete;
  scratch_file& operator=(const scratch_file&) = delete;
  ~scratch_file() {
    fd_.reset();
    std::error_code ignored;
    if (!path_.empty()) fs::remove(path_, ignored);
  }

  // Creates a new, empty file in `dir` (O_EXCL: never touches a file that was there before).
  std::error_code create(const fs::path& dir, std::string_view tag) {
    for (int attempt = 0; attempt < 16; ++attempt) {
      fs::path candidate = dir / (".zcopy-probe-" + random_suffix() + "-" + std::string(tag));
      auto fd = unique_fd::open(candidate.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
      if (fd) {
        fd_ = std::move(*fd);
        path_ = candidate;
        return {};
      }
      if (fd.error() != std::errc::file_exists) return fd.error();
    }
    return std::make_error_code(std::errc::file_exists);
  }

  int fd() const noexcept { return fd_.get(); }
  const fs::path& path() const noexcept { return path_; }

 private:
  unique_fd fd_;
  fs::path path_;
};

// Reads a file back: at most `limit` + 1 bytes, so that a sink that grew too long shows.
std::expected<std::vector<std::byte>, std::error_code> read_back(const fs::path& path,
                                                                 std::size_t limit) {
  auto fd = unique_fd::open(path.c_str(), O_RDONLY);
  if (!fd) return std::unexpected(fd.error());
  std::vector<std::byte> out(limit + 1);
  auto got = sys::read_full(fd->get(), out.data(), out.size());
  if (!got) return std::unexpected(got.error());
  out.resize(*got);
  return out;
}

std::expected<void, std::error_code> set_socket_timeouts(int fd) {
  timeval tv{};
  tv.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(socket_timeout).count();
  for (int option : {SO_RCVTIMEO, SO_SNDTIMEO}) {
    if (auto r = sys::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv); !r) return r;
  }
  return {};
}

enum class pair_kind {
  file_file,
  file_socket,
  file_pipe,
  socket_file,
  socket_socket,
  pipe_file,
  direct_file_file,
};

constexpr std::array<pair_kind, 7> all_pairs = {
    pair_kind::file_file,        pair_kind::file_socket,   pair_kind::file_pipe,
    pair_kind::socket_file,      pair_kind::socket_socket, pair_kind::pipe_file,
    pair_kind::direct_file_file,
};

std::string_view pair_name(pair_kind kind) {
  switch (kind) {
    case pair_kind::file_file:
      return "file->file";
    case pair_kind::file_socket:
      return "file->socket";
    case pair_kind::file_pipe:
      return "file->pipe";
    case pair_kind::socket_file:
      return "socket->file";
    case pair_kind::socket_socket:
      return "socket->socket";
    case pair_kind::pipe_file:
      return "pipe->file";
    case pair_kind::direct_file_file:
      return "direct-file->file";
  }
  return "?";
}

// The descriptors of one trial. `feed` and `drain` are the helper threads' ends of a source or a
// sink stream; `sink_path` is set when the sink is a file.
struct trial {
  unique_fd source;
  unique_fd sink;
  unique_fd feed;
  unique_fd drain;
  fs::path sink_path;
};

std::expected<std::pair<unique_fd, unique_fd>, std::error_code> make_pipe() {
  int fds[2];
  if (auto r = sys::pipe2(fds, O_CLOEXEC); !r) return std::unexpected(r.error());
  return std::pair{unique_fd(fds[0]), unique_fd(fds[1])};
}

std::expected<socket_pair, std::error_code> make_socket_pair(bool time_out_first,
                                                             bool time_out_second) {
  auto pair = loopback_tcp_pair();
  if (!pair) return std::unexpected(pair.error());
  if (time_out_first) {
    if (auto r = set_socket_timeouts(pair->first.get()); !r) return std::unexpected(r.error());
  }
  if (time_out_second) {
    if (auto r = set_socket_timeouts(pair->second.get()); !r) return std::unexpected(r.error());
  }
  return pair;
}

struct probe_files {
  fs::path source;  // holds the data
  fs::path sink;    // rewritten by every trial with a file sink
};

std::expected<trial, std::error_code> make_trial(pair_kind kind, const probe_files& files) {
  trial t;
  const bool source_is_file = kind == pair_kind::file_file || kind == pair_kind::file_socket ||
                              kind == pair_kind::file_pipe || kind == pair_kind::direct_file_file;
  if (source_is_file) {
    const int flags = O_RDONLY | (kind == pair_kind::direct_file_file ? O_DIRECT : 0);
    auto fd = unique_fd::open(files.source.c_str(), flags);
    if (!fd) return std::unexpected(fd.error());
    t.source = std::move(*fd);
  }
  switch (kind) {
    case pair_kind::file_socket: {
      auto pair = make_socket_pair(true, false);
      if (!pair) return std::unexpected(pair.error());
      t.sink = std::move(pair->first);
      t.drain = std::move(pair->second);
      break;
    }
    case pair_kind::file_pipe: {
      auto pipe = make_pipe();
      if (!pipe) return std::unexpected(pipe.error());
      t.drain = std::move(pipe->first);
      t.sink = std::move(pipe->second);
      break;
    }
    case pair_kind::socket_file:
    case pair_kind::socket_socket: {
      auto pair = make_socket_pair(false, true);
      if (!pair) return std::unexpected(pair.error());
      t.feed = std::move(pair->first);
      t.source = std::move(pair->second);
      if (kind == pair_kind::socket_socket) {
        auto out = make_socket_pair(true, false);
        if (!out) return std::unexpected(out.error());
        t.sink = std::move(out->first);
        t.drain = std::move(out->second);
      }
      break;
    }
    case pair_kind::pipe_file: {
      auto pipe = make_pipe();
      if (!pipe) return std::unexpected(pipe.error());
      t.source = std::move(pipe->first);
      t.feed = std::move(pipe->second);
      break;
    }
    case pair_kind::file_file:
    case pair_kind::direct_file_file:
      break;
  }
  if (!t.sink) {
    auto fd = unique_fd::open(files.sink.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (!fd) return std::unexpected(fd.error());
    t.sink = std::move(*fd);
    t.sink_path = files.sink;
  }
  return t;
}

struct bounded_run {
  transfer_result result;
  std::vector<method> plan;
  std::error_code create_error;  // the job could not even be set up
  bool timed_out = false;
};

// Runs a transfer as a resumable job until it is done or the deadline passes. With blocking ends
// the job returns would-block only when a socket timeout fired; waiting and resuming keeps the
// bytes already moved.
bounded_run run_bounded(int source, int sink, const transfer_options& options,
                        clock::time_point deadline) {
  bounded_run out;
  auto job = transfer_job::create(source, sink, options);
  if (!job) {
    out.create_error = job.error();
    return out;
  }
  auto plan = job->plan();
  out.plan.assign(plan.begin(), plan.end());
  for (;;) {
    out.result = job->run();
    if (job->done() || !out.result.would_block()) return out;
    const auto left = deadline - clock::now();
    if (left <= clock::duration::zero()) {
      out.timed_out = true;
      return out;
    }
    const bool readable = out.result.blocked == wait_for::readable;
    const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
    (void)sys::wait_ready(readable ? source : sink, readable ? POLLIN : POLLOUT,
                          static_cast<int>(std::min<long long>(left_ms, 100)));
  }
}

// Turns what happened into an outcome.
void judge(probe_entry& entry, const bounded_run& run, std::span<const std::byte> expected,
           std::span<const std::byte> got, std::error_code read_error) {
  const transfer_result& r = run.result;
  const bool forced = entry.tried != method::automatic;
  entry.bytes = r.bytes;
  entry.syscalls = r.syscalls;
  entry.moved_by = r.used;
  if (run.create_error) {
    entry.outcome = run.create_error == errc::method_not_applicable
                        ? probe_outcome::not_applicable
                        : (forced ? probe_outcome::unsupported : probe_outcome::failed);
    entry.reason = run.create_error;
    return;
  }
  if (run.timed_out) {
    entry.outcome = probe_outcome::failed;
    entry.reason = std::make_error_code(std::errc::timed_out);
    return;
  }
  if (r.error) {
    // A forced method that moved nothing was refused; one that stopped half-way is broken.
    entry.outcome = forced && r.bytes == 0 ? probe_outcome::unsupported : probe_outcome::failed;
    entry.reason = r.error;
    return;
  }
  if (read_error) {
    entry.outcome = probe_outcome::failed;
    entry.reason = read_error;
    return;
  }
  const bool same =
      got.size() == expected.size() && std::equal(got.begin(), got.end(), expected.begin());
  if (!same) {
    const bool short_prefix =
        got.size() < expected.size() && std::equal(got.begin(), got.end(), expected.begin());
    entry.outcome = probe_outcome::failed;
    entry.reason = short_prefix ? make_error_code(errc::unexpected_eof)
                                : std::make_error_code(std::errc::bad_message);
    return;
  }
  const method first = forced ? entry.tried : (run.plan.empty() ? r.used : run.plan.front());
  if (r.fallbacks.empty() && r.used == first && r.bytes_with(first) == r.bytes) {
    entry.outcome = probe_outcome::works;
    return;
  }
  entry.outcome = probe_outcome::falls_back;
  if (!r.fallbacks.empty()) entry.reason = r.fallbacks.front().reason;
}

probe_entry run_trial(pair_kind kind, method m, std::span<const std::byte> data,
                      const probe_files& files) {
  probe_entry entry;
  entry.pair = std::string(pair_name(kind));
  entry.tried = m;
  auto t = make_trial(kind, files);
  if (!t) {
    // Setting up the pair failed: O_DIRECT refused by the filesystem (tmpfs: EINVAL), say.
    entry.outcome = probe_outcome::unsupported;
    entry.reason = t.error();
    return entry;
  }
  auto source_info = classify(t->source.get());
  auto sink_info = classify(t->sink.get());
  if (!source_info || !sink_info) {
    entry.outcome = probe_outcome::failed;
    entry.reason = source_info ? sink_info.error() : source_info.error();
    return entry;
  }
  if (m != method::automatic && !applicable(m, *source_info, *sink_info)) {
    entry.outcome = probe_outcome::not_applicable;
    return entry;
  }

  const auto deadline = clock::now() + trial_budget(data.size());
  // The helpers' ends are non-blocking, so that they can be stopped once the transfer is over,
  // whatever the method left in the stream.
  for (const unique_fd* end : {&t->feed, &t->drain}) {
    if (!*end) continue;
    if (auto nb = set_nonblocking(end->get(), true); !nb) {
      entry.outcome = probe_outcome::failed;
      entry.reason = nb.error();
      return entry;
    }
  }
  std::optional<detail::stream_writer> feeder;
  if (t->feed) {
    feeder.emplace(std::move(t->feed), data, deadline);
  }
  // The collector keeps a little more than expected, so that extra bytes still show.
  std::vector<std::byte> got;
  std::optional<detail::stream_reader> collector;
  if (t->drain) {
    collector.emplace(
        t->drain.get(),
        [&got, limit = data.size() + 4096](std::span<const std::byte> chunk) {
          const std::size_t keep = std::min(chunk.size(), limit - std::min(limit, got.size()));
          got.insert(got.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(keep));
        },
        64 * 1024);
  }

  transfer_options options;
  options.use = m;
  options.length = data.size();
  bounded_run run = run_bounded(t->source.get(), t->sink.get(), options, deadline);

  // End the sink's stream so that the collector sees EOF, and stop feeding a source the
  // transfer no longer reads.
  if (sink_info->kind == endpoint_kind::socket) {
    (void)sys::shutdown(t->sink.get(), SHUT_WR);
  } else if (sink_info->kind == endpoint_kind::pipe) {
    t->sink.reset();
  }
  if (feeder) (void)feeder->stop();

  std::error_code read_error;
  if (collector) {
    (void)collector->stop(drain_grace);
  } else {
    t->sink.reset();
    auto back = read_back(t->sink_path, data.size());
    if (back) {
      got = std::move(*back);
    } else {
      read_error = back.error();
    }
  }
  judge(entry, run, data, got, read_error);
  return entry;
}

fs::path default_directory() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? fs::path(tmp) : fs::path("/tmp");
}

std::string filesystem_name(std::uint64_t magic) {
  struct known {
    std::uint64_t magic;
    std::string_view name;
  };
  // statfs(2) f_type values (linux/magic.h; zfs, bcachefs from their sources). ext2, ext3 and
  // ext4 share one magic number.
  static constexpr std::array<known, 24> table = {{
      {0xEF53, "ext4"},         {0x58465342, "xfs"},       {0x9123683E, "btrfs"},
      {0x01021994, "tmpfs"},    {0x794c7630, "overlayfs"}, {0x6969, "nfs"},
      {0x2fc12fc1, "zfs"},      {0xF2F52010, "f2fs"},      {0x73717368, "squashfs"},
      {0x65735546, "fuse"},     {0xca451a4e, "bcachefs"},  {0xFF534D42, "cifs"},
      {0xFE534D42, "smb2"},     {0x00C36400, "ceph"},      {0x01021997, "9p"},
      {0x858458f6, "ramfs"},    {0x4d44, "vfat"},          {0x2011BAB0, "exfat"},
      {0x5346544e, "ntfs"},     {0x7366746e, "ntfs3"},     {0x3153464a, "jfs"},
      {0x52654973, "reiserfs"}, {0x9fa0, "proc"},          {0x62656572, "sysfs"},
  }};
  for (const auto& k : table) {
    if (k.magic == magic) return std::string(k.name);
  }
  return hex(magic);
}

// FICLONE shares the source's extents with the destination; filesystems without reflinks say
// EOPNOTSUPP (ext4), EXDEV or EINVAL.
void probe_reflink(path_report& report, const scratch_file& a, const scratch_file& b,
                   std::span<const std::byte> data) {
  auto r = sys::ioctl(b.fd(), FICLONE, reinterpret_cast<void*>(static_cast<std::intptr_t>(a.fd())));
  if (!r) {
    report.reflink_reason = r.error();
    return;
  }
  auto back = read_back(b.path(), data.size());
  if (!back) {
    report.reflink_reason = back.error();
  } else if (!std::ranges::equal(*back, data)) {
    report.reflink_reason = std::make_error_code(std::errc::bad_message);
  } else {
    report.reflink = true;
  }
}

void probe_copy_file_range(path_report& report, const scratch_file& a, const scratch_file& b,
                           std::span<const std::byte> data) {
  if (auto r = sys::ftruncate(b.fd(), 0); !r) {
    report.copy_file_range_reason = r.error();
    return;
  }
  transfer_options options;
  options.use = method::copy_file_range;
  options.length = data.size();
  options.source_offset = 0;
  options.sink_offset = 0;
  transfer_result r = transfer(a.fd(), b.fd(), options);
  if (r.error) {
    report.copy_file_range_reason = r.error;
    return;
  }
  auto back = read_back(b.path(), data.size());
  if (!back) {
    report.copy_file_range_reason = back.error();
  } else if (!std::ranges::equal(*back, data)) {
    report.copy_file_range_reason = std::make_error_code(std::errc::bad_message);
  } else {
    report.copy_file_range = r.bytes_with(method::copy_file_range) == data.size();
    if (!report.copy_file_range) {
      report.copy_file_range_reason =
          r.fallbacks.empty() ? std::error_code{} : r.fallbacks.front().reason;
    }
  }
}

// O_DIRECT: the open itself is refused on filesystems without direct I/O (tmpfs before 6.6:
// EINVAL); the aligned read proves that the alignments reported are the ones that work.
void probe_direct_io(path_report& report, const scratch_file& a, std::span<const std::byte> data) {
  auto fd = unique_fd::open(a.path().c_str(), O_RDONLY | O_DIRECT);
  if (!fd) {
    report.direct_io_reason = fd.error();
    return;
  }
  direct_io_alignment alignment;
  if (auto queried = query_direct_io_alignment(fd->get())) alignment = *queried;
  report.direct_io_memory_alignment = alignment.memory;
  report.direct_io_offset_alignment = alignment.offset;
  if (!alignment.supported) {
    report.direct_io_reason = std::make_error_code(std::errc::not_supported);
    return;
  }
  const std::size_t unit = std::max<std::size_t>(alignment.offset, 1);
  const std::size_t length = (data.size() + unit - 1) / unit * unit;
  auto buffer = aligned_buffer::allocate(length, std::max<std::size_t>(alignment.memory, 1));
  if (!buffer) {
    report.direct_io_reason = buffer.error();
    return;
  }
  auto got = sys::pread(fd->get(), buffer->data(), length, 0);
  if (!got) {
    report.direct_io_reason = got.error();
  } else if (*got != data.size() || !std::equal(data.begin(), data.end(), buffer->data())) {
    report.direct_io_reason = std::make_error_code(std::errc::bad_message);
  } else {
    report.direct_io = true;
  }
}

}  // namespace

std::expected<std::vector<probe_entry>, std::error_code> probe_mechanisms(
    const probe_options& options) {
  if (options.size == 0) return std::unexpected(std::make_error_code(std::errc::invalid_argument));
  const fs::path parent =
      options.directory.empty() ? default_directory() : fs::path(options.directory);
  std::error_code ec;
  scratch_dir dir(parent, ec);
  if (ec) return std::unexpected(ec);

  const std::vector<std::byte> data = random_data(static_cast<std::size_t>(options.size));
  const probe_files files{dir.path() / "source", dir.path() / "sink"};
  {
    auto fd = unique_fd::open(files.source.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (!fd) return std::unexpected(fd.error());
    if (auto r = sys::write_all(fd->get(), data.data(), data.size()); !r) {
      return std::unexpected(r.error());
    }
    if (auto r = fd->close(); r) return std::unexpected(r);
  }

  std::vector<probe_entry> entries;
  for (pair_kind kind : all_pairs) {
    for (method m : all_methods()) entries.push_back(run_trial(kind, m, data, files));
    entries.push_back(run_trial(kind, method::automatic, data, files));
  }
  return entries;
}

std::expected<path_report, std::error_code> probe_path(const std::string& path) {
  // O_PATH: a FIFO or a device named here must not be opened for real.
  auto target = unique_fd::open(path.c_str(), O_PATH);
  if (!target) return std::unexpected(target.error());
  auto st = sys::fstat(target->get());
  if (!st) return std::unexpected(st.error());

  path_report report;
  fs::path dir = path;
  unique_fd dir_fd = std::move(*target);
  if (!S_ISDIR(st->st_mode)) {
    dir = fs::path(path).parent_path();
    if (dir.empty()) dir = ".";
    auto parent = unique_fd::open(dir.c_str(), O_PATH | O_DIRECTORY);
    if (!parent) return std::unexpected(parent.error());
    dir_fd = std::move(*parent);
  }
  report.path = dir.string();

  auto sfs = sys::fstatfs(dir_fd.get());
  if (!sfs) return std::unexpected(sfs.error());
  // f_type is a signed word; the magic numbers are 32-bit.
  report.filesystem_magic = static_cast<std::uint64_t>(sfs->f_type) & 0xffffffffULL;
  report.filesystem = filesystem_name(report.filesystem_magic);

  constexpr std::size_t probe_bytes = 64 * 1024;
  const std::vector<std::byte> data = random_data(probe_bytes);
  scratch_file a;
  scratch_file b;
  if (auto e = a.create(dir, "a"); e) return std::unexpected(e);
  if (auto e = b.create(dir, "b"); e) return std::unexpected(e);
  if (auto r = sys::write_all(a.fd(), data.data(), data.size()); !r) {
    return std::unexpected(r.error());
  }

  probe_reflink(report, a, b, data);
  probe_copy_file_range(report, a, b, data);
  probe_direct_io(report, a, data);
  return report;
}

std::string kernel_release() {
  auto u = sys::uname();
  return u ? std::string(u->release) : std::string("unknown");
}

std::error_code io_uring_status() {
#ifdef ZCOPY_WITH_URING
  // Containers often block io_uring_setup (seccomp: EPERM, or ENOSYS with
  // kernel.io_uring_disabled); the probe made once per process knows.
  return detail::uring_support().setup_error;
#else
  return std::make_error_code(std::errc::not_supported);
#endif
}

std::vector<uring_op_report> io_uring_ops() {
  std::vector<uring_op_report> out;
#ifdef ZCOPY_WITH_URING
  const detail::uring_support_info info = detail::uring_support();
  if (info.setup_error) return out;
  struct named {
    const char* name;
    unsigned op;
  };
  static constexpr named ops[] = {
      {"SPLICE", IORING_OP_SPLICE},
      {"READ_FIXED", IORING_OP_READ_FIXED},
      {"WRITE_FIXED", IORING_OP_WRITE_FIXED},
      {"SEND_ZC", IORING_OP_SEND_ZC},
      {"ACCEPT", IORING_OP_ACCEPT},
      {"RECV", IORING_OP_RECV},
      {"SEND", IORING_OP_SEND},
      {"SENDMSG", IORING_OP_SENDMSG},
      {"POLL_ADD", IORING_OP_POLL_ADD},
  };
  for (const named& n : ops) out.push_back({n.name, info.has(n.op)});
  // IORING_ACCEPT_MULTISHOT has no opcode of its own: the kernel must be 5.19 or later.
  out.push_back({"ACCEPT_MULTISHOT", info.has(IORING_OP_ACCEPT) && detail::kernel_at_least(5, 19)});
#endif
  return out;
}

}  // namespace zcopy
