// zcopy serve [ROOT]: the HTTP/1.1 static file server. The event loop is src/net, the HTTP logic
// src/http; this file turns flags into their settings, handles signals and prints the URL.
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/access_log.hpp"
#include "http/session.hpp"
#include "net/server.hpp"
#include "signals.hpp"
#include "subcommands.hpp"
#include "zcopy/error.hpp"

namespace zcopy::cli {
namespace {

struct serve_flags {
  std::string root = ".";
  std::vector<std::string> listen;
  unsigned threads = 0;
  std::string engine = "auto";
  bool autoindex = false;
  std::string autoindex_format = "html";
  bool follow_symlinks = false;
  bool show_hidden = false;
  std::size_t max_connections = 10'000;
  double header_timeout = 10;
  double idle_timeout = 60;
  double send_timeout = 60;
  std::size_t max_requests = 1000;
  std::string access_log;
  std::size_t open_file_cache = 1024;
  double open_file_cache_valid = 1;
  double grace = 10;
};

// The worker thread's context. At namespace scope on purpose: a block-scope thread_local only
// registers its destructor in threads that pass through its declaration, and the workers never
// do (the context would leak at every worker's exit).
thread_local std::unique_ptr<http::worker_context> worker_context_here;

struct engine_choice {
  net::loop_engine loop = net::loop_engine::epoll;
  method body = method::automatic;
};

// What --engine takes: how the epoll loop sends bodies, or io_uring, which picks the loop (bodies
// then go as spliced pairs).
const std::vector<method> engines = {method::sendfile, method::splice, method::mmap_write,
                                     method::read_write, method::io_uring};

std::optional<engine_choice> parse_engine(std::string_view name) {
  const auto m = parse_method(name);
  if (!m ||
      (*m != method::automatic && std::find(engines.begin(), engines.end(), *m) == engines.end())) {
    return std::nullopt;
  }
  if (*m == method::io_uring) return engine_choice{net::loop_engine::io_uring, method::automatic};
  return engine_choice{net::loop_engine::epoll, *m};
}

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

// "http://127.0.0.1:8080/"; a wildcard address is shown as it was bound.
std::string url_of(const std::string& address) {
  return "http://" + address + "/";
}

int run_serve(const serve_flags& f) {
  const auto engine = parse_engine(f.engine);
  if (!engine) {
    report_error("serve", fmt::format("unknown engine '{}' ({})", f.engine, method_names(engines)));
    return 2;
  }

  auto root = http::open_root(f.root.c_str());
  if (!root) {
    report_error("serve", f.root, root.error());
    return 1;
  }
  char resolved_root[PATH_MAX];
  const std::string shown_root =
      ::realpath(f.root.c_str(), resolved_root) ? std::string(resolved_root) : f.root;

  net::server_options options;
  for (const auto& text :
       f.listen.empty() ? std::vector<std::string>{"127.0.0.1:8080"} : f.listen) {
    auto address = net::parse_address(text);
    if (!address) {
      report_error("serve", fmt::format("--listen '{}': expected HOST:PORT or [IPv6]:PORT", text));
      return 2;
    }
    options.listen.push_back(std::move(*address));
  }
  options.threads = f.threads;
  options.max_connections = f.max_connections;
  options.header_timeout = to_ms(f.header_timeout);
  options.idle_timeout = to_ms(f.idle_timeout);
  options.send_timeout = to_ms(f.send_timeout);
  options.body_method = engine->body;
  options.engine = engine->loop;

  std::optional<http::access_log> log;
  if (!f.access_log.empty()) {
    auto opened = http::access_log::open(f.access_log);
    if (!opened) {
      report_error("serve: access log", f.access_log, opened.error());
      return 1;
    }
    log.emplace(std::move(*opened));
  }

  http::session_settings settings;
  settings.serve.root_fd = root->get();
  settings.serve.autoindex = f.autoindex;
  settings.serve.listing =
      f.autoindex_format == "json" ? http::listing_format::json : http::listing_format::html;
  settings.serve.follow_symlinks = f.follow_symlinks;
  settings.serve.show_hidden = f.show_hidden;
  settings.serve.mime = &http::mime_table::system();  // loaded now, not on the first request
  // A forced engine sends every body itself, so that comparisons measure it alone.
  settings.serve.small_bodies_inline = engine->body == method::automatic;
  settings.max_requests = f.max_requests;
  const http::open_file_cache::settings cache_settings{.max_entries = f.open_file_cache,
                                                       .valid = to_ms(f.open_file_cache_valid)};
  http::access_log* log_ptr = log ? &*log : nullptr;

  // One context per worker thread, made on its first connection (or tick) and destroyed, log
  // flushed, when the worker's thread ends.
  auto context_here = [&settings, cache_settings, log_ptr]() -> http::worker_context& {
    if (!worker_context_here) {
      worker_context_here =
          std::make_unique<http::worker_context>(settings, cache_settings, log_ptr);
    }
    return *worker_context_here;
  };
  options.tick = [context_here] { context_here().tick(); };

  // Signals are taken synchronously by this thread: blocked before the workers start, so that
  // they inherit the mask and never run a handler in the middle of the loop.
  const blocked_signals signals{SIGTERM, SIGINT, SIGHUP};

  auto server = net::server::start(std::move(options), [context_here](std::string_view peer) {
    return std::make_unique<http::session>(context_here(), std::string(peer));
  });
  if (!server && engine->loop == net::loop_engine::io_uring &&
      (server.error() == errc::method_unavailable ||
       server.error() == std::errc::function_not_supported ||
       server.error() == std::errc::operation_not_permitted)) {
    report_error("serve", fmt::format("--engine io_uring: io_uring is not available here ({}); "
                                      "the default engine works without it",
                                      server.error().message()));
    return 1;
  }
  if (!server) {
    report_error("serve",
                 fmt::format("cannot listen on {}: {}",
                             f.listen.empty() ? "127.0.0.1:8080"
                                              : fmt::format("{}", fmt::join(f.listen, ", ")),
                             server.error().message()));
    return 1;
  }
  for (const auto& address : (*server)->addresses()) {
    fmt::print("zcopy serve: serving '{}' at {}\n", shown_root, url_of(address));
  }
  std::fflush(stdout);

  for (;;) {
    const int sig = signals.wait();
    if (sig == SIGHUP) {
      if (log) {
        if (auto r = log->reopen(); !r)
          report_error("serve: reopen access log", f.access_log, r.error());
      }
      continue;
    }
    fmt::print(stderr, "zcopy serve: {} received, finishing responses in flight (up to {} s)\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", f.grace);
    (*server)->stop(to_ms(f.grace));
    (*server)->wait();
    return 0;
  }
}

}  // namespace

void register_serve(CLI::App& app, action& run) {
  auto flags = std::make_shared<serve_flags>();
  auto* cmd = app.add_subcommand("serve", "HTTP/1.1 static file server (sendfile bodies)");
  cmd->add_option("root", flags->root, "directory to serve (default: the current one)");
  cmd->add_option(
      "--listen", flags->listen,
      "HOST:PORT to listen on, repeatable; [::1]:8080 for IPv6 (default 127.0.0.1:8080)");
  cmd->add_option("--threads", flags->threads,
                  "worker threads, one event loop each (default: CPUs)");
  cmd->add_option("--engine", flags->engine,
                  "how bodies are sent: auto, sendfile, splice, mmap_write, read_write (an epoll "
                  "loop), or io_uring (the loop on io_uring: batched accept/recv/send, spliced "
                  "bodies)")
      ->check(method_choice(engines));
  cmd->add_flag("--autoindex", flags->autoindex,
                "HTML listings for directories without index.html");
  cmd->add_option("--autoindex-format", flags->autoindex_format,
                  "listings as html (default) or json (nginx's autoindex_format json: name, type, "
                  "mtime, size; what zcopy get -r reads)")
      ->check(CLI::IsMember({"html", "json"}));
  cmd->add_flag("--follow-symlinks", flags->follow_symlinks, "follow symlinks that leave ROOT");
  cmd->add_flag("--show-hidden", flags->show_hidden, "serve names starting with '.'");
  cmd->add_option("--max-connections", flags->max_connections,
                  "open connections at most (default 10000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--header-timeout", flags->header_timeout,
                  "seconds to receive a request's head (default 10)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--idle-timeout", flags->idle_timeout,
                  "seconds a kept-alive connection may idle (default 60)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--send-timeout", flags->send_timeout,
                  "seconds without progress sending (default 60)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-requests", flags->max_requests,
                  "requests per keep-alive connection, 0 = no limit (default 1000)");
  cmd->add_option("--access-log", flags->access_log,
                  "FILE or - : nginx combined log (default: none)");
  cmd->add_option("--open-file-cache", flags->open_file_cache,
                  "open files kept per worker, 0 = off (default 1024)");
  cmd->add_option("--open-file-cache-valid", flags->open_file_cache_valid,
                  "seconds a cached file is trusted (default 1)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--grace", flags->grace,
                  "seconds to finish responses on SIGTERM/SIGINT (default 10)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([flags, &run] { run = [flags] { return run_serve(*flags); }; });
}

}  // namespace zcopy::cli
