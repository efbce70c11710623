#include "gpu/safetensors_writer.hpp"

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace zcopy::test {

std::vector<std::byte> make_safetensors_raw(std::string_view header,
                                            std::span<const std::byte> data) {
  std::vector<std::byte> file;
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) file.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xff));
  for (const char c : header) file.push_back(static_cast<std::byte>(c));
  file.insert(file.end(), data.begin(), data.end());
  return file;
}

std::vector<std::byte> make_safetensors(const std::vector<tensor_spec>& tensors,
                                        const metadata_list& metadata) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<std::byte> data;
  for (const auto& t : tensors) {
    const auto begin = data.size();
    data.insert(data.end(), t.data.begin(), t.data.end());
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  if (!metadata.empty()) {
    nlohmann::json m = nlohmann::json::object();
    for (const auto& [key, value] : metadata) m[key] = value;
    header["__metadata__"] = m;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return make_safetensors_raw(text, data);
}

std::vector<tensor_spec> random_tensors(std::uint64_t seed) {
  struct shape_of {
    const char* name;
    const char* dtype;
    std::size_t element_size;
    std::vector<std::uint64_t> shape;
  };
  const std::vector<shape_of> shapes = {
      {"model.embed.weight", "BF16", 2, {33, 17}},
      {"model.layers.0.attn.q", "F32", 4, {8, 4, 3}},
      {"model.layers.0.norm", "F16", 2, {129}},
      {"step", "I64", 8, {}},  // a scalar
      {"mask", "BOOL", 1, {5, 7}},
      {"empty", "F32", 4, {0, 16}},
      {"quant.scale", "F8_E4M3", 1, {1000}},
      {"ids", "U32", 4, {3, 3}},
      {"doubles", "F64", 8, {11}},
      {"bytes", "U8", 1, {4097}},
  };
  std::vector<tensor_spec> out;
  std::uint64_t k = 0;
  for (const auto& s : shapes) {
    std::uint64_t n = s.element_size;
    for (auto d : s.shape) n *= d;
    // random_bytes promises no all-zero run from 16 bytes up: pad short tensors' generation.
    auto bytes = random_bytes(std::max<std::size_t>(n, 16), seed + ++k);
    bytes.resize(n);
    out.push_back({s.name, s.dtype, s.shape, std::move(bytes)});
  }
  return out;
}

}  // namespace zcopy::test
