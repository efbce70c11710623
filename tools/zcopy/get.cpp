// zcopy get URL [-o FILE | -O]: download over HTTP/1.1 with the body spliced straight into the
// file. The library does the download (src/http/download.hpp: FILE.part, its meta, resuming with
// If-Range, what a 200, 206 or 416 means, the final rename); this file picks the output name and
// owns the progress bar, the signals and the exit status (0 done, 1 runtime failure, 2 usage,
// 128+N interrupted).
#include <fmt/core.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "http/download.hpp"
#include "progress.hpp"
#include "signals.hpp"
#include "subcommands.hpp"
#include "sys/sys.hpp"

namespace zcopy::cli {
namespace {

struct get_flags {
  std::string url;
  std::string output;
  bool remote_name = false;
  bool resume = false;
  unsigned connections = 1;
  double connect_timeout = 30;
  double timeout = 60;
  unsigned max_redirects = 10;
  bool progress = false;
  bool no_progress = false;
  bool quiet = false;
};

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

int usage_error(const std::string& message) {
  fmt::print(stderr, "zcopy: get: {}\nRun 'zcopy get --help' for usage.\n", message);
  return 2;
}

int run_get(const get_flags& f) {
  auto parsed = http::parse_url(f.url);
  if (!parsed) {
    fmt::print(stderr, "zcopy: get '{}': {}\n", f.url, parsed.error().reason);
    return 2;
  }
  if (!f.output.empty() && f.remote_name) return usage_error("-o and -O exclude each other");
  std::string file = f.output;
  if (file.empty()) {
    auto name = http::file_name_from(*parsed);
    if (!name) {
      return usage_error(fmt::format(
          "cannot take a file name from '{}' (no plain last path segment); use -o FILE", f.url));
    }
    file = *name;
  }
  // Before any thread starts (the bar's).
  signal_watch signals;
  terminal term;
  auto interrupted = [&](std::string_view kept) {
    const int sig = signals.received() != 0 ? signals.received() : SIGINT;
    term.line(stderr, fmt::format("zcopy: get '{}': interrupted by {}{}", f.url,
                                  sig == SIGTERM ? "SIGTERM" : "SIGINT", kept));
    return 128 + sig;
  };

  http::download_options options;
  options.resume = f.resume;
  options.connections = f.connections;
  options.request.connect_timeout = to_ms(f.connect_timeout);
  options.request.read_timeout = to_ms(f.timeout);
  options.request.max_redirects = f.max_redirects;
  options.request.user_agent = std::string("zcopy/") + ZCOPY_VERSION;
  options.request.stop = signals.token();
  const bool tty = sys::isatty(STDERR_FILENO);
  std::optional<progress_bar> bar;
  std::uint64_t started_at = 0;
  options.on_start = [&](std::uint64_t offset, std::optional<std::uint64_t> total) {
    started_at = offset;
    if (f.quiet || f.no_progress || !(f.progress || tty)) return;
    bar.emplace(
        term, tty, [total](const std::atomic<bool>&) { return total; }, offset);
  };
  options.on_progress = [&](std::uint64_t bytes) {
    if (bar) bar->update(started_at + bytes);
  };

  auto done = http::download(*parsed, file, options);
  if (bar) bar->finish();
  if (!done) {
    const http::client_error& e = done.error().error;
    if (e.what == http::client_error::kind::cancelled) {
      return interrupted(
          done.error().part_kept ? fmt::format("; '{}.part' kept (resume with -c)", file) : "");
    }
    term.line(stderr, fmt::format("zcopy: get '{}': {}", f.url, e.message));
    return 1;
  }
  if (!f.quiet) {
    const std::string shown = done->file.string();
    if (done->already_complete) {
      term.line(stderr, fmt::format("'{}' is already complete ({} bytes)", shown, done->size));
    } else if (done->in_place) {
      // Not through FILE.part: a device or FIFO is written into, so a failure could have left
      // part of the body there.
      term.line(stderr, fmt::format("'{}' written in place ({} bytes)", shown, done->received));
    } else if (done->resumed_at > 0 && done->size > done->received) {
      term.line(stderr, fmt::format("'{}' saved ({} bytes, {} resumed at {})", shown, done->size,
                                    done->received, done->size - done->received));
    } else {
      term.line(stderr, fmt::format("'{}' saved ({} bytes)", shown, done->size));
    }
  }
  return 0;
}

}  // namespace

void register_get(CLI::App& app, action& run) {
  auto f = std::make_shared<get_flags>();
  CLI::App* cmd = app.add_subcommand(
      "get", "Download a URL over HTTP/1.1, the body spliced straight into the file");
  cmd->add_option("url", f->url, "http://HOST[:PORT]/PATH (https is not supported)")->required();
  cmd->add_option("-o,--output", f->output, "write to FILE (via FILE.part)");
  cmd->add_flag("-O,--remote-name", f->remote_name,
                "name the file after the URL's last path segment (the default without -o)");
  cmd->add_flag("-c,--continue", f->resume, "resume FILE.part (Range + If-Range)");
  cmd->add_option("-x,--connections", f->connections,
                  "fetch the file as N byte ranges on N connections at once (default 1); a "
                  "server without ranges or validators gets one connection")
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--connect-timeout", f->connect_timeout, "seconds to connect (default 30)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timeout", f->timeout, "seconds any read or write may wait (default 60)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-redirects", f->max_redirects, "redirects followed at most (default 10)")
      ->check(CLI::Range(0u, 100u));
  cmd->add_flag("--progress", f->progress, "show a progress bar on stderr, even with no TTY");
  cmd->add_flag("--no-progress", f->no_progress, "never show a progress bar");
  cmd->add_flag("-q,--quiet", f->quiet, "print errors only");
  cmd->callback([f, &run] { run = [f] { return run_get(*f); }; });
}

}  // namespace zcopy::cli
