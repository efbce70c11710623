// Renderings of a bench report (bench.hpp): aligned plain-text tables for the terminal, JSON and
// CSV for scripts, and one self-contained HTML page (inline <style> and SVG; no scripts, no fonts,
// nothing fetched, so the file can be mailed or attached to an issue as it is).
//
// Every rendering groups the results by path, in the order the paths first appear, and within a
// path sorts the methods by median CPU seconds per GiB, the cost the textbook table is about;
// methods that failed come last with their reason. The "model" numbers (copies, mode switches) are
// the textbook's counts written down in runner.cpp, never measured, and every rendering says so.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/bench.hpp"
#include "http/html.hpp"

namespace zcopy::bench {

namespace {

constexpr double gib = 1024.0 * 1024.0 * 1024.0;

// --- shared ------------------------------------------------------------------------------------

std::vector<path> paths_in_order(const report& r) {
  std::vector<path> out;
  for (const method_result& m : r.results) {
    if (std::find(out.begin(), out.end(), m.where) == out.end()) out.push_back(m.where);
  }
  return out;
}

bool failed(const method_result& m) {
  return !m.error.empty();
}

// The results of one path, cheapest CPU per GiB first, failed methods last (stable otherwise).
std::vector<const method_result*> sorted_results(const report& r, path p) {
  std::vector<const method_result*> out;
  for (const method_result& m : r.results) {
    if (m.where == p) out.push_back(&m);
  }
  std::stable_sort(out.begin(), out.end(), [](const method_result* a, const method_result* b) {
    if (failed(*a) != failed(*b)) return !failed(*a);
    if (failed(*a)) return false;
    return a->cpu_seconds_per_gib.median < b->cpu_seconds_per_gib.median;
  });
  return out;
}

std::string human_size(std::uint64_t bytes) {
  const auto b = static_cast<double>(bytes);
  if (bytes >= (std::uint64_t{1} << 30)) {
    return bytes % (std::uint64_t{1} << 30) == 0 ? fmt::format("{} GiB", bytes >> 30)
                                                 : fmt::format("{:.2f} GiB", b / gib);
  }
  if (bytes >= (std::uint64_t{1} << 20)) {
    return bytes % (std::uint64_t{1} << 20) == 0 ? fmt::format("{} MiB", bytes >> 20)
                                                 : fmt::format("{:.2f} MiB", b / (1024.0 * 1024));
  }
  if (bytes >= 1024) {
    return bytes % 1024 == 0 ? fmt::format("{} KiB", bytes >> 10)
                             : fmt::format("{:.2f} KiB", b / 1024.0);
  }
  return fmt::format("{} bytes", bytes);
}

std::string or_unknown(const std::string& s) {
  return s.empty() ? "unknown" : s;
}

std::string cache_state(const config& c) {
  return c.cold ? "cold (source evicted from the page cache before each run)"
                : "warm (source in the page cache)";
}

// The methods that really moved the bytes, where they are not the method asked for (a transfer
// that fell back, for instance); empty when the method moved everything itself.
std::string moved_by(const method_result& m) {
  std::vector<std::string> names;
  for (const sample& s : m.samples) {
    if (s.moved_by.empty() || s.moved_by == m.method.name) continue;
    if (std::find(names.begin(), names.end(), s.moved_by) == names.end()) {
      names.push_back(s.moved_by);
    }
  }
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : "+") + n;
  return out;
}

std::string fixed(double v, int decimals) {
  return fmt::format("{:.{}f}", v, decimals);
}
std::string whole(double v) {
  return fmt::format("{:.0f}", v);
}

std::string percent_of_memcpy(const report& r, const method_result& m) {
  if (r.memcpy_gib_per_second <= 0) return "-";
  return fmt::format("{:.1f}%", m.fraction_of_memcpy * 100.0);
}

// Zero-copy sends the kernel copied anyway, of those made: "-" where the method makes none.
std::string zerocopy_cell(const method_result& m) {
  if (m.zerocopy_sends.median <= 0 && m.copied_sends.median <= 0) return "-";
  return fmt::format("{}/{}", whole(m.copied_sends.median), whole(m.zerocopy_sends.median));
}

// One table, shared by the text and HTML renderings.
struct column {
  std::string_view header;
  bool numeric;
  bool model;  // the textbook's count, not a measurement
};

constexpr column columns[] = {
    {"method", false, false},
    {"GiB/s", true, false},
    {"min\u2013max", true, false},
    {"% memcpy", true, false},
    {"CPU s/GiB", true, false},
    {"user s", true, false},
    {"sys s", true, false},
    {"syscalls", true, false},
    {"ctx vol/invol", true, false},
    {"faults minor/major", true, false},
    {"helper CPU s/GiB", true, false},
    {"model CPU/DMA", true, true},
    {"model switches", true, true},
    {"copied/zc sends", true, false},
    {"verified", false, false},
    {"moved by", false, false},
};
constexpr std::size_t column_count = std::size(columns);

struct table_row {
  std::string method;
  std::vector<std::string> cells;  // every column but the method; empty when failed
  std::string error;
};

table_row row_of(const report& r, const method_result& m) {
  table_row row;
  row.method = display_name(m.method);
  if (failed(m)) {
    row.error = m.error;
    return row;
  }
  row.cells = {
      fixed(m.gib_per_second.median, 2),
      fmt::format("{:.2f}\u2013{:.2f}", m.gib_per_second.min, m.gib_per_second.max),
      percent_of_memcpy(r, m),
      fixed(m.cpu_seconds_per_gib.median, 3),
      fixed(m.user_seconds.median, 3),
      fixed(m.sys_seconds.median, 3),
      whole(m.syscalls.median),
      fmt::format("{}/{}", whole(m.voluntary_switches.median),
                  whole(m.involuntary_switches.median)),
      fmt::format("{}/{}", whole(m.minor_faults.median), whole(m.major_faults.median)),
      fixed(m.helper_cpu_seconds_per_gib.median, 3),
      fmt::format("{}/{}", m.method.textbook.cpu_copies, m.method.textbook.dma_copies),
      fmt::format("{}", m.method.textbook.mode_switches),
      zerocopy_cell(m),
      m.verified ? "yes" : "no",
      moved_by(m),
  };
  return row;
}

// How many columns a path's table shows: the moved-by column only earns its place when some
// method did not move its own bytes.
std::size_t columns_shown(const std::vector<const method_result*>& rows) {
  const bool any = std::any_of(rows.begin(), rows.end(),
                               [](const method_result* m) { return !moved_by(*m).empty(); });
  return any ? column_count : column_count - 1;
}

// --- text --------------------------------------------------------------------------------------

// Display width in code points: the headers hold an en dash, which fmt's width would count as
// three bytes unless the build enables its Unicode mode.
std::size_t display_width(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string pad(std::string_view s, std::size_t width, bool right) {
  const std::size_t w = display_width(s);
  const std::string fill(width > w ? width - w : 0, ' ');
  return right ? fill + std::string(s) : std::string(s) + fill;
}

std::string one_line(std::string_view s) {
  std::string out(s);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return out;
}

// --- HTML and SVG ------------------------------------------------------------------------------

std::string escape(std::string_view s) {
  return detail::html_escape(s);
}

// SVG coordinates: one decimal is finer than a pixel.
std::string px(double v) {
  return fmt::format("{:.1f}", std::isfinite(v) ? v : 0.0);
}

// A round upper bound at or above v and the number of ticks that divides it evenly: the finer
// steps (1.5, 2.5, 3, 4, 6, 8) keep the longest bar from ending halfway along the axis.
struct scale {
  double max = 1;
  int ticks = 5;
};

scale nice_scale(double v) {
  if (!(v > 0) || !std::isfinite(v)) return {};
  const double magnitude = std::pow(10.0, std::floor(std::log10(v)));
  constexpr std::pair<double, int> steps[] = {{1, 5}, {1.5, 3}, {2, 4}, {2.5, 5}, {3, 3},
                                              {4, 4}, {5, 5},   {6, 3}, {8, 4},   {10, 5}};
  for (auto [f, ticks] : steps) {
    if (v <= f * magnitude * (1 + 1e-9)) return {f * magnitude, ticks};
  }
  return {10 * magnitude, 5};
}

std::string tick_label(double v) {
  if (v >= 1e5) return fmt::format("1e{:.0f}", std::log10(v));
  return fmt::format("{:g}", v);
}

struct bar {
  std::string label;
  double value = 0;   // the median (the first segment when stacked)
  double second = 0;  // a stacked second segment (involuntary switches)
  std::optional<std::pair<double, double>> range;  // min–max whisker
  std::string value_text;
};

struct chart {
  std::string title;
  std::string axis_label;
  std::vector<bar> bars;
  bool stacked = false;
  std::string first_legend;  // stacked only
  std::string second_legend;
  bool allow_log = false;           // switch to a log scale when the range spans more than 100×
  std::optional<double> reference;  // a dashed line (the memcpy ceiling)
  std::string reference_label;
};

constexpr double svg_width = 880;
constexpr double plot_left = 150;
constexpr double plot_right = 760;
constexpr double bar_height = 18;
constexpr double bar_gap = 8;
constexpr double bars_top = 52;

std::string render_chart(const chart& c) {
  double data_max = 0;
  double positive_min = 0;
  for (const bar& b : c.bars) {
    const double top = std::max(b.value + b.second, b.range ? b.range->second : 0.0);
    data_max = std::max(data_max, top);
    for (double v : {b.value + b.second, b.range ? b.range->first : 0.0}) {
      if (v > 0 && (positive_min == 0 || v < positive_min)) positive_min = v;
    }
  }
  const bool log = c.allow_log && positive_min > 0 && data_max / positive_min > 100;

  std::string note;
  scale axis = nice_scale(data_max);
  bool draw_reference = false;
  if (c.reference && *c.reference > 0) {
    if (*c.reference <= axis.max) {
      draw_reference = true;
    } else if (*c.reference <= 3 * data_max || data_max <= 0) {
      // Close enough to show on the same scale without squashing the bars.
      axis = nice_scale(*c.reference);
      draw_reference = true;
    } else {
      note = fmt::format("{} is off this scale", c.reference_label);
    }
  }

  double log_low = 0;
  double log_high = 1;
  if (log) {
    // One decade below the smallest value, so that no bar has zero length.
    log_low = std::ceil(std::log10(positive_min)) - 1;
    log_high = std::max(std::ceil(std::log10(data_max)), log_low + 1);
  }
  const double plot_width = plot_right - plot_left;
  auto x_of = [&](double v) {
    if (log) {
      if (!(v > 0)) return plot_left;
      const double f = (std::log10(v) - log_low) / (log_high - log_low);
      return plot_left + std::clamp(f, 0.0, 1.0) * plot_width;
    }
    return plot_left + std::clamp(v / axis.max, 0.0, 1.0) * plot_width;
  };

  const double axis_y = bars_top + static_cast<double>(c.bars.size()) * (bar_height + bar_gap);
  const double height = axis_y + 44;
  std::string title = c.title + (log ? " (log scale)" : "");

  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" role=\"img\" "
      "aria-label=\"{}\">\n",
      px(svg_width), px(height), escape(title));
  out += fmt::format("<text class=\"title\" x=\"{}\" y=\"20\">{}</text>\n", px(plot_left),
                     escape(title));
  if (!note.empty()) {
    out += fmt::format("<text class=\"note\" x=\"{}\" y=\"38\">{}</text>\n", px(plot_left),
                       escape(note));
  }
  if (c.stacked) {
    out += fmt::format(
        "<rect class=\"bar\" x=\"{0}\" y=\"29\" width=\"10\" height=\"10\"/>"
        "<text class=\"legend\" x=\"{1}\" y=\"38\">{2}</text>"
        "<rect class=\"bar2\" x=\"{3}\" y=\"29\" width=\"10\" height=\"10\"/>"
        "<text class=\"legend\" x=\"{4}\" y=\"38\">{5}</text>\n",
        px(plot_left), px(plot_left + 14), escape(c.first_legend), px(plot_left + 110),
        px(plot_left + 124), escape(c.second_legend));
  }

  // Grid and ticks.
  std::vector<double> ticks;
  if (log) {
    for (double e = log_low; e <= log_high + 0.5; e += 1) ticks.push_back(std::pow(10.0, e));
  } else {
    for (int i = 0; i <= axis.ticks; ++i) ticks.push_back(axis.max * i / axis.ticks);
  }
  for (double t : ticks) {
    const double x = x_of(t);
    out += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{0}\" y=\"{3}\">{4}</text>\n",
        px(x), px(bars_top - 4), px(axis_y), px(axis_y + 14), escape(tick_label(t)));
  }
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>\n",
                     px(plot_left), px(axis_y), px(plot_right));
  out += fmt::format("<text class=\"unit\" x=\"{}\" y=\"{}\">{}</text>\n",
                     px((plot_left + plot_right) / 2), px(axis_y + 32), escape(c.axis_label));

  // Bars, labels, whiskers.
  for (std::size_t i = 0; i < c.bars.size(); ++i) {
    const bar& b = c.bars[i];
    const double y = bars_top + static_cast<double>(i) * (bar_height + bar_gap);
    const double mid = y + bar_height / 2;
    const double end = x_of(b.value);
    out += fmt::format("<text class=\"label\" x=\"{}\" y=\"{}\">{}</text>\n", px(plot_left - 8),
                       px(mid + 4), escape(b.label));
    out += fmt::format("<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n",
                       px(plot_left), px(y), px(end - plot_left), px(bar_height));
    double right = end;
    if (c.stacked) {
      const double end2 = x_of(b.value + b.second);
      out += fmt::format("<rect class=\"bar2\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n",
                         px(end), px(y), px(std::max(0.0, end2 - end)), px(bar_height));
      right = std::max(right, end2);
    }
    if (b.range) {
      const double lo = x_of(b.range->first);
      const double hi = x_of(b.range->second);
      out += fmt::format(
          "<line class=\"whisker\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>"
          "<line class=\"whisker\" x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{4}\"/>"
          "<line class=\"whisker\" x1=\"{2}\" y1=\"{3}\" x2=\"{2}\" y2=\"{4}\"/>\n",
          px(lo), px(mid), px(hi), px(mid - 4), px(mid + 4));
      right = std::max(right, hi);
    }
    out += fmt::format("<text class=\"value\" x=\"{}\" y=\"{}\">{}</text>\n", px(right + 6),
                       px(mid + 4), escape(b.value_text));
  }

  if (draw_reference) {
    const double x = x_of(*c.reference);
    out += fmt::format(
        "<line class=\"reference\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
        "<text class=\"reference-label\" x=\"{0}\" y=\"38\" text-anchor=\"{3}\">{4}</text>\n",
        px(x), px(bars_top - 8), px(axis_y), x > (plot_left + plot_right) / 2 ? "end" : "start",
        escape(c.reference_label));
  }
  out += "</svg>\n";
  return out;
}

std::vector<chart> charts_for(const report& r, const std::vector<const method_result*>& rows) {
  chart throughput{.title = "Throughput", .axis_label = "GiB/s (median, whisker: min\u2013max)"};
  if (r.memcpy_gib_per_second > 0) {
    throughput.reference = r.memcpy_gib_per_second;
    throughput.reference_label = fmt::format("memcpy {:.2f} GiB/s", r.memcpy_gib_per_second);
  }
  chart cpu{.title = "CPU per GiB moved (moving thread, user + sys)",
            .axis_label = "CPU seconds per GiB (median, whisker: min\u2013max)"};
  chart syscalls{.title = "System calls per GiB",
                 .axis_label = "system calls per GiB (median)",
                 .allow_log = true};
  chart switches{.title = "Context switches per run",
                 .axis_label = "context switches (median)",
                 .stacked = true,
                 .first_legend = "voluntary",
                 .second_legend = "involuntary"};
  for (const method_result* m : rows) {
    if (failed(*m)) continue;
    const std::string name = display_name(m->method);
    throughput.bars.push_back({name, m->gib_per_second.median, 0,
                               std::pair{m->gib_per_second.min, m->gib_per_second.max},
                               fixed(m->gib_per_second.median, 2)});
    cpu.bars.push_back({name, m->cpu_seconds_per_gib.median, 0,
                        std::pair{m->cpu_seconds_per_gib.min, m->cpu_seconds_per_gib.max},
                        fixed(m->cpu_seconds_per_gib.median, 3)});
    syscalls.bars.push_back(
        {name, m->syscalls_per_gib.median, 0, std::nullopt, whole(m->syscalls_per_gib.median)});
    switches.bars.push_back({name, m->voluntary_switches.median, m->involuntary_switches.median,
                             std::nullopt,
                             fmt::format("{} + {}", whole(m->voluntary_switches.median),
                                         whole(m->involuntary_switches.median))});
  }
  return {throughput, cpu, syscalls, switches};
}

constexpr std::string_view style = R"(
:root { color-scheme: light; }
body { margin: 0; background: #fafaf8; color: #2b2b2b;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 900px; margin: 0 auto; padding: 24px 16px 40px; }
h1 { font-size: 24px; margin: 0 0 12px; font-weight: 600; }
h2 { font-size: 18px; margin: 32px 0 8px; font-weight: 600; border-bottom: 1px solid #ddd;
  padding-bottom: 4px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.meta dt { color: #6b6b6b; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #efefeb;
  padding: 1px 4px; border-radius: 3px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 11.5px; font-variant-numeric: tabular-nums;
  margin: 8px 0 4px; }
th, td { padding: 3px 4px; border-bottom: 1px solid #e6e6e2; white-space: nowrap; }
th { text-align: left; font-weight: 600; color: #555; background: #f1f1ed; vertical-align: bottom; }
td.num, th.num { text-align: right; }
th.model, td.model { color: #7a7a7a; font-style: italic; }
tr.failed td { color: #8a3b3b; }
td.error { white-space: normal; }
p.model-note { font-size: 12px; color: #6b6b6b; margin: 2px 0 12px; }
svg { display: block; width: 100%; height: auto; margin: 14px 0; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 12px;
  fill: #3a3a3a; }
svg .title { font-size: 14px; font-weight: 600; }
svg .note, svg .unit, svg .tick { fill: #777; font-size: 11px; }
svg .tick, svg .unit { text-anchor: middle; }
svg .label { text-anchor: end; }
svg .bar { fill: #7d9bb8; }
svg .bar2 { fill: #d2b48c; }
svg .grid { stroke: #e6e6e2; stroke-width: 1; }
svg .axis { stroke: #8a8a8a; stroke-width: 1; }
svg .whisker { stroke: #2f3e4d; stroke-width: 1.2; }
svg .reference { stroke: #a8574f; stroke-width: 1.5; stroke-dasharray: 5 4; }
svg .reference-label { fill: #a8574f; font-size: 11px; }
footer { margin-top: 32px; padding-top: 8px; border-top: 1px solid #ddd; color: #6b6b6b;
  font-size: 12px; }
)";

std::string html_table(const report& r, const std::vector<const method_result*>& rows) {
  const std::size_t shown = columns_shown(rows);
  std::string out = "<div class=\"scroll\">\n<table>\n<thead>\n<tr>";
  for (std::size_t i = 0; i < shown; ++i) {
    const column& c = columns[i];
    std::string cls = c.numeric ? "num" : "";
    if (c.model) cls += cls.empty() ? "model" : " model";
    out += cls.empty() ? "<th>" : fmt::format("<th class=\"{}\">", cls);
    // Long headers break after their first word, so the table stays narrow.
    std::string header = escape(c.header);
    if (const auto space = header.find(' '); space != std::string::npos && header.size() >= 8) {
      header.replace(space, 1, "<br>");
    }
    out += header + "</th>";
  }
  out += "</tr>\n</thead>\n<tbody>\n";
  for (const method_result* m : rows) {
    const table_row row = row_of(r, *m);
    if (failed(*m)) {
      out += fmt::format(
          "<tr class=\"failed\"><td>{}</td><td class=\"error\" colspan=\"{}\">failed: "
          "{}</td></tr>\n",
          escape(row.method), shown - 1, escape(row.error));
      continue;
    }
    out += "<tr><td>" + escape(row.method) + "</td>";
    for (std::size_t i = 0; i + 1 < shown; ++i) {
      const column& c = columns[i + 1];
      std::string cls = c.numeric ? "num" : "";
      if (c.model) cls += " model";
      out += cls.empty() ? "<td>" : fmt::format("<td class=\"{}\">", cls);
      out += escape(row.cells[i]) + "</td>";
    }
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n</div>\n";
  return out;
}

// --- CSV ---------------------------------------------------------------------------------------

// RFC 4180: a field with a comma, a quote or a line break is quoted, and its quotes doubled.
std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// --- JSON --------------------------------------------------------------------------------------

nlohmann::json to_json(const stat& s) {
  return {{"median", s.median}, {"min", s.min}, {"max", s.max}};
}

nlohmann::json to_json(const sample& s) {
  return {
      {"seconds", s.seconds},
      {"user_seconds", s.user_seconds},
      {"sys_seconds", s.sys_seconds},
      {"syscalls", s.syscalls},
      {"voluntary_switches", s.voluntary_switches},
      {"involuntary_switches", s.involuntary_switches},
      {"minor_faults", s.minor_faults},
      {"major_faults", s.major_faults},
      {"helper_user_seconds", s.helper_user_seconds},
      {"helper_sys_seconds", s.helper_sys_seconds},
      {"bytes", s.bytes},
      {"verified", s.verified},
      {"moved_by", s.moved_by},
      {"zerocopy_sends", s.zerocopy_sends},
      {"copied_sends", s.copied_sends},
  };
}

}  // namespace

std::string render_table(const report& r) {
  std::string out;
  out += fmt::format("machine: {}: Linux {}, {} \u00d7 {} cpus, {} ({})\n",
                     or_unknown(r.host.hostname), or_unknown(r.host.kernel),
                     or_unknown(r.host.cpu_model), r.host.cpus, or_unknown(r.host.filesystem),
                     or_unknown(r.host.directory));
  out += fmt::format("memcpy: {:.2f} GiB/s   size: {}   repeats: {}   {}{}\n",
                     r.memcpy_gib_per_second, human_size(r.settings.size), r.settings.repeat,
                     cache_state(r.settings), r.settings.verify ? "" : "   verification off");

  for (path p : paths_in_order(r)) {
    const auto rows = sorted_results(r, p);
    std::vector<table_row> table;
    for (const method_result* m : rows) table.push_back(row_of(r, *m));
    const std::size_t shown = columns_shown(rows);
    std::vector<std::size_t> widths(shown);
    for (std::size_t i = 0; i < shown; ++i) widths[i] = display_width(columns[i].header);
    for (const table_row& row : table) {
      widths[0] = std::max(widths[0], display_width(row.method));
      for (std::size_t i = 0; i < row.cells.size() && i + 1 < shown; ++i) {
        widths[i + 1] = std::max(widths[i + 1], display_width(row.cells[i]));
      }
    }
    auto line = [&](auto cell_of) {
      std::string l;
      for (std::size_t i = 0; i < shown; ++i) {
        if (i > 0) l += "  ";
        l += pad(cell_of(i), widths[i], columns[i].numeric);
      }
      while (!l.empty() && l.back() == ' ') l.pop_back();
      return l + "\n";
    };

    out += fmt::format("\n{} ({})\n", to_string(p), human_size(r.settings.size));
    out += line([](std::size_t i) { return std::string(columns[i].header); });
    for (const table_row& row : table) {
      if (!row.error.empty()) {
        out += pad(row.method, widths[0], false) + "  failed: " + one_line(row.error) + "\n";
        continue;
      }
      out += line([&](std::size_t i) { return i == 0 ? row.method : row.cells[i - 1]; });
    }
    out += "model = the textbook's copies per chunk, not measured\n";
  }
  return out;
}

std::string render_json(const report& r) {
  nlohmann::json paths = nlohmann::json::array();
  for (path p : r.settings.paths) paths.push_back(std::string(to_string(p)));
  nlohmann::json doc = {
      {"machine",
       {{"kernel", r.host.kernel},
        {"cpu_model", r.host.cpu_model},
        {"cpus", r.host.cpus},
        {"filesystem", r.host.filesystem},
        {"directory", r.host.directory},
        {"hostname", r.host.hostname}}},
      {"command_line", r.command_line},
      {"started_at", r.started_at},
      {"settings",
       {{"size", r.settings.size},
        {"repeat", r.settings.repeat},
        {"cold", r.settings.cold},
        {"verify", r.settings.verify},
        {"paths", paths},
        {"methods", r.settings.methods},
        {"directory", r.settings.directory.string()}}},
      {"memcpy_gib_per_second", r.memcpy_gib_per_second},
  };
  nlohmann::json results = nlohmann::json::array();
  for (const method_result& m : r.results) {
    nlohmann::json j;
    j["path"] = std::string(to_string(m.where));
    j["method"] = m.method.name;
    j["message_size"] =
        m.method.message_size > 0 ? nlohmann::json(m.method.message_size) : nlohmann::json(nullptr);
    j["transfer_method"] = m.method.transfer
                               ? nlohmann::json(std::string(zcopy::to_string(*m.method.transfer)))
                               : nlohmann::json(nullptr);
    j["model"] = {{"cpu_copies", m.method.textbook.cpu_copies},
                  {"dma_copies", m.method.textbook.dma_copies},
                  {"mode_switches", m.method.textbook.mode_switches},
                  {"note", std::string(m.method.textbook.note)},
                  {"label", "model"}};
    j["error"] = failed(m) ? nlohmann::json(m.error) : nlohmann::json(nullptr);
    j["verified"] = m.verified;
    j["fraction_of_memcpy"] = m.fraction_of_memcpy;
    j["gib_per_second"] = to_json(m.gib_per_second);
    j["seconds"] = to_json(m.seconds);
    j["cpu_seconds_per_gib"] = to_json(m.cpu_seconds_per_gib);
    j["user_seconds"] = to_json(m.user_seconds);
    j["sys_seconds"] = to_json(m.sys_seconds);
    j["syscalls"] = to_json(m.syscalls);
    j["syscalls_per_gib"] = to_json(m.syscalls_per_gib);
    j["voluntary_switches"] = to_json(m.voluntary_switches);
    j["involuntary_switches"] = to_json(m.involuntary_switches);
    j["context_switches"] = to_json(m.context_switches);
    j["minor_faults"] = to_json(m.minor_faults);
    j["major_faults"] = to_json(m.major_faults);
    j["helper_cpu_seconds_per_gib"] = to_json(m.helper_cpu_seconds_per_gib);
    j["zerocopy_sends"] = to_json(m.zerocopy_sends);
    j["copied_sends"] = to_json(m.copied_sends);
    j["samples"] = nlohmann::json::array();
    for (const sample& s : m.samples) j["samples"].push_back(to_json(s));
    results.push_back(std::move(j));
  }
  doc["results"] = std::move(results);
  return doc.dump(2) + "\n";
}

std::string render_csv(const report& r) {
  std::string out =
      "path,method,message_size,bytes,gib_per_second_median,gib_per_second_min,gib_per_second_max,"
      "fraction_of_memcpy,cpu_seconds_per_gib,user_seconds,sys_seconds,syscalls,syscalls_per_gib,"
      "voluntary_switches,involuntary_switches,minor_faults,major_faults,"
      "helper_cpu_seconds_per_gib,zerocopy_sends,copied_sends,model_cpu_copies,model_dma_copies,"
      "model_mode_switches,verified,"
      "error\n";
  for (const method_result& m : r.results) {
    out += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
        csv_field(to_string(m.where)), csv_field(m.method.name), m.method.message_size,
        r.settings.size, m.gib_per_second.median, m.gib_per_second.min, m.gib_per_second.max,
        m.fraction_of_memcpy, m.cpu_seconds_per_gib.median, m.user_seconds.median,
        m.sys_seconds.median, m.syscalls.median, m.syscalls_per_gib.median,
        m.voluntary_switches.median, m.involuntary_switches.median, m.minor_faults.median,
        m.major_faults.median, m.helper_cpu_seconds_per_gib.median, m.zerocopy_sends.median,
        m.copied_sends.median, m.method.textbook.cpu_copies, m.method.textbook.dma_copies,
        m.method.textbook.mode_switches, m.verified ? "true" : "false", csv_field(m.error));
  }
  return out;
}

std::string render_html(const report& r) {
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>zcopy bench</title>\n<style>";
  out += style;
  out += "</style>\n</head>\n<body>\n<main>\n";

  out += "<header>\n<h1>zcopy bench</h1>\n<dl class=\"meta\">\n";
  auto item = [&](std::string_view term, const std::string& html) {
    out += fmt::format("<dt>{}</dt><dd>{}</dd>\n", term, html);
  };
  item("machine", escape(fmt::format("{} \u00b7 Linux {} \u00b7 {} \u00d7 {} cpus",
                                     or_unknown(r.host.hostname), or_unknown(r.host.kernel),
                                     or_unknown(r.host.cpu_model), r.host.cpus)));
  item("filesystem", escape(fmt::format("{} at {}", or_unknown(r.host.filesystem),
                                        or_unknown(r.host.directory))));
  item("command", "<code>" + escape(r.command_line) + "</code>");
  item("started", escape(or_unknown(r.started_at)));
  item("size", escape(fmt::format("{} ({} bytes)", human_size(r.settings.size), r.settings.size)));
  item("repeats", escape(fmt::format("{} interleaved rounds", r.settings.repeat)));
  item("page cache", escape(cache_state(r.settings)));
  item("verification", r.settings.verify ? "on (xxh3 of the sink against the source)" : "off");
  item("memcpy ceiling", r.memcpy_gib_per_second > 0
                             ? escape(fmt::format("{:.2f} GiB/s", r.memcpy_gib_per_second))
                             : std::string("not measured"));
  out += "</dl>\n</header>\n";

  for (path p : paths_in_order(r)) {
    const auto rows = sorted_results(r, p);
    out += fmt::format("<section>\n<h2>{} <small>({})</small></h2>\n", escape(to_string(p)),
                       escape(human_size(r.settings.size)));
    out += html_table(r, rows);
    out +=
        "<p class=\"model-note\">model = the textbook&#39;s copies per chunk, not measured</p>\n";
    for (const chart& c : charts_for(r, rows)) out += render_chart(c);
    out += "</section>\n";
  }

  out += fmt::format(
      "<footer>\n<p>Medians over {} interleaved rounds (every method once per round, so drift on a "
      "shared machine hits all methods alike); ranges are the minimum and maximum over those "
      "rounds. CPU and system calls are the moving thread&#39;s; helper threads (receivers, "
      "feeders) are counted separately. Methods sorted by CPU seconds per GiB; failed methods "
      "are listed in the tables with their reason and left out of the charts.</p>\n"
      "<p>The &quot;model&quot; columns are the textbook&#39;s counts of copies (CPU/DMA) and "
      "mode switches per chunk, not measurements.</p>\n</footer>\n",
      r.settings.repeat);
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace zcopy::bench
