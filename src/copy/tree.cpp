// copy_tree(): `jobs` threads (the caller's among them) share one stack of work: directories to
// copy and large files. A thread that takes a directory reads it (getdents64, by name in the open
// directory), creates directories, symlinks, special files and hard links itself, copies the
// small files itself and pushes subdirectories and large files back for any thread to take.
// Threads therefore mostly work in different directories: creating entries in one directory is
// serialized by the kernel (the directory's lock), so handing the files of one directory to
// several threads made them wait on each other, while whole directories spread well. Last in,
// first out keeps the pending work about the depth of the tree times its width, as a recursive
// walk would hold.
//
// Order matters in three places:
//  - directories are created 0700 (so a read-only source directory can still be filled) and get
//    their mode, owner and times at the very end, deepest first (a directory is recorded before
//    anything inside it, the list is applied in reverse), after every file, link and
//    subdirectory inside them is in place: nothing written later bumps an mtime;
//  - hard links (the second and later names of a multiply-linked file) are made after every
//    thread has finished, when the first name's copy is sure to be renamed into place;
//  - symlinks and special files are built under a temporary name, given their metadata, then
//    renamed over DEST, like files: a failure leaves DEST as it was.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <variant>

#include "copy/internal.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"

namespace zcopy {
namespace {

namespace fs = std::filesystem;
using detail::final_metadata;

// A refused clone that says the filesystems cannot clone at all (not that this file cannot).
bool clone_unsupported(std::error_code ec) {
  return ec == std::errc::operation_not_supported ||
         ec == std::errc::inappropriate_io_control_operation ||
         ec == std::errc::cross_device_link || ec == std::errc::function_not_supported;
}

bool newer(const timespec& a, const timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

// A regular file for the copy threads: its directories stay open while the job holds them.
struct file_job {
  detail::shared_dir source_dir;
  std::string source_name;
  detail::shared_dir dest_dir;
  std::string dest_name;
  fs::path source;
  fs::path dest;
  struct stat st;
  dev_t dest_dev = 0;       // the filesystem of DEST's directory; 0: not known
  bool dest_fresh = false;  // DEST's directory was made by this copy: nothing is at DEST yet
  unique_fd source_fd;      // SOURCE opened by the walk (`st` is its fstat); else opened later
};

// Places in DEST are named twice: by the path the caller knows them by (`dest`, for messages and
// the observer) and by the path below the directory that holds the top DEST (`*_rel`), which the
// copy opens without following symlinks: a symlink planted inside DEST, before or during the copy,
// never leads the copy's writes or metadata outside it.
struct pending_link {
  fs::path source;
  fs::path first_dest;  // the copy of the file's first name
  fs::path first_rel;
  fs::path dest;
  fs::path dest_rel;
  struct stat st;
};

struct dir_record {
  fs::path dest;
  fs::path dest_rel;
  final_metadata meta;
};

// A directory whose copy exists and whose entries are still to be copied. It holds paths, not
// descriptors, so that a wide tree's pending directories cannot exhaust the descriptor limit;
// the source is checked to be the directory that was walked into (`identity`) once opened.
struct dir_task {
  fs::path source;
  fs::path dest;
  fs::path dest_rel;
  // (device, inode) of the directory and every ancestor: a link back to one would recurse forever.
  std::vector<std::pair<dev_t, ino_t>> identity;
  // DEST was made by this copy (not merged into): its entries need no check for an existing
  // DEST, one lstat per file saved. A name that appears meanwhile still cannot be lost: new
  // files are linked in with linkat, which fails on an existing name (file_copy.cpp).
  bool fresh = false;
};

using task = std::variant<dir_task, file_job>;

// Files from this size on are pushed for any thread to copy; smaller ones are copied by the
// thread that reads their directory (handing them over costs more than copying them).
constexpr off_t shared_file_size = off_t{1} << 20;

class tree_copier {
 public:
  tree_copier(const tree_options& options, const tree_observer& observer)
      : options_(options), observer_(observer) {
    unsigned jobs = options.jobs != 0 ? options.jobs : std::thread::hardware_concurrency();
    jobs_ = std::max(1u, jobs);
  }

  tree_summary run(const fs::path& source, const fs::path& dest);

 private:
  bool stopped() const {
    return options_.file.stop.stop_possible() && options_.file.stop.stop_requested();
  }
  void error(std::error_code ec, copy_step step, const fs::path& path) {
    {
      std::lock_guard guard(summary_lock_);
      ++summary_.errors;
    }
    if (observer_.on_error) {
      observer_.on_error(detail::make_copy_error(ec, step, path));
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
    if (!options_.no_clobber && !options_.update && !options_.confirm_replace) return false;
    auto d = sys::fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW);
    if (!d) return false;
    if (options_.no_clobber || (options_.update && !newer(st.st_mtim, d->st_mtim)) ||
        (options_.confirm_replace && !S_ISDIR(d->st_mode) && !options_.confirm_replace(dest))) {
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
      meta.mode = detail::new_entry_mode(st.st_mode, options_.file.preserve);
    }
    if (options_.file.preserve.ownership) meta.owner = std::pair{st.st_uid, st.st_gid};
    if (options_.file.preserve.timestamps) meta.times = std::array{st.st_atim, st.st_mtim};
    return meta;
  }

  // `special_source`: the file is a FIFO or a device named by the caller, read to its end.
  void copy_file_now(const file_job& job, bool special_source = false);
  void push(task t);
  void run_tasks();  // in every thread: takes and does tasks until there are none left anywhere
  void copy_directory(const dir_task& t);

  // SOURCE and DEST by value: a file queued for another thread keeps them (moved, not copied).
  void copy_entry(const detail::shared_dir& src_dir, const char* name, const struct stat& st,
                  fs::path source, const detail::shared_dir& dest_dir, dev_t dest_dev,
                  bool dest_fresh, const std::string& dest_name, fs::path dest,
                  const fs::path& dest_rel, unique_fd opened = {});
  // Creates DEST (or merges into an existing directory, never one a symlink leads to) and records
  // its final metadata. Nothing on failure (reported); whether DEST was created rather than
  // merged into.
  std::optional<bool> make_directory(int dest_dirfd, const char* name, const struct stat& st,
                                     const fs::path& source, const fs::path& dest,
                                     const fs::path& dest_rel);
  void make_symlink(int src_dirfd, const char* name, const struct stat& st, const fs::path& source,
                    int dest_dirfd, const std::string& dest_name, const fs::path& dest);
  void make_special(const struct stat& st, const fs::path& source, int dest_dirfd,
                    const std::string& dest_name, const fs::path& dest);
  void make_hard_link(int src_dirfd, const char* name, const struct stat& st,
                      const fs::path& source, int dest_dirfd, const std::string& dest_name,
                      const fs::path& dest);
  void make_symlink_to_source(const fs::path& source, int dest_dirfd, const std::string& dest_name,
                              const fs::path& dest);
  template <class Make, class Wanted>
  void place_link(int dest_dirfd, const std::string& dest_name, const fs::path& source,
                  const fs::path& dest, copy_step step, entry_kind kind, Wanted&& is_wanted,
                  Make&& make);
  // Builds an entry under a temporary name with `make`, applies `meta`, renames it over DEST.
  template <class Make>
  std::optional<copy_error> build_and_rename(int dest_dirfd, const std::string& dest_name,
                                             const fs::path& dest, copy_step step,
                                             const final_metadata& meta, bool symlink, Make&& make);
  void make_links();
  void apply_directory_metadata();
  // A directory of DEST by its path below dest_root_, no symlink followed.
  std::expected<unique_fd, std::error_code> open_dest_dir(const fs::path& rel, int flags) const;
  bool same_file(const fs::path& source, const struct stat& st, const fs::path& dest) const;
  bool into_itself(const fs::path& source, const struct stat& source_stat, const fs::path& dest);

  const tree_options& options_;
  const tree_observer& observer_;
  unsigned jobs_ = 1;

  std::mutex summary_lock_;
  std::atomic<std::uint64_t> progress_{0};  // file bytes copied so far, every thread
  tree_summary summary_;

  std::mutex queue_lock_;
  std::condition_variable queue_changed_;
  std::vector<task> tasks_;  // last in, first out
  unsigned busy_ = 0;        // threads doing a task (which may push more)

  unique_fd dest_root_;  // the directory that holds the top DEST: `*_rel` paths start here

  std::mutex walk_lock_;                 // the four below, written by every thread
  std::vector<dir_record> directories_;  // pre-order: a directory before its contents
  // The copy of each multiply-linked file's first name: its path and its path below dest_root_.
  std::map<std::pair<dev_t, ino_t>, std::pair<fs::path, fs::path>> first_names_;
  std::vector<pending_link> links_;
  std::vector<std::pair<dev_t, dev_t>> no_clone_;  // (source, DEST) filesystems without clones
};

// --- files ---------------------------------------------------------------------------------

void tree_copier::copy_file_now(const file_job& job, bool special_source) {
  if (stopped()) return;  // the walker reports the cancellation once
  // -u and -i look at DEST once (-n is the copy's own: RENAME_NOREPLACE).
  if ((options_.update || options_.confirm_replace) && !options_.no_clobber && !job.dest_fresh) {
    auto d = sys::fstatat(job.dest_dir->get(), job.dest_name.c_str(), 0);
    if (d && ((options_.update && !newer(job.st.st_mtim, d->st_mtim)) ||
              (options_.confirm_replace && !S_ISDIR(d->st_mode) &&
               !options_.confirm_replace(job.dest)))) {
      skipped(job.source, job.dest);
      return;
    }
  }
  // Once a clone between two filesystems was refused as unsupported, the other files between the
  // same two are not offered (one ioctl per file saved; GNU cp tries every file).
  const std::pair devices{job.st.st_dev, job.dest_dev};
  const bool may_learn = options_.file.reflink == reflink_mode::automatic && job.dest_dev != 0;
  bool skip_clone = false;
  if (may_learn) {
    std::lock_guard guard(walk_lock_);
    skip_clone = std::find(no_clone_.begin(), no_clone_.end(), devices) != no_clone_.end();
  }
  // The tree's options as they are, unless this file needs its own (no copy per file otherwise).
  const copy_options* file_options = &options_.file;
  std::optional<copy_options> adjusted;
  if (skip_clone || options_.file.on_progress) {
    adjusted = options_.file;
    file_options = &*adjusted;
  }
  if (skip_clone) adjusted->reflink = reflink_mode::never;
  // on_progress reports the whole tree's bytes: each file's running count becomes a delta added
  // to one total, so the caller sees a single number grow whatever the number of threads.
  if (options_.file.on_progress) {
    adjusted->on_progress = [this, last = std::uint64_t{0}](std::uint64_t moved) mutable {
      const std::uint64_t delta = moved > last ? moved - last : 0;
      last = std::max(last, moved);
      options_.file.on_progress(progress_.fetch_add(delta, std::memory_order_relaxed) + delta);
    };
  }
  auto r = detail::copy_file_at(job.source_dir->get(), job.source_name.c_str(), job.dest_dir->get(),
                                job.dest_name, job.source, job.dest, *file_options,
                                {.no_replace = options_.no_clobber,
                                 .dest_absent = job.dest_fresh,
                                 .source_fd = job.source_fd ? job.source_fd.get() : -1,
                                 .source_stat = job.source_fd ? &job.st : nullptr,
                                 .special_source = special_source});
  if (!r) {
    if (r.error().code == errc::cancelled && stopped()) return;
    {
      std::lock_guard guard(summary_lock_);
      ++summary_.errors;
    }
    if (observer_.on_error) observer_.on_error(r.error());
    return;
  }
  const auto* file = std::get_if<file_copy_result>(&*r);
  if (file == nullptr) return skipped(job.source, job.dest);  // -n kept DEST
  if (may_learn && !skip_clone) {
    for (const fallback_record& f : file->fallbacks) {
      if (f.from == method::reflink && clone_unsupported(f.reason)) {
        std::lock_guard guard(walk_lock_);
        if (std::find(no_clone_.begin(), no_clone_.end(), devices) == no_clone_.end()) {
          no_clone_.push_back(devices);
        }
      }
    }
  }
  copied(job.source, job.dest, entry_kind::file, file);
}

void tree_copier::push(task t) {
  {
    std::lock_guard guard(queue_lock_);
    tasks_.push_back(std::move(t));
  }
  queue_changed_.notify_one();
}

void tree_copier::run_tasks() {
  for (;;) {
    task t;
    {
      std::unique_lock guard(queue_lock_);
      queue_changed_.wait(guard, [&] { return !tasks_.empty() || busy_ == 0; });
      if (tasks_.empty()) return;  // and nobody busy: nothing more can come
      t = std::move(tasks_.back());
      tasks_.pop_back();
      ++busy_;
    }
    if (auto* d = std::get_if<dir_task>(&t)) {
      copy_directory(*d);
    } else {
      copy_file_now(std::get<file_job>(t));
    }
    bool finished;
    {
      std::lock_guard guard(queue_lock_);
      finished = --busy_ == 0 && tasks_.empty();
    }
    if (finished) queue_changed_.notify_all();
  }
}

// --- other entries -------------------------------------------------------------------------

template <class Make>
std::optional<copy_error> tree_copier::build_and_rename(int dest_dirfd,
                                                        const std::string& dest_name,
                                                        const fs::path& dest, copy_step step,
                                                        const final_metadata& meta, bool symlink,
                                                        Make&& make) {
  auto tmp = detail::create_temp(dest_dirfd, dest_name, make);
  if (!tmp) return detail::make_copy_error(tmp.error(), step, dest);
  if (auto m = detail::apply_metadata_at(dest_dirfd, tmp->name().c_str(), meta, symlink); !m) {
    return detail::make_copy_error(m.error().second, m.error().first, dest);
  }
  if (auto e = detail::keep_backup(dest_dirfd, dest_name, options_.file); e) {
    return detail::make_copy_error(e, copy_step::backup, dest);
  }
  if (auto r = sys::renameat2(dest_dirfd, tmp->name().c_str(), dest_dirfd, dest_name.c_str()); !r) {
    return detail::make_copy_error(r.error(), copy_step::rename, dest);
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
    if (!n) return error(n.error(), copy_step::read_link, source);
    if (*n < target.size()) {
      target.resize(*n);
      break;
    }
    target.resize(target.size() * 2);
  }
  final_metadata meta = metadata_for(st, true);
  meta.mode.reset();
  auto e = build_and_rename(dest_dirfd, dest_name, dest, copy_step::create_symlink, meta, true,
                            [&](const std::string& n) -> std::error_code {
                              auto r = sys::symlinkat(target.c_str(), dest_dirfd, n.c_str());
                              return r ? std::error_code{} : r.error();
                            });
  if (e) return error(e->code, e->step, e->path);
  copied(source, dest, entry_kind::symlink, nullptr);
}

// -l and -s: the link is complete the moment it is made, so a free name is taken directly (one
// call). An existing DEST is replaced through a temporary name and a rename, never unlinked
// first; under -n it is kept, a directory is refused, and one that already is the link wanted
// (`is_wanted`) is left as it is: rename(2) between two names of one file does nothing and would
// leave the temporary name behind.
template <class Make, class Wanted>
void tree_copier::place_link(int dest_dirfd, const std::string& dest_name, const fs::path& source,
                             const fs::path& dest, copy_step step, entry_kind kind,
                             Wanted&& is_wanted, Make&& make) {
  const std::error_code direct = make(dest_name);
  if (direct == std::errc::file_exists) {
    if (options_.no_clobber) return skipped(source, dest);  // appeared since keep_existing
    auto d = sys::fstatat(dest_dirfd, dest_name.c_str(), AT_SYMLINK_NOFOLLOW);
    if (d && S_ISDIR(d->st_mode)) {
      return error(errc::non_directory_over_directory, step, dest);
    }
    if (!d || !is_wanted(*d)) {
      auto e = build_and_rename(dest_dirfd, dest_name, dest, step, {}, kind == entry_kind::symlink,
                                make);
      if (e) return error(e->code, e->step, e->path);
    }
  } else if (direct) {
    return error(direct, step, dest);
  }
  copied(source, dest, kind, nullptr);
}

// -l: DEST becomes another name of SOURCE (following symlinks, of the file a symlink names: the
// walk stat'ed that file).
void tree_copier::make_hard_link(int src_dirfd, const char* name, const struct stat& st,
                                 const fs::path& source, int dest_dirfd,
                                 const std::string& dest_name, const fs::path& dest) {
  const int follow = options_.symlinks_as_links ? 0 : AT_SYMLINK_FOLLOW;
  place_link(
      dest_dirfd, dest_name, source, dest, copy_step::link, entry_kind::hard_link,
      [&](const struct stat& d) { return d.st_dev == st.st_dev && d.st_ino == st.st_ino; },
      [&](const std::string& n) -> std::error_code {
        auto r = sys::linkat(src_dirfd, name, dest_dirfd, n.c_str(), follow);
        return r ? std::error_code{} : r.error();
      });
}

// -s: DEST becomes a symbolic link to SOURCE's path. A relative path resolves from the link's
// directory, so it is refused unless that directory is the current one (cp's rule).
void tree_copier::make_symlink_to_source(const fs::path& source, int dest_dirfd,
                                         const std::string& dest_name, const fs::path& dest) {
  if (source.is_relative()) {
    auto here = sys::fstatat(AT_FDCWD, ".", 0);
    auto there = sys::fstat(dest_dirfd);
    if (!here || !there || here->st_dev != there->st_dev || here->st_ino != there->st_ino) {
      return error(errc::relative_symlink_elsewhere, copy_step::create_symlink, dest);
    }
  }
  place_link(
      dest_dirfd, dest_name, source, dest, copy_step::create_symlink, entry_kind::symlink,
      [](const struct stat&) { return false; },
      [&](const std::string& n) -> std::error_code {
        auto r = sys::symlinkat(source.c_str(), dest_dirfd, n.c_str());
        return r ? std::error_code{} : r.error();
      });
}

void tree_copier::make_special(const struct stat& st, const fs::path& source, int dest_dirfd,
                               const std::string& dest_name, const fs::path& dest) {
  if (!options_.special_files) {
    // Never opened: reading a FIFO would block, reading a device could be endless.
    return error(errc::special_file_refused, copy_step::copy, source);
  }
  const final_metadata meta = metadata_for(st, true);
  auto e = build_and_rename(dest_dirfd, dest_name, dest, copy_step::mknod, meta, false,
                            [&](const std::string& n) -> std::error_code {
                              auto r = sys::mknodat(dest_dirfd, n.c_str(),
                                                    (st.st_mode & S_IFMT) | 0600, st.st_rdev);
                              return r ? std::error_code{} : r.error();
                            });
  if (e) return error(e->code, e->step, e->path);
  copied(source, dest, entry_kind::special, nullptr);
}

std::optional<bool> tree_copier::make_directory(int dest_dirfd, const char* name,
                                                const struct stat& st, const fs::path& source,
                                                const fs::path& dest, const fs::path& dest_rel) {
  bool created = true;
  if (auto r = sys::mkdirat(dest_dirfd, name, 0700); !r) {
    if (r.error() != std::errc::file_exists) {
      error(r.error(), copy_step::mkdir, dest);
      return std::nullopt;
    }
    // An existing directory is merged into, as cp does; anything else in its place, a symlink to
    // a directory included, is refused as cp refuses it ("cannot overwrite non-directory with
    // directory"): entering a planted link would write the source's entries, and set the
    // source's modes and owners, wherever it points.
    auto d = sys::fstatat(dest_dirfd, name, AT_SYMLINK_NOFOLLOW);
    if (!d || !S_ISDIR(d->st_mode)) {
      error(errc::directory_over_non_directory, copy_step::mkdir, dest);
      return std::nullopt;
    }
    created = false;
  }
  {
    std::lock_guard guard(walk_lock_);
    directories_.push_back({dest, dest_rel, metadata_for(st, created)});
  }
  copied(source, dest, entry_kind::directory, nullptr);
  return created;
}

void tree_copier::copy_entry(const detail::shared_dir& src_dir, const char* name,
                             const struct stat& st, fs::path source,
                             const detail::shared_dir& dest_dir, dev_t dest_dev, bool dest_fresh,
                             const std::string& dest_name, fs::path dest, const fs::path& dest_rel,
                             unique_fd opened) {
  const int src_dirfd = src_dir->get();
  const int dest_dirfd = dest_dir->get();
  if (options_.link_files || options_.symlink_files) {
    if (keep_existing(dest_dirfd, dest_name.c_str(), st, source, dest)) return;
    if (options_.symlink_files) {
      return make_symlink_to_source(source, dest_dirfd, dest_name, dest);
    }
    return make_hard_link(src_dirfd, name, st, source, dest_dirfd, dest_name, dest);
  }
  // Following symlinks, one file can be reached under two names with a link count of 1: it is
  // remembered too, as cp -aL does, and the second name becomes a hard link to the first copy.
  if (options_.keep_hard_links && (st.st_nlink > 1 || !options_.symlinks_as_links)) {
    std::lock_guard guard(walk_lock_);
    auto [it, first] = first_names_.try_emplace({st.st_dev, st.st_ino}, dest, dest_rel);
    if (!first) {
      links_.push_back({source, it->second.first, it->second.second, dest, dest_rel, st});
      return;
    }
  }
  if (S_ISREG(st.st_mode)) {
    file_job job{src_dir,         name, dest_dir, dest_name,  std::move(source),
                 std::move(dest), st,   dest_dev, dest_fresh, std::move(opened)};
    if (jobs_ > 1 && st.st_size >= shared_file_size) {
      // Queued files are opened by the thread that copies them: descriptors stay bounded by the
      // number of threads however many large files wait.
      job.source_fd.reset();
      return push(std::move(job));
    }
    return copy_file_now(job);
  }
  if (keep_existing(dest_dirfd, dest_name.c_str(), st, source, dest)) return;
  if (S_ISLNK(st.st_mode)) {
    return make_symlink(src_dirfd, name, st, source, dest_dirfd, dest_name, dest);
  }
  make_special(st, source, dest_dirfd, dest_name, dest);
}

void tree_copier::make_links() {
  for (const pending_link& l : links_) {
    if (stopped()) return;
    auto dir = open_dest_dir(l.dest_rel.parent_path(), O_RDONLY | O_DIRECTORY);
    if (!dir) {
      error(dir.error(), copy_step::open, l.dest.parent_path());
      continue;
    }
    auto first_dir = open_dest_dir(l.first_rel.parent_path(), O_PATH | O_DIRECTORY);
    if (!first_dir) {
      error(first_dir.error(), copy_step::open, l.first_dest.parent_path());
      continue;
    }
    const std::string name = l.dest_rel.filename().string();
    const std::string first_name = l.first_rel.filename().string();
    if (keep_existing(dir->get(), name.c_str(), l.st, l.source, l.dest)) continue;
    auto e = build_and_rename(dir->get(), name, l.dest, copy_step::link, {}, false,
                              [&](const std::string& n) -> std::error_code {
                                auto r = sys::linkat(first_dir->get(), first_name.c_str(),
                                                     dir->get(), n.c_str(), 0);
                                return r ? std::error_code{} : r.error();
                              });
    if (e) {
      error(e->code, e->step, e->path);
      continue;
    }
    copied(l.source, l.dest, entry_kind::hard_link, nullptr);
  }
}

void tree_copier::apply_directory_metadata() {
  for (auto it = directories_.rbegin(); it != directories_.rend(); ++it) {
    if (!it->meta.mode && !it->meta.owner && !it->meta.times) continue;
    // Through a descriptor of the directory itself, reached without symlinks: a directory
    // swapped for a link to another one since it was filled does not pass its owner and mode on.
    auto dir = open_dest_dir(it->dest_rel, O_RDONLY | O_DIRECTORY);
    std::expected<void, std::pair<copy_step, std::error_code>> m;
    if (dir) {
      m = detail::apply_metadata(dir->get(), it->meta);
    } else if (dir.error() == std::errc::permission_denied) {
      // A directory merged into that the process may not read (mode 0300): an O_PATH descriptor,
      // reached through its /proc name.
      dir = open_dest_dir(it->dest_rel, O_PATH | O_DIRECTORY);
      if (!dir) {
        error(dir.error(), copy_step::open, it->dest);
        continue;
      }
      const std::string self = "/proc/self/fd/" + std::to_string(dir->get());
      m = detail::apply_metadata_at(AT_FDCWD, self.c_str(), it->meta, false);
    } else {
      error(dir.error(), copy_step::open, it->dest);
      continue;
    }
    if (!m) error(m.error().second, m.error().first, it->dest);
  }
}

std::expected<unique_fd, std::error_code> tree_copier::open_dest_dir(const fs::path& rel,
                                                                     int flags) const {
  if (rel.empty()) return unique_fd::openat(dest_root_.get(), ".", flags);
  return detail::open_no_symlinks(dest_root_.get(), rel, flags);
}

// --- the walk ------------------------------------------------------------------------------

// Whether an existing DEST is SOURCE itself (`st`, SOURCE as the walk sees it): the same inode,
// or, for a symlink copied as a symlink, the file the link names (replacing it with the link
// would leave a link to itself).
bool tree_copier::same_file(const fs::path& source, const struct stat& st,
                            const fs::path& dest) const {
  const bool follow = !options_.symlinks_as_links;
  auto d = sys::fstatat(AT_FDCWD, dest.c_str(), follow ? 0 : AT_SYMLINK_NOFOLLOW);
  if (!d) return false;
  auto same = [](const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  };
  if (same(st, *d)) return true;
  if (follow || !S_ISLNK(st.st_mode)) return false;
  auto target = sys::fstatat(AT_FDCWD, source.c_str(), 0);
  return target && same(*target, *d);
}

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

void tree_copier::copy_directory(const dir_task& t) {
  if (stopped()) return;  // run() reports the cancellation once
  const int stat_flags = options_.symlinks_as_links ? AT_SYMLINK_NOFOLLOW : 0;
  // As copy_file opens a source (file_copy.cpp: open_source).
  const int file_flags =
      O_RDONLY | O_NOCTTY | O_NONBLOCK | (options_.symlinks_as_links ? O_NOFOLLOW : 0);
  const int open_flags = O_RDONLY | O_DIRECTORY | (options_.symlinks_as_links ? O_NOFOLLOW : 0);
  auto src_fd = unique_fd::open(t.source.c_str(), open_flags);
  if (!src_fd) return error(src_fd.error(), copy_step::open, t.source);
  auto here = sys::fstat(src_fd->get());
  if (!here) return error(here.error(), copy_step::stat, t.source);
  if (std::pair{here->st_dev, here->st_ino} != t.identity.back()) {
    // Replaced between the walk's stat and this open: not what the walk decided to copy.
    return error(errc::directory_changed, copy_step::open, t.source);
  }
  auto dest_fd = open_dest_dir(t.dest_rel, O_RDONLY | O_DIRECTORY);
  if (!dest_fd) return error(dest_fd.error(), copy_step::open, t.dest);
  auto dest_here = sys::fstat(dest_fd->get());
  if (!dest_here) return error(dest_here.error(), copy_step::stat, t.dest);
  detail::dir_reader reader(detail::share(std::move(*src_fd)));
  const detail::shared_dir dest_dir = detail::share(std::move(*dest_fd));

  for (;;) {
    if (stopped()) return;
    auto next = reader.next();
    if (!next) return error(next.error(), copy_step::read_directory, t.source);
    if (!*next) return;
    const std::string name(next->value().name);
    fs::path source = t.source / name;
    fs::path dest = t.dest / name;
    fs::path dest_rel = t.dest_rel / name;
    // A regular file by its directory entry is opened at once and its fstat is the one stat: the
    // lookup by name the other entries need is saved (one path walk per file of a tree). With
    // O_NOFOLLOW a symlink put there since the directory was read is not followed; it, and
    // anything that is not a regular file once opened or fails to open, takes the general path.
    if (next->value().type == DT_REG && !options_.update && !options_.link_files &&
        !options_.symlink_files) {
      auto fd = unique_fd::openat(reader.fd(), name.c_str(), file_flags);
      if (fd) {
        if (auto st = sys::fstat(fd->get()); st && S_ISREG(st->st_mode)) {
          copy_entry(reader.shared(), name.c_str(), *st, std::move(source), dest_dir,
                     dest_here->st_dev, t.fresh, name, std::move(dest), dest_rel, std::move(*fd));
          continue;
        }
      }
    }
    auto st = sys::fstatat(reader.fd(), name.c_str(), stat_flags);
    if (!st) {
      error(st.error(), copy_step::stat, source);
      continue;
    }
    if (!S_ISDIR(st->st_mode)) {
      copy_entry(reader.shared(), name.c_str(), *st, std::move(source), dest_dir, dest_here->st_dev,
                 t.fresh, name, std::move(dest), dest_rel);
      continue;
    }
    // Following links, a link to an ancestor would recurse forever.
    const std::pair id{st->st_dev, st->st_ino};
    if (std::find(t.identity.begin(), t.identity.end(), id) != t.identity.end()) {
      error(errc::directory_loop, copy_step::copy, source);
      continue;
    }
    const auto created = make_directory(dest_dir->get(), name.c_str(), *st, source, dest, dest_rel);
    if (!created) continue;
    if (options_.one_file_system && st->st_dev != here->st_dev) continue;
    dir_task sub{std::move(source), std::move(dest), std::move(dest_rel), t.identity, *created};
    sub.identity.push_back(id);
    push(std::move(sub));
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
    error(st.error(), copy_step::stat, source);
    return summary_;
  }
  const fs::path parent = dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
  const std::string dest_name = dest.filename().string();

  // A directory onto itself is "into itself" (below), as cp says it.
  if (!S_ISDIR(st->st_mode) && same_file(source, *st, dest)) {
    error(make_error_code(errc::same_file), copy_step::copy, dest);
    return summary_;
  }
  if (S_ISDIR(st->st_mode)) {
    if (!options_.recursive) {
      error(errc::directory_omitted, copy_step::copy, source);
      return summary_;
    }
    if (into_itself(source, *st, dest)) {
      error(errc::into_itself, copy_step::copy, dest);
      return summary_;
    }
    auto dir = unique_fd::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
    if (!dir) {
      error(dir.error(), copy_step::open, parent);
      return summary_;
    }
    dest_root_ = std::move(*dir);
    if (const auto created =
            make_directory(dest_root_.get(), dest_name.c_str(), *st, source, dest, dest_name)) {
      push(dir_task{source, dest, dest_name, {{st->st_dev, st->st_ino}}, *created});
    }
  } else {
    auto dir = unique_fd::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
    if (!dir) {
      error(dir.error(), copy_step::open, parent);
      return summary_;
    }

    const fs::path source_parent =
        source.parent_path().empty() ? fs::path(".") : source.parent_path();
    auto src_dir = unique_fd::open(source_parent.c_str(), O_RDONLY | O_DIRECTORY);
    if (!src_dir) {
      error(src_dir.error(), copy_step::open, source_parent);
      return summary_;
    }
    // A FIFO or a device named without -R is read like a file (cp: "cp /dev/null f" makes an
    // empty file); inside a tree, without `special_files`, they are refused and never opened.
    const mode_t type = st->st_mode & S_IFMT;
    if (!options_.special_files && (type == S_IFIFO || type == S_IFCHR || type == S_IFBLK)) {
      copy_file_now(file_job{detail::share(std::move(*src_dir)),
                             source.filename().string(),
                             detail::share(std::move(*dir)),
                             dest_name,
                             source,
                             dest,
                             *st,
                             0,
                             false,
                             {}},
                    true);
    } else {
      copy_entry(detail::share(std::move(*src_dir)), source.filename().c_str(), *st, source,
                 detail::share(std::move(*dir)), 0, false, dest_name, dest, dest_name);
    }
  }
  // The caller's thread is one of the `jobs`; a single file needs no other.
  std::vector<std::thread> helpers;
  if (S_ISDIR(st->st_mode)) {
    for (unsigned i = 1; i < jobs_; ++i) helpers.emplace_back([this] { run_tasks(); });
  }
  run_tasks();
  for (auto& h : helpers) h.join();
  if (stopped()) error(make_error_code(errc::cancelled), copy_step::copy, source);
  make_links();
  apply_directory_metadata();
  return summary_;
}

}  // namespace

tree_summary copy_tree(const std::filesystem::path& source, const std::filesystem::path& dest,
                       const tree_options& options, const tree_observer& observer) {
  auto copy = [&](const fs::path& from, const fs::path& to) {
    tree_copier copier(options, observer);
    return copier.run(from, to);
  };
  if (options.parents) return detail::copy_with_parents(source, dest, options, observer, copy);
  return copy(source, dest);
}

}  // namespace zcopy
