// Renderings of a bench report (bench.hpp): aligned plain-text tables for the terminal, JSON and
// CSV for scripts, and one self-contained HTML page (inline <style>, charts drawn with HTML and
// CSS; no scripts, no fonts, no images, nothing fetched, so the file can be mailed or attached to
// an issue as it is).
//
// Every rendering groups the results by path, in the order the paths first appear, and within a
// path sorts the methods by median CPU seconds per GiB, the cost the textbook table is about
// (the HTML charts sort by the quantity each shows); methods that failed come last with their
// reason. The "model" numbers (copies, mode switches) are
// the textbook's counts written down in runner.cpp, never measured, and every rendering says so.
#include <fcntl.h>
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
#include "zcopy/endpoint.hpp"

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

// --- HTML --------------------------------------------------------------------------------------
//
// The page is for a newcomer reading it on any screen: a summary per path first (what transfer()
// uses here, how it compares with read_write, where the measurement disagrees with the textbook
// and why), then per path the table and four bar charts. Charts are HTML rows (a label, a bar
// whose width is a percentage, a value), so their text stays at the page's font size on a phone;
// below 1024 px each table row becomes a card with every value under its column name.

std::string escape(std::string_view s) {
  return detail::html_escape(s);
}

// Every figure is one run: nothing to take a median of, no range to show.
bool single_samples(const report& r) {
  bool any = false;
  for (const method_result& m : r.results) {
    if (failed(m)) continue;
    if (m.samples.size() > 1) return false;
    any = any || !m.samples.empty();
  }
  return any || r.settings.repeat <= 1;
}

// "2.10–2.30", or one value where the two ends print the same.
std::string range_text(const stat& s, int decimals) {
  const std::string low = fixed(s.min, decimals);
  const std::string high = fixed(s.max, decimals);
  return low == high ? low : low + "\u2013" + high;
}

// A whole number with thousands separators: 18,322.
std::string grouped(double v) {
  if (!std::isfinite(v)) return "-";
  return (v <= -0.5 ? "-" : "") + detail::group_digits(whole(std::abs(v)));
}

// "1.68×": the ratios of the summary ("<0.01×" rather than a ratio that prints as zero).
std::string times(double ratio) {
  if (!std::isfinite(ratio)) return "-";
  if (ratio > 0 && ratio < 0.005) return "<0.01\u00d7";
  return fmt::format("{:.2f}\u00d7", ratio);
}

// Axis ticks in one format on every axis: plain decimals below 1000, SI suffixes from there
// (1k, 10k, 1M), never exponent notation.
std::string tick_label(double v) {
  if (!std::isfinite(v)) return "-";
  auto trimmed = [](double x) {
    std::string s = fmt::format("{:.6f}", x);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s == "-0" ? std::string("0") : s;
  };
  constexpr std::pair<double, const char*> si[] = {{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
  for (auto [factor, suffix] : si) {
    if (std::abs(v) >= factor) return trimmed(v / factor) + suffix;
  }
  return trimmed(v);
}

// A position along an axis, as a CSS percentage.
std::string percent(double fraction) {
  return fmt::format("{:.1f}%",
                     std::clamp(std::isfinite(fraction) ? fraction : 0.0, 0.0, 1.0) * 100.0);
}

std::string_view path_title(path p) {
  switch (p) {
    case path::file_to_socket:
      return "file \u2192 socket";
    case path::file_to_file:
      return "file \u2192 file";
    case path::socket_to_socket:
      return "socket \u2192 socket";
    case path::socket_to_file:
      return "socket \u2192 file";
    case path::memory_to_socket:
      return "memory \u2192 socket";
  }
  return "";
}

// What the path stands for in practice, as the runner sets it up.
std::string_view path_description(path p) {
  switch (p) {
    case path::file_to_socket:
      return "A file in the page cache sent over a loopback TCP connection, as a web server sends "
             "a file; a helper thread receives.";
    case path::file_to_file:
      return "One file copied to another on the same filesystem, as cp does.";
    case path::socket_to_socket:
      return "Bytes received on one TCP connection forwarded to another, as a proxy does; helper "
             "threads feed the first and drain the second.";
    case path::socket_to_file:
      return "Bytes received on a TCP connection written to a file, as an upload is stored; a "
             "helper thread feeds the connection.";
    case path::memory_to_socket:
      return "A buffer the program holds in memory sent over a loopback TCP connection; a helper "
             "thread receives.";
  }
  return "";
}

// What each column of the HTML table means, shown under the table (column order).
constexpr std::string_view column_help[] = {
    "how the bytes were moved: the transfer() method forced for this row, or the memory sender "
    "and its bytes per send",
    "throughput: bytes moved per second of wall time",
    "the slowest and the fastest round",
    "throughput as a share of this machine's memcpy bandwidth",
    "CPU seconds (user + sys) the moving thread spent per GiB moved: the cost the textbook is "
    "about; lower is better",
    "CPU seconds the moving thread spent in user space, per run",
    "CPU seconds the moving thread spent in the kernel, per run",
    "system calls per run, counted by zcopy's syscall layer",
    "context switches per run: voluntary (the thread waited: I/O, a full socket) / involuntary "
    "(it was preempted)",
    "page faults per run: minor (page already in memory) / major (read from disk)",
    "CPU per GiB of the helper thread that feeds or drains the socket, not charged to the method "
    "(0 where there is none)",
    "the textbook's copies per chunk by the CPU / by a device's DMA engine: a model, not measured",
    "the textbook's user/kernel mode switches per chunk (2 per system call): a model, not measured",
    "zero-copy sends the kernel copied anyway / zero-copy sends made; - for methods that make none",
    "yes: the sink received exactly the source's bytes (xxh3)",
    "the method that really moved the bytes, where it is not the one asked for (a fallback)",
};
static_assert(std::size(column_help) == column_count);

// --- summary -------------------------------------------------------------------------------------

bool worked(const report& r, const method_result& m) {
  return !failed(m) && (m.verified || !r.settings.verify);
}

const method_result* find_result(const std::vector<const method_result*>& rows,
                                 std::string_view name, std::size_t message_size = 0) {
  for (const method_result* m : rows) {
    if (m->method.name == name && m->method.message_size == message_size) return m;
  }
  return nullptr;
}

// The plain copy a method is measured against: read_write, or for the memory senders write with
// the same bytes per send (the fastest write where the method has no message size).
const method_result* baseline_for(const report& r, path p, const method_result& m,
                                  const std::vector<const method_result*>& rows) {
  if (p != path::memory_to_socket) {
    const method_result* b = find_result(rows, "read_write");
    return b != nullptr && worked(r, *b) ? b : nullptr;
  }
  const method_result* best = nullptr;
  for (const method_result* w : rows) {
    if (w->method.name != "write" || !worked(r, *w)) continue;
    if (m.method.message_size > 0 && w->method.message_size == m.method.message_size) return w;
    if (best == nullptr || w->gib_per_second.median > best->gib_per_second.median) best = w;
  }
  return best;
}

// The chain transfer() walks for the path's pair of ends, from the engine itself (plan_for), so
// the page never disagrees with the library; none for memory, which transfer() does not serve.
std::vector<method> chain_for(path p) {
  const endpoint_info file{.kind = endpoint_kind::regular_file,
                           .size = std::uint64_t{1} << 30,
                           .device = 1,
                           .inode = 1,
                           .allocated_bytes = std::uint64_t{1} << 30,
                           .status_flags = O_RDWR};
  endpoint_info other_file = file;
  other_file.inode = 2;
  const endpoint_info socket{.kind = endpoint_kind::socket, .status_flags = O_RDWR};
  switch (p) {
    case path::file_to_socket:
      return plan_for(file, socket);
    case path::file_to_file:
      return plan_for(file, other_file);
    case path::socket_to_socket:
      return plan_for(socket, socket);
    case path::socket_to_file:
      return plan_for(socket, file);
    case path::memory_to_socket:
      return {};
  }
  return {};
}

std::string strong(std::string_view s) {
  return "<strong>" + escape(s) + "</strong>";
}

// "<b>1.68×</b> the throughput of read_write (2.64 vs 1.57 GiB/s) at <b>0.79×</b> its CPU per
// GiB (0.362 vs 0.460 s)".
std::string comparison(const method_result& m, const method_result& base) {
  std::string out;
  if (base.gib_per_second.median > 0) {
    out += fmt::format("{} the throughput of {} ({} vs {} GiB/s)",
                       strong(times(m.gib_per_second.median / base.gib_per_second.median)),
                       escape(display_name(base.method)), fixed(m.gib_per_second.median, 2),
                       fixed(base.gib_per_second.median, 2));
  }
  if (base.cpu_seconds_per_gib.median > 0) {
    out += fmt::format(
        "{}{} {} CPU per GiB ({} vs {} s)", out.empty() ? "" : " at ",
        strong(times(m.cpu_seconds_per_gib.median / base.cpu_seconds_per_gib.median)),
        out.empty() ? escape(display_name(base.method)) + "'s" : "its",
        fixed(m.cpu_seconds_per_gib.median, 3), fixed(base.cpu_seconds_per_gib.median, 3));
  }
  return out;
}

// A method the textbook says is cheaper than its baseline (fewer CPU copies) that measured more
// than 5% dearer in CPU per GiB or 5% slower: below that, the difference is noise.
constexpr double contradiction_margin = 1.05;

struct contradiction {
  const method_result* method;
  const method_result* baseline;
  bool more_cpu;
  bool slower;
};

std::vector<contradiction> contradictions(const report& r, path p,
                                          const std::vector<const method_result*>& rows) {
  std::vector<contradiction> out;
  for (const method_result* m : rows) {
    if (!worked(r, *m)) continue;
    const method_result* base = baseline_for(r, p, *m, rows);
    if (base == nullptr || base == m || base->method.name == m->method.name) continue;
    if (m->method.textbook.cpu_copies >= base->method.textbook.cpu_copies) continue;
    const bool more_cpu =
        m->cpu_seconds_per_gib.median > base->cpu_seconds_per_gib.median * contradiction_margin;
    const bool slower =
        m->gib_per_second.median * contradiction_margin < base->gib_per_second.median;
    if (more_cpu || slower) out.push_back({m, base, more_cpu, slower});
  }
  return out;
}

// The likely reasons, in plain words, for the contradictions found on this path.
std::vector<std::string> reasons(const report& r, path p, const std::vector<contradiction>& found) {
  auto any = [&](auto pred) { return std::any_of(found.begin(), found.end(), pred); };
  auto named = [&](std::string_view name) {
    return any([name](const contradiction& c) { return c.method->method.name == name; });
  };
  std::vector<std::string> why;
  if (single_samples(r) || r.settings.size < (std::uint64_t{256} << 20)) {
    why.push_back(fmt::format(
        "These runs are short ({}, {}): fixed costs per call and per run (pipes, mappings, "
        "io_uring rings) and scheduling noise can outweigh the copy a method saves.",
        human_size(r.settings.size),
        single_samples(r) ? std::string("one round")
                          : fmt::format("{} rounds", r.settings.repeat)));
  }
  if (r.host.cpus > 0 && r.host.cpus <= 4) {
    why.push_back(fmt::format(
        "With {} CPUs the moving thread shares the cores with {}anything else running on the "
        "machine.",
        r.host.cpus, p == path::file_to_file ? "" : "the helper threads and "));
  }
  if (any([](const contradiction& c) { return c.method->copied_sends.median > 0; })) {
    why.push_back(
        "On loopback the kernel copies zero-copy sends anyway (the copied/zc column), so those "
        "methods pay for the copy and for the completion notifications.");
  }
  if (named("splice")) {
    why.push_back("splice goes through a pipe: two calls per chunk, and the pipe's bookkeeping.");
  }
  if (named("mmap_write")) {
    why.push_back(
        "mmap_write pays for setting up the mapping and for a page fault per page it touches.");
  }
  if (p == path::file_to_file && (named("sendfile") || named("splice"))) {
    why.push_back(
        "Between two files the kernel still copies once (the model says 1 CPU copy), while "
        "read_write's two copies of a cached file are fast memcpys.");
  }
  if (named("direct_io")) {
    why.push_back(
        "direct_io bypasses the page cache, so it reads the disk even when the file is cached.");
  }
  return why;
}

std::string contradiction_text(const report& r, path p,
                               const std::vector<const method_result*>& rows) {
  const auto found = contradictions(r, p, rows);
  if (found.empty()) return {};
  std::string out =
      "<li class=\"contradiction\"><strong>Not what the textbook predicts here:</strong>\n<ul>\n";
  for (const contradiction& c : found) {
    std::vector<std::string> parts;
    if (c.more_cpu) {
      parts.push_back(fmt::format("used more CPU per GiB ({} vs {} s)",
                                  fixed(c.method->cpu_seconds_per_gib.median, 3),
                                  fixed(c.baseline->cpu_seconds_per_gib.median, 3)));
    }
    if (c.slower) {
      parts.push_back(fmt::format("was slower ({} vs {} GiB/s)",
                                  fixed(c.method->gib_per_second.median, 2),
                                  fixed(c.baseline->gib_per_second.median, 2)));
    }
    out += fmt::format("<li>{} makes fewer copies than {} but {}.</li>\n",
                       strong(display_name(c.method->method)),
                       escape(display_name(c.baseline->method)),
                       escape(parts.size() == 2 ? parts[0] + " and " + parts[1] : parts[0]));
  }
  out += "</ul>\nLikely why:\n<ul>\n";
  for (const std::string& why : reasons(r, p, found)) out += "<li>" + escape(why) + "</li>\n";
  return out + "</ul>\n</li>\n";
}

// The takeaway for one path: the method transfer() uses, how it compares with the plain copy,
// the textbook next to the measurement, and any contradiction explained.
std::string path_summary(const report& r, path p, const std::vector<const method_result*>& rows) {
  std::string out =
      fmt::format("<div class=\"path\">\n<h3>{}</h3>\n<p class=\"desc\">{}</p>\n<ul>\n",
                  escape(path_title(p)), escape(path_description(p)));
  const method_result* fastest = nullptr;
  for (const method_result* m : rows) {
    if (worked(r, *m) &&
        (fastest == nullptr || m->gib_per_second.median > fastest->gib_per_second.median)) {
      fastest = m;
    }
  }
  if (fastest == nullptr)
    return out + "<li>No method worked on this path here.</li>\n</ul>\n</div>\n";

  // The method this page puts forward: transfer()'s pick, or the fastest where it picks nothing.
  const method_result* chosen = nullptr;
  const std::vector<method> chain = chain_for(p);
  if (chain.empty()) {
    chosen = fastest;
    out += fmt::format(
        "<li>transfer() does not serve this path (its source is memory, not a descriptor). "
        "Fastest here: {}, {} GiB/s.</li>\n",
        strong(display_name(fastest->method)), fixed(fastest->gib_per_second.median, 2));
  } else {
    std::string chain_text;
    std::vector<std::string> skipped;
    for (method m : chain) {
      const std::string name(zcopy::to_string(m));
      chain_text += (chain_text.empty() ? "" : " \u2192 ") + name;
      if (chosen != nullptr) continue;
      const method_result* result = find_result(rows, name);
      if (result != nullptr && worked(r, *result)) {
        chosen = result;
      } else {
        skipped.push_back(name + (result == nullptr ? " was not measured" : " failed here"));
      }
    }
    std::string skipped_text;
    for (const std::string& s : skipped) skipped_text += (skipped_text.empty() ? "" : ", ") + s;
    if (chosen != nullptr) {
      out += fmt::format("<li>transfer() picks {} here: the first that works in its chain {}{}.",
                         strong(chosen->method.name), escape(chain_text),
                         skipped_text.empty() ? "" : " (" + escape(skipped_text) + ")");
    } else {
      chosen = fastest;
      out += fmt::format("<li>None of transfer()&#39;s chain ({}) was measured working here ({}).",
                         escape(chain_text), escape(skipped_text));
    }
    if (chosen != fastest) {
      out += fmt::format(" Fastest here: {}, {} GiB/s.", strong(display_name(fastest->method)),
                         fixed(fastest->gib_per_second.median, 2));
    }
    out += "</li>\n";
  }

  const method_result* base = baseline_for(r, p, *chosen, rows);
  if (base == nullptr) {
    out +=
        "<li>The plain copy (read_write or write) was not measured working here, so there is "
        "nothing to compare with.</li>\n";
  } else if (base == chosen) {
    out +=
        fmt::format("<li>{} is the plain copy itself: {} GiB/s at {} CPU s/GiB.</li>\n",
                    strong(display_name(chosen->method)), fixed(chosen->gib_per_second.median, 2),
                    fixed(chosen->cpu_seconds_per_gib.median, 3));
  } else {
    out += fmt::format("<li>{}: {}.</li>\n", strong(display_name(chosen->method)),
                       comparison(*chosen, *base));
    const model& a = chosen->method.textbook;
    const model& b = base->method.textbook;
    out += fmt::format(
        "<li>Textbook (a model, not measured): {} makes {} CPU {} and {} mode switches per chunk, "
        "{} {} and {}. Measured per run: {} vs {} system calls, {} vs {} context switches.</li>\n",
        escape(display_name(chosen->method)), a.cpu_copies, a.cpu_copies == 1 ? "copy" : "copies",
        a.mode_switches, escape(display_name(base->method)), b.cpu_copies, b.mode_switches,
        grouped(chosen->syscalls.median), grouped(base->syscalls.median),
        grouped(chosen->context_switches.median), grouped(base->context_switches.median));
  }
  out += contradiction_text(r, p, rows);
  return out + "</ul>\n</div>\n";
}

// --- charts ------------------------------------------------------------------------------------

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
  bool descending = false;  // bars sorted largest first (throughput) instead of smallest first
  bool stacked = false;
  std::string first_legend;  // stacked only
  std::string second_legend;
  bool allow_log = false;           // switch to a log scale when the range spans more than 100×
  std::optional<double> reference;  // a dashed line (the memcpy ceiling)
  std::string reference_label;
};

std::string render_chart(chart c) {
  std::stable_sort(c.bars.begin(), c.bars.end(), [&](const bar& a, const bar& b) {
    return c.descending ? a.value + a.second > b.value + b.second
                        : a.value + a.second < b.value + b.second;
  });
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
  auto x_of = [&](double v) {
    if (log) return v > 0 ? (std::log10(v) - log_low) / (log_high - log_low) : 0.0;
    return v / axis.max;
  };
  std::vector<double> ticks;
  if (log) {
    for (double e = log_low; e <= log_high + 0.5; e += 1) ticks.push_back(std::pow(10.0, e));
  } else {
    for (int i = 0; i <= axis.ticks; ++i) ticks.push_back(axis.max * i / axis.ticks);
  }

  // --n: the grid's divisions, drawn by the tracks' background.
  std::string out = fmt::format(
      "<figure class=\"chart\" style=\"--n:{}\">\n<figcaption>{}{} <span>{}</span></figcaption>\n",
      ticks.size() - 1, escape(c.title), log ? " (log scale)" : "", escape(c.axis_label));
  std::string legend;
  if (c.stacked) {
    legend +=
        fmt::format("<span><i class=\"key\"></i>{}</span><span><i class=\"key b2\"></i>{}</span>",
                    escape(c.first_legend), escape(c.second_legend));
  }
  if (draw_reference) {
    legend += fmt::format("<span><i class=\"key ref\"></i>{}</span>", escape(c.reference_label));
  }
  if (!note.empty()) legend += "<span>" + escape(note) + "</span>";
  if (!legend.empty()) out += "<p class=\"legend\">" + legend + "</p>\n";

  for (const bar& b : c.bars) {
    const double end = x_of(b.value);
    out += fmt::format("<div class=\"row\"><span class=\"label\">{}</span><span class=\"track\">",
                       escape(b.label));
    out += fmt::format("<i class=\"b\" style=\"width:{}\"></i>", percent(end));
    if (c.stacked && b.second > 0) {
      out += fmt::format("<i class=\"b b2\" style=\"left:{};width:{}\"></i>", percent(end),
                         percent(x_of(b.value + b.second) - std::clamp(end, 0.0, 1.0)));
    }
    if (b.range && b.range->second > b.range->first) {
      const double low = std::clamp(x_of(b.range->first), 0.0, 1.0);
      out += fmt::format("<i class=\"w\" style=\"left:{};width:{}\"></i>", percent(low),
                         percent(x_of(b.range->second) - low));
    }
    if (draw_reference) {
      out += fmt::format("<i class=\"ref\" style=\"left:{}\"></i>", percent(x_of(*c.reference)));
    }
    out += fmt::format("</span><span class=\"value\">{}</span></div>\n", escape(b.value_text));
  }
  out += "<div class=\"row axis\"><span class=\"label\"></span><span class=\"track\">";
  for (double t : ticks) {
    out += fmt::format("<span class=\"tick\" style=\"left:{}\">{}</span>", percent(x_of(t)),
                       escape(tick_label(t)));
  }
  out += "</span><span class=\"value\"></span></div>\n</figure>\n";
  return out;
}

std::vector<chart> charts_for(const report& r, const std::vector<const method_result*>& rows) {
  const bool single = single_samples(r);
  const std::string spread = single ? "one run" : "median, whisker: min\u2013max";
  chart throughput{.title = "Throughput",
                   .axis_label = "GiB/s, " + spread + ", fastest first",
                   .descending = true};
  if (r.memcpy_gib_per_second > 0) {
    throughput.reference = r.memcpy_gib_per_second;
    throughput.reference_label = fmt::format("memcpy {:.2f} GiB/s", r.memcpy_gib_per_second);
  }
  chart cpu{.title = "CPU per GiB moved",
            .axis_label = "moving thread, user + sys seconds, " + spread + ", cheapest first"};
  chart syscalls{.title = "System calls per GiB",
                 .axis_label = single ? "one run, fewest first" : "median, fewest first",
                 .allow_log = true};
  chart switches{.title = "Context switches per run",
                 .axis_label = single ? "one run, fewest first" : "median, fewest first",
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
        {name, m->syscalls_per_gib.median, 0, std::nullopt, grouped(m->syscalls_per_gib.median)});
    switches.bars.push_back({name, m->voluntary_switches.median, m->involuntary_switches.median,
                             std::nullopt,
                             fmt::format("{} + {}", grouped(m->voluntary_switches.median),
                                         grouped(m->involuntary_switches.median))});
  }
  return {throughput, cpu, syscalls, switches};
}

constexpr std::string_view style = R"(
:root { color-scheme: light; }
body { margin: 0; background: #fafaf8; color: #2b2b2b;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 16px 40px; }
main p, main ul, dl.meta { max-width: 80ch; }
h1 { font-size: 24px; margin: 0 0 12px; font-weight: 600; }
h2 { font-size: 20px; margin: 36px 0 4px; font-weight: 600; border-bottom: 1px solid #ddd;
  padding-bottom: 4px; }
h2 small { font-size: 13px; font-weight: normal; color: #6b6b6b; }
h3 { font-size: 16px; margin: 18px 0 2px; }
p.desc { color: #555; margin: 0 0 6px; }
ul { padding-left: 20px; margin: 4px 0; }
li { margin: 3px 0; }
li.contradiction { background: #fbf1e4; border-left: 3px solid #c98a3a; padding: 4px 8px;
  list-style: none; margin-left: -20px; }
li.contradiction ul { margin: 2px 0 4px; }
.paths { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 34em), 1fr));
  gap: 0 40px; }
p.notice { background: #eef3f8; border-left: 3px solid #7d9bb8; padding: 6px 10px; }
p.notice code { white-space: nowrap; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.meta dt { color: #6b6b6b; }
dl.meta dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #efefeb;
  padding: 1px 4px; border-radius: 3px; }
table { width: 100%; border-collapse: collapse; font-size: 13px;
  font-variant-numeric: tabular-nums; margin: 8px 0 4px; }
th, td { padding: 3px 5px; border-bottom: 1px solid #e6e6e2; white-space: nowrap; }
th { text-align: left; font-weight: 600; color: #555; background: #f1f1ed; vertical-align: bottom;
  white-space: normal; }
td.num, th.num { text-align: right; }
.nw { white-space: nowrap; }
.model { color: #6f6f6f; font-style: italic; }
tr.failed td { color: #8a3b3b; }
td.error { white-space: normal; overflow-wrap: anywhere; }
dl.columns { font-size: 13px; color: #555; margin: 6px 0 12px; max-width: none;
  columns: 2 28em; column-gap: 32px; }
dl.columns div { break-inside: avoid; margin: 0 0 3px; }
dl.columns dt { display: inline; font-weight: 600; color: #3a3a3a; }
dl.columns dt::after { content: ":"; }
dl.columns dd { display: inline; margin: 0; }
figure.chart { margin: 18px 0; max-width: 960px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
figcaption span { font-weight: normal; font-size: 13px; color: #6b6b6b; }
.legend { font-size: 13px; color: #555; margin: 0 0 4px; }
.legend span { margin-right: 14px; white-space: nowrap; }
.key { display: inline-block; width: 10px; height: 10px; background: #7d9bb8;
  margin-right: 4px; vertical-align: -1px; }
.key.b2 { background: #d2b48c; }
.key.ref { width: 0; height: 11px; background: none; border-left: 2px dashed #a8574f; }
.row { display: grid; grid-template-columns: 11em 1fr 5em; gap: 8px; align-items: center;
  font-size: 13px; margin: 2px 0; }
.row .label { text-align: right; overflow-wrap: anywhere; }
.row .value { font-variant-numeric: tabular-nums; }
.track { position: relative; height: 16px; border-right: 1px solid #e0e0da;
  background: linear-gradient(to right, #e0e0da 1px, transparent 1px) 0 0 /
    calc(100% / var(--n)) 100%; }
.track i { position: absolute; top: 0; bottom: 0; }
.track .b { left: 0; background: #7d9bb8; }
.track .b2 { background: #d2b48c; }
.track .w { top: 4px; bottom: 4px; box-sizing: border-box; border: 1.5px solid #2f3e4d;
  border-width: 0 1.5px;
  background: linear-gradient(#2f3e4d, #2f3e4d) 0 50% / 100% 1.5px no-repeat; }
.track .ref { top: -2px; bottom: -2px; border-left: 2px dashed #a8574f; }
.axis .track { background: none; border: 0; border-top: 1px solid #8a8a8a; height: 18px; }
.tick { position: absolute; top: 1px; transform: translateX(-50%); font-size: 12px;
  color: #6b6b6b; }
footer { margin-top: 32px; padding-top: 8px; border-top: 1px solid #ddd; color: #6b6b6b;
  font-size: 13px; }
@media (max-width: 1099px) {
  table, tbody, tr, td { display: block; }
  thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  tr { display: grid; grid-template-columns: repeat(auto-fill, minmax(6.5em, 1fr)); gap: 4px 10px;
    padding: 8px 10px; margin: 0 0 10px; border: 1px solid #e0e0da; border-radius: 6px;
    background: #fff; }
  td { border: 0; padding: 0; white-space: normal; min-width: 0; overflow-wrap: anywhere; }
  td.num { text-align: left; }
  td::before { content: attr(data-label); display: block; font-size: 12px; color: #6b6b6b;
    font-style: normal; }
  td:first-child, td.error { grid-column: 1 / -1; }
  td:first-child { font-weight: 600; font-size: 15px; }
  td:first-child::before { content: none; }
}
@media (max-width: 560px) {
  .row { grid-template-columns: 1fr 5em; gap: 0 8px; margin: 4px 0; }
  .row .label { grid-column: 1 / -1; text-align: left; }
  .row.axis .label { display: none; }
}
)";

std::string html_table(const report& r, const std::vector<const method_result*>& rows) {
  // Columns that would say nothing are left out: the range after one round (it would repeat the
  // throughput), helper CPU where no helper thread ran (file → file), copied/zc sends where no
  // method made zero-copy sends.
  const bool single = single_samples(r);
  auto any = [&](auto pred) {
    return std::any_of(rows.begin(), rows.end(),
                       [&](const method_result* m) { return !failed(*m) && pred(*m); });
  };
  const bool any_helper =
      any([](const method_result& m) { return m.helper_cpu_seconds_per_gib.max > 0; });
  const bool any_zerocopy = any([](const method_result& m) { return zerocopy_cell(m) != "-"; });
  std::vector<std::size_t> shown;
  for (std::size_t i = 0; i < columns_shown(rows); ++i) {
    const std::string_view header = columns[i].header;
    if ((single && header == "min\u2013max") || (!any_helper && header == "helper CPU s/GiB") ||
        (!any_zerocopy && header == "copied/zc sends")) {
      continue;
    }
    shown.push_back(i);
  }
  auto class_of = [](const column& c) {
    std::string cls = c.numeric ? "num" : "";
    if (c.model) cls += cls.empty() ? "model" : " model";
    return cls.empty() ? std::string() : fmt::format(" class=\"{}\"", cls);
  };
  std::string out = "<table>\n<thead>\n<tr>";
  for (std::size_t i : shown) {
    // One-word headers ("min–max") keep to one line; the others may wrap between words.
    std::string cls = class_of(columns[i]);
    if (columns[i].header.find(' ') == std::string_view::npos) {
      cls = cls.empty() ? " class=\"nw\"" : cls.substr(0, cls.size() - 1) + " nw\"";
    }
    out += fmt::format("<th{}>{}</th>", cls, escape(columns[i].header));
  }
  out += "</tr>\n</thead>\n<tbody>\n";
  for (const method_result* m : rows) {
    const table_row row = row_of(r, *m);
    if (failed(*m)) {
      out += fmt::format(
          "<tr class=\"failed\"><td>{}</td><td class=\"error\" colspan=\"{}\">failed: "
          "{}</td></tr>\n",
          escape(row.method), shown.size() - 1, escape(row.error));
      continue;
    }
    out += "<tr><td>" + escape(row.method) + "</td>";
    for (std::size_t i : shown) {
      if (i == 0) continue;
      const std::string cell =
          columns[i].header == "min\u2013max" ? range_text(m->gib_per_second, 2) : row.cells[i - 1];
      out += fmt::format("<td{} data-label=\"{}\">{}</td>", class_of(columns[i]),
                         escape(columns[i].header), escape(cell));
    }
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n<dl class=\"columns\">\n";
  for (std::size_t i : shown) {
    out += fmt::format("<div><dt>{}</dt> <dd>{}</dd></div>\n", escape(columns[i].header),
                       escape(column_help[i]));
  }
  out += "</dl>\n";
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
  const bool single = single_samples(r);
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
  item("repeats", single ? std::string("1 round")
                         : escape(fmt::format("{} interleaved rounds", r.settings.repeat)));
  item("page cache", escape(cache_state(r.settings)));
  item("verification", r.settings.verify ? "on (xxh3 of the sink against the source)" : "off");
  item("memcpy ceiling", r.memcpy_gib_per_second > 0
                             ? escape(fmt::format("{:.2f} GiB/s", r.memcpy_gib_per_second))
                             : std::string("not measured"));
  out += "</dl>\n</header>\n";

  if (single && !r.results.empty()) {
    out +=
        "<p class=\"notice\">Only one round ran, so every figure below is a single sample: no "
        "medians, no ranges, and differences of a few percent may be noise. Run with "
        "<code>--repeat 5</code> (and without <code>--quick</code>) for medians and "
        "<span class=\"nw\">min\u2013max</span>.</p>\n";
  }

  const std::vector<path> paths = paths_in_order(r);
  if (!paths.empty()) {
    out += "<section class=\"summary\">\n<h2>Summary</h2>\n";
    out +=
        "<p>Per path: the method zcopy&#39;s transfer() uses on this machine, how it compares "
        "with a plain read/write copy, and the textbook&#39;s counts next to what was "
        "measured. Ratios above 1\u00d7 mean more: more throughput is better, more CPU per "
        "GiB is worse.</p>\n";
    out += "<div class=\"paths\">\n";
    for (path p : paths) out += path_summary(r, p, sorted_results(r, p));
    out += "</div>\n</section>\n";
  }

  for (path p : paths) {
    const auto rows = sorted_results(r, p);
    out +=
        fmt::format("<section>\n<h2>{} <small>{} \u00b7 {}</small></h2>\n", escape(path_title(p)),
                    escape(to_string(p)), escape(human_size(r.settings.size)));
    out += fmt::format("<p class=\"desc\">{} Rows are sorted by CPU per GiB, cheapest first.</p>\n",
                       escape(path_description(p)));
    out += html_table(r, rows);
    for (const chart& c : charts_for(r, rows)) out += render_chart(c);
    out += "</section>\n";
  }

  out += "<footer>\n<p>";
  out += single ? std::string("Figures are single samples from one round.")
                : fmt::format(
                      "Medians over {} interleaved rounds (every method once per round, so drift "
                      "on a shared machine hits all methods alike); ranges are the minimum and "
                      "maximum over those rounds.",
                      r.settings.repeat);
  out +=
      " CPU and system calls are the moving thread&#39;s; helper threads (receivers, feeders) are "
      "counted separately. Failed methods are listed in the tables with their reason and left "
      "out of the charts.</p>\n<p>The &quot;model&quot; columns are the textbook&#39;s counts of "
      "copies (CPU/DMA) and mode switches per chunk, not measurements.</p>\n</footer>\n";
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace zcopy::bench
