// zcopy get URL [-o FILE | -O]: download over HTTP/1.1 with the body spliced straight into the
// file (src/http/client.hpp). This file owns what a download tool adds around the client: the
// output name, FILE.part and its FILE.part.meta (the validator for -c), the decision what a 200,
// 206 or 416 means for the bytes already on disk, the progress bar, signals and the exit status
// (0 done, 1 runtime failure, 2 usage, 128+N interrupted).
//
// Files: the body goes to FILE.part and is renamed to FILE when complete, so FILE is never a
// partial download. FILE.part.meta is written when the body starts (URL, ETag, Last-Modified);
// -c sends "Range: bytes=N-" with If-Range (a strong ETag, else Last-Modified) so that a changed
// file comes back whole as a 200, which restarts at 0. A short body, a timeout or an interrupt
// keeps FILE.part and its meta for -c; an error status before the body writes nothing.
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "http/client.hpp"
#include "progress.hpp"
#include "signals.hpp"
#include "subcommands.hpp"
#include "zcopy/fd.hpp"

namespace zcopy::cli {
namespace {

struct get_flags {
  std::string url;
  std::string output;
  bool remote_name = false;
  bool resume = false;
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

std::optional<std::uint64_t> regular_file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<std::uint64_t>(st.st_size);
}

// FILE.part.meta: "url URL", "etag VALUE", "last-modified VALUE", one per line.
struct part_meta {
  std::string url, etag, last_modified;

  // If-Range takes a strong validator only (RFC 9110 §13.1.5: never a weak ETag).
  std::string validator() const {
    if (!etag.empty() && !etag.starts_with("W/")) return etag;
    return last_modified;
  }
};

part_meta read_meta(const std::string& path) {
  part_meta m;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    if (space == std::string::npos) continue;
    const std::string key = line.substr(0, space), value = line.substr(space + 1);
    if (key == "url") m.url = value;
    if (key == "etag") m.etag = value;
    if (key == "last-modified") m.last_modified = value;
  }
  return m;
}

bool write_meta(const std::string& path, const part_meta& m) {
  std::ofstream out(path, std::ios::trunc);
  out << "url " << m.url << "\n";
  if (!m.etag.empty()) out << "etag " << m.etag << "\n";
  if (!m.last_modified.empty()) out << "last-modified " << m.last_modified << "\n";
  out.close();
  return static_cast<bool>(out);
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
  const std::string part = file + ".part";
  const std::string meta_path = part + ".meta";

  // Before any thread starts (the bar's).
  signal_watch signals;
  terminal term;
  auto fail = [&](const std::string& message) {
    term.line(stderr, fmt::format("zcopy: get '{}': {}", f.url, message));
  };
  auto interrupted = [&](std::string_view kept) {
    const int sig = signals.received() != 0 ? signals.received() : SIGINT;
    term.line(stderr, fmt::format("zcopy: get '{}': interrupted by {}{}", f.url,
                                  sig == SIGTERM ? "SIGTERM" : "SIGINT", kept));
    return 128 + sig;
  };

  // -c: what is on disk already. A FILE.part continues; a complete FILE is checked with a range
  // from its end (a 416 saying the total is its size means nothing is missing).
  std::uint64_t have = 0;
  bool resuming_file = false;
  http::request_options options;
  if (f.resume) {
    if (auto size = regular_file_size(part); size && *size > 0) {
      have = *size;
      options.if_range = read_meta(meta_path).validator();
    } else if (auto whole = regular_file_size(file); whole && *whole > 0) {
      have = *whole;
      resuming_file = true;
    }
  }
  if (have > 0) options.range_from = have;
  options.connect_timeout = to_ms(f.connect_timeout);
  options.read_timeout = to_ms(f.timeout);
  options.max_redirects = f.max_redirects;
  options.user_agent = std::string("zcopy/") + ZCOPY_VERSION;
  options.stop = signals.token();

  auto response = http::fetch(*parsed, options);
  if (!response) {
    if (response.error().what == http::client_error::kind::cancelled) return interrupted("");
    fail(response.error().message);
    return 1;
  }
  const http::response_head& head = response->head();
  const auto range = head.header("content-range").and_then([](std::string_view v) {
    return http::parse_content_range(v);
  });

  if (head.status == 416 && have > 0 && range && !range->first && range->total == have) {
    if (!resuming_file) {
      if (::rename(part.c_str(), file.c_str()) != 0) {
        fail(fmt::format("rename '{}': {}", part,
                         std::error_code(errno, std::system_category()).message()));
        return 1;
      }
      ::unlink(meta_path.c_str());
    }
    if (!f.quiet) term.line(stderr, fmt::format("'{}' is already complete ({} bytes)", file, have));
    return 0;
  }
  if (head.status / 100 != 2) {
    fail(head.status_line);
    return 1;
  }
  std::uint64_t offset = 0;
  if (head.status == 206) {
    if (have == 0 || !range || !range->first || *range->first != have) {
      fail(fmt::format("{} with an unexpected Content-Range '{}'", head.status_line,
                       head.header("content-range").value_or("")));
      return 1;
    }
    offset = have;
    // A complete FILE that the server says has grown: continue it as the part file.
    if (resuming_file && ::rename(file.c_str(), part.c_str()) != 0) {
      fail(fmt::format("rename '{}': {}", file,
                       std::error_code(errno, std::system_category()).message()));
      return 1;
    }
  }
  // A 200 after a range request: the server ignored it, or If-Range said the file changed.
  // Either way the body is the whole file, written from 0 over what was there.

  auto out = unique_fd::open(part.c_str(), O_WRONLY | O_CREAT | (offset == 0 ? O_TRUNC : 0), 0666);
  if (!out) {
    fail(fmt::format("open '{}': {}", part, out.error().message()));
    return 1;
  }
  part_meta meta{response->final_url().text(), std::string(head.header("etag").value_or("")),
                 std::string(head.header("last-modified").value_or(""))};
  if (!write_meta(meta_path, meta)) {
    fail(fmt::format("cannot write '{}'", meta_path));
    return 1;
  }

  const bool tty = ::isatty(STDERR_FILENO) == 1;
  std::optional<progress_bar> bar;
  if (!f.quiet && !f.no_progress && (f.progress || tty)) {
    std::optional<std::uint64_t> total;
    if (head.content_length) total = offset + *head.content_length;
    bar.emplace(
        term, tty, [total](const std::atomic<bool>&) { return total; }, offset);
  }
  auto received = response->receive_body(out->get(), offset, [&bar](std::uint64_t bytes) {
    if (bar) bar->update(bytes);
  });
  if (bar) bar->finish();
  if (!received) {
    const auto& e = received.error();
    const std::string kept = fmt::format("; '{}' kept (resume with -c)", part);
    if (e.what == http::client_error::kind::cancelled) return interrupted(kept);
    fail(e.message + kept);
    return 1;
  }
  if (auto ec = out->close(); ec) {
    fail(fmt::format("close '{}': {}", part, ec.message()));
    return 1;
  }
  if (::rename(part.c_str(), file.c_str()) != 0) {
    fail(fmt::format("rename '{}': {}", part,
                     std::error_code(errno, std::system_category()).message()));
    return 1;
  }
  ::unlink(meta_path.c_str());
  if (!f.quiet) {
    term.line(stderr, offset > 0 ? fmt::format("'{}' saved ({} bytes, {} resumed at {})", file,
                                               offset + *received, *received, offset)
                                 : fmt::format("'{}' saved ({} bytes)", file, *received));
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
