// zcopy cp [OPTIONS] SOURCE... DEST: cp(1) with GNU cp's conventions, the data moved by the
// library (zcopy/copy.hpp: temporary file and rename, so a failed or interrupted copy leaves DEST
// as it was; self-copies and --parents are the library's too). This file resolves the operands
// as cp does (DEST a directory: DEST/NAME) and owns what only a process can own: the signals,
// the progress bar on the terminal, the exit status.
//
// Threads: the library copies with its own threads; this file adds one that sigwait()s for
// SIGINT/SIGTERM (blocked in every thread before any starts, so that no handler ever runs inside
// a copy) and turns them into a stop request, and, when a bar is shown, one that redraws it at
// 5 Hz. Everything written to the terminal goes through one mutex so that an error line never
// lands in the middle of the bar.
#include <fcntl.h>
#include <fmt/core.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "progress.hpp"
#include "signals.hpp"
#include "subcommands.hpp"
#include "sys/sys.hpp"
#include "zcopy/copy.hpp"
#include "zcopy/error.hpp"

namespace zcopy::cli {
namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct cp_flags {
  std::vector<std::string> paths;     // SOURCE... DEST, or SOURCE... with -t
  std::string positional_end;         // never filled: keeps `--` inside this subcommand (see below)
  std::string target_directory;       // -t DIRECTORY
  bool no_target_directory = false;   // -T
  bool one_file_system = false;       // -x
  bool link = false;                  // -l
  bool symbolic = false;              // -s
  bool parents = false;               // --parents
  bool interactive = false;           // -i
  bool remove_destination = false;    // --remove-destination
  bool inplace = false;               // --inplace
  bool backup_short = false;          // -b
  std::string backup;                 // --backup[=CONTROL]; "default" alone
  std::optional<std::string> suffix;  // -S SUFFIX
  bool recursive = false;
  bool preserve_all = false;  // -p
  std::string preserve;       // --preserve[=LIST]
  std::string no_preserve;    // --no-preserve=LIST
  bool archive = false;
  bool no_dereference = false;            // -P
  bool dereference = false;               // -L
  bool command_line_dereference = false;  // -H
  bool d = false;                         // -d: -P --preserve=links
  // The last of -L ('L'), -H ('H'), and -P, -d, -a ('P') on the command line: the one that
  // decides, as in cp (`cp -aL` follows links, `cp -La` does not). 0: none of them.
  char last_dereference = 0;
  bool no_clobber = false;
  bool force = false;
  bool update = false;
  bool verbose = false;
  std::string reflink;  // --reflink[=WHEN]; empty: auto
  std::string sparse;   // --sparse=WHEN; empty: auto
  std::string method_name = "auto";
  bool fsync = false;
  bool verify = false;
  unsigned jobs = 0;
  std::optional<unsigned> parallel_ranges;
  bool progress = false;
  bool no_progress = false;
  bool json = false;
};

// Data bytes the sources hold (holes not counted when they stay holes), for the bar's total.
std::uint64_t data_size(const std::vector<fs::path>& sources, bool count_holes,
                        const std::atomic<bool>& quit) {
  auto size_of = [count_holes](const struct stat& st) -> std::uint64_t {
    if (!S_ISREG(st.st_mode)) return 0;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (count_holes) return size;
    return std::min(size, static_cast<std::uint64_t>(st.st_blocks) * 512);
  };
  std::uint64_t total = 0;
  for (const auto& source : sources) {
    auto st = sys::fstatat(AT_FDCWD, source.c_str(), 0);
    if (!st) continue;
    if (!S_ISDIR(st->st_mode)) {
      total += size_of(*st);
      continue;
    }
    std::error_code ec;
    fs::recursive_directory_iterator it(source, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (quit.load(std::memory_order_relaxed)) return total;
      auto entry = sys::fstatat(AT_FDCWD, it->path().c_str(), AT_SYMLINK_NOFOLLOW);
      if (entry) total += size_of(*entry);
    }
  }
  return total;
}

// --- operands ------------------------------------------------------------------------------------

// The name a source gets inside a destination directory: its last component, trailing slashes
// ignored ("dir/" → "dir"), as cp does.
fs::path last_component(const std::string& source) {
  std::string s = source;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return fs::path(s).filename();
}

std::optional<reflink_mode> parse_reflink(const std::string& text) {
  if (text.empty() || text == "auto") return reflink_mode::automatic;
  if (text == "always") return reflink_mode::always;
  if (text == "never") return reflink_mode::never;
  return std::nullopt;
}

std::optional<sparse_mode> parse_sparse(const std::string& text) {
  if (text.empty() || text == "auto") return sparse_mode::automatic;
  if (text == "always") return sparse_mode::always;
  if (text == "never") return sparse_mode::never;
  return std::nullopt;
}

int usage_error(const std::string& message) {
  fmt::print(stderr, "zcopy: cp: {}\nRun 'zcopy cp --help' for usage.\n", message);
  return 2;
}

// The attributes named by --preserve=LIST or --no-preserve=LIST.
struct attribute_set {
  bool mode = false;
  bool ownership = false;
  bool timestamps = false;
  bool links = false;
};

std::expected<attribute_set, std::string> parse_attributes(std::string_view list,
                                                           std::string_view option) {
  attribute_set a;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (item == "mode") {
      a.mode = true;
    } else if (item == "ownership") {
      a.ownership = true;
    } else if (item == "timestamps") {
      a.timestamps = true;
    } else if (item == "links") {
      a.links = true;
    } else if (item == "all") {
      a = {.mode = true, .ownership = true, .timestamps = true, .links = true};
    } else {
      return std::unexpected(
          fmt::format("{}: unsupported attribute '{}' (mode, ownership, timestamps, links, all)",
                      option, item));
    }
  }
  return a;
}

// --backup's CONTROL, by cp's names.
std::optional<backup_mode> parse_backup(std::string_view control) {
  if (control == "none" || control == "off") return backup_mode::none;
  if (control == "simple" || control == "never") return backup_mode::simple;
  if (control == "numbered" || control == "t") return backup_mode::numbered;
  if (control == "existing" || control == "nil") return backup_mode::existing;
  return std::nullopt;
}

// Which symlinks are followed: every one, those named on the command line only, or none. cp's
// rule: the last of -L/-H/-P (-d and -a count as -P) decides; without any, a recursive copy
// follows none (a symlink operand is copied as a symlink) and any other copy follows them all.
enum class dereference { always, command_line, never };

dereference dereference_of(const cp_flags& f) {
  switch (f.last_dereference) {
    case 'L':
      return dereference::always;
    case 'H':
      return dereference::command_line;
    case 'P':
      return dereference::never;
    default:
      // cp: "-l" alone follows (links are made to what symlinks name).
      return (f.recursive || f.archive) && !f.link ? dereference::never : dereference::always;
  }
}

// Flags to options; a usage error's message when they do not fit together.
std::expected<tree_options, std::string> options_from(const cp_flags& f) {
  tree_options o;
  const auto reflink = parse_reflink(f.reflink);
  if (!reflink)
    return std::unexpected(fmt::format("--reflink: '{}' (auto, always, never)", f.reflink));
  const auto sparse = parse_sparse(f.sparse);
  if (!sparse)
    return std::unexpected(fmt::format("--sparse: '{}' (auto, always, never)", f.sparse));
  o.file.reflink = *reflink;
  o.file.sparse = *sparse;
  if (f.method_name != "auto") {
    const auto m = parse_method(f.method_name);
    if (!m) return std::unexpected(fmt::format("--method: unknown method '{}'", f.method_name));
    o.file.use = *m;
  }
  bool links = f.archive || f.d;
  if (f.preserve_all || f.archive) {
    o.file.preserve = {.mode = true, .ownership = true, .timestamps = true};
  }
  const auto keep = parse_attributes(f.preserve, "--preserve");
  if (!keep) return std::unexpected(keep.error());
  // --no-preserve=LIST takes attributes back from -p, -a or --preserve (`cp -a
  // --no-preserve=ownership` for a copy that any user may make).
  const auto drop = parse_attributes(f.no_preserve, "--no-preserve");
  if (!drop) return std::unexpected(drop.error());
  preserve_options& p = o.file.preserve;
  p.mode = (p.mode || keep->mode) && !drop->mode;
  p.default_mode = drop->mode;
  p.ownership = (p.ownership || keep->ownership) && !drop->ownership;
  p.timestamps = (p.timestamps || keep->timestamps) && !drop->timestamps;
  links = (links || keep->links) && !drop->links;
  o.file.fsync = f.fsync;
  o.file.replace_symlink = f.remove_destination;
  o.file.in_place = f.inplace;
  if (f.inplace && f.remove_destination) {
    return std::unexpected("--inplace writes into DEST; --remove-destination replaces it");
  }
  if (f.inplace && (f.backup_short || !f.backup.empty() || f.suffix)) {
    return std::unexpected("--inplace writes into DEST: there is no old DEST left to back up");
  }
  // -b, --backup without CONTROL, and -S take the kind from VERSION_CONTROL (existing if unset),
  // the suffix from SIMPLE_BACKUP_SUFFIX ("~" if unset), as cp does.
  if (f.backup_short || !f.backup.empty() || f.suffix) {
    std::string control = f.backup.empty() || f.backup == "default" ? "" : f.backup;
    const char* env = std::getenv("VERSION_CONTROL");
    if (control.empty()) control = env != nullptr && *env != '\0' ? env : "existing";
    const auto mode = parse_backup(control);
    if (!mode) {
      return std::unexpected(fmt::format(
          "--backup: '{}' (none, off, simple, never, numbered, t, existing, nil)", control));
    }
    o.file.backup = *mode;
    const char* env_suffix = std::getenv("SIMPLE_BACKUP_SUFFIX");
    o.file.backup_suffix =
        f.suffix ? *f.suffix : (env_suffix != nullptr && *env_suffix != '\0' ? env_suffix : "~");
    if (o.file.backup_suffix.empty() || o.file.backup_suffix.find('/') != std::string::npos) {
      return std::unexpected(
          fmt::format("--suffix: '{}' (not empty, no '/')", o.file.backup_suffix));
    }
  }
  // Off unless asked: on local filesystems (ext4, XFS) buffered writers of one file serialize on
  // its inode lock, so ranges copied at once took as long as one call and twice its CPU
  // (docs/PERFORMANCE.md). Kept for filesystems whose copy_file_range runs elsewhere (NFS
  // server-side copy) and for measuring.
  o.file.parallel_ranges = f.parallel_ranges ? *f.parallel_ranges : 1;
  o.recursive = f.recursive || f.archive;
  // Inside a tree only -L follows; the operands are run_cp's (dereference_of).
  o.symlinks_as_links = dereference_of(f) != dereference::always;
  o.keep_hard_links = links;
  // cp -R recreates FIFOs and devices rather than reading them (coreutils: --copy-contents is
  // what reads them); without -R a special file is refused, never read.
  o.special_files = o.recursive;
  o.no_clobber = f.no_clobber;
  o.update = f.update;
  o.one_file_system = f.one_file_system;
  o.link_files = f.link;
  o.symlink_files = f.symbolic;
  o.jobs = f.jobs;
  return o;
}

std::string entry_text(entry_kind kind, const file_copy_result* file) {
  switch (kind) {
    case entry_kind::directory:
    case entry_kind::symlink:
    case entry_kind::special:
      return {};
    case entry_kind::hard_link:
      return " (hard link)";
    case entry_kind::file:
      break;
  }
  if (file == nullptr) return {};
  // Written into DEST rather than replacing it: a failure would have left DEST partly written.
  const std::string_view in_place = file->in_place ? ", written in place: not replaced whole" : "";
  if (file->used == method::automatic) return fmt::format(" (no data{})", in_place);
  if (file->ranges > 1) {
    return fmt::format(" ({}, {} ranges{})", to_string(file->used), file->ranges, in_place);
  }
  return fmt::format(" ({}{})", to_string(file->used), in_place);
}

struct totals {
  tree_summary summary;
  std::atomic<std::uint64_t> errors{0};  // printed errors, entry and operand alike
  std::mutex verify_mutex;
  std::vector<std::pair<fs::path, fs::path>> to_verify;
};

void add(tree_summary& to, const tree_summary& from) {
  to.files += from.files;
  to.directories += from.directories;
  to.symlinks += from.symlinks;
  to.hard_links += from.hard_links;
  to.specials += from.specials;
  to.skipped += from.skipped;
  to.bytes += from.bytes;
  to.fallbacks += from.fallbacks;
  for (std::size_t i = 0; i < method_count; ++i) to.files_by_method[i] += from.files_by_method[i];
}

nlohmann::json summary_json(const totals& t, double seconds, int signal) {
  const tree_summary& s = t.summary;
  nlohmann::json methods = nlohmann::json::object();
  for (method m : all_methods()) {
    const auto n = s.files_by_method[static_cast<std::size_t>(m)];
    if (n != 0) methods[std::string(to_string(m))] = n;
  }
  return {
      {"files", s.files},
      {"directories", s.directories},
      {"symlinks", s.symlinks},
      {"hard_links", s.hard_links},
      {"specials", s.specials},
      {"skipped", s.skipped},
      {"bytes", s.bytes},
      {"seconds", seconds},
      {"methods", methods},
      {"fallbacks", s.fallbacks},
      {"errors", t.errors.load()},
      {"interrupted", signal == 0 ? nlohmann::json(nullptr)
                                  : nlohmann::json(signal == SIGINT ? "SIGINT" : "SIGTERM")},
  };
}

int run_cp(const cp_flags& f) {
  // -t DIRECTORY: every operand is a SOURCE (for xargs and find -exec ... +). -T: DEST is the
  // name to make, never a directory to copy into, so `cp -rT a b` puts a's entries in b.
  const bool to_directory = !f.target_directory.empty();
  if (to_directory && f.no_target_directory) {
    return usage_error("cannot combine --target-directory (-t) and --no-target-directory (-T)");
  }
  if (f.paths.empty()) return usage_error("missing file operand");
  if (!to_directory && f.paths.size() == 1) {
    return usage_error(fmt::format("missing destination file operand after '{}'", f.paths[0]));
  }
  if (f.no_target_directory && f.paths.size() > 2) {
    return usage_error(fmt::format("extra operand '{}'", f.paths[2]));
  }
  auto parsed = options_from(f);
  if (!parsed) return usage_error(parsed.error());
  tree_options options = std::move(*parsed);

  const std::string dest = to_directory ? f.target_directory : f.paths.back();
  const std::vector<std::string> sources(f.paths.begin(),
                                         to_directory ? f.paths.end() : f.paths.end() - 1);
  const auto dest_st = sys::fstatat(AT_FDCWD, dest.c_str(), 0);
  const bool dest_is_dir = !f.no_target_directory && dest_st && S_ISDIR(dest_st->st_mode);
  if (to_directory && !dest_is_dir) {
    report_error("cp", fmt::format("target directory '{}': {}", dest,
                                   (dest_st ? std::make_error_code(std::errc::not_a_directory)
                                            : dest_st.error())
                                       .message()));
    return 1;
  }
  if (sources.size() > 1 && !dest_is_dir) {
    report_error("cp", dest, std::make_error_code(std::errc::not_a_directory));
    return 1;
  }
  if (f.parents && !dest_is_dir) {
    report_error("cp", "with --parents, the destination must be a directory");
    return 1;
  }
  options.parents = f.parents;

  // Before any thread exists, the copying threads included.
  signal_watch signals;
  options.file.stop = signals.token();

  terminal term;
  totals t;
  std::FILE* verbose_stream = f.json ? stderr : stdout;  // --json keeps stdout for the summary
  const bool tty = sys::isatty(STDERR_FILENO);
  std::optional<progress_bar> bar;
  // -i asks on the terminal: no bar to draw over the question (unless --progress insists).
  if (f.interactive && !f.no_clobber) {
    options.confirm_replace = [&term](const fs::path& d) {
      return term.ask(fmt::format("zcopy: cp: overwrite '{}'? ", d.string()));
    };
  }
  if (!f.no_progress && (f.progress || (tty && !f.verbose && !f.interactive))) {
    std::vector<fs::path> all(sources.begin(), sources.end());
    const bool count_holes = options.file.sparse == sparse_mode::never;
    // The total is a walk of its own, in the bar's thread, so the copy never waits for it.
    bar.emplace(term, tty, [all = std::move(all), count_holes](const std::atomic<bool>& quit) {
      return std::optional<std::uint64_t>(data_size(all, count_holes, quit));
    });
    options.file.on_progress = [&bar](std::uint64_t bytes) { bar->update(bytes); };
  }
  auto fail = [&](const std::string& text) {
    t.errors.fetch_add(1);
    term.line(stderr, "zcopy: cp" + text);
  };

  const auto started = clock::now();
  for (const auto& source : sources) {
    if (signals.token().stop_requested()) break;
    const bool follow = dereference_of(f) != dereference::never;
    const auto st = sys::fstatat(AT_FDCWD, source.c_str(), follow ? 0 : AT_SYMLINK_NOFOLLOW);
    if (!st) {
      fail(fmt::format(" '{}': {}", source, st.error().message()));
      continue;
    }
    if (S_ISDIR(st->st_mode) && !options.recursive) {
      fail(fmt::format(": -r not specified; omitting directory '{}'", source));
      continue;
    }
    // "DEST/" names a directory: a file is not copied to a DEST that is not one (cp: "cannot
    // create regular file 'x/'"), where stripping the slash would write to a name never given.
    if (!dest_is_dir && dest.size() > 1 && dest.back() == '/' && !S_ISDIR(st->st_mode)) {
      fail(fmt::format(": cannot create regular file '{}': {}", dest,
                       std::make_error_code(std::errc::not_a_directory).message()));
      continue;
    }
    // With --parents the library finds the path under DEST.
    const fs::path target =
        dest_is_dir && !f.parents ? fs::path(dest) / last_component(source) : fs::path(dest);
    fs::path from = source;
    // -H: the operand's symlink is followed, those inside the tree are not: the walk starts from
    // what the operand leads to.
    const auto l = sys::fstatat(AT_FDCWD, source.c_str(), AT_SYMLINK_NOFOLLOW);
    if (follow && options.symlinks_as_links && l && S_ISLNK(l->st_mode)) {
      std::error_code ec;
      from = fs::canonical(source, ec);
      if (ec) {
        fail(fmt::format(" '{}': {}", source, ec.message()));
        continue;
      }
    }

    tree_observer observer;
    observer.on_copied = [&](const fs::path& s, const fs::path& d, entry_kind kind,
                             const file_copy_result* file) {
      if (f.verify && kind == entry_kind::file) {
        std::lock_guard lock(t.verify_mutex);
        t.to_verify.emplace_back(s, d);
      }
      if (f.verbose) {
        term.line(verbose_stream,
                  fmt::format("'{}' -> '{}'{}", s.string(), d.string(), entry_text(kind, file)));
      }
    };
    observer.on_error = [&](const copy_error& e) {
      // The entry a stop request cut short: its temporary file is gone, and the exit status says
      // why. Not an error of its own.
      if (e.code == errc::cancelled && signals.token().stop_requested()) return;
      if (e.code == errc::into_itself) {
        fail(fmt::format(": cannot copy a directory, '{}', into itself, '{}'", source,
                         e.path.string()));
      } else if (e.code == errc::outside_directory) {
        fail(fmt::format(": --parents: '{}' would be copied outside '{}'", source, dest));
      } else if (e.code == errc::non_directory_over_directory) {
        fail(fmt::format(": cannot overwrite directory '{}' with non-directory", e.path.string()));
      } else if (e.code == errc::directory_over_non_directory) {
        fail(fmt::format(": cannot overwrite non-directory '{}' with directory", e.path.string()));
      } else if (e.code == errc::relative_symlink_elsewhere) {
        fail(fmt::format(" '{}': {}", e.path.string(), e.code.message()));
      } else if (e.code == errc::same_file) {
        fail(fmt::format(": '{}' and '{}' are the same file", source, e.path.string()));
      } else if (e.code == errc::dangling_symlink || e.code == errc::special_file_refused ||
                 e.code == errc::directory_loop || e.code == errc::directory_omitted ||
                 e.code == errc::directory_changed || e.code == errc::destination_changed) {
        // A refusal names itself; the errno it stands for follows, as cp's message has it.
        fail(fmt::format(" '{}': {}: {}", e.path.string(), e.code.message(),
                         e.code.default_error_condition().message()));
      } else {
        fail(fmt::format(" '{}': {}: {}", e.path.string(), to_string(e.step), e.code.message()));
      }
    };
    const tree_summary s = copy_tree(from, target, options, observer);
    if (bar) bar->segment_done(s.bytes);
    add(t.summary, s);
  }

  if (bar) bar->finish();
  const int signal = signals.received();
  if (signal == 0 && f.verify) {  // sequential: verification reads, it does not compete
    for (const auto& [s, d] : t.to_verify) {
      if (signals.received() != 0) break;
      auto same = same_contents(s, d);
      if (!same) {
        fail(fmt::format(" '{}': verify: {}: {}", d.string(), to_string(same.error().step),
                         same.error().code.message()));
      } else if (!*same) {
        fail(fmt::format(" '{}': verify: contents differ from '{}'", d.string(), s.string()));
      }
    }
  }
  const double seconds = std::chrono::duration<double>(clock::now() - started).count();
  if (f.json) fmt::print("{}\n", summary_json(t, seconds, signal).dump(2));
  std::fflush(stdout);

  if (signal != 0) {
    term.line(stderr, fmt::format("zcopy: cp: interrupted by {}; the file being copied was "
                                  "removed",
                                  signal == SIGINT ? "SIGINT" : "SIGTERM"));
    return 128 + signal;
  }
  const std::uint64_t errors = t.errors.load();
  if (errors != 0) {
    term.line(stderr, fmt::format("zcopy: cp: {} error{}", errors, errors == 1 ? "" : "s"));
    return 1;
  }
  return 0;
}

// "Usage: zcopy cp [OPTIONS] SOURCE... DEST" instead of CLI11's list of positionals (which would
// show the hidden one).
class cp_formatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string name) const override {
    return "Usage: " + name +
           " [OPTIONS] SOURCE... DEST\n"
           "       " +
           name + " [OPTIONS] SOURCE... DIRECTORY\n" + "       " + name +
           " [OPTIONS] -t DIRECTORY SOURCE...\n";
  }
};

}  // namespace

void register_cp(CLI::App& app, action& run) {
  auto f = std::make_shared<cp_flags>();
  CLI::App* cmd = app.add_subcommand(
      "cp", "Copy files and directory trees (GNU cp's options; reflink, copy_file_range, ...)");
  cmd->formatter(std::make_shared<cp_formatter>());
  cmd->footer(
      "An existing DEST is replaced whole by a rename, so a failed or interrupted copy leaves it\n"
      "as it was. The copy is a new inode: DEST's other hard links, bind mounts and processes\n"
      "that hold it open keep the old bytes (GNU cp writes into the existing file); DEST's mode,\n"
      "owner, extended attributes and ACLs are kept. --inplace writes into the existing inode\n"
      "instead. A DEST that is a device, a FIFO or /dev/stdout is always written into.");
  cmd->add_option("paths", f->paths, "SOURCE... DEST; '--' ends the options");
  // CLI11 hands `--` back to the parent app once every positional has its minimum; one that never
  // has it keeps `zcopy cp a -- -b DEST` inside this subcommand.
  cmd->add_option("positional_end_", f->positional_end)->group("");
  cmd->add_option("-t,--target-directory", f->target_directory,
                  "copy every SOURCE into DIRECTORY (all operands are sources)");
  cmd->add_flag("-T,--no-target-directory", f->no_target_directory,
                "treat DEST as the name to make, never as a directory to copy into");
  cmd->add_flag("-r,-R,--recursive", f->recursive, "copy directories recursively");
  cmd->add_flag("-p", f->preserve_all, "same as --preserve=mode,ownership,timestamps");
  // Flags with an optional value: `--preserve` alone or `--preserve=LIST`; never the next word.
  cmd->add_flag("--preserve{all}", f->preserve,
                "=LIST: mode, ownership, timestamps, links, all (alone: all)");
  cmd->add_option("--no-preserve", f->no_preserve,
                  "=LIST: attributes not to keep (taken back from -p, -a, --preserve)");
  const CLI::Option* archive =
      cmd->add_flag("-a,--archive", f->archive,
                    "-r -p, symlinks as symlinks, hard links kept, special files recreated");
  const CLI::Option* no_deref =
      cmd->add_flag("-P,--no-dereference", f->no_dereference, "copy symlinks as symlinks");
  const CLI::Option* deref =
      cmd->add_flag("-L,--dereference", f->dereference, "always follow symlinks in SOURCE");
  const CLI::Option* command_line_deref =
      cmd->add_flag("-H", f->command_line_dereference,
                    "follow symlinks named on the command line, not those inside a tree");
  const CLI::Option* d = cmd->add_flag("-d", f->d, "same as --no-dereference --preserve=links");
  cmd->add_flag("-i,--interactive", f->interactive,
                "ask before replacing an existing file (answers from stdin; -n wins)");
  cmd->add_flag("-n,--no-clobber", f->no_clobber, "do not overwrite an existing file");
  cmd->add_flag("-f,--force", f->force,
                "replace existing files (always the case: DEST is replaced by a rename)");
  cmd->add_flag("--inplace", f->inplace,
                "write into an existing DEST's inode (its hard links and open handles see the "
                "new bytes; a failed copy leaves it partly written)");
  cmd->add_flag("-b", f->backup_short, "like --backup, without CONTROL");
  cmd->add_flag("--backup{default}", f->backup,
                "[=CONTROL] keep each replaced DEST: simple (NAME~), numbered (NAME.~N~), "
                "existing (numbered if there are some), none");
  cmd->add_option("-S,--suffix", f->suffix, "the simple backup suffix (default ~)");
  cmd->add_flag("--remove-destination", f->remove_destination,
                "replace a DEST that is a symlink itself, not the file it names");
  cmd->add_flag("-u,--update", f->update,
                "copy only when SOURCE is newer than DEST or DEST is missing");
  cmd->add_flag("--parents", f->parents,
                "copy SOURCE to DIRECTORY/SOURCE, making the directories between");
  cmd->add_flag("-l,--link", f->link,
                "hard-link files instead of copying them (directories are made)");
  cmd->add_flag("-s,--symbolic-link", f->symbolic,
                "make symbolic links to the sources instead of copying them");
  cmd->add_flag("-x,--one-file-system", f->one_file_system,
                "do not enter directories on other filesystems (they are made, empty)");
  cmd->add_flag("-v,--verbose", f->verbose, "one line per entry, with the data method");
  cmd->add_flag("--reflink{always}", f->reflink, "[=WHEN] share extents: auto, always, never");
  cmd->add_option("--sparse", f->sparse, "holes: auto (keep), always (also zeros), never");
  cmd->add_option("--method", f->method_name,
                  "force a data method: copy_file_range, sendfile, read_write, splice, "
                  "mmap_write, reflink (no fallback)")
      ->check(method_choice({method::copy_file_range, method::sendfile, method::read_write,
                             method::splice, method::mmap_write, method::reflink}));
  cmd->add_flag("--fsync", f->fsync, "fsync each file and its directory around the rename");
  cmd->add_flag("--verify", f->verify, "compare each copied file with its source afterwards");
  cmd->add_option("-j,--jobs", f->jobs, "files copied at once (default: CPUs)")
      ->check(CLI::Range(1u, 4096u));
  cmd->add_option("--parallel-ranges", f->parallel_ranges,
                  "ranges of a large file (>= 256 MiB) copied at once (default 1: one call)")
      ->check(CLI::Range(1u, 1024u));
  cmd->add_flag("--progress", f->progress, "show a progress bar on stderr, even with -v or no TTY");
  cmd->add_flag("--no-progress", f->no_progress, "never show a progress bar");
  cmd->add_flag("--json", f->json, "print a JSON summary on stdout (-v lines go to stderr)");
  cmd->callback([=, &run] {
    for (const CLI::Option* given : cmd->parse_order()) {
      if (given == deref) {
        f->last_dereference = 'L';
      } else if (given == command_line_deref) {
        f->last_dereference = 'H';
      } else if (given == no_deref || given == d || given == archive) {
        f->last_dereference = 'P';
      }
    }
    run = [f] { return run_cp(*f); };
  });
}

}  // namespace zcopy::cli
