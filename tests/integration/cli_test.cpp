// The zcopy binary as a user runs it: exit codes, where messages go, and what probe prints.
// The binary's path comes from ZCOPY_BINARY (tests/CMakeLists.txt sets it).
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpu/safetensors_writer.hpp"
#include "support/test_support.hpp"
#include "zcopy/gpu.hpp"

namespace zcopy {
namespace {

using test::run_zcopy;

bool contains(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

// --version prints the name and the project version on stdout.
TEST(Cli, PrintsVersion) {
  auto r = run_zcopy({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "zcopy 0.1.0")) << r.out;
}

// --help succeeds and lists the subcommands.
TEST(Cli, HelpListsProbe) {
  auto r = run_zcopy({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "probe")) << r.out;
}

// A subcommand is required: none is a usage error.
TEST(Cli, NoSubcommandIsUsageError) {
  auto r = run_zcopy({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.err.empty());
}

// An unknown flag is a usage error, explained on stderr, with nothing on stdout.
TEST(Cli, UnknownFlagIsUsageError) {
  auto r = run_zcopy({"--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "zcopy:")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// A --size that is no size is a usage error too.
TEST(Cli, ProbeRejectsBadSize) {
  EXPECT_EQ(run_zcopy({"probe", "--size", "0"}).exit_code, 2);
  EXPECT_EQ(run_zcopy({"probe", "--size", "lots"}).exit_code, 2);
}

// probe --json prints one JSON object with every section.
TEST(Cli, ProbeJsonParses) {
  test::temp_dir dir;
  auto r = run_zcopy({"probe", dir.path().string(), "--json", "--size", "64K"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto json = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(json.is_discarded()) << r.out;
  ASSERT_TRUE(json.is_object());
  EXPECT_TRUE(json["kernel"].is_string());
  EXPECT_TRUE(json["io_uring"]["works"].is_boolean());
  // The GPU section agrees with the library: devices counted, or the reason there are none.
  const auto gpus = gpu::device_count();
  EXPECT_EQ(json["gpu"]["built_with_cuda"], gpu::built_with_cuda());
  EXPECT_EQ(json["gpu"]["devices"], gpus ? *gpus : 0);
  EXPECT_EQ(json["gpu"]["reason"].is_null(), gpus.has_value()) << json["gpu"].dump();
  EXPECT_EQ(json["size"], 64 * 1024);
  EXPECT_EQ(json["path"]["path"], dir.path().string());
  EXPECT_TRUE(json["path"]["filesystem"].is_string());
  EXPECT_TRUE(json["path"]["reflink"]["works"].is_boolean());
  ASSERT_TRUE(json["mechanisms"].is_array());
  bool read_write_file_to_file = false;
  for (const auto& e : json["mechanisms"]) {
    if (e["pair"] == "file->file" && e["method"] == "read_write") {
      read_write_file_to_file = true;
      EXPECT_EQ(e["outcome"], "works") << e.dump();
      EXPECT_EQ(e["bytes"], 64 * 1024) << e.dump();
    }
  }
  EXPECT_TRUE(read_write_file_to_file) << r.out;
}

// The plain report has the table and the path section.
TEST(Cli, ProbePrintsTables) {
  test::temp_dir dir;
  auto r = run_zcopy({"probe", dir.path().string(), "--size", "4096"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "kernel")) << r.out;
  EXPECT_TRUE(contains(r.out, "io_uring")) << r.out;
  EXPECT_TRUE(contains(r.out, "gpu ")) << r.out;
  EXPECT_TRUE(contains(r.out, "socket->socket")) << r.out;
  EXPECT_TRUE(contains(r.out, "path " + dir.path().string())) << r.out;
  EXPECT_TRUE(contains(r.out, "reflink")) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

// A runtime failure names the operation and the path on stderr and exits 1.
TEST(Cli, ProbeMissingPathFails) {
  auto r = run_zcopy({"probe", "/nonexistent"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "zcopy: probe '/nonexistent':")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// gpu inspect prints every tensor of a generated safetensors file, the totals and the metadata;
// --json gives the same as one object with absolute offsets.
TEST(Cli, GpuInspectPrintsTensorTable) {
  test::temp_dir dir;
  const auto tensors = test::random_tensors(test::test_seed());
  const auto file = dir / "model.safetensors";
  test::write_file(file, test::make_safetensors(tensors, {{"format", "pt"}}));

  auto r = run_zcopy({"gpu", "inspect", file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& t : tensors) EXPECT_TRUE(contains(r.out, t.name)) << t.name << "\n" << r.out;
  EXPECT_TRUE(contains(r.out, "BF16")) << r.out;
  EXPECT_TRUE(contains(r.out, "[33, 17]")) << r.out;
  EXPECT_TRUE(contains(r.out, "total " + std::to_string(tensors.size()) + " tensors")) << r.out;
  EXPECT_TRUE(contains(r.out, "format: pt")) << r.out;
  EXPECT_TRUE(contains(r.out, "page cache:")) << r.out;

  auto j = run_zcopy({"gpu", "inspect", file.string(), "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto json = nlohmann::json::parse(j.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(json.is_object()) << j.out;
  ASSERT_EQ(json["tensors"].size(), tensors.size());
  std::uint64_t offset = json["data_offset"];
  std::uint64_t total = 0;
  for (const auto& t : json["tensors"]) {
    EXPECT_EQ(t["offset"], offset) << t.dump();  // file order, back to back
    offset += t["size"].get<std::uint64_t>();
    total += t["size"].get<std::uint64_t>();
  }
  EXPECT_EQ(total, json["data_size"]);
  EXPECT_EQ(json["metadata"]["format"], "pt");
  EXPECT_TRUE(json["residency"]["fraction"].is_number());
}

// A malformed file (here: a hole in the data section) is a runtime failure with the rule named.
TEST(Cli, GpuInspectRejectsMalformedFile) {
  test::temp_dir dir;
  const auto file = dir / "bad.safetensors";
  test::write_file(
      file, test::make_safetensors_raw(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                                       test::random_bytes(16, test::test_seed())));
  auto r = run_zcopy({"gpu", "inspect", file.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_TRUE(contains(r.err, "zcopy: gpu inspect '" + file.string() + "': ")) << r.err;
  EXPECT_TRUE(contains(r.err, "belong to no tensor")) << r.err;

  auto missing = run_zcopy({"gpu", "inspect", (dir / "absent").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.err, "No such file")) << missing.err;
  EXPECT_EQ(run_zcopy({"gpu", "inspect"}).exit_code, 2);  // FILE is required
}

}  // namespace
}  // namespace zcopy
