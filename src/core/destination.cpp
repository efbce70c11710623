#include "core/destination.hpp"

#include <fcntl.h>
#include <limits.h>

#include "sys/sys.hpp"
#include "zcopy/error.hpp"

namespace zcopy::detail {

namespace fs = std::filesystem;

namespace {

// procfs's device number, to tell its magic links (/proc/self/fd/N) from plain symlinks; 0 where
// /proc is not mounted (then there are none).
dev_t proc_device() {
  static const dev_t dev = [] {
    auto st = sys::fstatat(AT_FDCWD, "/proc/self", AT_SYMLINK_NOFOLLOW);
    return st ? st->st_dev : dev_t{0};
  }();
  return dev;
}

destination::kind kind_of(mode_t mode) {
  if (S_ISREG(mode)) return destination::kind::regular;
  if (S_ISDIR(mode)) return destination::kind::directory;
  return destination::kind::special;
}

}  // namespace

std::expected<destination, std::pair<const char*, std::error_code>> look_at_destination(
    int dirfd, const std::string& name, const fs::path& path, bool follow_symlinks) {
  using result = std::expected<destination, std::pair<const char*, std::error_code>>;
  auto failed = [](const char* op, std::error_code ec) -> result {
    return std::unexpected(std::pair{op, ec});
  };
  destination d;
  auto l = sys::fstatat(dirfd, name.c_str(), AT_SYMLINK_NOFOLLOW);
  if (!l) {
    if (l.error() == std::errc::no_such_file_or_directory) return d;
    return failed("stat", l.error());
  }
  d.st = *l;
  if (!S_ISLNK(l->st_mode)) {
    d.what = kind_of(l->st_mode);
    return d;
  }
  if (!follow_symlinks) {
    d.what = destination::kind::symlink;
    return d;
  }
  d.through_link = true;
  // What the kernel reaches through the link, magic links included.
  auto reached = sys::fstatat(dirfd, name.c_str(), 0);
  if (!reached) {
    if (reached.error() == std::errc::no_such_file_or_directory) {
      d.what = destination::kind::dangling;
      return d;
    }
    return failed("stat", reached.error());
  }
  d.st = *reached;
  d.what = kind_of(reached->st_mode);
  if (d.what != destination::kind::regular) return d;

  // A regular file: its own path, so that the copy can be made beside it and renamed over it.
  // The chain is walked by reading each link. A link in /proc (/dev/stdout → /proc/self/fd/1)
  // names an open descriptor, not a path: what it leads to is written into, as cp does, and so
  // is a file where the walk does not end at the one the kernel reached (a link rewritten
  // meanwhile).
  fs::path target = path;
  for (int hops = 0;; ++hops) {
    auto ls = sys::fstatat(AT_FDCWD, target.c_str(), AT_SYMLINK_NOFOLLOW);
    if (!ls) break;
    if (!S_ISLNK(ls->st_mode)) {
      if (ls->st_dev == reached->st_dev && ls->st_ino == reached->st_ino) {
        d.what = destination::kind::linked;
        d.target = std::move(target);
        return d;
      }
      break;
    }
    if (ls->st_dev == proc_device() && proc_device() != 0) break;
    if (hops == 40)
      return failed("stat", make_error_code(std::errc::too_many_symbolic_link_levels));
    char buf[PATH_MAX];
    auto n = sys::readlinkat(AT_FDCWD, target.c_str(), buf, sizeof buf);
    if (!n) return failed("readlink", n.error());
    const fs::path next(std::string(buf, *n));
    target = next.is_absolute() ? next : target.parent_path() / next;
  }
  d.what = destination::kind::special;
  return d;
}

std::expected<std::pair<unique_fd, struct stat>, std::pair<const char*, std::error_code>>
open_in_place(int dirfd, const std::string& name, const destination& d,
              const std::stop_token& stop) {
  constexpr int slice_ms = 200;
  const int flags = O_WRONLY | O_NOCTTY | O_NONBLOCK | (d.through_link ? 0 : O_NOFOLLOW);
  for (;;) {
    auto fd = unique_fd::openat(dirfd, name.c_str(), flags);
    if (fd) {
      auto st = sys::fstat(fd->get());
      if (!st) return std::unexpected(std::pair{"stat", st.error()});
      if (st->st_dev != d.st.st_dev || st->st_ino != d.st.st_ino) {
        return std::unexpected(
            std::pair{"destination changed while it was opened",
                      make_error_code(std::errc::resource_unavailable_try_again)});
      }
      return std::pair{std::move(*fd), *st};
    }
    if (fd.error() != std::errc::no_such_device_or_address || !S_ISFIFO(d.st.st_mode)) {
      return std::unexpected(std::pair{"open", fd.error()});
    }
    if (stop.stop_possible() && stop.stop_requested()) {
      return std::unexpected(std::pair{"open", make_error_code(errc::cancelled)});
    }
    (void)sys::poll(nullptr, 0, slice_ms);
  }
}

}  // namespace zcopy::detail
