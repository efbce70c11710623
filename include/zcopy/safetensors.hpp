// safetensors: the index of a safetensors file (tensor names, types, shapes and where their bytes
// lie), read and checked before any byte of tensor data is moved.
//
// A safetensors file (huggingface/safetensors) is an 8-byte little-endian length N, N bytes of
// JSON that describe the tensors, then the data section: every tensor's bytes, back to back, at
// offsets relative to the section's start (byte 8 + N). Loaders that move those bytes into GPU
// memory (by registration of a mapping or through bounce buffers) need the absolute offset and
// size of each tensor, and need them to be trustworthy: this reader validates the whole header
// (types, shapes against sizes, bounds, no overlap, no hole, unique names) and reports the first
// broken rule with the tensor it concerns. The index owns plain values only; nothing here keeps
// the file open or mapped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace zcopy {

// The element types of the format, spelled as the format spells them ("F32", "BF16", ...).
enum class tensor_dtype : std::uint8_t {
  boolean,  // BOOL
  u8,
  i8,
  f8_e4m3,
  f8_e5m2,
  i16,
  u16,
  f16,
  bf16,
  i32,
  u32,
  f32,
  i64,
  u64,
  f64,
};

// Bytes per element (BOOL takes one byte).
std::size_t dtype_size(tensor_dtype dtype) noexcept;
// The format's name of the type ("F8_E4M3").
std::string_view to_string(tensor_dtype dtype) noexcept;
// The type named `name` exactly as the format spells it; nothing for an unknown name.
std::optional<tensor_dtype> parse_dtype(std::string_view name) noexcept;

// The longest JSON header read_safetensors_index accepts: a bound on what a hostile length
// prefix can make it allocate (the reference implementation's bound is 100,000,000 bytes).
inline constexpr std::uint64_t safetensors_max_header_size = std::uint64_t{100} << 20;

struct tensor_info {
  std::string name;
  tensor_dtype dtype = tensor_dtype::u8;
  std::vector<std::uint64_t> shape;  // empty: a scalar (one element)
  std::uint64_t offset = 0;          // absolute, in the file
  std::uint64_t size = 0;            // bytes: elements x dtype_size
};

struct safetensors_index {
  std::uint64_t header_size = 0;     // N, the JSON's length
  std::uint64_t data_offset = 0;     // 8 + N
  std::uint64_t data_size = 0;       // file size - data_offset
  std::vector<tensor_info> tensors;  // in file order (by offset; zero-size ties by name)
  std::vector<std::pair<std::string, std::string>> metadata;  // "__metadata__", sorted by key
};

// Why a file was refused: errc::malformed_safetensors for a broken header, an errno for an I/O
// failure; `message` names the rule and the tensor ("tensor 'w': shape [2, 3] of F32 is 24
// bytes, data_offsets span 20").
struct safetensors_error {
  std::error_code code;
  std::string message;
};

// How many bytes of the file parse_safetensors needs (8 + N), from its first 8 bytes (`first8`
// holds at least 8) and its size. Fails when the file is shorter than 8 bytes, when N runs past
// the end of the file, or when N exceeds safetensors_max_header_size.
std::expected<std::uint64_t, safetensors_error> safetensors_header_bytes(
    std::span<const std::byte> first8, std::uint64_t file_size);

// Parses and validates the header. `head` starts at the file's first byte and holds at least the
// 8 + N bytes that safetensors_header_bytes names; `file_size` is the whole file's size.
std::expected<safetensors_index, safetensors_error> parse_safetensors(
    std::span<const std::byte> head, std::uint64_t file_size);

// Reads (pread, bounded as above) and parses the header of the file open at `fd` / at `path`.
std::expected<safetensors_index, safetensors_error> read_safetensors_index(int fd);
std::expected<safetensors_index, safetensors_error> read_safetensors_index(
    const std::filesystem::path& path);

}  // namespace zcopy
