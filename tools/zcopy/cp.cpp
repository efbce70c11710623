// zcopy cp [OPTIONS] SOURCE... DEST: cp(1) with GNU cp's conventions, the data moved by the
// library (zcopy/copy.hpp: temporary file and rename, so a failed or interrupted copy leaves DEST
// as it was). This file resolves the operands as cp does (DEST a directory: DEST/NAME), refuses
// self-copies before anything is opened, and owns what only a process can own: the signals, the
// progress bar on the terminal, the exit status.
//
// Threads: the library copies with its own threads; this file adds one that sigwait()s for
// SIGINT/SIGTERM (blocked in every thread before any starts, so that no handler ever runs inside
// a copy) and turns them into a stop request, and, when a bar is shown, one that redraws it at
// 5 Hz. Everything written to the terminal goes through one mutex so that an error line never
// lands in the middle of the bar.
#include <fmt/core.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <expected>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "subcommands.hpp"
#include "zcopy/copy.hpp"
#include "zcopy/error.hpp"

namespace zcopy::cli {
namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct cp_flags {
  std::vector<std::string> paths;  // SOURCE... DEST
  std::string positional_end;      // never filled: keeps `--` inside this subcommand (see below)
  bool recursive = false;
  bool preserve_all = false;  // -p
  std::string preserve;       // --preserve[=LIST]
  bool archive = false;
  bool no_dereference = false;  // -P
  bool dereference = false;     // -L
  bool d = false;               // -d: -P --preserve=links
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

// --- the terminal --------------------------------------------------------------------------------

// One lock for every line written while copying threads run; the progress bar is erased before
// another line is written and redrawn by its thread at the next tick.
class terminal {
 public:
  void line(std::FILE* stream, const std::string& text) {
    std::lock_guard lock(mutex_);
    erase_bar_locked();
    std::fputs(text.c_str(), stream);
    std::fputc('\n', stream);
    std::fflush(stream);
  }
  void draw_bar(const std::string& text, bool tty) {
    std::lock_guard lock(mutex_);
    if (tty) {
      fmt::print(stderr, "\r{}\033[K", text);
      bar_shown_ = true;
    } else {
      fmt::print(stderr, "{}\n", text);  // a file or pipe gets lines, no control characters
    }
    std::fflush(stderr);
  }
  void erase_bar() {
    std::lock_guard lock(mutex_);
    erase_bar_locked();
  }

 private:
  void erase_bar_locked() {
    if (!bar_shown_) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    bar_shown_ = false;
  }
  std::mutex mutex_;
  bool bar_shown_ = false;
};

std::string human(double bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  std::size_t u = 0;
  while (bytes >= 1024 && u + 1 < std::size(units)) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} {}", bytes, units[u])
                : fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string clock_text(double seconds) {
  const auto s = static_cast<std::uint64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

// Data bytes the sources hold (holes not counted when they stay holes), for the bar's total: a
// walk of its own, in the bar's thread, so the copy never waits for it.
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
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) {
      total += size_of(st);
      continue;
    }
    std::error_code ec;
    fs::recursive_directory_iterator it(source, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (quit.load(std::memory_order_relaxed)) return total;
      if (::lstat(it->path().c_str(), &st) == 0) total += size_of(st);
    }
  }
  return total;
}

// The bar: bytes, rate over the last few seconds, ETA. Drawn only once the copy has lasted a
// second (short copies stay silent), erased at the end.
class progress_bar {
 public:
  progress_bar(terminal& term, std::vector<fs::path> sources, bool count_holes, bool tty)
      : term_(term), tty_(tty) {
    thread_ = std::thread([this, sources = std::move(sources), count_holes] {
      total_.store(data_size(sources, count_holes, quit_) + 1, std::memory_order_relaxed);
      run();
    });
  }
  ~progress_bar() { finish(); }

  // on_progress's value: the bytes the current copy_tree has moved so far (one total over its
  // files and threads). Earlier SOURCE operands' bytes are in done_.
  void update(std::uint64_t bytes) {
    std::uint64_t seen = in_flight_.load(std::memory_order_relaxed);
    while (bytes > seen &&
           !in_flight_.compare_exchange_weak(seen, bytes, std::memory_order_relaxed)) {
    }
  }
  // One SOURCE operand's copy_tree returned.
  void tree_done(std::uint64_t bytes) {
    done_.fetch_add(bytes, std::memory_order_relaxed);
    in_flight_.store(0, std::memory_order_relaxed);
  }

  void finish() {
    {
      std::lock_guard lock(mutex_);
      if (quit_.exchange(true)) return;
    }
    wake_.notify_all();
    thread_.join();
    term_.erase_bar();
  }

 private:
  void run() {
    const auto start = clock::now();
    const auto period = tty_ ? 200ms : 1000ms;
    std::deque<std::pair<clock::time_point, std::uint64_t>> samples;
    std::uint64_t shown = 0;
    std::unique_lock lock(mutex_);
    auto next = start + 1s;
    while (!wake_.wait_until(lock, next, [this] { return quit_.load(); })) {
      const auto now = clock::now();
      next = now + period;
      // Never backwards: an in-flight value is dropped when another file finishes first.
      shown = std::max(shown, done_.load(std::memory_order_relaxed) +
                                  in_flight_.load(std::memory_order_relaxed));
      const std::uint64_t copied = shown;
      samples.emplace_back(now, copied);
      while (samples.size() > 2 && now - samples.front().first > 3s) samples.pop_front();
      const double window = std::chrono::duration<double>(now - samples.front().first).count();
      const double rate =
          window > 0.1
              ? static_cast<double>(copied - samples.front().second) / window
              : static_cast<double>(copied) / std::chrono::duration<double>(now - start).count();
      const std::uint64_t total_plus_one = total_.load(std::memory_order_relaxed);
      std::string text = human(static_cast<double>(copied));
      if (total_plus_one > 0) {
        const std::uint64_t total = std::max(total_plus_one - 1, copied);
        const double fraction =
            total ? static_cast<double>(copied) / static_cast<double>(total) : 1;
        text += fmt::format(" / {} {:3.0f}%", human(static_cast<double>(total)), fraction * 100);
        text += fmt::format("  {}/s", human(rate));
        if (rate > 0) text += "  ETA " + clock_text(static_cast<double>(total - copied) / rate);
      } else {
        text += fmt::format("  {}/s", human(rate));
      }
      lock.unlock();
      term_.draw_bar(text, tty_);
      lock.lock();
    }
  }

  terminal& term_;
  bool tty_;
  std::atomic<std::uint64_t> done_{0};       // data bytes of the SOURCE operands finished
  std::atomic<std::uint64_t> in_flight_{0};  // the current operand's running total
  std::atomic<std::uint64_t> total_{0};      // data bytes + 1 once known; 0 while the walk runs
  std::atomic<bool> quit_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

// --- signals -------------------------------------------------------------------------------------

// SIGINT and SIGTERM become a stop request. Blocked before any thread starts, so every thread
// inherits the mask and only this one takes them; SIGUSR1 (also blocked) wakes it at the end.
class signal_watch {
 public:
  signal_watch() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] {
      for (;;) {
        int sig = 0;
        if (sigwait(&set_, &sig) != 0) continue;
        if (sig == SIGUSR1) {
          if (done_.load()) return;
          continue;
        }
        int expected = 0;
        received_.compare_exchange_strong(expected, sig);
        stop_.request_stop();
      }
    });
  }
  ~signal_watch() {
    done_.store(true);
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }
  std::stop_token token() const { return stop_.get_token(); }
  int received() const { return received_.load(); }  // 0: none

 private:
  sigset_t set_;
  std::stop_source stop_;
  std::atomic<int> received_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// --- operands ------------------------------------------------------------------------------------

// The name a source gets inside a destination directory: its last component, trailing slashes
// ignored ("dir/" → "dir"), as cp does.
fs::path last_component(const std::string& source) {
  std::string s = source;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return fs::path(s).filename();
}

bool same_inode(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Whether copying `source` onto an existing `target` would copy a file onto itself. Followed
// sources compare what both names lead to (a hard link, a symlink to the source); a symlink
// copied as a symlink compares the link itself, and refuses to replace its own target with it.
bool same_file(const std::string& source, const fs::path& target, bool follow) {
  struct stat t_l {
  }, t_s{}, s{};
  if (::lstat(target.c_str(), &t_l) != 0) return false;
  const bool t_follows = ::stat(target.c_str(), &t_s) == 0;
  if (follow) return ::stat(source.c_str(), &s) == 0 && t_follows && same_inode(s, t_s);
  if (::lstat(source.c_str(), &s) != 0) return false;
  if (same_inode(s, t_l)) return true;
  struct stat s_s {};
  return S_ISLNK(s.st_mode) && ::stat(source.c_str(), &s_s) == 0 && same_inode(s_s, t_l);
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
  bool links = false;
  if (f.preserve_all || f.archive) {
    o.file.preserve = {.mode = true, .ownership = true, .timestamps = true};
  }
  if (!f.preserve.empty()) {
    std::string_view list = f.preserve;
    while (!list.empty()) {
      const auto comma = list.find(',');
      const std::string_view item = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      if (item == "mode") {
        o.file.preserve.mode = true;
      } else if (item == "ownership") {
        o.file.preserve.ownership = true;
      } else if (item == "timestamps") {
        o.file.preserve.timestamps = true;
      } else if (item == "links") {
        links = true;
      } else if (item == "all") {
        o.file.preserve = {.mode = true, .ownership = true, .timestamps = true};
        links = true;
      } else {
        return std::unexpected(fmt::format(
            "--preserve: unsupported attribute '{}' (mode, ownership, timestamps, links, all)",
            item));
      }
    }
  }
  o.file.fsync = f.fsync;
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  o.file.parallel_ranges = f.parallel_ranges ? *f.parallel_ranges : (cpus > 1 ? cpus : 0);
  o.recursive = f.recursive || f.archive;
  // cp -r without -L copies the symlinks found inside the tree as symlinks (only the operands are
  // followed, by run_cp); -P, -d and -a never follow.
  o.symlinks_as_links = f.archive || f.no_dereference || f.d || (o.recursive && !f.dereference);
  o.keep_hard_links = f.archive || f.d || links;
  // cp -R recreates FIFOs and devices rather than reading them (coreutils: --copy-contents is
  // what reads them); without -R a special file is refused, never read.
  o.special_files = o.recursive;
  o.no_clobber = f.no_clobber;
  o.update = f.update;
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
  if (file->used == method::automatic) return " (no data)";
  if (file->ranges > 1) return fmt::format(" ({}, {} ranges)", to_string(file->used), file->ranges);
  return fmt::format(" ({})", to_string(file->used));
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
  if (f.paths.empty()) return usage_error("missing file operand");
  if (f.paths.size() == 1) {
    return usage_error(fmt::format("missing destination file operand after '{}'", f.paths[0]));
  }
  auto parsed = options_from(f);
  if (!parsed) return usage_error(parsed.error());
  tree_options options = std::move(*parsed);

  const std::string dest = f.paths.back();
  const std::vector<std::string> sources(f.paths.begin(), f.paths.end() - 1);
  struct stat dest_st {};
  const bool dest_is_dir = ::stat(dest.c_str(), &dest_st) == 0 && S_ISDIR(dest_st.st_mode);
  if (sources.size() > 1 && !dest_is_dir) {
    report_error("cp", dest, std::make_error_code(std::errc::not_a_directory));
    return 1;
  }

  // Before any thread exists, the copying threads included.
  signal_watch signals;
  options.file.stop = signals.token();

  terminal term;
  totals t;
  std::FILE* verbose_stream = f.json ? stderr : stdout;  // --json keeps stdout for the summary
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  std::optional<progress_bar> bar;
  if (!f.no_progress && (f.progress || (tty && !f.verbose))) {
    std::vector<fs::path> all(sources.begin(), sources.end());
    bar.emplace(term, std::move(all), options.file.sparse == sparse_mode::never, tty);
    options.file.on_progress = [&bar](std::uint64_t bytes) { bar->update(bytes); };
  }
  auto fail = [&](const std::string& text) {
    t.errors.fetch_add(1);
    term.line(stderr, "zcopy: cp" + text);
  };

  const auto started = clock::now();
  for (const auto& source : sources) {
    if (signals.token().stop_requested()) break;
    // Operands are followed unless -P/-d/-a (cp -r follows its operands, not what is inside).
    const bool follow = !(f.archive || f.no_dereference || f.d);
    struct stat st {};
    if ((follow ? ::stat(source.c_str(), &st) : ::lstat(source.c_str(), &st)) != 0) {
      fail(fmt::format(" '{}': {}", source,
                       std::error_code(errno, std::system_category()).message()));
      continue;
    }
    if (S_ISDIR(st.st_mode) && !options.recursive) {
      fail(fmt::format(": -r not specified; omitting directory '{}'", source));
      continue;
    }
    const fs::path target = dest_is_dir ? fs::path(dest) / last_component(source) : fs::path(dest);
    if (same_file(source, target, follow)) {
      fail(fmt::format(": '{}' and '{}' are the same file", source, target.string()));
      continue;
    }
    fs::path from = source;
    struct stat l {};
    if (follow && options.symlinks_as_links && ::lstat(source.c_str(), &l) == 0 &&
        S_ISLNK(l.st_mode)) {
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
      if (e.operation == "into itself") {
        fail(fmt::format(": cannot copy a directory, '{}', into itself, '{}'", source,
                         target.string()));
      } else if (e.operation == "same file") {
        fail(fmt::format(": '{}' and '{}' are the same file", source, e.path.string()));
      } else {
        fail(fmt::format(" '{}': {}: {}", e.path.string(), e.operation, e.code.message()));
      }
    };
    const tree_summary s = copy_tree(from, target, options, observer);
    if (bar) bar->tree_done(s.bytes);
    add(t.summary, s);
  }

  if (bar) bar->finish();
  const int signal = signals.received();
  if (signal == 0 && f.verify) {  // sequential: verification reads, it does not compete
    for (const auto& [s, d] : t.to_verify) {
      if (signals.received() != 0) break;
      auto same = same_contents(s, d);
      if (!same) {
        fail(fmt::format(" '{}': verify: {}: {}", d.string(), same.error().operation,
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
           name + " [OPTIONS] SOURCE... DIRECTORY\n";
  }
};

}  // namespace

void register_cp(CLI::App& app, action& run) {
  auto f = std::make_shared<cp_flags>();
  CLI::App* cmd = app.add_subcommand(
      "cp", "Copy files and directory trees (GNU cp's options; reflink, copy_file_range, ...)");
  cmd->formatter(std::make_shared<cp_formatter>());
  cmd->add_option("paths", f->paths, "SOURCE... DEST; '--' ends the options");
  // CLI11 hands `--` back to the parent app once every positional has its minimum; one that never
  // has it keeps `zcopy cp a -- -b DEST` inside this subcommand.
  cmd->add_option("positional_end_", f->positional_end)->group("");
  cmd->add_flag("-r,-R,--recursive", f->recursive, "copy directories recursively");
  cmd->add_flag("-p", f->preserve_all, "same as --preserve=mode,ownership,timestamps");
  // Flags with an optional value: `--preserve` alone or `--preserve=LIST`; never the next word.
  cmd->add_flag("--preserve{all}", f->preserve,
                "=LIST: mode, ownership, timestamps, links, all (alone: all)");
  cmd->add_flag("-a,--archive", f->archive,
                "-r -p, symlinks as symlinks, hard links kept, special files recreated");
  cmd->add_flag("-P,--no-dereference", f->no_dereference, "copy symlinks as symlinks");
  cmd->add_flag("-L,--dereference", f->dereference, "always follow symlinks in SOURCE");
  cmd->add_flag("-d", f->d, "same as --no-dereference --preserve=links");
  cmd->add_flag("-n,--no-clobber", f->no_clobber, "do not overwrite an existing file");
  cmd->add_flag("-f,--force", f->force,
                "replace existing files (always the case: DEST is replaced by a rename)");
  cmd->add_flag("-u,--update", f->update,
                "copy only when SOURCE is newer than DEST or DEST is missing");
  cmd->add_flag("-v,--verbose", f->verbose, "one line per entry, with the data method");
  cmd->add_flag("--reflink{always}", f->reflink, "[=WHEN] share extents: auto, always, never");
  cmd->add_option("--sparse", f->sparse, "holes: auto (keep), always (also zeros), never");
  cmd->add_option("--method", f->method_name,
                  "force a data method: copy_file_range, sendfile, read_write, splice, "
                  "mmap_write, reflink (no fallback)")
      ->check(CLI::IsMember({"auto", "copy_file_range", "sendfile", "read_write", "splice",
                             "mmap_write", "reflink"}));
  cmd->add_flag("--fsync", f->fsync, "fsync each file and its directory around the rename");
  cmd->add_flag("--verify", f->verify, "compare each copied file with its source afterwards");
  cmd->add_option("-j,--jobs", f->jobs, "files copied at once (default: CPUs)")
      ->check(CLI::Range(1u, 4096u));
  cmd->add_option("--parallel-ranges", f->parallel_ranges,
                  "ranges copied at once in a large file (default: CPUs; 1: off)")
      ->check(CLI::Range(1u, 1024u));
  cmd->add_flag("--progress", f->progress, "show a progress bar on stderr, even with -v or no TTY");
  cmd->add_flag("--no-progress", f->no_progress, "never show a progress bar");
  cmd->add_flag("--json", f->json, "print a JSON summary on stdout (-v lines go to stderr)");
  cmd->callback([f, &run] { run = [f] { return run_cp(*f); }; });
}

}  // namespace zcopy::cli
