#include "core/destination.hpp"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>

#include "core/temp_entry.hpp"
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

std::string_view to_string(destination_step step) noexcept {
  switch (step) {
    case destination_step::stat:
      return "stat";
    case destination_step::read_link:
      return "readlink";
    case destination_step::open:
      return "open";
  }
  return "open";
}

std::expected<destination, std::pair<destination_step, std::error_code>> look_at_destination(
    int dirfd, const std::string& name, const fs::path& path, bool follow_symlinks) {
  using result = std::expected<destination, std::pair<destination_step, std::error_code>>;
  auto failed = [](destination_step op, std::error_code ec) -> result {
    return std::unexpected(std::pair{op, ec});
  };
  destination d;
  auto l = sys::fstatat(dirfd, name.c_str(), AT_SYMLINK_NOFOLLOW);
  if (!l) {
    if (l.error() == std::errc::no_such_file_or_directory) return d;
    return failed(destination_step::stat, l.error());
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
    return failed(destination_step::stat, reached.error());
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
      return failed(destination_step::stat,
                    make_error_code(std::errc::too_many_symbolic_link_levels));
    char buf[PATH_MAX];
    auto n = sys::readlinkat(AT_FDCWD, target.c_str(), buf, sizeof buf);
    if (!n) return failed(destination_step::read_link, n.error());
    const fs::path next(std::string(buf, *n));
    target = next.is_absolute() ? next : target.parent_path() / next;
  }
  d.what = destination::kind::special;
  return d;
}

std::expected<std::pair<unique_fd, struct stat>, std::pair<destination_step, std::error_code>>
open_in_place(int dirfd, const std::string& name, const destination& d,
              const std::stop_token& stop) {
  constexpr int slice_ms = 200;
  const int flags = O_WRONLY | O_NOCTTY | O_NONBLOCK | (d.through_link ? 0 : O_NOFOLLOW);
  for (;;) {
    auto fd = unique_fd::openat(dirfd, name.c_str(), flags);
    if (fd) {
      auto st = sys::fstat(fd->get());
      if (!st) return std::unexpected(std::pair{destination_step::stat, st.error()});
      if (st->st_dev != d.st.st_dev || st->st_ino != d.st.st_ino) {
        return std::unexpected(
            std::pair{destination_step::open, make_error_code(errc::destination_changed)});
      }
      return std::pair{std::move(*fd), *st};
    }
    if (fd.error() != std::errc::no_such_device_or_address || !S_ISFIFO(d.st.st_mode)) {
      return std::unexpected(std::pair{destination_step::open, fd.error()});
    }
    if (stop.stop_possible() && stop.stop_requested()) {
      return std::unexpected(std::pair{destination_step::open, make_error_code(errc::cancelled)});
    }
    (void)sys::poll(nullptr, 0, slice_ms);
  }
}

std::error_code write_whole_file(const fs::path& path, std::string_view bytes) {
  fs::path file = path;
  for (int depth = 0;; ++depth) {
    const std::string name = file.filename().string();
    if (name.empty() || name == "." || name == "..")
      return make_error_code(std::errc::is_a_directory);
    const fs::path parent = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    auto dir = unique_fd::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
    if (!dir) return dir.error();
    auto at = look_at_destination(dir->get(), name, file, true);
    if (!at) return at.error().second;
    switch (at->what) {
      case destination::kind::directory:
        return make_error_code(std::errc::is_a_directory);
      case destination::kind::dangling:
        return make_error_code(std::errc::no_such_file_or_directory);
      case destination::kind::linked:
        if (depth > 0) return make_error_code(std::errc::too_many_symbolic_link_levels);
        file = at->target;
        continue;
      case destination::kind::special: {
        auto out = open_in_place(dir->get(), name, *at, {});
        if (!out) return out.error().second;
        for (std::size_t done = 0; done < bytes.size();) {
          auto w = sys::write(out->first.get(), bytes.data() + done, bytes.size() - done);
          if (w) {
            done += *w;
          } else if (w.error() == std::errc::resource_unavailable_try_again) {
            if (auto r = sys::wait_ready(out->first.get(), POLLOUT); !r) return r.error();
          } else {
            return w.error();
          }
        }
        return out->first.close();
      }
      default:
        break;
    }
    const mode_t mode = at->what == destination::kind::regular ? at->st.st_mode & 07777 : 0666;
    unique_fd out;
    auto tmp = create_temp(dir->get(), name, [&](const std::string& n) -> std::error_code {
      auto fd = unique_fd::openat(dir->get(), n.c_str(),
                                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, mode);
      if (!fd) return fd.error();
      out = std::move(*fd);
      return {};
    });
    if (!tmp) return tmp.error();
    if (at->what == destination::kind::regular) {
      // Created with the umask applied; the replaced file's own mode is what it keeps.
      if (auto r = sys::fchmod(out.get(), mode); !r) return r.error();
    }
    if (auto w = sys::write_all(out.get(), bytes.data(), bytes.size()); !w) return w.error();
    if (auto c = out.close(); c) return c;
    if (auto r = sys::renameat2(dir->get(), tmp->name().c_str(), dir->get(), name.c_str(), 0); !r) {
      return r.error();
    }
    tmp->commit();
    return {};
  }
}

}  // namespace zcopy::detail
