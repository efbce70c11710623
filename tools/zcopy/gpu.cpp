// zcopy gpu inspect FILE [--json]: the tensor table of a safetensors file (zcopy/safetensors.hpp)
// and how much of its data section the page cache holds (zcopy/gpu_plan.hpp). The loaders that
// move the tensors into GPU memory need the CUDA build (ZCOPY_WITH_CUDA) and are not here.
#include <fcntl.h>
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "subcommands.hpp"
#include "zcopy/fd.hpp"
#include "zcopy/gpu_plan.hpp"
#include "zcopy/safetensors.hpp"

namespace zcopy::cli {
namespace {

struct inspect_flags {
  std::string path;
  bool json = false;
};

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

void print_json(const inspect_flags& flags, const safetensors_index& index,
                const page_residency& cached) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : index.tensors) {
    tensors.push_back({{"name", t.name},
                       {"dtype", std::string(to_string(t.dtype))},
                       {"shape", t.shape},
                       {"offset", t.offset},
                       {"size", t.size}});
  }
  nlohmann::json metadata = nlohmann::json::object();
  for (const auto& [key, value] : index.metadata) metadata[key] = value;
  const nlohmann::json out = {
      {"file", flags.path},
      {"header_size", index.header_size},
      {"data_offset", index.data_offset},
      {"data_size", index.data_size},
      {"tensor_count", index.tensors.size()},
      {"tensors", tensors},
      {"metadata", metadata},
      {"residency",
       {{"resident_pages", cached.resident_pages},
        {"total_pages", cached.total_pages},
        {"fraction", cached.fraction()}}},
  };
  fmt::print("{}\n", out.dump(2));
}

void print_table(const inspect_flags& flags, const safetensors_index& index,
                 const page_residency& cached) {
  fmt::print("file {}: header {} bytes, data section {} bytes at offset {}\n", flags.path,
             index.header_size, index.data_size, index.data_offset);
  std::size_t name_width = 4;
  for (const auto& t : index.tensors) name_width = std::max(name_width, t.name.size());
  fmt::print("{:<{}}  {:<8} {:<20} {:>14} {:>14}\n", "name", name_width, "dtype", "shape", "offset",
             "size");
  for (const auto& t : index.tensors) {
    fmt::print("{:<{}}  {:<8} {:<20} {:>14} {:>14}\n", t.name, name_width, to_string(t.dtype),
               shape_text(t.shape), t.offset, t.size);
  }
  fmt::print("total {} tensor{}, {} bytes\n", index.tensors.size(),
             index.tensors.size() == 1 ? "" : "s", index.data_size);
  if (!index.metadata.empty()) {
    fmt::print("metadata:\n");
    for (const auto& [key, value] : index.metadata) fmt::print("  {}: {}\n", key, value);
  }
  fmt::print("page cache: {:.1f}% of the data section resident ({} of {} pages)\n",
             100.0 * cached.fraction(), cached.resident_pages, cached.total_pages);
}

int run_inspect(const inspect_flags& flags) {
  const auto fail = [&](std::string_view message) {
    fmt::print(stderr, "zcopy: gpu inspect '{}': {}\n", flags.path, message);
    return 1;
  };
  auto fd = unique_fd::open(flags.path.c_str(), O_RDONLY);
  if (!fd) return fail(fd.error().message());
  auto index = read_safetensors_index(fd->get());
  if (!index) return fail(index.error().message);
  auto cached = residency(fd->get(), index->data_offset, index->data_size);
  if (!cached) return fail("page-cache residency: " + cached.error().message());
  if (flags.json) {
    print_json(flags, *index, *cached);
  } else {
    print_table(flags, *index, *cached);
  }
  return 0;
}

}  // namespace

void register_gpu(CLI::App& app, action& run) {
  auto* gpu = app.add_subcommand("gpu", "Files into GPU memory (the loaders need a CUDA build)");
  gpu->require_subcommand(1);
  auto flags = std::make_shared<inspect_flags>();
  auto* inspect = gpu->add_subcommand(
      "inspect", "Print a safetensors file's tensors, metadata and page-cache residency");
  inspect->add_option("FILE", flags->path, "safetensors file")->required();
  inspect->add_flag("--json", flags->json, "print one JSON object");
  inspect->callback([flags, &run] { run = [flags] { return run_inspect(*flags); }; });
}

}  // namespace zcopy::cli
