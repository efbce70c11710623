// Builds safetensors files for the tests: valid ones from tensor specs (laid out in the order
// given, the header padded with spaces to a multiple of 8 as the reference writer does), and
// arbitrary ones from a verbatim header text and data section.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zcopy::test {

struct tensor_spec {
  std::string name;
  std::string dtype;  // as the format spells it
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> data;
};

using metadata_list = std::vector<std::pair<std::string, std::string>>;

std::vector<std::byte> make_safetensors(const std::vector<tensor_spec>& tensors,
                                        const metadata_list& metadata = {});
// 8-byte little-endian length of `header`, `header`, `data`.
std::vector<std::byte> make_safetensors_raw(std::string_view header,
                                            std::span<const std::byte> data = {});
// Several tensors of several dtypes and shapes (a scalar, an empty one among them), filled with
// random bytes from `seed`.
std::vector<tensor_spec> random_tensors(std::uint64_t seed);

}  // namespace zcopy::test
