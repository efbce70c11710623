// zcopy relay --listen HOST:PORT --to HOST:PORT [--to ...]: a TCP relay (src/net/relay.hpp) that
// splices bytes both ways. This file turns flags into settings, writes the log, handles signals
// and prints the address.
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "net/relay.hpp"
#include "signals.hpp"
#include "subcommands.hpp"

namespace zcopy::cli {
namespace {

struct relay_flags {
  std::vector<std::string> listen;
  std::vector<std::string> to;
  unsigned threads = 0;
  std::string engine = "auto";
  std::size_t max_connections = 10'000;
  double connect_timeout = 5;
  double retry_after = 5;
  double idle_timeout = 300;
  double grace = 10;
  std::string log;
};

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

// Lines from every worker thread, whole and in order, to stderr or --log FILE.
class log_writer {
 public:
  explicit log_writer(std::FILE* out) : out_(out) {}
  void write(std::string_view line) {
    std::lock_guard lock(mutex_);
    fmt::print(out_, "{}\n", line);
    std::fflush(out_);
  }

 private:
  std::mutex mutex_;
  std::FILE* out_;
};

struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

int run_relay(const relay_flags& f) {
  net::relay_options options;
  const auto parse_all = [](std::string_view flag, const std::vector<std::string>& texts,
                            std::vector<net::endpoint_address>& into) {
    for (const auto& text : texts) {
      auto address = net::parse_address(text);
      if (!address) {
        report_error("relay", fmt::format("{} '{}': {}", flag, text,
                                          address.error() == std::errc::invalid_argument
                                              ? "expected HOST:PORT or [IPv6]:PORT"
                                              : "cannot resolve the host"));
        return false;
      }
      into.push_back(std::move(*address));
    }
    return true;
  };
  if (!parse_all("--listen", f.listen, options.listen) || !parse_all("--to", f.to, options.targets))
    return 2;
  options.engine = parse_method(f.engine).value_or(method::automatic);
  options.threads = f.threads;
  options.max_connections = f.max_connections;
  options.connect_timeout = to_ms(f.connect_timeout);
  options.retry_after = to_ms(f.retry_after);
  options.idle_timeout = to_ms(f.idle_timeout);

  std::unique_ptr<std::FILE, file_closer> log_file;
  if (!f.log.empty() && f.log != "-") {
    log_file.reset(std::fopen(f.log.c_str(), "ae"));
    if (!log_file) {
      report_error("relay: log", f.log, std::error_code(errno, std::system_category()));
      return 1;
    }
  }
  auto writer = std::make_shared<log_writer>(log_file ? log_file.get() : stderr);
  options.log = [writer](std::string_view line) { writer->write(line); };

  // Signals are taken synchronously by this thread: blocked before the workers start, so that
  // they inherit the mask and never run a handler in the middle of the loop.
  const blocked_signals signals{SIGTERM, SIGINT};

  auto relay = net::relay::start(std::move(options));
  if (!relay) {
    report_error("relay", fmt::format("cannot listen on {}: {}", fmt::join(f.listen, ", "),
                                      relay.error().message()));
    return 1;
  }
  for (const auto& address : (*relay)->addresses()) {
    fmt::print("zcopy relay: listening on {} -> {}\n", address, fmt::join(f.to, ", "));
  }
  std::fflush(stdout);

  for (;;) {
    const int sig = signals.wait();
    fmt::print(stderr, "zcopy relay: {} received, letting connections finish (up to {} s)\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", f.grace);
    (*relay)->stop(to_ms(f.grace));
    (*relay)->wait();
    const auto s = (*relay)->stats();
    fmt::print(stderr,
               "zcopy relay: {} connections ({} refused over --max-connections), {} backend "
               "failures, {} bytes to backends, {} bytes to clients\n",
               s.accepted, s.refused, s.backend_failures, s.bytes_to_backends, s.bytes_to_clients);
    return 0;
  }
}

}  // namespace

void register_relay(CLI::App& app, action& run) {
  auto flags = std::make_shared<relay_flags>();
  auto* cmd = app.add_subcommand("relay", "TCP relay: splice bytes both ways to backends");
  cmd->add_option("--listen", flags->listen,
                  "HOST:PORT to listen on, repeatable; [::1]:8080 for IPv6")
      ->required();
  cmd->add_option("--to", flags->to, "backend HOST:PORT, repeatable (round robin)")->required();
  cmd->add_option("--threads", flags->threads,
                  "worker threads, one event loop each (default: CPUs)");
  cmd->add_option("--engine", flags->engine,
                  "auto (splice, read/write where refused), splice, read_write")
      ->check(method_choice({method::splice, method::read_write}));
  cmd->add_option("--max-connections", flags->max_connections,
                  "open client connections at most; more are closed at once (default 10000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--connect-timeout", flags->connect_timeout,
                  "seconds to connect to a backend (default 5)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--retry-after", flags->retry_after,
                  "seconds a failed backend is skipped (default 5)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--idle-timeout", flags->idle_timeout,
                  "seconds without a byte either way before a connection is closed (default 300)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--grace", flags->grace,
                  "seconds for open connections to finish on SIGTERM/SIGINT (default 10)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--log", flags->log, "FILE for the per-connection log (default: stderr)");
  cmd->callback([flags, &run] { run = [flags] { return run_relay(*flags); }; });
}

}  // namespace zcopy::cli
