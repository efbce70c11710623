// cp --parents: SOURCE copied to DIRECTORY/SOURCE, the directories between made as cp makes them.
//
// Each missing directory between DIRECTORY and SOURCE's own name is made from the source
// directory it stands for (its mode, owner-writable until the copy is done so that the copy can
// enter it), and reached from DIRECTORY one component at a time without following symlinks: a
// symlink planted in DIRECTORY where a parent belongs is refused, never written through. The
// parents' final mode, owner and times are set after the copy (deepest first, so that adding
// entries does not move a parent's times again), through the descriptors held since they were
// made, so a directory swapped meanwhile does not take them.
#include <fcntl.h>
#include <sys/stat.h>

#include <vector>

#include "copy/internal.hpp"
#include "sys/sys.hpp"
#include "zcopy/copy.hpp"
#include "zcopy/error.hpp"
#include "zcopy/fd.hpp"

namespace zcopy::detail {
namespace {

namespace fs = std::filesystem;

struct made_parent {
  unique_fd dir;
  fs::path dest;
  struct stat source {};  // the source directory it stands for
};

}  // namespace

fs::path parents_path(const fs::path& source) {
  fs::path rel;
  for (const auto& part : source.relative_path()) {
    if (part == "..") return {};
    if (!part.empty() && part != ".") rel /= part;
  }
  return rel;
}

tree_summary copy_with_parents(const fs::path& source, const fs::path& directory,
                               const tree_options& options, const tree_observer& observer,
                               const copy_tree_function& copy) {
  tree_summary summary;
  auto fail = [&](std::error_code ec, copy_step step, const fs::path& path) {
    ++summary.errors;
    if (observer.on_error) observer.on_error(make_copy_error(ec, step, path));
    return summary;
  };
  const fs::path rel = parents_path(source);
  if (rel.empty()) {
    return fail(make_error_code(errc::outside_directory), copy_step::copy, source);
  }
  auto opened = unique_fd::open(directory.c_str(), O_RDONLY | O_DIRECTORY);
  if (!opened) return fail(opened.error(), copy_step::open, directory);
  unique_fd passed = std::move(*opened);  // the last existing directory on the way
  int at = passed.get();                  // the directory the next component is looked up in

  const preserve_options& keep = options.file.preserve;
  const mode_t umask_now = process_umask();
  std::vector<made_parent> made;
  fs::path from = source.is_absolute() ? fs::path("/") : fs::path();
  fs::path to = directory;
  for (const auto& part : rel.parent_path()) {
    from /= part;
    to /= part;
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
    if (auto existing = sys::fstatat(at, part.c_str(), AT_SYMLINK_NOFOLLOW)) {
      if (!S_ISDIR(existing->st_mode)) {
        return fail(std::make_error_code(std::errc::not_a_directory), copy_step::mkdir, to);
      }
      auto next = unique_fd::openat(at, part.c_str(), flags);
      if (!next) return fail(next.error(), copy_step::open, to);
      passed = std::move(*next);
      at = passed.get();
      continue;
    } else if (existing.error() != std::errc::no_such_file_or_directory) {
      return fail(existing.error(), copy_step::stat, to);
    }
    auto source_dir = sys::fstatat(AT_FDCWD, from.c_str(), 0);
    if (!source_dir) return fail(source_dir.error(), copy_step::stat, from);
    if (!S_ISDIR(source_dir->st_mode)) {
      return fail(std::make_error_code(std::errc::not_a_directory), copy_step::stat, from);
    }
    const mode_t mode = ((source_dir->st_mode & 07777) & ~umask_now) | S_IRWXU;
    if (auto r = sys::mkdirat(at, part.c_str(), mode); !r) {
      return fail(r.error(), copy_step::mkdir, to);
    }
    auto next = unique_fd::openat(at, part.c_str(), flags);
    if (!next) return fail(next.error(), copy_step::open, to);
    made.push_back(made_parent{std::move(*next), to, *source_dir});
    at = made.back().dir.get();
  }

  tree_summary copied = copy(source, directory / rel);
  copied.errors += summary.errors;

  for (auto it = made.rbegin(); it != made.rend(); ++it) {
    const struct stat& s = it->source;
    final_metadata meta;
    meta.mode = keep.mode           ? s.st_mode & 07777
                : keep.default_mode ? mode_t{0777} & ~umask_now
                                    : (s.st_mode & 07777) & ~umask_now;
    if (keep.ownership) meta.owner = std::pair{s.st_uid, s.st_gid};
    if (keep.timestamps) meta.times = std::array{s.st_atim, s.st_mtim};
    if (auto m = apply_metadata(it->dir.get(), meta); !m) {
      ++copied.errors;
      if (observer.on_error) {
        observer.on_error(make_copy_error(m.error().second, m.error().first, it->dest));
      }
    }
  }
  return copied;
}

}  // namespace zcopy::detail
