#include "integration/cp_fixture.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace zcopy::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * kib;
constexpr std::uint64_t gib = 1024 * mib;

std::string binary() {
  const char* b = std::getenv("ZCOPY_BINARY");
  return b ? b : "";
}

void set_mtime(const fs::path& path, std::int64_t sec, long nsec) {
  timespec times[2] = {{static_cast<time_t>(sec), nsec}, {static_cast<time_t>(sec), nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0)
      << path << ": " << std::strerror(errno);
}

std::string describe(const tree_entry& e) {
  std::ostringstream s;
  s << "type " << e.type << " mode " << std::oct << e.mode << std::dec << " uid " << e.uid
    << " gid " << e.gid << " size " << e.size << " mtime " << e.mtime_sec << "." << e.mtime_nsec
    << " blocks " << e.blocks;
  if (e.type == 'l') s << " -> '" << e.link_target << "'";
  return s.str();
}

}  // namespace

std::string zcopy_binary() {
  return binary();
}

// An executable from the system directories or PATH; empty when there is none.
std::string find_program(const std::string& name) {
  std::vector<std::string> dirs{"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
  if (const char* path = std::getenv("PATH")) {
    std::stringstream s(path);
    std::string d;
    while (std::getline(s, d, ':')) dirs.push_back(d);
  }
  for (const auto& d : dirs) {
    const std::string candidate = d + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

run_result zcopy_cp(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{binary(), "cp"};
  argv.insert(argv.end(), args.begin(), args.end());
  if (argv[0].empty()) {
    ADD_FAILURE() << "ZCOPY_BINARY is not set";
    return {};
  }
  return run_bounded(argv, timeout);
}

run_result gnu_cp(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{"/bin/cp"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_bounded(argv, timeout);
}

std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> data_map(const fs::path& path) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> map;
  unique_fd fd = open_or_die(path, O_RDONLY | O_CLOEXEC);
  off_t at = 0;
  for (;;) {
    const off_t data = ::lseek(fd.get(), at, SEEK_DATA);
    if (data < 0) break;  // ENXIO: no data after `at`
    const off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
    if (hole <= data) break;
    map.emplace_back(static_cast<std::uint64_t>(data), static_cast<std::uint64_t>(hole));
    at = hole;
  }
  return map;
}

::testing::AssertionResult same_file_bytes(const fs::path& expected, const fs::path& actual) {
  struct stat e {
  }, a{};
  if (::stat(expected.c_str(), &e) != 0 || ::stat(actual.c_str(), &a) != 0) {
    return ::testing::AssertionFailure() << "cannot stat " << expected << " or " << actual;
  }
  if (e.st_size != a.st_size) {
    return ::testing::AssertionFailure() << actual << ": size " << a.st_size << ", expected "
                                         << e.st_size << " (" << expected << ")";
  }
  unique_fd ef = open_or_die(expected, O_RDONLY | O_CLOEXEC);
  unique_fd af = open_or_die(actual, O_RDONLY | O_CLOEXEC);
  const auto emap = data_map(expected);
  constexpr std::uint64_t chunk = 1 * mib;
  for (const auto& [begin, end] : emap) {
    for (std::uint64_t at = begin; at < end; at += chunk) {
      const std::uint64_t n = std::min(chunk, end - at);
      const auto want = read_range(ef.get(), at, n);
      const auto got = read_range(af.get(), at, n);
      if (want != got) {
        std::size_t i = 0;
        while (i < std::min(want.size(), got.size()) && want[i] == got[i]) ++i;
        return ::testing::AssertionFailure()
               << actual << ": first difference at byte " << at + i << " (expected " << expected
               << ", seed " << test_seed() << ")";
      }
    }
  }
  // Where `expected` has holes, `actual` must read as zeros: only its data there needs reading.
  std::size_t next = 0;
  for (const auto& [begin, end] : data_map(actual)) {
    std::uint64_t at = begin;
    while (at < end) {
      while (next < emap.size() && emap[next].second <= at) ++next;
      if (next < emap.size() && emap[next].first <= at) {
        at = emap[next].second;
        continue;
      }
      const std::uint64_t limit = next < emap.size() ? std::min(end, emap[next].first) : end;
      const std::uint64_t n = std::min(chunk, limit - at);
      const auto got = read_range(af.get(), at, n);
      for (std::size_t i = 0; i < got.size(); ++i) {
        if (got[i] != std::byte{0}) {
          return ::testing::AssertionFailure()
                 << actual << ": byte " << at + i << " is not zero where " << expected
                 << " has a hole";
        }
      }
      at += n;
    }
  }
  return ::testing::AssertionSuccess();
}

void write_random_file(const fs::path& path, std::uint64_t size, std::uint64_t seed) {
  constexpr std::uint64_t chunk = 16 * mib;
  auto block = random_bytes(static_cast<std::size_t>(std::min(size, chunk)), seed);
  unique_fd fd = open_or_die(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  for (std::uint64_t at = 0, index = 0; at < size; at += chunk, ++index) {
    // Every chunk differs from the others: a copy that repeats or reorders chunks shows up.
    std::memcpy(block.data(), &index, std::min<std::size_t>(8, block.size()));
    block[0] |= std::byte{1};
    const std::size_t n = static_cast<std::size_t>(std::min(chunk, size - at));
    std::size_t done = 0;
    while (done < n) {
      const ssize_t w = ::write(fd.get(), block.data() + done, n - done);
      ASSERT_GT(w, 0) << path << ": " << std::strerror(errno);
      done += static_cast<std::size_t>(w);
    }
  }
}

generated_tree make_test_tree(const fs::path& root, std::uint64_t seed) {
  generated_tree tree{.root = root, .sparse_name = "sparse-4g"};
  fs::create_directories(root / "sub" / "deep");
  fs::create_directories(root / "ro-dir");
  fs::create_directories(root / "empty-dir");
  std::uint64_t salt = 0;
  auto file = [&](const std::string& rel, std::size_t size, mode_t mode) {
    write_file(root / rel, random_bytes(size, seed + ++salt));
    ::chmod((root / rel).c_str(), mode);
    ++tree.files;
  };
  // Sizes around the page and the chunk boundaries the methods use.
  file("empty", 0, 0644);
  file("one", 1, 0644);
  file("page-1", 4095, 0644);
  file("page", 4096, 0644);
  file("page+1", 4097, 0644);
  file("medium", 65536 + 3, 0644);
  file("large", 1 * mib + 7, 0644);
  file("big", 8 * mib + 123, 0644);
  file("with space.txt", 1000, 0644);
  file("new\nline", 2000, 0644);
  file("\xc3\xbctf-8 \xe2\x9c\x93 \xd1\x84\xd0\xb0\xd0\xb9\xd0\xbb", 3000, 0644);
  file("-leading-dash", 10, 0644);
  file(".hidden", 77, 0644);
  file("mode-600", 100, 0600);
  file("exec-755", 200, 0755);
  file("readonly-444", 300, 0444);
  file("setuid-4755", 50, 04755);
  file("owned", 400, 0640);
  file("sub/leaf", 123, 0644);
  file("sub/deep/leaf", 500, 0644);
  file("sub/deep/empty", 0, 0600);
  file("ro-dir/inside", 600, 0644);
  file("hard-a", 700, 0644);
  file("hard-x", 800, 0600);

  // A 4 GiB file with three data extents: page-aligned so that every filesystem reports the same
  // map for the source and for a copy that keeps the holes.
  {
    unique_fd fd = open_or_die(root / tree.sparse_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
    EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(4 * gib)), 0);
    const std::pair<std::uint64_t, std::uint64_t> extents[] = {
        {1 * mib, 256 * kib}, {2 * gib, 1 * mib}, {4 * gib - 512 * kib, 512 * kib}};
    for (const auto& [offset, length] : extents) {
      const auto data = random_bytes(static_cast<std::size_t>(length), seed + ++salt);
      EXPECT_EQ(::pwrite(fd.get(), data.data(), data.size(), static_cast<off_t>(offset)),
                static_cast<ssize_t>(data.size()));
    }
    EXPECT_EQ(::fsync(fd.get()), 0);
    ++tree.files;
  }

  // Hard links: a group of three across directories, a group of two.
  EXPECT_EQ(::link((root / "hard-a").c_str(), (root / "sub/hard-b").c_str()), 0);
  EXPECT_EQ(::link((root / "hard-a").c_str(), (root / "sub/deep/hard-c").c_str()), 0);
  EXPECT_EQ(::link((root / "hard-x").c_str(), (root / "hard-y").c_str()), 0);
  tree.files += 3;

  // Symlinks: absolute, relative, dangling, to a directory.
  fs::create_symlink(root / "one", root / "link-abs");
  fs::create_symlink("sub/deep/leaf", root / "link-rel");
  fs::create_symlink("../does-not-exist", root / "sub/link-dangling");
  fs::create_symlink("sub", root / "link-dir");
  fs::create_symlink("owned", root / "link-owned");

  EXPECT_EQ(::mkfifo((root / "fifo").c_str(), 0640), 0) << std::strerror(errno);

  if (::geteuid() == 0) {
    EXPECT_EQ(::chown((root / "owned").c_str(), 1234, 5678), 0);
    EXPECT_EQ(::lchown((root / "link-owned").c_str(), 4321, 8765), 0);
    EXPECT_EQ(::chown((root / "fifo").c_str(), 1234, 5678), 0);
    ::chmod((root / "setuid-4755").c_str(), 04755);  // chown clears it; set again
  }

  // mtimes with nanoseconds on everything, directories last and deepest first.
  std::int64_t sec = 1'500'000'000;
  long nsec = 123'456'789;
  std::vector<fs::path> directories;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    if (it->is_directory() && !it->is_symlink()) {
      directories.push_back(it->path());
    } else {
      set_mtime(it->path(), sec += 1000, nsec += 1111);
    }
  }
  std::sort(directories.begin(), directories.end(),
            [](const fs::path& a, const fs::path& b) { return a.string() > b.string(); });
  for (const auto& d : directories) set_mtime(d, sec += 1000, nsec += 1111);
  ::chmod((root / "sub/deep").c_str(), 0700);
  ::chmod((root / "empty-dir").c_str(), 0750);
  ::chmod((root / "ro-dir").c_str(), 0555);
  set_mtime(root, sec += 1000, nsec += 1111);
  return tree;
}

std::set<std::set<std::string>> tree_snapshot::link_groups() const {
  std::map<std::pair<dev_t, ino_t>, std::set<std::string>> by_inode;
  for (const auto& [name, e] : entries) {
    if (e.type == 'f') by_inode[{e.dev, e.ino}].insert(name);
  }
  std::set<std::set<std::string>> groups;
  for (auto& [inode, names] : by_inode) {
    if (names.size() > 1) groups.insert(std::move(names));
  }
  return groups;
}

tree_snapshot snapshot(const fs::path& root) {
  tree_snapshot snap{.root = root, .entries = {}};
  auto add = [&](const fs::path& path, const std::string& name) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      ADD_FAILURE() << "lstat " << path << ": " << std::strerror(errno);
      return;
    }
    tree_entry e;
    e.type = S_ISREG(st.st_mode)    ? 'f'
             : S_ISDIR(st.st_mode)  ? 'd'
             : S_ISLNK(st.st_mode)  ? 'l'
             : S_ISFIFO(st.st_mode) ? 'p'
             : S_ISCHR(st.st_mode)  ? 'c'
             : S_ISBLK(st.st_mode)  ? 'b'
                                    : 's';
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.size = static_cast<std::uint64_t>(st.st_size);
    e.mtime_sec = st.st_mtim.tv_sec;
    e.mtime_nsec = st.st_mtim.tv_nsec;
    e.blocks = static_cast<std::uint64_t>(st.st_blocks);
    e.dev = st.st_dev;
    e.ino = st.st_ino;
    if (e.type == 'l') {
      std::error_code ec;
      e.link_target = fs::read_symlink(path, ec).string();
    }
    snap.entries[name] = e;
  };
  add(root, ".");
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    add(it->path(), it->path().lexically_relative(root).string());
  }
  if (ec) ADD_FAILURE() << "walking " << root << ": " << ec.message();
  return snap;
}

::testing::AssertionResult same_tree(const tree_snapshot& expected, const tree_snapshot& actual,
                                     const compare_rules& rules) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& name, const std::string& what) {
    problems.push_back("'" + name + "': " + what);
  };
  for (const auto& [name, e] : expected.entries) {
    auto found = actual.entries.find(name);
    if (found == actual.entries.end()) {
      problem(name, "missing (expected " + describe(e) + ")");
      continue;
    }
    const tree_entry& a = found->second;
    const std::string both = "expected " + describe(e) + ", got " + describe(a);
    if (a.type != e.type) {
      problem(name, "type differs: " + both);
      continue;
    }
    if (rules.mode && e.type != 'l' && a.mode != e.mode) problem(name, "mode differs: " + both);
    if (rules.owner && (a.uid != e.uid || a.gid != e.gid)) problem(name, "owner differs: " + both);
    const bool check_mtime =
        rules.mtime && (e.type != 'l' || rules.symlink_mtime) && (name != "." || rules.root_mtime);
    if (check_mtime && (a.mtime_sec != e.mtime_sec || a.mtime_nsec != e.mtime_nsec)) {
      problem(name, "mtime differs: " + both);
    }
    if (e.type == 'l' && a.link_target != e.link_target) problem(name, "target differs: " + both);
    if (e.type == 'f') {
      if (auto r = same_file_bytes(expected.root / name, actual.root / name); !r) {
        problem(name, r.message());
      }
      if (rules.holes) {
        if (data_map(expected.root / name) != data_map(actual.root / name)) {
          problem(name, "data/hole map differs: " + both);
        }
        const std::uint64_t slack = std::max<std::uint64_t>(128, std::max(a.blocks, e.blocks) / 20);
        if ((a.blocks > e.blocks ? a.blocks - e.blocks : e.blocks - a.blocks) > slack) {
          problem(name, "st_blocks differ beyond tolerance: " + both);
        }
      }
    }
  }
  for (const auto& [name, a] : actual.entries) {
    if (!expected.entries.contains(name)) problem(name, "unexpected (" + describe(a) + ")");
  }
  const auto eg = expected.link_groups();
  const auto ag = actual.link_groups();
  if (eg != ag) {
    std::ostringstream s;
    s << "hard-link groups differ: expected {";
    for (const auto& g : eg) {
      s << " [";
      for (const auto& n : g) s << " '" << n << "'";
      s << " ]";
    }
    s << " }, got {";
    for (const auto& g : ag) {
      s << " [";
      for (const auto& n : g) s << " '" << n << "'";
      s << " ]";
    }
    s << " }";
    problems.push_back(s.str());
  }
  if (problems.empty()) return ::testing::AssertionSuccess();
  auto failure = ::testing::AssertionFailure();
  failure << problems.size() << " differences between " << expected.root << " (expected) and "
          << actual.root << " (seed " << test_seed() << "):";
  for (std::size_t i = 0; i < problems.size() && i < 60; ++i) failure << "\n  " << problems[i];
  return failure;
}

// --- mounts -------------------------------------------------------------------------------------

std::unique_ptr<loop_mount> loop_mount::create(const std::string& fs_type, std::uint64_t size,
                                               const std::vector<std::string>& mkfs_args,
                                               std::string& why,
                                               const std::vector<std::string>& mount_options) {
  if (::geteuid() != 0) {
    why = "needs root to mount a loop device";
    return nullptr;
  }
  const std::string mkfs = find_program("mkfs." + fs_type);
  if (mkfs.empty()) {
    why = "mkfs." + fs_type + " is not installed (scripts/deps.sh)";
    return nullptr;
  }
  if (::access("/dev/loop-control", F_OK) != 0 && ::access("/dev/loop0", F_OK) != 0) {
    why = "no loop devices (/dev/loop-control)";
    return nullptr;
  }
  std::unique_ptr<loop_mount> m(new loop_mount());
  const fs::path image = m->dir_ / "image";
  m->mount_point_ = m->dir_ / "mnt";
  fs::create_directory(m->mount_point_);
  {
    unique_fd fd = open_or_die(image, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      ADD_FAILURE() << "ftruncate " << image << ": " << std::strerror(errno);
      return nullptr;
    }
  }
  std::vector<std::string> mkfs_argv{mkfs};
  mkfs_argv.insert(mkfs_argv.end(), mkfs_args.begin(), mkfs_args.end());
  mkfs_argv.push_back(image.string());
  auto made = run_bounded(mkfs_argv, 120s);
  if (made.exit_code != 0) {
    why = "mkfs." + fs_type + " failed: " + made.err;
    return nullptr;
  }
  std::string options = "loop";
  for (const auto& o : mount_options) options += "," + o;
  auto mounted =
      run_bounded({"mount", "-o", options, image.string(), m->mount_point_.string()}, 60s);
  if (mounted.exit_code != 0) {
    why = "mount -o " + options + " failed (loop devices unavailable here?): " + mounted.err;
    return nullptr;
  }
  m->mounted_ = true;
  return m;
}

loop_mount::~loop_mount() {
  if (!mounted_) return;
  // -d detaches the loop device too; a busy mount is detached lazily rather than leaked.
  auto r = run_bounded({"umount", "-d", mount_point_.string()}, 60s);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "umount -d " << mount_point_ << ": " << r.err;
    run_bounded({"umount", "-l", "-d", mount_point_.string()}, 60s);
  }
}

std::unique_ptr<read_only_bind> read_only_bind::create(const fs::path& source, std::string& why) {
  if (::geteuid() != 0) {
    why = "needs root for a bind mount";
    return nullptr;
  }
  std::unique_ptr<read_only_bind> m(new read_only_bind());
  m->mount_point_ = m->dir_ / "ro";
  fs::create_directory(m->mount_point_);
  auto bound = run_bounded({"mount", "--bind", source.string(), m->mount_point_.string()}, 60s);
  if (bound.exit_code != 0) {
    why = "mount --bind failed: " + bound.err;
    return nullptr;
  }
  m->mounted_ = true;
  auto ro = run_bounded({"mount", "-o", "remount,bind,ro", m->mount_point_.string()}, 60s);
  if (ro.exit_code != 0) {
    why = "remount,bind,ro failed: " + ro.err;
    return nullptr;  // the destructor unmounts the bind
  }
  return m;
}

read_only_bind::~read_only_bind() {
  if (!mounted_) return;
  auto r = run_bounded({"umount", mount_point_.string()}, 60s);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "umount " << mount_point_ << ": " << r.err;
    run_bounded({"umount", "-l", mount_point_.string()}, 60s);
  }
}

}  // namespace zcopy::test
