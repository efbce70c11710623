// Metadata and naming helpers for copy.hpp: the getdents64 directory reader, the umask, temporary
// names, and mode/owner/times applied to a finished copy.
#include <dirent.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <linux/openat2.h>
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

std::string_view to_string(copy_step step) noexcept {
  switch (step) {
    case copy_step::open:
      return "open";
    case copy_step::stat:
      return "stat";
    case copy_step::read:
      return "read";
    case copy_step::read_directory:
      return "read directory";
    case copy_step::read_link:
      return "read link";
    case copy_step::map:
      return "map";
    case copy_step::compare:
      return "compare";
    case copy_step::copy:
      return "copy";
    case copy_step::reflink:
      return "reflink";
    case copy_step::create:
      return "create";
    case copy_step::create_symlink:
      return "create symlink";
    case copy_step::mkdir:
      return "mkdir";
    case copy_step::mknod:
      return "mknod";
    case copy_step::link:
      return "link";
    case copy_step::truncate:
      return "truncate";
    case copy_step::keep_attributes:
      return "keep attributes";
    case copy_step::set_owner:
      return "set owner";
    case copy_step::set_mode:
      return "set mode";
    case copy_step::set_times:
      return "set times";
    case copy_step::fsync:
      return "fsync";
    case copy_step::close:
      return "close";
    case copy_step::backup:
      return "backup";
    case copy_step::rename:
      return "rename";
  }
  return "copy";
}

std::string copy_error::message() const {
  std::string out(to_string(step));
  return out + " '" + path.string() + "': " + code.message();
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

std::expected<void, std::pair<copy_step, std::error_code>> apply_metadata(
    int fd, const final_metadata& meta) {
  if (meta.owner) {
    if (auto ec = change_owner([&](uid_t u, gid_t g) { return sys::fchown(fd, u, g); },
                               meta.owner->first, meta.owner->second)) {
      return std::unexpected(std::pair{copy_step::set_owner, ec});
    }
  }
  if (meta.mode) {
    if (auto r = sys::fchmod(fd, *meta.mode); !r) {
      return std::unexpected(std::pair{copy_step::set_mode, r.error()});
    }
  }
  if (meta.times) {
    if (auto r = sys::futimens(fd, meta.times->data()); !r) {
      return std::unexpected(std::pair{copy_step::set_times, r.error()});
    }
  }
  return {};
}

std::expected<void, std::pair<copy_step, std::error_code>> apply_metadata_at(
    int dirfd, const char* name, const final_metadata& meta, bool symlink) {
  const int nofollow = symlink ? AT_SYMLINK_NOFOLLOW : 0;
  if (meta.owner) {
    if (auto ec = change_owner(
            [&](uid_t u, gid_t g) { return sys::fchownat(dirfd, name, u, g, nofollow); },
            meta.owner->first, meta.owner->second)) {
      return std::unexpected(std::pair{copy_step::set_owner, ec});
    }
  }
  // A symlink's own mode cannot be changed on Linux (and is never consulted).
  if (meta.mode && !symlink) {
    if (auto r = sys::fchmodat(dirfd, name, *meta.mode, 0); !r) {
      return std::unexpected(std::pair{copy_step::set_mode, r.error()});
    }
  }
  if (meta.times) {
    if (auto r = sys::utimensat(dirfd, name, meta.times->data(), nofollow); !r) {
      return std::unexpected(std::pair{copy_step::set_times, r.error()});
    }
  }
  return {};
}

namespace {

// Attributes that vouch for a file's contents: a capability set grants privileges to these very
// bytes, IMA/EVM values are their measurements. The kernel drops security.capability when a file
// is written; a copy must not carry it to new contents either.
bool content_bound(std::string_view name) {
  return name == "security.capability" || name == "security.ima" || name == "security.evm";
}

// "This attribute cannot be had or set here", as opposed to an I/O failure: the filesystem keeps
// no extended attributes (or not this namespace), the process may not read or set it, or the
// value does not fit the other filesystem.
bool attribute_refused(const std::error_code& ec) {
  return ec == std::errc::operation_not_supported || ec == std::errc::not_supported ||
         ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted ||
         ec == std::errc::argument_list_too_long || ec == std::errc::result_out_of_range ||
         ec == std::errc::invalid_argument || ec == std::errc::no_message_available;
}

// getxattr/listxattr into `out`, asking for the size first; a value that grew in between (ERANGE)
// is asked for again.
template <class Call>
std::error_code read_sized(std::vector<char>& out, Call call) {
  for (int attempt = 0;; ++attempt) {
    auto size = call(nullptr, 0);
    if (!size) return size.error();
    out.resize(*size);
    if (*size == 0) return {};
    auto got = call(out.data(), out.size());
    if (got) {
      out.resize(*got);
      return {};
    }
    if (got.error() != std::errc::result_out_of_range || attempt == 3) return got.error();
  }
}

}  // namespace

std::expected<unique_fd, std::error_code> open_no_symlinks(int root,
                                                           const std::filesystem::path& rel,
                                                           int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_NOFOLLOW);
  how.resolve = RESOLVE_NO_SYMLINKS;
  auto fd = sys::openat2(root, rel.c_str(), how);
  if (fd) return unique_fd(*fd);
  if (fd.error() != std::errc::function_not_supported) return std::unexpected(fd.error());
  unique_fd here;
  int at = root;
  auto part = rel.begin();
  for (; part != rel.end(); ++part) {
    const bool last = std::next(part) == rel.end();
    auto next = unique_fd::openat(at, part->c_str(),
                                  last ? flags | O_NOFOLLOW : O_PATH | O_DIRECTORY | O_NOFOLLOW);
    if (!next) return std::unexpected(next.error());
    here = std::move(*next);
    at = here.get();
  }
  return here;
}

std::error_code keep_attributes(int dir, const std::string& name, int to) {
  // Read through an O_PATH descriptor: no read permission on DEST is needed (ACLs are readable by
  // anyone who can see the file), and the name is resolved once.
  auto path_fd = unique_fd::openat(dir, name.c_str(), O_PATH | O_NOFOLLOW);
  if (!path_fd) return path_fd.error();
  const std::string path = "/proc/self/fd/" + std::to_string(path_fd->get());
  std::vector<char> names;
  if (auto e = read_sized(names,
                          [&](char* b, size_t n) { return sys::listxattr(path.c_str(), b, n); })) {
    // No /proc (ENOENT): nothing can be read this way, and nothing is lost that could be kept.
    return attribute_refused(e) || e == std::errc::no_such_file_or_directory ? std::error_code{}
                                                                             : e;
  }
  std::vector<char> value;
  for (std::size_t at = 0; at < names.size();) {
    const char* attribute = names.data() + at;
    const std::string_view n(attribute);
    at += n.size() + 1;
    if (n.empty() || content_bound(n)) continue;
    if (auto e = read_sized(value, [&](char* b, size_t size) {
          return sys::getxattr(path.c_str(), attribute, b, size);
        })) {
      if (attribute_refused(e)) continue;  // ENODATA: removed meanwhile
      return e;
    }
    if (auto r = sys::fsetxattr(to, attribute, value.data(), value.size(), 0); !r) {
      if (attribute_refused(r.error())) continue;
      return r.error();
    }
  }
  return {};
}

}  // namespace detail
}  // namespace zcopy
