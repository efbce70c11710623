// Helpers for `zcopy cp` integration tests: the real binary and GNU cp run bounded, a generated
// tree with every kind of entry, snapshots of trees compared entry by entry (type, bytes, mode,
// owner, mtime, symlink target, hole map, hard-link groups), and loop-mounted filesystems that are
// always unmounted. Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "integration/serve_fixture.hpp"
#include "support/test_support.hpp"

namespace zcopy::test {

// Runs the test (and the programs it starts) in `dir` until destroyed, then where it was.
class working_directory {
 public:
  explicit working_directory(const std::filesystem::path& dir) {
    std::filesystem::current_path(dir);
  }
  ~working_directory() { std::filesystem::current_path(before_); }
  working_directory(const working_directory&) = delete;
  working_directory& operator=(const working_directory&) = delete;

 private:
  std::filesystem::path before_ = std::filesystem::current_path();
};

// The zcopy binary under test (ZCOPY_BINARY).
std::string zcopy_binary();
// An executable from the system directories or PATH; empty when there is none.
std::string find_program(const std::string& name);
// `zcopy cp ARGS...` (ZCOPY_BINARY), killed after `timeout`.
run_result zcopy_cp(const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::minutes(5));
// `/bin/cp ARGS...` (GNU coreutils), killed after `timeout`.
run_result gnu_cp(const std::vector<std::string>& args,
                  std::chrono::milliseconds timeout = std::chrono::minutes(5));

// Names in a directory, dotfiles included ("." and ".." not), sorted.
std::vector<std::string> list_dir(const std::filesystem::path& dir);

// The data ranges of a file ([start, end) pairs from SEEK_DATA/SEEK_HOLE).
std::vector<std::pair<std::uint64_t, std::uint64_t>> data_map(const std::filesystem::path& path);

// Whether two files hold the same bytes: the data ranges of `expected` compared with pread, and
// the whole of `actual` where `expected` has holes must read as zeros. The message names the first
// difference.
::testing::AssertionResult same_file_bytes(const std::filesystem::path& expected,
                                           const std::filesystem::path& actual);

// A file of `size` seeded random bytes written in chunks (never held in memory at once).
void write_random_file(const std::filesystem::path& path, std::uint64_t size, std::uint64_t seed);

// The generated tree the differential tests copy: files of many sizes (empty included), a sparse
// 4 GiB file with 3 data extents, symlinks (absolute, relative, dangling), hard links, a FIFO, odd
// names (space, newline, UTF-8, leading dash), modes, a read-only directory, an owner other than
// root (when root) and mtimes with nanoseconds on everything, directories last.
struct generated_tree {
  std::filesystem::path root;
  std::string sparse_name;  // relative path of the sparse file
  std::size_t files = 0;    // regular files (hard links counted once per name)
};
generated_tree make_test_tree(const std::filesystem::path& root, std::uint64_t seed);

struct tree_entry {
  char type = '?';  // f d l p c b s
  mode_t mode = 0;  // permission bits and setuid/setgid/sticky
  uid_t uid = 0;
  gid_t gid = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_sec = 0;
  long mtime_nsec = 0;
  std::uint64_t blocks = 0;
  std::string link_target;
  dev_t dev = 0;
  ino_t ino = 0;
};

// Every entry under `root` (lstat, symlinks not followed), by path relative to `root` ("." for the
// root itself).
struct tree_snapshot {
  std::filesystem::path root;
  std::map<std::string, tree_entry> entries;
  // Regular files sharing an inode, as sets of relative paths (groups of one left out).
  std::set<std::set<std::string>> link_groups() const;
};
tree_snapshot snapshot(const std::filesystem::path& root);

struct compare_rules {
  bool mode = true;            // permission bits (not for symlinks)
  bool owner = false;          // uid and gid
  bool mtime = false;          // mtime to the nanosecond for files, directories, FIFOs
  bool symlink_mtime = false;  // ... and for symlinks
  bool root_mtime = true;      // with `mtime`: the top directory's too
  bool holes = true;           // data maps equal, st_blocks within a tolerance
};

// Compares `actual` with `expected` entry by entry; the message lists every difference (bounded).
::testing::AssertionResult same_tree(const tree_snapshot& expected, const tree_snapshot& actual,
                                     const compare_rules& rules);

// A filesystem image loop-mounted on a temporary directory; unmounted (`umount -d`, which also
// detaches the loop device) on destruction whatever happened.
class loop_mount {
 public:
  // nullptr with `why` set when this cannot run here (not root, mkfs missing, no loop devices);
  // failures of the test's own making add a failure.
  static std::unique_ptr<loop_mount> create(const std::string& fs_type, std::uint64_t size,
                                            const std::vector<std::string>& mkfs_args,
                                            std::string& why,
                                            const std::vector<std::string>& mount_options = {});
  ~loop_mount();
  loop_mount(const loop_mount&) = delete;
  loop_mount& operator=(const loop_mount&) = delete;
  const std::filesystem::path& path() const { return mount_point_; }

 private:
  loop_mount() = default;
  temp_dir dir_;
  std::filesystem::path mount_point_;
  bool mounted_ = false;
};

// A read-only bind mount of `source` on a temporary directory (root only); unmounted on
// destruction.
class read_only_bind {
 public:
  static std::unique_ptr<read_only_bind> create(const std::filesystem::path& source,
                                                std::string& why);
  ~read_only_bind();
  read_only_bind(const read_only_bind&) = delete;
  read_only_bind& operator=(const read_only_bind&) = delete;
  const std::filesystem::path& path() const { return mount_point_; }

 private:
  read_only_bind() = default;
  temp_dir dir_;
  std::filesystem::path mount_point_;
  bool mounted_ = false;
};

}  // namespace zcopy::test
