// Names of the load methods and the checkpoint helpers of zcopy/gpu.hpp: the same with or without
// CUDA (without it, load_safetensors stops at the allocation with errc::gpu_unavailable).
#include <fcntl.h>

#include <array>
#include <utility>

#include "zcopy/fd.hpp"
#include "zcopy/gpu.hpp"

namespace zcopy::gpu {
namespace {

constexpr std::array<std::pair<load_method, std::string_view>, 5> method_names{{
    {load_method::automatic, "auto"},
    {load_method::registered, "registered"},
    {load_method::bounce, "bounce"},
    {load_method::cufile, "cufile"},
    {load_method::naive, "naive"},
}};

}  // namespace

std::string_view to_string(load_method method) noexcept {
  for (const auto& [m, name] : method_names) {
    if (m == method) return name;
  }
  return "unknown";
}

std::optional<load_method> parse_load_method(std::string_view name) noexcept {
  for (const auto& [m, n] : method_names) {
    if (n == name) return m;
  }
  return std::nullopt;
}

const device_tensor* device_checkpoint::find(std::string_view name) const noexcept {
  for (const device_tensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::expected<device_checkpoint, safetensors_error> load_safetensors(
    const std::filesystem::path& path, const load_options& options) {
  auto fd = unique_fd::open(path.c_str(), O_RDONLY);
  if (!fd) return std::unexpected(safetensors_error{fd.error(), fd.error().message()});
  return load_safetensors(fd->get(), options);
}

std::expected<device_checkpoint, safetensors_error> load_safetensors(int fd,
                                                                     const load_options& options) {
  const auto fail = [](std::error_code code, std::string message) {
    return std::unexpected(safetensors_error{code, std::move(message)});
  };
  auto index = read_safetensors_index(fd);
  if (!index) return std::unexpected(index.error());
  device_checkpoint checkpoint;
  auto storage =
      device_buffer::allocate(static_cast<std::size_t>(index->data_size), options.device);
  if (!storage) {
    return fail(storage.error(), "allocating the data section: " + storage.error().message());
  }
  checkpoint.storage = std::move(*storage);
  auto report = load(fd, index->data_offset, index->data_size, checkpoint.storage.data(), options);
  if (!report) return fail(report.error(), "loading the data section: " + report.error().message());
  checkpoint.report = std::move(*report);
  auto* base = static_cast<std::byte*>(checkpoint.storage.data());
  checkpoint.tensors.reserve(index->tensors.size());
  for (const tensor_info& t : index->tensors) {
    checkpoint.tensors.push_back(device_tensor{
        .name = t.name,
        .dtype = t.dtype,
        .shape = t.shape,
        .data = base + (t.offset - index->data_offset),
        .size = t.size,
    });
  }
  checkpoint.index = std::move(*index);
  return checkpoint;
}

}  // namespace zcopy::gpu
