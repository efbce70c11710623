// zcopy::copy_file(): bytes, atomic replacement, same-file refusal, every failure path through the
// syscall seam (DEST untouched, no temporary file left), cancellation, sparse modes, metadata,
// parallel ranges and reflink modes.
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <set>
#include <stop_token>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "copy/internal.hpp"
#include "support/test_support.hpp"
#include "sys/sys.hpp"
#include "zcopy/copy.hpp"
#include "zcopy/error.hpp"
#include "zcopy/fd.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy {
namespace {

namespace fs = std::filesystem;
using test::random_bytes;
using test::read_file;
using test::same_bytes;
using test::write_file;

constexpr std::uint64_t mib = 1 << 20;

// The names in a directory: what a failed copy must leave behind is exactly what was there.
std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// Data extents as SEEK_DATA/SEEK_HOLE report them.
std::vector<std::pair<off_t, off_t>> data_map(const fs::path& path) {
  unique_fd fd = test::open_or_die(path, O_RDONLY);
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  std::vector<std::pair<off_t, off_t>> out;
  off_t at = 0;
  while (at < size) {
    const off_t data = ::lseek(fd.get(), at, SEEK_DATA);
    if (data < 0) break;  // ENXIO: hole to the end
    off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
    if (hole < 0) hole = size;
    out.emplace_back(data, hole);
    at = hole;
  }
  return out;
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) throw std::system_error(errno, std::system_category(), p);
  return st;
}

mode_t current_umask() {
  const mode_t m = ::umask(022);
  ::umask(m);
  return m;
}

// openat for a filesystem without O_TMPFILE: copies take the named temporary file.
int openat_without_tmpfile(int dirfd, const char* path, int flags, mode_t mode) {
  if ((flags & O_TMPFILE) == O_TMPFILE) {
    errno = EOPNOTSUPP;
    return -1;
  }
  return sys::real_hooks().openat(dirfd, path, flags, mode);
}

class FileCopy : public ::testing::Test {
 protected:
  void SetUp() override { SCOPED_TRACE(::testing::Message() << "seed " << seed_); }

  fs::path make(const std::string& name, std::size_t size, std::uint64_t salt = 0) {
    data_[name] = random_bytes(size, seed_ + salt);
    write_file(dir_ / name, data_[name]);
    return dir_ / name;
  }

  test::temp_dir dir_;
  std::uint64_t seed_ = test::test_seed();
  std::map<std::string, std::vector<std::byte>> data_;
};

// The basic promise: the bytes arrive, and the result says how.
TEST_F(FileCopy, CopiesBytesAndReportsThem) {
  const fs::path src = make("src", mib + 17);
  auto r = zcopy::copy_file(src, dir_ / "dest");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
  EXPECT_EQ(r->size, mib + 17);
  EXPECT_EQ(r->bytes, mib + 17);
  EXPECT_EQ(r->ranges, 1u);
  EXPECT_NE(r->used, method::automatic);
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
}

// An empty source gives an empty DEST.
TEST_F(FileCopy, CopiesAnEmptyFile) {
  write_file(dir_ / "src", {});
  auto r = zcopy::copy_file(dir_ / "src", dir_ / "dest");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(fs::file_size(dir_ / "dest"), 0u);
  EXPECT_EQ(r->bytes, 0u);
}

// Replacing DEST gives it a new inode: another hard link to the old DEST keeps the old bytes.
TEST_F(FileCopy, ReplacesExistingDestAtomically) {
  const fs::path src = make("src", 300'000);
  make("dest", 5000, 1);
  ASSERT_EQ(::link((dir_ / "dest").c_str(), (dir_ / "old").c_str()), 0);
  const ino_t old_inode = stat_of(dir_ / "dest").st_ino;
  auto r = zcopy::copy_file(src, dir_ / "dest");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
  EXPECT_TRUE(same_bytes(data_["dest"], read_file(dir_ / "old")));
  EXPECT_NE(stat_of(dir_ / "dest").st_ino, old_inode);
}

// A backup is a second name of the old DEST made before the rename: where the filesystem refuses
// hard links (injected EPERM), the old DEST is renamed to the backup name instead; a backup that
// cannot be made at all (injected EIO) fails the copy with DEST as it was and no temporary name.
TEST_F(FileCopy, BackupFallsBackToARenameAndFailsCleanly) {
  const fs::path src = make("src", 100'000);
  copy_options o;
  o.backup = backup_mode::simple;
  for (const int error : {EPERM, EIO}) {
    SCOPED_TRACE(error);
    const std::string name = error == EPERM ? "dest" : "other";
    make(name, 3000, static_cast<std::uint64_t>(error));
    const auto before = names_in(dir_.path());
    test::fault_scope faults;
    static int injected;
    injected = error;
    sys::hooks().linkat = [](int, const char*, int, const char*, int) {
      errno = injected;
      return -1;
    };
    auto r = zcopy::copy_file(src, dir_ / name, o);
    if (error == EPERM) {
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / name)));
      EXPECT_TRUE(same_bytes(data_[name], read_file(dir_ / (name + "~"))));
    } else {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, std::errc::io_error);
      EXPECT_EQ(r.error().step, copy_step::backup);
      EXPECT_TRUE(same_bytes(data_[name], read_file(dir_ / name)));
      EXPECT_EQ(names_in(dir_.path()), before);
    }
  }
}

// copy_tree skips the lookup of DEST in directories it made itself (dest_absent). A DEST that
// appears there anyway (another process) is not lost or clobbered by a half-copy: linkat refuses
// the name, and the copy replaces it whole (or keeps it under -n), as for any existing DEST.
TEST_F(FileCopy, DestAbsentButPresentIsReplacedWholeOrKept) {
  const fs::path src = make("src", 200'000);
  for (bool no_replace : {false, true}) {
    SCOPED_TRACE(no_replace ? "-n" : "replace");
    make("dest", 3000, 7);
    unique_fd src_dir = test::open_or_die(dir_.path(), O_RDONLY | O_DIRECTORY);
    auto r = detail::copy_file_at(src_dir.get(), "src", src_dir.get(), "dest", src, dir_ / "dest",
                                  copy_options{}, {.no_replace = no_replace, .dest_absent = true});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(std::holds_alternative<detail::kept_existing>(*r), no_replace);
    EXPECT_TRUE(same_bytes(no_replace ? data_["dest"] : data_["src"], read_file(dir_ / "dest")));
    EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
  }
}

// A DEST that is a symlink (here a chain of two, one relative, in another directory) is written
// through as cp does: the links stay links and the final target gets the bytes. A dangling DEST
// symlink is refused and left as it was.
TEST_F(FileCopy, WritesThroughADestSymlinkAndRefusesADanglingOne) {
  const fs::path src = make("src", 70'000);
  fs::create_directories(dir_ / "t");
  make("t/target", 100, 1);
  fs::create_symlink("t/target", dir_ / "hop");
  fs::create_symlink(dir_ / "hop", dir_ / "link");
  auto r = zcopy::copy_file(src, dir_ / "link");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(fs::is_symlink(dir_ / "link"));
  EXPECT_TRUE(fs::is_symlink(dir_ / "hop"));
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "t" / "target")));
  EXPECT_EQ(names_in(dir_ / "t"), (std::set<std::string>{"target"}));

  fs::create_symlink(dir_ / "missing", dir_ / "dangling");
  auto d = zcopy::copy_file(src, dir_ / "dangling");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, make_error_code(errc::dangling_symlink));
  EXPECT_TRUE(fs::is_symlink(dir_ / "dangling"));
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
}

// Without preserve.mode an existing DEST keeps its mode (cp's rule); a new one gets the source's
// masked by the umask.
TEST_F(FileCopy, ModeOfExistingAndNewDest) {
  const fs::path src = make("src", 1000);
  ASSERT_EQ(::chmod(src.c_str(), 0777), 0);
  make("existing", 10, 1);
  ASSERT_EQ(::chmod((dir_ / "existing").c_str(), 0640), 0);
  ASSERT_TRUE(zcopy::copy_file(src, dir_ / "existing"));
  EXPECT_EQ(stat_of(dir_ / "existing").st_mode & 07777, 0640u);
  ASSERT_TRUE(zcopy::copy_file(src, dir_ / "new"));
  EXPECT_EQ(stat_of(dir_ / "new").st_mode & 07777, 0777u & ~current_umask());
}

// preserve.mode and preserve.timestamps carry the bits and both times to the nanosecond.
TEST_F(FileCopy, PreservesModeAndTimesWithNanoseconds) {
  const fs::path src = make("src", 70'000);
  ASSERT_EQ(::chmod(src.c_str(), 0751), 0);
  const timespec times[2] = {{1'600'000'000, 123'456'789}, {1'500'000'000, 987'654'321}};
  ASSERT_EQ(::utimensat(AT_FDCWD, src.c_str(), times, 0), 0);
  copy_options o;
  o.preserve = {.mode = true, .ownership = true, .timestamps = true};
  auto r = zcopy::copy_file(src, dir_ / "dest", o);
  ASSERT_TRUE(r) << r.error().message();
  const struct stat st = stat_of(dir_ / "dest");
  EXPECT_EQ(st.st_mode & 07777, 0751u);
  EXPECT_EQ(st.st_atim.tv_sec, times[0].tv_sec);
  EXPECT_EQ(st.st_atim.tv_nsec, times[0].tv_nsec);
  EXPECT_EQ(st.st_mtim.tv_sec, times[1].tv_sec);
  EXPECT_EQ(st.st_mtim.tv_nsec, times[1].tv_nsec);
  EXPECT_EQ(st.st_uid, stat_of(src).st_uid);
}

// DEST that is the source under another name (hard link, symlink) is refused, untouched.
TEST_F(FileCopy, RefusesTheSameFileThroughLinks) {
  const fs::path src = make("src", 4096);
  ASSERT_EQ(::link(src.c_str(), (dir_ / "hard").c_str()), 0);
  ASSERT_EQ(::symlink(src.c_str(), (dir_ / "soft").c_str()), 0);
  for (const char* name : {"src", "hard", "soft"}) {
    SCOPED_TRACE(name);
    auto r = zcopy::copy_file(src, dir_ / name);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::invalid_argument);
    EXPECT_EQ(r.error().code, make_error_code(errc::same_file));
  }
  EXPECT_TRUE(same_bytes(data_["src"], read_file(src)));
  EXPECT_TRUE(fs::is_symlink(dir_ / "soft"));
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "hard", "soft"}));
}

// A directory is neither a source nor a DEST to overwrite.
TEST_F(FileCopy, RefusesDirectories) {
  const fs::path src = make("src", 100);
  fs::create_directory(dir_ / "d");
  auto into_dir = zcopy::copy_file(src, dir_ / "d");
  ASSERT_FALSE(into_dir);
  EXPECT_EQ(into_dir.error().code, std::errc::is_a_directory);
  EXPECT_EQ(into_dir.error().code, make_error_code(errc::non_directory_over_directory));
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(dir_ / "d")));
  auto from_dir = zcopy::copy_file(dir_ / "d", dir_ / "x");
  ASSERT_FALSE(from_dir);
  EXPECT_EQ(from_dir.error().code, std::errc::is_a_directory);
  EXPECT_FALSE(fs::exists(dir_ / "x"));
}

// A FIFO given as the source is refused without blocking on it.
TEST_F(FileCopy, RefusesAFifoWithoutOpeningItForReading) {
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0644), 0);
  auto r = zcopy::copy_file(dir_ / "fifo", dir_ / "dest");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::operation_not_supported);
  EXPECT_EQ(r.error().code, make_error_code(errc::special_file_refused));
  EXPECT_FALSE(fs::exists(dir_ / "dest"));
}

// A name at NAME_MAX still gets a temporary name beside it (shortened to fit).
TEST_F(FileCopy, LongNamesFitTheTemporaryName) {
  const fs::path src = make("src", 10'000);
  const std::string long_name(255, 'n');
  auto r = zcopy::copy_file(src, dir_ / long_name);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / long_name)));
}

// ENOSPC in the middle of the data, whatever the method: DEST keeps its old bytes, and the
// temporary file is gone.
TEST_F(FileCopy, NoSpaceMidCopyLeavesDestAndNoTemporary) {
  const fs::path src = make("src", mib);
  make("dest", 3000, 1);
  const test::fault no_space{.error = ENOSPC, .nth = 2, .repeat = true, .short_before = 64 * 1024};
  for (method use : {method::automatic, method::copy_file_range, method::read_write}) {
    SCOPED_TRACE(to_string(use));
    test::fault_scope faults;
    faults.copy_file_range(no_space);
    faults.write(no_space);
    faults.pwrite(no_space);
    copy_options o;
    o.use = use;
    auto r = zcopy::copy_file(src, dir_ / "dest", o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::no_space_on_device);
    EXPECT_EQ(r.error().step, copy_step::copy);
    EXPECT_EQ(r.error().path, dir_ / "dest");
    EXPECT_TRUE(same_bytes(data_["dest"], read_file(dir_ / "dest")));
    EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
  }
}

// The source is written while it is copied: the copy fails with source_changed (DEST could mix
// two versions), DEST stays as it was and no temporary is left. The write appends a byte, so the
// change shows in the size as well as in mtime and ctime, whatever the clock's granularity.
TEST_F(FileCopy, SourceWrittenDuringTheCopyIsAnError) {
  const fs::path src = make("src", 3 * mib);
  make("dest", 3000, 1);
  copy_options o;
  bool written = false;
  o.on_progress = [&](std::uint64_t) {
    if (std::exchange(written, true)) return;
    unique_fd fd(::open(src.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::write(fd.get(), "x", 1), 1);
  };
  auto r = zcopy::copy_file(src, dir_ / "dest", o);
  ASSERT_TRUE(written);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, make_error_code(errc::source_changed));
  EXPECT_EQ(r.error().path, src);
  EXPECT_TRUE(same_bytes(data_["dest"], read_file(dir_ / "dest")));
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
}

// EACCES opening the source: nothing is created.
TEST_F(FileCopy, OpenFailureNamesTheSource) {
  const fs::path src = make("src", 1000);
  test::fault_scope faults;
  faults.openat({.error = EACCES});
  auto r = zcopy::copy_file(src, dir_ / "dest");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::permission_denied);
  EXPECT_EQ(r.error().step, copy_step::open);
  EXPECT_EQ(r.error().path, src);
  EXPECT_EQ(r.error().message(), "open '" + src.string() + "': Permission denied");
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src"}));
}

// The rename itself fails: the complete temporary copy is removed, DEST is as it was.
TEST_F(FileCopy, RenameFailureRemovesTheTemporary) {
  const fs::path src = make("src", 200'000);
  make("dest", 100, 1);
  test::fault_scope faults;  // restores the table on exit
  sys::hooks().renameat2 = [](int, const char*, int, const char*, unsigned) {
    errno = EIO;
    return -1;
  };
  auto r = zcopy::copy_file(src, dir_ / "dest");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::io_error);
  EXPECT_EQ(r.error().step, copy_step::rename);
  EXPECT_TRUE(same_bytes(data_["dest"], read_file(dir_ / "dest")));
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
}

// A new DEST is made from an unnamed file (O_TMPFILE) given its name with linkat: no rename at
// all (a rename that would fail changes nothing), and nothing else appears in the directory.
TEST_F(FileCopy, NewDestIsLinkedInWithoutARename) {
  const fs::path src = make("src", 300'000);
  test::fault_scope faults;
  sys::hooks().renameat2 = [](int, const char*, int, const char*, unsigned) {
    errno = EIO;
    return -1;
  };
  auto r = zcopy::copy_file(src, dir_ / "dest");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
}

// The link fails: the unnamed copy vanishes with its descriptor, no DEST, nothing left.
TEST_F(FileCopy, LinkFailureLeavesNothing) {
  const fs::path src = make("src", 300'000);
  test::fault_scope faults;
  sys::hooks().linkat = [](int, const char*, int, const char*, int) {
    errno = ENOSPC;
    return -1;
  };
  auto r = zcopy::copy_file(src, dir_ / "dest");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::no_space_on_device);
  EXPECT_EQ(r.error().step, copy_step::link);
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src"}));
}

// DEST created by someone else between the check and the link: linkat says EEXIST, and the copy
// replaces it the way it replaces any existing DEST (temporary name, rename).
TEST_F(FileCopy, DestAppearingBeforeTheLinkIsReplaced) {
  const fs::path src = make("src", 300'000);
  static fs::path racer;
  racer = dir_ / "dest";
  test::fault_scope faults;
  sys::hooks().linkat = [](int olddir, const char* oldpath, int newdir, const char* newpath,
                           int flags) {
    if (std::string_view(newpath) == "dest" && !fs::exists(racer)) {
      test::write_file(racer, random_bytes(100, 7));
    }
    return sys::real_hooks().linkat(olddir, oldpath, newdir, newpath, flags);
  };
  auto r = zcopy::copy_file(src, dir_ / "dest");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
}

// A filesystem without O_TMPFILE: the named temporary file and rename; a failing rename still
// removes it.
TEST_F(FileCopy, WithoutUnnamedFilesANamedTemporaryIsUsed) {
  const fs::path src = make("src", 300'000);
  test::fault_scope faults;
  sys::hooks().openat = openat_without_tmpfile;
  auto r = zcopy::copy_file(src, dir_ / "dest");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));

  sys::hooks().renameat2 = [](int, const char*, int, const char*, unsigned) {
    errno = EIO;
    return -1;
  };
  auto failed = zcopy::copy_file(src, dir_ / "other");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().step, copy_step::rename);
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
}

// -n with the named temporary file: a DEST that appears before the rename is kept, whether the
// filesystem refuses it with RENAME_NOREPLACE (EEXIST) or has no RENAME_NOREPLACE (EINVAL: a
// look, then a plain rename). Where nothing appeared, the copy gets the name. The temporary file
// is gone in every case.
TEST_F(FileCopy, NoReplaceKeepsADestThatAppearsBeforeTheRename) {
  const fs::path src = make("src", 150'000);
  static bool noreplace_supported;
  static fs::path racer;
  test::fault_scope faults;
  sys::hooks().openat = openat_without_tmpfile;
  sys::hooks().renameat2 = [](int olddir, const char* from, int newdir, const char* to,
                              unsigned flags) {
    if (!racer.empty() && !fs::exists(racer)) test::write_file(racer, random_bytes(100, 9));
    if ((flags & RENAME_NOREPLACE) != 0 && !noreplace_supported) {
      errno = EINVAL;
      return -1;
    }
    return sys::real_hooks().renameat2(olddir, from, newdir, to, flags);
  };
  unique_fd dir = test::open_or_die(dir_.path(), O_RDONLY | O_DIRECTORY);
  for (const bool supported : {true, false}) {
    SCOPED_TRACE(supported ? "RENAME_NOREPLACE" : "no RENAME_NOREPLACE");
    noreplace_supported = supported;
    racer = dir_ / "dest";
    auto kept = detail::copy_file_at(dir.get(), "src", dir.get(), "dest", src, dir_ / "dest",
                                     copy_options{}, {.no_replace = true, .dest_absent = true});
    ASSERT_TRUE(kept) << kept.error().message();
    EXPECT_TRUE(std::holds_alternative<detail::kept_existing>(*kept));
    EXPECT_TRUE(same_bytes(random_bytes(100, 9), read_file(dir_ / "dest")));
    EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
    fs::remove(dir_ / "dest");

    racer.clear();
    auto copied = detail::copy_file_at(dir.get(), "src", dir.get(), "dest", src, dir_ / "dest",
                                       copy_options{}, {.no_replace = true, .dest_absent = true});
    ASSERT_TRUE(copied) << copied.error().message();
    ASSERT_TRUE(std::holds_alternative<file_copy_result>(*copied));
    EXPECT_EQ(std::get<file_copy_result>(*copied).bytes, 150'000u);
    EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
    EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
    fs::remove(dir_ / "dest");
  }
}

// Closing the linked copy fails (a delayed write error): the name it was given is taken back.
TEST_F(FileCopy, CloseFailureAfterTheLinkRemovesDest) {
  const fs::path src = make("src", 300'000);
  test::fault_scope faults;
  static bool linked;
  linked = false;
  sys::hooks().linkat = [](int olddir, const char* oldpath, int newdir, const char* newpath,
                           int flags) {
    const int r = sys::real_hooks().linkat(olddir, oldpath, newdir, newpath, flags);
    linked = r == 0;
    return r;
  };
  sys::hooks().close = [](int fd) {
    const int r = sys::real_hooks().close(fd);
    if (linked) {
      linked = false;
      errno = EIO;
      return -1;
    }
    return r;
  };
  auto r = zcopy::copy_file(src, dir_ / "dest");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::io_error);
  EXPECT_EQ(r.error().step, copy_step::close);
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src"}));
}

// A stop requested during the copy ends it with errc::cancelled: no DEST, no temporary.
TEST_F(FileCopy, CancellationLeavesNothing) {
  const fs::path src = make("src", 20 * mib);
  std::stop_source stop;
  copy_options o;
  o.stop = stop.get_token();
  o.on_progress = [&](std::uint64_t) { stop.request_stop(); };
  auto r = zcopy::copy_file(src, dir_ / "dest", o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::cancelled);
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src"}));

  // Already stopped: nothing is even opened.
  auto again = zcopy::copy_file(src, dir_ / "dest", o);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, errc::cancelled);
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src"}));
}

// fsync around the rename changes nothing visible.
TEST_F(FileCopy, FsyncOption) {
  const fs::path src = make("src", 50'000);
  copy_options o;
  o.fsync = true;
  ASSERT_TRUE(zcopy::copy_file(src, dir_ / "dest", o));
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
}

class SparseCopy : public FileCopy {
 protected:
  // 1 MiB data, 2 MiB hole, 1 MiB data, 2 MiB trailing hole.
  void SetUp() override {
    FileCopy::SetUp();
    src_ = dir_ / "sparse";
    unique_fd fd = test::open_or_die(src_, O_WRONLY | O_CREAT | O_TRUNC);
    expected_.assign(6 * mib, std::byte{0});
    auto a = random_bytes(mib, seed_);
    auto b = random_bytes(mib, seed_ + 1);
    std::copy(a.begin(), a.end(), expected_.begin());
    std::copy(b.begin(), b.end(), expected_.begin() + 3 * mib);
    ASSERT_EQ(::pwrite(fd.get(), a.data(), a.size(), 0), static_cast<ssize_t>(mib));
    ASSERT_EQ(::pwrite(fd.get(), b.data(), b.size(), 3 * mib), static_cast<ssize_t>(mib));
    ASSERT_EQ(::ftruncate(fd.get(), 6 * mib), 0);
    ASSERT_EQ(::fsync(fd.get()), 0);
    if (data_map(src_).size() != 2) GTEST_SKIP() << "this filesystem does not report holes";
  }
  fs::path src_;
  std::vector<std::byte> expected_;
};

// automatic: the holes are where the source has them, and are not counted as bytes.
TEST_F(SparseCopy, AutomaticKeepsHoles) {
  auto r = zcopy::copy_file(src_, dir_ / "dest");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(expected_, read_file(dir_ / "dest")));
  EXPECT_EQ(data_map(dir_ / "dest"), data_map(src_));
  EXPECT_EQ(r->bytes, 2 * mib);
  EXPECT_EQ(r->size, 6 * mib);
}

// never: every byte written, so no holes at all.
TEST_F(SparseCopy, NeverWritesEveryByte) {
  copy_options o;
  o.sparse = sparse_mode::never;
  o.reflink = reflink_mode::never;
  auto r = zcopy::copy_file(src_, dir_ / "dest", o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(expected_, read_file(dir_ / "dest")));
  const auto map = data_map(dir_ / "dest");
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(map[0], (std::pair<off_t, off_t>{0, static_cast<off_t>(6 * mib)}));
}

// always: whole zero blocks written as data in the source become holes too.
TEST_F(SparseCopy, AlwaysTurnsZeroBlocksIntoHoles) {
  // A fully allocated source: data, 64 KiB of written zeros, data, then 8 KiB of zeros.
  const fs::path src = dir_ / "dense";
  std::vector<std::byte> bytes = random_bytes(300 * 1024, seed_);
  std::fill(bytes.begin() + 128 * 1024, bytes.begin() + 192 * 1024, std::byte{0});
  std::fill(bytes.end() - 8 * 1024, bytes.end(), std::byte{0});
  write_file(src, bytes);
  ASSERT_EQ(data_map(src).size(), 1u);

  copy_options o;
  o.sparse = sparse_mode::always;
  auto r = zcopy::copy_file(src, dir_ / "dest", o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(bytes, read_file(dir_ / "dest")));
  const auto map = data_map(dir_ / "dest");
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[0], (std::pair<off_t, off_t>{0, 128 * 1024}));
  EXPECT_EQ(map[1], (std::pair<off_t, off_t>{192 * 1024, 292 * 1024}));
  EXPECT_EQ(r->bytes, 228u * 1024);
  EXPECT_EQ(r->used, method::read_write);

  // And the source's own holes stay holes.
  auto sparse = zcopy::copy_file(src_, dir_ / "dest2", o);
  ASSERT_TRUE(sparse) << sparse.error().message();
  EXPECT_TRUE(same_bytes(expected_, read_file(dir_ / "dest2")));
  EXPECT_EQ(data_map(dir_ / "dest2"), data_map(src_));
}

// always: a failing pwrite fails the copy, DEST untouched, no temporary.
TEST_F(SparseCopy, AlwaysWriteFailureLeavesNothing) {
  copy_options o;
  o.sparse = sparse_mode::always;
  test::fault_scope faults;
  faults.pwrite({.error = ENOSPC, .nth = 2});
  auto r = zcopy::copy_file(src_, dir_ / "dest", o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::no_space_on_device);
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"sparse"}));
}

// Parallel ranges: the same bytes, several ranges reported, progress summed over the threads.
TEST_F(FileCopy, ParallelRangesCopyTheSameBytes) {
  const fs::path src = make("src", 3 * mib + 12'345);
  copy_options o;
  o.parallel_ranges = 4;
  o.parallel_min_size = 1;
  std::atomic<std::uint64_t> last{0};
  o.on_progress = [&](std::uint64_t n) {
    std::uint64_t seen = last.load();
    while (n > seen && !last.compare_exchange_weak(seen, n)) {
    }
  };
  auto r = zcopy::copy_file(src, dir_ / "dest", o);
  ASSERT_TRUE(r) << r.error().message();
  if (r->ranges == 1) GTEST_SKIP() << "the filesystem reflinked the file: no ranges to copy";
  EXPECT_EQ(r->ranges, 4u);
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
  EXPECT_EQ(r->bytes, 3 * mib + 12'345);
  EXPECT_EQ(last.load(), 3 * mib + 12'345);
  ASSERT_FALSE(r->fallbacks.empty());
  EXPECT_EQ(r->fallbacks.front().from, method::reflink);
}

// Below parallel_min_size, or with reflink never, the rules still hold.
TEST_F(FileCopy, ParallelRangesOnlyAboveTheMinimum) {
  const fs::path src = make("src", mib);
  copy_options o;
  o.parallel_ranges = 4;
  o.parallel_min_size = 2 * mib;
  auto r = zcopy::copy_file(src, dir_ / "dest", o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ranges, 1u);

  o.parallel_min_size = 1;
  o.reflink = reflink_mode::never;
  test::fault_scope faults;
  faults.ioctl({});  // counts FICLONE calls, fails none
  auto p = zcopy::copy_file(src, dir_ / "dest2", o);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->ranges, 4u);
  EXPECT_EQ(faults.calls(syscall_kind::ioctl), 0u);
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest2")));
}

// One failing range fails the whole copy: DEST untouched, no temporary.
TEST_F(FileCopy, ParallelRangeFailureFailsTheCopy) {
  const fs::path src = make("src", 2 * mib);
  make("dest", 500, 1);
  copy_options o;
  o.parallel_ranges = 3;
  o.parallel_min_size = 1;
  o.reflink = reflink_mode::never;
  test::fault_scope faults;
  // ENOSPC, not EIO: EIO before a range's first byte falls back (CIFS, golang/go#42334).
  faults.copy_file_range({.error = ENOSPC, .nth = 2});
  auto r = zcopy::copy_file(src, dir_ / "dest", o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::no_space_on_device);
  EXPECT_TRUE(same_bytes(data_["dest"], read_file(dir_ / "dest")));
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
}

// reflink always where the filesystem cannot clone (ext4, tmpfs): an error named "reflink",
// DEST untouched. (XFS, where it works, is tested in tests/transfer/reflink_test.cpp.)
TEST_F(FileCopy, ReflinkAlwaysFailsCleanlyWithoutSupport) {
  const fs::path src = make("src", 100'000);
  make("dest", 100, 1);
  copy_options o;
  o.reflink = reflink_mode::always;
  auto r = zcopy::copy_file(src, dir_ / "dest", o);
  if (r) GTEST_SKIP() << "this filesystem supports reflinks";
  EXPECT_EQ(r.error().step, copy_step::reflink);
  EXPECT_TRUE(r.error().code == std::errc::operation_not_supported ||
              r.error().code == std::errc::inappropriate_io_control_operation ||
              r.error().code == std::errc::cross_device_link ||
              r.error().code == std::errc::invalid_argument)
      << r.error().message();
  EXPECT_TRUE(same_bytes(data_["dest"], read_file(dir_ / "dest")));
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
}

// reflink never keeps FICLONE out of the chain; automatic tries it first.
TEST_F(FileCopy, ReflinkNeverIssuesNoClone) {
  const fs::path src = make("src", 100'000);
  for (auto mode : {reflink_mode::never, reflink_mode::automatic}) {
    test::fault_scope faults;
    faults.ioctl({});
    copy_options o;
    o.reflink = mode;
    auto r = zcopy::copy_file(src, dir_ / "dest", o);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
    if (mode == reflink_mode::never) {
      EXPECT_EQ(faults.calls(syscall_kind::ioctl), 0u);
      EXPECT_EQ(r->bytes_by_method[static_cast<std::size_t>(method::reflink)], 0u);
    } else {
      EXPECT_GE(faults.calls(syscall_kind::ioctl), 1u);
    }
  }
}

// A forced method does not fall back.
TEST_F(FileCopy, ForcedMethodIsUsedAlone) {
  const fs::path src = make("src", 300'000);
  copy_options o;
  o.use = method::sendfile;
  auto r = zcopy::copy_file(src, dir_ / "dest", o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->used, method::sendfile);
  EXPECT_TRUE(r->fallbacks.empty());
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
}

TEST(CopyError, MessageNamesStepAndPath) {
  const copy_error e{std::make_error_code(std::errc::no_space_on_device), copy_step::copy, "/a/b"};
  EXPECT_EQ(e.message(), "copy '/a/b': No space left on device");
  const copy_error refused{errc::dangling_symlink, copy_step::open, "/a/b"};
  EXPECT_EQ(refused.message(), "open '/a/b': not writing through dangling symlink");
  const copy_error metadata{std::make_error_code(std::errc::permission_denied),
                            copy_step::keep_attributes, "/c"};
  EXPECT_EQ(metadata.message(), "keep attributes '/c': Permission denied");
}

// The engine's allow_reflink: the automatic chain, and a forced method's fallbacks, lose reflink.
// The refusals are zcopy's own codes, each equal to the errno cp reports for it, so code that
// tests for, say, std::errc::is_a_directory still matches.
TEST(CopyErrc, RefusalsCompareEqualToTheirErrno) {
  const std::pair<errc, std::errc> table[] = {
      {errc::same_file, std::errc::invalid_argument},
      {errc::into_itself, std::errc::invalid_argument},
      {errc::dangling_symlink, std::errc::no_such_file_or_directory},
      {errc::special_file_refused, std::errc::operation_not_supported},
      {errc::non_directory_over_directory, std::errc::is_a_directory},
      {errc::directory_over_non_directory, std::errc::not_a_directory},
      {errc::relative_symlink_elsewhere, std::errc::invalid_argument},
      {errc::directory_loop, std::errc::too_many_symbolic_link_levels},
      {errc::directory_omitted, std::errc::is_a_directory},
      {errc::directory_changed, std::errc::resource_unavailable_try_again},
      {errc::destination_changed, std::errc::resource_unavailable_try_again},
      {errc::outside_directory, std::errc::invalid_argument},
  };
  std::set<std::string> messages;
  for (const auto& [own, posix] : table) {
    const std::error_code ec = make_error_code(own);
    SCOPED_TRACE(ec.message());
    EXPECT_EQ(ec, posix);
    EXPECT_EQ(ec.category(), zcopy_category());
    EXPECT_NE(ec.message(), "unknown zcopy error");
    messages.insert(ec.message());
  }
  EXPECT_EQ(messages.size(), std::size(table));  // each names itself
}

// Every step has its own name in messages.
TEST(CopyStep, NamesAreDistinct) {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(copy_step::rename); ++i) {
    names.insert(to_string(static_cast<copy_step>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(copy_step::rename) + 1);
  EXPECT_EQ(to_string(copy_step::read_directory), "read directory");
}

TEST(TransferOptions, AllowReflinkFalseLeavesReflinkOutOfTheChain) {
  test::temp_dir dir;
  unique_fd a = write_file(dir / "a", random_bytes(5000, test::test_seed()));
  unique_fd b = test::open_or_die(dir / "b", O_WRONLY | O_CREAT | O_TRUNC);
  auto src = classify(a.get());
  auto dst = classify(b.get());
  ASSERT_TRUE(src && dst);
  transfer_options t;
  auto with = plan_for(*src, *dst, t);
  EXPECT_NE(std::find(with.begin(), with.end(), method::reflink), with.end());
  t.allow_reflink = false;
  auto without = plan_for(*src, *dst, t);
  EXPECT_EQ(std::find(without.begin(), without.end(), method::reflink), without.end());
  EXPECT_EQ(without.size() + 1, with.size());
  t.use = method::copy_file_range;
  t.allow_fallback = true;
  auto forced = plan_for(*src, *dst, t);
  EXPECT_EQ(std::find(forced.begin(), forced.end(), method::reflink), forced.end());
}

// --- what stands at DEST -------------------------------------------------------------------

// A device node as DEST is written into, never replaced: `cp disk.img /dev/sdb` must reach the
// disk, not rename a file over its node. A node like /dev/null (1, 3) shows it without a disk.
TEST_F(FileCopy, DeviceNodeDestIsWrittenIntoNotReplaced) {
  const fs::path src = make("src", 200'000);
  const fs::path node = dir_ / "null";
  if (::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod: " << std::strerror(errno) << " (needs CAP_MKNOD)";
  }
  const struct stat before = stat_of(node);
  auto r = zcopy::copy_file(src, node);
  ASSERT_TRUE(r) << r.error().message();
  const struct stat after = stat_of(node);
  EXPECT_TRUE(S_ISCHR(after.st_mode));
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_rdev, before.st_rdev);
  EXPECT_TRUE(r->in_place);
  EXPECT_EQ(r->bytes, 200'000u);
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "null"}));
}

// A FIFO as DEST is written into: the reader gets the bytes, and the FIFO stays. The copy waits
// for its reader, as cp's blocking open does: the reader comes once the copy is seen waiting
// (its first look-again pause, through the seam's poll).
TEST_F(FileCopy, FifoDestIsWrittenIntoAndWaitsForItsReader) {
  const fs::path src = make("src", 3 * mib + 5);
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  static std::atomic<bool> waiting;
  waiting = false;
  test::fault_scope scope;
  sys::hooks().poll = [](pollfd* fds, nfds_t n, int timeout) -> int {
    if (fds == nullptr) {
      waiting = true;
      waiting.notify_all();
    }
    return sys::real_hooks().poll(fds, n, timeout);
  };
  std::expected<file_copy_result, copy_error> r = std::unexpected(copy_error{});
  std::thread copy([&] { r = zcopy::copy_file(src, fifo); });
  waiting.wait(false);
  test::fifo_reader reader(fifo);
  copy.join();
  const std::vector<std::byte> got = reader.finish();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(data_["src"], got));
  EXPECT_TRUE(S_ISFIFO(stat_of(fifo).st_mode));
  EXPECT_TRUE(r->in_place);
}

// A FIFO nobody reads does not hold the copy past a stop request (the wait looks again in slices
// that see it). The stop comes once the copy is seen waiting, through the seam's poll.
TEST_F(FileCopy, FifoDestWithoutReaderEndsOnStop) {
  const fs::path src = make("src", 4096);
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  static std::stop_source stop;
  stop = std::stop_source();
  copy_options o;
  o.stop = stop.get_token();
  test::fault_scope scope;
  sys::hooks().poll = [](pollfd* fds, nfds_t n, int timeout) -> int {
    stop.request_stop();
    return sys::real_hooks().poll(fds, n, timeout);
  };
  auto r = zcopy::copy_file(src, fifo, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::cancelled);
  EXPECT_TRUE(S_ISFIFO(stat_of(fifo).st_mode));
}

// /dev/stdout is a link to /proc/self/fd/1, whose text is no path one can write beside ("pipe:[N]"
// for a pipe): what it leads to is written into, as cp does. Here a link to /proc/self/fd/N of a
// pipe, and of a regular file (its inode keeps the bytes; nothing is renamed over the name).
TEST_F(FileCopy, ProcMagicLinkDestIsWrittenInto) {
  const fs::path src = make("src", 700'000);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  unique_fd read_end(fds[0]);
  {
    unique_fd write_end(fds[1]);
    const fs::path link = dir_ / "stdout";
    fs::create_symlink("/proc/self/fd/" + std::to_string(write_end.get()), link);
    test::drainer drain(read_end.get());
    auto r = zcopy::copy_file(src, link);
    write_end.reset();
    const std::vector<std::byte> got = drain.finish();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(same_bytes(data_["src"], got));
    EXPECT_TRUE(fs::is_symlink(link));
    EXPECT_TRUE(r->in_place);
  }
  make("out", 100, 2);
  unique_fd out = test::open_or_die(dir_ / "out", O_WRONLY);
  const ino_t inode = stat_of(dir_ / "out").st_ino;
  auto r = zcopy::copy_file(src, "/proc/self/fd/" + std::to_string(out.get()));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(stat_of(dir_ / "out").st_ino, inode);
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "out")));
}

// A symlink at DEST that leads nowhere is refused (cp: "not writing through dangling symlink").
TEST_F(FileCopy, DanglingSymlinkDestIsRefused) {
  const fs::path src = make("src", 1000);
  fs::create_symlink(dir_ / "nowhere", dir_ / "dest");
  auto r = zcopy::copy_file(src, dir_ / "dest");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, make_error_code(errc::dangling_symlink));
  EXPECT_FALSE(fs::exists(dir_ / "nowhere"));
}

// --inplace: DEST's inode gets the bytes, so its other hard links see them; a longer DEST is cut
// to the source's length.
TEST_F(FileCopy, InPlaceKeepsTheInodeAndItsHardLinks) {
  const fs::path src = make("src", 300'000);
  make("dest", 900'000, 1);
  ASSERT_EQ(::link((dir_ / "dest").c_str(), (dir_ / "other").c_str()), 0);
  const ino_t inode = stat_of(dir_ / "dest").st_ino;
  copy_options o;
  o.in_place = true;
  auto r = zcopy::copy_file(src, dir_ / "dest", o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->in_place);
  EXPECT_EQ(stat_of(dir_ / "dest").st_ino, inode);
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "dest")));
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dir_ / "other")));
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest", "other"}));
}

// --inplace onto a DEST swapped between the look at it and the open: the copy writes into the file
// it looked at or into nothing. A symlink planted there is not followed; another file renamed
// over it is refused (errc::destination_changed). Neither the victim nor the newcomer changes.
TEST_F(FileCopy, InPlaceWritesOnlyIntoTheDestItLookedAt) {
  const fs::path src = make("src", 4000);
  copy_options o;
  o.in_place = true;
  static fs::path dest, victim;
  static bool plant_symlink;
  dest = dir_ / "dest";
  victim = dir_ / "victim";
  for (const bool symlink : {true, false}) {
    SCOPED_TRACE(symlink ? "symlink planted" : "file renamed over DEST");
    make("dest", 100, 1);
    make("victim", 100, 2);
    plant_symlink = symlink;
    test::fault_scope scope;
    sys::hooks().openat = [](int d, const char* p, int fl, mode_t m) -> int {
      if ((fl & O_WRONLY) != 0 && std::string_view(p) == "dest" && !fs::is_symlink(dest)) {
        if (plant_symlink) {
          fs::remove(dest);
          fs::create_symlink(victim, dest);
        } else if (fs::exists(victim)) {
          fs::rename(victim, dest);
        }
      }
      return sys::real_hooks().openat(d, p, fl, m);
    };
    auto r = zcopy::copy_file(src, dir_ / "dest", o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().step, copy_step::open);
    EXPECT_EQ(r.error().path, dir_ / "dest");
    if (symlink) {
      EXPECT_TRUE(same_bytes(data_["victim"], read_file(dir_ / "victim")));
    } else {
      EXPECT_EQ(r.error().code, make_error_code(errc::destination_changed));
      EXPECT_EQ(r.error().code, std::errc::resource_unavailable_try_again);
      EXPECT_TRUE(same_bytes(data_["victim"], read_file(dir_ / "dest")));
      EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
    }
    fs::remove(dir_ / "dest");
  }
}

// A replaced DEST keeps its extended attributes and its ACL (the copy is a new inode, so they are
// set on it before the rename), but not a file capability, which vouches for the old bytes.
TEST_F(FileCopy, ReplacingKeepsDestAttributesAndAcl) {
  const fs::path src = make("src", 100'000);
  const fs::path dest = make("dest", 5000, 1);
  ASSERT_EQ(::chmod(dest.c_str(), 0640), 0);
  const std::string value = "kept: " + std::to_string(seed_);
  if (::setxattr(dest.c_str(), "user.zcopy", value.data(), value.size(), 0) != 0) {
    GTEST_SKIP() << "user xattrs: " << std::strerror(errno);
  }
  // An access ACL (acl_ea.h's layout): owner rw, user 4242 r, group r, mask r, others none.
  struct entry {
    std::uint16_t tag, perm;
    std::uint32_t id;
  };
  const std::uint32_t undefined = 0xffffffff;
  std::vector<std::byte> acl(4);
  const std::uint32_t version = 2;
  std::memcpy(acl.data(), &version, 4);
  for (entry e : {entry{0x01, 6, undefined}, entry{0x02, 4, 4242}, entry{0x04, 4, undefined},
                  entry{0x10, 4, undefined}, entry{0x20, 0, undefined}}) {
    const auto* p = reinterpret_cast<const std::byte*>(&e);
    acl.insert(acl.end(), p, p + sizeof e);
  }
  const bool has_acl =
      ::setxattr(dest.c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0) == 0;
  const std::uint32_t cap[5] = {0x02000000, 0, 0, 0, 0};  // VFS_CAP_REVISION_2, no bits
  const bool has_cap = ::setxattr(dest.c_str(), "security.capability", cap, sizeof cap, 0) == 0;
  const mode_t mode = stat_of(dest).st_mode & 07777;

  auto r = zcopy::copy_file(src, dest);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(same_bytes(data_["src"], read_file(dest)));
  char got[256];
  const ssize_t n = ::getxattr(dest.c_str(), "user.zcopy", got, sizeof got);
  ASSERT_GT(n, 0) << std::strerror(errno);
  EXPECT_EQ(std::string(got, static_cast<std::size_t>(n)), value);
  if (has_acl) {
    std::vector<std::byte> kept(acl.size() + 64);
    const ssize_t m = ::getxattr(dest.c_str(), "system.posix_acl_access", kept.data(), kept.size());
    ASSERT_GT(m, 0) << std::strerror(errno);
    kept.resize(static_cast<std::size_t>(m));
    EXPECT_TRUE(same_bytes(acl, kept));
  }
  if (has_cap) {
    EXPECT_LT(::getxattr(dest.c_str(), "security.capability", got, sizeof got), 0);
  }
  EXPECT_EQ(stat_of(dest).st_mode & 07777, mode);
}

// Attributes the filesystem will not take are left out (the copy succeeds); an I/O error while
// setting one fails the copy with DEST as it was and no temporary file left.
TEST_F(FileCopy, AttributeFailuresAreSkippedOrFailTheCopyCleanly) {
  const fs::path src = make("src", 50'000);
  const fs::path dest = make("dest", 5000, 1);
  if (::setxattr(dest.c_str(), "user.zcopy", "v", 1, 0) != 0) {
    GTEST_SKIP() << "user xattrs: " << std::strerror(errno);
  }
  {
    test::fault_scope scope;
    scope.fsetxattr({.error = EOPNOTSUPP, .repeat = true});
    auto r = zcopy::copy_file(src, dest);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(same_bytes(data_["src"], read_file(dest)));
    EXPECT_EQ(scope.calls(syscall_kind::fsetxattr), 1u);
  }
  make("dest", 5000, 1);
  ASSERT_EQ(::setxattr(dest.c_str(), "user.zcopy", "v", 1, 0), 0);
  test::fault_scope scope;
  scope.fsetxattr({.error = EIO});
  auto r = zcopy::copy_file(src, dest);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::io_error);
  EXPECT_EQ(r.error().step, copy_step::keep_attributes);
  EXPECT_TRUE(same_bytes(data_["dest"], read_file(dest)));
  EXPECT_EQ(names_in(dir_.path()), (std::set<std::string>{"src", "dest"}));
}

}  // namespace
}  // namespace zcopy
