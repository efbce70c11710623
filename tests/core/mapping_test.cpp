// mapping and modify_file: exact sub-spans at unaligned offsets, msync to stable storage, madvise,
// empty mappings, injected mmap failures, and the SIGBUS guard (truncation absorbed and reported,
// unguarded mappings still die, faults elsewhere go to the previous handler, slots recycled).
#include "zcopy/mapping.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <system_error>
#include <vector>

#include "support/test_support.hpp"
#include "zcopy/aligned_buffer.hpp"
#include "zcopy/error.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define ZCOPY_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZCOPY_TEST_ASAN 1
#endif
#endif

#ifdef ZCOPY_TEST_ASAN
// ASan's own SIGBUS handler reports the fault and exits with status 1; the guard then chains to
// it instead of to the default action, and the death tests below could not see SIGBUS.
extern "C" const char* __asan_default_options() {
  return "handle_sigbus=0";
}
#endif

namespace zcopy {
namespace {

constexpr std::size_t page = 4096;

// Reads through volatile pointers so the compiler cannot drop or merge the faulting accesses.
std::byte touch_read(const std::byte* p) {
  return *static_cast<const volatile std::byte*>(p);
}
void touch_write(std::byte* p, std::byte value) {
  *static_cast<volatile std::byte*>(p) = value;
}

// The bytes of `path` as the device has them: a fresh O_DIRECT descriptor bypasses the page
// cache. Empty optional when the filesystem refuses O_DIRECT (tmpfs).
std::optional<std::vector<std::byte>> read_direct(const std::filesystem::path& path) {
  auto fd = unique_fd::open(path.c_str(), O_RDONLY | O_DIRECT);
  if (!fd && fd.error() == std::errc::invalid_argument) return std::nullopt;
  if (!fd) throw std::system_error(fd.error(), "open O_DIRECT " + path.string());
  auto alignment = query_direct_io_alignment(fd->get());
  if (!alignment) throw std::system_error(alignment.error(), "query_direct_io_alignment");
  auto buffer =
      aligned_buffer::allocate(256 * 1024, std::max(alignment->memory, alignment->offset));
  if (!buffer) throw std::system_error(buffer.error(), "aligned_buffer::allocate");
  std::vector<std::byte> out;
  for (off_t offset = 0;;) {
    ssize_t n = ::pread(fd->get(), buffer->data(), buffer->size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::system_category(), "pread O_DIRECT");
    if (n == 0) break;
    out.insert(out.end(), buffer->data(), buffer->data() + n);
    offset += n;
    if (static_cast<std::size_t>(n) < buffer->size()) break;
  }
  return out;
}

// A memfd holding `size` random bytes: a file with no path, so a death test leaves nothing
// behind when it dies.
unique_fd memfd_with(std::size_t size) {
  unique_fd fd(::memfd_create("zcopy-mapping-test", MFD_CLOEXEC));
  if (!fd) std::abort();
  auto data = test::random_bytes(size, test::test_seed());
  if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(size)) std::abort();
  return fd;
}

class Mapping : public ::testing::Test {
 protected:
  test::temp_dir dir_;
};

class MappingSizes : public ::testing::TestWithParam<std::size_t> {
 protected:
  test::temp_dir dir_;
};

TEST_P(MappingSizes, ReadOnlyEqualsFileBytesAtUnalignedOffset) {
  const std::size_t size = GetParam();
  const std::size_t offset = 2 * page + 777;
  auto data = test::random_bytes(offset + size + 100, test::test_seed());
  unique_fd fd = test::write_file(dir_ / "f", data);

  // The span starts exactly at the offset (777 bytes into its page) and has the length asked.
  auto m = mapping::map(fd.get(), map_access::read_only, offset, size);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->size(), size);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(m->data()) % page, 777u);
  EXPECT_TRUE(test::same_bytes(std::span(data).subspan(offset, size), m->bytes()));

  // Without a length it reaches the end of the file.
  auto to_end = mapping::map(fd.get(), map_access::read_only, offset);
  ASSERT_TRUE(to_end) << to_end.error().message();
  EXPECT_TRUE(test::same_bytes(std::span(data).subspan(offset), to_end->bytes()));
}

INSTANTIATE_TEST_SUITE_P(Sizes, MappingSizes,
                         ::testing::Values(1, 4095, 4096, 4097, (std::size_t{1} << 20) + 1));

TEST_F(Mapping, SyncPutsBytesOnDisk) {
  auto data = test::random_bytes(3 * page + 10, test::test_seed());
  unique_fd fd = test::write_file(dir_ / "f", data, O_RDWR);
  auto change = test::random_bytes(2 * page, test::test_seed() + 1);

  // Changed through the mapping, msynced, then read back from the device with O_DIRECT.
  auto m = mapping::map(fd.get(), map_access::read_write, 100, change.size());
  ASSERT_TRUE(m) << m.error().message();
  std::copy(change.begin(), change.end(), m->data());
  auto synced = m->sync();
  ASSERT_TRUE(synced) << synced.error().message();
  EXPECT_FALSE(m->truncated());

  std::copy(change.begin(), change.end(), data.begin() + 100);
  auto on_disk = read_direct(dir_ / "f");
  if (!on_disk) GTEST_SKIP() << "the filesystem under " << dir_.path() << " refuses O_DIRECT";
  EXPECT_TRUE(test::same_bytes(data, *on_disk));
}

TEST_F(Mapping, SyncOfPartRangeAndAsync) {
  auto data = test::random_bytes(4 * page, test::test_seed());
  unique_fd fd = test::write_file(dir_ / "f", data, O_RDWR);
  auto m = mapping::map(fd.get(), map_access::read_write, 10);
  ASSERT_TRUE(m);
  // An unaligned sub-range and an asynchronous flush are both accepted.
  EXPECT_TRUE(m->sync(true, 5000, 3000));
  EXPECT_TRUE(m->sync(false));
  // A range past the end is the caller's mistake.
  auto past = m->sync(true, m->size() - 10, 11);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error(), std::errc::invalid_argument);
}

TEST_F(Mapping, ModifyFileChangesBytesOnDisk) {
  auto data = test::random_bytes(5 * page + 321, test::test_seed());
  test::write_file(dir_ / "f", data);
  auto change = test::random_bytes(10000, test::test_seed() + 2);

  // The edit sees exactly the range asked for, and its bytes reach the device.
  std::size_t seen = 0;
  auto r = modify_file((dir_ / "f").c_str(),
                       [&](std::span<std::byte> bytes) {
                         seen = bytes.size();
                         std::copy(change.begin(), change.end(), bytes.begin());
                       },
                       5000, change.size());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(seen, change.size());

  std::copy(change.begin(), change.end(), data.begin() + 5000);
  auto on_disk = read_direct(dir_ / "f");
  if (!on_disk) GTEST_SKIP() << "the filesystem under " << dir_.path() << " refuses O_DIRECT";
  EXPECT_TRUE(test::same_bytes(data, *on_disk));
}

TEST_F(Mapping, ModifyFileRejectsARangePastTheEnd) {
  auto data = test::random_bytes(page, test::test_seed());
  test::write_file(dir_ / "f", data);
  // The file is never grown: asking for more than it holds fails before any edit.
  bool called = false;
  auto r =
      modify_file((dir_ / "f").c_str(), [&](std::span<std::byte>) { called = true; }, 100, page);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::invalid_argument);
  EXPECT_FALSE(called);
  EXPECT_TRUE(test::same_bytes(data, test::read_file(dir_ / "f")));
}

TEST_F(Mapping, AdviseIsAccepted) {
  auto data = test::random_bytes(8 * page, test::test_seed());
  unique_fd fd = test::write_file(dir_ / "f", data);
  auto m = mapping::map(fd.get(), map_access::read_only, 123);
  ASSERT_TRUE(m);
  for (auto advice : {map_advice::normal, map_advice::sequential, map_advice::random,
                      map_advice::will_need, map_advice::dont_need}) {
    auto r = m->advise(advice);
    EXPECT_TRUE(r) << static_cast<int>(advice) << ": " << r.error().message();
  }
  // Part of the range, unaligned.
  EXPECT_TRUE(m->advise(map_advice::will_need, 5000, 7000));
  // MADV_HUGEPAGE needs transparent huge pages for files; EINVAL without them is an answer too.
  auto huge = m->advise(map_advice::huge_page);
  EXPECT_TRUE(huge || huge.error() == std::errc::invalid_argument) << huge.error().message();
  // MADV_DONTNEED drops the pages from the mapping, not the file's bytes.
  EXPECT_TRUE(test::same_bytes(std::span(data).subspan(123), m->bytes()));
  // Past the end: invalid.
  auto past = m->advise(map_advice::normal, m->size() + 1);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error(), std::errc::invalid_argument);
}

TEST_F(Mapping, EmptyFileMapsNothing) {
  unique_fd fd = test::write_file(dir_ / "empty", {}, O_RDWR);
  const auto before = thread_syscall_counts()[syscall_kind::mmap];
  // An empty file, a zero length and an offset past the end all give an empty mapping ...
  auto empty = mapping::map(fd.get(), map_access::read_write);
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(empty->guarded());
  auto data = test::random_bytes(100, test::test_seed());
  unique_fd full = test::write_file(dir_ / "full", data);
  auto zero = mapping::map(full.get(), map_access::read_only, 10, 0);
  ASSERT_TRUE(zero);
  EXPECT_TRUE(zero->empty());
  auto past = mapping::map(full.get(), map_access::read_only, 1000);
  ASSERT_TRUE(past);
  EXPECT_TRUE(past->empty());
  // ... without asking the kernel for one.
  EXPECT_EQ(thread_syscall_counts()[syscall_kind::mmap], before);
  // Syncing and advising nothing succeeds; unmapping nothing reports nothing.
  EXPECT_TRUE(empty->sync());
  EXPECT_TRUE(empty->advise(map_advice::sequential));
  EXPECT_FALSE(empty->unmap());
  // modify_file of an empty file calls the edit with no bytes.
  std::size_t seen = 1;
  auto r = modify_file((dir_ / "empty").c_str(), [&](std::span<std::byte> b) { seen = b.size(); });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(seen, 0u);
}

TEST_F(Mapping, MmapFailureReportsTheErrno) {
  auto data = test::random_bytes(page, test::test_seed());
  unique_fd fd = test::write_file(dir_ / "f", data);
  // An injected ENOMEM comes back as ENOMEM.
  {
    test::fault_scope faults;
    faults.mmap({.error = ENOMEM});
    auto m = mapping::map(fd.get(), map_access::read_only);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error(), std::errc::not_enough_memory);
    EXPECT_EQ(faults.calls(syscall_kind::mmap), 1u);
  }
  // The kernel's own refusal: a shared writable mapping of a read-only descriptor is EACCES.
  auto m = mapping::map(fd.get(), map_access::read_write);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error(), std::errc::permission_denied);
}

TEST_F(Mapping, MoveKeepsTheMappingAndItsGuard) {
  auto data = test::random_bytes(2 * page, test::test_seed());
  unique_fd fd = test::write_file(dir_ / "f", data);
  auto m = mapping::map(fd.get(), map_access::read_only, 5);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->guarded());
  mapping moved(std::move(*m));
  EXPECT_TRUE(m->empty());
  EXPECT_FALSE(m->guarded());
  EXPECT_TRUE(moved.guarded());
  mapping assigned;
  assigned = std::move(moved);
  EXPECT_TRUE(assigned.guarded());
  EXPECT_TRUE(test::same_bytes(std::span(data).subspan(5), assigned.bytes()));
  EXPECT_FALSE(assigned.unmap());
  EXPECT_TRUE(assigned.empty());
  EXPECT_FALSE(assigned.guarded());
}

TEST_F(Mapping, GuardAbsorbsTruncation) {
  auto data = test::random_bytes(3 * page, test::test_seed());
  unique_fd fd = test::write_file(dir_ / "f", data, O_RDWR);
  auto m = mapping::map(fd.get(), map_access::read_write);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->guarded());
  EXPECT_TRUE(test::same_bytes(data, m->bytes()));

  // Another descriptor cuts the file to nothing under the mapping.
  unique_fd other = test::open_or_die(dir_ / "f", O_RDWR);
  ASSERT_EQ(::ftruncate(other.get(), 0), 0);

  // Reads past the new end see zeros instead of killing the process ...
  EXPECT_EQ(touch_read(m->data()), std::byte{0});
  EXPECT_EQ(touch_read(m->data() + page + 5), std::byte{0});
  // ... writes land on a private page and read back, but never reach the file ...
  touch_write(m->data() + 2 * page + 9, std::byte{0x5a});
  EXPECT_EQ(touch_read(m->data() + 2 * page + 9), std::byte{0x5a});
  // ... and the mapping says what happened, on every sync.
  EXPECT_TRUE(m->truncated());
  for (int i = 0; i < 2; ++i) {
    auto synced = m->sync();
    ASSERT_FALSE(synced);
    EXPECT_EQ(synced.error(), errc::mapping_truncated);
  }
  EXPECT_TRUE(test::read_file(dir_ / "f").empty());
}

TEST_F(Mapping, GuardKeepsBytesBeforeTheNewEnd) {
  auto data = test::random_bytes(4 * page, test::test_seed());
  unique_fd fd = test::write_file(dir_ / "f", data);
  auto m = mapping::map(fd.get(), map_access::read_only);
  ASSERT_TRUE(m);
  unique_fd other = test::open_or_die(dir_ / "f", O_RDWR);
  ASSERT_EQ(::ftruncate(other.get(), page + 100), 0);

  // A partial truncation: the page past the end faults and reads zeros ...
  EXPECT_EQ(touch_read(m->data() + 3 * page), std::byte{0});
  EXPECT_TRUE(m->truncated());
  // ... while the bytes still inside the file are the file's.
  EXPECT_TRUE(test::same_bytes(std::span(data).first(page + 100), m->bytes().first(page + 100)));
}

TEST_F(Mapping, ModifyFileReportsTruncationInsideTheEdit) {
  auto data = test::random_bytes(4 * page, test::test_seed());
  test::write_file(dir_ / "f", data);
  unique_fd other = test::open_or_die(dir_ / "f", O_RDWR);
  // The file shrinks, then the edit writes where it used to be: absorbed, then reported.
  auto r = modify_file((dir_ / "f").c_str(), [&](std::span<std::byte> bytes) {
    ASSERT_EQ(::ftruncate(other.get(), 0), 0);
    for (std::size_t i = 0; i < bytes.size(); i += page) touch_write(&bytes[i], std::byte{1});
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::mapping_truncated);
  EXPECT_TRUE(test::read_file(dir_ / "f").empty());
}

TEST_F(Mapping, ModifyFileReportsAShrinkTheEditNeverTouched) {
  auto data = test::random_bytes(4 * page, test::test_seed());
  test::write_file(dir_ / "f", data);
  unique_fd other = test::open_or_die(dir_ / "f", O_RDWR);
  // The edit writes first and the file shrinks afterwards: no fault, the dropped bytes are still
  // reported.
  auto r = modify_file((dir_ / "f").c_str(), [&](std::span<std::byte> bytes) {
    std::fill(bytes.begin(), bytes.end(), std::byte{7});
    ASSERT_EQ(::ftruncate(other.get(), page + 1), 0);
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::mapping_truncated);
}

TEST_F(Mapping, GuardSlotsAreReleasedWhenMappingsDie) {
  auto data = test::random_bytes(page, test::test_seed());
  unique_fd fd = test::write_file(dir_ / "f", data);
  // More mappings than there are slots, one after another: every one of them is guarded.
  for (std::size_t i = 0; i < max_guarded_mappings + 10; ++i) {
    auto m = mapping::map(fd.get(), map_access::read_only);
    ASSERT_TRUE(m) << i << ": " << m.error().message();
    ASSERT_TRUE(m->guarded()) << "mapping " << i;
  }
}

TEST_F(Mapping, AtMostMaxGuardedMappingsAtOnce) {
  auto data = test::random_bytes(page, test::test_seed());
  unique_fd fd = test::write_file(dir_ / "f", data);
  // Past the limit mappings are still made, unguarded.
  std::vector<mapping> live;
  std::size_t guarded = 0;
  for (std::size_t i = 0; i < max_guarded_mappings + 5; ++i) {
    auto m = mapping::map(fd.get(), map_access::read_only);
    ASSERT_TRUE(m) << i << ": " << m.error().message();
    if (m->guarded()) ++guarded;
    live.push_back(std::move(*m));
  }
  EXPECT_EQ(guarded, max_guarded_mappings);
  EXPECT_FALSE(live.back().guarded());
  EXPECT_TRUE(test::same_bytes(data, live.back().bytes()));
  // One dies, its slot is free for the next.
  live.erase(live.begin());
  auto next = mapping::map(fd.get(), map_access::read_only);
  ASSERT_TRUE(next);
  EXPECT_TRUE(next->guarded());
}

TEST(MappingDeathTest, UnguardedMappingStillDiesOfSigbus) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // With the guard's handler installed, a truncated page of an unguarded mapping is not the
  // guard's business: the default action ends the process with SIGBUS, as it would without us.
  EXPECT_EXIT(
      {
        unique_fd fd = memfd_with(2 * page);
        auto guarded = mapping::map(fd.get(), map_access::read_only);
        auto plain = mapping::map(fd.get(), map_access::read_only, 0, {}, {.guard = false});
        if (!guarded || !guarded->guarded() || !plain || plain->guarded()) std::_Exit(3);
        if (::ftruncate(fd.get(), 0) != 0) std::_Exit(4);
        touch_read(plain->data() + page);
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

void exit_42(int, siginfo_t*, void*) {
  ::_exit(42);
}

TEST(MappingDeathTest, FaultOutsideGuardedMappingsGoesToThePreviousHandler) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // A handler installed before the guard still gets the faults that are not the guard's.
  EXPECT_EXIT(
      {
        struct sigaction action {};
        action.sa_sigaction = exit_42;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        if (::sigaction(SIGBUS, &action, nullptr) != 0) std::_Exit(3);
        unique_fd fd = memfd_with(2 * page);
        auto guarded = mapping::map(fd.get(), map_access::read_only);
        auto plain = mapping::map(fd.get(), map_access::read_only, 0, {}, {.guard = false});
        if (!guarded || !guarded->guarded() || !plain) std::_Exit(4);
        if (::ftruncate(fd.get(), 0) != 0) std::_Exit(5);
        // The guarded mapping's fault is absorbed; the unguarded one's reaches exit_42.
        touch_read(guarded->data());
        if (!guarded->truncated()) std::_Exit(6);
        touch_read(plain->data());
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(42), "");
}

TEST(MappingDeathTest, SentSigbusStillKills) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // kill(2)'s SIGBUS carries no fault address: the guard passes it on to the default action.
  EXPECT_EXIT(
      {
        unique_fd fd = memfd_with(page);
        auto guarded = mapping::map(fd.get(), map_access::read_only);
        if (!guarded || !guarded->guarded()) std::_Exit(3);
        ::kill(::getpid(), SIGBUS);
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace zcopy
