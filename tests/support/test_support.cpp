#include "support/test_support.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

extern char** environ;

namespace zcopy::test {

std::uint64_t test_seed() {
  if (const char* s = std::getenv("ZCOPY_TEST_SEED")) return std::strtoull(s, nullptr, 0);
  static const std::uint64_t seed = std::random_device{}() | (std::uint64_t{1} << 40);
  return seed;
}

std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> v(n);
  std::mt19937_64 gen(seed);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x = gen();
    std::memcpy(v.data() + i, &x, 8);
  }
  std::uint64_t x = gen();
  for (; i < n; ++i, x >>= 8) v[i] = static_cast<std::byte>(x | 1);
  return v;
}

temp_dir::temp_dir(const std::filesystem::path& parent) {
  std::filesystem::path base = parent;
  if (base.empty()) {
    const char* t = std::getenv("TMPDIR");
    base = t && *t ? t : "/tmp";
  }
  std::string tmpl = (base / "zcopy-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed in " + base.string());
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

unique_fd open_or_die(const std::filesystem::path& path, int flags, mode_t mode) {
  auto fd = unique_fd::open(path.c_str(), flags, mode);
  if (!fd) throw std::system_error(fd.error(), "open " + path.string());
  return std::move(*fd);
}

unique_fd write_file(const std::filesystem::path& path, std::span<const std::byte> data,
                     int flags) {
  {
    unique_fd out = open_or_die(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t w = ::write(out.get(), data.data() + off, data.size() - off);
      if (w < 0) throw std::system_error(errno, std::system_category(), "write");
      off += static_cast<std::size_t>(w);
    }
  }
  return open_or_die(path, flags);
}

std::vector<std::byte> read_range(int fd, std::uint64_t offset, std::uint64_t length) {
  std::vector<std::byte> out(length);
  std::size_t done = 0;
  while (done < length) {
    const ssize_t n =
        ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

std::vector<std::byte> read_fd_to_end(int fd) {
  std::vector<std::byte> out;
  std::array<std::byte, 65536> buf;
  for (;;) {
    ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::system_error(errno, std::system_category(), "read");
    if (r == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + r);
  }
  return out;
}

std::vector<std::byte> read_file(const std::filesystem::path& path) {
  unique_fd fd = open_or_die(path, O_RDONLY);
  return read_fd_to_end(fd.get());
}

std::string text_of(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string read_text(const std::filesystem::path& path) {
  return text_of(read_file(path));
}

std::string random_text(std::size_t n, std::uint64_t seed) {
  return text_of(random_bytes(n, seed));
}

::testing::AssertionResult same_bytes(std::span<const std::byte> expected,
                                      std::span<const std::byte> actual) {
  std::size_t n = std::min(expected.size(), actual.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (expected[i] != actual[i]) {
      return ::testing::AssertionFailure()
             << "first difference at byte " << i << ": expected "
             << std::to_integer<int>(expected[i]) << ", got " << std::to_integer<int>(actual[i])
             << " (sizes " << expected.size() << " and " << actual.size() << ", seed "
             << test_seed() << ")";
    }
  }
  if (expected.size() != actual.size()) {
    return ::testing::AssertionFailure() << "sizes differ: expected " << expected.size() << ", got "
                                         << actual.size() << " (seed " << test_seed() << ")";
  }
  return ::testing::AssertionSuccess();
}

std::uint64_t fnv1a(std::span<const std::byte> data, std::uint64_t hash) {
  for (std::byte b : data) {
    hash ^= std::to_integer<std::uint64_t>(b);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

drainer::drainer(int fd, bool keep, std::size_t read_size, std::uint64_t limit)
    : reader_(
          fd,
          [this, keep](std::span<const std::byte> got) {
            hash_ = fnv1a(got, hash_);
            if (keep) data_.insert(data_.end(), got.begin(), got.end());
          },
          read_size, limit) {}

std::vector<std::byte> drainer::finish() {
  (void)reader_.finish();
  return std::move(data_);
}

fifo_reader::fifo_reader(const std::filesystem::path& fifo, std::chrono::milliseconds patience)
    : fd_(open_or_die(fifo, O_RDONLY | O_NONBLOCK)) {
  thread_ = std::thread([this, patience] {
    std::vector<std::byte> buf(256 * 1024);
    auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      // Before the first writer a FIFO reports nothing (no data, no hang-up); a read would say 0
      // as if the writer had come and gone.
      pollfd p{fd_.get(), POLLIN, 0};
      const int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n <= 0) continue;
      const ssize_t r = ::read(fd_.get(), buf.data(), buf.size());
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r > 0) {
        writer_came_ = true;
        data_.insert(data_.end(), buf.begin(), buf.begin() + r);
        deadline = std::chrono::steady_clock::now() + patience;
        continue;
      }
      if (r == 0) writer_came_ = true;  // POLLHUP: a writer came and closed
      return;
    }
  });
}

fifo_reader::~fifo_reader() {
  if (thread_.joinable()) thread_.join();
}

std::vector<std::byte> fifo_reader::finish() {
  if (thread_.joinable()) thread_.join();
  return std::move(data_);
}

fifo_writer::fifo_writer(const std::filesystem::path& fifo, std::vector<std::byte> data,
                         std::chrono::milliseconds patience) {
  thread_ = std::thread([this, fifo, data = std::move(data), patience] {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    int fd = -1;
    // ENXIO until a reader has the FIFO open; looked at again every few milliseconds.
    while ((fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
      if (errno != ENXIO || std::chrono::steady_clock::now() > deadline) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    unique_fd out(fd);
    std::size_t at = 0;
    while (at < data.size()) {
      const ssize_t n = ::write(out.get(), data.data() + at, data.size() - at);
      if (n > 0) {
        at += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        pollfd p{out.get(), POLLOUT, 0};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
        continue;
      }
      return;
    }
    done_ = true;
  });
}

fifo_writer::~fifo_writer() {
  if (thread_.joinable()) thread_.join();
}

bool fifo_writer::finish() {
  if (thread_.joinable()) thread_.join();
  return done_;
}

namespace {
std::string slurp(const std::filesystem::path& path) {
  auto bytes = read_file(path);
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
}  // namespace

run_result run_zcopy(const std::vector<std::string>& args) {
  const char* binary = std::getenv("ZCOPY_BINARY");
  if (binary == nullptr || *binary == '\0') {
    ADD_FAILURE() << "ZCOPY_BINARY is not set";
    return {};
  }
  temp_dir dir;
  const auto out_path = dir / "stdout";
  const auto err_path = dir / "stderr";

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<std::string> storage{binary};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  run_result result;
  pid_t pid = 0;
  int rc = posix_spawn(&pid, binary, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << binary << ": " << std::strerror(rc);
    return result;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  return result;
}

// --- fault injection ----------------------------------------------------------------------

namespace {

struct fault_state {
  fault plan;
  bool armed = false;
  std::atomic<std::size_t> calls{0};
};

std::array<fault_state, syscall_kind_count> states;

fault_state& state(syscall_kind k) {
  return states[static_cast<std::size_t>(k)];
}

// Decides for one call: returns the errno to fail with (0: go on) and caps `len` for short
// returns.
int decide(syscall_kind k, std::size_t& len) {
  fault_state& s = state(k);
  std::size_t n = ++s.calls;
  if (!s.armed) return 0;
  if (n < s.plan.nth && s.plan.short_before != 0 && len > s.plan.short_before) {
    len = s.plan.short_before;
  }
  bool fires = n == s.plan.nth || (s.plan.repeat && n > s.plan.nth);
  if (!fires) return 0;
  if (s.plan.error != 0) return s.plan.error;
  if (s.plan.short_to != 0 && len > s.plan.short_to) len = s.plan.short_to;
  return 0;
}

void arm(syscall_kind k, fault f) {
  fault_state& s = state(k);
  s.plan = f;
  s.calls = 0;
  s.armed = true;
}

}  // namespace

fault_scope::fault_scope() {
  for (auto& s : states) {
    s.armed = false;
    s.calls = 0;
  }
}

fault_scope::~fault_scope() {
  sys::restore_hooks();
  for (auto& s : states) s.armed = false;
}

std::size_t fault_scope::calls(syscall_kind kind) const {
  return state(kind).calls.load();
}

#define ZCOPY_FAIL_OR(kind, len)                 \
  if (int e = decide(syscall_kind::kind, len)) { \
    errno = e;                                   \
    return -1;                                   \
  }

void fault_scope::sendfile(fault f) {
  arm(syscall_kind::sendfile, f);
  sys::hooks().sendfile = [](int out, int in, off_t* off, size_t n) -> ssize_t {
    ZCOPY_FAIL_OR(sendfile, n);
    return sys::real_hooks().sendfile(out, in, off, n);
  };
}

void fault_scope::splice(fault f) {
  arm(syscall_kind::splice, f);
  sys::hooks().splice = [](int in, loff_t* oi, int out, loff_t* oo, size_t n,
                           unsigned fl) -> ssize_t {
    ZCOPY_FAIL_OR(splice, n);
    return sys::real_hooks().splice(in, oi, out, oo, n, fl);
  };
}

void fault_scope::copy_file_range(fault f) {
  arm(syscall_kind::copy_file_range, f);
  sys::hooks().copy_file_range = [](int in, loff_t* oi, int out, loff_t* oo, size_t n,
                                    unsigned fl) -> ssize_t {
    ZCOPY_FAIL_OR(copy_file_range, n);
    return sys::real_hooks().copy_file_range(in, oi, out, oo, n, fl);
  };
}

void fault_scope::ioctl(fault f) {
  arm(syscall_kind::ioctl, f);
  sys::hooks().ioctl = [](int fd, unsigned long req, void* arg) -> int {
    if (req == FICLONE || req == FICLONERANGE) {
      std::size_t n = 0;
      ZCOPY_FAIL_OR(ioctl, n);
    }
    return sys::real_hooks().ioctl(fd, req, arg);
  };
}

void fault_scope::read(fault f) {
  arm(syscall_kind::read, f);
  sys::hooks().read = [](int fd, void* b, size_t n) -> ssize_t {
    ZCOPY_FAIL_OR(read, n);
    return sys::real_hooks().read(fd, b, n);
  };
}

void fault_scope::pread(fault f) {
  arm(syscall_kind::pread, f);
  sys::hooks().pread = [](int fd, void* b, size_t n, off_t o) -> ssize_t {
    ZCOPY_FAIL_OR(pread, n);
    return sys::real_hooks().pread(fd, b, n, o);
  };
}

void fault_scope::write(fault f) {
  arm(syscall_kind::write, f);
  sys::hooks().write = [](int fd, const void* b, size_t n) -> ssize_t {
    ZCOPY_FAIL_OR(write, n);
    return sys::real_hooks().write(fd, b, n);
  };
}

void fault_scope::pwrite(fault f) {
  arm(syscall_kind::pwrite, f);
  sys::hooks().pwrite = [](int fd, const void* b, size_t n, off_t o) -> ssize_t {
    ZCOPY_FAIL_OR(pwrite, n);
    return sys::real_hooks().pwrite(fd, b, n, o);
  };
}

void fault_scope::mmap(fault f) {
  arm(syscall_kind::mmap, f);
  sys::hooks().mmap = [](void* a, size_t n, int p, int fl, int fd, off_t o) -> void* {
    if (int e = decide(syscall_kind::mmap, n)) {
      errno = e;
      return MAP_FAILED;
    }
    return sys::real_hooks().mmap(a, n, p, fl, fd, o);
  };
}

void fault_scope::openat(fault f) {
  arm(syscall_kind::openat, f);
  sys::hooks().openat = [](int d, const char* p, int fl, mode_t m) -> int {
    std::size_t n = 0;
    ZCOPY_FAIL_OR(openat, n);
    return sys::real_hooks().openat(d, p, fl, m);
  };
}

void fault_scope::fallocate(fault f) {
  arm(syscall_kind::fallocate, f);
  sys::hooks().fallocate = [](int fd, int mode, off_t o, off_t l) -> int {
    std::size_t n = 0;
    ZCOPY_FAIL_OR(fallocate, n);
    return sys::real_hooks().fallocate(fd, mode, o, l);
  };
}

void fault_scope::fsetxattr(fault f) {
  arm(syscall_kind::fsetxattr, f);
  sys::hooks().fsetxattr = [](int fd, const char* name, const void* value, size_t size,
                              int flags) -> int {
    ZCOPY_FAIL_OR(fsetxattr, size);
    return sys::real_hooks().fsetxattr(fd, name, value, size, flags);
  };
}

#undef ZCOPY_FAIL_OR

xfs_mount::xfs_mount() {
  if (::geteuid() != 0) {
    skip_ = "needs root to loop-mount an XFS image";
    return;
  }
  if (std::system("command -v mkfs.xfs >/dev/null 2>&1") != 0) {
    skip_ = "mkfs.xfs is not installed (xfsprogs)";
    return;
  }
  image_ = dir_ / "xfs.img";
  mount_point_ = dir_ / "mnt";
  std::filesystem::create_directory(mount_point_);
  // 300 MiB: the smallest XFS that xfsprogs 5.19+ will make.
  if (!run("truncate -s 300M '" + image_.string() + "'") ||
      !run("mkfs.xfs -q -f -m reflink=1 '" + image_.string() + "'")) {
    skip_ = "could not make an XFS image: " + output_;
    return;
  }
  if (!run("mount -o loop '" + image_.string() + "' '" + mount_point_.string() + "'")) {
    skip_ = "loop mount refused (no loop devices in this container?): " + output_;
    return;
  }
  mounted_ = true;
  // The filesystem must really share extents.
  const auto a = mount_point_ / ".probe-a";
  const auto b = mount_point_ / ".probe-b";
  {
    unique_fd from = write_file(a, random_bytes(4096, test_seed()));
    unique_fd to = open_or_die(b, O_WRONLY | O_CREAT | O_TRUNC);
    if (::ioctl(to.get(), FICLONE, from.get()) != 0) {
      skip_ = std::string("FICLONE refused on the XFS image (reflink=0?): ") + std::strerror(errno);
    }
  }
  std::filesystem::remove(a);
  std::filesystem::remove(b);
}

xfs_mount::~xfs_mount() {
  if (mounted_ && !run("umount '" + mount_point_.string() + "'")) {
    // Busy (a descriptor leaked by the code under test): detach it anyway.
    run("umount -l '" + mount_point_.string() + "'");
  }
}

bool xfs_mount::run(const std::string& command) {
  const std::filesystem::path log = dir_ / "log";
  const int status = std::system((command + " >'" + log.string() + "' 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  output_ = text.str();
  while (!output_.empty() && output_.back() == '\n') output_.pop_back();
  return status == 0;
}

int refusing_port() {
  // Plain system calls, not sys::: the first call may come while a test's fault hooks are set.
  static const int port = [] {
    static const unique_fd held(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof a;
    if (!held || ::bind(held.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(held.get(), reinterpret_cast<sockaddr*>(&a), &length) != 0) {
      throw std::system_error(errno, std::generic_category(), "refusing_port");
    }
    return int{ntohs(a.sin_port)};
  }();
  return port;
}

}  // namespace zcopy::test
