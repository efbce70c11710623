// zcopy: one binary, one subcommand per job.
#include <fmt/core.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "subcommands.hpp"

namespace zcopy::cli {

void report_error(std::string_view what, std::string_view path, const std::error_code& ec) {
  fmt::print(stderr, "zcopy: {} '{}': {}\n", what, path, ec.message());
}

void report_error(std::string_view what, std::string_view message) {
  fmt::print(stderr, "zcopy: {}: {}\n", what, message);
}

}  // namespace zcopy::cli

int main(int argc, char** argv) {
  // A peer that goes away must be an EPIPE to report, not a signal that kills the tool.
  ::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"zcopy: move bytes on Linux without needless CPU copies"};
  app.set_version_flag("-V,--version", std::string("zcopy ") + ZCOPY_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);

  zcopy::cli::action run;
  zcopy::cli::register_serve(app, run);
  zcopy::cli::register_probe(app, run);
  zcopy::cli::register_cp(app, run);
  zcopy::cli::register_relay(app, run);
  zcopy::cli::register_get(app, run);
  zcopy::cli::register_gpu(app, run);
  std::string command_line = "zcopy";
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
  zcopy::cli::register_bench(app, run, command_line);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "zcopy: {}\nRun 'zcopy --help' for usage.\n", e.what());
    return 2;
  }
  return run ? run() : 2;
}
