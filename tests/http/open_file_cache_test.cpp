// open_file_cache: hits share the descriptor and its stat without a system call, entries expire
// after `valid`, LRU eviction at max_entries, what is never cached, and descriptor lifetimes.
#include "http/open_file_cache.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "http/resolve.hpp"
#include "support/test_support.hpp"
#include "zcopy/syscall_stats.hpp"

namespace zcopy::http {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = open_file_cache::clock;

// Reads all `length` bytes of `fd` from offset 0 with pread.
std::vector<std::byte> pread_all(int fd, std::size_t length) {
  std::vector<std::byte> out(length);
  std::size_t done = 0;
  while (done < length) {
    const ssize_t n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(done));
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

std::size_t open_descriptor_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

// Closed, as the kernel says it: EBADF (not some other failure).
bool is_closed(int fd) {
  return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

// ROOT: a.bin, b.bin, c.bin (random), dir/ (a directory).
class OpenFileCache : public ::testing::Test {
 protected:
  void SetUp() override {
    SCOPED_TRACE(::testing::Message() << "seed " << test::test_seed());
    root_path_ = base_.path() / "root";
    fs::create_directories(root_path_ / "dir");
    const std::uint64_t seed = test::test_seed();
    a_ = test::random_bytes(100'000, seed);
    b_ = test::random_bytes(4'321, seed + 1);
    c_ = test::random_bytes(77, seed + 2);
    test::write_file(root_path_ / "a.bin", a_);
    test::write_file(root_path_ / "b.bin", b_);
    test::write_file(root_path_ / "c.bin", c_);
    auto r = open_root(root_path_.c_str());
    ASSERT_TRUE(r.has_value()) << r.error().message();
    root_ = std::move(*r);
  }

  open_file look(open_file_cache& cache, std::string_view path, clock_type::time_point now) {
    return cache.lookup(root_.get(), path, {}, now);
  }

  static std::uint64_t openat_calls() { return thread_syscall_counts()[syscall_kind::openat]; }

  test::temp_dir base_;
  fs::path root_path_;
  unique_fd root_;
  std::vector<std::byte> a_, b_, c_;
  const clock_type::time_point t0_ = clock_type::now();
};

// A hit returns the very descriptor of the miss (same object, same number) and makes no system
// call at all: no openat, no fstat.
TEST_F(OpenFileCache, HitSharesTheDescriptor) {
  open_file_cache cache({.max_entries = 8, .valid = 1000ms});
  open_file first = look(cache, "/a.bin", t0_);
  ASSERT_EQ(first.status, resolve_status::file);
  ASSERT_TRUE(first.fd && *first.fd);

  const auto before = thread_syscall_counts();
  open_file second = look(cache, "/a.bin", t0_ + 10ms);
  const auto delta = thread_syscall_counts() - before;

  ASSERT_EQ(second.status, resolve_status::file);
  EXPECT_EQ(second.fd.get(), first.fd.get());
  EXPECT_EQ(second.fd->get(), first.fd->get());
  EXPECT_EQ(delta[syscall_kind::openat], 0u);
  EXPECT_EQ(delta[syscall_kind::fstat], 0u);
  EXPECT_EQ(delta.total(), 0u);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);
  EXPECT_EQ(cache.size(), 1u);
}

// A hit carries the stat taken at lookup time, and no error.
TEST_F(OpenFileCache, HitReturnsTheStat) {
  open_file_cache cache({.max_entries = 8, .valid = 1000ms});
  struct stat expected {};
  ASSERT_EQ(::stat((root_path_ / "b.bin").c_str(), &expected), 0);
  (void)look(cache, "/b.bin", t0_);
  open_file hit = look(cache, "/b.bin", t0_ + 1ms);
  ASSERT_EQ(hit.status, resolve_status::file);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_FALSE(hit.error);
  EXPECT_TRUE(S_ISREG(hit.st.st_mode));
  EXPECT_EQ(hit.st.st_size, static_cast<off_t>(b_.size()));
  EXPECT_EQ(hit.st.st_ino, expected.st_ino);
  EXPECT_EQ(hit.st.st_dev, expected.st_dev);
  EXPECT_EQ(hit.st.st_mtim.tv_sec, expected.st_mtim.tv_sec);
  EXPECT_EQ(hit.st.st_mtim.tv_nsec, expected.st_mtim.tv_nsec);
}

// An entry is trusted for strictly less than `valid`; at `valid` the path is opened again.
TEST_F(OpenFileCache, EntryExpiresAfterValid) {
  open_file_cache cache({.max_entries = 8, .valid = 100ms});
  open_file first = look(cache, "/a.bin", t0_);
  open_file still = look(cache, "/a.bin", t0_ + 99ms);
  EXPECT_EQ(still.fd.get(), first.fd.get());
  EXPECT_EQ(cache.stats().hits, 1u);

  const auto opens = openat_calls();
  open_file again = look(cache, "/a.bin", t0_ + 100ms);
  EXPECT_EQ(openat_calls() - opens, 1u);
  ASSERT_EQ(again.status, resolve_status::file);
  EXPECT_NE(again.fd.get(), first.fd.get());
  EXPECT_EQ(cache.stats().misses, 2u);
  EXPECT_EQ(cache.size(), 1u);

  // The fresh entry is valid for another `valid` from its own lookup.
  open_file later = look(cache, "/a.bin", t0_ + 150ms);
  EXPECT_EQ(later.fd.get(), again.fd.get());
}

// A file replaced on disk (rename over it) is served stale until the entry expires, then fresh.
TEST_F(OpenFileCache, ReplacedFileIsSeenAfterExpiry) {
  open_file_cache cache({.max_entries = 8, .valid = 500ms});
  open_file old_file = look(cache, "/a.bin", t0_);
  ASSERT_EQ(old_file.status, resolve_status::file);

  const auto replacement = test::random_bytes(5'000, test::test_seed() + 9);
  test::write_file(base_.path() / "new.bin", replacement);
  fs::rename(base_.path() / "new.bin", root_path_ / "a.bin");
  struct stat fresh {};
  ASSERT_EQ(::stat((root_path_ / "a.bin").c_str(), &fresh), 0);

  open_file stale = look(cache, "/a.bin", t0_ + 499ms);
  ASSERT_EQ(stale.status, resolve_status::file);
  EXPECT_EQ(stale.st.st_size, static_cast<off_t>(a_.size()));
  EXPECT_NE(stale.st.st_ino, fresh.st_ino);
  EXPECT_TRUE(test::same_bytes(a_, pread_all(stale.fd->get(), a_.size())));

  open_file renewed = look(cache, "/a.bin", t0_ + 500ms);
  ASSERT_EQ(renewed.status, resolve_status::file);
  EXPECT_EQ(renewed.st.st_ino, fresh.st_ino);
  EXPECT_EQ(renewed.st.st_size, static_cast<off_t>(replacement.size()));
  EXPECT_TRUE(test::same_bytes(replacement, pread_all(renewed.fd->get(), replacement.size())));
}

// At max_entries the least recently used entry goes first; a hit makes an entry recent again.
TEST_F(OpenFileCache, LeastRecentlyUsedIsEvicted) {
  open_file_cache cache({.max_entries = 2, .valid = 10s});
  (void)look(cache, "/a.bin", t0_);
  (void)look(cache, "/b.bin", t0_ + 1ms);
  (void)look(cache, "/a.bin", t0_ + 2ms);  // a is now the most recent: b is next to go
  EXPECT_EQ(cache.stats().evictions, 0u);
  (void)look(cache, "/c.bin", t0_ + 3ms);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.size(), 2u);

  const auto hits = cache.stats().hits;
  (void)look(cache, "/a.bin", t0_ + 4ms);
  (void)look(cache, "/c.bin", t0_ + 5ms);
  EXPECT_EQ(cache.stats().hits, hits + 2);

  const auto misses = cache.stats().misses;
  const auto opens = openat_calls();
  (void)look(cache, "/b.bin", t0_ + 6ms);  // evicted: opened again, and evicts a in turn
  EXPECT_EQ(cache.stats().misses, misses + 1);
  EXPECT_EQ(openat_calls() - opens, 1u);
  EXPECT_EQ(cache.stats().evictions, 2u);
  EXPECT_EQ(cache.size(), 2u);
}

// max_entries 0 turns the cache off: every lookup opens the file, nothing is kept.
TEST_F(OpenFileCache, ZeroMaxEntriesCachesNothing) {
  open_file_cache cache({.max_entries = 0, .valid = 10s});
  const auto opens = openat_calls();
  open_file first = look(cache, "/a.bin", t0_);
  open_file second = look(cache, "/a.bin", t0_ + 1ms);
  EXPECT_EQ(openat_calls() - opens, 2u);
  ASSERT_EQ(first.status, resolve_status::file);
  ASSERT_EQ(second.status, resolve_status::file);
  EXPECT_NE(first.fd.get(), second.fd.get());
  EXPECT_NE(first.fd->get(), second.fd->get());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.stats().hits, 0u);
  EXPECT_EQ(cache.stats().evictions, 0u);
}

// Directories are resolved every time (a listing must be fresh); never stored.
TEST_F(OpenFileCache, DirectoriesAreNotCached) {
  open_file_cache cache({.max_entries = 8, .valid = 10s});
  open_file first = look(cache, "/dir", t0_);
  ASSERT_EQ(first.status, resolve_status::directory);
  EXPECT_TRUE(first.fd && *first.fd);
  EXPECT_EQ(cache.size(), 0u);
  const auto opens = openat_calls();
  open_file second = look(cache, "/dir", t0_ + 1ms);
  EXPECT_EQ(second.status, resolve_status::directory);
  EXPECT_EQ(openat_calls() - opens, 1u);
  EXPECT_NE(first.fd.get(), second.fd.get());
  EXPECT_EQ(cache.stats().hits, 0u);
  EXPECT_EQ(cache.size(), 0u);
}

// A failed lookup is not remembered: a file created right after is found at once.
TEST_F(OpenFileCache, FailuresAreNotCached) {
  open_file_cache cache({.max_entries = 8, .valid = 10s});
  open_file missing = look(cache, "/late.bin", t0_);
  EXPECT_EQ(missing.status, resolve_status::not_found);
  EXPECT_FALSE(missing.fd);
  EXPECT_EQ(cache.size(), 0u);

  const auto late = test::random_bytes(300, test::test_seed() + 5);
  test::write_file(root_path_ / "late.bin", late);
  open_file found = look(cache, "/late.bin", t0_ + 1ms);
  ASSERT_EQ(found.status, resolve_status::file);
  EXPECT_EQ(cache.stats().hits, 0u);
  EXPECT_TRUE(test::same_bytes(late, pread_all(found.fd->get(), late.size())));

  // Hidden names are refused before anything is opened, and not stored either.
  test::write_file(root_path_ / ".secret", late);
  EXPECT_EQ(look(cache, "/.secret", t0_ + 2ms).status, resolve_status::not_found);
  EXPECT_EQ(look(cache, "/.secret", t0_ + 3ms).status, resolve_status::not_found);
  EXPECT_EQ(cache.size(), 1u);  // late.bin only
}

// expire() drops the stale entries only, and the descriptors nobody else holds are closed.
TEST_F(OpenFileCache, ExpireDropsStaleEntriesAndClosesTheirDescriptors) {
  open_file_cache cache({.max_entries = 8, .valid = 1000ms});
  const std::size_t open_before = open_descriptor_count();
  int a_fd = -1;
  int b_fd = -1;
  {
    open_file a = look(cache, "/a.bin", t0_);
    open_file b = look(cache, "/b.bin", t0_ + 600ms);
    a_fd = a.fd->get();
    b_fd = b.fd->get();
  }
  EXPECT_EQ(open_descriptor_count(), open_before + 2);
  ASSERT_TRUE(is_open(a_fd));

  cache.expire(t0_ + 999ms);  // nothing is stale yet
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(is_open(a_fd));

  cache.expire(t0_ + 1000ms);  // a is, b is not
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(is_closed(a_fd));
  EXPECT_TRUE(is_open(b_fd));
  EXPECT_EQ(open_descriptor_count(), open_before + 1);

  cache.expire(t0_ + 1600ms);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(is_closed(b_fd));
  EXPECT_EQ(open_descriptor_count(), open_before);
  EXPECT_EQ(cache.stats().evictions, 0u);  // expiry is not eviction
}

// A stale entry still held by a response keeps its descriptor open until the response lets go.
TEST_F(OpenFileCache, ExpireLeavesHeldDescriptorsOpen) {
  open_file_cache cache({.max_entries = 8, .valid = 100ms});
  open_file held = look(cache, "/a.bin", t0_);
  const int fd = held.fd->get();
  cache.expire(t0_ + 1s);
  EXPECT_EQ(cache.size(), 0u);
  ASSERT_TRUE(is_open(fd));
  EXPECT_TRUE(test::same_bytes(a_, pread_all(fd, a_.size())));
  held = {};
  EXPECT_TRUE(is_closed(fd));
}

// A descriptor handed out stays valid after its entry is evicted: the response owns a share.
TEST_F(OpenFileCache, HandedOutDescriptorOutlivesEviction) {
  open_file_cache cache({.max_entries = 1, .valid = 10s});
  open_file a = look(cache, "/a.bin", t0_);
  (void)look(cache, "/b.bin", t0_ + 1ms);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.size(), 1u);
  ASSERT_TRUE(is_open(a.fd->get()));
  EXPECT_TRUE(test::same_bytes(a_, pread_all(a.fd->get(), a_.size())));
}

// The bytes read through a cached descriptor are the file's, on the miss and on every hit.
TEST_F(OpenFileCache, CachedDescriptorReadsTheFileBytes) {
  open_file_cache cache({.max_entries = 8, .valid = 10s});
  open_file miss = look(cache, "/a.bin", t0_);
  ASSERT_EQ(miss.status, resolve_status::file);
  EXPECT_TRUE(test::same_bytes(a_, pread_all(miss.fd->get(), a_.size())));
  for (int i = 1; i <= 3; ++i) {
    open_file hit = look(cache, "/a.bin", t0_ + i * 1ms);
    ASSERT_EQ(hit.status, resolve_status::file);
    EXPECT_TRUE(test::same_bytes(a_, pread_all(hit.fd->get(), a_.size())));
  }
  EXPECT_EQ(cache.stats().hits, 3u);
}

// Files up to small_file_limit carry a mapping of their bytes (for head + body in one
// sendmsg); larger files and a zero limit do not, and a hit shares the same mapping.
TEST_F(OpenFileCache, SmallFilesCarryAMappingOfTheirBytes) {
  open_file_cache cache({.max_entries = 8, .valid = 1000ms, .small_file_limit = 16 * 1024});
  open_file small = look(cache, "/b.bin", t0_);
  ASSERT_EQ(small.status, resolve_status::file);
  ASSERT_TRUE(small.small_body);
  EXPECT_TRUE(test::same_bytes(b_, small.small_body->bytes()));
  open_file again = look(cache, "/b.bin", t0_ + 10ms);
  EXPECT_EQ(again.small_body.get(), small.small_body.get());

  open_file large = look(cache, "/a.bin", t0_);
  ASSERT_EQ(large.status, resolve_status::file);
  EXPECT_FALSE(large.small_body);

  open_file_cache no_maps({.max_entries = 8, .valid = 1000ms, .small_file_limit = 0});
  EXPECT_FALSE(look(no_maps, "/c.bin", t0_).small_body);
}

// The mapping shows the file as it is now: bytes changed in place are seen at once.
TEST_F(OpenFileCache, SmallBodyMappingSeesChangesInPlace) {
  open_file_cache cache({.max_entries = 8, .valid = 10s});
  open_file first = look(cache, "/c.bin", t0_);
  ASSERT_TRUE(first.small_body);
  auto changed = test::random_bytes(c_.size(), test::test_seed() + 99);
  auto fd = test::open_or_die(root_path_ / "c.bin", O_WRONLY);
  ASSERT_EQ(::pwrite(fd.get(), changed.data(), changed.size(), 0),
            static_cast<ssize_t>(changed.size()));
  EXPECT_TRUE(test::same_bytes(changed, look(cache, "/c.bin", t0_ + 1ms).small_body->bytes()));
}

}  // namespace
}  // namespace zcopy::http
