// Every transfer method, forced, over every pair of endpoints it serves and a set of sizes around
// the page size: the bytes arrive unchanged and the result says who moved them. Pairs a method
// cannot serve are refused when the job is made.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"
#include "zcopy/error.hpp"
#include "zcopy/net.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy {
namespace {

using test::random_bytes;
using test::temp_dir;
using test::test_seed;

enum class end { file, memfd, socket, pipe, devnull };

std::string_view name_of(end e) {
  switch (e) {
    case end::file:
      return "file";
    case end::memfd:
      return "memfd";
    case end::socket:
      return "socket";
    case end::pipe:
      return "pipe";
    case end::devnull:
      return "devnull";
  }
  return "?";
}

struct endpoint_pair {
  end src;
  end dst;
};

constexpr endpoint_pair all_pairs[] = {
    {end::file, end::file},   {end::file, end::socket},   {end::file, end::pipe},
    {end::socket, end::file}, {end::socket, end::socket}, {end::pipe, end::file},
    {end::pipe, end::pipe},   {end::pipe, end::socket},   {end::memfd, end::file},
    {end::file, end::memfd},  {end::file, end::devnull},
};

constexpr std::size_t all_sizes[] = {0, 1, 4095, 4096, 4097, (std::size_t{1} << 20) + 1};

bool file_like(end e) {
  return e == end::file || e == end::memfd;
}

// What the engine should accept for a forced method (transfer.hpp's rules, restated here).
bool serves(method m, endpoint_pair p) {
  switch (m) {
    case method::read_write:
    case method::splice:
    case method::io_uring:
      return true;
    case method::mmap_write:
    case method::sendfile:
    case method::direct_io:
      return file_like(p.src);
    case method::copy_file_range:
      return file_like(p.src) && file_like(p.dst);
    case method::reflink:
      return p.src == end::file && p.dst == end::file;  // one device: both in the temp dir
    case method::automatic:
      return true;
  }
  return false;
}

// Pairs where the kernel may refuse a method that the engine accepts: reflink on a filesystem
// without shared extents (ext4: EOPNOTSUPP), copy_file_range across filesystems (tmpfs ↔ ext4:
// EXDEV since 5.18.10 / 5.19).
bool kernel_may_refuse(method m, endpoint_pair p) {
  if (m == method::reflink) return true;
  if (m == method::copy_file_range) return p.src != p.dst;
  return false;
}

bool is_refusal(method m, const std::error_code& ec) {
  return ec == std::errc::operation_not_supported || ec == std::errc::cross_device_link ||
         ec == std::errc::invalid_argument || ec == std::errc::inappropriate_io_control_operation ||
         (m == method::reflink && ec == errc::method_not_applicable);
}

void write_all(int fd, std::span<const std::byte> data, bool socket) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t w = socket ? ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL)
                       : ::write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // the reader went away: the test body reports what arrived
    off += static_cast<std::size_t>(w);
  }
}

unique_fd make_memfd(std::span<const std::byte> data) {
  unique_fd fd(::memfd_create("zcopy-methods", MFD_CLOEXEC));
  if (!fd) throw std::system_error(errno, std::system_category(), "memfd_create");
  write_all(fd.get(), data, false);
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) throw std::system_error(errno, std::system_category());
  return fd;
}

std::pair<unique_fd, unique_fd> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category());
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

socket_pair tcp_pair() {
  auto pair = loopback_tcp_pair();
  if (!pair) throw std::system_error(pair.error(), "loopback_tcp_pair");
  return std::move(*pair);
}

// The source end: a file or memfd holding the data, or a stream that a writer thread fills and
// then ends (shutdown(SHUT_WR) for a socket, close for a pipe).
class source_end {
 public:
  source_end(end kind, std::span<const std::byte> data, const temp_dir& dir)
      : kind_(kind), data_(data.begin(), data.end()) {
    switch (kind) {
      case end::file:
        fd_ = test::write_file(dir / "source", data_);
        break;
      case end::memfd:
        fd_ = make_memfd(data_);
        break;
      case end::socket: {
        socket_pair s = tcp_pair();
        writer_fd_ = std::move(s.first);
        fd_ = std::move(s.second);
        break;
      }
      case end::pipe: {
        auto [r, w] = make_pipe();
        fd_ = std::move(r);
        writer_fd_ = std::move(w);
        break;
      }
      case end::devnull:
        throw std::logic_error("/dev/null is not a source here");
    }
  }
  ~source_end() { stop(); }

  int fd() const { return fd_.get(); }

  void start() {
    if (!writer_fd_) return;
    writer_ = std::thread([this] {
      write_all(writer_fd_.get(), data_, kind_ == end::socket);
      if (kind_ == end::socket) {
        ::shutdown(writer_fd_.get(), SHUT_WR);
      } else {
        writer_fd_.reset();
      }
    });
  }

  // Ends the writer even when the transfer stopped early: closing the reading end makes its
  // pending write fail.
  void stop() {
    if (!writer_.joinable()) return;
    fd_.reset();
    writer_.join();
  }

 private:
  end kind_;
  std::vector<std::byte> data_;
  unique_fd fd_;
  unique_fd writer_fd_;
  std::thread writer_;
};

// The sink end: a file or memfd read back afterwards, a stream drained by a thread, or /dev/null.
class sink_end {
 public:
  sink_end(end kind, const temp_dir& dir) : kind_(kind), path_(dir / "sink") {
    switch (kind) {
      case end::file:
        fd_ = test::open_or_die(path_, O_WRONLY | O_CREAT | O_TRUNC);
        break;
      case end::memfd:
        fd_ = make_memfd({});
        break;
      case end::socket: {
        socket_pair s = tcp_pair();
        fd_ = std::move(s.first);
        reader_fd_ = std::move(s.second);
        drainer_ = std::make_unique<test::drainer>(reader_fd_.get());
        break;
      }
      case end::pipe: {
        auto [r, w] = make_pipe();
        fd_ = std::move(w);
        reader_fd_ = std::move(r);
        drainer_ = std::make_unique<test::drainer>(reader_fd_.get());
        break;
      }
      case end::devnull:
        fd_ = test::open_or_die("/dev/null", O_WRONLY);
        break;
    }
  }
  ~sink_end() { (void)finish(); }

  int fd() const { return fd_.get(); }

  // Ends the stream and returns what arrived (nullopt for /dev/null, which keeps nothing).
  std::optional<std::vector<std::byte>> finish() {
    switch (kind_) {
      case end::file:
        return test::read_file(path_);
      case end::memfd: {
        unique_fd again = test::open_or_die("/proc/self/fd/" + std::to_string(fd_.get()), O_RDONLY);
        return test::read_fd_to_end(again.get());
      }
      case end::socket:
      case end::pipe: {
        if (!drainer_) return std::vector<std::byte>{};
        if (kind_ == end::socket) {
          ::shutdown(fd_.get(), SHUT_WR);
        } else {
          fd_.reset();
        }
        auto got = drainer_->finish();
        drainer_.reset();
        return got;
      }
      case end::devnull:
        return std::nullopt;
    }
    return std::nullopt;
  }

 private:
  end kind_;
  std::filesystem::path path_;
  unique_fd fd_;
  unique_fd reader_fd_;
  std::unique_ptr<test::drainer> drainer_;
};

// io_uring: built in, and allowed by the kernel (containers may block io_uring_setup).
std::optional<std::string> io_uring_missing() {
  static const std::optional<std::string> reason = []() -> std::optional<std::string> {
    temp_dir dir;
    unique_fd src = test::write_file(dir / "a", random_bytes(4096, test_seed()));
    unique_fd dst = test::open_or_die(dir / "b", O_WRONLY | O_CREAT | O_TRUNC);
    transfer_options o;
    o.use = method::io_uring;
    auto job = transfer_job::create(src.get(), dst.get(), o);
    if (!job && job.error() == errc::method_not_applicable) {
      return "libzcopy was built without liburing";
    }
    if (!job) return "transfer_job::create: " + job.error().message();
    transfer_result r = job->run();
    if (r.error == std::errc::function_not_supported ||
        r.error == std::errc::operation_not_permitted || r.error == errc::method_unavailable) {
      return "io_uring_setup refused: " + r.error.message();
    }
    return std::nullopt;
  }();
  return reason;
}

// O_DIRECT on the source's filesystem (tmpfs before 6.6 refuses it).
std::optional<std::string> direct_io_missing(end src, const temp_dir& dir) {
  unique_fd probe;
  std::string what;
  if (src == end::memfd) {
    probe = make_memfd(random_bytes(4096, test_seed()));
    what = "a memfd (tmpfs)";
  } else {
    probe = test::write_file(dir / "direct-probe", random_bytes(4096, test_seed()));
    what = dir.path().string();
  }
  int fd = ::open(("/proc/self/fd/" + std::to_string(probe.get())).c_str(),
                  O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return "O_DIRECT refused on " + what + ": " + std::strerror(errno);
  ::close(fd);
  return std::nullopt;
}

struct matrix_case {
  method m;
  endpoint_pair pair;
  std::size_t size;
};

std::string case_name(const ::testing::TestParamInfo<matrix_case>& info) {
  const matrix_case& c = info.param;
  return std::string(to_string(c.m)) + "_" + std::string(name_of(c.pair.src)) + "_to_" +
         std::string(name_of(c.pair.dst)) + "_" + std::to_string(c.size);
}

std::vector<matrix_case> served_cases() {
  std::vector<matrix_case> out;
  for (method m : all_methods()) {
    for (endpoint_pair p : all_pairs) {
      if (!serves(m, p)) continue;
      for (std::size_t n : all_sizes) out.push_back({m, p, n});
    }
  }
  return out;
}

std::vector<matrix_case> refused_cases() {
  std::vector<matrix_case> out;
  for (method m : all_methods()) {
    for (endpoint_pair p : all_pairs) {
      if (!serves(m, p)) out.push_back({m, p, 4097});
    }
  }
  return out;
}

class MethodMatrix : public ::testing::TestWithParam<matrix_case> {
 protected:
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }

  // Skips the cases the environment cannot run, with the reason.
  void skip_if_missing(method m, end src) {
    if (m == method::io_uring) {
      if (auto why = io_uring_missing()) GTEST_SKIP() << *why;
    }
    if (m == method::direct_io) {
      if (auto why = direct_io_missing(src, dir_)) GTEST_SKIP() << *why;
    }
  }

  temp_dir dir_;
};

class MethodMatrixRefused : public MethodMatrix {};

// A forced method moves every byte of the source to the sink, in order, and is credited with
// all of them; a file source's and a file sink's positions advance by the bytes moved.
TEST_P(MethodMatrix, MovesEveryByte) {
  const auto [m, pair, size] = GetParam();
  skip_if_missing(m, pair.src);
  if (IsSkipped()) return;
  const auto data = random_bytes(size, test_seed() + size * 131 + static_cast<unsigned>(m));

  source_end source(pair.src, data, dir_);
  sink_end sink(pair.dst, dir_);
  transfer_options o;
  o.use = m;
  auto job = transfer_job::create(source.fd(), sink.fd(), o);
  ASSERT_TRUE(job) << job.error().message();
  ASSERT_EQ(job->plan().size(), 1u);
  source.start();
  transfer_result r = job->run();
  const bool finished = job->done();
  source.stop();
  auto got = sink.finish();

  if (!r.ok() && kernel_may_refuse(m, pair)) {
    // The kernel refused the method for these files: nothing was written, nothing repeated.
    EXPECT_TRUE(is_refusal(m, r.error)) << r.error.message();
    EXPECT_EQ(r.bytes, 0u);
    EXPECT_FALSE(r.complete);
    ASSERT_TRUE(got);
    EXPECT_TRUE(got->empty());
    return;
  }
  ASSERT_TRUE(r.ok()) << r.error.message() << " (" << r.error.category().name() << ")";
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(finished);
  EXPECT_FALSE(r.would_block());
  EXPECT_EQ(r.bytes, size);
  EXPECT_TRUE(r.fallbacks.empty());
  if (size > 0) {
    EXPECT_EQ(r.used, m) << to_string(r.used);
    EXPECT_EQ(r.bytes_with(m), size);
  }
  if (got) {
    EXPECT_TRUE(test::same_bytes(data, *got));
  }
  if (pair.src == end::file || pair.src == end::memfd) {
    EXPECT_EQ(::lseek(source.fd(), 0, SEEK_CUR), static_cast<off_t>(size));
  }
}

// A forced method that cannot serve the pair is refused by transfer_job::create.
TEST_P(MethodMatrixRefused, CreateSaysNotApplicable) {
  const auto [m, pair, size] = GetParam();
  if (m == method::io_uring) {
    if (auto why = io_uring_missing()) GTEST_SKIP() << *why;
  }
  const auto data = random_bytes(size, test_seed() + 7);
  source_end source(pair.src, data, dir_);
  sink_end sink(pair.dst, dir_);
  transfer_options o;
  o.use = m;
  auto job = transfer_job::create(source.fd(), sink.fd(), o);
  ASSERT_FALSE(job) << "plan: " << job->plan().size() << " methods";
  EXPECT_EQ(job.error(), errc::method_not_applicable) << job.error().message();
}

INSTANTIATE_TEST_SUITE_P(Served, MethodMatrix, ::testing::ValuesIn(served_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(NotServed, MethodMatrixRefused, ::testing::ValuesIn(refused_cases()),
                         case_name);

// mmap_write, sendfile and direct_io need a file source: from a socket they are refused, and
// with allow_fallback the transfer records the refusal and moves everything with the chain.
TEST(Methods, FileOnlyMethodsFromSocketFallBackWhenAllowed) {
  ::signal(SIGPIPE, SIG_IGN);
  for (method m : {method::mmap_write, method::sendfile, method::direct_io}) {
    SCOPED_TRACE(to_string(m));
    temp_dir dir;
    const auto data = random_bytes(70000, test_seed() + 11);
    source_end source(end::socket, data, dir);
    sink_end sink(end::file, dir);
    transfer_options o;
    o.use = m;
    auto refused = transfer_job::create(source.fd(), sink.fd(), o);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), errc::method_not_applicable);

    o.allow_fallback = true;
    auto job = transfer_job::create(source.fd(), sink.fd(), o);
    ASSERT_TRUE(job) << job.error().message();
    source.start();
    transfer_result r = job->run();
    source.stop();
    auto got = sink.finish();
    ASSERT_TRUE(r.ok()) << r.error.message();
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.bytes, data.size());
    EXPECT_EQ(r.bytes_with(m), 0u);
    ASSERT_FALSE(r.fallbacks.empty());
    EXPECT_EQ(r.fallbacks[0].from, m);
    EXPECT_EQ(r.fallbacks[0].reason, errc::method_not_applicable);
    EXPECT_EQ(r.fallbacks[0].at_byte, 0u);
    ASSERT_TRUE(got);
    EXPECT_TRUE(test::same_bytes(data, *got));
  }
}

// A forced method with explicit offsets copies the middle of a file into the middle of another
// and leaves both descriptors' positions where they were.
TEST(Methods, ExplicitOffsetsLeavePositionsAlone) {
  for (method m : {method::read_write, method::mmap_write, method::sendfile, method::splice,
                   method::copy_file_range}) {
    SCOPED_TRACE(to_string(m));
    temp_dir dir;
    const auto data = random_bytes(3 * 4096 + 77, test_seed() + 12);
    const auto old = random_bytes(5 * 4096, test_seed() + 13);
    unique_fd src = test::write_file(dir / "src", data);
    unique_fd dst = test::write_file(dir / "dst", old, O_RDWR);
    ASSERT_EQ(::lseek(src.get(), 10, SEEK_SET), 10);
    ASSERT_EQ(::lseek(dst.get(), 20, SEEK_SET), 20);
    transfer_options o;
    o.use = m;
    o.source_offset = 1000;
    o.sink_offset = 4096 + 3;
    o.length = 9000;
    transfer_result r = transfer(src.get(), dst.get(), o);
    ASSERT_TRUE(r.ok()) << r.error.message();
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.bytes, 9000u);
    EXPECT_EQ(r.used, m);
    auto want = old;
    std::copy_n(data.begin() + 1000, 9000, want.begin() + 4096 + 3);
    EXPECT_TRUE(test::same_bytes(want, test::read_file(dir / "dst")));
    EXPECT_EQ(::lseek(src.get(), 0, SEEK_CUR), 10);
    EXPECT_EQ(::lseek(dst.get(), 0, SEEK_CUR), 20);
  }
}

}  // namespace
}  // namespace zcopy
