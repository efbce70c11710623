// zcopy bench's runner: every method moves verified bytes, rounds interleave, filters hold, and
// the real binary writes complete JSON and HTML.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>

#include "bench/bench.hpp"
#include "support/test_support.hpp"

namespace zcopy::bench {
namespace {

const method_result* find(const report& r, path p, std::string_view m) {
  for (const auto& x : r.results) {
    if (x.where == p && x.method.name == m) return &x;
  }
  return nullptr;
}

config small(std::uint64_t size = 8u << 20, unsigned repeat = 2) {
  config c;
  c.size = size;
  c.repeat = repeat;
  return c;
}

// Every method on every path moves exactly the source's bytes (hash-verified) in every round;
// only reflink may be missing, and then it says why.
TEST(BenchRunner, EveryMethodMovesVerifiedBytes) {
  auto rep = run(small());
  ASSERT_TRUE(rep) << rep.error().message();
  std::size_t expected = 0;
  for (path p : all_paths()) expected += methods_for(p).size();
  ASSERT_EQ(rep->results.size(), expected);
  for (const auto& r : rep->results) {
    SCOPED_TRACE(std::string(to_string(r.where)) + " " + r.method.name);
    if (!r.error.empty()) {
      EXPECT_EQ(r.method.name, "reflink") << r.error;
      EXPECT_TRUE(r.samples.empty());
      continue;
    }
    ASSERT_EQ(r.samples.size(), 2u);
    EXPECT_TRUE(r.verified);
    for (const auto& s : r.samples) {
      EXPECT_EQ(s.bytes, 8u << 20);
      EXPECT_GT(s.seconds, 0);
      EXPECT_GT(s.syscalls, 0u);
      if (r.method.transfer) {
        EXPECT_EQ(s.moved_by, r.method.name);
      }
    }
    EXPECT_GT(r.gib_per_second.median, 0);
    EXPECT_LE(r.gib_per_second.min, r.gib_per_second.median);
    EXPECT_GE(r.gib_per_second.max, r.gib_per_second.median);
    EXPECT_FALSE(r.method.textbook.note.empty());
  }
  EXPECT_GT(rep->memcpy_gib_per_second, 0);
  EXPECT_FALSE(rep->host.kernel.empty());
}

// sendfile moves a file with far fewer system calls than a read/write loop; splice and
// copy_file_range likewise (the library's own counter, not a timing).
TEST(BenchRunner, KernelPathsTakeFewerSyscalls) {
  config c = small(32u << 20, 1);
  c.paths = {path::file_to_socket, path::file_to_file};
  c.methods = {"read_write", "sendfile", "copy_file_range"};
  auto rep = run(c);
  ASSERT_TRUE(rep) << rep.error().message();
  for (path p : c.paths) {
    auto* rw = find(*rep, p, "read_write");
    auto* sf = find(*rep, p, "sendfile");
    ASSERT_TRUE(rw && sf);
    EXPECT_LT(sf->syscalls.median, rw->syscalls.median) << to_string(p);
  }
  auto* cfr = find(*rep, path::file_to_file, "copy_file_range");
  ASSERT_TRUE(cfr);
  EXPECT_LT(cfr->syscalls.median, find(*rep, path::file_to_file, "read_write")->syscalls.median);
}

// Rounds interleave: round 1 runs every method once before round 2 starts.
TEST(BenchRunner, RoundsInterleave) {
  config c = small(1u << 20, 3);
  c.paths = {path::file_to_file};
  c.methods = {"read_write", "sendfile"};
  std::vector<std::string> order;
  c.on_progress = [&](std::string_view, std::string_view m, unsigned round, unsigned rounds) {
    EXPECT_EQ(rounds, 3u);
    order.push_back(std::to_string(round) + std::string(m));
  };
  ASSERT_TRUE(run(c));
  EXPECT_EQ(order, (std::vector<std::string>{"1read_write", "1sendfile", "2read_write", "2sendfile",
                                             "3read_write", "3sendfile"}));
}

// --cold evicts the source before each run and still verifies.
TEST(BenchRunner, ColdRunsVerify) {
  config c = small(4u << 20, 1);
  c.cold = true;
  c.paths = {path::file_to_file};
  c.methods = {"read_write", "copy_file_range"};
  auto rep = run(c);
  ASSERT_TRUE(rep);
  for (const auto& r : rep->results) EXPECT_TRUE(r.verified) << r.method.name << r.error;
}

// Without verification the receivers splice to /dev/null; bytes are still counted.
TEST(BenchRunner, NoVerifyStillCounts) {
  config c = small(4u << 20, 1);
  c.verify = false;
  c.paths = {path::file_to_socket};
  c.methods = {"sendfile"};
  auto rep = run(c);
  ASSERT_TRUE(rep);
  ASSERT_EQ(rep->results.size(), 1u);
  EXPECT_TRUE(rep->results[0].verified);
  EXPECT_EQ(rep->results[0].samples.at(0).bytes, 4u << 20);
}

// Bad settings are refused before anything runs.
TEST(BenchRunner, BadSettingsFail) {
  config c = small();
  c.size = 0;
  EXPECT_EQ(run(c).error(), std::errc::invalid_argument);
  c = small();
  c.directory = "/nonexistent/zcopy";
  EXPECT_FALSE(run(c));
}

// The textbook model: sendfile to a socket makes no CPU copy, read/write makes two.
TEST(BenchRunner, ModelTable) {
  for (const auto& m : methods_for(path::file_to_socket)) {
    if (m.name == "sendfile") {
      EXPECT_EQ(m.textbook.cpu_copies, 0);
    }
    if (m.name == "read_write") {
      EXPECT_EQ(m.textbook.cpu_copies, 2);
    }
  }
  for (path p : all_paths()) {
    EXPECT_EQ(parse_path(to_string(p)), p);
  }
  EXPECT_FALSE(parse_path("disk-to-moon"));
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The real binary: --quick prints the tables and writes JSON with every field for every method,
// a CSV, and an HTML page that parses with one <svg> per chart.
TEST(BenchCli, QuickWritesCompleteReports) {
  test::temp_dir dir;
  auto r = test::run_zcopy({"bench", "--quick", "--json", (dir / "r.json").string(), "--csv",
                            (dir / "r.csv").string(), "--html", (dir / "r.html").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("file-socket"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model"), std::string::npos);

  auto j = nlohmann::json::parse(slurp(dir / "r.json"));
  ASSERT_TRUE(j["results"].is_array());
  const char* stat_keys[] = {"zerocopy_sends",
                             "copied_sends",
                             "gib_per_second",
                             "seconds",
                             "cpu_seconds_per_gib",
                             "user_seconds",
                             "sys_seconds",
                             "syscalls",
                             "syscalls_per_gib",
                             "voluntary_switches",
                             "involuntary_switches",
                             "context_switches",
                             "minor_faults",
                             "major_faults",
                             "helper_cpu_seconds_per_gib"};
  double sendfile_calls = -1, read_write_calls = -1;
  std::size_t zerocopy_rows = 0;
  for (const auto& res : j["results"]) {
    SCOPED_TRACE(res.dump().substr(0, 200));
    for (const char* k :
         {"path", "method", "model", "error", "verified", "fraction_of_memcpy", "samples"}) {
      EXPECT_TRUE(res.contains(k)) << k;
    }
    for (const char* k : stat_keys) {
      ASSERT_TRUE(res.contains(k)) << k;
      for (const char* s : {"median", "min", "max"}) EXPECT_TRUE(res[k].contains(s)) << k << s;
    }
    EXPECT_EQ(res["model"]["label"], "model");
    if (res["error"].is_null()) {
      EXPECT_TRUE(res["verified"].get<bool>());
    }
    if (res["path"] == "file-socket" && res["method"] == "sendfile") {
      sendfile_calls = res["syscalls"]["median"].get<double>();
    }
    if (res["path"] == "file-socket" && res["method"] == "read_write") {
      read_write_calls = res["syscalls"]["median"].get<double>();
    }
    // The zero-copy senders run once per message size and report the kernel's copies: never
    // more than the zero-copy sends made.
    if (res["path"] == "memory-socket" &&
        (res["method"] == "msg_zerocopy" || res["method"] == "send_zc")) {
      ++zerocopy_rows;
      EXPECT_TRUE(res["message_size"].is_number());
      if (res["error"].is_null()) {
        EXPECT_LE(res["copied_sends"]["median"].get<double>(),
                  res["zerocopy_sends"]["median"].get<double>());
      }
    }
  }
  EXPECT_EQ(zerocopy_rows, 2 * default_message_sizes().size());
  ASSERT_GT(sendfile_calls, 0);
  EXPECT_LT(sendfile_calls, read_write_calls);
  EXPECT_GT(j["memcpy_gib_per_second"].get<double>(), 0);

  auto csv = slurp(dir / "r.csv");
  EXPECT_EQ(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')),
            j["results"].size() + 1);

  // html.parser: every non-void tag closes, and there are four charts per path.
  if (std::system("command -v python3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  std::string script = R"(
import sys
from html.parser import HTMLParser
VOID = {'area','base','br','col','embed','hr','img','input','link','meta','source','track','wbr'}
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.charts = 0; s.bad = 0
    def handle_starttag(s, tag, attrs):
        if tag == 'figure' and ('class', 'chart') in attrs: s.charts += 1
        if tag not in VOID: s.stack.append(tag)
    def handle_startendtag(s, tag, attrs):
        if tag not in VOID: s.bad += 1
    def handle_endtag(s, tag):
        if s.stack and s.stack[-1] == tag: s.stack.pop()
        else: s.bad += 1
p = P(); p.feed(open(sys.argv[1]).read()); p.close()
print(p.charts, p.bad, len(p.stack))
)";
  std::ofstream(dir / "check.py") << script;
  std::string cmd = "python3 " + (dir / "check.py").string() + " " + (dir / "r.html").string() +
                    " > " + (dir / "check.out").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  int charts = -1, bad = -1, open_tags = -1;
  std::ifstream(dir / "check.out") >> charts >> bad >> open_tags;
  std::set<std::string> paths;
  for (const auto& res : j["results"]) paths.insert(res["path"].get<std::string>());
  EXPECT_EQ(charts, static_cast<int>(4 * paths.size()));
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(open_tags, 0);
}

// Unknown paths and methods are usage errors (exit 2) with a message.
TEST(BenchCli, UnknownNamesAreUsageErrors) {
  auto r = test::run_zcopy({"bench", "--quick", "--paths", "disk-moon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown path 'disk-moon'"), std::string::npos) << r.err;
  auto m = test::run_zcopy({"bench", "--quick", "--methods", "teleport"});
  EXPECT_EQ(m.exit_code, 2);
  EXPECT_NE(m.err.find("unknown method 'teleport'"), std::string::npos) << m.err;
  auto d = test::run_zcopy({"bench", "--quick", "--dir", "/nonexistent/x"});
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("zcopy: bench '/nonexistent/x':"), std::string::npos) << d.err;
}

}  // namespace
}  // namespace zcopy::bench
