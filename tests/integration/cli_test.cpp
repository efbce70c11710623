// The zcopy binary as a user runs it: exit codes, where messages go, and what probe prints.
// The binary's path comes from ZCOPY_BINARY (tests/CMakeLists.txt sets it).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.hpp"

extern char** environ;

namespace zcopy {
namespace {

struct run_result {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

std::string slurp(const std::filesystem::path& path) {
  auto bytes = test::read_file(path);
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Runs the binary with `args`; stdout and stderr go to files, so that neither pipe can fill up
// and stall the child while the test waits for it.
run_result run_zcopy(const std::vector<std::string>& args) {
  const char* binary = std::getenv("ZCOPY_BINARY");
  if (binary == nullptr || *binary == '\0') {
    ADD_FAILURE() << "ZCOPY_BINARY is not set";
    return {};
  }
  test::temp_dir dir;
  const auto out_path = dir / "stdout";
  const auto err_path = dir / "stderr";

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<std::string> storage{binary};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  run_result result;
  pid_t pid = 0;
  int rc = posix_spawn(&pid, binary, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << binary << ": " << std::strerror(rc);
    return result;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  return result;
}

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
