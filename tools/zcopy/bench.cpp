// zcopy bench: measures every copy method on this machine (the library's bench harness does the
// work, src/bench); this file parses flags, shows progress and writes the outputs.
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench.hpp"
#include "core/destination.hpp"
#include "subcommands.hpp"
#include "sys/sys.hpp"

namespace zcopy::cli {
namespace {

struct bench_flags {
  std::uint64_t size = std::uint64_t{1} << 30;
  unsigned repeat = 5;
  bool cold = false;
  bool quick = false;
  bool no_verify = false;
  std::vector<std::string> paths;
  std::vector<std::string> methods;
  std::vector<std::uint64_t> message_sizes;
  std::string directory;
  std::string json;
  std::string csv;
  std::string html;
  std::string command_line;
};

bool write_output(const std::string& file, const std::string& text, std::string_view what) {
  if (file.empty()) return true;
  if (file == "-") {
    fmt::print("{}", text);
    return true;
  }
  // Replaced whole: a report that cannot be written leaves the previous one as it was.
  if (auto e = detail::write_whole_file(file, text); e) {
    report_error(fmt::format("bench: writing {}", what), file, e);
    return false;
  }
  return true;
}

int run_bench(const bench_flags& flags) {
  bench::config cfg;
  cfg.size = flags.quick ? std::uint64_t{64} << 20 : flags.size;
  cfg.repeat = flags.quick ? 1 : flags.repeat;
  cfg.cold = flags.cold;
  cfg.verify = !flags.no_verify;
  cfg.directory = flags.directory;
  if (!flags.message_sizes.empty()) {
    cfg.message_sizes.assign(flags.message_sizes.begin(), flags.message_sizes.end());
  }
  for (const auto& name : flags.paths) {
    auto p = bench::parse_path(name);
    if (!p) {
      report_error("bench", fmt::format("unknown path '{}' (paths: file-socket, file-file, "
                                        "socket-socket, socket-file, memory-socket)",
                                        name));
      return 2;
    }
    cfg.paths.push_back(*p);
  }
  for (const auto& name : flags.methods) {
    bool known = false;
    for (auto p : bench::all_paths()) {
      for (const auto& m : bench::methods_for(p)) known = known || m.name == name;
    }
    if (!known) {
      report_error("bench", fmt::format("unknown method '{}'", name));
      return 2;
    }
    cfg.methods.push_back(name);
  }
  if (!flags.directory.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(flags.directory, ec)) {
      report_error("bench", flags.directory,
                   ec ? ec : std::make_error_code(std::errc::not_a_directory));
      return 1;
    }
  }

  const bool tty = sys::isatty(STDERR_FILENO);
  if (tty) {
    cfg.on_progress = [](std::string_view path, std::string_view method, unsigned round,
                         unsigned rounds) {
      fmt::print(stderr, "\r\033[Kbench: round {}/{}  {:<14} {}", round, rounds, path, method);
      std::fflush(stderr);
    };
  }
  auto rep = bench::run(cfg);
  if (tty) fmt::print(stderr, "\r\033[K");
  if (!rep) {
    report_error("bench", cfg.directory.empty() ? "$TMPDIR" : cfg.directory.string(), rep.error());
    return 1;
  }
  rep->command_line = flags.command_line;

  const bool json_to_stdout = flags.json == "-";
  if (!json_to_stdout) fmt::print("{}", bench::render_table(*rep));
  bool ok = write_output(flags.json, bench::render_json(*rep), "JSON") &&
            write_output(flags.csv, bench::render_csv(*rep), "CSV") &&
            write_output(flags.html, bench::render_html(*rep), "HTML");
  for (const auto& r : rep->results) {
    if (r.error.empty() && !r.verified) {
      report_error("bench", fmt::format("{} {}: the sink did not receive the source's bytes",
                                        bench::to_string(r.where), r.method.name));
      ok = false;
    }
  }
  return ok ? 0 : 1;
}

}  // namespace

void register_bench(CLI::App& app, action& run, std::string command_line) {
  auto flags = std::make_shared<bench_flags>();
  flags->command_line = std::move(command_line);
  CLI::App* sub = app.add_subcommand(
      "bench", "Measure every copy method here: throughput, CPU, syscalls, context switches");
  sub->add_option("--size", flags->size, "Bytes per run (suffixes: K, M, G; default 1G)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{64} << 30));
  sub->add_option("--repeat", flags->repeat, "Rounds; methods are interleaved round by round")
      ->check(CLI::Range(1u, 1000u));
  sub->add_flag("--cold", flags->cold, "Evict the source from the page cache before each run");
  sub->add_flag("--quick", flags->quick, "64 MiB, one round: seconds, for demos and tests");
  sub->add_flag("--no-verify", flags->no_verify,
                "Do not hash what the sink receives (receivers splice to /dev/null)");
  sub->add_option("--paths", flags->paths,
                  "Paths to run: file-socket, file-file, socket-socket, socket-file, "
                  "memory-socket (default: all)")
      ->delimiter(',');
  sub->add_option(
         "--methods", flags->methods,
         "Methods to run, e.g. sendfile,splice,read_write; memory-socket also has write, vmsplice, "
         "msg_zerocopy and send_zc (default: all that apply)")
      ->delimiter(',');
  sub->add_option("--message-sizes", flags->message_sizes,
                  "Bytes per send for the memory-socket write, msg_zerocopy and send_zc rows, one "
                  "row per size (default: 4K,64K,1M); the copied/zc column counts zero-copy sends "
                  "the kernel copied anyway")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 30))
      ->delimiter(',');
  sub->add_option("--dir", flags->directory, "Directory for the files (default: $TMPDIR or /tmp)");
  sub->add_option("--json", flags->json, "Write the report as JSON to FILE ('-': stdout only)");
  sub->add_option("--csv", flags->csv, "Write one CSV row per path and method to FILE");
  sub->add_option("--html", flags->html,
                  "Write a self-contained HTML page (summary, charts, tables) to FILE");
  sub->callback([flags, &run] { run = [flags] { return run_bench(*flags); }; });
}

}  // namespace zcopy::cli
