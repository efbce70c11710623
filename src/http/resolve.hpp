// Path resolution: from a decoded, normalised path (target.hpp) to an open descriptor under ROOT.
//
// ROOT is opened once (O_PATH | O_DIRECTORY) and every lookup is relative to that descriptor, so
// renaming or replacing ROOT's own path later changes nothing. Lookups use openat2(2) (Linux 5.6)
// with:
//   - RESOLVE_BENEATH: no component, symlink targets included, may leave ROOT. ".." that stays
//     inside is fine; absolute symlinks are refused outright (even ones that name a path under
//     ROOT), because BENEATH has no notion of ROOT's absolute path. This is the default: in-root
//     symlinks work, escaping ones answer 403 (nginx's `disable_symlinks if_not_owner` is the
//     closest relative; its `on` refuses all symlinks);
//   - RESOLVE_NO_MAGICLINKS: /proc/self/fd/N style links are never followed, even inside ROOT.
// With `follow_symlinks` (the CLI's --follow-symlinks) a plain openat(2) is used instead, relative
// to ROOT, and symlinks may point anywhere: the operator asked for it. ".." never reaches here
// either way (decode_target removes it or refuses).
//
// Where openat2 is missing (ENOSYS: kernel < 5.6, or a seccomp profile that predates it, as old
// Docker defaults did) the lookup walks the path one component at a time with O_NOFOLLOW, which
// refuses every symlink: stricter, never looser. The probe result is remembered for the process.
//
// Files are opened O_RDONLY | O_NONBLOCK | O_CLOEXEC. O_NONBLOCK keeps open(2) from hanging on a
// FIFO someone left in ROOT (nginx opens with NGX_FILE_NONBLOCK for the same reason); it has no
// effect on reads from regular files. Only regular files and directories are served; anything
// else (FIFO, socket, device) is "not found", as in nginx's static module.
//
// Hidden names: unless `show_hidden`, any path segment starting with '.' is "not found" before
// anything is opened. Symlink targets are not checked (a link named "git" to ".git" is served).
#pragma once

#include <sys/stat.h>

#include <expected>
#include <string_view>
#include <system_error>

#include "zcopy/fd.hpp"

namespace zcopy::http {

// Opens the directory to serve from (O_PATH | O_DIRECTORY | O_CLOEXEC).
std::expected<unique_fd, std::error_code> open_root(const char* path);

enum class resolve_status {
  file,       // a regular file: fd and st are set
  directory,  // a directory: fd (readable, for listings) and st are set
  not_found,  // 404: missing, not a directory on the way, hidden, not a regular file
  forbidden,  // 403: EACCES/EPERM, a symlink loop (ELOOP), a symlink that leaves ROOT
              // (errc::symlink_leaves_root) or any symlink without openat2
              // (errc::symlink_not_followed)
  error,      // 500: anything else (EMFILE, EIO, ...); `error` says which
};

struct resolve_options {
  bool follow_symlinks = false;
  bool show_hidden = false;
};

struct resolved {
  resolve_status status = resolve_status::error;
  unique_fd fd;
  struct stat st {};
  std::error_code error;  // what the kernel said when it said no, or one of the zcopy errc above
};

// `path` is decode_target's output: it starts with '/', has no "." or ".." segments.
resolved resolve(int root_fd, std::string_view path, resolve_options options = {});

// Whether any segment of `path` starts with '.'.
bool is_hidden(std::string_view path) noexcept;

// The HTTP status that goes with a failed resolution (404, 403, 500).
int http_status(resolve_status status) noexcept;

namespace detail {
// Tests only: pretend openat2 is missing (true) or probe again (false).
void force_openat2_unavailable(bool unavailable) noexcept;
}  // namespace detail

}  // namespace zcopy::http
