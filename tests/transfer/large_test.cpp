// Transfers past the sizes where single calls stop: sendfile's 0x7ffff000 cap per call, gigabyte
// copies that must stay at a handful of system calls, and sparse files whose holes must survive.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/test_support.hpp"
#include "zcopy/net.hpp"
#include "zcopy/syscall_stats.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy {
namespace {

using test::random_bytes;
using test::temp_dir;
using test::test_seed;

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * kib;
constexpr std::uint64_t gib = 1024 * mib;
constexpr std::size_t chunk = 8 * mib;

// A fast generator for gigabytes of test data (splitmix64): one chunk per seed, never all zeros.
void fill_random(std::vector<std::byte>& buf, std::uint64_t seed) {
  std::uint64_t x = seed;
  for (std::size_t i = 0; i + 8 <= buf.size(); i += 8) {
    x += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::memcpy(buf.data() + i, &z, 8);
  }
}

void pwrite_all(int fd, std::span<const std::byte> data, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t w =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw std::system_error(errno, std::system_category(), "pwrite");
    done += static_cast<std::size_t>(w);
  }
}

std::size_t pread_full(int fd, std::byte* buf, std::size_t n, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::system_error(errno, std::system_category(), "pread");
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return done;
}

// FNV-1a of a whole file, read in chunks (the drainer's hash of the same bytes must match).
std::uint64_t hash_file(int fd) {
  std::vector<std::byte> buf(chunk);
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (std::uint64_t off = 0;;) {
    std::size_t n = pread_full(fd, buf.data(), buf.size(), off);
    if (n == 0) break;
    hash = test::fnv1a({buf.data(), n}, hash);
    off += n;
  }
  return hash;
}

// Compares two files chunk by chunk; reports the first differing chunk's first difference.
::testing::AssertionResult same_files(int a, int b) {
  std::vector<std::byte> x(chunk), y(chunk);
  for (std::uint64_t off = 0;;) {
    std::size_t n = pread_full(a, x.data(), x.size(), off);
    std::size_t m = pread_full(b, y.data(), y.size(), off);
    if (n != m || std::memcmp(x.data(), y.data(), n) != 0) {
      return ::testing::AssertionFailure()
             << "in the chunk at " << off << ": "
             << test::same_bytes({x.data(), n}, {y.data(), m}).message();
    }
    if (n == 0) return ::testing::AssertionSuccess();
    off += n;
  }
}

using segments = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// The data segments of a file, by SEEK_DATA / SEEK_HOLE. The file position is put back.
segments data_map(int fd) {
  segments out;
  const off_t position = ::lseek(fd, 0, SEEK_CUR);
  const off_t size = ::lseek(fd, 0, SEEK_END);
  for (off_t at = 0; at < size && out.size() < 10000;) {
    off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0) break;  // ENXIO: only a hole remains
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = size;
    out.emplace_back(static_cast<std::uint64_t>(data), static_cast<std::uint64_t>(hole));
    at = hole;
  }
  ::lseek(fd, position, SEEK_SET);
  return out;
}

struct block {
  std::uint64_t offset;
  std::size_t length;
};

// A file of `size` bytes with random data at `blocks` and holes everywhere else.
unique_fd make_sparse(const std::filesystem::path& path, std::uint64_t size,
                      std::initializer_list<block> blocks, std::uint64_t seed) {
  unique_fd fd = test::open_or_die(path, O_RDWR | O_CREAT | O_TRUNC);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    throw std::system_error(errno, std::system_category(), "ftruncate");
  }
  for (const block& b : blocks) {
    if (b.offset + b.length > size) throw std::logic_error("a data block past the end");
    pwrite_all(fd.get(), random_bytes(b.length, seed + b.offset), b.offset);
  }
  return fd;
}

std::uint64_t sendfile_calls(const syscall_counts& before) {
  return (thread_syscall_counts() - before)[syscall_kind::sendfile];
}

// sendfile moves at most 0x7ffff000 bytes per call: a source of 2 GiB + 12345 bytes (sparse,
// with data at the start, near 1 GiB, across the cap and at the end) reaches a loopback socket
// whole and in order, in at least two sendfile calls.
TEST(Large, SendfileLoopsPastTheSingleCallCap) {
  temp_dir dir;
  const std::uint64_t size = 2 * gib + 12345;
  unique_fd src = make_sparse(
      dir / "src", size,
      {{0, 64 * kib}, {gib - 5000, 64 * kib}, {0x7ffff000 - 4 * kib, 8 * kib}, {size - 4000, 4000}},
      test_seed() + 100);
  const std::uint64_t expected = hash_file(src.get());

  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  test::drainer receiver(pair->second.get(), /*keep=*/false, 1 << 20);
  transfer_options o;
  o.use = method::sendfile;
  const syscall_counts before = thread_syscall_counts();
  transfer_result r = transfer(src.get(), pair->first.get(), o);
  const std::uint64_t calls = sendfile_calls(before);
  ::shutdown(pair->first.get(), SHUT_WR);
  receiver.finish();

  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, size);
  EXPECT_EQ(r.bytes_with(method::sendfile), size);
  EXPECT_GE(calls, 2u) << "one sendfile cannot move more than 0x7ffff000 bytes";
  EXPECT_GE(r.syscalls, calls);
  EXPECT_EQ(receiver.total(), size);
  EXPECT_EQ(receiver.hash(), expected) << "seed " << test_seed();
}

// A 1 GiB file of random data, made once for the suite and removed after it.
class LargeTransfer : public ::testing::Test {
 protected:
  static constexpr std::uint64_t size = gib;

  static void SetUpTestSuite() {
    dir_ = std::make_unique<temp_dir>();
    try {
      unique_fd out = test::open_or_die(*dir_ / "big", O_WRONLY | O_CREAT | O_TRUNC);
      std::vector<std::byte> buf(chunk);
      hash_ = 0xcbf29ce484222325ULL;
      for (std::uint64_t off = 0; off < size; off += chunk) {
        fill_random(buf, test_seed() + 1000 + off / chunk);
        pwrite_all(out.get(), buf, off);
        hash_ = test::fnv1a(buf, hash_);
      }
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() { dir_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << "making the 1 GiB source: " << setup_error_;
    source_ = test::open_or_die(*dir_ / "big", O_RDONLY);
  }
  void TearDown() override { std::filesystem::remove(*dir_ / "copy"); }

  static inline std::unique_ptr<temp_dir> dir_;
  static inline std::uint64_t hash_ = 0;
  static inline std::string setup_error_;
  unique_fd source_;
};

// file → file, automatic, 1 GiB on one filesystem: a few hundred system calls at most (the
// kernel copies in 1 GiB rounds), and the copy equals the source.
TEST_F(LargeTransfer, FileToFileTakesFewSyscalls) {
  unique_fd dst = test::open_or_die(*dir_ / "copy", O_RDWR | O_CREAT | O_TRUNC);
  transfer_result r = transfer(source_.get(), dst.get());
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, size);
  EXPECT_LE(r.syscalls, 300u) << "used " << to_string(r.used);
  EXPECT_TRUE(same_files(source_.get(), dst.get())) << "seed " << test_seed();
}

// file → socket, automatic, 1 GiB over loopback: sendfile, a few hundred calls at most, and the
// receiver's hash equals the source's.
TEST_F(LargeTransfer, FileToSocketTakesFewSyscalls) {
  auto pair = loopback_tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  test::drainer receiver(pair->second.get(), /*keep=*/false, 1 << 20);
  transfer_result r = transfer(source_.get(), pair->first.get());
  ::shutdown(pair->first.get(), SHUT_WR);
  receiver.finish();
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, size);
  EXPECT_EQ(r.used, method::sendfile);
  EXPECT_LE(r.syscalls, 300u);
  EXPECT_EQ(receiver.total(), size);
  EXPECT_EQ(receiver.hash(), hash_) << "seed " << test_seed();
}

// For contrast: read_write with 64 KiB chunks needs a read and a write per chunk, so 64 MiB
// costs at least 2048 calls.
TEST(Large, ReadWriteSmallChunksTakeTwoCallsPerChunk) {
  temp_dir dir;
  const std::uint64_t size = 64 * mib;
  std::vector<std::byte> buf(size);
  fill_random(buf, test_seed() + 200);
  unique_fd src = test::write_file(dir / "src", buf);
  unique_fd dst = test::open_or_die(dir / "dst", O_RDWR | O_CREAT | O_TRUNC);
  transfer_options o;
  o.use = method::read_write;
  o.chunk_size = 64 * kib;
  transfer_result r = transfer(src.get(), dst.get(), o);
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_EQ(r.bytes, size);
  EXPECT_GT(r.syscalls, 1000u);
  EXPECT_GE(r.syscalls, size / (64 * kib) * 2);
  EXPECT_TRUE(same_files(src.get(), dst.get()));
}

// keep_holes: a 4 GiB sparse source with three 1 MiB extents (a leading and a trailing hole)
// becomes a sparse copy: the same data segments, zeros in the holes, the full size, and only
// the extents allocated.
TEST(Large, SparseCopyKeepsHoles) {
  temp_dir dir;
  const std::uint64_t size = 4 * gib;
  unique_fd src = make_sparse(
      dir / "src", size, {{256 * mib, mib}, {2 * gib - 512 * kib, mib}, {3 * gib + 64 * mib, mib}},
      test_seed() + 300);
  const segments want = data_map(src.get());
  ASSERT_EQ(want.size(), 3u) << "the source filesystem does not report holes";
  unique_fd dst = test::open_or_die(dir / "dst", O_RDWR | O_CREAT | O_TRUNC);

  transfer_result r = transfer(src.get(), dst.get());
  ASSERT_TRUE(r.ok()) << r.error.message();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, size);

  struct stat st {};
  ASSERT_EQ(::fstat(dst.get(), &st), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), size);
  EXPECT_LT(static_cast<std::uint64_t>(st.st_blocks) * 512, 16 * mib);
  EXPECT_EQ(data_map(dst.get()), want);

  std::vector<std::byte> a(mib), b(mib);
  for (auto [from, to] : want) {
    SCOPED_TRACE("segment at " + std::to_string(from));
    for (std::uint64_t off = from; off < to; off += mib) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(mib, to - off));
      ASSERT_EQ(pread_full(src.get(), a.data(), n, off), n);
      ASSERT_EQ(pread_full(dst.get(), b.data(), n, off), n);
      EXPECT_TRUE(test::same_bytes({a.data(), n}, {b.data(), n}));
    }
  }
  // The holes read as zeros at their edges and in their middle.
  std::uint64_t hole_start = 0;
  for (std::size_t i = 0; i <= want.size(); ++i) {
    const std::uint64_t hole_end = i < want.size() ? want[i].first : size;
    for (std::uint64_t at : {hole_start, (hole_start + hole_end) / 2, hole_end - 1}) {
      std::byte x{1};
      ASSERT_EQ(pread_full(dst.get(), &x, 1, at), 1u);
      EXPECT_EQ(x, std::byte{0}) << "at " << at;
    }
    if (i < want.size()) hole_start = want[i].second;
  }
}

}  // namespace
}  // namespace zcopy
