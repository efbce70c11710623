// The safetensors reader: a generated file read back field by field and byte by byte, and one
// malformed header per validation rule, each refused with errc::malformed_safetensors and a
// message that names the rule.
#include "zcopy/safetensors.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <string>

#include "gpu/safetensors_writer.hpp"
#include "support/test_support.hpp"
#include "zcopy/error.hpp"

namespace zcopy {
namespace {

using test::make_safetensors;
using test::make_safetensors_raw;

// Parses a whole file held in memory.
std::expected<safetensors_index, safetensors_error> parse(const std::vector<std::byte>& file) {
  return parse_safetensors(file, file.size());
}

// Expects `file` to be refused as malformed with a message containing `what`.
void expect_malformed(const std::vector<std::byte>& file, std::string_view what) {
  auto r = parse(file);
  ASSERT_FALSE(r.has_value()) << "accepted; expected: " << what;
  EXPECT_EQ(r.error().code, make_error_code(errc::malformed_safetensors)) << r.error().message;
  EXPECT_NE(r.error().message.find(what), std::string::npos)
      << "message: " << r.error().message << "\nexpected to contain: " << what;
}

std::vector<std::byte> bytes_of(std::size_t n, std::uint64_t seed) {
  auto b = test::random_bytes(std::max<std::size_t>(n, 16), seed);
  b.resize(n);
  return b;
}

// Every tensor, its dtype, shape, offset and size come back; so does the metadata, and the bytes
// at each reported offset are the tensor's own.
TEST(Safetensors, RoundTripsEveryFieldAndByte) {
  const auto seed = test::test_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  const auto tensors = test::random_tensors(seed);
  const test::metadata_list metadata = {{"format", "pt"}, {"source", "zcopy test \"quoted\""}};
  const auto file_bytes = make_safetensors(tensors, metadata);
  test::temp_dir dir;
  auto fd = test::write_file(dir / "model.safetensors", file_bytes);

  auto index = read_safetensors_index(dir / "model.safetensors");
  ASSERT_TRUE(index.has_value()) << index.error().message;
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::to_integer<std::uint64_t>(file_bytes[i]) << (8 * i);
  EXPECT_EQ(index->header_size, n);
  EXPECT_EQ(index->header_size % 8, 0u);  // the writer pads with spaces, which JSON allows
  EXPECT_EQ(index->data_offset, 8 + n);
  EXPECT_EQ(index->data_size, file_bytes.size() - 8 - n);
  EXPECT_EQ(index->metadata, metadata);  // sorted by key, as written

  // The writer lays tensors out in spec order, so file order is spec order except that the
  // empty tensor ties with its successor on offset and sorts by size (0 first).
  ASSERT_EQ(index->tensors.size(), tensors.size());
  std::uint64_t expected_offset = index->data_offset;
  for (const auto& spec : tensors) {
    auto it = std::find_if(index->tensors.begin(), index->tensors.end(),
                           [&](const tensor_info& t) { return t.name == spec.name; });
    ASSERT_NE(it, index->tensors.end()) << spec.name;
    SCOPED_TRACE(spec.name);
    EXPECT_EQ(to_string(it->dtype), spec.dtype);
    EXPECT_EQ(it->shape, spec.shape);
    EXPECT_EQ(it->offset, expected_offset);
    EXPECT_EQ(it->size, spec.data.size());
    expected_offset += spec.data.size();
    EXPECT_TRUE(test::same_bytes(spec.data, test::read_range(fd.get(), it->offset, it->size)));
  }
  EXPECT_EQ(expected_offset, file_bytes.size());
  for (std::size_t i = 1; i < index->tensors.size(); ++i) {
    EXPECT_EQ(index->tensors[i].offset, index->tensors[i - 1].offset + index->tensors[i - 1].size);
  }

  // The descriptor form and the in-memory form agree with the path form.
  auto by_fd = read_safetensors_index(fd.get());
  ASSERT_TRUE(by_fd.has_value()) << by_fd.error().message;
  EXPECT_EQ(by_fd->tensors.size(), index->tensors.size());
  auto in_memory = parse(file_bytes);
  ASSERT_TRUE(in_memory.has_value());
  EXPECT_EQ(in_memory->data_offset, index->data_offset);
}

// Names, sizes and round trips of every dtype the format defines.
TEST(Safetensors, DtypeTable) {
  const std::pair<const char*, std::size_t> expected[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8}};
  for (const auto& [name, size] : expected) {
    auto d = parse_dtype(name);
    ASSERT_TRUE(d.has_value()) << name;
    EXPECT_EQ(to_string(*d), name);
    EXPECT_EQ(dtype_size(*d), size) << name;
  }
  EXPECT_FALSE(parse_dtype("f32").has_value());  // the format's names are upper case
  EXPECT_FALSE(parse_dtype("F128").has_value());
}

// A file with only an empty tensor and no data section is valid.
TEST(Safetensors, EmptyTensorIsFine) {
  auto r = parse(make_safetensors({{"nothing", "F16", {0}, {}}}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->tensors.size(), 1u);
  EXPECT_EQ(r->tensors[0].size, 0u);
  EXPECT_EQ(r->data_size, 0u);
  // And "{}" (no tensor at all) with no data is a valid, empty file.
  auto none = parse(make_safetensors_raw("{}"));
  ASSERT_TRUE(none.has_value()) << none.error().message;
  EXPECT_TRUE(none->tensors.empty());
}

// safetensors_header_bytes names the prefix parse_safetensors needs.
TEST(Safetensors, HeaderBytesFromLengthPrefix) {
  const auto file = make_safetensors_raw("{}  ");
  auto need = safetensors_header_bytes(std::span(file).first(8), file.size());
  ASSERT_TRUE(need.has_value()) << need.error().message;
  EXPECT_EQ(*need, 12u);
  // Less than the header in `head` is the caller's mistake, not a malformed file.
  auto r = parse_safetensors(std::span(file).first(10), file.size());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, std::errc::invalid_argument);
}

// A file shorter than the 8-byte length prefix.
TEST(SafetensorsMalformed, TruncatedLengthPrefix) {
  expect_malformed({std::byte{2}, std::byte{0}, std::byte{0}}, "shorter than the 8-byte");
  // Through a file, too.
  test::temp_dir dir;
  const std::vector<std::byte> five(5, std::byte{1});
  test::write_file(dir / "short", five);
  auto r = read_safetensors_index(dir / "short");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, make_error_code(errc::malformed_safetensors)) << r.error().message;
}

// N larger than what follows the prefix.
TEST(SafetensorsMalformed, LengthBeyondFile) {
  auto file = make_safetensors_raw("{}");
  file[0] = std::byte{3};
  expect_malformed(file, "runs past the end of the file");
}

// N above the 100 MiB bound is refused before anything is allocated, even in a large file.
TEST(SafetensorsMalformed, LengthAboveLimit) {
  auto file = make_safetensors_raw("{}");
  const std::uint64_t n = safetensors_max_header_size + 1;
  for (int i = 0; i < 8; ++i) file[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  auto r = safetensors_header_bytes(std::span(file).first(8), std::uint64_t{1} << 40);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("exceeds the limit"), std::string::npos) << r.error().message;
}

TEST(SafetensorsMalformed, InvalidJson) {
  expect_malformed(make_safetensors_raw("{\"a\": {"), "not valid JSON");
}

TEST(SafetensorsMalformed, JsonNotAnObject) {
  expect_malformed(make_safetensors_raw("[1, 2]"), "not an object");
}

TEST(SafetensorsMalformed, UnknownDtype) {
  expect_malformed(make_safetensors({{"w", "F128", {1}, bytes_of(16, 1)}}),
                   "tensor 'w': unknown dtype 'F128'");
}

TEST(SafetensorsMalformed, NegativeShapeEntry) {
  expect_malformed(
      make_safetensors_raw(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})"),
      "tensor 'w': shape entry -1 is not a non-negative integer");
}

TEST(SafetensorsMalformed, FloatShapeEntry) {
  expect_malformed(
      make_safetensors_raw(R"({"w":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}})",
                           bytes_of(2, 2)),
      "tensor 'w': shape entry 2.0 is not a non-negative integer");
}

// 2 x 3 F32 is 24 bytes; offsets span 20.
TEST(SafetensorsMalformed, SizeMismatch) {
  expect_malformed(
      make_safetensors_raw(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})",
                           bytes_of(20, 3)),
      "tensor 'w': shape [2, 3] of F32 is 24 bytes, data_offsets span 20");
}

// Dimensions whose product overflows 64 bits.
TEST(SafetensorsMalformed, ShapeOverflow) {
  expect_malformed(
      make_safetensors_raw(
          R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
          bytes_of(8, 4)),
      "overflows 64 bits");
}

TEST(SafetensorsMalformed, OffsetsOutOfRange) {
  expect_malformed(make_safetensors_raw(R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})",
                                        bytes_of(8, 5)),
                   "tensor 'w': data_offsets end 12 is past the end of the data section (8 bytes)");
}

TEST(SafetensorsMalformed, BeginAfterEnd) {
  expect_malformed(make_safetensors_raw(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[6,2]}})",
                                        bytes_of(8, 6)),
                   "tensor 'w': data_offsets begin 6 is past end 2");
}

TEST(SafetensorsMalformed, Overlap) {
  expect_malformed(make_safetensors_raw(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},
                                            "b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})",
                                        bytes_of(12, 7)),
                   "tensor 'b' overlaps tensor 'a'");
}

// A gap between two tensors, and bytes after the last one: both are holes.
TEST(SafetensorsMalformed, Hole) {
  expect_malformed(make_safetensors_raw(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},
                                            "b":{"dtype":"U8","shape":[4],"data_offsets":[6,10]}})",
                                        bytes_of(10, 8)),
                   "hole of 2 bytes in the data section before tensor 'b'");
  expect_malformed(make_safetensors_raw(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                                        bytes_of(7, 9)),
                   "ends with 3 bytes that belong to no tensor");
}

// nlohmann would keep the second "w" and drop the first: the reader refuses the file instead.
TEST(SafetensorsMalformed, DuplicateName) {
  expect_malformed(make_safetensors_raw(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},
                                            "w":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                                        bytes_of(8, 10)),
                   "name 'w' appears twice");
  // A repeated key inside an entry is refused as well.
  expect_malformed(
      make_safetensors_raw(R"({"w":{"dtype":"U8","dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                           bytes_of(4, 11)),
      "key 'dtype' appears twice in the entry of 'w'");
}

TEST(SafetensorsMalformed, MetadataNonStringValue) {
  expect_malformed(make_safetensors_raw(R"({"__metadata__":{"format":"pt","epoch":3}})"),
                   "__metadata__ 'epoch': value 3 is not a string");
}

TEST(SafetensorsMalformed, ExtraKeyInTensorEntry) {
  expect_malformed(
      make_safetensors_raw(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"stride":[1]}})",
                           bytes_of(4, 12)),
      "tensor 'w': unexpected key 'stride'");
}

TEST(SafetensorsMalformed, MissingKeyInTensorEntry) {
  expect_malformed(make_safetensors_raw(R"({"w":{"dtype":"U8","shape":[4]}})", bytes_of(4, 13)),
                   "tensor 'w': missing 'data_offsets'");
}

// A directory is no safetensors file; a missing path reports the errno.
TEST(Safetensors, ReadRefusesNonFiles) {
  test::temp_dir dir;
  auto r = read_safetensors_index(dir.path());
  ASSERT_FALSE(r.has_value());
  auto missing = read_safetensors_index(dir / "absent");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace zcopy
