// The zcopy binary as a user runs it: exit codes, where messages go, and what probe prints.
// The binary's path comes from ZCOPY_BINARY (tests/CMakeLists.txt sets it).
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.hpp"

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

}  // namespace
}  // namespace zcopy
