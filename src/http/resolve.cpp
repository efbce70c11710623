#include "http/resolve.hpp"

#include <atomic>
#include <string>

#include "sys/sys.hpp"
#include "zcopy/error.hpp"

namespace zcopy::http {

namespace {

// openat2 availability, remembered for the process (Rust std's probe-once pattern).
enum class probe : int { unknown, available, unavailable };
std::atomic<probe> openat2_state{probe::unknown};

constexpr int file_flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;

sys::result<int> openat2_beneath(int dirfd, const char* path, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return sys::openat2(dirfd, path, how);
}

// O_NOFOLLOW | O_DIRECTORY on a symlink fails with ENOTDIR, not ELOOP, which would read as "not
// found" (404). The lookup refused a symlink there, which is a 403 like everywhere else: look at
// the name itself, without following it, and report ELOOP when it is a link.
std::unexpected<std::error_code> refused(int dir, const std::string& name, std::error_code error) {
  if (error == std::errc::not_a_directory) {
    struct statx sx {};
    if (sys::statx(dir, name.c_str(), AT_SYMLINK_NOFOLLOW, STATX_TYPE, &sx) &&
        S_ISLNK(sx.stx_mode)) {
      return std::unexpected(std::make_error_code(std::errc::too_many_symbolic_link_levels));
    }
  }
  return std::unexpected(error);
}

// Without openat2: one component at a time, every one with O_NOFOLLOW, so no symlink is ever
// followed. Intermediate components are opened O_PATH | O_DIRECTORY (no read permission needed,
// as with a normal lookup).
sys::result<int> open_walk(int root_fd, std::string_view relative, int flags) {
  unique_fd current;
  int dir = root_fd;
  while (true) {
    const std::size_t slash = relative.find('/');
    const std::string name(relative.substr(0, slash));
    const bool last = slash == std::string_view::npos || slash + 1 == relative.size();
    if (last) {
      // A trailing slash demands a directory, as it does for the kernel's own lookup.
      const int extra = slash == std::string_view::npos ? 0 : O_DIRECTORY;
      auto opened = sys::openat(dir, name.c_str(), flags | O_NOFOLLOW | extra);
      if (!opened) return refused(dir, name, opened.error());
      return opened;
    }
    auto next = sys::openat(dir, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW);
    if (!next) return refused(dir, name, next.error());
    current.reset(*next);
    dir = current.get();
    relative.remove_prefix(slash + 1);
  }
}

// The refusals of the two lookups said in words: EXDEV from RESOLVE_BENEATH and ELOOP from the
// walk's O_NOFOLLOW would read "Invalid cross-device link" and "Too many levels of symbolic
// links" in the error log.
sys::result<int> open_beneath(int root_fd, const char* relative, int flags) {
  if (openat2_state.load(std::memory_order_relaxed) != probe::unavailable) {
    auto r = openat2_beneath(root_fd, relative, flags);
    if (r || r.error().value() != ENOSYS) {
      openat2_state.store(probe::available, std::memory_order_relaxed);
      if (!r && r.error().value() == EXDEV) {
        return std::unexpected(make_error_code(errc::symlink_leaves_root));
      }
      return r;
    }
    openat2_state.store(probe::unavailable, std::memory_order_relaxed);
  }
  auto r = open_walk(root_fd, relative, flags);
  if (!r && r.error().value() == ELOOP) {
    return std::unexpected(make_error_code(errc::symlink_not_followed));
  }
  return r;
}

resolve_status classify(std::error_code error) {
  if (error.category() == zcopy_category()) return resolve_status::forbidden;  // the two above
  switch (error.value()) {
    case ENOENT:        // no such name
    case ENOTDIR:       // a file used as a directory ("/file.txt/x", "/file.txt/")
    case ENAMETOOLONG:  // nginx answers 404 for these three as well
    case ENXIO:         // a socket or a FIFO without a writer
    case ENODEV:        // a device node without a driver
      return resolve_status::not_found;
    case EACCES:
    case EPERM:
    case EXDEV:  // RESOLVE_BENEATH: the path (a symlink in it) would leave ROOT
    case ELOOP:  // O_NOFOLLOW met a symlink, or a symlink loop
      return resolve_status::forbidden;
    default:
      return resolve_status::error;
  }
}

}  // namespace

std::expected<unique_fd, std::error_code> open_root(const char* path) {
  return unique_fd::open(path, O_PATH | O_DIRECTORY);
}

bool is_hidden(std::string_view path) noexcept {
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '.' && (i == 0 || path[i - 1] == '/')) return true;
  }
  return false;
}

int http_status(resolve_status status) noexcept {
  switch (status) {
    case resolve_status::file:
    case resolve_status::directory:
      return 200;
    case resolve_status::not_found:
      return 404;
    case resolve_status::forbidden:
      return 403;
    case resolve_status::error:
      return 500;
  }
  return 500;
}

resolved resolve(int root_fd, std::string_view path, resolve_options options) {
  resolved out;
  if (!options.show_hidden && is_hidden(path)) {
    out.status = resolve_status::not_found;
    return out;
  }
  // The kernel wants a relative path (RESOLVE_BENEATH refuses absolute ones with EXDEV).
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  const std::string relative = path.empty() ? std::string(".") : std::string(path);

  auto opened = options.follow_symlinks ? sys::openat(root_fd, relative.c_str(), file_flags)
                                        : open_beneath(root_fd, relative.c_str(), file_flags);
  if (!opened) {
    out.error = opened.error();
    out.status = classify(opened.error());
    return out;
  }
  out.fd.reset(*opened);
  auto st = sys::fstat(out.fd.get());
  if (!st) {
    out.fd.reset();
    out.error = st.error();
    out.status = resolve_status::error;
    return out;
  }
  out.st = *st;
  if (S_ISREG(out.st.st_mode)) {
    out.status = resolve_status::file;
  } else if (S_ISDIR(out.st.st_mode)) {
    out.status = resolve_status::directory;
  } else {
    out.fd.reset();
    out.status = resolve_status::not_found;
  }
  return out;
}

namespace detail {
void force_openat2_unavailable(bool unavailable) noexcept {
  openat2_state.store(unavailable ? probe::unavailable : probe::unknown, std::memory_order_relaxed);
}
}  // namespace detail

}  // namespace zcopy::http
