// Metadata and naming helpers for copy.hpp: the getdents64 directory reader, the umask, temporary
// names, and mode/owner/times applied to a finished copy.
#include <dirent.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "copy/internal.hpp"
#include "sys/sys.hpp"

namespace zcopy {

std::string copy_error::message() const {
  return operation + " '" + path.string() + "': " + code.message();
}

namespace detail {

namespace {

// The kernel's record (linux_dirent64); glibc does not declare it.
struct dirent64_header {
  std::uint64_t ino;
  std::int64_t off;
  unsigned short reclen;
  unsigned char type;
  // char name[]: NUL-terminated, padded to `reclen`
};

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::optional<mode_t> umask_from_proc() {
  auto fd = unique_fd::open("/proc/self/status", O_RDONLY);
  if (!fd) return std::nullopt;
  char text[4096];
  auto got = sys::read_full(fd->get(), text, sizeof text - 1);
  if (!got) return std::nullopt;
  text[*got] = '\0';
  const char* line = std::strstr(text, "\nUmask:");
  if (line == nullptr) return std::nullopt;
  mode_t mask = 0;
  for (const char* p = line + 7; *p != '\n' && *p != '\0'; ++p) {
    if (*p >= '0' && *p <= '7')
      mask = static_cast<mode_t>(mask * 8 + static_cast<mode_t>(*p - '0'));
  }
  return mask & 0777;
}

}  // namespace

std::expected<std::optional<dir_reader::entry>, std::error_code> dir_reader::next() {
  for (;;) {
    if (at_ >= filled_) {
      auto got = sys::getdents64(fd_->get(), buffer_.data(), buffer_.size());
      if (!got) return std::unexpected(got.error());
      if (*got == 0) return std::optional<entry>{};
      filled_ = *got;
      at_ = 0;
    }
    dirent64_header header;
    std::memcpy(&header, buffer_.data() + at_, sizeof header);
    const char* name =
        reinterpret_cast<const char*>(buffer_.data() + at_ + offsetof(dirent64_header, type) + 1);
    at_ += header.reclen;
    std::string_view n(name);
    if (n == "." || n == "..") continue;
    return std::optional<entry>{entry{n, header.type}};
  }
}

namespace {

// The highest N of the "NAME.~N~" entries in `dir` (0: none).
std::expected<unsigned long, std::error_code> highest_backup(int dir, std::string_view name) {
  auto fd = unique_fd::openat(dir, ".", O_RDONLY | O_DIRECTORY);
  if (!fd) return std::unexpected(fd.error());
  dir_reader reader(share(std::move(*fd)));
  unsigned long highest = 0;
  for (;;) {
    auto next = reader.next();
    if (!next) return std::unexpected(next.error());
    if (!*next) return highest;
    std::string_view n = next->value().name;
    if (n.size() < name.size() + 4 || n.substr(0, name.size()) != name) continue;
    n.remove_prefix(name.size());
    if (!n.starts_with(".~") || !n.ends_with('~')) continue;
    n = n.substr(2, n.size() - 3);
    unsigned long number = 0;
    const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), number);
    if (ec == std::errc{} && end == n.data() + n.size() && !n.starts_with('0')) {
      highest = std::max(highest, number);
    }
  }
}

}  // namespace

std::error_code keep_backup(int dir, const std::string& name, const copy_options& options) {
  if (options.backup == backup_mode::none) return {};
  // Nothing to keep (a new DEST): no directory scan for a number either.
  // A directory is never replaced (the rename after this fails): it is not moved aside either.
  if (auto d = sys::fstatat(dir, name.c_str(), AT_SYMLINK_NOFOLLOW); !d) {
    return d.error() == std::errc::no_such_file_or_directory ? std::error_code{} : d.error();
  } else if (S_ISDIR(d->st_mode)) {
    return {};
  }
  std::string backup = name + options.backup_suffix;
  if (options.backup != backup_mode::simple) {
    auto highest = highest_backup(dir, name);
    if (!highest) return highest.error();
    if (options.backup == backup_mode::numbered || *highest > 0) {
      backup = name + ".~" + std::to_string(*highest + 1) + "~";
    }
  }
  auto linked = create_temp(dir, backup, [&](const std::string& n) -> std::error_code {
    auto r = sys::linkat(dir, name.c_str(), dir, n.c_str(), 0);
    return r ? std::error_code{} : r.error();
  });
  if (!linked) {
    if (linked.error() == std::errc::no_such_file_or_directory) return {};  // DEST is gone
    if (linked.error() != std::errc::operation_not_permitted &&
        linked.error() != std::errc::operation_not_supported &&
        linked.error() != std::errc::too_many_links) {
      return linked.error();
    }
    // No second name possible (vfat, or the link count is full): DEST itself moves.
    auto moved = sys::renameat2(dir, name.c_str(), dir, backup.c_str(), 0);
    return moved || moved.error() == std::errc::no_such_file_or_directory ? std::error_code{}
                                                                          : moved.error();
  }
  if (auto r = sys::renameat2(dir, linked->name().c_str(), dir, backup.c_str(), 0); !r) {
    return r.error();
  }
  linked->commit();
  return {};
}

mode_t process_umask() {
  static const mode_t mask = [] {
    if (auto m = umask_from_proc()) return *m;
    // No /proc: umask(2) is the only way to read it, and it writes too. Another thread creating
    // a file in the window would get mode 022's mask; done once per process.
    static std::mutex lock;
    std::lock_guard guard(lock);
    const mode_t old = sys::umask(022);
    sys::umask(old);
    return old;
  }();
  return mask;
}

std::string temp_name(std::string_view name) {
  static std::atomic<std::uint64_t> counter{0};
  static constexpr std::string_view suffix = ".zcopy-";
  static constexpr char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  // Unpredictable enough for O_EXCL to rarely collide, without a syscall: the clock, the thread,
  // a process-wide counter and the address space layout.
  std::uint64_t x = splitmix64(
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (std::hash<std::thread::id>{}(std::this_thread::get_id()) << 1) ^
      splitmix64(counter.fetch_add(1, std::memory_order_relaxed)) ^
      reinterpret_cast<std::uintptr_t>(&counter));
  constexpr std::size_t random_chars = 6;
  const std::size_t room = NAME_MAX - 1 - suffix.size() - random_chars;
  std::string out;
  out.reserve(NAME_MAX);
  out += '.';
  out += name.substr(0, room);
  out += suffix;
  for (std::size_t i = 0; i < random_chars; ++i) {
    out += alphabet[x % (sizeof alphabet - 1)];
    x /= sizeof alphabet - 1;
  }
  return out;
}

temp_entry::~temp_entry() {
  if (!name_.empty()) (void)sys::unlinkat(dirfd_, name_.c_str(), 0);
}

namespace {

// chown as cp does it: a user who may not give the file away may still set its group; EPERM (and
// EINVAL for ids the filesystem cannot store) leave the owner as it is.
template <class Chown>
std::error_code change_owner(Chown&& chown, uid_t uid, gid_t gid) {
  auto r = chown(uid, gid);
  if (r) return {};
  if (r.error() != std::errc::operation_not_permitted && r.error() != std::errc::invalid_argument) {
    return r.error();
  }
  (void)chown(static_cast<uid_t>(-1), gid);
  return {};
}

}  // namespace

std::expected<void, std::pair<const char*, std::error_code>> apply_metadata(
    int fd, const final_metadata& meta) {
  if (meta.owner) {
    if (auto ec = change_owner([&](uid_t u, gid_t g) { return sys::fchown(fd, u, g); },
                               meta.owner->first, meta.owner->second)) {
      return std::unexpected(std::pair{"set owner", ec});
    }
  }
  if (meta.mode) {
    if (auto r = sys::fchmod(fd, *meta.mode); !r) {
      return std::unexpected(std::pair{"set mode", r.error()});
    }
  }
  if (meta.times) {
    if (auto r = sys::futimens(fd, meta.times->data()); !r) {
      return std::unexpected(std::pair{"set times", r.error()});
    }
  }
  return {};
}

std::expected<void, std::pair<const char*, std::error_code>> apply_metadata_at(
    int dirfd, const char* name, const final_metadata& meta, bool symlink) {
  const int nofollow = symlink ? AT_SYMLINK_NOFOLLOW : 0;
  if (meta.owner) {
    if (auto ec = change_owner(
            [&](uid_t u, gid_t g) { return sys::fchownat(dirfd, name, u, g, nofollow); },
            meta.owner->first, meta.owner->second)) {
      return std::unexpected(std::pair{"set owner", ec});
    }
  }
  // A symlink's own mode cannot be changed on Linux (and is never consulted).
  if (meta.mode && !symlink) {
    if (auto r = sys::fchmodat(dirfd, name, *meta.mode, 0); !r) {
      return std::unexpected(std::pair{"set mode", r.error()});
    }
  }
  if (meta.times) {
    if (auto r = sys::utimensat(dirfd, name, meta.times->data(), nofollow); !r) {
      return std::unexpected(std::pair{"set times", r.error()});
    }
  }
  return {};
}

}  // namespace detail
}  // namespace zcopy
