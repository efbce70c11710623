// zcopy get URL [-o FILE | -O]: download over HTTP/1.1 with the body spliced straight into the
// file; zcopy get -r URL/ -o DIR: a tree, read from JSON listings. The library does the work
// (src/http/download.hpp: FILE.part, its meta, resuming with If-Range, what a 200, 206 or 416
// means, the final rename; ranged_download.hpp for -x; mirror.hpp for -r); this file picks the
// output name and owns the progress bar, the signals, the summary and the exit status (0 done,
// 1 runtime failure or, for -r, any file failed or refused, 2 usage, 128+N interrupted).
#include <fmt/core.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "http/download.hpp"
#include "http/mirror.hpp"
#include "http/remote_listing.hpp"
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
  std::string connections_text = "1";  // N, or "auto" (0 in download_options)
  bool recursive = false;
  unsigned jobs = 4;
  bool json = false;
  bool checksum = false;
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

// -x as download_options takes it: 0 for auto (the validator has checked the text).
unsigned connections_of(const get_flags& f) {
  if (f.connections_text == "auto") return 0;
  return static_cast<unsigned>(std::stoul(f.connections_text));
}

int usage_error(const std::string& message) {
  fmt::print(stderr, "zcopy: get: {}\nRun 'zcopy get --help' for usage.\n", message);
  return 2;
}

int run_mirror(const get_flags& f, http::url root);

int run_get(const get_flags& f) {
  auto parsed = http::parse_url(f.url);
  if (!parsed) {
    fmt::print(stderr, "zcopy: get '{}': {}\n", f.url, parsed.error().reason);
    return 2;
  }
  if (!f.output.empty() && f.remote_name) return usage_error("-o and -O exclude each other");
  if (f.recursive) return run_mirror(f, std::move(*parsed));
  if (f.json) return usage_error("--json goes with -r");
  if (f.checksum) return usage_error("--checksum goes with -r");
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
  options.connections = connections_of(f);
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

// The directory -r writes into without -o: the URL's last path segment ("http://h/data/" →
// "data").
std::optional<std::string> directory_name_from(const http::url& root) {
  std::string_view path = root.path();
  while (path.size() > 1 && path.ends_with('/')) path.remove_suffix(1);
  const std::string_view last = path.substr(path.rfind('/') + 1);
  auto decoded = http::percent_decode(last);
  if (!decoded || http::unsafe_name(*decoded)) return std::nullopt;
  return decoded;
}

int run_mirror(const get_flags& f, http::url root) {
  if (f.remote_name) return usage_error("-O names one file; -r writes into -o DIR");
  if (!root.target.ends_with('/') && root.target.find('?') == std::string::npos) root.target += '/';
  std::string dir = f.output;
  if (dir.empty()) {
    auto name = directory_name_from(root);
    if (!name) {
      return usage_error(
          fmt::format("cannot take a directory name from '{}'; use -o DIR", root.text()));
    }
    dir = *name;
  }
  signal_watch signals;
  terminal term;
  http::mirror_options options;
  options.jobs = f.jobs;
  options.checksum = f.checksum;
  options.file.resume = f.resume;
  options.file.connections = connections_of(f);
  options.file.request.connect_timeout = to_ms(f.connect_timeout);
  options.file.request.read_timeout = to_ms(f.timeout);
  options.file.request.max_redirects = f.max_redirects;
  options.file.request.user_agent = std::string("zcopy/") + ZCOPY_VERSION;
  options.file.request.stop = signals.token();

  const bool tty = sys::isatty(STDERR_FILENO);
  std::optional<progress_bar> bar;
  if (!f.quiet && !f.no_progress && (f.progress || tty)) {
    bar.emplace(term, tty, [](const std::atomic<bool>&) { return std::nullopt; });
  }
  std::uint64_t received = 0;
  const auto started = std::chrono::steady_clock::now();
  auto done = http::mirror(root, dir, options, [&](const http::mirror_event& e) {
    received += e.bytes;
    if (bar) bar->update(received);
    using kind = http::mirror_event::kind;
    if (e.what == kind::failed || e.what == kind::refused) {
      term.line(stderr,
                fmt::format("zcopy: get -r: {} '{}': {}",
                            e.what == kind::failed ? "failed" : "refused", e.path, e.message));
    }
  });
  if (bar) bar->finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!done) {
    term.line(stderr, fmt::format("zcopy: get -r '{}': {}", root.text(), done.error().message));
    return done.error().what == http::client_error::kind::cancelled ? 128 + SIGINT : 1;
  }
  const http::mirror_result& r = *done;
  if (f.json) {
    nlohmann::ordered_json out = {{"url", root.text()},
                                  {"dir", dir},
                                  {"fetched", r.fetched},
                                  {"up_to_date", r.up_to_date},
                                  {"failed", r.failed},
                                  {"refused", r.refused},
                                  {"directories", r.directories},
                                  {"bytes_received", r.bytes_received},
                                  {"bytes_listed", r.bytes_total},
                                  {"checked", r.checked},
                                  {"without_digest", r.without_digest},
                                  {"seconds", seconds},
                                  {"interrupted", r.cancelled}};
    nlohmann::ordered_json problems = nlohmann::ordered_json::array();
    for (const auto& p : r.problems) {
      problems.push_back(
          {{"path", p.path},
           {"what", p.what == http::mirror_event::kind::failed ? "failed" : "refused"},
           {"message", p.message}});
    }
    out["problems"] = std::move(problems);
    fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  }
  if (!f.quiet) {
    std::string checked;
    if (f.checksum) {
      checked = fmt::format("; {} checked against the server's SHA256SUMS", r.checked);
      if (r.without_digest != 0) {
        checked += fmt::format(", {} without a digest (judged by size and time)", r.without_digest);
      }
    }
    term.line(stderr,
              fmt::format("'{}': {} files fetched ({}), {} up to date, {} refused, {} "
                          "failed, {} directories, in {:.1f} s{}",
                          dir, r.fetched, human(static_cast<double>(r.bytes_received)),
                          r.up_to_date, r.refused, r.failed, r.directories, seconds, checked));
  }
  if (r.cancelled) {
    const int sig = signals.received() != 0 ? signals.received() : SIGINT;
    term.line(stderr, fmt::format("zcopy: get -r '{}': interrupted by {}; run it again (with -c "
                                  "to continue partial files)",
                                  root.text(), sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    return 128 + sig;
  }
  return r.failed == 0 && r.refused == 0 ? 0 : 1;
}

}  // namespace

void register_get(CLI::App& app, action& run) {
  auto f = std::make_shared<get_flags>();
  CLI::App* cmd = app.add_subcommand(
      "get", "Download a URL over HTTP/1.1, the body spliced straight into the file");
  cmd->add_option("url", f->url, "http://HOST[:PORT]/PATH (https is not supported)")->required();
  cmd->add_option("-o,--output", f->output, "write to FILE (via FILE.part); with -r, into DIR");
  cmd->add_flag("-O,--remote-name", f->remote_name,
                "name the file after the URL's last path segment (the default without -o)");
  cmd->add_flag("-c,--continue", f->resume, "resume FILE.part (Range + If-Range)");
  cmd->add_option("-x,--connections", f->connections_text,
                  "fetch the file as N byte ranges on N connections at once (default 1), or "
                  "'auto': add connections while each raises the rate (16 at most); a server "
                  "without ranges or validators gets one connection")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            if (value == "auto") return {};
            unsigned n = 0;
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > 64) {
              return "-x takes a number from 1 to 64, or auto";
            }
            return {};
          },
          "N|auto"));
  cmd->add_flag("-r,--recursive", f->recursive,
                "mirror the directory tree at URL/ into -o DIR (default: the URL's last segment), "
                "read from JSON listings (nginx autoindex_format json, zcopy serve "
                "--autoindex-format json); files with the listed size and mtime are skipped");
  cmd->add_option("-j,--jobs", f->jobs, "with -r: files fetched at once (default 4)")
      ->check(CLI::Range(1u, 256u));
  cmd->add_flag("--json", f->json, "with -r: print a summary as JSON on stdout");
  cmd->add_flag("--checksum", f->checksum,
                "with -r: where a directory has a SHA256SUMS, content decides: a file is skipped "
                "only if its SHA-256 is the listed one, and a fetched file must have it before it "
                "replaces anything");
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
