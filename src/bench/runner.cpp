// The benchmark runner (bench.hpp): sets up each path, runs each method in interleaved rounds,
// measures the moving thread, verifies what arrived, and aggregates.
#include <linux/fs.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <thread>
#include <unordered_map>

#include "bench/bench.hpp"
#include "sys/sys.hpp"
#include "transfer/stream_peer.hpp"
#include "zcopy/fd.hpp"
#include "zcopy/net.hpp"
#include "zcopy/pipe_ops.hpp"
#include "zcopy/zerocopy.hpp"

namespace zcopy::bench {

namespace {

constexpr std::uint64_t gib = std::uint64_t{1} << 30;
constexpr std::size_t io_chunk = std::size_t{1} << 20;

// --- textbook models --------------------------------------------------------------------------

// The copies each method implies, as the classic explanation counts them. Socket sinks assume a
// real NIC with scatter-gather DMA; on loopback the "DMA" to the NIC is the receiver's CPU copy.
model model_for(path p, std::string_view m) {
  const bool to_socket =
      p == path::file_to_socket || p == path::socket_to_socket || p == path::memory_to_socket;
  const bool from_socket = p == path::socket_to_socket || p == path::socket_to_file;
  if (m == "read_write") {
    return {2, 2, 4, "read into a user buffer, write from it: two CPU copies, four switches"};
  }
  if (m == "mmap_write") {
    return {1, 2, 4, "the mapping shares the page cache; write copies once"};
  }
  if (m == "sendfile") {
    return to_socket ? model{0, 2, 2, "scatter-gather DMA: the NIC reads the page cache"}
                     : model{1, 2, 2, "page cache to page cache inside the kernel"};
  }
  if (m == "splice") {
    if (to_socket) return {0, 2, 4, "pages move through a pipe by reference"};
    if (from_socket) return {1, 2, 4, "socket pages are copied into the page cache"};
    return {1, 2, 4, "page cache to page cache through a pipe"};
  }
  if (m == "copy_file_range") {
    return {1, 2, 2, "in-kernel copy; 0 copies where the filesystem clones or offloads"};
  }
  if (m == "reflink") return {0, 0, 2, "extents shared: metadata only"};
  if (m == "direct_io") {
    return {0, 2, 4, "DMA straight to and from an aligned user buffer, no page cache"};
  }
  if (m == "io_uring") {
    return {2, 2, 1, "read/write copies, submitted in batches (about 2 syscalls per 4 chunks)"};
  }
  if (m == "write") return {1, 1, 2, "user buffer copied into socket buffers"};
  if (m == "msg_zerocopy") {
    return {0, 1, 2, "pages pinned and sent by DMA; completions read from the error queue"};
  }
  if (m == "send_zc") {
    return {0, 1, 1, "io_uring SEND_ZC: pages sent by DMA, completion as a NOTIF CQE"};
  }
  if (m == "vmsplice") return {0, 1, 4, "user pages handed to a pipe, then to the socket"};
  return {};
}

// --- small helpers ------------------------------------------------------------------------------

double seconds_of(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

struct usage {
  rusage ru{};
  static usage now(int who = RUSAGE_THREAD) {
    usage u;
    ::getrusage(who, &u.ru);
    return u;
  }
};

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void fill_random(std::span<std::byte> out, std::uint64_t seed) {
  std::uint64_t s = seed;
  std::size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    std::uint64_t v = splitmix(s);
    std::memcpy(out.data() + i, &v, 8);
  }
  for (std::uint64_t v = splitmix(s); i < out.size(); ++i, v >>= 8) {
    out[i] = static_cast<std::byte>(v);
  }
}

std::uint64_t hash_of(std::span<const std::byte> data) {
  return XXH3_64bits(data.data(), data.size());
}

// Hashes a file through read(2) (from the page cache; not timed).
std::expected<std::uint64_t, std::error_code> hash_file(int fd, std::uint64_t expected_size) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  std::vector<std::byte> buf(io_chunk);
  std::uint64_t off = 0;
  for (;;) {
    auto r = sys::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
    if (!r) {
      XXH3_freeState(state);
      return std::unexpected(r.error());
    }
    if (*r == 0) break;
    XXH3_64bits_update(state, buf.data(), *r);
    off += *r;
  }
  std::uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  if (off != expected_size) return h ^ 1;  // a size mismatch can never verify
  return h;
}

std::string read_first_line(const char* path, std::string_view key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return {};
}

std::string filesystem_name(const std::filesystem::path& dir) {
  auto st = sys::statfs(dir.c_str());
  if (!st) return "unknown";
  switch (static_cast<std::uint64_t>(st->f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x794c7630:
      return "overlayfs";
    case 0x2fc12fc1:
      return "zfs";
    case 0xF2F52010:
      return "f2fs";
    default: {
      char hex[32];
      std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(st->f_type));
      return hex;
    }
  }
}

// --- a receiving or feeding thread, measured on its own -----------------------------------------

// The helper at the receiving end of a stream: reads to EOF on its own thread, hashing what
// arrives (verify) or discarding it by splice, which costs the helper no copy.
class stream_receiver {
 public:
  stream_receiver(int fd, bool verify)
      : state_(verify ? fresh_state() : nullptr, &XXH3_freeState),
        reader_(fd,
                verify ? detail::stream_reader::consumer([this](std::span<const std::byte> c) {
                  XXH3_64bits_update(state_.get(), c.data(), c.size());
                })
                       : nullptr,
                io_chunk) {}

  // Waits for EOF.
  detail::stream_peer_result finish() { return reader_.finish(); }
  // The stream's hash, after finish (0 when not verifying).
  std::uint64_t hash() const { return state_ ? XXH3_64bits_digest(state_.get()) : 0; }

 private:
  static XXH3_state_t* fresh_state() {
    XXH3_state_t* s = XXH3_createState();
    if (s) XXH3_64bits_reset(s);
    return s;
  }

  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state_;
  detail::stream_reader reader_;
};

// --- one measured run
// -----------------------------------------------------------------------------

struct fixture {
  config settings;
  std::filesystem::path dir;
  std::filesystem::path source_path;
  unique_fd source;               // the source file
  std::vector<std::byte> memory;  // the same bytes in user memory
  std::uint64_t source_hash = 0;
  bool reflink_supported = false;
  std::error_code reflink_reason;
  // Owned, random-filled buffers per message size for the zerocopy_sender rows, lent to the
  // sender and given back by its completions (a sender takes ownership, so it cannot send from
  // `memory` without a copy that would be charged to the method).
  struct message_pool {
    std::vector<send_buffer> slots;
    std::unordered_map<const std::byte*, std::size_t> index;
  };
  std::unordered_map<std::size_t, message_pool> pools;
};

constexpr std::size_t pool_bytes = std::size_t{32} << 20;

fixture::message_pool& pool_for(fixture& fx, std::size_t message_size) {
  auto& pool = fx.pools[message_size];
  if (pool.slots.empty()) {
    const std::size_t count = std::max<std::size_t>(
        2, std::min<std::uint64_t>(pool_bytes, fx.settings.size) / message_size);
    for (std::size_t i = 0; i < count; ++i) {
      send_buffer b(message_size);
      fill_random(b, 0x9001 + i * 7919 + message_size);
      pool.index[b.data()] = i;
      pool.slots.push_back(std::move(b));
    }
  }
  return pool;
}

std::optional<send_mode> sender_mode(std::string_view name) {
  if (name == "write") return send_mode::copy;
  if (name == "msg_zerocopy") return send_mode::msg_zerocopy;
  if (name == "send_zc") return send_mode::send_zc;
  return std::nullopt;
}

struct sender_run {
  std::uint64_t expected_hash = 0;  // of the stream as sent
  std::error_code error;
};

// Sends `size` bytes in `message_size` sends through a zerocopy_sender from the fixture's pool
// (threshold 0: every send uses the mode asked for, so the rows show where zero copy pays off).
// Timed by the caller; the expected hash is computed afterwards from the order the buffers went.
sender_run send_messages(fixture& fx, int fd, send_mode mode, std::size_t message_size, sample& s) {
  sender_run out;
  auto& pool = pool_for(fx, message_size);
  std::vector<std::size_t> free_slots(pool.slots.size());
  for (std::size_t i = 0; i < free_slots.size(); ++i) free_slots[i] = i;
  std::vector<std::pair<std::size_t, std::size_t>> order;  // slot, bytes
  order.reserve(fx.settings.size / message_size + 1);
  {
    auto sender = zerocopy_sender::create(fd,
                                          [&](send_completion&& c) {
                                            auto it = pool.index.find(c.buffer.data());
                                            if (it == pool.index.end()) return;  // the copied tail
                                            pool.slots[it->second] = std::move(c.buffer);
                                            free_slots.push_back(it->second);
                                          },
                                          {.mode = mode, .threshold = 0});
    if (!sender) {
      out.error = sender.error();
      return out;
    }
    std::uint64_t left = fx.settings.size;
    while (left > 0 && !out.error) {
      while (free_slots.empty() && !out.error) {
        auto w = sender->wait(std::chrono::seconds(30));
        if (!w) out.error = w.error();
        if (w && *w == 0) out.error = std::make_error_code(std::errc::timed_out);
      }
      if (out.error) break;
      const std::size_t slot = free_slots.back();
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(message_size, left));
      send_buffer b;
      if (n == message_size) {
        free_slots.pop_back();
        b = std::move(pool.slots[slot]);
      } else {
        b.assign(pool.slots[slot].begin(), pool.slots[slot].begin() + static_cast<long>(n));
      }
      order.emplace_back(slot, n);
      if (auto p = sender->send(std::move(b)); p.error) out.error = p.error;
      left -= n;
    }
    if (auto e = sender->flush(); e && !out.error) out.error = e;
    s.bytes = sender->stats().bytes;
    s.zerocopy_sends = sender->stats().zerocopy_sends;
    s.copied_sends = sender->stats().copied_sends;
    s.moved_by = std::string(to_string(sender->mode()));
    if (s.moved_by == "copy") s.moved_by = "write";
  }
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (auto [slot, n] : order) XXH3_64bits_update(state, pool.slots[slot].data(), n);
  out.expected_hash = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return out;
}

struct measured {
  sample s;
  std::error_code error;
};

// CPU the whole process used during a measurement, to add what the kernel did for the moving
// thread on other threads of the process (io_uring's io-wq workers are such threads; RUSAGE_THREAD
// does not see them).
struct process_cpu {
  double user = 0;
  double sys = 0;
};

// Times `body` on this thread: wall clock, rusage and the library's syscall counter.
template <class Body>
void measure(sample& s, process_cpu& process, Body&& body) {
  const auto calls_before = thread_syscall_counts().total();
  usage self_before = usage::now(RUSAGE_SELF);
  usage before = usage::now();
  const auto t0 = std::chrono::steady_clock::now();
  body();
  const auto t1 = std::chrono::steady_clock::now();
  usage after = usage::now();
  usage self_after = usage::now(RUSAGE_SELF);
  process.user = seconds_of(self_after.ru.ru_utime) - seconds_of(self_before.ru.ru_utime);
  process.sys = seconds_of(self_after.ru.ru_stime) - seconds_of(self_before.ru.ru_stime);
  s.syscalls = thread_syscall_counts().total() - calls_before;
  s.seconds = std::chrono::duration<double>(t1 - t0).count();
  s.user_seconds = seconds_of(after.ru.ru_utime) - seconds_of(before.ru.ru_utime);
  s.sys_seconds = seconds_of(after.ru.ru_stime) - seconds_of(before.ru.ru_stime);
  s.voluntary_switches = after.ru.ru_nvcsw - before.ru.ru_nvcsw;
  s.involuntary_switches = after.ru.ru_nivcsw - before.ru.ru_nivcsw;
  s.minor_faults = after.ru.ru_minflt - before.ru.ru_minflt;
  s.major_faults = after.ru.ru_majflt - before.ru.ru_majflt;
}

std::error_code evict(int fd) {
  if (auto r = sys::fdatasync(fd); !r) return r.error();
  if (auto r = sys::fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); !r) return r.error();
  return {};
}

measured run_once(fixture& fx, path p, const bench_method& m, unsigned round) {
  measured out;
  sample& s = out.s;
  process_cpu process;
  const std::uint64_t size = fx.settings.size;
  const bool verify = fx.settings.verify;
  transfer_options options{.use = m.transfer.value_or(method::automatic)};
  options.length = size;
  // Start every run with no dirty pages: what an earlier run left for writeback would otherwise
  // compete with this one for the CPU and throttle its writes (balance_dirty_pages).
  (void)sys::syncfs(fx.source.get());
  if (fx.settings.cold) {
    if (auto e = evict(fx.source.get())) {
      out.error = e;
      return out;
    }
  }
  auto note_transfer = [&](const transfer_result& r) {
    s.bytes = r.bytes;
    s.moved_by = std::string(to_string(r.used));
    if (r.error) out.error = r.error;
  };

  switch (p) {
    case path::file_to_socket:
    case path::memory_to_socket: {
      auto pair = loopback_tcp_pair();
      if (!pair) {
        out.error = pair.error();
        return out;
      }
      std::uint64_t expected_hash = fx.source_hash;
      stream_receiver receiver(pair->second.get(), verify);
      measure(s, process, [&] {
        // The sender rows; msg_zerocopy and send_zc without a size send 1 MiB at a time.
        const auto mode = sender_mode(m.name);
        const std::size_t message =
            m.message_size > 0 || m.name == "write" ? m.message_size : io_chunk;
        if (p == path::memory_to_socket && mode && message > 0) {
          auto r = send_messages(fx, pair->first.get(), *mode, message, s);
          expected_hash = r.expected_hash;
          if (r.error) out.error = r.error;
        } else if (p == path::file_to_socket) {
          options.source_offset = 0;
          note_transfer(transfer(fx.source.get(), pair->first.get(), options));
        } else if (m.name == "vmsplice") {
          auto r = splice_memory(fx.memory, pair->first.get());
          s.bytes = r.value_or(0);
          s.moved_by = "vmsplice";
          if (!r) out.error = r.error();
        } else {
          auto r = write_all(pair->first.get(), fx.memory, io_chunk);
          s.bytes = r.value_or(0);
          s.moved_by = "write";
          if (!r) out.error = r.error();
        }
      });
      (void)sys::shutdown(pair->first.get(), SHUT_WR);
      const auto rx = receiver.finish();
      s.helper_user_seconds = rx.user_seconds;
      s.helper_sys_seconds = rx.system_seconds;
      s.verified = !out.error && rx.bytes == size && (!verify || receiver.hash() == expected_hash);
      break;
    }
    case path::file_to_file:
    case path::socket_to_file: {
      auto sink_path = fx.dir / ("sink-" + std::to_string(round));
      auto sink = unique_fd::open(sink_path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
      if (!sink) {
        out.error = sink.error();
        return out;
      }
      if (p == path::file_to_file) {
        options.source_offset = 0;
        measure(s, process,
                [&] { note_transfer(transfer(fx.source.get(), sink->get(), options)); });
      } else {
        auto pair = loopback_tcp_pair();
        if (!pair) {
          out.error = pair.error();
          return out;
        }
        detail::stream_writer feeder(std::move(pair->first), fx.memory,
                                     detail::stream_writer::clock::time_point::max(), io_chunk);
        measure(s, process,
                [&] { note_transfer(transfer(pair->second.get(), sink->get(), options)); });
        const auto tx = feeder.finish();
        s.helper_user_seconds = tx.user_seconds;
        s.helper_sys_seconds = tx.system_seconds;
      }
      if (!out.error) {
        auto h = verify ? hash_file(sink->get(), size)
                        : std::expected<std::uint64_t, std::error_code>(fx.source_hash);
        s.verified = h && *h == fx.source_hash && s.bytes == size;
      }
      // Unlinking right away drops the copy's dirty pages instead of writing them back while the
      // next method runs.
      std::error_code ignored;
      std::filesystem::remove(sink_path, ignored);
      break;
    }
    case path::socket_to_socket: {
      auto in = loopback_tcp_pair();
      auto out_pair = loopback_tcp_pair();
      if (!in || !out_pair) {
        out.error = in ? out_pair.error() : in.error();
        return out;
      }
      detail::stream_writer feeder(std::move(in->first), fx.memory,
                                   detail::stream_writer::clock::time_point::max(), io_chunk);
      stream_receiver receiver(out_pair->second.get(), verify);
      measure(s, process,
              [&] { note_transfer(transfer(in->second.get(), out_pair->first.get(), options)); });
      (void)sys::shutdown(out_pair->first.get(), SHUT_WR);
      const auto tx = feeder.finish();
      const auto rx = receiver.finish();
      s.helper_user_seconds = tx.user_seconds + rx.user_seconds;
      s.helper_sys_seconds = tx.system_seconds + rx.system_seconds;
      s.verified = !out.error && rx.bytes == size && (!verify || receiver.hash() == fx.source_hash);
      break;
    }
  }
  // The moving thread's share of the process's CPU: everything but the helper threads. At least
  // what the thread itself used (helpers also work a little outside the measured window).
  s.user_seconds = std::max(s.user_seconds, process.user - s.helper_user_seconds);
  s.sys_seconds = std::max(s.sys_seconds, process.sys - s.helper_sys_seconds);
  return out;
}

template <class F>
stat stat_over(const std::vector<sample>& samples, F f) {
  std::vector<double> v;
  v.reserve(samples.size());
  for (const sample& s : samples) v.push_back(f(s));
  return stat_of(std::move(v));
}

void aggregate(method_result& r, double memcpy_gibps) {
  const auto& ss = r.samples;
  auto gibs = [](const sample& s) { return static_cast<double>(s.bytes) / gib; };
  r.gib_per_second =
      stat_over(ss, [&](const sample& s) { return s.seconds > 0 ? gibs(s) / s.seconds : 0; });
  r.seconds = stat_over(ss, [](const sample& s) { return s.seconds; });
  r.cpu_seconds_per_gib = stat_over(ss, [&](const sample& s) {
    return gibs(s) > 0 ? (s.user_seconds + s.sys_seconds) / gibs(s) : 0;
  });
  r.user_seconds = stat_over(ss, [](const sample& s) { return s.user_seconds; });
  r.sys_seconds = stat_over(ss, [](const sample& s) { return s.sys_seconds; });
  r.syscalls = stat_over(ss, [](const sample& s) { return static_cast<double>(s.syscalls); });
  r.syscalls_per_gib = stat_over(ss, [&](const sample& s) {
    return gibs(s) > 0 ? static_cast<double>(s.syscalls) / gibs(s) : 0;
  });
  r.voluntary_switches =
      stat_over(ss, [](const sample& s) { return static_cast<double>(s.voluntary_switches); });
  r.involuntary_switches =
      stat_over(ss, [](const sample& s) { return static_cast<double>(s.involuntary_switches); });
  r.context_switches = stat_over(ss, [](const sample& s) {
    return static_cast<double>(s.voluntary_switches + s.involuntary_switches);
  });
  r.minor_faults =
      stat_over(ss, [](const sample& s) { return static_cast<double>(s.minor_faults); });
  r.major_faults =
      stat_over(ss, [](const sample& s) { return static_cast<double>(s.major_faults); });
  r.helper_cpu_seconds_per_gib = stat_over(ss, [&](const sample& s) {
    return gibs(s) > 0 ? (s.helper_user_seconds + s.helper_sys_seconds) / gibs(s) : 0;
  });
  r.zerocopy_sends =
      stat_over(ss, [](const sample& s) { return static_cast<double>(s.zerocopy_sends); });
  r.copied_sends =
      stat_over(ss, [](const sample& s) { return static_cast<double>(s.copied_sends); });
  r.fraction_of_memcpy = memcpy_gibps > 0 ? r.gib_per_second.median / memcpy_gibps : 0;
  r.verified =
      !ss.empty() && std::all_of(ss.begin(), ss.end(), [](const sample& s) { return s.verified; });
}

// Whether FICLONE works in `dir` (a two-file trial).
std::error_code reflink_status(const std::filesystem::path& dir) {
  auto a_path = dir / "reflink-a";
  auto b_path = dir / "reflink-b";
  std::error_code ec;
  {
    auto a = unique_fd::open(a_path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    auto b = unique_fd::open(b_path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (!a || !b) {
      ec = a ? b.error() : a.error();
    } else {
      std::array<std::byte, 4096> block{};
      block[0] = std::byte{1};
      if (auto w = sys::write_all(a->get(), block.data(), block.size()); !w) {
        ec = w.error();
      } else if (auto r = sys::ioctl(b->get(), FICLONE,
                                     reinterpret_cast<void*>(static_cast<intptr_t>(a->get())));
                 !r) {
        ec = r.error();
      }
    }
  }
  std::error_code ignored;
  std::filesystem::remove(a_path, ignored);
  std::filesystem::remove(b_path, ignored);
  return ec;
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

stat stat_of(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {median, v.front(), v.back()};
}

std::string_view to_string(path p) noexcept {
  switch (p) {
    case path::file_to_socket:
      return "file-socket";
    case path::file_to_file:
      return "file-file";
    case path::socket_to_socket:
      return "socket-socket";
    case path::socket_to_file:
      return "socket-file";
    case path::memory_to_socket:
      return "memory-socket";
  }
  return "?";
}

std::optional<path> parse_path(std::string_view name) noexcept {
  for (path p : all_paths()) {
    if (to_string(p) == name) return p;
  }
  return std::nullopt;
}

std::vector<path> all_paths() {
  return {path::file_to_socket, path::file_to_file, path::socket_to_socket, path::socket_to_file,
          path::memory_to_socket};
}

std::vector<std::size_t> default_message_sizes() {
  return {std::size_t{4} << 10, std::size_t{64} << 10, std::size_t{1} << 20};
}

std::string display_name(const bench_method& m) {
  if (m.message_size == 0) return m.name;
  const std::size_t n = m.message_size;
  if (n % (std::size_t{1} << 20) == 0) return m.name + " " + std::to_string(n >> 20) + "M";
  if (n % 1024 == 0) return m.name + " " + std::to_string(n >> 10) + "K";
  return m.name + " " + std::to_string(n);
}

std::vector<bench_method> methods_for(path p, const std::vector<std::size_t>& message_sizes) {
  std::vector<std::string_view> names;
  switch (p) {
    case path::file_to_socket:
      names = {"read_write", "mmap_write", "sendfile", "splice", "direct_io", "io_uring"};
      break;
    case path::file_to_file:
      names = {"read_write",      "mmap_write", "sendfile",  "splice",
               "copy_file_range", "reflink",    "direct_io", "io_uring"};
      break;
    case path::socket_to_socket:
    case path::socket_to_file:
      names = {"read_write", "splice", "io_uring"};
      break;
    case path::memory_to_socket:
      names = {"write", "vmsplice", "msg_zerocopy", "send_zc"};
      break;
  }
  std::vector<bench_method> out;
  for (auto n : names) {
    bench_method m;
    m.name = std::string(n);
    m.transfer = parse_method(n);
    m.textbook = model_for(p, n);
    // The senders run once per message size; write is the plain send they are measured against.
    if (p == path::memory_to_socket && sender_mode(n) && !message_sizes.empty()) {
      for (std::size_t size : message_sizes) {
        m.message_size = size;
        out.push_back(m);
      }
      continue;
    }
    out.push_back(std::move(m));
  }
  return out;
}

double measure_memcpy(std::size_t bytes) {
  std::vector<std::byte> a(bytes), b(bytes);
  fill_random(a, 42);
  std::memcpy(b.data(), a.data(), bytes);  // fault both buffers in
  std::vector<double> rates;
  for (int pass = 0; pass < 5; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), bytes);
    const auto t1 = std::chrono::steady_clock::now();
    // Keep the copy observable so it is not optimised away.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (b[bytes / 2] != a[bytes / 2]) return 0;
    rates.push_back(static_cast<double>(bytes) / gib /
                    std::chrono::duration<double>(t1 - t0).count());
  }
  return stat_of(rates).median;
}

std::expected<report, std::error_code> run(const config& settings) {
  report rep;
  rep.settings = settings;
  rep.started_at = now_utc();
  if (settings.size == 0 || settings.repeat == 0) {
    return std::unexpected(std::make_error_code(std::errc::invalid_argument));
  }

  // The working directory: a fresh one under the chosen parent.
  std::filesystem::path parent = settings.directory;
  if (parent.empty()) {
    const char* t = std::getenv("TMPDIR");
    parent = t && *t ? t : "/tmp";
  }
  std::string tmpl = (parent / "zcopy-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return std::unexpected(sys::errno_code(errno));
  fixture fx;
  fx.settings = settings;
  fx.dir = tmpl;
  struct cleanup {
    std::filesystem::path dir;
    ~cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remove_dir{fx.dir};

  if (auto u = sys::uname()) rep.host.kernel = u->release, rep.host.hostname = u->nodename;
  rep.host.cpu_model = read_first_line("/proc/cpuinfo", "model name");
  rep.host.cpus = std::thread::hardware_concurrency();
  rep.host.filesystem = filesystem_name(parent);
  rep.host.directory = std::filesystem::absolute(parent).string();

  // The data: random bytes in memory and in a file (flushed, so writeback does not run during
  // the measurements; still in the page cache unless --cold).
  fx.memory.resize(settings.size);
  fill_random(fx.memory, 0x5eed);
  fx.source_hash = hash_of(fx.memory);
  fx.source_path = fx.dir / "source";
  {
    auto out = unique_fd::open(fx.source_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!out) return std::unexpected(out.error());
    if (auto w = write_all(out->get(), fx.memory, std::size_t{8} << 20); !w) {
      return std::unexpected(w.error());
    }
    if (auto s = sys::fsync(out->get()); !s) return std::unexpected(s.error());
  }
  auto src = unique_fd::open(fx.source_path.c_str(), O_RDONLY);
  if (!src) return std::unexpected(src.error());
  fx.source = std::move(*src);
  fx.reflink_reason = reflink_status(fx.dir);
  fx.reflink_supported = !fx.reflink_reason;

  rep.memcpy_gib_per_second =
      measure_memcpy(static_cast<std::size_t>(std::min<std::uint64_t>(settings.size, 256u << 20)));

  // What runs: every selected path × method.
  std::vector<path> paths = settings.paths.empty() ? all_paths() : settings.paths;
  for (path p : paths) {
    for (bench_method& m : methods_for(p, settings.message_sizes)) {
      if (!settings.methods.empty() && std::find(settings.methods.begin(), settings.methods.end(),
                                                 m.name) == settings.methods.end()) {
        continue;
      }
      method_result r;
      r.where = p;
      r.method = std::move(m);
      if (r.method.name == "reflink" && !fx.reflink_supported) {
        r.error =
            "not supported by " + rep.host.filesystem + " (" + fx.reflink_reason.message() + ")";
      }
      rep.results.push_back(std::move(r));
    }
  }

  // Interleaved rounds: every method once per round.
  for (unsigned round = 1; round <= settings.repeat; ++round) {
    for (method_result& r : rep.results) {
      if (!r.error.empty()) continue;
      if (settings.on_progress) {
        settings.on_progress(to_string(r.where), r.method.name, round, settings.repeat);
      }
      measured m = run_once(fx, r.where, r.method, round);
      if (m.error) {
        r.error = m.error.message();
        r.samples.clear();
        continue;
      }
      r.samples.push_back(std::move(m.s));
    }
  }
  for (method_result& r : rep.results) {
    if (r.error.empty()) aggregate(r, rep.memcpy_gib_per_second);
  }
  return rep;
}

}  // namespace zcopy::bench
