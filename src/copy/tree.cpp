// copy_tree(): a walk of the source (getdents64, one open directory per level) that creates
// directories, symlinks, special files and hard links itself and hands regular files to a pool of
// `jobs` threads through a bounded queue, so memory stays bounded however many files there are.
//
// Order matters in three places:
//  - directories are created 0700 (so a read-only source directory can still be filled) and get
//    their mode, owner and times at the very end, deepest first (reverse pre-order), after every
//    file, link and subdirectory inside them is in place: nothing written later bumps an mtime;
//  - hard links (the second and later names of a multiply-linked file) are made after the pool
//    has drained, when the first name's copy is sure to be renamed into place;
//  - symlinks and special files are built under a temporary name, given their metadata, then
//    renamed over DEST, like files: a failure leaves DEST as it was.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "copy/internal.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"

namespace zcopy {
namespace {

namespace fs = std::filesystem;
using detail::final_metadata;

bool newer(const timespec& a, const timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

struct file_job {
  fs::path source;
  fs::path dest;
  struct stat st;
};

struct pending_link {
  fs::path source;
  fs::path first_dest;  // the copy of the file's first name
  fs::path dest;
  struct stat st;
};

struct dir_record {
  fs::path dest;
  final_metadata meta;
};

// One open directory of the walk: the source (being read) and its copy.
struct level {
  detail::dir_reader reader;
  unique_fd dest_fd;
  fs::path source;
  fs::path dest;
  dev_t dev;
  ino_t ino;
};

class tree_copier {
 public:
  tree_copier(const tree_options& options, const tree_observer& observer)
      : options_(options), observer_(observer) {
    unsigned jobs = options.jobs != 0 ? options.jobs : std::thread::hardware_concurrency();
    jobs_ = std::max(1u, jobs);
    capacity_ = std::max<std::size_t>(16, std::size_t{4} * jobs_);
  }

  tree_summary run(const fs::path& source, const fs::path& dest);

 private:
  bool stopped() const {
    return options_.file.stop.stop_possible() && options_.file.stop.stop_requested();
  }
  void error(std::error_code ec, std::string operation, const fs::path& path) {
    {
      std::lock_guard guard(summary_lock_);
      ++summary_.errors;
    }
    if (observer_.on_error) {
      observer_.on_error(detail::make_copy_error(ec, std::move(operation), path));
    }
  }
  void skipped(const fs::path& source, const fs::path& dest) {
    {
      std::lock_guard guard(summary_lock_);
      ++summary_.skipped;
    }
    if (observer_.on_skipped) observer_.on_skipped(source, dest);
  }
  void copied(const fs::path& source, const fs::path& dest, entry_kind kind,
              const file_copy_result* file) {
    {
      std::lock_guard guard(summary_lock_);
      switch (kind) {
        case entry_kind::file:
          ++summary_.files;
          summary_.bytes += file->bytes;
          ++summary_.files_by_method[static_cast<std::size_t>(file->used)];
          summary_.fallbacks += file->fallbacks.size();
          break;
        case entry_kind::directory:
          ++summary_.directories;
          break;
        case entry_kind::symlink:
          ++summary_.symlinks;
          break;
        case entry_kind::hard_link:
          ++summary_.hard_links;
          break;
        case entry_kind::special:
          ++summary_.specials;
          break;
      }
    }
    if (observer_.on_copied) observer_.on_copied(source, dest, kind, file);
  }

  // -n and -u for an entry whose copy would replace `name` in `dirfd`: true when it is skipped.
  bool keep_existing(int dirfd, const char* name, const struct stat& st, const fs::path& source,
                     const fs::path& dest) {
    if (!options_.no_clobber && !options_.update) return false;
    auto d = sys::fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW);
    if (!d) return false;
    if (options_.no_clobber || !newer(st.st_mtim, d->st_mtim)) {
      skipped(source, dest);
      return true;
    }
    return false;
  }

  final_metadata metadata_for(const struct stat& st, bool new_entry) const {
    final_metadata meta;
    if (options_.file.preserve.mode) {
      meta.mode = st.st_mode & 07777;
    } else if (new_entry) {
      meta.mode = detail::masked_mode(st.st_mode);
    }
    if (options_.file.preserve.ownership) meta.owner = std::pair{st.st_uid, st.st_gid};
    if (options_.file.preserve.timestamps) meta.times = std::array{st.st_atim, st.st_mtim};
    return meta;
  }

  void copy_file_now(const file_job& job);
  void submit(file_job job);
  void worker();
  void finish_pool();

  void copy_entry(int src_dirfd, const char* name, const struct stat& st, const fs::path& source,
                  int dest_dirfd, const std::string& dest_name, const fs::path& dest);
  std::optional<unique_fd> make_directory(int dest_dirfd, const char* name, const struct stat& st,
                                          const fs::path& source, const fs::path& dest);
  void make_symlink(int src_dirfd, const char* name, const struct stat& st, const fs::path& source,
                    int dest_dirfd, const std::string& dest_name, const fs::path& dest);
  void make_special(const struct stat& st, const fs::path& source, int dest_dirfd,
                    const std::string& dest_name, const fs::path& dest);
  // Builds an entry under a temporary name with `make`, applies `meta`, renames it over DEST.
  template <class Make>
  std::optional<copy_error> build_and_rename(int dest_dirfd, const std::string& dest_name,
                                             const fs::path& dest, const char* operation,
                                             const final_metadata& meta, bool symlink, Make&& make);
  void make_links();
  void apply_directory_metadata();
  bool into_itself(const fs::path& source, const struct stat& source_stat, const fs::path& dest);
  void walk(level top);

  const tree_options& options_;
  const tree_observer& observer_;
  unsigned jobs_ = 1;
  std::size_t capacity_ = 16;

  std::mutex summary_lock_;
  std::atomic<std::uint64_t> progress_{0};  // file bytes copied so far, every thread
  tree_summary summary_;

  std::mutex queue_lock_;
  std::condition_variable queue_ready_, queue_room_;
  std::deque<file_job> queue_;
  bool closing_ = false;
  std::vector<std::thread> workers_;

  std::vector<dir_record> directories_;  // pre-order: a directory before its contents
  std::map<std::pair<dev_t, ino_t>, fs::path> first_names_;
  std::vector<pending_link> links_;
};

// --- files ---------------------------------------------------------------------------------

void tree_copier::copy_file_now(const file_job& job) {
  if (stopped()) return;  // the walker reports the cancellation once
  if (options_.update && !options_.no_clobber) {
    auto d = sys::fstatat(AT_FDCWD, job.dest.c_str(), 0);
    if (d && !newer(job.st.st_mtim, d->st_mtim)) {
      skipped(job.source, job.dest);
      return;
    }
  }
  bool was_skipped = false;
  // on_progress reports the whole tree's bytes: each file's running count becomes a delta added
  // to one total, so the caller sees a single number grow whatever the number of threads.
  copy_options file_options = options_.file;
  if (options_.file.on_progress) {
    file_options.on_progress = [this, last = std::uint64_t{0}](std::uint64_t moved) mutable {
      const std::uint64_t delta = moved > last ? moved - last : 0;
      last = std::max(last, moved);
      options_.file.on_progress(progress_.fetch_add(delta, std::memory_order_relaxed) + delta);
    };
  }
  auto r = detail::copy_file_impl(job.source, job.dest, file_options,
                                  {.no_replace = options_.no_clobber, .skipped = &was_skipped});
  if (!r) {
    if (r.error().code == errc::cancelled && stopped()) return;
    {
      std::lock_guard guard(summary_lock_);
      ++summary_.errors;
    }
    if (observer_.on_error) observer_.on_error(r.error());
    return;
  }
  if (was_skipped) {
    skipped(job.source, job.dest);
    return;
  }
  copied(job.source, job.dest, entry_kind::file, &*r);
}

void tree_copier::submit(file_job job) {
  if (jobs_ <= 1) {
    copy_file_now(job);
    return;
  }
  if (workers_.empty()) {
    for (unsigned i = 0; i < jobs_; ++i) workers_.emplace_back([this] { worker(); });
  }
  std::unique_lock guard(queue_lock_);
  queue_room_.wait(guard, [&] { return queue_.size() < capacity_; });
  queue_.push_back(std::move(job));
  queue_ready_.notify_one();
}

void tree_copier::worker() {
  for (;;) {
    file_job job;
    {
      std::unique_lock guard(queue_lock_);
      queue_ready_.wait(guard, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      queue_room_.notify_one();
    }
    copy_file_now(job);
  }
}

void tree_copier::finish_pool() {
  {
    std::lock_guard guard(queue_lock_);
    closing_ = true;
  }
  queue_ready_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

// --- other entries -------------------------------------------------------------------------

template <class Make>
std::optional<copy_error> tree_copier::build_and_rename(int dest_dirfd,
                                                        const std::string& dest_name,
                                                        const fs::path& dest, const char* operation,
                                                        const final_metadata& meta, bool symlink,
                                                        Make&& make) {
  auto tmp = detail::create_temp(dest_dirfd, dest_name, make);
  if (!tmp) return detail::make_copy_error(tmp.error(), operation, dest);
  if (auto m = detail::apply_metadata_at(dest_dirfd, tmp->name().c_str(), meta, symlink); !m) {
    return detail::make_copy_error(m.error().second, m.error().first, dest);
  }
  if (auto r = sys::renameat2(dest_dirfd, tmp->name().c_str(), dest_dirfd, dest_name.c_str()); !r) {
    return detail::make_copy_error(r.error(), "rename", dest);
  }
  tmp->commit();
  return std::nullopt;
}

void tree_copier::make_symlink(int src_dirfd, const char* name, const struct stat& st,
                               const fs::path& source, int dest_dirfd, const std::string& dest_name,
                               const fs::path& dest) {
  // st_size is the target's length, except on filesystems that report 0 (procfs): grow and retry.
  std::string target(std::max<std::size_t>(static_cast<std::size_t>(st.st_size) + 1, 256), '\0');
  for (;;) {
    auto n = sys::readlinkat(src_dirfd, name, target.data(), target.size());
    if (!n) return error(n.error(), "read link", source);
    if (*n < target.size()) {
      target.resize(*n);
      break;
    }
    target.resize(target.size() * 2);
  }
  final_metadata meta = metadata_for(st, true);
  meta.mode.reset();
  auto e = build_and_rename(dest_dirfd, dest_name, dest, "create symlink", meta, true,
                            [&](const std::string& n) -> std::error_code {
                              auto r = sys::symlinkat(target.c_str(), dest_dirfd, n.c_str());
                              return r ? std::error_code{} : r.error();
                            });
  if (e) return error(e->code, e->operation, e->path);
  copied(source, dest, entry_kind::symlink, nullptr);
}

void tree_copier::make_special(const struct stat& st, const fs::path& source, int dest_dirfd,
                               const std::string& dest_name, const fs::path& dest) {
  if (!options_.special_files) {
    // Never opened: reading a FIFO would block, reading a device could be endless.
    return error(std::make_error_code(std::errc::operation_not_supported),
                 "cannot copy special file", source);
  }
  const final_metadata meta = metadata_for(st, true);
  auto e = build_and_rename(dest_dirfd, dest_name, dest, "mknod", meta, false,
                            [&](const std::string& n) -> std::error_code {
                              auto r = sys::mknodat(dest_dirfd, n.c_str(),
                                                    (st.st_mode & S_IFMT) | 0600, st.st_rdev);
                              return r ? std::error_code{} : r.error();
                            });
  if (e) return error(e->code, e->operation, e->path);
  copied(source, dest, entry_kind::special, nullptr);
}

std::optional<unique_fd> tree_copier::make_directory(int dest_dirfd, const char* name,
                                                     const struct stat& st, const fs::path& source,
                                                     const fs::path& dest) {
  bool created = true;
  if (auto r = sys::mkdirat(dest_dirfd, name, 0700); !r) {
    if (r.error() != std::errc::file_exists) {
      error(r.error(), "mkdir", dest);
      return std::nullopt;
    }
    // An existing directory (or a link to one) is merged into, as cp does.
    auto d = sys::fstatat(dest_dirfd, name, 0);
    if (!d || !S_ISDIR(d->st_mode)) {
      error(d ? std::make_error_code(std::errc::not_a_directory) : d.error(), "mkdir", dest);
      return std::nullopt;
    }
    created = false;
  }
  auto fd = unique_fd::openat(dest_dirfd, name, O_RDONLY | O_DIRECTORY);
  if (!fd) {
    error(fd.error(), "open", dest);
    return std::nullopt;
  }
  directories_.push_back({dest, metadata_for(st, created)});
  copied(source, dest, entry_kind::directory, nullptr);
  return std::move(*fd);
}

void tree_copier::copy_entry(int src_dirfd, const char* name, const struct stat& st,
                             const fs::path& source, int dest_dirfd, const std::string& dest_name,
                             const fs::path& dest) {
  if (options_.keep_hard_links && st.st_nlink > 1) {
    auto [it, first] = first_names_.try_emplace({st.st_dev, st.st_ino}, dest);
    if (!first) {
      links_.push_back({source, it->second, dest, st});
      return;
    }
  }
  if (S_ISREG(st.st_mode)) return submit({source, dest, st});
  if (keep_existing(dest_dirfd, dest_name.c_str(), st, source, dest)) return;
  if (S_ISLNK(st.st_mode)) {
    return make_symlink(src_dirfd, name, st, source, dest_dirfd, dest_name, dest);
  }
  make_special(st, source, dest_dirfd, dest_name, dest);
}

void tree_copier::make_links() {
  for (const pending_link& l : links_) {
    if (stopped()) return;
    const fs::path parent = l.dest.parent_path().empty() ? fs::path(".") : l.dest.parent_path();
    auto dir = unique_fd::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
    if (!dir) {
      error(dir.error(), "open", parent);
      continue;
    }
    const std::string name = l.dest.filename().string();
    if (keep_existing(dir->get(), name.c_str(), l.st, l.source, l.dest)) continue;
    auto e = build_and_rename(
        dir->get(), name, l.dest, "link", {}, false, [&](const std::string& n) -> std::error_code {
          auto r = sys::linkat(AT_FDCWD, l.first_dest.c_str(), dir->get(), n.c_str(), 0);
          return r ? std::error_code{} : r.error();
        });
    if (e) {
      error(e->code, e->operation, e->path);
      continue;
    }
    copied(l.source, l.dest, entry_kind::hard_link, nullptr);
  }
}

void tree_copier::apply_directory_metadata() {
  for (auto it = directories_.rbegin(); it != directories_.rend(); ++it) {
    if (!it->meta.mode && !it->meta.owner && !it->meta.times) continue;
    if (auto m = detail::apply_metadata_at(AT_FDCWD, it->dest.c_str(), it->meta, false); !m) {
      error(m.error().second, m.error().first, it->dest);
    }
  }
}

// --- the walk ------------------------------------------------------------------------------

// Whether `dest` is `source` or lies below it: by path (after resolving links in both), and by
// identity, walking up from DEST's nearest existing directory through ".." (which also sees
// through bind mounts and links the path comparison missed).
bool tree_copier::into_itself(const fs::path& source, const struct stat& source_stat,
                              const fs::path& dest) {
  std::error_code ec;
  const fs::path s = fs::canonical(source, ec);
  if (!ec) {
    const fs::path d = fs::weakly_canonical(fs::absolute(dest, ec), ec);
    if (!ec) {
      auto [si, di] = std::mismatch(s.begin(), s.end(), d.begin(), d.end());
      if (si == s.end()) return true;
    }
  }
  fs::path existing = dest;
  while (!sys::fstatat(AT_FDCWD, existing.c_str(), 0)) {
    fs::path up = existing.parent_path();
    if (up.empty()) up = ".";
    if (up == existing) return false;
    existing = up;
  }
  auto fd = unique_fd::open(existing.c_str(), O_PATH | O_DIRECTORY);
  for (int depth = 0; fd && depth < 4096; ++depth) {
    auto here = sys::fstat(fd->get());
    if (!here) return false;
    if (here->st_dev == source_stat.st_dev && here->st_ino == source_stat.st_ino) return true;
    auto up = unique_fd::openat(fd->get(), "..", O_PATH | O_DIRECTORY);
    if (!up) return false;
    auto above = sys::fstat(up->get());
    if (!above || (above->st_dev == here->st_dev && above->st_ino == here->st_ino)) return false;
    fd = std::move(*up);
  }
  return false;
}

void tree_copier::walk(level top) {
  std::vector<level> stack;
  stack.push_back(std::move(top));
  const int stat_flags = options_.symlinks_as_links ? AT_SYMLINK_NOFOLLOW : 0;
  const int open_flags = O_RDONLY | O_DIRECTORY | (options_.symlinks_as_links ? O_NOFOLLOW : 0);
  while (!stack.empty()) {
    if (stopped()) {
      error(make_error_code(errc::cancelled), "copy", stack.front().source);
      return;
    }
    level& here = stack.back();
    auto next = here.reader.next();
    if (!next) {
      error(next.error(), "read directory", here.source);
      stack.pop_back();
      continue;
    }
    if (!*next) {
      stack.pop_back();
      continue;
    }
    const std::string name(next->value().name);
    const fs::path source = here.source / name;
    const fs::path dest = here.dest / name;
    auto st = sys::fstatat(here.reader.fd(), name.c_str(), stat_flags);
    if (!st) {
      error(st.error(), "stat", source);
      continue;
    }
    if (!S_ISDIR(st->st_mode)) {
      copy_entry(here.reader.fd(), name.c_str(), *st, source, here.dest_fd.get(), name, dest);
      continue;
    }
    // Following links, a link to an ancestor would recurse forever.
    if (std::any_of(stack.begin(), stack.end(),
                    [&](const level& l) { return l.dev == st->st_dev && l.ino == st->st_ino; })) {
      error(std::make_error_code(std::errc::too_many_symbolic_link_levels), "directory loop",
            source);
      continue;
    }
    auto src_fd = unique_fd::openat(here.reader.fd(), name.c_str(), open_flags);
    if (!src_fd) {
      error(src_fd.error(), "open", source);
      continue;
    }
    auto dest_fd = make_directory(here.dest_fd.get(), name.c_str(), *st, source, dest);
    if (!dest_fd) continue;
    stack.push_back(level{detail::dir_reader(std::move(*src_fd)), std::move(*dest_fd), source, dest,
                          st->st_dev, st->st_ino});
  }
}

tree_summary tree_copier::run(const fs::path& source_arg, const fs::path& dest_arg) {
  // "dir/" names "dir": the last component is what gets copied and created.
  auto trimmed = [](const fs::path& p) {
    return !p.has_filename() && p.has_relative_path() ? p.parent_path() : p;
  };
  const fs::path source = trimmed(source_arg);
  const fs::path dest = trimmed(dest_arg);
  auto st =
      sys::fstatat(AT_FDCWD, source.c_str(), options_.symlinks_as_links ? AT_SYMLINK_NOFOLLOW : 0);
  if (!st) {
    error(st.error(), "stat", source);
    return summary_;
  }
  const fs::path parent = dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
  const std::string dest_name = dest.filename().string();

  if (S_ISDIR(st->st_mode)) {
    if (!options_.recursive) {
      error(std::make_error_code(std::errc::is_a_directory), "omitting directory", source);
      return summary_;
    }
    if (into_itself(source, *st, dest)) {
      error(std::make_error_code(std::errc::invalid_argument), "into itself", dest);
      return summary_;
    }
    auto src_fd = unique_fd::open(source.c_str(), O_RDONLY | O_DIRECTORY);
    if (!src_fd) {
      error(src_fd.error(), "open", source);
      return summary_;
    }
    auto dir = unique_fd::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
    if (!dir) {
      error(dir.error(), "open", parent);
      return summary_;
    }
    auto dest_fd = make_directory(dir->get(), dest_name.c_str(), *st, source, dest);
    if (dest_fd) {
      walk(level{detail::dir_reader(std::move(*src_fd)), std::move(*dest_fd), source, dest,
                 st->st_dev, st->st_ino});
    }
  } else {
    auto dir = unique_fd::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
    if (!dir) {
      error(dir.error(), "open", parent);
      return summary_;
    }
    const fs::path source_parent =
        source.parent_path().empty() ? fs::path(".") : source.parent_path();
    auto src_dir = unique_fd::open(source_parent.c_str(), O_RDONLY | O_DIRECTORY);
    if (!src_dir) {
      error(src_dir.error(), "open", source_parent);
      return summary_;
    }
    copy_entry(src_dir->get(), source.filename().c_str(), *st, source, dir->get(), dest_name, dest);
  }
  finish_pool();
  make_links();
  apply_directory_metadata();
  return summary_;
}

}  // namespace

tree_summary copy_tree(const std::filesystem::path& source, const std::filesystem::path& dest,
                       const tree_options& options, const tree_observer& observer) {
  tree_copier copier(options, observer);
  return copier.run(source, dest);
}

}  // namespace zcopy
