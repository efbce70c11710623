// zcopy gpu: files into GPU memory (zcopy/gpu.hpp).
//   inspect FILE   the tensor table of a safetensors file and how much of its data section the
//                  page cache holds (host only: works in any build).
//   load FILE      one load with a chosen method; prints the method that moved the bytes and
//                  GB/s, optionally checks the device's checksum against the file's.
//   bench FILE     every method, warm and cold page cache, rounds interleaved, medians.
// load and bench need the CUDA build (ZCOPY_WITH_CUDA) and a device; without them they say so
// and exit 1.
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/gpu_bench.hpp"
#include "subcommands.hpp"
#include "sys/sys.hpp"
#include "zcopy/fd.hpp"
#include "zcopy/gpu.hpp"
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

// ---- load and bench -----------------------------------------------------------------------

struct load_flags {
  std::string path;
  std::string method = "auto";
  int device = 0;
  std::optional<std::uint64_t> offset;
  std::optional<std::uint64_t> length;
  std::uint64_t chunk_size = gpu::load_options{}.chunk_size;
  unsigned threads = 0;
  unsigned register_threads = 2;
  std::string direct = "auto";
  bool verify = false;
  bool json = false;
  bool raw = false;
};

gpu::load_options options_of(const load_flags& f) {
  gpu::load_options o;
  o.method = gpu::parse_load_method(f.method).value_or(gpu::load_method::automatic);
  o.device = f.device;
  o.chunk_size = f.chunk_size;
  o.threads = f.threads;
  o.register_threads = f.register_threads;
  o.direct = f.direct == "always"  ? gpu::direct_io::always
             : f.direct == "never" ? gpu::direct_io::never
                                   : gpu::direct_io::automatic;
  return o;
}

// Whether a device is usable; otherwise the reason, said the way a user can act on it.
std::optional<std::string> gpu_missing() {
  if (!gpu::built_with_cuda()) {
    return "this zcopy was built without CUDA (configure with -DZCOPY_WITH_CUDA=ON on a machine "
           "with the CUDA toolkit)";
  }
  if (auto n = gpu::device_count(); !n) return n.error().message();
  return std::nullopt;
}

bool checkpoint_mode(const load_flags& f) {
  return !f.raw && f.path.size() > 12 && f.path.ends_with(".safetensors");
}

struct load_outcome {
  gpu::load_report report;
  std::optional<std::size_t> tensors;
  std::optional<bool> verified;
  std::uint64_t device_sum = 0;
  std::uint64_t file_sum = 0;
};

// The device checksum of what was loaded against the file's own.
std::expected<void, std::string> verify_into(load_outcome& out, int fd, std::uint64_t offset,
                                             std::uint64_t length, const void* device_data,
                                             int device) {
  auto on_device = gpu::device_checksum(device_data, length, device);
  if (!on_device) return std::unexpected("device checksum: " + on_device.error().message());
  auto in_file = gpu::file_checksum(fd, offset, length);
  if (!in_file) return std::unexpected("file checksum: " + in_file.error().message());
  out.device_sum = *on_device;
  out.file_sum = *in_file;
  out.verified = *on_device == *in_file;
  return {};
}

std::expected<load_outcome, std::string> load_once(const load_flags& f,
                                                   const gpu::load_options& options) {
  auto fd = unique_fd::open(f.path.c_str(), O_RDONLY);
  if (!fd) return std::unexpected(fd.error().message());
  load_outcome out;
  if (checkpoint_mode(f)) {
    auto checkpoint = gpu::load_safetensors(fd->get(), options);
    if (!checkpoint) return std::unexpected(checkpoint.error().message);
    out.report = checkpoint->report;
    out.tensors = checkpoint->tensors.size();
    if (f.verify) {
      if (auto r = verify_into(out, fd->get(), checkpoint->index.data_offset,
                               checkpoint->index.data_size, checkpoint->storage.data(), f.device);
          !r) {
        return std::unexpected(r.error());
      }
    }
    return out;
  }
  auto st = sys::fstat(fd->get());
  if (!st) return std::unexpected(st.error().message());
  if (!S_ISREG(st->st_mode)) return std::unexpected(std::string("not a regular file"));
  const auto size = static_cast<std::uint64_t>(st->st_size);
  const std::uint64_t offset = f.offset.value_or(0);
  if (offset > size)
    return std::unexpected(fmt::format("--offset {} is past the end ({} bytes)", offset, size));
  const std::uint64_t length = f.length.value_or(size - offset);
  if (length > size - offset) {
    return std::unexpected(
        fmt::format("--length {} runs past the end of the file ({} bytes from offset {})", length,
                    size - offset, offset));
  }
  auto buffer = gpu::device_buffer::allocate(static_cast<std::size_t>(length), f.device);
  if (!buffer)
    return std::unexpected("device allocation of " + std::to_string(length) +
                           " bytes: " + buffer.error().message());
  auto report = gpu::load(fd->get(), offset, length, buffer->data(), options);
  if (!report) return std::unexpected(report.error().message());
  out.report = *report;
  if (f.verify) {
    if (auto r = verify_into(out, fd->get(), offset, length, buffer->data(), f.device); !r) {
      return std::unexpected(r.error());
    }
  }
  return out;
}

double gb_per_s(std::uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0.0;
}

int run_load(const load_flags& f) {
  const auto fail = [&](std::string_view message) {
    fmt::print(stderr, "zcopy: gpu load '{}': {}\n", f.path, message);
    return 1;
  };
  if (checkpoint_mode(f) && (f.offset || f.length)) {
    return fail(
        "--offset and --length apply to raw loads: add --raw to load a byte range of a "
        "safetensors file");
  }
  if (auto missing = gpu_missing()) return fail(*missing);
  auto out = load_once(f, options_of(f));
  if (!out) return fail(out.error());
  const gpu::load_report& r = out->report;
  if (f.json) {
    nlohmann::json j = {
        {"file", f.path},
        {"method", std::string(gpu::to_string(r.method))},
        {"bytes", r.bytes},
        {"seconds", r.seconds},
        {"gb_per_s", gb_per_s(r.bytes, r.seconds)},
        {"resident_fraction", r.resident_fraction},
        {"direct", r.direct},
        {"threads", r.threads},
        {"device", f.device},
        {"fallbacks", r.fallbacks},
        {"tensors", out->tensors ? nlohmann::json(*out->tensors) : nlohmann::json(nullptr)},
        {"verified", out->verified ? nlohmann::json(*out->verified) : nlohmann::json(nullptr)},
    };
    if (out->verified) {
      j["device_checksum"] = fmt::format("{:016x}", out->device_sum);
      j["file_checksum"] = fmt::format("{:016x}", out->file_sum);
    }
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("{}: {} bytes in {:.4f} s, {:.2f} GB/s by {} ({} thread{}{}){}\n", f.path, r.bytes,
               r.seconds, gb_per_s(r.bytes, r.seconds), gpu::to_string(r.method), r.threads,
               r.threads == 1 ? "" : "s", r.direct ? ", O_DIRECT" : "",
               out->tensors ? fmt::format(", {} tensors", *out->tensors) : std::string());
    if (r.resident_fraction >= 0) {
      fmt::print("page cache before the load: {:.1f}% of the range resident\n",
                 100.0 * r.resident_fraction);
    }
    for (const auto& why : r.fallbacks) fmt::print("fallback: {}\n", why);
    if (out->verified) {
      fmt::print("checksum: device {:016x}, file {:016x}: {}\n", out->device_sum, out->file_sum,
                 *out->verified ? "match" : "MISMATCH");
    }
  }
  if (out->verified && !*out->verified) {
    fmt::print(stderr, "zcopy: gpu load '{}': the device holds different bytes than the file\n",
               f.path);
    return 1;
  }
  return 0;
}

struct bench_flags {
  load_flags load;
  std::vector<std::string> methods{"auto", "registered", "bounce", "naive"};
  std::vector<std::string> caches{"warm", "cold"};
  unsigned rounds = 3;
};

int run_bench(const bench_flags& b) {
  const load_flags& f = b.load;
  const auto fail = [&](std::string_view message) {
    fmt::print(stderr, "zcopy: gpu bench '{}': {}\n", f.path, message);
    return 1;
  };
  bench::gpu_bench_config config;
  config.methods.clear();
  for (const auto& m : b.methods) config.methods.push_back(*gpu::parse_load_method(m));
  config.warm.clear();
  for (const auto& c : b.caches) config.warm.push_back(c == "warm");
  config.rounds = b.rounds;
  config.load = options_of(f);
  config.offset = f.offset.value_or(0);
  config.length = f.length;
  if (auto missing = gpu_missing()) return fail(*missing);
  auto fd = unique_fd::open(f.path.c_str(), O_RDONLY);
  if (!fd) return fail(fd.error().message());
  auto report = bench::run_gpu(fd->get(), config);
  if (!report) return fail(report.error().message());
  const std::uint64_t length = report->bytes;

  const auto ran_as_text = [](const bench::gpu_bench_cell& c) {
    std::string text;
    for (const auto& [name, count] : c.ran_as) text += (text.empty() ? "" : ",") + name;
    return text;
  };
  const auto rates = [length](const bench::gpu_bench_cell& c) {
    std::vector<double> v;
    for (double sec : c.seconds) v.push_back(gb_per_s(length, sec));
    return bench::stat_of(std::move(v));
  };
  if (b.load.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& c : report->cells) {
      const auto median_seconds = bench::stat_of(c.seconds).median;
      const auto r = rates(c);
      rows.push_back({{"method", std::string(gpu::to_string(c.method))},
                      {"cache", c.warm ? "warm" : "cold"},
                      {"ran_as", ran_as_text(c)},
                      {"seconds", c.seconds},
                      {"median_seconds", median_seconds},
                      {"median_gb_per_s", gb_per_s(length, median_seconds)},
                      {"min_gb_per_s", r.min},
                      {"max_gb_per_s", r.max},
                      {"resident_before", c.resident},
                      {"fallbacks", c.fallbacks},
                      {"verified", c.verified}});
    }
    fmt::print("{}\n", nlohmann::json{{"file", f.path},
                                      {"offset", report->offset},
                                      {"bytes", length},
                                      {"device", f.device},
                                      {"rounds", b.rounds},
                                      {"results", rows}}
                           .dump(2));
  } else {
    fmt::print("zcopy gpu bench: {} bytes of {} into device {}, {} round{} (medians)\n", length,
               f.path, f.device, b.rounds, b.rounds == 1 ? "" : "s");
    fmt::print("{:<11} {:<5} {:<18} {:>9} {:>9} {:>9} {:>9} {:>7}  {}\n", "method", "cache",
               "ran as", "seconds", "GB/s", "min GB/s", "max GB/s", "cached", "verified");
    for (const auto& c : report->cells) {
      const auto median_seconds = bench::stat_of(c.seconds).median;
      const auto r = rates(c);
      fmt::print("{:<11} {:<5} {:<18} {:>9.4f} {:>9.2f} {:>9.2f} {:>9.2f} {:>6.0f}%  {}\n",
                 gpu::to_string(c.method), c.warm ? "warm" : "cold", ran_as_text(c), median_seconds,
                 gb_per_s(length, median_seconds), r.min, r.max,
                 100.0 * bench::stat_of(c.resident).median, c.verified ? "yes" : "NO");
    }
    for (const auto& c : report->cells) {
      for (const auto& why : c.fallbacks) {
        fmt::print("{} ({}): fallback: {}\n", gpu::to_string(c.method), c.warm ? "warm" : "cold",
                   why);
      }
    }
  }
  if (!report->all_verified()) {
    fmt::print(stderr, "zcopy: gpu bench '{}': a method left different bytes on the device\n",
               f.path);
    return 1;
  }
  return 0;
}

void add_load_options(CLI::App* cmd, load_flags& f) {
  cmd->add_option("--device", f.device, "CUDA device number")->check(CLI::NonNegativeNumber);
  cmd->add_option("--offset", f.offset, "first byte of the range (raw loads)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--length", f.length, "bytes to load (raw loads; default: to the end)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--chunk-size", f.chunk_size,
                  "bytes registered per step (bounce buffers: a quarter)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(std::uint64_t{4096}, std::uint64_t{1} << 32));
  cmd->add_option("--threads", f.threads,
                  "threads that register or read (0: one per CPU, at most 8)")
      ->check(CLI::Range(0u, 256u));
  cmd->add_option("--register-threads", f.register_threads,
                  "registered: threads that register (the others copy through bounce buffers)")
      ->check(CLI::Range(1u, 256u));
  cmd->add_option("--direct", f.direct,
                  "O_DIRECT reads for bounce: auto (when not cached), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->add_flag("--raw", f.raw, "treat a .safetensors file as plain bytes");
  cmd->add_flag("--json", f.json, "print one JSON object");
}

}  // namespace

void register_gpu(CLI::App& app, action& run) {
  auto* gpu = app.add_subcommand("gpu", "Files into GPU memory (load and bench need a CUDA build)");
  gpu->require_subcommand(1);
  auto flags = std::make_shared<inspect_flags>();
  auto* inspect = gpu->add_subcommand(
      "inspect", "Print a safetensors file's tensors, metadata and page-cache residency");
  inspect->add_option("FILE", flags->path, "safetensors file")->required();
  inspect->add_flag("--json", flags->json, "print one JSON object");
  inspect->callback([flags, &run] { run = [flags] { return run_inspect(*flags); }; });

  auto lf = std::make_shared<load_flags>();
  auto* load = gpu->add_subcommand(
      "load",
      "Load a file (or a range, or a safetensors checkpoint) into GPU memory; print the "
      "method and GB/s");
  load->add_option("FILE", lf->path, "file to load (.safetensors: every tensor, one allocation)")
      ->required();
  load->add_option("--method", lf->method, "auto, registered, bounce, cufile or naive")
      ->check(CLI::IsMember({"auto", "registered", "bounce", "cufile", "naive"}));
  load->add_flag("--verify", lf->verify, "compare a device-side checksum with the file's");
  add_load_options(load, *lf);
  load->callback([lf, &run] { run = [lf] { return run_load(*lf); }; });

  auto bf = std::make_shared<bench_flags>();
  auto* bench = gpu->add_subcommand(
      "bench", "Compare every load method, warm and cold page cache, in interleaved rounds");
  bench->add_option("FILE", bf->load.path, "file to load (loaded as plain bytes)")->required();
  bench->add_option("--methods", bf->methods, "methods to compare")
      ->delimiter(',')
      ->check(CLI::IsMember({"auto", "registered", "bounce", "cufile", "naive"}));
  bench->add_option("--caches", bf->caches, "page-cache states: warm, cold")
      ->delimiter(',')
      ->check(CLI::IsMember({"warm", "cold"}));
  bench->add_option("--rounds", bf->rounds, "rounds (each runs every method once per cache state)")
      ->check(CLI::Range(1u, 100u));
  add_load_options(bench, bf->load);
  bench->callback([bf, &run] {
    bf->load.raw = true;
    run = [bf] { return run_bench(*bf); };
  });
}

}  // namespace zcopy::cli
