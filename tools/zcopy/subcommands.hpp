// The zcopy subcommands. Each file in tools/zcopy registers one with the CLI11 app and runs it;
// they stay thin: parse flags, call the library, print.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "zcopy/transfer.hpp"

namespace zcopy::cli {

// A subcommand's action returns the process exit status: 0 success, 1 runtime failure.
using action = std::function<int()>;

// Registers `zcopy probe`; `run` is set to its action when the subcommand is chosen.
void register_probe(CLI::App& app, action& run);
// Registers `zcopy bench`; `command_line` is recorded in its reports.
void register_bench(CLI::App& app, action& run, std::string command_line);

// Registers `zcopy cp`: files and trees copied as GNU cp copies them (zcopy/copy.hpp).
void register_cp(CLI::App& app, action& run);

// Registers `zcopy serve`.
void register_serve(CLI::App& app, action& run);

// Registers `zcopy relay`: a TCP relay that splices both ways (src/net/relay.hpp).
void register_relay(CLI::App& app, action& run);

// Registers `zcopy get`: an HTTP/1.1 download, the body spliced into the file (http/client.hpp).
void register_get(CLI::App& app, action& run);

// Registers `zcopy gpu inspect`: a safetensors file's tensor table and page-cache residency.
void register_gpu(CLI::App& app, action& run);

// A --method or --engine value: any spelling the library's parse_method() takes ("read_write",
// "read-write", "mmap"), limited to "auto" and `allowed`, and rewritten to the one spelling
// to_string() prints, so that every subcommand accepts and shows the same names.
CLI::Validator method_choice(std::vector<method> allowed);
// "auto, sendfile, splice" for help texts and errors.
std::string method_names(const std::vector<method>& allowed);

// Prints `zcopy: <what> '<path>': <reason>` (or without the path) to stderr.
void report_error(std::string_view what, std::string_view path, const std::error_code& ec);
void report_error(std::string_view what, std::string_view message);

}  // namespace zcopy::cli
