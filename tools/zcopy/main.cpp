// zcopy: one binary, one subcommand per job.
#include <fmt/core.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <string_view>

#include "subcommands.hpp"
#include "sys/sys.hpp"

namespace zcopy::cli {

void report_error(std::string_view what, std::string_view path, const std::error_code& ec) {
  fmt::print(stderr, "zcopy: {} '{}': {}\n", what, path, ec.message());
}

void report_error(std::string_view what, std::string_view message) {
  fmt::print(stderr, "zcopy: {}: {}\n", what, message);
}

std::string method_names(const std::vector<method>& allowed) {
  std::string names = "auto";
  for (method m : allowed) {
    names += ", ";
    names += to_string(m);
  }
  return names;
}

CLI::Validator method_choice(std::vector<method> allowed) {
  const std::string names = method_names(allowed);
  return CLI::Validator(
      [allowed = std::move(allowed), names](std::string& value) -> std::string {
        const auto m = parse_method(value);
        if (m && (*m == method::automatic ||
                  std::find(allowed.begin(), allowed.end(), *m) != allowed.end())) {
          value = std::string(to_string(*m));
          return {};
        }
        return "unknown method '" + value + "' (" + names + ")";
      },
      "METHOD");
}

}  // namespace zcopy::cli

int main(int argc, char** argv) {
  // A peer that goes away must be an EPIPE to report, not a signal that kills the tool.
  (void)zcopy::sys::ignore_sigpipe();

  CLI::App app{"zcopy: move bytes on Linux without needless CPU copies"};
  app.set_version_flag("-V,--version", std::string("zcopy ") + ZCOPY_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);

  zcopy::cli::action run;
  std::string command_line = "zcopy";
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
  using register_fn = void (*)(CLI::App&, zcopy::cli::action&, const std::string&);
  const std::array<std::pair<std::string_view, register_fn>, 7> subcommands{{
      {"serve", [](CLI::App& a, auto& r, const auto&) { zcopy::cli::register_serve(a, r); }},
      {"probe", [](CLI::App& a, auto& r, const auto&) { zcopy::cli::register_probe(a, r); }},
      {"cp", [](CLI::App& a, auto& r, const auto&) { zcopy::cli::register_cp(a, r); }},
      {"relay", [](CLI::App& a, auto& r, const auto&) { zcopy::cli::register_relay(a, r); }},
      {"get", [](CLI::App& a, auto& r, const auto&) { zcopy::cli::register_get(a, r); }},
      {"gpu", [](CLI::App& a, auto& r, const auto&) { zcopy::cli::register_gpu(a, r); }},
      {"bench",
       [](CLI::App& a, auto& r, const auto& line) { zcopy::cli::register_bench(a, r, line); }},
  }};
  // Building every subcommand's options costs more than a small copy does (CLI11 makes a
  // validator object per option: half of `zcopy cp`'s user-space start-up). When the first
  // argument names a subcommand only that one is built; anything else (--help, a typo) builds
  // them all, so the listing and the error messages are the full ones.
  const std::string_view first = argc > 1 ? std::string_view(argv[1]) : std::string_view();
  bool named = false;
  for (const auto& [name, add] : subcommands) {
    if (name == first) {
      add(app, run, command_line);
      named = true;
    }
  }
  if (!named) {
    for (const auto& [name, add] : subcommands) add(app, run, command_line);
  }

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
