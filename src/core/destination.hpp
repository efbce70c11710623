// destination: what stands at the name a copy or a download is about to write, and so how it may
// write there. Internal to libzcopy; `zcopy cp` (src/copy) and `zcopy get` (src/http) share it so
// that both treat a planted symlink, a device node or a FIFO the same way.
//
// The guarantee "DEST is replaced whole or not at all" (a temporary file renamed over DEST) is for
// regular files. Anything else that exists at DEST is written into, as GNU cp and curl write into
// it: a device node or a FIFO keeps its inode (renaming a file over /dev/sdb or /dev/null would
// replace the node, not write to the device), and so does whatever a /proc magic link such as
// /dev/stdout or /dev/fd/3 leads to (the descriptor is what the user named, not a path). A symlink
// is followed to the file it names, unless the caller replaces symlinks themselves; a dangling one
// is refused (cp: "not writing through dangling symlink").
#pragma once

#include <sys/stat.h>

#include <expected>
#include <filesystem>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "zcopy/fd.hpp"

namespace zcopy::detail {

struct destination {
  enum class kind {
    absent,     // nothing there: a new file
    regular,    // a regular file (not through a symlink): replaced by a rename
    linked,     // a symlink chain that ends at a regular file: `target` is that file's path
    symlink,    // a symlink the caller asked not to follow: replaced itself
    directory,  // a directory, or a symlink to one
    special,    // a device node, FIFO or socket, or a file reached through a /proc magic link:
                // written into, never replaced
    dangling,   // a symlink to nothing
  };
  kind what = kind::absent;
  struct stat st {};             // of what a write would reach (for `symlink`: of the link)
  std::filesystem::path target;  // `linked` only
  bool through_link = false;     // the name is a symlink that was followed
};

// The call that failed, for the caller's message.
enum class destination_step { stat, read_link, open };
std::string_view to_string(destination_step step) noexcept;  // "stat", "readlink", "open"

// What is at `name` in `dirfd` (`path` names it in `target` and errors). One fstatat when the
// name is free or a plain file; a symlink costs a stat of what it leads to and a walk of its
// chain. Errors other than "nothing there" come back with the failing step.
std::expected<destination, std::pair<destination_step, std::error_code>> look_at_destination(
    int dirfd, const std::string& name, const std::filesystem::path& path, bool follow_symlinks);

// Opens what look_at_destination() found at `name` for writing into it: `special`, or a
// `regular` file the caller writes in place. Non-blocking, so that a FIFO without a reader or a
// terminal cannot hold the caller where a stop request does not reach it: a FIFO refuses a
// non-blocking writer until a reader comes (ENXIO), so the open is tried again every fraction of
// a second until one does or `stop` is requested (errc::cancelled), as a blocking open would wait.
// No symlink is followed where none was looked at, and the file opened must be the one looked at
// (else errc::destination_changed, equal to EAGAIN: it was swapped meanwhile). Nothing is truncated
// here. Returns the descriptor and its fstat.
std::expected<std::pair<unique_fd, struct stat>, std::pair<destination_step, std::error_code>>
open_in_place(int dirfd, const std::string& name, const destination& d,
              const std::stop_token& stop);

// Writes `bytes` as the whole contents of `path` by the rules above: a regular file (or one a
// symlink names) is replaced by a complete new file renamed over it, so that a failure (ENOSPC,
// a kill) leaves the old contents; a device, a FIFO or /dev/stdout is written into. For the
// small files a tool writes (reports, summaries); the mode of a replaced file is kept, a new one
// gets 0666 minus the umask.
std::error_code write_whole_file(const std::filesystem::path& path, std::string_view bytes);

}  // namespace zcopy::detail
