// copy_tree(): nested directories, symlinks (absolute, relative, dangling), hard links, FIFOs,
// odd names, -n and -u, directory metadata applied after the contents, refusal to copy a
// directory into itself, and errors that are reported while the walk goes on.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"
#include "zcopy/copy.hpp"
#include "zcopy/error.hpp"

namespace zcopy {
namespace {

namespace fs = std::filesystem;
using test::random_bytes;
using test::read_file;
using test::same_bytes;
using test::write_file;

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) throw std::system_error(errno, std::system_category(), p);
  return st;
}

// Everything the observer heard, collected under a lock (it is called from several threads).
struct recorder {
  std::mutex lock;
  std::vector<copy_error> errors;
  std::vector<std::pair<fs::path, entry_kind>> copied;
  std::vector<fs::path> skipped;

  tree_observer observer() {
    tree_observer o;
    o.on_copied = [this](const fs::path&, const fs::path& dest, entry_kind kind,
                         const file_copy_result*) {
      std::lock_guard g(lock);
      copied.emplace_back(dest, kind);
    };
    o.on_skipped = [this](const fs::path&, const fs::path& dest) {
      std::lock_guard g(lock);
      skipped.push_back(dest);
    };
    o.on_error = [this](const copy_error& e) {
      std::lock_guard g(lock);
      errors.push_back(e);
    };
    return o;
  }
  std::string error_text() {
    std::string out;
    for (const auto& e : errors) out += e.message() + "\n";
    return out;
  }
};

class TreeCopy : public ::testing::Test {
 protected:
  void SetUp() override { SCOPED_TRACE(::testing::Message() << "seed " << seed_); }

  // Writes a file of `size` random bytes under the source and remembers them.
  void file(const std::string& rel, std::size_t size) {
    contents_[rel] = random_bytes(size, seed_ + contents_.size());
    write_file(src_ / rel, contents_[rel]);
  }
  void expect_files_copied(const fs::path& dest) {
    for (const auto& [rel, bytes] : contents_) {
      SCOPED_TRACE(rel);
      EXPECT_TRUE(same_bytes(bytes, read_file(dest / rel)));
    }
  }

  test::temp_dir dir_;
  fs::path src_ = dir_ / "src";
  fs::path dst_ = dir_ / "dst";
  std::uint64_t seed_ = test::test_seed();
  std::map<std::string, std::vector<std::byte>> contents_;
};

tree_options archive() {
  tree_options o;
  o.symlinks_as_links = true;
  o.keep_hard_links = true;
  o.special_files = true;
  o.file.preserve = {.mode = true, .ownership = true, .timestamps = true};
  o.jobs = 3;
  return o;
}

// -a on a tree with everything in it: every entry arrives as what it was.
TEST_F(TreeCopy, ArchiveCopiesEveryKindOfEntry) {
  fs::create_directories(src_ / "a" / "b" / "c");
  fs::create_directories(src_ / "empty");
  file("top", 100'000);
  file("a/one", 5000);
  file("a/b/two", 70'000);
  file("a/b/c/three", 1);
  file("with space", 10);
  file("new\nline", 20);
  file("ünïcödé-файл", 30);
  file("-leading-dash", 40);
  ASSERT_EQ(::symlink("../top", (src_ / "a" / "relative").c_str()), 0);
  ASSERT_EQ(::symlink((src_ / "top").c_str(), (src_ / "absolute").c_str()), 0);
  ASSERT_EQ(::symlink("nowhere", (src_ / "dangling").c_str()), 0);
  ASSERT_EQ(::link((src_ / "top").c_str(), (src_ / "a" / "b" / "top-link").c_str()), 0);
  ASSERT_EQ(::mkfifo((src_ / "fifo").c_str(), 0640), 0);

  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, archive(), rec.observer());
  EXPECT_EQ(s.errors, 0u) << rec.error_text();
  expect_files_copied(dst_);
  EXPECT_EQ(fs::read_symlink(dst_ / "a" / "relative"), "../top");
  EXPECT_EQ(fs::read_symlink(dst_ / "absolute"), src_ / "top");
  EXPECT_EQ(fs::read_symlink(dst_ / "dangling"), "nowhere");
  EXPECT_EQ(lstat_of(dst_ / "top").st_ino, lstat_of(dst_ / "a" / "b" / "top-link").st_ino);
  EXPECT_NE(lstat_of(dst_ / "top").st_ino, lstat_of(src_ / "top").st_ino);
  EXPECT_TRUE(S_ISFIFO(lstat_of(dst_ / "fifo").st_mode));
  EXPECT_EQ(lstat_of(dst_ / "fifo").st_mode & 07777, 0640u);
  EXPECT_TRUE(fs::is_directory(dst_ / "empty"));

  EXPECT_EQ(s.files, 8u);  // the hard link's second name is a hard link, not a file
  EXPECT_EQ(s.hard_links, 1u);
  EXPECT_EQ(s.symlinks, 3u);
  EXPECT_EQ(s.specials, 1u);
  EXPECT_EQ(s.directories, 5u);  // src, a, b, c, empty
  EXPECT_EQ(s.bytes, 100'000u + 5000 + 70'000 + 1 + 10 + 20 + 30 + 40);
  EXPECT_EQ(rec.copied.size(), s.files + s.hard_links + s.symlinks + s.specials + s.directories);

  // No temporary names were left anywhere.
  for (const auto& e : fs::recursive_directory_iterator(dst_)) {
    EXPECT_EQ(e.path().filename().string().find(".zcopy-"), std::string::npos) << e.path();
  }
}

// Without -P symlinks are followed: a link to a file becomes a file, a dangling one an error,

// on_progress in a tree copy reports one total over every file and thread: its largest value is
// the sum of the files' sizes (no file counted twice, none missed).
TEST_F(TreeCopy, ProgressIsOneTotalForTheTree) {
  fs::create_directories(src_ / "d");
  file("a.bin", 3 << 20);
  file("d/b.bin", (1 << 20) + 17);
  file("d/c.bin", 4099);
  std::uint64_t expected = 0;
  for (const auto& [rel, bytes] : contents_) expected += bytes.size();
  tree_options o;
  o.jobs = 3;
  std::mutex m;
  std::uint64_t largest = 0;
  o.file.on_progress = [&](std::uint64_t total) {
    std::lock_guard lock(m);
    largest = std::max(largest, total);
  };
  const tree_summary s = copy_tree(src_, dst_, o);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(largest, expected);
  expect_files_copied(dst_);
}

// and the rest is still copied.
TEST_F(TreeCopy, FollowsSymlinksByDefault) {
  fs::create_directories(src_ / "d");
  file("target", 3000);
  file("d/inner", 10);
  ASSERT_EQ(::symlink("target", (src_ / "link").c_str()), 0);
  ASSERT_EQ(::symlink("d", (src_ / "dlink").c_str()), 0);
  ASSERT_EQ(::symlink("nowhere", (src_ / "dangling").c_str()), 0);
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, {}, rec.observer());
  expect_files_copied(dst_);
  EXPECT_FALSE(fs::is_symlink(dst_ / "link"));
  EXPECT_TRUE(same_bytes(contents_["target"], read_file(dst_ / "link")));
  EXPECT_TRUE(fs::is_directory(dst_ / "dlink"));
  EXPECT_TRUE(same_bytes(contents_["d/inner"], read_file(dst_ / "dlink" / "inner")));
  ASSERT_EQ(s.errors, 1u) << rec.error_text();
  EXPECT_EQ(rec.errors[0].code, std::errc::no_such_file_or_directory);
  EXPECT_EQ(rec.errors[0].path, src_ / "dangling");
}

// Following links, a link to an ancestor is a loop: reported, not followed forever.
TEST_F(TreeCopy, SymlinkLoopIsReported) {
  fs::create_directories(src_ / "d");
  ASSERT_EQ(::symlink("..", (src_ / "d" / "up").c_str()), 0);
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, {}, rec.observer());
  ASSERT_EQ(s.errors, 1u) << rec.error_text();
  EXPECT_EQ(rec.errors[0].code, std::errc::too_many_symbolic_link_levels);
  EXPECT_EQ(rec.errors[0].code, make_error_code(errc::directory_loop));
  EXPECT_EQ(rec.errors[0].path, src_ / "d" / "up");
  EXPECT_TRUE(fs::is_directory(dst_ / "d"));
}

// Special files without special_files: an error for each, never opened (a FIFO would block).
TEST_F(TreeCopy, SpecialFilesAreRefusedUnlessAsked) {
  fs::create_directories(src_);
  file("regular", 100);
  ASSERT_EQ(::mkfifo((src_ / "fifo").c_str(), 0644), 0);
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, {}, rec.observer());
  ASSERT_EQ(s.errors, 1u);
  EXPECT_EQ(rec.errors[0].code, std::errc::operation_not_supported);
  EXPECT_EQ(rec.errors[0].code, make_error_code(errc::special_file_refused));
  EXPECT_EQ(rec.errors[0].path, src_ / "fifo");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dst_ / "fifo")));
  expect_files_copied(dst_);
}

// A directory into itself or below itself is refused before anything is created.
TEST_F(TreeCopy, RefusesToCopyADirectoryIntoItself) {
  fs::create_directories(src_ / "sub");
  file("f", 10);
  for (const fs::path& dest : {src_ / "sub" / "copy", src_ / "copy", fs::path(src_)}) {
    SCOPED_TRACE(dest);
    recorder rec;
    const tree_summary s = copy_tree(src_, dest, archive(), rec.observer());
    ASSERT_EQ(s.errors, 1u);
    EXPECT_EQ(rec.errors[0].code, make_error_code(errc::into_itself));
    EXPECT_EQ(rec.errors[0].code, std::errc::invalid_argument);
    EXPECT_EQ(s.files, 0u);
  }
  EXPECT_FALSE(fs::exists(src_ / "sub" / "copy"));
  EXPECT_FALSE(fs::exists(src_ / "copy"));

  // Through a symlink to the source, too.
  ASSERT_EQ(::symlink(src_.c_str(), (dir_ / "alias").c_str()), 0);
  recorder rec;
  const tree_summary s = copy_tree(src_, dir_ / "alias" / "sub" / "x", archive(), rec.observer());
  EXPECT_EQ(s.errors, 1u);
  EXPECT_FALSE(fs::exists(src_ / "sub" / "x"));
}

// -n keeps whatever exists; the rest is copied.
TEST_F(TreeCopy, NoClobberSkipsExistingEntries) {
  fs::create_directories(src_);
  file("old", 1000);
  file("new", 2000);
  ASSERT_EQ(::symlink("x", (src_ / "link").c_str()), 0);
  fs::create_directories(dst_);
  const auto kept = random_bytes(50, seed_ + 99);
  write_file(dst_ / "old", kept);
  ASSERT_EQ(::symlink("y", (dst_ / "link").c_str()), 0);
  tree_options o = archive();
  o.no_clobber = true;
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, o, rec.observer());
  EXPECT_EQ(s.errors, 0u) << rec.error_text();
  EXPECT_EQ(s.skipped, 2u);
  EXPECT_EQ(rec.skipped.size(), 2u);
  EXPECT_TRUE(same_bytes(kept, read_file(dst_ / "old")));
  EXPECT_EQ(fs::read_symlink(dst_ / "link"), "y");
  EXPECT_TRUE(same_bytes(contents_["new"], read_file(dst_ / "new")));
}

// -u replaces only what is older than the source.
TEST_F(TreeCopy, UpdateCopiesOnlyNewerSources) {
  fs::create_directories(src_);
  file("stale", 1000);
  file("fresh", 1000);
  fs::create_directories(dst_);
  const auto stale_dest = random_bytes(10, seed_ + 7);
  const auto fresh_dest = random_bytes(10, seed_ + 8);
  write_file(dst_ / "stale", stale_dest);
  write_file(dst_ / "fresh", fresh_dest);
  const timespec older[2] = {{1000, 0}, {1000, 0}};
  const timespec middle[2] = {{2000, 0}, {2000, 0}};
  const timespec newer[2] = {{3000, 0}, {3000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src_ / "stale").c_str(), middle, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (dst_ / "stale").c_str(), older, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (src_ / "fresh").c_str(), middle, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (dst_ / "fresh").c_str(), newer, 0), 0);
  tree_options o;
  o.update = true;
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, o, rec.observer());
  EXPECT_EQ(s.errors, 0u) << rec.error_text();
  EXPECT_EQ(s.skipped, 1u);
  EXPECT_EQ(s.files, 1u);
  EXPECT_TRUE(same_bytes(contents_["stale"], read_file(dst_ / "stale")));
  EXPECT_TRUE(same_bytes(fresh_dest, read_file(dst_ / "fresh")));
}

// A read-only source directory is filled first and gets its mode (and times) afterwards.
TEST_F(TreeCopy, ReadOnlyDirectoryGetsItsModeAfterItsContents) {
  fs::create_directories(src_ / "ro" / "inner");
  file("ro/file", 4000);
  file("ro/inner/deep", 10);
  ASSERT_EQ(::chmod((src_ / "ro" / "inner").c_str(), 0500), 0);
  ASSERT_EQ(::chmod((src_ / "ro").c_str(), 0555), 0);
  const timespec times[2] = {{1'400'000'000, 111}, {1'300'000'000, 222'333'444}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src_ / "ro").c_str(), times, 0), 0);
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, archive(), rec.observer());
  EXPECT_EQ(s.errors, 0u) << rec.error_text();
  expect_files_copied(dst_);
  const struct stat st = lstat_of(dst_ / "ro");
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  EXPECT_EQ(lstat_of(dst_ / "ro" / "inner").st_mode & 07777, 0500u);
  EXPECT_EQ(st.st_mtim.tv_sec, times[1].tv_sec);
  EXPECT_EQ(st.st_mtim.tv_nsec, times[1].tv_nsec);
  ::chmod((src_ / "ro" / "inner").c_str(), 0755);
  ::chmod((src_ / "ro").c_str(), 0755);
  ::chmod((dst_ / "ro" / "inner").c_str(), 0755);
  ::chmod((dst_ / "ro").c_str(), 0755);
}

// A clone refused because the filesystems cannot clone is not tried again for the other files
// between the same two filesystems: one FICLONE for the whole tree, every file still copied.
TEST_F(TreeCopy, AFilesystemWithoutClonesIsAskedOnce) {
  fs::create_directories(src_ / "sub");
  for (int i = 0; i < 4; ++i) file("f" + std::to_string(i), 3000 + i);
  for (int i = 0; i < 3; ++i) file("sub/g" + std::to_string(i), 5000 + i);
  test::fault_scope faults;
  faults.ioctl({.error = EOPNOTSUPP, .repeat = true});
  tree_options o;
  o.jobs = 1;
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, o, rec.observer());
  EXPECT_EQ(s.errors, 0u) << rec.error_text();
  EXPECT_EQ(s.files, 7u);
  expect_files_copied(dst_);
  EXPECT_EQ(faults.calls(syscall_kind::ioctl), 1u);
  EXPECT_EQ(s.fallbacks, 1u);
}

// A refusal that may be about the one file (EINVAL) teaches nothing: every file is offered.
TEST_F(TreeCopy, AFileSpecificCloneRefusalIsNotRemembered) {
  fs::create_directories(src_);
  for (int i = 0; i < 4; ++i) file("f" + std::to_string(i), 3000 + i);
  test::fault_scope faults;
  faults.ioctl({.error = EINVAL, .repeat = true});
  tree_options o;
  o.jobs = 1;
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, o, rec.observer());
  EXPECT_EQ(s.errors, 0u) << rec.error_text();
  expect_files_copied(dst_);
  EXPECT_EQ(faults.calls(syscall_kind::ioctl), 4u);
}

// A source directory swapped for another between the walk's stat and the copy's open is
// reported, not copied as if it were the one that was seen; the rest of the tree is copied.
TEST_F(TreeCopy, ADirectoryReplacedDuringTheCopyIsReported) {
  fs::create_directories(src_ / "a");
  fs::create_directories(src_ / "b");
  file("a/one", 1000);
  file("b/two", 1000);
  static fs::path victim, elsewhere;
  victim = src_ / "a";
  elsewhere = dir_ / "a-moved";
  test::fault_scope faults;
  sys::hooks().openat = [](int dirfd, const char* path, int flags, mode_t mode) {
    if ((flags & O_DIRECTORY) && fs::path(path) == victim && !fs::exists(elsewhere)) {
      fs::rename(victim, elsewhere);
      fs::create_directory(victim);
    }
    return sys::real_hooks().openat(dirfd, path, flags, mode);
  };
  tree_options o;
  o.jobs = 1;
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, o, rec.observer());
  ASSERT_EQ(s.errors, 1u) << rec.error_text();
  EXPECT_EQ(rec.errors[0].code, make_error_code(errc::directory_changed));
  EXPECT_EQ(rec.errors[0].path, src_ / "a");
  EXPECT_TRUE(same_bytes(contents_["b/two"], read_file(dst_ / "b" / "two")));
  EXPECT_FALSE(fs::exists(dst_ / "a" / "one"));
}

// cp /dev/null FILE makes an empty file, as GNU cp does: a device named without -R is read.
TEST_F(TreeCopy, DevNullSourceMakesAnEmptyFile) {
  fs::create_directories(dst_);
  write_file(dst_ / "f", random_bytes(5000, seed_));
  tree_options o;
  o.recursive = false;
  recorder rec;
  const tree_summary s = copy_tree("/dev/null", dst_ / "f", o, rec.observer());
  ASSERT_EQ(s.errors, 0u) << rec.error_text();
  EXPECT_EQ(s.files, 1u);
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dst_ / "f")));
  EXPECT_EQ(fs::file_size(dst_ / "f"), 0u);
}

// A FIFO named without -R is read to its end (its writer closing), then the copy gets its name.
TEST_F(TreeCopy, FifoSourceIsReadToItsEnd) {
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto bytes = random_bytes((2 << 20) + 333, seed_ + 9);
  test::fifo_writer writer(fifo, bytes);
  tree_options o;
  o.recursive = false;
  recorder rec;
  const tree_summary s = copy_tree(fifo, dir_ / "dest", o, rec.observer());
  EXPECT_TRUE(writer.finish());
  ASSERT_EQ(s.errors, 0u) << rec.error_text();
  EXPECT_TRUE(same_bytes(bytes, read_file(dir_ / "dest")));
  EXPECT_EQ(s.bytes, bytes.size());
}

// A symlink to a directory that stands in DEST where the source has a directory is not merged
// into (cp: "cannot overwrite non-directory with directory"): nothing lands where it points, and
// under -a that directory keeps its own mode. The rest of the tree is copied.
TEST_F(TreeCopy, ASymlinkToADirectoryInDestIsNotEntered) {
  fs::create_directories(src_ / "sub");
  file("sub/planted", 1000);
  file("other", 2000);
  const fs::path outside = dir_ / "outside";
  fs::create_directories(outside);
  ::chmod(outside.c_str(), 0751);
  ::chmod((src_ / "sub").c_str(), 0700);
  fs::create_directories(dst_);
  fs::create_symlink(outside, dst_ / "sub");
  recorder rec;
  tree_options o = archive();
  const tree_summary s = copy_tree(src_ / ".", dst_ / ".", o, rec.observer());
  ASSERT_EQ(s.errors, 1u) << rec.error_text();
  EXPECT_EQ(rec.errors[0].code, make_error_code(errc::directory_over_non_directory));
  EXPECT_EQ(rec.errors[0].code, std::errc::not_a_directory);
  EXPECT_TRUE(fs::is_empty(outside));
  EXPECT_EQ(lstat_of(outside).st_mode & 07777, 0751u);
  EXPECT_TRUE(same_bytes(contents_["other"], read_file(dst_ / "other")));
}

// A directory of DEST swapped for a symlink after the copy made it (by someone who can write in
// DEST) is neither filled nor given the source's metadata through the link: every directory of
// DEST is reached from the top without following symlinks.
TEST_F(TreeCopy, ADestDirectorySwappedForASymlinkIsNotWrittenThrough) {
  fs::create_directories(src_ / "sub" / "deeper");
  file("sub/planted", 1000);
  file("sub/deeper/more", 1000);
  file("other", 2000);
  const fs::path outside = dir_ / "outside";
  fs::create_directories(outside);
  ::chmod(outside.c_str(), 0751);
  ::chmod((src_ / "sub").c_str(), 0700);
  recorder rec;
  tree_options o = archive();
  o.jobs = 1;
  tree_observer observer = rec.observer();
  const auto record = observer.on_copied;
  observer.on_copied = [&](const fs::path& s, const fs::path& d, entry_kind kind,
                           const file_copy_result* f) {
    record(s, d, kind, f);
    if (kind == entry_kind::directory && d == dst_ / "sub") {
      fs::rename(d, dst_ / "sub.made");
      fs::create_symlink(outside, d);
    }
  };
  const tree_summary s = copy_tree(src_, dst_, o, observer);
  EXPECT_GE(s.errors, 1u);
  // The link is refused as a link (ELOOP) or as a non-directory (ENOTDIR: O_DIRECTORY with
  // O_NOFOLLOW on a link), each time the copy reaches for that directory.
  for (const auto& e : rec.errors) {
    EXPECT_TRUE(e.code == std::errc::too_many_symbolic_link_levels ||
                e.code == std::errc::not_a_directory)
        << e.message();
  }
  EXPECT_TRUE(fs::is_empty(outside));
  EXPECT_EQ(lstat_of(outside).st_mode & 07777, 0751u);
  EXPECT_TRUE(same_bytes(contents_["other"], read_file(dst_ / "other")));
}

// Regular files are known by their directory entry: each is opened and stat'ed through its
// descriptor, never looked up by name first, so the lookups do not grow with the files.
TEST_F(TreeCopy, RegularFilesAreNotLookedUpByName) {
  auto lookups_for = [&](int files, const fs::path& dest) {
    const fs::path from = dir_ / ("flat" + std::to_string(files));
    fs::create_directories(from);
    for (int i = 0; i < files; ++i) {
      write_file(from / ("f" + std::to_string(i)), random_bytes(3000, seed_ + i));
    }
    test::fault_scope faults;
    tree_options o = archive();
    o.jobs = 1;  // counts are per thread: the walk runs in this one
    recorder rec;
    const tree_summary s = copy_tree(from, dest, o, rec.observer());
    EXPECT_EQ(s.errors, 0u) << rec.error_text();
    EXPECT_EQ(s.files, static_cast<std::uint64_t>(files));
    for (int i = 0; i < files; ++i) {
      const std::string name = "f" + std::to_string(i);
      EXPECT_TRUE(same_bytes(read_file(from / name), read_file(dest / name))) << name;
    }
    return faults.calls(syscall_kind::fstatat);
  };
  EXPECT_EQ(lookups_for(3, dir_ / "out3"), lookups_for(12, dir_ / "out12"));
}

// A file replaced by a symlink after its directory was read is not followed under -a: the open
// refuses the link (O_NOFOLLOW) and the entry is copied as what it now is, a symlink; the file it
// points to is not read.
TEST_F(TreeCopy, AFileTurnedSymlinkAfterTheDirectoryWasReadIsCopiedAsTheLink) {
  fs::create_directories(src_);
  file("plain", 2000);
  file("victim", 2000);
  static fs::path victim, secret;
  victim = src_ / "victim";
  secret = dir_ / "secret";
  write_file(secret, random_bytes(5000, seed_ + 99));
  test::fault_scope faults;
  sys::hooks().openat = [](int dirfd, const char* path, int flags, mode_t mode) {
    if (std::string_view(path) == "victim" && fs::is_regular_file(fs::symlink_status(victim))) {
      fs::remove(victim);
      fs::create_symlink(secret, victim);
    }
    return sys::real_hooks().openat(dirfd, path, flags, mode);
  };
  tree_options o = archive();
  o.jobs = 1;
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, o, rec.observer());
  EXPECT_EQ(s.errors, 0u) << rec.error_text();
  EXPECT_TRUE(same_bytes(contents_["plain"], read_file(dst_ / "plain")));
  ASSERT_TRUE(fs::is_symlink(dst_ / "victim"));
  EXPECT_EQ(fs::read_symlink(dst_ / "victim"), secret);
  EXPECT_EQ(s.files, 1u);
  EXPECT_EQ(s.symlinks, 1u);
}

// -x: a directory on another filesystem is made but not entered; the rest of the tree is copied.
// The other filesystem is the syscall seam's: the directory's stat reports another device.
TEST_F(TreeCopy, OneFileSystemMakesButDoesNotEnterAnotherFilesystem) {
  fs::create_directories(src_ / "other" / "deeper");
  file("top", 3000);
  file("other/inside", 4000);
  file("other/deeper/more", 5000);
  // Without -x the same tree is copied whole, with the real devices (a faked one would also fail
  // the walk's check that the directory it opens is the one it saw).
  for (const bool stay : {true, false}) {
    SCOPED_TRACE(stay ? "one filesystem" : "every filesystem");
    test::fault_scope faults;
    if (stay) {
      sys::hooks().fstatat = [](int dirfd, const char* path, struct stat* st, int flags) {
        const int r = sys::real_hooks().fstatat(dirfd, path, st, flags);
        if (r == 0 && std::string_view(path) == "other") st->st_dev ^= 1;
        return r;
      };
    }
    const fs::path dest = dir_ / (stay ? "x" : "all");
    tree_options o = archive();
    o.one_file_system = stay;
    recorder rec;
    const tree_summary s = copy_tree(src_, dest, o, rec.observer());
    EXPECT_EQ(s.errors, 0u) << rec.error_text();
    EXPECT_TRUE(same_bytes(contents_["top"], read_file(dest / "top")));
    ASSERT_TRUE(fs::is_directory(dest / "other"));
    if (stay) {
      EXPECT_TRUE(fs::is_empty(dest / "other"));
      EXPECT_EQ(s.files, 1u);
    } else {
      expect_files_copied(dest);
      EXPECT_EQ(s.files, 3u);
    }
  }
}

// -l: files, symlinks and FIFOs become hard links to their sources (same inode), directories are
// made; an existing DEST is replaced (no temporary name left, also where DEST already is a link
// to the source), and -n keeps it.
TEST_F(TreeCopy, LinkFilesMakesHardLinksAndDirectories) {
  fs::create_directories(src_ / "sub");
  file("a", 3000);
  file("sub/b", 5000);
  fs::create_symlink("a", src_ / "sub" / "to-a");
  ASSERT_EQ(::mkfifo((src_ / "fifo").c_str(), 0644), 0);
  fs::create_directories(dst_ / "sub");
  write_file(dst_ / "a", random_bytes(10, seed_ + 50));          // replaced
  fs::create_hard_link(src_ / "sub" / "b", dst_ / "sub" / "b");  // already the link
  tree_options o = archive();
  o.link_files = true;
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, o, rec.observer());
  EXPECT_EQ(s.errors, 0u) << rec.error_text();
  EXPECT_EQ(s.hard_links, 4u);
  for (const char* rel : {"a", "sub/b", "sub/to-a", "fifo"}) {
    SCOPED_TRACE(rel);
    const struct stat from = lstat_of(src_ / rel), to = lstat_of(dst_ / rel);
    EXPECT_EQ(from.st_ino, to.st_ino);
    EXPECT_EQ(from.st_dev, to.st_dev);
  }
  EXPECT_NE(lstat_of(src_ / "sub").st_ino, lstat_of(dst_ / "sub").st_ino);
  for (const auto& e : fs::recursive_directory_iterator(dst_)) {
    EXPECT_EQ(e.path().filename().string().find(".zcopy-"), std::string::npos) << e.path();
  }

  const fs::path kept = dir_ / "kept";
  fs::create_directories(kept);
  write_file(kept / "a", random_bytes(10, seed_ + 51));
  const auto before = read_file(kept / "a");
  o.no_clobber = true;
  recorder again;
  const tree_summary n = copy_tree(src_, kept, o, again.observer());
  EXPECT_EQ(n.errors, 0u) << again.error_text();
  EXPECT_TRUE(same_bytes(before, read_file(kept / "a")));
  EXPECT_EQ(lstat_of(kept / "sub" / "b").st_ino, lstat_of(src_ / "sub" / "b").st_ino);
}

// -l and -s where DEST is a directory: refused as cp refuses a non-directory over a directory,
// the directory and what is in it left as they were.
TEST_F(TreeCopy, LinkOrSymlinkOverADirectoryIsRefused) {
  fs::create_directories(src_);
  file("a", 4000);
  fs::create_directories(dst_ / "a");
  const auto inside = random_bytes(300, seed_ + 60);
  write_file(dst_ / "a" / "keep", inside);
  for (const bool symbolic : {false, true}) {
    SCOPED_TRACE(symbolic ? "-s" : "-l");
    tree_options o;
    o.link_files = !symbolic;
    o.symlink_files = symbolic;
    recorder rec;
    const tree_summary s = copy_tree(src_ / "a", dst_ / "a", o, rec.observer());
    ASSERT_EQ(s.errors, 1u) << rec.error_text();
    EXPECT_EQ(rec.errors[0].code, make_error_code(errc::non_directory_over_directory));
    EXPECT_EQ(rec.errors[0].code, std::errc::is_a_directory);
    EXPECT_EQ(rec.errors[0].step, symbolic ? copy_step::create_symlink : copy_step::link);
    EXPECT_EQ(rec.errors[0].path, dst_ / "a");
    EXPECT_TRUE(fs::is_directory(fs::symlink_status(dst_ / "a")));
    EXPECT_TRUE(same_bytes(inside, read_file(dst_ / "a" / "keep")));
  }
  for (const auto& e : fs::directory_iterator(dst_)) {
    EXPECT_EQ(e.path().filename(), "a");
  }
}

// -s with a relative SOURCE makes a link that resolves from the link's directory: refused unless
// that is the current directory (cp's rule), nothing made.
TEST_F(TreeCopy, RelativeSymlinkOutsideTheCurrentDirectoryIsRefused) {
  fs::create_directories(src_);
  fs::create_directories(dst_);
  file("a", 100);
  const fs::path relative = fs::relative(src_ / "a", fs::current_path());
  ASSERT_TRUE(relative.is_relative()) << relative;
  ASSERT_NE(fs::canonical(dst_), fs::canonical(fs::current_path()));
  tree_options o;
  o.symlink_files = true;
  recorder rec;
  const tree_summary s = copy_tree(relative, dst_ / "link", o, rec.observer());
  ASSERT_EQ(s.errors, 1u) << rec.error_text();
  EXPECT_EQ(rec.errors[0].code, make_error_code(errc::relative_symlink_elsewhere));
  EXPECT_EQ(rec.errors[0].code, std::errc::invalid_argument);
  EXPECT_EQ(rec.errors[0].path, dst_ / "link");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dst_ / "link")));

  // An absolute SOURCE resolves from anywhere.
  recorder ok;
  const tree_summary t = copy_tree(src_ / "a", dst_ / "link", o, ok.observer());
  EXPECT_EQ(t.errors, 0u) << ok.error_text();
  EXPECT_TRUE(same_bytes(contents_["a"], read_file(dst_ / "link")));
}

// --backup never moves a directory aside: a symlink whose DEST is a directory fails as without
// backups ("Is a directory"), the directory stays where it was, and no "NAME~" appears; a file
// replaced beside it gets its backup.
TEST_F(TreeCopy, BackupLeavesADirectoryInThePath) {
  fs::create_directories(src_);
  fs::create_symlink("somewhere", src_ / "entry");
  file("plain", 2000);
  fs::create_directories(dst_ / "entry" / "inside");
  const auto old_plain = random_bytes(300, seed_ + 7);
  write_file(dst_ / "plain", old_plain);
  tree_options o = archive();
  o.file.backup = backup_mode::simple;
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, o, rec.observer());
  ASSERT_EQ(s.errors, 1u) << rec.error_text();
  EXPECT_EQ(rec.errors[0].path, dst_ / "entry");
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(dst_ / "entry" / "inside")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dst_ / "entry~")));
  EXPECT_TRUE(same_bytes(contents_["plain"], read_file(dst_ / "plain")));
  EXPECT_TRUE(same_bytes(old_plain, read_file(dst_ / "plain~")));
}

// An entry that fails is reported and the walk goes on to the others.
TEST_F(TreeCopy, ErrorsAreReportedAndTheWalkContinues) {
  fs::create_directories(src_ / "sub");
  file("good1", 1000);
  file("bad", 1000);
  file("sub/good2", 1000);
  test::fault_scope faults;
  sys::hooks().openat = [](int dirfd, const char* path, int flags, mode_t mode) {
    const std::string_view p(path);
    // The tree copy opens files by name in their open directory, so "bad" arrives alone.
    const bool bad = p == "bad" || (p.size() >= 4 && p.substr(p.size() - 4) == "/bad");
    if (bad && (flags & O_ACCMODE) == O_RDONLY && !(flags & O_DIRECTORY)) {
      errno = EACCES;
      return -1;
    }
    return sys::real_hooks().openat(dirfd, path, flags, mode);
  };
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, archive(), rec.observer());
  ASSERT_EQ(s.errors, 1u) << rec.error_text();
  EXPECT_EQ(rec.errors[0].code, std::errc::permission_denied);
  EXPECT_EQ(rec.errors[0].step, copy_step::open);
  EXPECT_EQ(rec.errors[0].path, src_ / "bad");
  EXPECT_EQ(s.files, 2u);
  EXPECT_TRUE(same_bytes(contents_["good1"], read_file(dst_ / "good1")));
  EXPECT_TRUE(same_bytes(contents_["sub/good2"], read_file(dst_ / "sub" / "good2")));
  EXPECT_FALSE(fs::exists(dst_ / "bad"));
}

// Out of space on one file: that file fails, the others are copied.
TEST_F(TreeCopy, NoSpaceOnOneFileFailsOnlyThatFile) {
  fs::create_directories(src_);
  for (int i = 0; i < 5; ++i) file("f" + std::to_string(i), 100'000);
  test::fault_scope faults;
  faults.copy_file_range({.error = ENOSPC, .nth = 3});
  tree_options o = archive();
  o.jobs = 1;  // one thread: the third call belongs to exactly one file
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, o, rec.observer());
  ASSERT_EQ(s.errors, 1u) << rec.error_text();
  EXPECT_EQ(rec.errors[0].code, std::errc::no_space_on_device);
  EXPECT_EQ(s.files, 4u);
  for (const auto& e : fs::directory_iterator(dst_)) {
    EXPECT_EQ(e.path().filename().string().find(".zcopy-"), std::string::npos) << e.path();
  }
}

// Many files through the pool: all of them, whatever the number of threads.
TEST_F(TreeCopy, ManyFilesThroughThePool) {
  fs::create_directories(src_ / "x" / "y");
  for (int i = 0; i < 60; ++i) {
    const char* sub = i % 3 == 0 ? "" : i % 3 == 1 ? "x/" : "x/y/";
    file(std::string(sub) + "file" + std::to_string(i), 1000 + static_cast<std::size_t>(i) * 37);
  }
  for (unsigned jobs : {1u, 4u, 0u}) {
    SCOPED_TRACE(jobs);
    tree_options o;
    o.jobs = jobs;
    const fs::path dest = dir_ / ("dst" + std::to_string(jobs));
    recorder rec;
    const tree_summary s = copy_tree(src_, dest, o, rec.observer());
    EXPECT_EQ(s.errors, 0u) << rec.error_text();
    EXPECT_EQ(s.files, 60u);
    EXPECT_EQ(s.directories, 3u);
    expect_files_copied(dest);
  }
}

// A single file, and a directory without `recursive`.
TEST_F(TreeCopy, SingleFileAndNonRecursiveDirectory) {
  fs::create_directories(src_);
  file("one", 12'345);
  recorder rec;
  tree_summary s = copy_tree(src_ / "one", dir_ / "copy", {}, rec.observer());
  EXPECT_EQ(s.files, 1u);
  EXPECT_TRUE(same_bytes(contents_["one"], read_file(dir_ / "copy")));

  tree_options o;
  o.recursive = false;
  s = copy_tree(src_, dst_, o, rec.observer());
  EXPECT_EQ(s.errors, 1u);
  EXPECT_EQ(rec.errors.back().code, std::errc::is_a_directory);
  EXPECT_EQ(rec.errors.back().code, make_error_code(errc::directory_omitted));
  EXPECT_EQ(rec.errors.back().path, src_);
  EXPECT_FALSE(fs::exists(dst_));
}

// A stop requested before the walk ends it with one cancellation error.
TEST_F(TreeCopy, StopEndsTheWalk) {
  fs::create_directories(src_);
  file("a", 100);
  std::stop_source stop;
  stop.request_stop();
  tree_options o;
  o.file.stop = stop.get_token();
  recorder rec;
  const tree_summary s = copy_tree(src_, dst_, o, rec.observer());
  EXPECT_EQ(s.files, 0u);
  ASSERT_EQ(s.errors, 1u) << rec.error_text();
  EXPECT_EQ(rec.errors[0].code, errc::cancelled);
}

// An entry copied onto itself is refused before anything is written: the same name, a hard
// link, a symlink to it when symlinks are followed, and with -P a symlink onto the file it names.
TEST_F(TreeCopy, CopyingAnEntryOntoItselfIsRefused) {
  fs::create_directories(src_);
  file("f", 4099);
  ASSERT_EQ(::link((src_ / "f").c_str(), (dir_ / "hard").c_str()), 0);
  ASSERT_EQ(::symlink((src_ / "f").c_str(), (dir_ / "soft").c_str()), 0);
  struct attempt {
    fs::path source;
    fs::path dest;
    bool as_links;
  };
  for (const auto& [source, dest, as_links] :
       {attempt{src_ / "f", src_ / "f", false}, attempt{src_ / "f", dir_ / "hard", false},
        attempt{src_ / "f", dir_ / "soft", false}, attempt{dir_ / "soft", src_ / "f", true}}) {
    SCOPED_TRACE(source.string() + " -> " + dest.string());
    tree_options o;
    o.symlinks_as_links = as_links;
    recorder rec;
    const tree_summary s = copy_tree(source, dest, o, rec.observer());
    ASSERT_EQ(s.errors, 1u) << rec.error_text();
    EXPECT_EQ(rec.errors[0].code, make_error_code(errc::same_file));
    EXPECT_EQ(s.files + s.symlinks, 0u);
    EXPECT_TRUE(same_bytes(contents_["f"], read_file(src_ / "f")));
  }
  EXPECT_TRUE(fs::is_symlink(dir_ / "soft"));
}

// --parents: SOURCE lands at DIRECTORY/SOURCE; the directories between are made with their
// source directories' modes (applied after the copy, so a read-only one can still be filled) and
// times.
TEST_F(TreeCopy, ParentsMakesTheDirectoriesBetween) {
  fs::create_directories(src_ / "a" / "b");
  file("a/b/f", 70001);
  ::chmod((src_ / "a" / "b").c_str(), 0550);
  ::chmod((src_ / "a").c_str(), 0751);
  fs::create_directories(dst_);
  tree_options o = archive();
  o.parents = true;
  recorder rec;
  const fs::path source = src_ / "a" / "b" / "f";
  const tree_summary s = copy_tree(source, dst_, o, rec.observer());
  ::chmod((src_ / "a" / "b").c_str(), 0750);
  ASSERT_EQ(s.errors, 0u) << rec.error_text();
  const fs::path landed = dst_ / source.relative_path();
  EXPECT_TRUE(same_bytes(contents_["a/b/f"], read_file(landed)));
  EXPECT_EQ(lstat_of(landed.parent_path()).st_mode & 07777, 0550u);
  EXPECT_EQ(lstat_of(landed.parent_path().parent_path()).st_mode & 07777, 0751u);
  const auto times = lstat_of(src_ / "a").st_mtim;
  const auto copied = lstat_of(landed.parent_path().parent_path()).st_mtim;
  EXPECT_EQ(copied.tv_sec, times.tv_sec);
  EXPECT_EQ(copied.tv_nsec, times.tv_nsec);
  ::chmod(landed.parent_path().c_str(), 0750);
}

// A ".." in SOURCE would put the copy outside DIRECTORY; a symlink planted in DIRECTORY where a
// parent belongs is not followed. Neither writes anything.
TEST_F(TreeCopy, ParentsStaysInsideTheDirectory) {
  fs::create_directories(src_ / "a");
  file("a/f", 1000);
  fs::create_directories(dst_);
  fs::create_directories(dir_ / "outside");
  tree_options o;
  o.parents = true;
  {
    recorder rec;
    const tree_summary s = copy_tree(src_ / ".." / "src" / "a" / "f", dst_, o, rec.observer());
    ASSERT_EQ(s.errors, 1u) << rec.error_text();
    EXPECT_EQ(rec.errors[0].code, make_error_code(errc::outside_directory));
  }
  // DIRECTORY/<first component of SOURCE> is a symlink to a directory outside.
  const fs::path source = src_ / "a" / "f";
  const fs::path first = *source.relative_path().begin();
  ASSERT_EQ(::symlink((dir_ / "outside").c_str(), (dst_ / first).c_str()), 0);
  recorder rec;
  const tree_summary s = copy_tree(source, dst_, o, rec.observer());
  EXPECT_EQ(s.errors, 1u) << rec.error_text();
  EXPECT_EQ(s.files, 0u);
  EXPECT_TRUE(fs::is_empty(dir_ / "outside"));
}

}  // namespace
}  // namespace zcopy
