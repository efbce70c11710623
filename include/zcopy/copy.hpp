// copy: files and directory trees copied the way cp(1) copies them, with the data moved by the
// transfer engine and nothing ever lost on the way.
//
// Data: a regular file's bytes go through transfer() (file → file): reflink when the filesystem
// shares extents (reflink_mode), else copy_file_range, else sendfile, else read/write; holes stay
// holes (sparse_mode). A large file whose copy would run through copy_file_range is split into
// ranges copied by several threads at once (`parallel_ranges`), because one copy_file_range call
// runs on one core (ext4 copies page by page in the calling thread).
//
// Nothing lost: a regular file is written to a temporary file beside DEST (same directory, so the
// rename stays inside one filesystem) and renamed over DEST only when every byte and the metadata
// are in place, so a failed, interrupted or out-of-space copy leaves DEST as it was (or absent) and
// removes its temporary file. With `fsync`, the file and then its directory are synced before and
// after the rename. A stop requested through `stop` ends the copy at the next step with
// errc::cancelled, temporary file removed.
//
// Replacing an existing DEST gives it a new inode (that is what makes the replacement atomic):
// other hard links to the old DEST, bind mounts of it and processes that hold it open keep the
// old contents (GNU cp writes into the existing inode, so they see the new bytes). What belongs
// to DEST rather than to its contents goes with the name: without `preserve.mode` the new file
// takes the old DEST's mode (cp's rule for existing files), or the source's mode masked by the
// umask when DEST is new; it keeps DEST's owner where the process may set it, and DEST's
// extended attributes and ACLs as far as the filesystem takes them (not file capabilities, which
// vouch for the old bytes). `in_place` writes into DEST's inode instead, for the users who need
// those links and handles to see the new bytes, and gives up the guarantee.
//
// Not regular files: a DEST that is a device node, a FIFO or a socket, or that a /proc magic link
// such as /dev/stdout leads to, is written into (it is never replaced: renaming a file over
// /dev/sdb would replace the node, not write the disk), as cp and curl write into it; a FIFO
// waits for its reader. copy_tree reads a FIFO or device SOURCE that it is named (cp without -R)
// to its end; one that has no end (/dev/zero) runs until a stop request.
//
// Trees (copy_tree): `jobs` threads share the work a directory at a time (each reads a directory
// and copies its small files; subdirectories and files of 1 MiB or more go back on a shared
// last-in-first-out stack), so threads rarely contend for one directory's lock; memory is bounded
// by the pending directories, plus one record per directory for its metadata and one per
// multiply-linked file when hard links are kept; a directory's metadata (mode, times)
// is applied after its contents, so a read-only directory can be filled and a directory's mtime
// is not disturbed by its own copy. Errors on one entry are reported through the observer and the
// walk goes on, as cp does.
#pragma once

#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "zcopy/transfer.hpp"

namespace zcopy {

enum class reflink_mode {
  never,      // never share extents: the data is really copied
  automatic,  // reflink when the filesystem can, else copy (GNU cp's default since 9.0)
  always,     // reflink or fail (EOPNOTSUPP, EXDEV) with the destination left as it was
};

// cp --backup: what becomes of a DEST that a copy replaces.
enum class backup_mode {
  none,      // replaced
  simple,    // kept as NAME + suffix (an older one there is replaced)
  numbered,  // kept as NAME.~N~, N one more than the highest there
  existing,  // numbered where NAME already has numbered backups, else simple
};

enum class sparse_mode {
  never,      // write every byte, zeros included: the destination has no holes
  automatic,  // keep the source's holes (SEEK_DATA/SEEK_HOLE); write zeros that are data as data
  always,     // also turn runs of zeros (whole 4 KiB blocks) in the data into holes
};

struct preserve_options {
  bool mode = false;        // permission bits (and setuid/setgid/sticky)
  bool ownership = false;   // uid/gid; honoured when the process may chown (root)
  bool timestamps = false;  // atime and mtime, nanoseconds
  // With `mode` false: a new entry gets the mode a new file or directory gets (0666 or 0777 minus
  // the umask) instead of the source's mode minus the umask (cp --no-preserve=mode).
  bool default_mode = false;
};

struct copy_options {
  reflink_mode reflink = reflink_mode::automatic;
  sparse_mode sparse = sparse_mode::automatic;
  // A forced data method (for comparisons); automatic walks the chain above. A forced method
  // does not fall back: a pair it cannot serve is an error.
  method use = method::automatic;
  preserve_options preserve;
  bool fsync = false;  // fsync the file and its directory around the rename
  // A DEST that is a symlink is replaced itself (cp --remove-destination), not written through
  // to the file it names (cp's default).
  bool replace_symlink = false;
  // An existing regular DEST is truncated and written into (rsync --inplace; GNU cp's way): its
  // inode, hard links and open handles see the new bytes, and a failed copy leaves it partly
  // written. `backup` does not apply then. A new DEST is still made whole before it gets its name.
  bool in_place = false;
  // Before a DEST (not a directory) is replaced, its current contents get another name; DEST
  // itself is never missing meanwhile (a link is made first, then the copy renamed over DEST).
  backup_mode backup = backup_mode::none;
  std::string backup_suffix = "~";
  // Split files of at least `parallel_min_size` bytes into this many ranges copied at once
  // (copy_file_range with explicit offsets). 0 or 1: one call for the whole file. Never used for
  // reflinks, forced methods other than copy_file_range, or sparse sources.
  unsigned parallel_ranges = 0;
  std::uint64_t parallel_min_size = std::uint64_t{256} << 20;
  // Bytes of file data copied so far: by this file copy (parallel ranges summed), or, in a
  // copy_tree, by the whole tree (every file, every thread, one growing total). May be called
  // from several threads at once.
  std::function<void(std::uint64_t bytes)> on_progress;
  std::stop_token stop;
};

// What happened to one regular file.
struct file_copy_result {
  std::uint64_t bytes = 0;          // data bytes written (holes not counted)
  std::uint64_t size = 0;           // the source's size
  method used = method::automatic;  // the method that moved the most bytes
  std::array<std::uint64_t, method_count> bytes_by_method{};
  std::vector<fallback_record> fallbacks;
  unsigned ranges = 1;  // > 1: copied as this many parallel ranges
  // DEST was written into rather than replaced (a device, a FIFO, /dev/stdout, or `in_place`):
  // a failure could have left it partly written.
  bool in_place = false;
};

// The step of a copy that failed. A condition the copy checks for itself (same file, a
// directory into itself, a dangling DEST symlink, ...) is not a step: it is the error code
// (zcopy::errc, error.hpp), and the step says where it was found.
enum class copy_step {
  open,             // opening SOURCE, DEST or a directory of either
  stat,             // stat of SOURCE, DEST or the new file
  read,             // reading a file's contents (same_contents)
  read_directory,   // getdents64 of a source directory
  read_link,        // readlink of a source symlink or of a DEST symlink chain
  map,              // mapping a file (same_contents)
  compare,          // same_contents on what it cannot compare (not a regular file)
  copy,             // the data (and where a refusal is found: what is to be copied)
  reflink,          // the data under reflink_mode::always
  create,           // the temporary file beside DEST, or DEST's directory
  create_symlink,   // a symlink made for SOURCE (-P, -s)
  mkdir,            // a directory of DEST
  mknod,            // a FIFO or device recreated (special_files)
  link,             // a hard link (-l, kept hard links) or the new file given its name
  truncate,         // DEST written in place, cut to 0 first
  keep_attributes,  // the replaced DEST's extended attributes and ACLs carried over
  set_owner,
  set_mode,
  set_times,
  fsync,
  close,
  backup,  // --backup: DEST given its backup name
  rename,  // the finished copy renamed over DEST
};

// The step's name as messages print it ("open", "read directory", "keep attributes", ...).
std::string_view to_string(copy_step step) noexcept;

// A failure with where it happened: the step and the path it concerned, plus the error (the
// system's, or a zcopy::errc condition).
struct copy_error {
  std::error_code code;
  copy_step step = copy_step::copy;
  std::filesystem::path path;
  std::string message() const;  // "copy '/a/b': No space left on device"
};

// Copies the regular file `source` to `dest` (a file path, not a directory) as described above.
// Fails without touching `dest` when source and dest are the same file (same device and inode,
// through any links): errc::same_file. A DEST that is a symlink
// is written through as cp writes through it: the link stays and its final target is replaced by
// the copy; a dangling one is refused (errc::dangling_symlink). Without
// `preserve.ownership` a replaced DEST keeps its owner where the process may set it (cp keeps it by
// writing in place). Other sources are refused without being read: a directory with
// std::errc::is_a_directory, a FIFO or a device with errc::special_file_refused. Call
// it as zcopy::copy_file: with two paths and no options, argument-dependent lookup also finds
// std::filesystem::copy_file and the call is ambiguous.
std::expected<file_copy_result, copy_error> copy_file(const std::filesystem::path& source,
                                                      const std::filesystem::path& dest,
                                                      const copy_options& options = {});

// Which entries a tree copy makes, and how.
struct tree_options {
  copy_options file;
  bool recursive = true;
  bool symlinks_as_links = false;  // copy symlinks as symlinks (-a, -P); else follow them
  bool keep_hard_links = false;    // files linked together in the source stay linked (-a)
  bool special_files = false;      // FIFOs and devices recreated with mknod (-a); else an error
  bool no_clobber = false;         // -n: an existing destination is skipped
  bool update = false;             // -u: copy only when the source is newer than the destination
  // -x: a directory on another filesystem than the one holding it is made (as cp -x does) but
  // not entered.
  bool one_file_system = false;
  // -l: every entry but a directory is a hard link to its source instead of a copy (directories
  // are made); an existing DEST is replaced by a rename, as copies replace it.
  bool link_files = false;
  // -s: every entry but a directory is a symbolic link to its source's path (as given: a relative
  // SOURCE is allowed only when DEST is in the current directory, where the link resolves).
  bool symlink_files = false;
  // --parents: `dest` is a directory and the copy lands at dest/SOURCE (SOURCE's path with its
  // leading "/" and "." components dropped; one with a ".." component is refused). The missing
  // directories between are made from the source directories they stand for, reached without
  // following symlinks, and get their final mode (and owner and times as `file.preserve` says)
  // after the copy.
  bool parents = false;
  // -i: asked before an existing DEST (not a directory) is replaced; false keeps it (skipped).
  // Called from the copying threads, so it may be called by several at once.
  std::function<bool(const std::filesystem::path& dest)> confirm_replace;
  unsigned jobs = 0;  // threads copying at once; 0: one per CPU
};

enum class entry_kind { file, directory, symlink, hard_link, special };

// What a tree copy reports as it goes; called from the copying threads (one call at a time per
// entry, several entries at once).
struct tree_observer {
  // An entry was created: for files, `file` says how.
  std::function<void(const std::filesystem::path& source, const std::filesystem::path& dest,
                     entry_kind kind, const file_copy_result* file)>
      on_copied;
  // An entry was skipped (-n, -u).
  std::function<void(const std::filesystem::path& source, const std::filesystem::path& dest)>
      on_skipped;
  // An entry failed; the walk goes on.
  std::function<void(const copy_error& error)> on_error;
};

struct tree_summary {
  std::uint64_t files = 0;
  std::uint64_t directories = 0;
  std::uint64_t symlinks = 0;
  std::uint64_t hard_links = 0;
  std::uint64_t specials = 0;
  std::uint64_t skipped = 0;
  std::uint64_t errors = 0;
  std::uint64_t bytes = 0;
  std::array<std::uint64_t, method_count> files_by_method{};  // by each file's main method
  std::uint64_t fallbacks = 0;
};

// Copies `source` (a file, a directory with `recursive`, a symlink, a special file) to `dest`,
// which is the path the copy gets (the caller resolves "DEST is a directory: DEST/NAME", as cp
// does). A FIFO or device `source` is read to its end into a regular DEST unless
// `special_files` recreates it (cp without and with -R); inside a tree, without
// `special_files`, such entries are refused and never opened. Refuses, before anything is
// written, to copy an entry onto itself (errc::same_file: an existing DEST that is SOURCE,
// through hard links or, when SOURCE is followed, symlinks; a symlink copied as a symlink onto
// the file it names) and a directory into itself or below itself (errc::into_itself). Other
// refusals reported for entries: errc::directory_omitted (a directory without `recursive`),
// errc::special_file_refused, errc::non_directory_over_directory and
// errc::directory_over_non_directory (DEST is of the other kind), errc::relative_symlink_elsewhere
// (-s), errc::directory_loop (a link back to an ancestor), errc::directory_changed (a directory
// swapped during the walk) and, with `parents`, errc::outside_directory (a ".." in SOURCE). Each
// compares equal to the std::errc that cp's errno would be (EINVAL, EISDIR, ELOOP, ...). With
// `parents`, `dest` is the directory the copy goes under (see tree_options). Returns the summary;
// entry errors are in it and went to the observer.
tree_summary copy_tree(const std::filesystem::path& source, const std::filesystem::path& dest,
                       const tree_options& options, const tree_observer& observer = {});

// Whether two regular files hold the same bytes: sizes first, then XXH3-128 (libxxhash) of each,
// read through read-only mappings in 64 MiB windows (a file truncated meanwhile is an error, not a
// crash: the mapping's SIGBUS guard turns it into errc::mapping_truncated).
std::expected<bool, copy_error> same_contents(const std::filesystem::path& a,
                                              const std::filesystem::path& b);

}  // namespace zcopy
