// Arbitrary bytes as a whole safetensors file. Whatever the input, parse_safetensors either
// refuses it or returns an index whose tensors lie inside the data section, tile it in order
// without overlap or hole, and have exactly dtype size x element count bytes each.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_support.hpp"
#include "zcopy/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  const auto index = zcopy::parse_safetensors(bytes, size);
  if (!index) {
    ZCOPY_FUZZ_CHECK(!index.error().message.empty());
    return 0;
  }
  ZCOPY_FUZZ_CHECK(index->data_offset == 8 + index->header_size);
  ZCOPY_FUZZ_CHECK(index->data_offset + index->data_size == size);
  std::uint64_t next = index->data_offset;
  for (const auto& t : index->tensors) {
    ZCOPY_FUZZ_CHECK(t.offset == next);  // sorted, no overlap, no hole
    ZCOPY_FUZZ_CHECK(t.offset >= index->data_offset && t.offset + t.size <= size);
    std::uint64_t expected = zcopy::dtype_size(t.dtype);
    for (const auto dim : t.shape) expected *= dim;  // cannot overflow: the parser checked
    ZCOPY_FUZZ_CHECK(expected == t.size);
    next = t.offset + t.size;
  }
  ZCOPY_FUZZ_CHECK(next == size);
  return 0;
}
