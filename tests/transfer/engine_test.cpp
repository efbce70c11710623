// The engine's semantics: positions, offsets, lengths, truncation, cancellation, progress,
// pseudo-files, holes, and what it refuses.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stop_token>

#include "support/test_support.hpp"
#include "transfer/state.hpp"
#include "zcopy/endpoint.hpp"
#include "zcopy/error.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy {
namespace {

using test::random_bytes;
using test::same_bytes;

class Engine : public ::testing::Test {
 protected:
  void SetUp() override { detail::reset_availability_for_tests(); }
  test::temp_dir dir_;
  std::uint64_t seed_ = test::test_seed();
};

off_t position(int fd) {
  return ::lseek(fd, 0, SEEK_CUR);
}

// Methods that can copy a file into a file, each forced in turn.
const method file_to_file_methods[] = {method::read_write, method::mmap_write, method::sendfile,
                                       method::splice, method::copy_file_range};

// Without offsets a transfer reads from and advances both current positions, like read/write.
TEST_F(Engine, CurrentPositionsAreUsedAndAdvanced) {
  auto data = random_bytes(300'000, seed_);
  for (method m : file_to_file_methods) {
    SCOPED_TRACE(to_string(m));
    auto src = test::write_file(dir_ / "src", data);
    auto dst = test::write_file(dir_ / "dst", random_bytes(64, seed_ + 1), O_RDWR);
    ASSERT_EQ(::lseek(src.get(), 100, SEEK_SET), 100);
    ASSERT_EQ(::lseek(dst.get(), 50, SEEK_SET), 50);
    auto r = transfer(src.get(), dst.get(), {.use = m});
    ASSERT_TRUE(r.ok()) << r.error.message();
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.bytes, data.size() - 100);
    EXPECT_EQ(position(src.get()), static_cast<off_t>(data.size()));
    EXPECT_EQ(position(dst.get()), static_cast<off_t>(50 + data.size() - 100));
    auto out = test::read_file(dir_ / "dst");
    ASSERT_EQ(out.size(), 50 + data.size() - 100);
    EXPECT_TRUE(same_bytes(std::span(data).subspan(100), std::span(out).subspan(50)));
  }
}

// Explicit offsets leave both positions where they were (sendfile moves the sink's position
// internally and must put it back).
TEST_F(Engine, ExplicitOffsetsLeavePositionsAlone) {
  auto data = random_bytes(200'001, seed_);
  for (method m : file_to_file_methods) {
    SCOPED_TRACE(to_string(m));
    auto src = test::write_file(dir_ / "src", data);
    auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
    ASSERT_EQ(::lseek(src.get(), 7, SEEK_SET), 7);
    ASSERT_EQ(::lseek(dst.get(), 9, SEEK_SET), 9);
    auto r = transfer(src.get(), dst.get(),
                      {.use = m, .length = 150'000, .source_offset = 1000, .sink_offset = 4096});
    ASSERT_TRUE(r.ok()) << r.error.message();
    EXPECT_EQ(r.bytes, 150'000u);
    EXPECT_EQ(position(src.get()), 7);
    EXPECT_EQ(position(dst.get()), 9);
    auto out = test::read_file(dir_ / "dst");
    ASSERT_EQ(out.size(), 4096u + 150'000u);
    EXPECT_TRUE(same_bytes(std::span(data).subspan(1000, 150'000), std::span(out).subspan(4096)));
  }
}

// A length is a limit: shorter than the source moves exactly that, longer stops at the end.
TEST_F(Engine, LengthIsALimit) {
  auto data = random_bytes(10'000, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  auto r = transfer(src.get(), dst.get(), {.length = 1234});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.bytes, 1234u);
  auto r2 = transfer(src.get(), dst.get(), {.length = 1'000'000});
  ASSERT_TRUE(r2.ok());
  EXPECT_TRUE(r2.complete);
  EXPECT_EQ(r2.bytes, data.size() - 1234);
  EXPECT_TRUE(same_bytes(data, test::read_file(dir_ / "dst")));
}

// An offset at or past the end moves nothing and completes; an empty source likewise.
TEST_F(Engine, NothingToMoveCompletes) {
  auto src = test::write_file(dir_ / "src", random_bytes(100, seed_));
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  auto r = transfer(src.get(), dst.get(), {.source_offset = 500});
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, 0u);
  auto empty = test::write_file(dir_ / "empty", {});
  auto r2 = transfer(empty.get(), dst.get());
  EXPECT_TRUE(r2.ok());
  EXPECT_TRUE(r2.complete);
  EXPECT_EQ(r2.bytes, 0u);
}

// A source truncated during the transfer is reported as such, with the bytes moved so far; no
// method spins or hangs on it.
TEST_F(Engine, TruncatedSourceIsReported) {
  const std::size_t size = 40u << 20;
  auto data = random_bytes(size, seed_);
  for (method m : file_to_file_methods) {
    SCOPED_TRACE(to_string(m));
    auto src = test::write_file(dir_ / "src", data);
    auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
    int truncator = src.get();
    bool truncated = false;
    transfer_options o{.use = m, .chunk_size = 1 << 20};
    o.on_progress = [&](std::uint64_t) {
      if (!truncated) {
        truncated = true;
        ASSERT_EQ(::ftruncate(test::open_or_die(dir_ / "src", O_WRONLY).get(), 10 << 20), 0);
      }
    };
    (void)truncator;
    auto r = transfer(src.get(), dst.get(), o);
    EXPECT_EQ(r.error, make_error_code(errc::source_truncated)) << r.error.message();
    EXPECT_FALSE(r.complete);
    EXPECT_LE(r.bytes, 10u << 20);
    auto out = test::read_file(dir_ / "dst");
    EXPECT_EQ(out.size(), r.bytes);
    EXPECT_TRUE(same_bytes(std::span(data).first(out.size()), out));
  }
}

// Truncation is reported for a socket sink too (sendfile and splice share the file's pages).
TEST_F(Engine, TruncatedSourceToSocketIsReported) {
  auto data = random_bytes(40u << 20, seed_);
  for (method m : {method::sendfile, method::splice, method::read_write, method::mmap_write}) {
    SCOPED_TRACE(to_string(m));
    auto src = test::write_file(dir_ / "src", data);
    auto pair = loopback_tcp_pair();
    ASSERT_TRUE(pair);
    test::drainer rx(pair->second.get(), false);
    bool truncated = false;
    transfer_options o{.use = m};
    o.on_progress = [&](std::uint64_t) {
      if (!truncated) {
        truncated = true;
        ASSERT_EQ(::truncate((dir_ / "src").c_str(), 1 << 20), 0);
      }
    };
    auto r = transfer(src.get(), pair->first.get(), o);
    EXPECT_EQ(r.error, make_error_code(errc::source_truncated)) << r.error.message();
    pair->first.reset();
    rx.finish();
    EXPECT_EQ(rx.total(), r.bytes);
  }
}

// A stop request ends the transfer with errc::cancelled and the bytes moved so far.
TEST_F(Engine, StopRequestCancels) {
  auto data = random_bytes(64u << 20, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  std::stop_source stop;
  transfer_options o{.use = method::read_write};
  o.stop = stop.get_token();
  o.on_progress = [&](std::uint64_t moved) {
    if (moved >= (16u << 20)) stop.request_stop();
  };
  auto r = transfer(src.get(), dst.get(), o);
  EXPECT_EQ(r.error, make_error_code(errc::cancelled));
  EXPECT_GE(r.bytes, 16u << 20);
  EXPECT_LT(r.bytes, data.size());
  auto out = test::read_file(dir_ / "dst");
  EXPECT_EQ(out.size(), r.bytes);
  EXPECT_TRUE(same_bytes(std::span(data).first(out.size()), out));
}

// Progress is reported in increasing steps of at most 8 MiB and ends at the total.
TEST_F(Engine, ProgressIsReported) {
  auto data = random_bytes(50u << 20, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  std::vector<std::uint64_t> seen;
  transfer_options o;
  o.on_progress = [&](std::uint64_t moved) { seen.push_back(moved); };
  auto r = transfer(src.get(), dst.get(), o);
  ASSERT_TRUE(r.ok());
  ASSERT_GE(seen.size(), 7u);
  std::uint64_t last = 0;
  for (auto v : seen) {
    EXPECT_GT(v, last);
    EXPECT_LE(v - last, 8u << 20);
    last = v;
  }
  EXPECT_EQ(last, data.size());
  EXPECT_TRUE(same_bytes(data, test::read_file(dir_ / "dst")));
}

// Overlapping ranges of one file are refused; disjoint ones work.
TEST_F(Engine, SameFileOverlapIsRefused) {
  auto data = random_bytes(8192, seed_);
  auto f = test::write_file(dir_ / "f", data, O_RDWR);
  auto r = transfer(f.get(), f.get(), {.length = 4096, .source_offset = 0, .sink_offset = 100});
  EXPECT_EQ(r.error, std::errc::invalid_argument);
  auto r2 = transfer(f.get(), f.get(), {.length = 4096, .source_offset = 0, .sink_offset = 8192});
  ASSERT_TRUE(r2.ok()) << r2.error.message();
  auto out = test::read_file(dir_ / "f");
  ASSERT_EQ(out.size(), 12288u);
  EXPECT_TRUE(same_bytes(std::span(data).first(4096), std::span(out).subspan(8192)));
}

// procfs reports size 0 for files with content: the whole content still arrives.
TEST_F(Engine, ProcfsFileIsCopied) {
  auto expected = test::read_file("/proc/version");
  ASSERT_FALSE(expected.empty());
  auto src = test::open_or_die("/proc/version", O_RDONLY);
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  auto r = transfer(src.get(), dst.get());
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(same_bytes(expected, test::read_file(dir_ / "dst")));
}

// Forced copy_file_range on procfs returns 0 at once (golang/go#44272): with fallback allowed the
// engine moves on, and the bytes are right.
TEST_F(Engine, ProcfsCopyFileRangeFallsBack) {
  auto expected = test::read_file("/proc/version");
  auto src = test::open_or_die("/proc/version", O_RDONLY);
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  auto r = transfer(src.get(), dst.get(), {.use = method::copy_file_range, .allow_fallback = true});
  ASSERT_TRUE(r.ok()) << r.error.message();
  ASSERT_FALSE(r.fallbacks.empty());
  EXPECT_EQ(r.fallbacks[0].from, method::copy_file_range);
  EXPECT_TRUE(same_bytes(expected, test::read_file(dir_ / "dst")));
}

// sysfs says 4096 bytes for a few: copy_file_range's early 0 is a fallback, not a truncation.
TEST_F(Engine, SysfsFileIsCopied) {
  const char* path = "/sys/kernel/mm/transparent_hugepage/enabled";
  if (::access(path, R_OK) != 0) path = "/sys/devices/system/cpu/online";
  if (::access(path, R_OK) != 0) GTEST_SKIP() << "no readable sysfs file here";
  auto expected = test::read_file(path);
  auto src = test::open_or_die(path, O_RDONLY);
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  auto r = transfer(src.get(), dst.get());
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(same_bytes(expected, test::read_file(dir_ / "dst")));
}

// Holes in the source stay holes; where the sink already had data, the hole is punched so the
// range reads back as zeros.
TEST_F(Engine, HolesAreKeptAndPunched) {
  const std::size_t mib = 1 << 20;
  auto a = random_bytes(mib, seed_);
  auto b = random_bytes(mib, seed_ + 1);
  {
    auto f = test::open_or_die(dir_ / "src", O_WRONLY | O_CREAT | O_TRUNC);
    ASSERT_EQ(::pwrite(f.get(), a.data(), mib, 0), static_cast<ssize_t>(mib));
    ASSERT_EQ(::pwrite(f.get(), b.data(), mib, 8 * mib), static_cast<ssize_t>(mib));
    ASSERT_EQ(::ftruncate(f.get(), 16 * mib), 0);
  }
  auto old = random_bytes(12 * mib, seed_ + 2);
  auto dst = test::write_file(dir_ / "dst", old, O_RDWR);
  auto src = test::open_or_die(dir_ / "src", O_RDONLY);
  auto r = transfer(src.get(), dst.get());
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_EQ(r.bytes, 16 * mib);
  auto out = test::read_file(dir_ / "dst");
  auto in = test::read_file(dir_ / "src");
  EXPECT_TRUE(same_bytes(in, out));
  struct stat st {};
  ASSERT_EQ(::fstat(dst.get(), &st), 0);
  EXPECT_LT(static_cast<std::uint64_t>(st.st_blocks) * 512, 4 * mib);
}

// holes are written out as data when keep_holes is off.
TEST_F(Engine, HolesFilledWhenAsked) {
  const std::size_t mib = 1 << 20;
  {
    auto f = test::open_or_die(dir_ / "src", O_WRONLY | O_CREAT | O_TRUNC);
    auto a = random_bytes(mib, seed_);
    ASSERT_EQ(::pwrite(f.get(), a.data(), mib, 4 * mib), static_cast<ssize_t>(mib));
  }
  auto src = test::open_or_die(dir_ / "src", O_RDONLY);
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  auto r = transfer(src.get(), dst.get(), {.use = method::read_write, .keep_holes = false});
  ASSERT_TRUE(r.ok());
  struct stat st {};
  ASSERT_EQ(::fstat(dst.get(), &st), 0);
  EXPECT_GE(static_cast<std::uint64_t>(st.st_blocks) * 512, 5 * mib);
  EXPECT_TRUE(same_bytes(test::read_file(dir_ / "src"), test::read_file(dir_ / "dst")));
}

// An O_APPEND sink is appended to (the read/write path; copy_file_range and sendfile refuse it).
TEST_F(Engine, AppendSinkAppends) {
  auto head = random_bytes(1000, seed_);
  auto data = random_bytes(70'000, seed_ + 1);
  auto src = test::write_file(dir_ / "src", data);
  auto dst = test::write_file(dir_ / "dst", head, O_WRONLY | O_APPEND);
  auto r = transfer(src.get(), dst.get());
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_EQ(r.used, method::read_write);
  auto out = test::read_file(dir_ / "dst");
  ASSERT_EQ(out.size(), head.size() + data.size());
  EXPECT_TRUE(same_bytes(data, std::span(out).subspan(head.size())));
  EXPECT_TRUE(same_bytes(head, std::span(out).first(head.size())));
}

// Bad descriptors and wrong access modes fail before anything moves.
TEST_F(Engine, BadDescriptorsAreRefused) {
  auto src = test::write_file(dir_ / "src", random_bytes(10, seed_));
  auto r = transfer(-1, src.get());
  EXPECT_EQ(r.error, std::errc::bad_file_descriptor);
  auto wronly = test::open_or_die(dir_ / "src", O_WRONLY);
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  EXPECT_EQ(transfer(wronly.get(), dst.get()).error, std::errc::bad_file_descriptor);
  auto rdonly = test::open_or_die(dir_ / "dst", O_RDONLY);
  EXPECT_EQ(transfer(src.get(), rdonly.get()).error, std::errc::bad_file_descriptor);
  // Explicit offsets on a stream are refused.
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair);
  EXPECT_EQ(transfer(src.get(), pair->first.get(), {.sink_offset = 10}).error,
            std::errc::invalid_seek);
}

// The result counts the system calls the transfer made, as the per-thread counter saw them.
TEST_F(Engine, ResultCountsSyscalls) {
  auto data = random_bytes(3 << 20, seed_);
  auto src = test::write_file(dir_ / "src", data);
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  auto before = thread_syscall_counts();
  auto r = transfer(src.get(), dst.get(), {.use = method::read_write, .chunk_size = 1 << 20});
  auto delta = thread_syscall_counts() - before;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.syscalls, delta.total());
  EXPECT_EQ(delta[syscall_kind::pread], 3u);  // the size is known: no extra read to see the end
  EXPECT_EQ(delta[syscall_kind::pwrite], 3u);
}

// create() from endpoints already described (as the event loop does): no fstat or fcntl,
// and the bytes of [offset, offset + length) reach the socket exactly.
TEST_F(Engine, CreateFromDescribedEndpointsSendsTheRightBytes) {
  auto data = random_bytes(3'000'017, seed_);
  auto file = test::write_file(dir_ / "src", data, O_RDONLY | O_NONBLOCK);
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  struct stat st {};
  ASSERT_EQ(::fstat(file.get(), &st), 0);
  const endpoint_info source = describe(file.get(), st, O_RDONLY | O_NONBLOCK);
  struct stat socket_stat {};
  socket_stat.st_mode = S_IFSOCK;
  const endpoint_info sink = describe(pair->first.get(), socket_stat, O_RDWR);

  const std::uint64_t offset = 12'345;
  const std::uint64_t length = data.size() - offset - 1'000;
  test::drainer reader(pair->second.get(), true, 256 * 1024, length);
  const auto before = thread_syscall_counts();
  auto job = transfer_job::create(source, sink, {.length = length, .source_offset = offset});
  const auto delta = thread_syscall_counts() - before;
  ASSERT_TRUE(job) << job.error().message();
  EXPECT_EQ(delta[syscall_kind::fstat], 0u);
  EXPECT_EQ(delta[syscall_kind::fcntl], 0u);
  EXPECT_EQ(delta[syscall_kind::statx], 0u);
  EXPECT_EQ(delta[syscall_kind::getsockopt], 0u);
  EXPECT_EQ(delta.total(), 0u);  // explicit offset, socket sink: nothing to ask the kernel
  EXPECT_EQ(job->source().kind, endpoint_kind::regular_file);
  EXPECT_EQ(job->sink().kind, endpoint_kind::socket);
  EXPECT_EQ(job->result().syscalls, 0u);

  transfer_result r = job->run();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, length);
  pair->first.reset();  // EOF for the reader
  auto got = reader.finish();
  ASSERT_EQ(got.size(), length);
  EXPECT_TRUE(same_bytes(std::span(data).subspan(offset, length), got));
}

// Without a source offset create() starts at the file's current position: one lseek, still no
// fstat or fcntl.
TEST_F(Engine, CreateFromDescribedEndpointsUsesTheCurrentPosition) {
  auto data = random_bytes(500'000, seed_ + 3);
  auto file = test::write_file(dir_ / "src", data);
  ASSERT_EQ(::lseek(file.get(), 777, SEEK_SET), 777);
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  struct stat st {};
  ASSERT_EQ(::fstat(file.get(), &st), 0);
  struct stat socket_stat {};
  socket_stat.st_mode = S_IFSOCK;
  test::drainer reader(pair->second.get());
  const auto before = thread_syscall_counts();
  auto job = transfer_job::create(describe(file.get(), st, O_RDONLY),
                                  describe(pair->first.get(), socket_stat, O_RDWR));
  const auto delta = thread_syscall_counts() - before;
  ASSERT_TRUE(job) << job.error().message();
  EXPECT_EQ(delta[syscall_kind::fstat], 0u);
  EXPECT_EQ(delta[syscall_kind::fcntl], 0u);
  EXPECT_LE(delta[syscall_kind::lseek], 1u);
  transfer_result r = job->run();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, data.size() - 777);
  pair->first.reset();
  auto got = reader.finish();
  EXPECT_TRUE(same_bytes(std::span(data).subspan(777), got));
}

// The access modes in the described flags are checked as classify()'s would be.
TEST_F(Engine, CreateFromDescribedEndpointsChecksAccessModes) {
  auto file = test::write_file(dir_ / "src", random_bytes(100, seed_));
  struct stat st {};
  ASSERT_EQ(::fstat(file.get(), &st), 0);
  struct stat socket_stat {};
  socket_stat.st_mode = S_IFSOCK;
  const endpoint_info sock = describe(99, socket_stat, O_RDWR);
  auto write_only_source = transfer_job::create(describe(file.get(), st, O_WRONLY), sock);
  ASSERT_FALSE(write_only_source);
  EXPECT_EQ(write_only_source.error(), std::errc::bad_file_descriptor);
  auto read_only_sink =
      transfer_job::create(describe(file.get(), st, O_RDONLY), describe(98, socket_stat, O_RDONLY));
  ASSERT_FALSE(read_only_sink);
  EXPECT_EQ(read_only_sink.error(), std::errc::bad_file_descriptor);
}

}  // namespace
}  // namespace zcopy
