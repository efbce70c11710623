// The safetensors header reader (zcopy/safetensors.hpp).
//
// The rules follow the reference implementation (huggingface/safetensors, safetensors/src/
// tensor.rs: `read_metadata` and `Metadata::validate`): the tensors, sorted by their offsets, must
// tile the data section exactly. Each one starts where the previous one ended (a gap or an
// overlap is `InvalidOffset`), and the last one ends at the end of the file (trailing bytes are
// `MetadataIncompleteBuffer`). We keep both rules, and name the tensors at fault.
//
// Duplicate names: nlohmann's DOM keeps the last of two equal keys (serde_json in the reference
// does the same), which would silently drop a tensor. The parse callback below sees every key as
// it is read and refuses a repeated one at any depth.
#include "zcopy/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <set>

#include "sys/sys.hpp"
#include "zcopy/error.hpp"
#include "zcopy/fd.hpp"

namespace zcopy {
namespace {

using json = nlohmann::json;

constexpr std::array<std::pair<std::string_view, tensor_dtype>, 15> dtype_names = {{
    {"BOOL", tensor_dtype::boolean},
    {"U8", tensor_dtype::u8},
    {"I8", tensor_dtype::i8},
    {"F8_E4M3", tensor_dtype::f8_e4m3},
    {"F8_E5M2", tensor_dtype::f8_e5m2},
    {"I16", tensor_dtype::i16},
    {"U16", tensor_dtype::u16},
    {"F16", tensor_dtype::f16},
    {"BF16", tensor_dtype::bf16},
    {"I32", tensor_dtype::i32},
    {"U32", tensor_dtype::u32},
    {"F32", tensor_dtype::f32},
    {"I64", tensor_dtype::i64},
    {"U64", tensor_dtype::u64},
    {"F64", tensor_dtype::f64},
}};

std::unexpected<safetensors_error> malformed(std::string message) {
  return std::unexpected(safetensors_error{errc::malformed_safetensors, std::move(message)});
}

std::unexpected<safetensors_error> io_failure(std::error_code ec, std::string_view what) {
  return std::unexpected(safetensors_error{ec, std::string(what) + ": " + ec.message()});
}

std::string in_quotes(std::string_view name) {
  return "'" + std::string(name) + "'";
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

// Parses one tensor entry; `data_size` bounds its offsets.
std::expected<tensor_info, safetensors_error> parse_entry(const std::string& name,
                                                          const json& entry,
                                                          std::uint64_t data_offset,
                                                          std::uint64_t data_size) {
  const std::string who = "tensor " + in_quotes(name);
  if (!entry.is_object()) return malformed(who + ": entry is not a JSON object");
  for (const auto& [key, value] : entry.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return malformed(who + ": unexpected key " + in_quotes(key) +
                       " (an entry holds exactly dtype, shape and data_offsets)");
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) return malformed(who + ": missing " + in_quotes(key));
  }

  tensor_info t;
  t.name = name;
  const json& dtype = entry["dtype"];
  if (!dtype.is_string()) return malformed(who + ": dtype is not a string");
  const auto parsed = parse_dtype(dtype.get_ref<const std::string&>());
  if (!parsed) return malformed(who + ": unknown dtype " + in_quotes(dtype.get<std::string>()));
  t.dtype = *parsed;

  const json& shape = entry["shape"];
  if (!shape.is_array()) return malformed(who + ": shape is not an array");
  bool empty = false;
  for (const json& dim : shape) {
    // nlohmann stores a non-negative integer as number_unsigned, a negative one as
    // number_integer, anything with a fraction or exponent as number_float.
    if (!dim.is_number_unsigned()) {
      return malformed(who + ": shape entry " + dim.dump() + " is not a non-negative integer");
    }
    t.shape.push_back(dim.get<std::uint64_t>());
    empty = empty || t.shape.back() == 0;
  }
  std::uint64_t bytes = dtype_size(t.dtype);
  if (empty) {
    bytes = 0;  // a zero dimension empties the tensor whatever the others are
  } else {
    for (const std::uint64_t dim : t.shape) {
      if (__builtin_mul_overflow(bytes, dim, &bytes)) {
        return malformed(who + ": shape " + shape_text(t.shape) + " of " +
                         std::string(to_string(t.dtype)) + " overflows 64 bits");
      }
    }
  }

  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    return malformed(who + ": data_offsets " + offsets.dump() +
                     " is not [begin, end] of two non-negative integers");
  }
  const auto begin = offsets[0].get<std::uint64_t>();
  const auto end = offsets[1].get<std::uint64_t>();
  if (begin > end) {
    return malformed(who + ": data_offsets begin " + std::to_string(begin) + " is past end " +
                     std::to_string(end));
  }
  if (end > data_size) {
    return malformed(who + ": data_offsets end " + std::to_string(end) +
                     " is past the end of the data section (" + std::to_string(data_size) +
                     " bytes)");
  }
  if (end - begin != bytes) {
    return malformed(who + ": shape " + shape_text(t.shape) + " of " +
                     std::string(to_string(t.dtype)) + " is " + std::to_string(bytes) +
                     " bytes, data_offsets span " + std::to_string(end - begin));
  }
  t.offset = data_offset + begin;
  t.size = bytes;
  return t;
}

// Reads exactly `n` bytes at `offset`, looping over short reads.
std::expected<void, std::error_code> pread_exact(int fd, std::byte* buf, std::size_t n,
                                                 std::uint64_t offset) {
  std::size_t done = 0;
  while (done < n) {
    auto got = sys::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (!got) return std::unexpected(got.error());
    if (*got == 0) return std::unexpected(make_error_code(errc::unexpected_eof));
    done += *got;
  }
  return {};
}

}  // namespace

std::size_t dtype_size(tensor_dtype dtype) noexcept {
  switch (dtype) {
    case tensor_dtype::boolean:
    case tensor_dtype::u8:
    case tensor_dtype::i8:
    case tensor_dtype::f8_e4m3:
    case tensor_dtype::f8_e5m2:
      return 1;
    case tensor_dtype::i16:
    case tensor_dtype::u16:
    case tensor_dtype::f16:
    case tensor_dtype::bf16:
      return 2;
    case tensor_dtype::i32:
    case tensor_dtype::u32:
    case tensor_dtype::f32:
      return 4;
    case tensor_dtype::i64:
    case tensor_dtype::u64:
    case tensor_dtype::f64:
      return 8;
  }
  return 0;
}

std::string_view to_string(tensor_dtype dtype) noexcept {
  for (const auto& [name, value] : dtype_names) {
    if (value == dtype) return name;
  }
  return "?";
}

std::optional<tensor_dtype> parse_dtype(std::string_view name) noexcept {
  for (const auto& [known, value] : dtype_names) {
    if (known == name) return value;
  }
  return std::nullopt;
}

std::expected<std::uint64_t, safetensors_error> safetensors_header_bytes(
    std::span<const std::byte> first8, std::uint64_t file_size) {
  if (first8.size() < 8 || file_size < 8) {
    return malformed("file is " +
                     std::to_string(std::min<std::uint64_t>(file_size, first8.size())) +
                     " bytes, shorter than the 8-byte header length");
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(first8[i]);
  if (n > file_size - 8) {
    return malformed("header length " + std::to_string(n) + " runs past the end of the file (" +
                     std::to_string(file_size) + " bytes)");
  }
  if (n > safetensors_max_header_size) {
    return malformed("header length " + std::to_string(n) + " exceeds the limit of " +
                     std::to_string(safetensors_max_header_size) + " bytes");
  }
  return 8 + n;
}

std::expected<safetensors_index, safetensors_error> parse_safetensors(
    std::span<const std::byte> head, std::uint64_t file_size) {
  auto need =
      safetensors_header_bytes(head.first(std::min<std::size_t>(head.size(), 8)), file_size);
  if (!need) return std::unexpected(need.error());
  if (head.size() < *need) {
    return std::unexpected(safetensors_error{std::make_error_code(std::errc::invalid_argument),
                                             "the header needs " + std::to_string(*need) +
                                                 " bytes, " + std::to_string(head.size()) +
                                                 " given"});
  }

  safetensors_index index;
  index.header_size = *need - 8;
  index.data_offset = *need;
  index.data_size = file_size - *need;

  // Every key seen so far in each open object, innermost last, with the key that opened it.
  std::vector<std::set<std::string>> open_keys;
  std::vector<std::string> last_key;
  std::optional<std::string> duplicate;
  const auto callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_keys.empty()) open_keys.pop_back();
        break;
      case json::parse_event_t::key: {
        if (duplicate || open_keys.empty()) break;
        const auto& key = parsed.get_ref<const std::string&>();
        last_key.resize(open_keys.size());
        if (!open_keys.back().insert(key).second) {
          duplicate = open_keys.size() == 1
                          ? "name " + in_quotes(key) + " appears twice in the header"
                          : "key " + in_quotes(key) + " appears twice in the entry of " +
                                in_quotes(last_key[0]);
        }
        last_key.back() = key;
        break;
      }
      default:
        break;
    }
    return true;
  };
  const auto* text = reinterpret_cast<const char*>(head.data()) + 8;
  const json root = json::parse(text, text + index.header_size, callback,
                                /*allow_exceptions=*/false);
  if (root.is_discarded()) return malformed("header is not valid JSON");
  if (!root.is_object()) return malformed("header is JSON but not an object");
  if (duplicate) return malformed(*duplicate);

  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) return malformed("__metadata__ is not a JSON object");
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string()) {
          return malformed("__metadata__ " + in_quotes(key) + ": value " + text_value.dump() +
                           " is not a string");
        }
        index.metadata.emplace_back(key, text_value.get<std::string>());
      }
      continue;
    }
    auto t = parse_entry(name, value, index.data_offset, index.data_size);
    if (!t) return std::unexpected(std::move(t.error()));
    index.tensors.push_back(std::move(*t));
  }

  // File order; std::sort is enough since (offset, size, name) is unique among valid entries.
  std::sort(index.tensors.begin(), index.tensors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.offset, a.size, a.name) < std::tie(b.offset, b.size, b.name);
  });
  std::uint64_t covered = index.data_offset;  // the end of the tiling so far
  const tensor_info* previous = nullptr;
  for (const auto& t : index.tensors) {
    if (t.offset < covered) {
      return malformed("tensor " + in_quotes(t.name) + " overlaps tensor " +
                       in_quotes(previous->name) + " (it starts at data offset " +
                       std::to_string(t.offset - index.data_offset) + ", before " +
                       std::to_string(covered - index.data_offset) + ")");
    }
    if (t.offset > covered) {
      return malformed("hole of " + std::to_string(t.offset - covered) +
                       " bytes in the data section before tensor " + in_quotes(t.name) +
                       " (the tensors must cover it without gaps)");
    }
    covered = t.offset + t.size;
    previous = &t;
  }
  if (covered != file_size) {
    return malformed("the data section ends with " + std::to_string(file_size - covered) +
                     " bytes that belong to no tensor (the tensors must cover it without gaps)");
  }
  return index;
}

std::expected<safetensors_index, safetensors_error> read_safetensors_index(int fd) {
  auto st = sys::fstat(fd);
  if (!st) return io_failure(st.error(), "fstat");
  if (!S_ISREG(st->st_mode)) {
    return std::unexpected(
        safetensors_error{std::make_error_code(std::errc::invalid_argument), "not a regular file"});
  }
  const auto file_size = static_cast<std::uint64_t>(st->st_size);
  std::array<std::byte, 8> first8{};
  if (file_size >= 8) {
    if (auto r = pread_exact(fd, first8.data(), first8.size(), 0); !r) {
      return io_failure(r.error(), "reading the header length");
    }
  }
  auto need = safetensors_header_bytes(first8, file_size);
  if (!need) return std::unexpected(need.error());
  std::vector<std::byte> head(*need);
  if (auto r = pread_exact(fd, head.data(), head.size(), 0); !r) {
    return io_failure(r.error(), "reading the header");
  }
  return parse_safetensors(head, file_size);
}

std::expected<safetensors_index, safetensors_error> read_safetensors_index(
    const std::filesystem::path& path) {
  auto fd = unique_fd::open(path.c_str(), O_RDONLY);
  if (!fd) return io_failure(fd.error(), "open");
  return read_safetensors_index(fd->get());
}

}  // namespace zcopy
