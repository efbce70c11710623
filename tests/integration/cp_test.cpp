// `zcopy cp` as a user runs it: the real binary, compared with GNU cp (coreutils) on the same
// generated tree, on loop-mounted XFS (reflinks) and a tiny ext4 (out of space), interrupted by
// signals, and through every option. Files hold seeded random bytes and are compared byte for
// byte. Every subprocess is bounded; temporary directories and mounts go away even on failure.
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <thread>

#include "integration/cp_fixture.hpp"

namespace zcopy::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * kib;
constexpr std::uint64_t gib = 1024 * mib;

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) ADD_FAILURE() << p << ": " << std::strerror(errno);
  return st;
}

bool contains(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

bool has_temporary(const std::vector<std::string>& names) {
  return std::any_of(names.begin(), names.end(),
                     [](const std::string& n) { return contains(n, ".zcopy-"); });
}

// Whether process `pid` has a file open in `dir`: the copy's destination, named (a temporary
// file) or not (O_TMPFILE: "/dir/#123 (deleted)").
bool writing_into(pid_t pid, const fs::path& dir) {
  std::error_code ec;
  const std::string prefix = fs::canonical(dir, ec).string() + "/";
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const fs::path target = fs::read_symlink(e.path(), ec);
    if (!ec && target.string().starts_with(prefix)) return true;
  }
  return false;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += "'" + n + "' ";
  return s;
}

// How much of a file's mapped extents FIEMAP reports shared with another file.
struct extent_report {
  std::uint64_t mapped = 0;
  std::uint64_t shared = 0;
  std::size_t extents = 0;
};

std::optional<extent_report> shared_extents(const fs::path& path) {
  unique_fd fd = open_or_die(path, O_RDONLY | O_CLOEXEC);
  constexpr std::size_t count = 256;
  std::vector<std::uint64_t> storage((sizeof(fiemap) + count * sizeof(fiemap_extent)) / 8 + 1);
  extent_report report;
  std::uint64_t start = 0;
  for (;;) {
    std::fill(storage.begin(), storage.end(), 0);
    auto* map = reinterpret_cast<fiemap*>(storage.data());
    map->fm_start = start;
    map->fm_length = FIEMAP_MAX_OFFSET - start;
    map->fm_flags = FIEMAP_FLAG_SYNC;
    map->fm_extent_count = count;
    if (::ioctl(fd.get(), FS_IOC_FIEMAP, map) != 0) return std::nullopt;
    if (map->fm_mapped_extents == 0) break;
    bool last = false;
    for (std::uint32_t i = 0; i < map->fm_mapped_extents; ++i) {
      const fiemap_extent& e = map->fm_extents[i];
      report.mapped += e.fe_length;
      if (e.fe_flags & FIEMAP_EXTENT_SHARED) report.shared += e.fe_length;
      ++report.extents;
      start = e.fe_logical + e.fe_length;
      last = last || (e.fe_flags & FIEMAP_EXTENT_LAST);
    }
    if (last) break;
  }
  return report;
}

class Cp : public ::testing::Test {
 protected:
  Cp() : trace_(__FILE__, __LINE__, "seed " + std::to_string(test_seed())) {}
  // A file of `size` random bytes at DIR/rel.
  fs::path put(const std::string& rel, std::size_t size, std::uint64_t salt = 0) {
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    write_file(p, random_bytes(size, test_seed() + salt + std::hash<std::string>{}(rel)));
    return p;
  }
  std::string at(const std::string& rel) const { return (dir_ / rel).string(); }

  ::testing::ScopedTrace trace_;
  temp_dir dir_;
};

// What -a keeps, compared entry by entry.
constexpr compare_rules every_attribute{.mode = true,
                                        .owner = true,
                                        .mtime = true,
                                        .symlink_mtime = true,
                                        .root_mtime = true,
                                        .holes = true};

// --- differential against GNU cp -----------------------------------------------------------------

// cp -a and zcopy cp -a make the same tree: every type, byte, mode, owner, mtime (symlinks too),
// symlink target, hole map and hard-link group; and both match the source.
TEST_F(Cp, ArchiveMatchesGnuCp) {
  const auto tree = make_test_tree(dir_ / "src", test_seed());
  auto gnu = gnu_cp({"-a", at("src"), at("gnu")});
  ASSERT_EQ(gnu.exit_code, 0) << gnu.err;
  auto ours = zcopy_cp({"-a", at("src"), at("ours")});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  EXPECT_TRUE(ours.err.empty()) << ours.err;
  EXPECT_TRUE(same_tree(snapshot(dir_ / "gnu"), snapshot(dir_ / "ours"), every_attribute));
  EXPECT_TRUE(same_tree(snapshot(dir_ / "src"), snapshot(dir_ / "ours"), every_attribute));
  // The sparse file, spelled out: three data extents and about their size allocated.
  const auto map = data_map(dir_ / "ours" / tree.sparse_name);
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map, data_map(dir_ / "src" / tree.sparse_name));
}

// --no-preserve=LIST takes attributes back from -a: the same trees as GNU cp's for each of mode,
// ownership, timestamps and links (mtimes compared only where they are kept).
TEST_F(Cp, NoPreserveTakesAttributesBackLikeGnuCp) {
  make_test_tree(dir_ / "src", test_seed());
  for (const std::string what : {"mode", "ownership", "timestamps", "links", "all"}) {
    SCOPED_TRACE(what);
    auto gnu = gnu_cp({"-a", "--no-preserve=" + what, at("src"), at("gnu-" + what)});
    ASSERT_EQ(gnu.exit_code, 0) << gnu.err;
    auto ours = zcopy_cp({"-a", "--no-preserve=" + what, at("src"), at("ours-" + what)});
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    const bool times_kept = what != "timestamps" && what != "all";
    const compare_rules rules{.mode = true,
                              .owner = true,
                              .mtime = times_kept,
                              .symlink_mtime = times_kept,
                              .root_mtime = times_kept,
                              .holes = true};
    EXPECT_TRUE(
        same_tree(snapshot(dir_ / ("gnu-" + what)), snapshot(dir_ / ("ours-" + what)), rules));
  }
  auto bad = zcopy_cp({"-a", "--no-preserve=colour", at("src"), at("bad")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, "unsupported attribute 'colour'")) << bad.err;
  EXPECT_FALSE(fs::exists(dir_ / "bad"));
}

// cp -al (a tree of hard links, the snapshot idiom) and zcopy cp -al make the same tree, and every
// entry but a directory is its source's inode.
TEST_F(Cp, LinkArchiveMatchesGnuCp) {
  make_test_tree(dir_ / "src", test_seed());
  auto gnu = gnu_cp({"-al", at("src"), at("gnu")});
  ASSERT_EQ(gnu.exit_code, 0) << gnu.err;
  auto ours = zcopy_cp({"-al", at("src"), at("ours")});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  EXPECT_TRUE(same_tree(snapshot(dir_ / "gnu"), snapshot(dir_ / "ours"), every_attribute));
  const tree_snapshot source = snapshot(dir_ / "src"), copy = snapshot(dir_ / "ours");
  for (const auto& [rel, entry] : copy.entries) {
    if (entry.type == 'd') continue;
    SCOPED_TRACE(rel);
    ASSERT_TRUE(source.entries.contains(rel));
    EXPECT_EQ(entry.ino, source.entries.at(rel).ino);
  }
}

// -s makes symbolic links to the sources instead of copies (directories made under -r), the same
// tree as GNU cp's; a relative SOURCE only where DEST is in the current directory.
TEST_F(Cp, SymbolicLinksMatchGnuCp) {
  put("src/a", 3000);
  put("src/sub/b", 4000);
  for (const std::string who : {"gnu", "ours"}) {
    auto r =
        who == "gnu" ? gnu_cp({"-rs", at("src"), at(who)}) : zcopy_cp({"-rs", at("src"), at(who)});
    ASSERT_EQ(r.exit_code, 0) << who << ": " << r.err;
  }
  EXPECT_EQ(fs::read_symlink(dir_ / "ours" / "sub" / "b"), dir_ / "src" / "sub" / "b");
  EXPECT_TRUE(same_file_bytes(dir_ / "src" / "a", dir_ / "ours" / "a"));  // through the link
  compare_rules rules = every_attribute;
  rules.mtime = rules.symlink_mtime = rules.root_mtime = false;
  EXPECT_TRUE(same_tree(snapshot(dir_ / "gnu"), snapshot(dir_ / "ours"), rules));

  const working_directory here_now(dir_.path());
  auto here = zcopy_cp({"-s", "src/a", "here"});
  EXPECT_EQ(here.exit_code, 0) << here.err;
  EXPECT_EQ(fs::read_symlink(dir_ / "here"), "src/a");
  auto elsewhere = zcopy_cp({"-s", "src/a", "ours/elsewhere"});
  EXPECT_EQ(elsewhere.exit_code, 1);
  EXPECT_TRUE(contains(elsewhere.err, "can make relative symbolic links only in current directory"))
      << elsewhere.err;
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ / "ours" / "elsewhere")));
}

// cp -r and zcopy cp -r make the same tree: modes from the umask, symlinks inside copied as
// symlinks, hard links not kept, FIFOs recreated, holes kept.
TEST_F(Cp, RecursiveMatchesGnuCp) {
  make_test_tree(dir_ / "src", test_seed());
  auto gnu = gnu_cp({"-r", at("src"), at("gnu")});
  ASSERT_EQ(gnu.exit_code, 0) << gnu.err;
  auto ours = zcopy_cp({"-r", at("src"), at("ours")});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  const compare_rules rules{.mode = true, .owner = true, .mtime = false, .holes = true};
  EXPECT_TRUE(same_tree(snapshot(dir_ / "gnu"), snapshot(dir_ / "ours"), rules));
}

// cp -p and zcopy cp -p on files into a directory: same bytes, modes, owners, mtimes.
TEST_F(Cp, PreserveOnFilesMatchesGnuCp) {
  make_test_tree(dir_ / "src", test_seed());
  fs::create_directory(dir_ / "gnu");
  fs::create_directory(dir_ / "ours");
  std::vector<std::string> files;
  for (const char* name : {"one", "page+1", "big", "mode-600", "exec-755", "readonly-444",
                           "setuid-4755", "owned", "new\nline", "sparse-4g", "link-rel"}) {
    files.push_back(at(std::string("src/") + name));
  }
  auto args = files;
  args.insert(args.begin(), "-p");
  args.push_back(at("gnu"));
  auto gnu = gnu_cp(args);
  ASSERT_EQ(gnu.exit_code, 0) << gnu.err;
  args.back() = at("ours");
  auto ours = zcopy_cp(args);
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  EXPECT_TRUE(same_tree(snapshot(dir_ / "gnu"), snapshot(dir_ / "ours"),
                        {.mode = true, .owner = true, .mtime = true, .root_mtime = false}));
  // The symlink operand was followed: a regular file with the target's bytes.
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir_ / "ours" / "link-rel")));
}

// Copying over an existing file without -p keeps that file's mode, as GNU cp does.
TEST_F(Cp, ReplacingAFileKeepsItsModeLikeGnuCp) {
  put("src", 5000);
  ::chmod(at("src").c_str(), 0755);
  put("gnu", 10);
  put("ours", 10);
  ::chmod(at("gnu").c_str(), 0600);
  ::chmod(at("ours").c_str(), 0600);
  ASSERT_EQ(gnu_cp({at("src"), at("gnu")}).exit_code, 0);
  auto r = zcopy_cp({at("src"), at("ours")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "src", dir_ / "ours"));
  EXPECT_EQ(fs::status(dir_ / "ours").permissions(), fs::status(dir_ / "gnu").permissions());
  EXPECT_EQ(fs::status(dir_ / "ours").permissions(), fs::perms(0600));
}

// --- reflinks
// -------------------------------------------------------------------------------------

// On XFS with reflink=1, --reflink=always shares every extent (FIEMAP says shared) and the bytes
// match; the default (auto) reflinks too.
TEST_F(Cp, ReflinkSharesExtentsOnXfs) {
  std::string why;
  auto xfs = loop_mount::create("xfs", 512 * mib, {"-q", "-f", "-m", "reflink=1"}, why);
  if (!xfs) GTEST_SKIP() << why;
  const fs::path src = xfs->path() / "src";
  write_random_file(src, 64 * mib, test_seed());
  auto r = zcopy_cp({"-v", "--reflink=always", src.string(), (xfs->path() / "dst").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "(reflink)")) << r.out;
  EXPECT_TRUE(same_file_bytes(src, xfs->path() / "dst"));
  auto shared = shared_extents(xfs->path() / "dst");
  ASSERT_TRUE(shared) << "FIEMAP: " << std::strerror(errno);
  EXPECT_GE(shared->mapped, 64 * mib);
  EXPECT_EQ(shared->shared, shared->mapped) << shared->extents << " extents";

  auto automatic = zcopy_cp({"-v", src.string(), (xfs->path() / "auto").string()});
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  EXPECT_TRUE(contains(automatic.out, "(reflink)")) << automatic.out;
  EXPECT_TRUE(same_file_bytes(src, xfs->path() / "auto"));
  EXPECT_FALSE(has_temporary(list_dir(xfs->path()))) << joined(list_dir(xfs->path()));
}

// Where extents cannot be shared (ext4, tmpfs), --reflink=always fails with a message, exit 1, and
// no destination.
TEST_F(Cp, ReflinkAlwaysFailsWhereExtentsCannotBeShared) {
  struct statfs sf {};
  ASSERT_EQ(::statfs(dir_.path().c_str(), &sf), 0);
  constexpr long xfs_magic = 0x58465342, btrfs_magic = 0x9123683e;
  if (sf.f_type == xfs_magic || sf.f_type == btrfs_magic) {
    GTEST_SKIP() << "the temporary directory's filesystem can reflink";
  }
  put("src", 1 * mib + 3);
  auto r = zcopy_cp({"--reflink=always", at("src"), at("dst")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "zcopy: cp '")) << r.err;
  EXPECT_TRUE(contains(r.err, "not supported") || contains(r.err, "reflink")) << r.err;
  EXPECT_EQ(list_dir(dir_.path()), std::vector<std::string>{"src"});
}

// --- failures
// -------------------------------------------------------------------------------------

// A 64 MiB copy onto a 16 MiB filesystem fails with ENOSPC named, and leaves neither DEST nor a
// temporary file.
TEST_F(Cp, OutOfSpaceLeavesNoDestinationAndNoTemporaryFile) {
  std::string why;
  auto small = loop_mount::create("ext4", 16 * mib, {"-q", "-F"}, why);
  if (!small) GTEST_SKIP() << why;
  write_random_file(dir_ / "big", 64 * mib, test_seed());
  auto r = zcopy_cp({at("big"), (small->path() / "dst").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "No space left on device")) << r.err;
  EXPECT_EQ(list_dir(small->path()), std::vector<std::string>{"lost+found"});
}

// The same failure over an existing DEST leaves DEST with its old bytes.
TEST_F(Cp, OutOfSpaceKeepsTheOldDestination) {
  std::string why;
  auto small = loop_mount::create("ext4", 16 * mib, {"-q", "-F"}, why);
  if (!small) GTEST_SKIP() << why;
  write_random_file(dir_ / "big", 64 * mib, test_seed());
  const auto old = random_bytes(1 * mib, test_seed() + 7);
  write_file(small->path() / "dst", old);
  auto r = zcopy_cp({at("big"), (small->path() / "dst").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "No space left on device")) << r.err;
  EXPECT_TRUE(same_bytes(old, read_file(small->path() / "dst")));
  EXPECT_EQ(list_dir(small->path()), (std::vector<std::string>{"dst", "lost+found"}));
}

// A FIFO named without -R is read to its end, as GNU cp reads it.
TEST_F(Cp, FifoSourceIsReadWithoutRecursiveLikeGnuCp) {
  const auto bytes = random_bytes(300 * kib + 7, test_seed() + 3);
  for (const std::string who : {"gnu", "ours"}) {
    const fs::path fifo = dir_ / (who + ".fifo");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
    fifo_writer writer(fifo, bytes);
    auto r = who == "gnu" ? gnu_cp({fifo.string(), at(who)}) : zcopy_cp({fifo.string(), at(who)});
    EXPECT_TRUE(writer.finish()) << who << " never read the FIFO";
    ASSERT_EQ(r.exit_code, 0) << who << ": " << r.err;
    EXPECT_TRUE(same_bytes(bytes, read_file(dir_ / who))) << who;
  }
}

// cp /dev/null FILE empties FILE (GNU cp reads the device); a socket cannot be opened at all.
TEST_F(Cp, DeviceSourceIsReadLikeGnuCp) {
  put("gnu", 5000);
  put("ours", 5000);
  ASSERT_EQ(gnu_cp({"/dev/null", at("gnu")}).exit_code, 0);
  auto r = zcopy_cp({"/dev/null", at("ours")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir_ / "ours")));
  EXPECT_EQ(fs::file_size(dir_ / "ours"), 0u);
  EXPECT_EQ(fs::file_size(dir_ / "gnu"), 0u);
  EXPECT_EQ(list_dir(dir_.path()), (std::vector<std::string>{"gnu", "ours"}));
}

// A device node as DEST is written into, never replaced by a file (GNU cp and curl open it):
// `cp disk.img /dev/sdb` writes the disk. -v says the replace-whole guarantee did not apply.
TEST_F(Cp, DeviceNodeDestIsWrittenIntoLikeGnuCp) {
  put("src", 100 * kib);
  for (const std::string who : {"gnu", "ours"}) {
    if (::mknod(at(who).c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
      GTEST_SKIP() << "mknod: " << std::strerror(errno);
    }
  }
  ASSERT_EQ(gnu_cp({at("src"), at("gnu")}).exit_code, 0);
  auto r = zcopy_cp({"-v", at("src"), at("ours")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "written in place")) << r.out;
  for (const std::string who : {"gnu", "ours"}) {
    const fs::file_status st = fs::symlink_status(dir_ / who);
    EXPECT_EQ(st.type(), fs::file_type::character) << who;
  }
  EXPECT_FALSE(has_temporary(list_dir(dir_.path())));
}

// /dev/stdout as DEST writes to the standard output, whatever it is: a file (as run here: the
// output goes to a file) or a pipe (through sh). GNU cp does the same. The test names a link of
// its own to /proc/self/fd/1, made as /dev/stdout is made: a build with the defect would rename a
// file over the machine's /dev/stdout.
TEST_F(Cp, DevStdoutDestWritesToStandardOutput) {
  put("src", 200 * kib + 3);
  const auto want = read_file(dir_ / "src");
  fs::create_symlink("/proc/self/fd/1", dir_ / "stdout");
  auto to_file = zcopy_cp({at("src"), at("stdout")});
  ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
  EXPECT_TRUE(same_bytes(want, std::as_bytes(std::span(to_file.out))));
  const std::string line = "'" + zcopy_binary() + "' cp '" + at("src") + "' '" + at("stdout") +
                           "' | cat >'" + at("piped") + "'";
  auto piped = run_bounded({"/bin/sh", "-c", line}, 60s);
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_TRUE(same_bytes(want, read_file(dir_ / "piped")));
  EXPECT_TRUE(fs::is_symlink(dir_ / "stdout"));
}

// A FIFO as DEST is written into, as GNU cp writes into it (its reader is there first).
TEST_F(Cp, FifoDestIsWrittenIntoLikeGnuCp) {
  put("src", 500 * kib + 1);
  const auto want = read_file(dir_ / "src");
  for (const std::string who : {"gnu", "ours"}) {
    const fs::path fifo = dir_ / (who + ".fifo");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
    fifo_reader reader(fifo);
    auto r =
        who == "gnu" ? gnu_cp({at("src"), fifo.string()}) : zcopy_cp({at("src"), fifo.string()});
    const std::vector<std::byte> got = reader.finish();
    ASSERT_EQ(r.exit_code, 0) << who << ": " << r.err;
    EXPECT_TRUE(same_bytes(want, got)) << who;
    EXPECT_EQ(fs::symlink_status(fifo).type(), fs::file_type::fifo) << who;
  }
}

// A symlink to a directory planted inside DEST is not entered: the entries the source has there
// would land wherever it points (and, under -a, that directory would get the source's mode and
// owner). GNU cp refuses with "cannot overwrite non-directory ... with directory"; so does zcopy
// cp, and the rest of the tree is still copied. As root, the -a case is a restore into a tree a
// user controls.
TEST_F(Cp, SymlinkToADirectoryInDestIsNotEntered) {
  put("src/sub/planted", 1000);
  put("src/other", 2000);
  ::chmod(at("src/sub").c_str(), 0777);
  for (const std::string who : {"gnu", "ours"}) {
    for (const std::string flags : {"-r", "-a"}) {
      const std::string dst = who + flags;
      const fs::path outside = dir_ / (dst + ".outside");
      fs::create_directories(outside);
      fs::create_directories(dir_ / dst);
      ::chmod(outside.c_str(), 0700);
      if (::geteuid() == 0) {
        ASSERT_EQ(::chown(outside.c_str(), 65534, 65534), 0);
      }
      fs::create_symlink(outside, dir_ / dst / "sub");
      const struct stat before = lstat_of(outside);
      const std::vector<std::string> args{flags, at("src") + "/.", at(dst) + "/"};
      auto r = who == "gnu" ? gnu_cp(args) : zcopy_cp(args);
      SCOPED_TRACE(who + " " + flags + ": " + r.err);
      EXPECT_EQ(r.exit_code, 1);
      EXPECT_TRUE(contains(r.err, "cannot overwrite non-directory"));
      EXPECT_TRUE(list_dir(outside).empty());
      const struct stat after = lstat_of(outside);
      EXPECT_EQ(after.st_mode, before.st_mode);
      EXPECT_EQ(after.st_uid, before.st_uid);
      EXPECT_TRUE(fs::is_symlink(dir_ / dst / "sub"));
      EXPECT_TRUE(same_file_bytes(dir_ / "src" / "other", dir_ / dst / "other"));
    }
  }
}

// Replacing DEST by a rename gives it a new inode (its other hard links keep the old bytes,
// where GNU cp's in-place write shows them the new ones); --inplace writes into the inode as GNU
// cp does. Either way DEST keeps its extended attributes and ACL (setfattr, setfacl on this
// filesystem), as GNU cp's DEST does.
TEST_F(Cp, ReplacedDestKeepsAttributesAndInplaceKeepsTheInode) {
  put("src", 64 * kib);
  const std::string setfattr = find_program("setfattr"), setfacl = find_program("setfacl");
  const std::string getfattr = find_program("getfattr"), getfacl = find_program("getfacl");
  if (setfattr.empty() || setfacl.empty() || getfattr.empty() || getfacl.empty()) {
    GTEST_SKIP() << "setfattr/setfacl missing (Debian: attr, acl)";
  }
  auto attributes = [&](const std::string& name) {
    auto x = run_bounded({getfattr, "-d", "--absolute-names", at(name)}, 30s);
    auto a = run_bounded({getfacl, "-c", "--absolute-names", at(name)}, 30s);
    // Without getfattr's "# file: PATH" line, which names the file.
    const std::size_t line = x.out.find('\n');
    return (x.out.starts_with("# file:") && line != std::string::npos ? x.out.substr(line + 1)
                                                                      : x.out) +
           a.out;
  };
  for (const std::string who : {"gnu", "ours", "inplace"}) {
    put(who, 1000, 7);
    ASSERT_EQ(::link(at(who).c_str(), at(who + ".link").c_str()), 0);
    auto x = run_bounded({setfattr, "-n", "user.origin", "-v", "kept", at(who)}, 30s);
    if (x.exit_code != 0) GTEST_SKIP() << "user xattrs here: " << x.err;
    auto a = run_bounded({setfacl, "-m", "u:4242:r,g:4243:rw", at(who)}, 30s);
    if (a.exit_code != 0) GTEST_SKIP() << "ACLs here: " << a.err;
  }
  const std::string before = attributes("ours");
  ASSERT_TRUE(contains(before, "user.origin")) << before;
  ASSERT_TRUE(contains(before, "user:4242:r--")) << before;
  ASSERT_EQ(gnu_cp({at("src"), at("gnu")}).exit_code, 0);
  auto ours = zcopy_cp({at("src"), at("ours")});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  auto inplace = zcopy_cp({"--inplace", at("src"), at("inplace")});
  ASSERT_EQ(inplace.exit_code, 0) << inplace.err;
  for (const std::string who : {"gnu", "ours", "inplace"}) {
    SCOPED_TRACE(who);
    EXPECT_TRUE(same_file_bytes(dir_ / "src", dir_ / who));
    EXPECT_EQ(attributes(who), before);
  }
  // The other name: the new bytes where DEST was written into, the old ones where it was replaced.
  EXPECT_TRUE(same_file_bytes(dir_ / "src", dir_ / "gnu.link"));
  EXPECT_TRUE(same_file_bytes(dir_ / "src", dir_ / "inplace.link"));
  EXPECT_FALSE(same_file_bytes(dir_ / "src", dir_ / "ours.link"));
  EXPECT_EQ(lstat_of(dir_ / "inplace").st_ino, lstat_of(dir_ / "inplace.link").st_ino);
  EXPECT_NE(lstat_of(dir_ / "ours").st_ino, lstat_of(dir_ / "ours.link").st_ino);
}

// A source the process may not read fails with EACCES named, and no DEST (as root: the copy runs
// as nobody through setpriv, since root reads mode-000 files).
TEST_F(Cp, UnreadableSourceFails) {
  std::vector<std::string> prefix;
  if (::geteuid() == 0) {
    if (::access("/usr/bin/setpriv", X_OK) != 0) {
      GTEST_SKIP() << "root reads mode-000 files and setpriv (util-linux) is missing";
    }
    prefix = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
  }
  put("src", 100);
  ::chmod(at("src").c_str(), 0);
  fs::create_directory(dir_ / "out");
  ::chmod(dir_.path().c_str(), 0755);
  ::chmod(at("out").c_str(), 0777);
  std::vector<std::string> argv = prefix;
  const char* binary = std::getenv("ZCOPY_BINARY");
  argv.insert(argv.end(), {binary ? binary : "zcopy", "cp", at("src"), at("out/dst")});
  auto r = run_bounded(argv, 60s);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "zcopy: cp '")) << r.err;
  EXPECT_TRUE(contains(r.err, "Permission denied")) << r.err;
  EXPECT_TRUE(list_dir(dir_ / "out").empty()) << joined(list_dir(dir_ / "out"));
}

// A dangling symlink operand is an error when followed; with -P it is copied as a symlink.
TEST_F(Cp, DanglingSymlinkSourceFailsUnlessCopiedAsALink) {
  fs::create_symlink("nowhere", dir_ / "link");
  auto r = zcopy_cp({at("link"), at("dst")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "zcopy: cp '" + at("link") + "': No such file or directory"))
      << r.err;
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ / "dst")));

  auto p = zcopy_cp({"-P", at("link"), at("dst")});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  ASSERT_TRUE(fs::is_symlink(fs::symlink_status(dir_ / "dst")));
  EXPECT_EQ(fs::read_symlink(dir_ / "dst"), "nowhere");
}

// A destination directory that cannot be written to fails with the reason named and leaves
// nothing in it (read-only bind mount as root, mode 0555 otherwise).
TEST_F(Cp, UnwritableDestinationDirectoryFails) {
  put("src", 64 * kib);
  fs::create_directory(dir_ / "target");
  std::unique_ptr<read_only_bind> ro;
  fs::path target = dir_ / "target";
  std::string reason = "Permission denied";
  if (::geteuid() == 0) {
    std::string why;
    ro = read_only_bind::create(dir_ / "target", why);
    if (!ro) GTEST_SKIP() << why;
    target = ro->path();
    reason = "Read-only file system";
  } else {
    ::chmod(target.c_str(), 0555);
  }
  auto r = zcopy_cp({at("src"), (target / "dst").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, reason)) << r.err;
  EXPECT_TRUE(list_dir(dir_ / "target").empty()) << joined(list_dir(dir_ / "target"));
  ::chmod((dir_ / "target").c_str(), 0755);
}

// A missing operand is reported and counted; the other operands are still copied.
TEST_F(Cp, MissingSourceIsReportedAndTheRestCopied) {
  put("a", 1000);
  put("b", 2000);
  fs::create_directory(dir_ / "out");
  auto r = zcopy_cp({at("a"), at("missing"), at("b"), at("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "zcopy: cp '" + at("missing") + "': No such file or directory"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "zcopy: cp: 1 error")) << r.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "a", dir_ / "out" / "a"));
  EXPECT_TRUE(same_file_bytes(dir_ / "b", dir_ / "out" / "b"));
}

// --- signals
// --------------------------------------------------------------------------------------

// A 2 GiB source shared by the signal tests, copied with read_write in one range so that the copy
// is still running when the signal comes.
class CpSignal : public Cp {
 protected:
  static void SetUpTestSuite() {
    source_dir_ = new temp_dir();
    write_random_file(source_dir_->path() / "big", 2 * gib, test_seed());
  }
  static void TearDownTestSuite() {
    delete source_dir_;
    source_dir_ = nullptr;
  }
  // Starts the copy, waits until it has its destination file open plus ~200 ms, sends `sig`, and
  // returns the exit status (nullopt: it did not exit within a minute).
  std::optional<int> interrupt(int sig, std::string& err) {
    fs::create_directory(dir_ / "out");
    const char* binary = std::getenv("ZCOPY_BINARY");
    auto child =
        child_process::spawn({binary ? binary : "zcopy", "cp", "--parallel-ranges", "1", "--method",
                              "read_write", (source_dir_->path() / "big").string(), at("out/big")});
    if (!child) return std::nullopt;
    const auto deadline = clock::now() + 30s;
    while (!writing_into(child->pid(), dir_ / "out") && child->running() &&
           clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    EXPECT_TRUE(child->running()) << "the copy ended before the signal: " << child->err();
    std::this_thread::sleep_for(200ms);
    auto code = child->stop(sig, 60s);
    err = child->err();
    return code;
  }
  static temp_dir* source_dir_;
};
temp_dir* CpSignal::source_dir_ = nullptr;

// SIGINT during a large copy: exit 130, the temporary file removed, no DEST.
TEST_F(CpSignal, SigintRemovesTheTemporaryFileAndExits130) {
  std::string err;
  auto code = interrupt(SIGINT, err);
  ASSERT_TRUE(code) << "did not exit within 60 s of SIGINT";
  EXPECT_EQ(*code, 130) << err;
  EXPECT_TRUE(list_dir(dir_ / "out").empty()) << joined(list_dir(dir_ / "out"));
}

// SIGTERM the same, with exit 143.
TEST_F(CpSignal, SigtermRemovesTheTemporaryFileAndExits143) {
  std::string err;
  auto code = interrupt(SIGTERM, err);
  ASSERT_TRUE(code) << "did not exit within 60 s of SIGTERM";
  EXPECT_EQ(*code, 143) << err;
  EXPECT_TRUE(list_dir(dir_ / "out").empty()) << joined(list_dir(dir_ / "out"));
}

// --- refusals
// -------------------------------------------------------------------------------------

// A file copied onto itself: refused, exit 1, the file untouched.
TEST_F(Cp, RefusesToCopyAFileOntoItself) {
  put("a", 5000);
  const auto before = read_file(dir_ / "a");
  auto r = zcopy_cp({at("a"), at("a")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "are the same file")) << r.err;
  EXPECT_TRUE(same_bytes(before, read_file(dir_ / "a")));
  EXPECT_EQ(list_dir(dir_.path()), std::vector<std::string>{"a"});
}

// Refusals without a message of cp's own name the path, the refusal and the errno it stands for:
// a socket operand (cp recreates FIFOs and devices under -r, never sockets' contents), a dangling
// DEST symlink.
TEST_F(Cp, RefusalsNameThePathAndTheReason) {
  put("src/f", 7000);
  unique_fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sock);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock_path = at("sock");
  ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  auto special = zcopy_cp({at("sock"), at("out")});
  EXPECT_EQ(special.exit_code, 1);
  EXPECT_TRUE(contains(special.err, "zcopy: cp '" + at("sock") +
                                        "': cannot copy special file: Operation not supported\n"))
      << special.err;
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ / "out")));

  fs::create_symlink("nowhere", dir_ / "dangling");
  auto file = zcopy_cp({at("src/f"), at("dangling")});
  EXPECT_EQ(file.exit_code, 1);
  EXPECT_TRUE(contains(file.err, "zcopy: cp '" + at("dangling") +
                                     "': not writing through dangling symlink: No such file or "
                                     "directory\n"))
      << file.err;
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir_ / "dangling")));
  EXPECT_FALSE(fs::exists(dir_ / "nowhere"));
}

// A file copied onto a hard link to itself: refused, both names still one inode.
TEST_F(Cp, RefusesToCopyAFileOntoItsHardLink) {
  put("a", 5000);
  ASSERT_EQ(::link(at("a").c_str(), at("h").c_str()), 0);
  const auto before = read_file(dir_ / "a");
  for (const auto& args :
       std::vector<std::vector<std::string>>{{at("a"), at("h")}, {"-a", at("a"), at("h")}}) {
    auto r = zcopy_cp(args);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_TRUE(contains(r.err, "are the same file")) << r.err;
  }
  EXPECT_TRUE(fs::equivalent(dir_ / "a", dir_ / "h"));
  EXPECT_TRUE(same_bytes(before, read_file(dir_ / "a")));
}

// A file and a symlink to it, either way round, followed or copied as a link: refused, the file
// untouched, the link still a link.
TEST_F(Cp, RefusesToCopyThroughASymlinkOntoItsTarget) {
  put("a", 5000);
  fs::create_symlink("a", dir_ / "l");
  const auto before = read_file(dir_ / "a");
  for (const auto& args : std::vector<std::vector<std::string>>{{at("a"), at("l")},
                                                                {at("l"), at("a")},
                                                                {"-a", at("l"), at("a")},
                                                                {"-P", at("l"), at("a")}}) {
    auto r = zcopy_cp(args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << " " << args[1];
    EXPECT_TRUE(contains(r.err, "are the same file")) << r.err;
    EXPECT_TRUE(same_bytes(before, read_file(dir_ / "a")));
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir_ / "a")));
    EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir_ / "l")));
  }
}

// A directory copied into itself (below it, or onto itself as DEST/NAME): refused, exit 1, the
// tree unchanged.
TEST_F(Cp, RefusesToCopyADirectoryIntoItself) {
  put("d/file", 3000);
  put("d/sub/inner", 2000);
  const auto before = snapshot(dir_ / "d");
  for (const auto& dest : {at("d/sub"), at("d/sub/new"), at("d")}) {
    auto r = zcopy_cp({"-r", at("d"), dest});
    EXPECT_EQ(r.exit_code, 1) << dest;
    EXPECT_TRUE(contains(r.err, "into itself")) << r.err;
    EXPECT_TRUE(same_tree(before, snapshot(dir_ / "d"), {.mtime = true})) << dest;
  }
}

// Several sources need an existing directory as DEST: a file or a missing name is an error and
// nothing is written.
TEST_F(Cp, SeveralSourcesNeedADirectory) {
  put("a", 10);
  put("b", 20);
  put("file", 30);
  const auto before = read_file(dir_ / "file");
  auto r = zcopy_cp({at("a"), at("b"), at("file")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "Not a directory")) << r.err;
  EXPECT_TRUE(same_bytes(before, read_file(dir_ / "file")));
  auto missing = zcopy_cp({at("a"), at("b"), at("missing")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
}

// A directory operand without -r is omitted with cp's message; the files beside it are copied.
TEST_F(Cp, DirectoryWithoutRecursiveIsOmitted) {
  put("d/x", 10);
  put("f", 100);
  fs::create_directory(dir_ / "out");
  auto r = zcopy_cp({at("d"), at("f"), at("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "zcopy: cp: -r not specified; omitting directory '" + at("d") + "'"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "zcopy: cp: 1 error")) << r.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "f", dir_ / "out" / "f"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "d"));
}

// Which symlinks are followed, as in cp: a recursive copy copies a symlink operand as a symlink,
// -H follows operands only, -L everything, and of -L/-H/-P/-a the last one given decides
// (`-aL` follows, `-La` does not). Every combination makes the same tree as GNU cp's.
TEST_F(Cp, SymlinkOperandsFollowCpsDereferenceRules) {
  put("real/file", 3000);
  put("real/sub/deep", 5000);
  fs::create_symlink("../file", dir_ / "real" / "sub" / "up");
  fs::create_symlink("real", dir_ / "linkdir");
  fs::create_symlink("real/file", dir_ / "linkfile");
  const compare_rules rules{.mode = true, .owner = true, .mtime = false, .holes = true};
  int case_number = 0;
  for (const std::vector<std::string>& options : std::vector<std::vector<std::string>>{
           {"-r"}, {"-rH"}, {"-rL"}, {"-aL"}, {"-La"}, {}, {"-P"}, {"-rP", "-L"}, {"-d"}}) {
    for (const std::string operand : {"linkdir", "linkfile"}) {
      const std::string name = std::to_string(case_number++);
      std::string label = operand;
      for (const auto& o : options) label += " " + o;
      SCOPED_TRACE(label);
      std::vector<std::string> gnu_args = options, our_args = options;
      gnu_args.insert(gnu_args.end(), {at(operand), at("gnu" + name)});
      our_args.insert(our_args.end(), {at(operand), at("ours" + name)});
      auto gnu = gnu_cp(gnu_args);
      auto ours = zcopy_cp(our_args);
      EXPECT_EQ(ours.exit_code == 0, gnu.exit_code == 0) << gnu.err << ours.err;
      if (gnu.exit_code != 0) continue;
      const fs::path g = dir_ / ("gnu" + name), z = dir_ / ("ours" + name);
      const auto kind = fs::symlink_status(g).type();
      ASSERT_EQ(fs::symlink_status(z).type(), kind);
      if (kind == fs::file_type::symlink) {
        EXPECT_EQ(fs::read_symlink(z), fs::read_symlink(g));
      } else if (kind == fs::file_type::regular) {
        EXPECT_TRUE(same_file_bytes(g, z));
        EXPECT_EQ(fs::status(z).permissions(), fs::status(g).permissions());
      } else {
        EXPECT_TRUE(same_tree(snapshot(g), snapshot(z), rules));
      }
    }
  }
}

// "DEST/" names a directory, as for cp: a file copied to a missing "new/" or onto a file "other/"
// is an error and nothing is written (the slash is not dropped); a directory may make "new/".
TEST_F(Cp, ADestWithATrailingSlashMustBeADirectory) {
  put("file", 3000);
  put("other", 100);
  put("tree/x", 2000);
  const auto other_before = read_file(dir_ / "other");
  for (const std::string& dest : {at("missing") + "/", at("other") + "/"}) {
    SCOPED_TRACE(dest);
    auto gnu = gnu_cp({at("file"), dest});
    auto ours = zcopy_cp({at("file"), dest});
    EXPECT_NE(gnu.exit_code, 0);
    EXPECT_EQ(ours.exit_code, 1);
    EXPECT_TRUE(contains(ours.err, "'" + dest + "': Not a directory")) << ours.err;
  }
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
  EXPECT_TRUE(same_bytes(other_before, read_file(dir_ / "other")));
  auto tree = zcopy_cp({"-r", at("tree"), at("new") + "/"});
  EXPECT_EQ(tree.exit_code, 0) << tree.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "tree" / "x", dir_ / "new" / "x"));
}

// -t DIRECTORY takes every operand as a source, and -T makes DEST the name itself (a directory
// source merges into an existing directory): the same trees as GNU cp's.
TEST_F(Cp, TargetDirectoryOptionsMatchGnuCp) {
  put("a", 3000);
  put("b", 70000);
  put("tree/x", 5000);
  put("tree/sub/y", 9000);
  const compare_rules rules{.mode = true, .owner = true, .mtime = false, .holes = true};
  put("already", 100);
  for (const std::string who : {"gnu", "ours"}) {
    fs::create_directories(dir_ / (who + "-t"));
    fs::create_directories(dir_ / (who + "-T"));  // an existing directory that -rT merges into
    fs::copy_file(dir_ / "already", dir_ / (who + "-T") / "already");
  }
  for (const std::string who : {"gnu", "ours"}) {
    auto cp = [&](const std::vector<std::string>& args) {
      return who == "gnu" ? gnu_cp(args) : zcopy_cp(args);
    };
    auto t = cp({"-r", "-t", at(who + "-t"), at("a"), at("b"), at("tree")});
    EXPECT_EQ(t.exit_code, 0) << who << ": " << t.err;
    auto big_t = cp({"-rT", at("tree"), at(who + "-T")});
    EXPECT_EQ(big_t.exit_code, 0) << who << ": " << big_t.err;
    auto file_t = cp({"-T", at("a"), at(who + "-file")});
    EXPECT_EQ(file_t.exit_code, 0) << who << ": " << file_t.err;
  }
  EXPECT_EQ(list_dir(dir_ / "ours-t"), (std::vector<std::string>{"a", "b", "tree"}));
  EXPECT_TRUE(same_tree(snapshot(dir_ / "gnu-t"), snapshot(dir_ / "ours-t"), rules));
  EXPECT_EQ(list_dir(dir_ / "ours-T"), (std::vector<std::string>{"already", "sub", "x"}));
  EXPECT_TRUE(same_tree(snapshot(dir_ / "gnu-T"), snapshot(dir_ / "ours-T"), rules));
  EXPECT_TRUE(same_file_bytes(dir_ / "a", dir_ / "ours-file"));
}

// --parents copies SOURCE to DIRECTORY/SOURCE and makes the directories between, with -a keeping
// their mode and times as GNU cp does; then a directory source (-r) beside it.
TEST_F(Cp, ParentsMakesTheDirectoriesBetweenLikeGnuCp) {
  put("src/a/b/file", 3000);
  put("src/a/c/d/inner", 4000);
  ASSERT_EQ(::chmod(at("src/a").c_str(), 0750), 0);
  const timespec old[2] = {{1'400'000'000, 5}, {1'400'000'000, 5}};
  for (const char* d : {"src/a/b", "src/a"})
    ASSERT_EQ(::utimensat(AT_FDCWD, at(d).c_str(), old, 0), 0);
  // Relative sources (--parents keeps the path as given): both run from the test directory.
  const working_directory here_now(dir_.path());
  for (const std::string who : {"gnu", "ours"}) {
    fs::create_directories(dir_ / who);
    const std::vector<std::string> args{"-a", "--parents", "src/a/b/file", who};
    auto r = who == "gnu" ? gnu_cp(args) : zcopy_cp(args);
    ASSERT_EQ(r.exit_code, 0) << who << ": " << r.err;
  }
  compare_rules made_here = every_attribute;
  made_here.root_mtime = false;  // the test made gnu/ and ours/
  EXPECT_TRUE(same_tree(snapshot(dir_ / "gnu"), snapshot(dir_ / "ours"), made_here));
  // A directory source (-r) into the same DIRECTORY: its parents exist now, its tree is copied.
  auto tree = zcopy_cp({"-r", "--parents", "src/a/c", "ours"});
  ASSERT_EQ(tree.exit_code, 0) << tree.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "src/a/b/file", dir_ / "ours/src/a/b/file"));
  EXPECT_TRUE(same_file_bytes(dir_ / "src/a/c/d/inner", dir_ / "ours/src/a/c/d/inner"));
}

// Misused operands of -t, -T and --parents: a -t target that is missing or not a directory, a file
// onto a directory with -T, too many operands for -T, -t with -T, --parents onto a file, and a
// --parents SOURCE with ".." that would land outside DIRECTORY. Each is an error that names the
// problem, and nothing is made.
TEST_F(Cp, OperandMisusesAreErrors) {
  put("a", 3000);
  put("file", 10);
  put("dir/x", 100);
  fs::create_directories(dir_ / "out");
  const auto file_before = read_file(dir_ / "file");
  struct misuse {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  for (const misuse& m : std::vector<misuse>{
           {{"-t", at("missing"), at("a")},
            1,
            "target directory '" + at("missing") + "': No such file"},
           {{"-t", at("file"), at("a")},
            1,
            "target directory '" + at("file") + "': Not a directory"},
           {{"-T", at("a"), at("out")},
            1,
            "cannot overwrite directory '" + at("out") + "' with non-directory"},
           {{"-T", at("a"), at("b"), at("c")}, 2, "extra operand '" + at("c") + "'"},
           {{"-t", at("out"), "-T", at("a")}, 2, "cannot combine"},
           {{"--parents", at("dir/x"), at("file")},
            1,
            "with --parents, the destination must be a directory"},
           {{"--parents", at("out") + "/../dir/x", at("out")}, 1, "would be copied outside"}}) {
    SCOPED_TRACE(m.args[0] + " " + m.args[1]);
    auto r = zcopy_cp(m.args);
    EXPECT_EQ(r.exit_code, m.exit_code) << r.err;
    EXPECT_TRUE(contains(r.err, m.message)) << r.err;
  }
  EXPECT_TRUE(list_dir(dir_ / "out").empty());
  EXPECT_FALSE(fs::exists(dir_ / "b"));
  EXPECT_FALSE(fs::exists(dir_ / "c"));
  EXPECT_TRUE(same_bytes(file_before, read_file(dir_ / "file")));
}

// -x stops at a mount point inside the tree, as GNU cp -x does: the mount point is made, empty,
// and the rest of the tree is copied (root: a tmpfs is mounted inside the source).
TEST_F(Cp, OneFileSystemStopsAtAMountPointLikeGnuCp) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs inside the tree";
  put("src/top", 4000);
  put("src/dir/below", 6000);
  fs::create_directories(dir_ / "src" / "mnt");
  auto mounted =
      run_bounded({"mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", at("src/mnt")}, 60s);
  ASSERT_EQ(mounted.exit_code, 0) << mounted.err;
  struct unmount {
    std::string path;
    ~unmount() { run_bounded({"umount", "-l", path}, 60s); }
  } unmount_at_exit{at("src/mnt")};
  put("src/mnt/elsewhere", 5000);
  for (const std::string who : {"gnu", "ours"}) {
    auto r =
        who == "gnu" ? gnu_cp({"-rx", at("src"), at(who)}) : zcopy_cp({"-rx", at("src"), at(who)});
    EXPECT_EQ(r.exit_code, 0) << who << ": " << r.err;
    EXPECT_EQ(list_dir(dir_ / who), (std::vector<std::string>{"dir", "mnt", "top"})) << who;
    EXPECT_TRUE(fs::is_directory(dir_ / who / "mnt")) << who;
    EXPECT_TRUE(list_dir(dir_ / who / "mnt").empty()) << who;
    EXPECT_TRUE(same_file_bytes(dir_ / "src" / "top", dir_ / who / "top")) << who;
    EXPECT_TRUE(same_file_bytes(dir_ / "src" / "dir" / "below", dir_ / who / "dir" / "below"))
        << who;
  }
  auto whole = zcopy_cp({"-r", at("src"), at("whole")});
  EXPECT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_TRUE(
      same_file_bytes(dir_ / "src" / "mnt" / "elsewhere", dir_ / "whole" / "mnt" / "elsewhere"));
}

// --- options
// --------------------------------------------------------------------------------------

// -n leaves an existing DEST as it is, and still exits 0.
TEST_F(Cp, NoClobberKeepsTheExistingFile) {
  put("src", 4000);
  put("dst", 1000);
  const auto before = read_file(dir_ / "dst");
  auto r = zcopy_cp({"-n", at("src"), at("dst")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_bytes(before, read_file(dir_ / "dst")));
}

// -i asks once per existing DEST, on stderr, and reads the answer from stdin: "y..." replaces, "n"
// or the end of input keeps it; new files are copied without a question; -n wins over -i.
TEST_F(Cp, InteractiveAsksBeforeEachReplacement) {
  put("src/a", 3000);
  put("src/b", 4000);
  put("src/new", 5000);
  fs::create_symlink("a", dir_ / "src" / "link");
  put("dst/a", 10, 1);
  put("dst/b", 20, 2);
  fs::create_symlink("elsewhere", dir_ / "dst" / "link");
  const auto a_before = read_file(dir_ / "dst" / "a");
  auto with_input = [&](const std::string& input, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"sh", "-c", "printf '" + input + "' | \"$0\" cp \"$@\"",
                                  zcopy_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_bounded(argv, 60s);
  };
  auto no = with_input("n\\nn\\nn\\n", {"-a", "-i", "-j", "1", at("src/."), at("dst")});
  EXPECT_EQ(no.exit_code, 0) << no.err;
  std::size_t questions = 0;
  for (auto at_ = no.err.find("overwrite '"); at_ != std::string::npos;
       at_ = no.err.find("overwrite '", at_ + 1)) {
    ++questions;
  }
  EXPECT_EQ(questions, 3u) << no.err;  // a, b and link; not new
  EXPECT_TRUE(same_bytes(a_before, read_file(dir_ / "dst" / "a")));
  EXPECT_EQ(fs::read_symlink(dir_ / "dst" / "link"), "elsewhere");
  EXPECT_TRUE(same_file_bytes(dir_ / "src" / "new", dir_ / "dst" / "new"));

  auto yes = with_input("yes\\n", {"-i", at("src/a"), at("dst/a")});
  EXPECT_EQ(yes.exit_code, 0) << yes.err;
  EXPECT_TRUE(contains(yes.err, "zcopy: cp: overwrite '" + at("dst/a") + "'? ")) << yes.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "src" / "a", dir_ / "dst" / "a"));
  auto eof = with_input("", {"-i", at("src/b"), at("dst/b")});
  EXPECT_EQ(eof.exit_code, 0) << eof.err;
  EXPECT_FALSE(same_file_bytes(dir_ / "src" / "b", dir_ / "dst" / "b"));
  auto clobber_wins = with_input("y\\n", {"-i", "-n", at("src/b"), at("dst/b")});
  EXPECT_EQ(clobber_wins.exit_code, 0) << clobber_wins.err;
  EXPECT_FALSE(contains(clobber_wins.err, "overwrite")) << clobber_wins.err;
  EXPECT_FALSE(same_file_bytes(dir_ / "src" / "b", dir_ / "dst" / "b"));
}

// A DEST that is a symlink: written through by default (the link stays, its target gets the
// copy), replaced itself with --remove-destination (the target untouched); as GNU cp does both.
TEST_F(Cp, RemoveDestinationReplacesASymlinkDestLikeGnuCp) {
  put("src", 3000);
  const auto old_bytes = random_bytes(100, test_seed() + 9);
  for (const std::string who : {"gnu", "ours"}) {
    fs::create_directories(dir_ / who);
    write_file(dir_ / who / "target", old_bytes);
    write_file(dir_ / who / "target2", old_bytes);
    fs::create_symlink("target", dir_ / who / "through");
    fs::create_symlink("target2", dir_ / who / "replaced");
    auto cp = [&](const std::vector<std::string>& args) {
      return who == "gnu" ? gnu_cp(args) : zcopy_cp(args);
    };
    auto through = cp({at("src"), at(who + "/through")});
    ASSERT_EQ(through.exit_code, 0) << who << ": " << through.err;
    auto replaced = cp({"--remove-destination", at("src"), at(who + "/replaced")});
    ASSERT_EQ(replaced.exit_code, 0) << who << ": " << replaced.err;
  }
  EXPECT_EQ(fs::read_symlink(dir_ / "ours" / "through"), "target");
  EXPECT_TRUE(same_file_bytes(dir_ / "src", dir_ / "ours" / "target"));
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir_ / "ours" / "replaced")));
  EXPECT_TRUE(same_file_bytes(dir_ / "src", dir_ / "ours" / "replaced"));
  EXPECT_FALSE(same_file_bytes(dir_ / "src", dir_ / "ours" / "target2"));
  compare_rules made_here = every_attribute;
  made_here.mtime = made_here.symlink_mtime = made_here.root_mtime = false;
  EXPECT_TRUE(same_tree(snapshot(dir_ / "gnu"), snapshot(dir_ / "ours"), made_here));
}

// --backup keeps each DEST a copy replaces, named as GNU cp names it: numbered (NAME.~N~, one
// more each time), existing (numbered where there are some, else NAME~), simple with -S, and in a
// tree under -a (a replaced symlink too). The same directories as GNU cp's, old bytes kept.
TEST_F(Cp, BackupKeepsReplacedFilesLikeGnuCp) {
  put("tree/x", 3000);
  fs::create_symlink("x", dir_ / "tree" / "link");
  const auto first = random_bytes(500, test_seed() + 1);
  for (const char* version : {"v0", "v1", "v2"}) put(version, 700);
  for (const std::string who : {"gnu", "ours"}) {
    fs::create_directories(dir_ / who / "tree");
    write_file(dir_ / who / "num", first);
    write_file(dir_ / who / "plain", first);
    write_file(dir_ / who / "tree" / "x", first);
    fs::create_symlink("elsewhere", dir_ / who / "tree" / "link");
    auto cp = [&](const std::vector<std::string>& args) {
      auto r = who == "gnu" ? gnu_cp(args) : zcopy_cp(args);
      EXPECT_EQ(r.exit_code, 0) << who << " " << args[0] << ": " << r.err;
    };
    for (const char* version : {"v0", "v1", "v2"}) {
      cp({"--backup=numbered", at(version), at(who + "/num")});
    }
    cp({"-b", at("tree/x"), at(who + "/num")});    // existing: numbered, as there are some
    cp({"-b", at("tree/x"), at(who + "/plain")});  // existing: simple, as there are none
    cp({"-S", ".bak", at("tree/x"), at(who + "/plain")});
    cp({"-a", "-b", at("tree/."), at(who + "/tree")});  // existing: simple
  }
  EXPECT_EQ(list_dir(dir_ / "ours"),
            (std::vector<std::string>{"num", "num.~1~", "num.~2~", "num.~3~", "num.~4~", "plain",
                                      "plain.bak", "plain~", "tree"}));
  EXPECT_EQ(list_dir(dir_ / "ours" / "tree"),
            (std::vector<std::string>{"link", "link~", "x", "x~"}));
  EXPECT_TRUE(same_bytes(first, read_file(dir_ / "ours" / "num.~1~")));
  EXPECT_TRUE(same_bytes(first, read_file(dir_ / "ours" / "tree" / "x~")));
  EXPECT_EQ(fs::read_symlink(dir_ / "ours" / "tree" / "link~"), "elsewhere");
  compare_rules rules = every_attribute;
  rules.mtime = rules.symlink_mtime = rules.root_mtime = false;
  EXPECT_TRUE(same_tree(snapshot(dir_ / "gnu"), snapshot(dir_ / "ours"), rules));
  auto bad = zcopy_cp({"--backup=sometimes", at("tree/x"), at("ours/plain")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, "--backup: 'sometimes'")) << bad.err;
}

// -u skips a source older than DEST and copies one newer than DEST.
TEST_F(Cp, UpdateCopiesOnlyNewerSources) {
  put("src", 4000);
  put("dst", 1000);
  const auto before = read_file(dir_ / "dst");
  const timespec older[2] = {{1'000'000'000, 0}, {1'000'000'000, 0}};
  const timespec newer[2] = {{1'600'000'000, 0}, {1'600'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, at("src").c_str(), older, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, at("dst").c_str(), newer, 0), 0);
  auto skipped = zcopy_cp({"-u", at("src"), at("dst")});
  EXPECT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_TRUE(same_bytes(before, read_file(dir_ / "dst")));

  ASSERT_EQ(::utimensat(AT_FDCWD, at("src").c_str(), newer, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, at("dst").c_str(), older, 0), 0);
  auto copied = zcopy_cp({"-u", at("src"), at("dst")});
  EXPECT_EQ(copied.exit_code, 0) << copied.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "src", dir_ / "dst"));
}

// -v prints one line per file with the data method; a forced method shows as itself and copies
// the bytes exactly.
TEST_F(Cp, VerboseNamesTheMethodAndForcedMethodsCopyExactly) {
  put("src", 3 * mib + 5);
  auto r = zcopy_cp({"-v", at("src"), at("dst")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::regex line(
      "'" + at("src") + "' -> '" + at("dst") +
      "' \\((reflink|copy_file_range|sendfile|splice|read_write|mmap_write)\\)\n");
  EXPECT_TRUE(std::regex_search(r.out, line)) << r.out;
  for (const char* m : {"copy_file_range", "sendfile", "read_write", "splice", "mmap_write"}) {
    const std::string dst = at(std::string("dst-") + m);
    auto forced = zcopy_cp({"-v", "--method", m, at("src"), dst});
    EXPECT_EQ(forced.exit_code, 0) << m << ": " << forced.err;
    EXPECT_TRUE(contains(forced.out, std::string("(") + m + ")")) << forced.out;
    EXPECT_TRUE(same_file_bytes(dir_ / "src", dst)) << m;
  }
}

// --json prints one object whose counts match the tree copied.
TEST_F(Cp, JsonSummaryCountsTheEntries) {
  put("src/a", 10);
  put("src/b", 5000);
  put("src/sub/c", 0);
  fs::create_symlink("a", dir_ / "src" / "link");
  auto r = zcopy_cp({"-a", "--json", at("src"), at("dst")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto json = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(json.is_discarded()) << r.out;
  EXPECT_EQ(json["files"], 3) << r.out;
  EXPECT_EQ(json["directories"], 2) << r.out;
  EXPECT_EQ(json["symlinks"], 1) << r.out;
  EXPECT_EQ(json["bytes"], 5010) << r.out;
  EXPECT_EQ(json["errors"], 0) << r.out;
  EXPECT_TRUE(json["seconds"].is_number()) << r.out;
  EXPECT_TRUE(json["fallbacks"].is_number()) << r.out;
  ASSERT_TRUE(json["methods"].is_object()) << r.out;
  std::uint64_t by_method = 0;
  for (const auto& [name, n] : json["methods"].items()) by_method += n.get<std::uint64_t>();
  EXPECT_GE(by_method, 2u) << r.out;  // the two files with data; the empty one may have none
  EXPECT_LE(by_method, 3u) << r.out;
  EXPECT_TRUE(same_file_bytes(dir_ / "src/b", dir_ / "dst/b"));
}

// --verify compares every copied file with its source and passes on a good copy.
TEST_F(Cp, VerifyPassesOnAGoodCopy) {
  put("src/a", 100 * kib + 1);
  put("src/b/c", 2 * mib + 9);
  put("src/empty", 0);
  auto r = zcopy_cp({"-r", "--verify", at("src"), at("dst")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_TRUE(same_tree(snapshot(dir_ / "src"), snapshot(dir_ / "dst"), {.mode = true}));
}

// `--` ends the options: a file named with a leading dash is an operand.
TEST_F(Cp, DoubleDashEndsTheOptions) {
  put("-v", 1234);
  const fs::path cwd = fs::current_path();
  ASSERT_EQ(::chdir(dir_.path().c_str()), 0);  // the child inherits it: operands stay relative
  auto r = zcopy_cp({"--", "-v", "-copy"});
  ASSERT_EQ(::chdir(cwd.c_str()), 0);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;  // not taken for --verbose
  EXPECT_TRUE(same_file_bytes(dir_ / "-v", dir_ / "-copy"));
}

// A file large enough for parallel ranges (256 MiB and up) is copied exactly in ranges.
TEST_F(Cp, ParallelRangesCopyALargeFileExactly) {
  write_random_file(dir_ / "src", 300 * mib, test_seed());
  auto r = zcopy_cp({"-v", "--parallel-ranges", "4", at("src"), at("dst")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "src", dir_ / "dst"));
  if (contains(r.out, "(copy_file_range")) {
    EXPECT_TRUE(contains(r.out, "4 ranges")) << r.out;
  }
}

// --sparse=never allocates the holes; --sparse=always turns zero blocks into holes; both keep
// the bytes.
TEST_F(Cp, SparseModesShapeTheHoles) {
  {
    unique_fd fd = open_or_die(dir_ / "holey", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
    ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(64 * mib)), 0);
    const auto data = random_bytes(1 * mib, test_seed());
    ASSERT_EQ(::pwrite(fd.get(), data.data(), data.size(), 32 * mib), 1 * mib);
  }
  auto never = zcopy_cp({"--sparse=never", at("holey"), at("full")});
  ASSERT_EQ(never.exit_code, 0) << never.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "holey", dir_ / "full"));
  const auto full_map = data_map(dir_ / "full");
  ASSERT_EQ(full_map.size(), 1u);
  EXPECT_EQ(full_map[0], (std::pair<std::uint64_t, std::uint64_t>{0, 64 * mib}));

  {
    std::vector<std::byte> zeros_inside = random_bytes(8 * mib, test_seed() + 1);
    std::fill(zeros_inside.begin() + 2 * mib, zeros_inside.begin() + 6 * mib, std::byte{0});
    write_file(dir_ / "zeros", zeros_inside);
  }
  auto always = zcopy_cp({"--sparse=always", at("zeros"), at("punched")});
  ASSERT_EQ(always.exit_code, 0) << always.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "zeros", dir_ / "punched"));
  EXPECT_EQ(data_map(dir_ / "punched"), (std::vector<std::pair<std::uint64_t, std::uint64_t>>{
                                            {0, 2 * mib}, {6 * mib, 8 * mib}}));
}

// A copy shorter than a second shows no progress bar, even with --progress.
TEST_F(Cp, ShortCopyShowsNoProgress) {
  put("src", 1 * mib);
  auto r = zcopy_cp({"--progress", at("src"), at("dst")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_TRUE(same_file_bytes(dir_ / "src", dir_ / "dst"));
}

// Usage errors exit 2 with a message: missing operands, values that are not choices.
TEST_F(Cp, UsageErrorsExit2) {
  put("a", 10);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {at("a")},
           {"--reflink=sometimes", at("a"), at("b")},
           {"--sparse=maybe", at("a"), at("b")},
           {"--method", "telepathy", at("a"), at("b")},
           {"--preserve=colour", at("a"), at("b")},
           {"-j", "0", at("a"), at("b")},
           {"--inplace", "--backup", at("a"), at("b")},
           {"--inplace", "--remove-destination", at("a"), at("b")},
           {"--no-such-flag", at("a"), at("b")}}) {
    auto r = zcopy_cp(args);
    EXPECT_EQ(r.exit_code, 2) << (args.empty() ? "" : args[0]) << ": " << r.err;
    EXPECT_TRUE(contains(r.err, "zcopy")) << r.err;
  }
  EXPECT_FALSE(fs::exists(dir_ / "b"));
  auto help = zcopy_cp({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(contains(help.out, "SOURCE... DEST")) << help.out;
  EXPECT_TRUE(contains(help.out, "-t DIRECTORY SOURCE...")) << help.out;
  EXPECT_TRUE(contains(help.out, "replaced whole by a rename")) << help.out;
}

}  // namespace
}  // namespace zcopy::test
