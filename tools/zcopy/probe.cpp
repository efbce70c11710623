// zcopy probe [PATH] [--json] [--size N]: which mechanisms work here, and what a directory's
// filesystem supports. The work is done by the library (zcopy/probe.hpp); this file prints it.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "subcommands.hpp"
#include "zcopy/gpu.hpp"
#include "zcopy/probe.hpp"

namespace zcopy::cli {
namespace {

struct probe_flags {
  std::string path;  // empty: the temporary directory
  bool json = false;
  std::uint64_t size = probe_options{}.size;
};

std::string temp_directory() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? std::string(tmp) : std::string("/tmp");
}

std::string reason_text(const std::error_code& ec) {
  return ec ? ec.message() : "-";
}

bool moved(const probe_entry& e) {
  return e.outcome == probe_outcome::works || e.outcome == probe_outcome::falls_back;
}

nlohmann::json reason_json(const std::error_code& ec) {
  if (!ec) return nullptr;
  return {{"category", ec.category().name()}, {"value", ec.value()}, {"message", ec.message()}};
}

nlohmann::json entry_json(const probe_entry& e) {
  return {
      {"pair", e.pair},
      {"method", std::string(to_string(e.tried))},
      {"outcome", std::string(to_string(e.outcome))},
      {"moved_by", moved(e) ? nlohmann::json(std::string(to_string(e.moved_by))) : nullptr},
      {"reason", reason_json(e.reason)},
      {"bytes", e.bytes},
      {"syscalls", e.syscalls},
  };
}

nlohmann::json path_json(const path_report& r) {
  return {
      {"path", r.path},
      {"filesystem", r.filesystem},
      {"filesystem_magic", fmt::format("{:#x}", r.filesystem_magic)},
      {"reflink", {{"works", r.reflink}, {"reason", reason_json(r.reflink_reason)}}},
      {"copy_file_range",
       {{"works", r.copy_file_range}, {"reason", reason_json(r.copy_file_range_reason)}}},
      {"direct_io",
       {{"works", r.direct_io},
        {"reason", reason_json(r.direct_io_reason)},
        {"memory_alignment", r.direct_io_memory_alignment},
        {"offset_alignment", r.direct_io_offset_alignment}}},
  };
}

std::string yes_no(bool works, const std::error_code& reason) {
  if (works) return "yes";
  return reason ? fmt::format("no ({})", reason.message()) : "no";
}

void print_path_report(const path_report& r) {
  fmt::print("path {}\n", r.path);
  fmt::print("  {:<16} {} ({:#x})\n", "filesystem", r.filesystem, r.filesystem_magic);
  fmt::print("  {:<16} {}\n", "reflink", yes_no(r.reflink, r.reflink_reason));
  fmt::print("  {:<16} {}\n", "copy_file_range",
             yes_no(r.copy_file_range, r.copy_file_range_reason));
  std::string direct = yes_no(r.direct_io, r.direct_io_reason);
  if (r.direct_io_memory_alignment != 0) {
    direct += fmt::format(", memory alignment {}, offset alignment {}",
                          r.direct_io_memory_alignment, r.direct_io_offset_alignment);
  }
  fmt::print("  {:<16} {}\n", "O_DIRECT", direct);
}

void print_table(const std::vector<probe_entry>& entries) {
  using row = std::array<std::string, 6>;
  std::vector<row> rows;
  rows.push_back({"pair", "method", "outcome", "moved-by", "reason", "syscalls"});
  for (const auto& e : entries) {
    rows.push_back({e.pair, std::string(to_string(e.tried)), std::string(to_string(e.outcome)),
                    moved(e) ? std::string(to_string(e.moved_by)) : "-", reason_text(e.reason),
                    moved(e) ? std::to_string(e.syscalls) : "-"});
  }
  std::array<std::size_t, 6> width{};
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (std::size_t n = 0; n < rows.size(); ++n) {
    // A blank line between pairs: each group reads as one block.
    if (n > 1 && rows[n][0] != rows[n - 1][0]) fmt::print("\n");
    const row& r = rows[n];
    fmt::print("{:<{}}  {:<{}}  {:<{}}  {:<{}}  {:<{}}  {:>{}}\n", r[0], width[0], r[1], width[1],
               r[2], width[2], r[3], width[3], r[4], width[4], r[5], width[5]);
  }
}

int run_probe(const probe_flags& flags) {
  const std::string directory = flags.path.empty() ? temp_directory() : flags.path;
  auto report = probe_path(directory);
  if (!report) {
    report_error("probe", directory, report.error());
    return 1;
  }
  probe_options options;
  options.directory = report->path;  // the directory itself when PATH names a file
  options.size = flags.size;
  auto entries = probe_mechanisms(options);
  if (!entries) {
    report_error("probe", report->path, entries.error());
    return 1;
  }
  const std::string release = kernel_release();
  const std::error_code uring = io_uring_status();
  const std::vector<uring_op_report> uring_ops = io_uring_ops();
  const auto gpus = gpu::device_count();
  const std::string gpu_text = !gpu::built_with_cuda() ? "not built (ZCOPY_WITH_CUDA off)"
                               : gpus
                                   ? fmt::format("{} CUDA device{}", *gpus, *gpus == 1 ? "" : "s")
                                   : fmt::format("unavailable ({})", gpus.error().message());

  if (flags.json) {
    nlohmann::json ops = nlohmann::json::object();
    for (const auto& op : uring_ops) ops[op.name] = op.available;
    nlohmann::json out = {
        {"kernel", release},
        {"io_uring", {{"works", !uring}, {"reason", reason_json(uring)}, {"ops", ops}}},
        {"gpu",
         {{"built_with_cuda", gpu::built_with_cuda()},
          {"devices", gpus ? *gpus : 0},
          {"reason", gpus ? nlohmann::json(nullptr) : reason_json(gpus.error())}}},
        {"size", flags.size},
        {"mechanisms", nlohmann::json::array()},
        {"path", path_json(*report)},
    };
    for (const auto& e : *entries) out["mechanisms"].push_back(entry_json(e));
    fmt::print("{}\n", out.dump(2));
    return 0;
  }

  fmt::print("kernel    {}\n", release);
  fmt::print("io_uring  {}\n",
             uring ? fmt::format("unavailable ({})", uring.message()) : std::string("available"));
  if (!uring_ops.empty()) {
    fmt::print("  ops    ");
    for (const auto& op : uring_ops) fmt::print(" {} {}", op.name, op.available ? "yes" : "no");
    fmt::print("\n");
  }
  fmt::print("gpu       {}\n", gpu_text);
  fmt::print("size      {} bytes per trial\n\n", flags.size);
  print_table(*entries);
  fmt::print("\n");
  print_path_report(*report);
  return 0;
}

}  // namespace

void register_probe(CLI::App& app, action& run) {
  auto flags = std::make_shared<probe_flags>();
  CLI::App* sub = app.add_subcommand(
      "probe", "Try every transfer method on every kind of endpoint pair and report what works");
  sub->add_option("path", flags->path,
                  "Directory (or a file in it) to report on; the trials run there too "
                  "(default: $TMPDIR or /tmp)");
  sub->add_flag("--json", flags->json, "Print one JSON object instead of tables");
  sub->add_option("--size", flags->size, "Bytes per trial transfer (suffixes: K, M, G)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 30));
  sub->callback([flags, &run] { run = [flags] { return run_probe(*flags); }; });
}

}  // namespace zcopy::cli
