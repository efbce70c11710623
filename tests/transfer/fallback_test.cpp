// Fallbacks and failures through the syscall seam: every "not for this pair" errno moves to the
// next method without losing or repeating a byte; EINTR and short returns are absorbed; real
// errors stop with the bytes moved so far.
#include <linux/fs.h>

#include "support/test_support.hpp"
#include "transfer/state.hpp"
#include "zcopy/error.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy {
namespace {

using test::fault;
using test::fault_scope;
using test::random_bytes;
using test::same_bytes;

class Fallback : public ::testing::Test {
 protected:
  void SetUp() override { detail::reset_availability_for_tests(); }
  void TearDown() override { detail::reset_availability_for_tests(); }

  // file → file with whatever faults are armed; returns the result and checks the bytes.
  transfer_result file_to_file(const transfer_options& o = {}, std::size_t size = 3'000'017) {
    data_ = random_bytes(size, seed_);
    auto src = test::write_file(dir_ / "src", data_);
    auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
    return transfer(src.get(), dst.get(), o);
  }
  std::vector<std::byte> output() { return test::read_file(dir_ / "dst"); }

  // file → loopback socket; returns the result and the bytes the peer got.
  std::pair<transfer_result, std::vector<std::byte>> file_to_socket(const transfer_options& o = {},
                                                                    std::size_t size = 2'000'003) {
    data_ = random_bytes(size, seed_);
    auto src = test::write_file(dir_ / "src", data_);
    auto pair = loopback_tcp_pair();
    EXPECT_TRUE(pair);
    test::drainer rx(pair->second.get());
    auto r = transfer(src.get(), pair->first.get(), o);
    pair->first.reset();
    return {r, rx.finish()};
  }

  // socket → file: a writer thread sends the data and closes.
  transfer_result socket_to_file(const transfer_options& o = {}, std::size_t size = 1'500'007) {
    data_ = random_bytes(size, seed_);
    auto pair = loopback_tcp_pair();
    EXPECT_TRUE(pair);
    std::thread writer([&] {
      std::size_t off = 0;
      while (off < data_.size()) {
        ssize_t w = ::write(pair->first.get(), data_.data() + off, data_.size() - off);
        if (w <= 0) break;
        off += static_cast<std::size_t>(w);
      }
      ::shutdown(pair->first.get(), SHUT_WR);
    });
    auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
    auto r = transfer(pair->second.get(), dst.get(), o);
    writer.join();
    return r;
  }

  test::temp_dir dir_;
  std::uint64_t seed_ = test::test_seed();
  std::vector<std::byte> data_;
};

// copy_file_range refusing the pair with any fallback errno hands over to sendfile at byte 0.
TEST_F(Fallback, CopyFileRangeErrnosFallBack) {
  for (int e :
       {EXDEV, EINVAL, EOPNOTSUPP, EPERM, EIO, EBADF, ETXTBSY, EACCES, ENOENT, EFBIG, ENOSYS}) {
    SCOPED_TRACE(e);
    detail::reset_availability_for_tests();
    fault_scope faults;
    // Whatever the filesystem, the chain's first step refuses: ext4 has no clones, XFS or btrfs
    // would clone and leave copy_file_range untried.
    faults.ioctl({.error = EOPNOTSUPP, .repeat = true});
    faults.copy_file_range({.error = e});
    auto r = file_to_file();
    ASSERT_TRUE(r.ok()) << r.error.message();
    EXPECT_EQ(r.used, method::sendfile);
    // fallbacks[0]: reflink refused (above).
    ASSERT_EQ(r.fallbacks.size(), 2u);
    EXPECT_EQ(r.fallbacks[1].from, method::copy_file_range);
    EXPECT_EQ(r.fallbacks[1].to, method::sendfile);
    EXPECT_EQ(r.fallbacks[1].at_byte, 0u);
    EXPECT_EQ(r.fallbacks[1].reason.value(), e);
    EXPECT_TRUE(same_bytes(data_, output()));
  }
}

// After partial progress, a pair-level refusal (EXDEV) continues with the next method from the
// current offset: nothing is copied twice (rust-lang/rust#91152).
TEST_F(Fallback, PartialProgressContinuesFromOffset) {
  fault_scope faults;
  faults.copy_file_range({.error = EXDEV, .nth = 3, .short_before = 100'000});
  auto r = file_to_file();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_EQ(r.bytes_with(method::copy_file_range), 200'000u);
  EXPECT_EQ(r.bytes_with(method::sendfile), data_.size() - 200'000);
  EXPECT_EQ(r.fallbacks.back().at_byte, 200'000u);
  EXPECT_TRUE(same_bytes(data_, output()));
}

// After partial progress EIO is a real error: it stops, reports the bytes, writes nothing more.
TEST_F(Fallback, RealErrorAfterProgressStops) {
  fault_scope faults;
  faults.copy_file_range({.error = EIO, .nth = 2, .short_before = 123'456});
  auto r = file_to_file();
  EXPECT_EQ(r.error, std::errc::io_error);
  EXPECT_EQ(r.bytes, 123'456u);
  EXPECT_FALSE(r.complete);
  auto out = output();
  EXPECT_EQ(out.size(), 123'456u);
  EXPECT_TRUE(same_bytes(std::span(data_).first(out.size()), out));
}

// ENOSPC from the sink stops every method with that error and the exact count.
TEST_F(Fallback, NoSpaceStops) {
  for (method m : {method::read_write, method::mmap_write}) {
    SCOPED_TRACE(to_string(m));
    fault_scope faults;
    faults.pwrite({.error = ENOSPC, .nth = 2, .short_before = 70'000});
    auto r = file_to_file({.use = m});
    EXPECT_EQ(r.error, std::errc::no_space_on_device);
    EXPECT_EQ(r.bytes, 70'000u);
    EXPECT_TRUE(r.fallbacks.empty());
    auto out = output();
    EXPECT_EQ(out.size(), 70'000u);
    EXPECT_TRUE(same_bytes(std::span(data_).first(out.size()), out));
  }
}

// sendfile refusing a socket sink (ENOSYS, EINVAL, EOPNOTSUPP, EOVERFLOW) hands over to splice.
TEST_F(Fallback, SendfileErrnosFallBackToSplice) {
  for (int e : {EINVAL, EOPNOTSUPP, EOVERFLOW, ENOSYS}) {
    SCOPED_TRACE(e);
    detail::reset_availability_for_tests();
    fault_scope faults;
    faults.sendfile({.error = e});
    auto [r, got] = file_to_socket();
    ASSERT_TRUE(r.ok()) << r.error.message();
    EXPECT_EQ(r.used, method::splice);
    ASSERT_EQ(r.fallbacks.size(), 1u);
    EXPECT_EQ(r.fallbacks[0].reason.value(), e);
    EXPECT_TRUE(same_bytes(data_, got));
  }
}

// A real sendfile error (EIO) stops; a forced method does not fall back unless asked.
TEST_F(Fallback, SendfileRealErrorAndForcedMethod) {
  {
    fault_scope faults;
    faults.sendfile({.error = EIO});
    auto [r, got] = file_to_socket();
    EXPECT_EQ(r.error, std::errc::io_error);
    EXPECT_TRUE(r.fallbacks.empty());
    EXPECT_TRUE(got.empty());
  }
  {
    fault_scope faults;
    faults.sendfile({.error = EINVAL});
    auto [r, got] = file_to_socket({.use = method::sendfile});
    EXPECT_EQ(r.error, std::errc::invalid_argument);
    EXPECT_EQ(r.bytes, 0u);
    EXPECT_TRUE(got.empty());
  }
  {
    fault_scope faults;
    faults.sendfile({.error = EINVAL});
    auto [r, got] = file_to_socket({.use = method::sendfile, .allow_fallback = true});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.used, method::splice);
    EXPECT_TRUE(same_bytes(data_, got));
  }
}

// ENOSYS is remembered for the process: the next transfer does not call copy_file_range at all.
TEST_F(Fallback, MissingSyscallIsRemembered) {
  fault_scope faults;
  // Whatever the filesystem, the chain's first step refuses: ext4 has no clones, XFS or btrfs
  // would clone and leave copy_file_range untried.
  faults.ioctl({.error = EOPNOTSUPP, .repeat = true});
  faults.copy_file_range({.error = ENOSYS, .repeat = true});
  ASSERT_TRUE(file_to_file().ok());
  const auto calls = faults.calls(syscall_kind::copy_file_range);
  auto r = file_to_file();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(faults.calls(syscall_kind::copy_file_range), calls);
  ASSERT_GE(r.fallbacks.size(), 2u);
  EXPECT_EQ(r.fallbacks[1].reason, make_error_code(errc::method_unavailable));
  EXPECT_FALSE(detail::method_available(method::copy_file_range));
}

// EPERM from a call that exists (the probe with bad descriptors answers EBADF) is about the file
// (CIFS): it falls back this time and is not remembered.
TEST_F(Fallback, FileSpecificEpermIsNotRemembered) {
  fault_scope faults;
  faults.copy_file_range({.error = EPERM});
  auto r = file_to_file();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(detail::method_available(method::copy_file_range));
  auto r2 = file_to_file();
  EXPECT_EQ(r2.used, method::copy_file_range);
}

// FICLONE: EOPNOTSUPP-like errnos fall back; ENOSPC is terminal (GNU cp's split).
TEST_F(Fallback, ReflinkTerminalErrorStops) {
  fault_scope faults;
  faults.ioctl({.error = ENOSPC});
  auto r = file_to_file();
  EXPECT_EQ(r.error, std::errc::no_space_on_device);
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_TRUE(output().empty());
}

// splice refused for a socket source (EINVAL) hands over to read/write.
TEST_F(Fallback, SpliceRefusedFallsBackToReadWrite) {
  fault_scope faults;
  faults.splice({.error = EINVAL});
  auto r = socket_to_file();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_EQ(r.used, method::read_write);
  EXPECT_TRUE(same_bytes(data_, output()));
}

// splice into the sink refused after bytes entered the pipe from a socket: those bytes are
// recovered from the pipe and written by read/write, in order.
TEST_F(Fallback, BytesInPipeSurviveFallback) {
  fault_scope faults;
  faults.splice({.error = EINVAL, .nth = 2});  // call 1 fills the pipe, call 2 drains it
  auto r = socket_to_file();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_EQ(r.bytes, data_.size());
  EXPECT_EQ(r.used, method::read_write);
  EXPECT_TRUE(same_bytes(data_, output()));
}

// The same for a file source: the bytes in the pipe are read again from the file.
TEST_F(Fallback, BytesInPipeFromFileAreReread) {
  fault_scope faults;
  faults.splice({.error = EINVAL, .nth = 4});
  auto [r, got] = file_to_socket({.use = method::splice, .allow_fallback = true});
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(same_bytes(data_, got));
}

// EINTR at any call is retried by the syscall layer; the data is unaffected.
TEST_F(Fallback, EintrIsRetriedEverywhere) {
  for (std::size_t nth : {1, 2, 3}) {
    SCOPED_TRACE(nth);
    {
      fault_scope faults;
      faults.copy_file_range({.error = EINTR, .nth = nth, .short_before = 500'000});
      auto r = file_to_file();
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r.used, method::copy_file_range);
      EXPECT_TRUE(same_bytes(data_, output()));
    }
    {
      fault_scope faults;
      faults.sendfile({.error = EINTR, .nth = nth, .short_before = 300'000});
      auto [r, got] = file_to_socket();
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r.used, method::sendfile);
      EXPECT_TRUE(same_bytes(data_, got));
    }
    {
      fault_scope faults;
      faults.splice({.error = EINTR, .nth = nth});
      auto r = socket_to_file();
      ASSERT_TRUE(r.ok());
      EXPECT_TRUE(same_bytes(data_, output()));
    }
    {
      fault_scope faults;
      faults.pread({.error = EINTR, .nth = nth});
      faults.pwrite({.error = EINTR, .nth = nth});
      auto r = file_to_file({.use = method::read_write});
      ASSERT_TRUE(r.ok());
      EXPECT_TRUE(same_bytes(data_, output()));
    }
  }
}

// Short returns from every call are continued, never taken for the end.
TEST_F(Fallback, ShortReturnsAreContinued) {
  {
    fault_scope faults;
    faults.copy_file_range({.repeat = true, .short_to = 77'777});
    auto r = file_to_file();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.used, method::copy_file_range);
    EXPECT_TRUE(same_bytes(data_, output()));
  }
  {
    fault_scope faults;
    faults.sendfile({.repeat = true, .short_to = 65'537});
    auto [r, got] = file_to_socket();
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(same_bytes(data_, got));
  }
  {
    fault_scope faults;
    faults.splice({.repeat = true, .short_to = 4097});
    auto [r, got] = file_to_socket({.use = method::splice});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(same_bytes(data_, got));
  }
  {
    fault_scope faults;
    faults.pwrite({.repeat = true, .short_to = 1000});
    auto r = file_to_file({.use = method::read_write}, 300'001);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(same_bytes(data_, output()));
  }
  {
    fault_scope faults;
    faults.write({.repeat = true, .short_to = 3000});
    auto [r, got] = file_to_socket({.use = method::mmap_write}, 500'001);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(same_bytes(data_, got));
  }
}

// mmap refused (ENODEV: a filesystem without mmap) falls back when allowed.
TEST_F(Fallback, MmapRefusedFallsBack) {
  fault_scope faults;
  faults.mmap({.error = ENODEV, .repeat = true});
  auto r = file_to_file({.use = method::mmap_write, .allow_fallback = true});
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_NE(r.used, method::mmap_write);
  EXPECT_EQ(r.fallbacks.at(0).reason, std::errc::no_such_device);
  EXPECT_TRUE(same_bytes(data_, output()));
}

// O_DIRECT refused at open (tmpfs answers EINVAL) falls back to read/write.
TEST_F(Fallback, DirectIoRefusedFallsBack) {
  data_ = random_bytes(1'000'003, seed_);
  auto src = test::write_file(dir_ / "src", data_);
  auto dst = test::write_file(dir_ / "dst", {}, O_RDWR);
  transfer_result r;
  {
    fault_scope faults;
    faults.openat({.error = EINVAL, .repeat = true});
    r = transfer(src.get(), dst.get(), {.use = method::direct_io, .allow_fallback = true});
  }
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_EQ(r.fallbacks.at(0).from, method::direct_io);
  EXPECT_TRUE(same_bytes(data_, output()));
}

// fallocate failing (no hole punching) still leaves zeros where the source has holes.
TEST_F(Fallback, NoPunchWritesZeros) {
  const std::size_t mib = 1 << 20;
  auto a = random_bytes(mib, seed_);
  {
    auto f = test::open_or_die(dir_ / "src", O_WRONLY | O_CREAT | O_TRUNC);
    ASSERT_EQ(::pwrite(f.get(), a.data(), mib, 3 * mib), static_cast<ssize_t>(mib));
  }
  auto dst = test::write_file(dir_ / "dst", random_bytes(2 * mib, seed_ + 1), O_RDWR);
  auto src = test::open_or_die(dir_ / "src", O_RDONLY);
  fault_scope faults;
  faults.fallocate({.error = EOPNOTSUPP, .repeat = true});
  auto r = transfer(src.get(), dst.get());
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_GE(faults.calls(syscall_kind::fallocate), 1u);
  EXPECT_TRUE(same_bytes(test::read_file(dir_ / "src"), output()));
}

}  // namespace
}  // namespace zcopy
