// zcopy bench's renderings: tables sorted by CPU per GiB with failures last, JSON and CSV with
// every field for every result, and an HTML page that escapes everything and parses cleanly.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.hpp"
#include "support/test_support.hpp"

namespace zcopy::bench {
namespace {

// The failed method's reason: every character HTML must escape, and a comma, a quote and a line
// break for CSV.
const std::string nasty_error = "pipe said <&\"> no, \"twice\"\nand 'again'";
const std::string command_line = "zcopy bench --html \"out <1>.html\" --note 'a&b'";

stat stat_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

// A result with three samples whose CPU per GiB sits near `cpu_per_gib` (jittered, so the order
// between methods is fixed while the numbers are not round).
method_result measured(path p, std::string name, double cpu_per_gib, std::mt19937_64& rng,
                       std::string moved = {}) {
  std::uniform_real_distribution<double> jitter(0.95, 1.05);
  method_result r;
  r.where = p;
  r.method.name = name;
  r.method.transfer = parse_method(name);
  r.method.textbook = {2, 2, 4, "a textbook note"};
  std::vector<double> gibps, cpu, user, sys, calls, calls_per_gib, vol, invol, ctx, minor, major,
      helper, secs;
  for (int i = 0; i < 3; ++i) {
    sample s;
    s.bytes = std::uint64_t{1} << 30;
    s.seconds = 0.2 * jitter(rng) * cpu_per_gib + 0.05;
    s.user_seconds = 0.3 * cpu_per_gib * jitter(rng);
    s.sys_seconds = 0.7 * cpu_per_gib * jitter(rng);
    s.syscalls = static_cast<std::uint64_t>(8192 * cpu_per_gib * jitter(rng)) + 1;
    s.voluntary_switches = static_cast<std::int64_t>(100 * jitter(rng));
    s.involuntary_switches = static_cast<std::int64_t>(10 * jitter(rng));
    s.minor_faults = static_cast<std::int64_t>(300 * jitter(rng));
    s.major_faults = 0;
    s.helper_user_seconds = 0.1 * jitter(rng);
    s.helper_sys_seconds = 0.2 * jitter(rng);
    s.verified = true;
    s.moved_by = moved.empty() ? name : moved;
    gibps.push_back(1.0 / s.seconds);
    cpu.push_back(s.user_seconds + s.sys_seconds);
    user.push_back(s.user_seconds);
    sys.push_back(s.sys_seconds);
    calls.push_back(static_cast<double>(s.syscalls));
    calls_per_gib.push_back(static_cast<double>(s.syscalls));
    vol.push_back(static_cast<double>(s.voluntary_switches));
    invol.push_back(static_cast<double>(s.involuntary_switches));
    ctx.push_back(static_cast<double>(s.voluntary_switches + s.involuntary_switches));
    minor.push_back(static_cast<double>(s.minor_faults));
    major.push_back(0);
    helper.push_back(s.helper_user_seconds + s.helper_sys_seconds);
    secs.push_back(s.seconds);
    r.samples.push_back(std::move(s));
  }
  r.gib_per_second = stat_of(gibps);
  r.seconds = stat_of(secs);
  r.cpu_seconds_per_gib = stat_of(cpu);
  r.user_seconds = stat_of(user);
  r.sys_seconds = stat_of(sys);
  r.syscalls = stat_of(calls);
  r.syscalls_per_gib = stat_of(calls_per_gib);
  r.voluntary_switches = stat_of(vol);
  r.involuntary_switches = stat_of(invol);
  r.context_switches = stat_of(ctx);
  r.minor_faults = stat_of(minor);
  r.major_faults = stat_of(major);
  r.helper_cpu_seconds_per_gib = stat_of(helper);
  r.verified = true;
  return r;
}

// Two paths, three methods each, listed out of CPU order; mmap_write failed on file-socket.
report synthetic(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  report r;
  r.host = {"6.1.0-test", "Test CPU @ 3.0GHz", 8, "ext4", "/tmp/zcopy <bench>", "host&name"};
  r.command_line = command_line;
  r.started_at = "2024-01-02T03:04:05Z";
  r.settings.size = std::uint64_t{1} << 30;
  r.settings.repeat = 3;
  r.settings.paths = {path::file_to_socket, path::file_to_file};
  r.memcpy_gib_per_second = 10.5;

  method_result broken;
  broken.where = path::file_to_socket;
  broken.method.name = "mmap_write";
  broken.method.transfer = method::mmap_write;
  broken.method.textbook = {1, 2, 4, "a textbook note"};
  broken.error = nasty_error;
  r.results.push_back(std::move(broken));
  r.results.push_back(measured(path::file_to_socket, "read_write", 0.9, rng));
  r.results.push_back(measured(path::file_to_socket, "sendfile", 0.2, rng));
  r.results.push_back(measured(path::file_to_file, "read_write", 0.9, rng));
  // A tiny syscall count next to big ones: the syscall chart has to survive a huge range.
  r.results.push_back(measured(path::file_to_file, "copy_file_range", 0.0001, rng, "sendfile"));
  r.results.push_back(measured(path::file_to_file, "splice", 0.5, rng));
  for (auto& m : r.results) {
    m.fraction_of_memcpy = m.gib_per_second.median / r.memcpy_gib_per_second;
  }
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The first word of each row in the table under the heading that starts with `heading`.
std::vector<std::string> table_methods(const std::string& text, const std::string& heading) {
  std::vector<std::string> methods;
  const auto lines = lines_of(text);
  auto it = std::find_if(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.rfind(heading + " (", 0) == 0; });
  if (it == lines.end() || ++it == lines.end()) return methods;
  for (++it; it != lines.end() && it->rfind("model = ", 0) != 0; ++it) {
    methods.push_back(it->substr(0, it->find(' ')));
  }
  return methods;
}

// RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
    } else if (c != '\r') {
      field += c;
    }
  }
  if (!field.empty() || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

class BenchReport : public ::testing::Test {
 protected:
  void SetUp() override { seed_ = test::test_seed(); }
  std::uint64_t seed_ = 0;
  report make() const { return synthetic(seed_); }
};

// The text rendering starts with the machine, memcpy ceiling, size and repeats.
TEST_F(BenchReport, TableOpensWithMachineAndSettings) {
  SCOPED_TRACE(seed_);
  const std::string t = render_table(make());
  const auto lines = lines_of(t);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_NE(lines[0].find("6.1.0-test"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("Test CPU @ 3.0GHz \u00d7 8"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("ext4"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("10.50 GiB/s"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("1 GiB"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("repeats: 3"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("warm"), std::string::npos) << lines[1];
}

// Each path gets a heading and its rows run from the cheapest CPU per GiB to the dearest.
TEST_F(BenchReport, TableSortsEachPathByCpuPerGib) {
  SCOPED_TRACE(seed_);
  const std::string t = render_table(make());
  EXPECT_EQ(count(t, "\nfile-socket (1 GiB)\n"), 1u) << t;
  EXPECT_EQ(count(t, "\nfile-file (1 GiB)\n"), 1u) << t;
  EXPECT_LT(t.find("\nfile-socket ("), t.find("\nfile-file (")) << "paths keep their order";
  EXPECT_EQ(table_methods(t, "file-socket"),
            (std::vector<std::string>{"sendfile", "read_write", "mmap_write"}))
      << t;
  EXPECT_EQ(table_methods(t, "file-file"),
            (std::vector<std::string>{"copy_file_range", "splice", "read_write"}))
      << t;
  EXPECT_EQ(count(t, "model = the textbook's copies per chunk, not measured"), 2u) << t;
}

// A failed method sits last in its table with its reason on one line; a method moved by another
// says so.
TEST_F(BenchReport, TableShowsFailuresLastAndWhoMovedTheBytes) {
  SCOPED_TRACE(seed_);
  const std::string t = render_table(make());
  EXPECT_NE(t.find("failed: pipe said <&\"> no, \"twice\" and 'again'"), std::string::npos) << t;
  const auto lines = lines_of(t);
  auto row = std::find_if(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.rfind("copy_file_range ", 0) == 0; });
  ASSERT_NE(row, lines.end()) << t;
  EXPECT_NE(row->find("sendfile"), std::string::npos) << *row;
  EXPECT_NE(t.find("moved by"), std::string::npos) << t;
}

// Every result carries every key, failed ones included, and every stat has median, min and max.
TEST_F(BenchReport, JsonHasEveryKeyForEveryResult) {
  SCOPED_TRACE(seed_);
  const report rep = make();
  const auto doc = nlohmann::json::parse(render_json(rep));
  for (const char* key :
       {"machine", "command_line", "started_at", "settings", "memcpy_gib_per_second", "results"}) {
    EXPECT_TRUE(doc.contains(key)) << key;
  }
  for (const char* key : {"size", "repeat", "cold", "verify", "paths", "methods", "directory"}) {
    EXPECT_TRUE(doc["settings"].contains(key)) << key;
  }
  EXPECT_EQ(doc["command_line"], command_line);
  EXPECT_EQ(doc["settings"]["paths"], (nlohmann::json{"file-socket", "file-file"}));
  const std::vector<std::string> stats = {"gib_per_second",
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
  std::vector<std::string> keys = {"path",  "method",   "transfer_method",    "model",
                                   "error", "verified", "fraction_of_memcpy", "samples"};
  keys.insert(keys.end(), stats.begin(), stats.end());
  ASSERT_EQ(doc["results"].size(), rep.results.size());
  for (const auto& result : doc["results"]) {
    SCOPED_TRACE(result["method"].dump());
    for (const auto& key : keys) EXPECT_TRUE(result.contains(key)) << key;
    for (const auto& key : stats) {
      for (const char* part : {"median", "min", "max"}) {
        EXPECT_TRUE(result[key].contains(part) && result[key][part].is_number()) << key << part;
      }
    }
    for (const char* key : {"cpu_copies", "dma_copies", "mode_switches", "note", "label"}) {
      EXPECT_TRUE(result["model"].contains(key)) << key;
    }
    EXPECT_EQ(result["model"]["label"], "model");
    for (const auto& s : result["samples"]) {
      for (const char* key :
           {"seconds", "user_seconds", "sys_seconds", "syscalls", "voluntary_switches",
            "involuntary_switches", "minor_faults", "major_faults", "helper_user_seconds",
            "helper_sys_seconds", "bytes", "verified", "moved_by"}) {
        EXPECT_TRUE(s.contains(key)) << key;
      }
    }
  }
}

// A failed result keeps its error verbatim and zero stats; a good one has a null error.
TEST_F(BenchReport, JsonKeepsFailuresWithTheirReason) {
  SCOPED_TRACE(seed_);
  const auto doc = nlohmann::json::parse(render_json(make()));
  const auto& broken = doc["results"][0];
  EXPECT_EQ(broken["method"], "mmap_write");
  EXPECT_EQ(broken["error"], nasty_error);
  EXPECT_EQ(broken["transfer_method"], "mmap_write");
  EXPECT_EQ(broken["gib_per_second"]["median"], 0.0);
  EXPECT_TRUE(broken["samples"].empty());
  const auto& good = doc["results"][1];
  EXPECT_TRUE(good["error"].is_null());
  EXPECT_EQ(good["samples"].size(), 3u);
  EXPECT_EQ(good["samples"][0]["bytes"], std::uint64_t{1} << 30);
}

// One header and one row per result, all with the header's column count; the quoted error
// survives a round trip.
TEST_F(BenchReport, CsvHasOneRowPerResultWithEqualColumns) {
  SCOPED_TRACE(seed_);
  const report rep = make();
  const auto rows = parse_csv(render_csv(rep));
  ASSERT_EQ(rows.size(), rep.results.size() + 1);
  ASSERT_EQ(rows[0].size(), 25u);
  EXPECT_EQ(rows[0].front(), "path");
  EXPECT_EQ(rows[0].back(), "error");
  for (const auto& row : rows) EXPECT_EQ(row.size(), rows[0].size());
  EXPECT_EQ(rows[1][1], "mmap_write");
  EXPECT_EQ(rows[1].back(), nasty_error);
  EXPECT_EQ(rows[2][0], "file-socket");
  EXPECT_EQ(rows[2][2], "0");  // no message size: not a sender row
  EXPECT_EQ(rows[2][3], "1073741824");
  EXPECT_EQ(rows[2][23], "true");
  EXPECT_EQ(rows[2].back(), "");
}

// Four charts per path, no scripts, every string escaped (never raw), no NaN coordinates.
TEST_F(BenchReport, HtmlHasFourChartsPerPathAndEscapesEverything) {
  SCOPED_TRACE(seed_);
  const std::string h = render_html(make());
  EXPECT_EQ(count(h, "<svg"), 4u * 2u);
  EXPECT_EQ(count(h, "</svg>"), 4u * 2u);
  EXPECT_EQ(count(h, "<section>"), 2u);
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_EQ(h.find("http://", h.find("</style>")), h.find("http://www.w3.org/2000/svg"))
      << "the SVG namespace is the only URL";
  EXPECT_NE(h.find("<title>zcopy bench</title>"), std::string::npos);
  EXPECT_NE(h.find("&lt;&amp;&quot;&gt;"), std::string::npos);
  EXPECT_EQ(h.find("<&\">"), std::string::npos);
  EXPECT_NE(h.find("&#39;again&#39;"), std::string::npos);
  EXPECT_NE(
      h.find("<code>zcopy bench --html &quot;out &lt;1&gt;.html&quot; --note &#39;a&amp;b&#39;"
             "</code>"),
      std::string::npos);
  EXPECT_EQ(h.find(command_line), std::string::npos);
  EXPECT_NE(h.find("host&amp;name"), std::string::npos);
  EXPECT_NE(h.find("/tmp/zcopy &lt;bench&gt;"), std::string::npos);
  for (const char* bad : {"\"nan", "\"-nan", "\"inf", "\"-inf"}) {
    EXPECT_EQ(h.find(bad), std::string::npos) << bad;
  }
  EXPECT_NE(h.find("log scale"), std::string::npos) << "syscalls span four decades";
  EXPECT_NE(h.find("memcpy 10.50 GiB/s"), std::string::npos);
}

// A failed method is in its table but in none of the charts.
TEST_F(BenchReport, HtmlLeavesFailuresOutOfCharts) {
  SCOPED_TRACE(seed_);
  const std::string h = render_html(make());
  const auto table_end = h.find("</table>");
  ASSERT_NE(table_end, std::string::npos);
  EXPECT_LT(h.find("mmap_write"), table_end);
  for (auto at = h.find("<svg"); at != std::string::npos; at = h.find("<svg", at + 1)) {
    const auto end = h.find("</svg>", at);
    ASSERT_NE(end, std::string::npos);
    const std::string svg = h.substr(at, end - at);
    EXPECT_EQ(svg.find("mmap_write"), std::string::npos) << svg;
  }
}

// Python's html.parser sees every non-void element closed, in order, and eight svg elements.
TEST_F(BenchReport, HtmlIsWellFormedForPythonsParser) {
  SCOPED_TRACE(seed_);
  if (std::system("python3 -c pass >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3 is not installed";
  }
  test::temp_dir dir;
  {
    std::ofstream(dir / "report.html") << render_html(make());
    std::ofstream(dir / "check.py") << R"(import sys
from html.parser import HTMLParser
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
class Check(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.svgs, self.errors = [], 0, []
    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self.svgs += 1
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        if tag == "svg":
            self.svgs += 1
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes %s at line %d" % (tag, self.stack[-1:] or "nothing", self.getpos()[0]))
        else:
            self.stack.pop()
p = Check()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.close()
if p.stack:
    p.errors.append("never closed: %s" % p.stack)
print("svgs=%d" % p.svgs)
for e in p.errors:
    print(e)
sys.exit(1 if p.errors else 0)
)";
  }
  const std::string cmd =
      "python3 '" + (dir / "check.py").string() + "' '" + (dir / "report.html").string() + "' 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) output.append(buf, n);
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("svgs=8\n"), std::string::npos) << output;
}

// A report with no results still renders: headers only, empty arrays, no charts.
TEST_F(BenchReport, EmptyReportRendersEverywhere) {
  report rep;
  rep.settings.repeat = 1;
  EXPECT_NE(render_table(rep).find("repeats: 1"), std::string::npos);
  const auto doc = nlohmann::json::parse(render_json(rep));
  EXPECT_TRUE(doc["results"].is_array() && doc["results"].empty());
  EXPECT_EQ(parse_csv(render_csv(rep)).size(), 1u);
  const std::string h = render_html(rep);
  EXPECT_EQ(h.find("<svg"), std::string::npos);
  EXPECT_NE(h.find("</html>"), std::string::npos);
}

}  // namespace
}  // namespace zcopy::bench
