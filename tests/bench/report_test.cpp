// zcopy bench's renderings: tables sorted by CPU per GiB with failures last, JSON and CSV with
// every field for every result, and an HTML page that escapes everything, parses cleanly, opens
// with a summary per path (transfer()'s pick, ratios against read_write, the textbook next to the
// measurement) and draws its charts as HTML bar rows.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <regex>
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

// A result with `rounds` samples whose CPU per GiB sits near `cpu_per_gib` (jittered, so the
// order between methods is fixed while the numbers are not round).
method_result measured(path p, std::string name, double cpu_per_gib, std::mt19937_64& rng,
                       std::string moved = {}, int rounds = 3) {
  std::uniform_real_distribution<double> jitter(0.95, 1.05);
  method_result r;
  r.where = p;
  r.method.name = name;
  r.method.transfer = parse_method(name);
  r.method.textbook = {2, 2, 4, "a textbook note"};
  std::vector<double> gibps, cpu, user, sys, calls, calls_per_gib, vol, invol, ctx, minor, major,
      helper, secs;
  for (int i = 0; i < rounds; ++i) {
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

// The textbook's counts as runner.cpp writes them down, for the methods the summary compares.
void set_models(report& r) {
  for (method_result& m : r.results) {
    const bool to_socket = m.where == path::file_to_socket;
    if (m.method.name == "read_write") m.method.textbook = {2, 2, 4, "two copies"};
    if (m.method.name == "sendfile") m.method.textbook = {to_socket ? 0 : 1, 2, 2, "in kernel"};
    if (m.method.name == "splice") m.method.textbook = {to_socket ? 0 : 1, 2, 4, "a pipe"};
    if (m.method.name == "copy_file_range") m.method.textbook = {1, 2, 2, "in kernel"};
  }
}

method_result& result_of(report& r, path p, const std::string& name) {
  for (method_result& m : r.results) {
    if (m.where == p && m.method.name == name) return m;
  }
  ADD_FAILURE() << "no result " << name;
  return r.results.front();
}

// The summary block of one path: from its <h3> to the end of its <div>.
std::string summary_of(const std::string& html, const std::string& title) {
  const auto start = html.find("<h3>" + title + "</h3>");
  if (start == std::string::npos) return {};
  return html.substr(start, html.find("</div>", start) - start);
}

// The path's section after the summary: from its <h2> to </section>.
std::string section_of(const std::string& html, const std::string& title) {
  const auto start = html.find("<h2>" + title + " <small>");
  if (start == std::string::npos) return {};
  return html.substr(start, html.find("</section>", start) - start);
}

// The bar labels of the n-th chart (0: throughput) of a section, top to bottom.
std::vector<std::string> chart_labels(const std::string& section, int n) {
  auto at = section.find("<figure class=\"chart\"");
  for (int i = 0; i < n && at != std::string::npos; ++i) {
    at = section.find("<figure class=\"chart\"", at + 1);
  }
  std::vector<std::string> labels;
  if (at == std::string::npos) return labels;
  const auto end = section.find("</figure>", at);
  const std::string open = "<span class=\"label\">";
  for (auto l = section.find(open, at); l < end; l = section.find(open, l + 1)) {
    const auto from = l + open.size();
    const std::string label = section.substr(from, section.find("</span>", from) - from);
    if (!label.empty()) labels.push_back(label);  // the axis row has an empty label
  }
  return labels;
}

// "%.2f" plus the multiplication sign: how the summary prints a ratio.
std::string ratio_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f\u00d7", v);
  return buf;
}

std::string decimals(double v, int places) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", places, v);
  return buf;
}

std::string with_commas(double v) {
  const std::string digits = decimals(v, 0);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
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

// Four charts per path, drawn as HTML (no SVG, no scripts, no URL), every string escaped (never
// raw), no NaN positions.
TEST_F(BenchReport, HtmlHasFourChartsPerPathAndEscapesEverything) {
  SCOPED_TRACE(seed_);
  const std::string h = render_html(make());
  EXPECT_EQ(count(h, "<figure class=\"chart\""), 4u * 2u);
  EXPECT_EQ(count(h, "</figure>"), 4u * 2u);
  EXPECT_EQ(count(h, "<section>"), 2u);
  EXPECT_EQ(count(h, "<section class=\"summary\">"), 1u);
  EXPECT_EQ(h.find("<svg"), std::string::npos);
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_EQ(h.find("http://"), std::string::npos) << "nothing fetched";
  EXPECT_EQ(h.find("https://"), std::string::npos) << "nothing fetched";
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
  for (const char* bad : {":nan", ":-nan", ":inf", ":-inf", "\"nan", "\"inf"}) {
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
  std::size_t charts = 0;
  for (auto at = h.find("<figure"); at != std::string::npos; at = h.find("<figure", at + 1)) {
    const auto end = h.find("</figure>", at);
    ASSERT_NE(end, std::string::npos);
    const std::string chart = h.substr(at, end - at);
    EXPECT_EQ(chart.find("mmap_write"), std::string::npos) << chart;
    ++charts;
  }
  EXPECT_EQ(charts, 8u);
}

// Python's html.parser sees every non-void element closed, in order, and eight charts.
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
        self.stack, self.charts, self.errors = [], 0, []
    def handle_starttag(self, tag, attrs):
        if tag == "figure" and ("class", "chart") in attrs:
            self.charts += 1
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        if tag not in VOID:
            self.errors.append("<%s/> is not a void element" % tag)
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
print("charts=%d" % p.charts)
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
  EXPECT_NE(output.find("charts=8\n"), std::string::npos) << output;
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
  EXPECT_EQ(h.find("<figure"), std::string::npos);
  EXPECT_EQ(h.find("class=\"summary\""), std::string::npos);
  EXPECT_NE(h.find("</html>"), std::string::npos);
}

// The page opens with a summary per path: the method transfer() picks (the first of its chain that
// worked here), its throughput and CPU per GiB as ratios to read_write, and the textbook's counts
// next to the measured system calls and context switches.
TEST_F(BenchReport, HtmlSummaryGivesPickAndRatiosPerPath) {
  SCOPED_TRACE(seed_);
  report rep = make();
  set_models(rep);
  const std::string h = render_html(rep);
  const auto summary_at = h.find("<section class=\"summary\">");
  ASSERT_NE(summary_at, std::string::npos);
  EXPECT_LT(summary_at, h.find("<table>")) << "the summary comes before the tables";
  EXPECT_EQ(count(h, "transfer() picks"), 2u) << "one pick per path";

  const std::string fs = summary_of(h, "file \u2192 socket");
  ASSERT_FALSE(fs.empty()) << h;
  // file → socket walks sendfile → splice → read_write; sendfile worked here.
  EXPECT_NE(fs.find("transfer() picks <strong>sendfile</strong>"), std::string::npos) << fs;
  EXPECT_NE(fs.find("sendfile \u2192 splice \u2192 read_write"), std::string::npos) << fs;
  const method_result& send = result_of(rep, path::file_to_socket, "sendfile");
  const method_result& rw = result_of(rep, path::file_to_socket, "read_write");
  const std::string faster = ratio_text(send.gib_per_second.median / rw.gib_per_second.median);
  const std::string cpu =
      ratio_text(send.cpu_seconds_per_gib.median / rw.cpu_seconds_per_gib.median);
  EXPECT_NE(fs.find("<strong>" + faster + "</strong> the throughput of read_write"),
            std::string::npos)
      << faster << "\n"
      << fs;
  EXPECT_NE(fs.find("<strong>" + cpu + "</strong> its CPU per GiB"), std::string::npos)
      << cpu << "\n"
      << fs;
  EXPECT_NE(fs.find("(" + decimals(send.gib_per_second.median, 2) + " vs " +
                    decimals(rw.gib_per_second.median, 2) + " GiB/s)"),
            std::string::npos)
      << fs;
  // The model, labelled as such, beside the measured counts.
  EXPECT_NE(fs.find("Textbook (a model, not measured): sendfile makes 0 CPU copies and 2 mode "
                    "switches per chunk, read_write 2 and 4."),
            std::string::npos)
      << fs;
  EXPECT_NE(fs.find("Measured per run: " + with_commas(send.syscalls.median) + " vs " +
                    with_commas(rw.syscalls.median) + " system calls, " +
                    with_commas(send.context_switches.median) + " vs " +
                    with_commas(rw.context_switches.median) + " context switches."),
            std::string::npos)
      << fs;

  const std::string ff = summary_of(h, "file \u2192 file");
  ASSERT_FALSE(ff.empty()) << h;
  EXPECT_NE(ff.find("transfer() picks <strong>"), std::string::npos) << ff;
}

// A memory source is not transfer()'s: the summary says so and compares the fastest sender with
// write at the same bytes per send.
TEST_F(BenchReport, HtmlSummaryComparesMemorySendersWithWriteOfTheSameSize) {
  SCOPED_TRACE(seed_);
  std::mt19937_64 rng(seed_);
  report rep;
  rep.settings.repeat = 3;
  for (std::size_t size : {std::size_t{4096}, std::size_t{65536}}) {
    method_result w = measured(path::memory_to_socket, "write", 0.9, rng);
    w.method.message_size = size;
    w.method.textbook = {1, 1, 2, "copied into socket buffers"};
    rep.results.push_back(std::move(w));
  }
  method_result zc = measured(path::memory_to_socket, "msg_zerocopy", 0.3, rng);
  zc.method.message_size = 65536;
  zc.method.textbook = {0, 1, 2, "pinned pages"};
  rep.results.push_back(zc);
  const method_result& write64 = rep.results[1];
  const std::string h = render_html(rep);
  const std::string ms = summary_of(h, "memory \u2192 socket");
  ASSERT_FALSE(ms.empty()) << h;
  EXPECT_NE(ms.find("transfer() does not serve this path"), std::string::npos) << ms;
  EXPECT_NE(ms.find("<strong>msg_zerocopy 64K</strong>: <strong>" +
                    ratio_text(zc.gib_per_second.median / write64.gib_per_second.median) +
                    "</strong> the throughput of write 64K"),
            std::string::npos)
      << ms;
}

// Each path's heading is explained by a line under it, and each column by a visible line under
// the table (not only a title attribute).
TEST_F(BenchReport, HtmlExplainsPathsAndColumnsWhereTheyAppear) {
  SCOPED_TRACE(seed_);
  const std::string h = render_html(make());
  for (const char* title : {"file \u2192 socket", "file \u2192 file"}) {
    const std::string section = section_of(h, title);
    ASSERT_FALSE(section.empty()) << title << "\n" << h;
    EXPECT_NE(section.find("<p class=\"desc\">"), std::string::npos) << section;
    const auto columns = section.find("<dl class=\"columns\">");
    ASSERT_NE(columns, std::string::npos) << section;
    for (const char* column : {"GiB/s", "CPU s/GiB", "helper CPU s/GiB", "model CPU/DMA"}) {
      EXPECT_NE(section.find(std::string("<dt>") + column + "</dt> <dd>", columns),
                std::string::npos)
          << column;
    }
  }
  EXPECT_NE(section_of(h, "file \u2192 socket").find("file-socket"), std::string::npos)
      << "the path's short name stays beside its title";
}

// The throughput chart runs fastest first, whatever the table's CPU order.
TEST_F(BenchReport, HtmlThroughputChartIsSortedFastestFirst) {
  SCOPED_TRACE(seed_);
  report rep = make();
  // The cheapest in CPU is made the slowest, and a middle one the fastest.
  result_of(rep, path::file_to_file, "copy_file_range").gib_per_second = {0.4, 0.3, 0.5};
  result_of(rep, path::file_to_file, "splice").gib_per_second = {9.0, 8.5, 9.5};
  const std::string h = render_html(rep);
  for (path p : {path::file_to_socket, path::file_to_file}) {
    std::vector<const method_result*> expected;
    for (const method_result& m : rep.results) {
      if (m.where == p && m.error.empty()) expected.push_back(&m);
    }
    std::stable_sort(expected.begin(), expected.end(), [](auto* a, auto* b) {
      return a->gib_per_second.median > b->gib_per_second.median;
    });
    std::vector<std::string> names;
    for (const method_result* m : expected) names.push_back(m->method.name);
    const std::string title = p == path::file_to_socket ? "file \u2192 socket" : "file \u2192 file";
    EXPECT_EQ(chart_labels(section_of(h, title), 0), names) << title;
  }
  EXPECT_EQ(chart_labels(section_of(h, "file \u2192 file"), 0).front(), "splice");
}

// Axis ticks share one format: plain below 1000, SI suffixes above, never exponent notation,
// even when a log axis spans seven decades.
TEST_F(BenchReport, HtmlTicksUseOneNumberFormat) {
  SCOPED_TRACE(seed_);
  report rep = make();
  result_of(rep, path::file_to_file, "read_write").syscalls_per_gib = {2.5e6, 2.5e6, 2.5e6};
  const std::string h = render_html(rep);
  const std::regex tick("<span class=\"tick\" style=\"left:[0-9.]+%\">([^<]*)</span>");
  const std::regex one_format("^(0|[1-9][0-9]{0,2})(\\.[0-9]+)?[kMGT]?$|^0\\.[0-9]+$");
  std::size_t ticks = 0;
  std::vector<std::string> labels;
  for (auto it = std::sregex_iterator(h.begin(), h.end(), tick); it != std::sregex_iterator();
       ++it) {
    const std::string label = (*it)[1];
    EXPECT_TRUE(std::regex_match(label, one_format)) << label;
    labels.push_back(label);
    ++ticks;
  }
  EXPECT_GT(ticks, 20u);
  EXPECT_NE(std::find(labels.begin(), labels.end(), "10M"), labels.end());
  EXPECT_NE(std::find(labels.begin(), labels.end(), "1k"), labels.end());
  EXPECT_EQ(h.find("e+"), std::string::npos);
  EXPECT_FALSE(std::regex_search(h, std::regex(">[0-9.]+e[0-9-]")));
}

// One round: one visible sentence says the figures are single samples, the table has no range
// column and nothing prints as "x–x". Several rounds: ranges and whiskers are back.
TEST_F(BenchReport, HtmlSaysSingleSamplesAndPrintsNoRangesAfterOneRound) {
  SCOPED_TRACE(seed_);
  std::mt19937_64 rng(seed_);
  report single;
  single.settings.repeat = 1;
  single.memcpy_gib_per_second = 10.5;
  single.results.push_back(measured(path::file_to_socket, "read_write", 0.9, rng, {}, 1));
  single.results.push_back(measured(path::file_to_socket, "sendfile", 0.2, rng, {}, 1));
  const std::string h = render_html(single);
  EXPECT_EQ(count(h, "every figure below is a single sample"), 1u) << h;
  EXPECT_EQ(h.find(">min\u2013max</th>"), std::string::npos);
  EXPECT_EQ(h.find("class=\"w\""), std::string::npos) << "no whiskers";
  EXPECT_FALSE(std::regex_search(h, std::regex("([0-9]+\\.[0-9]+)\u2013\\1([^0-9]|$)")))
      << "no x\u2013x ranges";

  const report several = make();
  const std::string m = render_html(several);
  EXPECT_EQ(m.find("single sample"), std::string::npos);
  EXPECT_NE(m.find(">min\u2013max</th>"), std::string::npos);
  EXPECT_NE(m.find("class=\"w\""), std::string::npos) << "whiskers";
  const method_result& rw = several.results[1];
  EXPECT_NE(m.find(">" + decimals(rw.gib_per_second.min, 2) + "\u2013" +
                   decimals(rw.gib_per_second.max, 2) + "<"),
            std::string::npos);
  EXPECT_NE(m.find("Medians over 3 interleaved rounds"), std::string::npos);
}

// A method the textbook calls cheaper that measured dearer or slower than read_write is named in
// its path's summary with a likely reason; data that agrees with the textbook gets no such line.
TEST_F(BenchReport, HtmlSummaryExplainsContradictionsOnlyWhenThereAreSome) {
  SCOPED_TRACE(seed_);
  report agrees = make();
  set_models(agrees);
  agrees.host.cpus = 2;
  const std::string calm = render_html(agrees);
  EXPECT_EQ(calm.find("Not what the textbook predicts"), std::string::npos) << calm;
  EXPECT_EQ(calm.find("Likely why"), std::string::npos);

  report contradicts = agrees;
  method_result& send = result_of(contradicts, path::file_to_socket, "sendfile");
  const method_result& rw = result_of(contradicts, path::file_to_socket, "read_write");
  send.cpu_seconds_per_gib = {rw.cpu_seconds_per_gib.median * 2, rw.cpu_seconds_per_gib.min * 2,
                              rw.cpu_seconds_per_gib.max * 2};
  send.gib_per_second = {rw.gib_per_second.median / 2, rw.gib_per_second.min / 2,
                         rw.gib_per_second.max / 2};
  const std::string h = render_html(contradicts);
  const std::string fs = summary_of(h, "file \u2192 socket");
  const auto at = fs.find("<li class=\"contradiction\"><strong>Not what the textbook predicts");
  ASSERT_NE(at, std::string::npos) << fs;
  EXPECT_NE(fs.find("<strong>sendfile</strong> makes fewer copies than read_write but used more "
                    "CPU per GiB (" +
                        decimals(send.cpu_seconds_per_gib.median, 3) + " vs " +
                        decimals(rw.cpu_seconds_per_gib.median, 3) + " s) and was slower (" +
                        decimals(send.gib_per_second.median, 2) + " vs " +
                        decimals(rw.gib_per_second.median, 2) + " GiB/s)",
                    at),
            std::string::npos)
      << fs;
  EXPECT_NE(fs.find("Likely why:\n<ul>\n<li>", at), std::string::npos) << fs;
  EXPECT_NE(fs.find("With 2 CPUs", at), std::string::npos) << fs;
  EXPECT_EQ(count(h, "Not what the textbook predicts"), 1u) << "only the path that contradicts";
}

// Names reach the summary and the charts escaped, never raw.
TEST_F(BenchReport, HtmlEscapesNamesInSummaryAndCharts) {
  SCOPED_TRACE(seed_);
  report rep = make();
  set_models(rep);
  std::mt19937_64 rng(seed_);
  method_result odd = measured(path::file_to_socket, "zc<&\"'>", 5.0, rng);
  odd.method.textbook = {0, 2, 2, "odd"};  // cheaper by the book, dearer here: in the summary
  rep.results.push_back(std::move(odd));
  const std::string h = render_html(rep);
  EXPECT_EQ(h.find("zc<&"), std::string::npos);
  const std::string escaped = "zc&lt;&amp;&quot;&#39;&gt;";
  EXPECT_NE(summary_of(h, "file \u2192 socket").find("<strong>" + escaped + "</strong>"),
            std::string::npos)
      << h;
  EXPECT_NE(h.find("<span class=\"label\">" + escaped + "</span>"), std::string::npos);
  EXPECT_NE(h.find("<td>" + escaped + "</td>"), std::string::npos);
}

}  // namespace
}  // namespace zcopy::bench
