// Pieces shared by the file and tree copies (copy.hpp): the directory reader, temporary names,
// metadata helpers and the file copy with the knobs the tree copy needs but the public API does
// not offer. Internal to libzcopy.
//
// Ownership: directory descriptors of a tree walk are shared (shared_dir): the walker's reader
// and the file jobs it queues hold them, so a copy thread still has its directories open after
// the walker has moved on; a temp_entry owns a name in a directory
// (it unlinks the name unless committed) but borrows the directory descriptor, which must outlive
// it.
#pragma once

#include <sys/stat.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "core/temp_entry.hpp"
#include "zcopy/copy.hpp"
#include "zcopy/fd.hpp"

namespace zcopy::detail {

using shared_dir = std::shared_ptr<const unique_fd>;
inline shared_dir share(unique_fd fd) {
  return std::make_shared<const unique_fd>(std::move(fd));
}

// A directory read with getdents64 through the syscall layer (the tests' fault seam), one
// buffer of records at a time: memory stays bounded however large the directory is.
class dir_reader {
 public:
  struct entry {
    std::string_view name;  // valid until the next call to next()
    unsigned char type;     // DT_* (DT_UNKNOWN on filesystems that do not fill it)
  };

  explicit dir_reader(shared_dir fd) : fd_(std::move(fd)), buffer_(32 * 1024) {}
  int fd() const noexcept { return fd_->get(); }
  const shared_dir& shared() const noexcept { return fd_; }
  // The next entry other than "." and "..", none at the end.
  std::expected<std::optional<entry>, std::error_code> next();

 private:
  shared_dir fd_;
  std::vector<std::byte> buffer_;
  std::size_t filled_ = 0;
  std::size_t at_ = 0;
};

// The process's umask, read once without changing it (/proc/self/status "Umask:", Linux 4.7);
// where /proc cannot tell, set-and-restore once, under a lock.
mode_t process_umask();

// --backup: gives DEST (`name` in `dir`) its backup name before a copy is renamed over it. A hard
// link to a temporary name renamed over the backup name, so DEST stays in place throughout; where
// the filesystem has no hard links, DEST is renamed to the backup name. Nothing to do when DEST
// is gone.
std::error_code keep_backup(int dir, const std::string& name, const copy_options& options);

// What to give a file or directory once its contents are in place.
struct final_metadata {
  std::optional<mode_t> mode;                    // permission bits, 07777
  std::optional<std::pair<uid_t, gid_t>> owner;  // chown; EPERM ignored (cp, non-root)
  std::optional<std::array<timespec, 2>> times;  // atime, mtime
};

// Applies `meta` to an open file (owner first: chown clears the setuid bits that chmod sets).
// Returns the failing step with the error.
std::expected<void, std::pair<copy_step, std::error_code>> apply_metadata(
    int fd, const final_metadata& meta);
// The same by name (for directories, symlinks: AT_SYMLINK_NOFOLLOW, where chmod does not apply).
std::expected<void, std::pair<copy_step, std::error_code>> apply_metadata_at(
    int dirfd, const char* name, const final_metadata& meta, bool symlink);

// The permission bits a new copy gets when the mode is not preserved: the source's, without
// setuid/setgid, masked by the umask (cp's rule for new files).
inline mode_t masked_mode(mode_t source_mode) {
  return source_mode & 07777 & ~mode_t{S_ISUID | S_ISGID} & ~process_umask();
}

// The mode of a new entry when the source's mode is not preserved: the source's masked by the
// umask, or with `default_mode` that of any new file or directory.
inline mode_t new_entry_mode(mode_t source_mode, const preserve_options& preserve) {
  if (!preserve.default_mode) return masked_mode(source_mode);
  return (S_ISDIR(source_mode) ? mode_t{0777} : mode_t{0666}) & ~process_umask();
}

// The file copy behind copy_file(), plus what copy_tree needs.
struct file_copy_extra {
  bool no_replace = false;  // -n: never replace an existing DEST (RENAME_NOREPLACE)
  // The caller knows DEST does not exist (copy_tree: its directory was made by this copy), so
  // DEST is not looked up first. Should a name appear meanwhile, linkat refuses to replace it
  // and the copy goes on as for an existing DEST.
  bool dest_absent = false;
  // SOURCE already open, a regular file, and its fstat (copy_tree opens the files of a directory
  // it reads straight from the entry's type): not opened or checked again.
  int source_fd = -1;
  const struct stat* source_stat = nullptr;
  // SOURCE may be a FIFO or a device, whose contents are read (cp without -R); otherwise only a
  // regular file is copied.
  bool special_source = false;
};

// Opens `rel` (a relative path of directories made or merged into by a tree copy) below `root`
// without following a symlink in any component: a directory of DEST swapped for a symlink after
// the copy looked at it is refused (ELOOP), never written through. openat2(RESOLVE_NO_SYMLINKS)
// (Linux 5.6); before it, one O_NOFOLLOW open per component.
std::expected<unique_fd, std::error_code> open_no_symlinks(int root,
                                                           const std::filesystem::path& rel,
                                                           int flags);

// DEST's extended attributes and ACLs (`name` in `dir`) set on `to`, the file about to replace
// it; all but those that vouch for the old contents (security.capability, IMA/EVM), which the
// kernel itself drops when a file is written. What the filesystem of either side does not support
// or the process may not read or set is left out; other errors are returned.
std::error_code keep_attributes(int dir, const std::string& name, int to);

// -n found something at DEST: it stays, nothing was copied, and that is not an error.
struct kept_existing {};
using file_copy_outcome = std::variant<file_copy_result, kept_existing>;

std::expected<file_copy_outcome, copy_error> copy_file_impl(const std::filesystem::path& source,
                                                            const std::filesystem::path& dest,
                                                            const copy_options& options,
                                                            const file_copy_extra& extra);

// The same with both directories open (copy_tree): SOURCE is `source_name` in `source_dir`,
// DEST is `dest_name` in `dest_dir`; the paths only name them in messages. Saves opening and
// closing DEST's directory and resolving two full paths for every file of a tree.
std::expected<file_copy_outcome, copy_error> copy_file_at(
    int source_dir, const char* source_name, int dest_dir, const std::string& dest_name,
    const std::filesystem::path& source, const std::filesystem::path& dest,
    const copy_options& options, const file_copy_extra& extra);

// --parents (src/copy/parents.cpp): SOURCE as a path under the destination directory ("/a/b" →
// "a/b"); empty when a ".." component would take the copy outside it.
std::filesystem::path parents_path(const std::filesystem::path& source);
// Makes the missing directories between `directory` and SOURCE's own name, runs `copy(source,
// directory / parents_path(source))`, then gives the made directories their final metadata.
using copy_tree_function =
    std::function<tree_summary(const std::filesystem::path&, const std::filesystem::path&)>;
tree_summary copy_with_parents(const std::filesystem::path& source,
                               const std::filesystem::path& directory, const tree_options& options,
                               const tree_observer& observer, const copy_tree_function& copy);

inline copy_error make_copy_error(std::error_code code, copy_step step,
                                  std::filesystem::path path) {
  return copy_error{code, step, std::move(path)};
}

}  // namespace zcopy::detail
