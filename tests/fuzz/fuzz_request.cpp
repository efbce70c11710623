// The server's request path, end to end without sockets: bytes as a connection delivers them (in
// deterministic random splits) → request_parser → for each complete request decode_target,
// resolve under a small ROOT tree and plan() → the response head.
//
// Invariants:
//   - the parser consumes every byte it is given unless a request completes (or its head does,
//     with expect_continue), never more than it is given, and errors only with 400, 413, 414,
//     431, 501 or 505;
//   - no request whose head holds a bare CR (a CR not followed by LF, leading empty lines
//     included) is ever complete: RFC 9112 §2.2, and the smuggling that lenient line ends allow
//     ("\r\n\rX" ending one head and starting another). The head is found on the raw bytes:
//     up to the first empty line after the request line;
//   - expect_continue comes at most once per request, only for HTTP/1.1 with "Expect:
//     100-continue" and a body announced, with the head (and nothing after it) consumed;
//   - a decoded path starts with '/', has no "//", "." or ".." segment, no NUL, and
//     trailing_slash says whether it ends with '/';
//   - whatever resolve() opens lies under ROOT (the descriptor's path, read back through
//     /proc/self/fd, starts with ROOT's real path), and no hidden name is opened unless asked;
//   - every response head is well-formed: "HTTP/1.1 NNN Reason", CRLF line ends and no other CR
//     or LF, "Name: value" fields, one blank line at the end; the client's own head parser reads
//     it back with the same status, and its Content-Length is the planned body length (the file
//     range, the mapped or the inline body; for HEAD, that of the GET);
//   - a 206's Content-Range names the planned offset and length inside the file.
//
// ROOT (created once, removed at exit) holds a file, an empty file, a dotfile, a directory with
// an index.html, one without, a symlink inside ROOT, one that leaves it (relative) and an absolute
// one, and a FIFO.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/client.hpp"
#include "http/plan.hpp"
#include "http/request_parser.hpp"
#include "http/resolve.hpp"
#include "http/target.hpp"

namespace {

using namespace zcopy;
using namespace zcopy::http;
namespace fs = std::filesystem;

std::string temp_dir;   // holds ROOT and the files outside it
std::string root_real;  // ROOT's real path, without a trailing '/'
int root_fd = -1;

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

void make_tree() {
  char templ[] = "/tmp/zcopy-fuzz-request.XXXXXX";
  if (::mkdtemp(templ) == nullptr) std::abort();
  temp_dir = templ;
  const fs::path base(temp_dir);
  const fs::path root = base / "root";
  fs::create_directories(root / "dir");
  fs::create_directories(root / "sub");
  fs::create_directories(root / ".git");
  std::string body;
  for (int i = 0; i < 1000; ++i) body += static_cast<char>('a' + i % 26);
  write_file(root / "a.txt", body);
  write_file(root / "empty", "");
  write_file(root / ".hidden", "secret");
  write_file(root / ".git" / "config", "[core]\n");
  write_file(root / "dir" / "index.html", "<p>index</p>\n");
  write_file(root / "sub" / "b.bin", std::string(20000, 'b'));
  write_file(base / "outside.txt", "outside");
  fs::create_symlink("a.txt", root / "in-link");
  fs::create_symlink("../outside.txt", root / "out-link");
  fs::create_symlink(base / "outside.txt", root / "abs-link");
  fs::create_symlink("..", root / "sub" / "up");
  if (::mkfifo((root / "fifo").c_str(), 0600) != 0) std::abort();
  root_real = fs::canonical(root).string();
  auto fd = open_root(root.c_str());
  if (!fd) std::abort();
  root_fd = fd->release();
}

void remove_tree() {
  std::error_code ignored;
  fs::remove_all(temp_dir, ignored);
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void check_decoded(const decoded_target& t) {
  const std::string& p = t.path;
  ZCOPY_FUZZ_CHECK(!p.empty() && p.front() == '/');
  ZCOPY_FUZZ_CHECK(p.find("//") == std::string::npos);
  ZCOPY_FUZZ_CHECK(p.find('\0') == std::string::npos);
  const std::string padded = p + "/";
  ZCOPY_FUZZ_CHECK(padded.find("/./") == std::string::npos);
  ZCOPY_FUZZ_CHECK(padded.find("/../") == std::string::npos);
  ZCOPY_FUZZ_CHECK(t.trailing_slash == p.ends_with('/'));
  ZCOPY_FUZZ_CHECK(t.has_query || t.query.empty());
}

// What resolve() opened must lie under ROOT.
void check_resolve(const decoded_target& t, bool show_hidden) {
  resolved r = resolve(root_fd, t.path, {.follow_symlinks = false, .show_hidden = show_hidden});
  if (r.status != resolve_status::file && r.status != resolve_status::directory) {
    ZCOPY_FUZZ_CHECK(!r.fd);
    return;
  }
  ZCOPY_FUZZ_CHECK(r.fd.get() >= 0);
  ZCOPY_FUZZ_CHECK(r.status != resolve_status::file || S_ISREG(r.st.st_mode));
  ZCOPY_FUZZ_CHECK(r.status != resolve_status::directory || S_ISDIR(r.st.st_mode));
  ZCOPY_FUZZ_CHECK(show_hidden || !is_hidden(t.path));
  const std::string link = "/proc/self/fd/" + std::to_string(r.fd.get());
  std::error_code ec;
  const std::string opened = fs::read_symlink(link, ec).string();
  ZCOPY_FUZZ_CHECK(!ec);
  ZCOPY_FUZZ_CHECK(opened == root_real || opened.starts_with(root_real + "/"));
}

std::uint64_t parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  ZCOPY_FUZZ_CHECK(ec == std::errc() && end == text.data() + text.size());
  return value;
}

// The head's own syntax, line by line; returns Content-Length and Content-Range if present.
struct head_summary {
  int status = 0;
  std::optional<std::uint64_t> content_length;
  std::optional<std::string_view> content_range;
};

head_summary check_head_syntax(std::string_view head) {
  head_summary out;
  ZCOPY_FUZZ_CHECK(head.ends_with("\r\n\r\n"));
  ZCOPY_FUZZ_CHECK(head.starts_with("HTTP/1.1 "));
  std::string_view rest = head;
  bool first = true;
  while (true) {
    const std::size_t end = rest.find("\r\n");
    ZCOPY_FUZZ_CHECK(end != std::string_view::npos);
    const std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end + 2);
    ZCOPY_FUZZ_CHECK(line.find('\r') == std::string_view::npos);
    ZCOPY_FUZZ_CHECK(line.find('\n') == std::string_view::npos);
    if (first) {
      // "HTTP/1.1 NNN Reason"
      ZCOPY_FUZZ_CHECK(line.size() > 13 && line[12] == ' ');
      out.status = static_cast<int>(parse_number(line.substr(9, 3)));
      ZCOPY_FUZZ_CHECK(out.status >= 100 && out.status <= 599);
      first = false;
      continue;
    }
    if (line.empty()) break;
    const std::size_t colon = line.find(": ");
    ZCOPY_FUZZ_CHECK(colon != std::string_view::npos && colon > 0);
    for (const char c : line.substr(0, colon)) ZCOPY_FUZZ_CHECK(is_token_char(c));
    for (const char c : line.substr(colon + 2)) {
      const auto u = static_cast<unsigned char>(c);
      ZCOPY_FUZZ_CHECK(u >= 0x20 && u != 0x7f);
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = line.substr(colon + 2);
    if (name == "Content-Length") {
      ZCOPY_FUZZ_CHECK(!out.content_length);
      out.content_length = parse_number(value);
    } else if (name == "Content-Range") {
      out.content_range = value;
    }
  }
  ZCOPY_FUZZ_CHECK(rest.empty());
  return out;
}

void check_plan(const response_plan& p, bool head_only) {
  const head_summary h = check_head_syntax(p.head);
  ZCOPY_FUZZ_CHECK(h.status == p.status);

  // The client reads the same head.
  response_head_parser client;
  const std::size_t used = client.feed(std::span<const char>(p.head.data(), p.head.size()));
  ZCOPY_FUZZ_CHECK(client.error() == nullptr);
  ZCOPY_FUZZ_CHECK(client.complete());
  ZCOPY_FUZZ_CHECK(used == p.head.size());
  ZCOPY_FUZZ_CHECK(client.head().status == p.status);

  std::uint64_t body = p.body.size();
  if (p.send_file) {
    ZCOPY_FUZZ_CHECK(p.file && p.file->get() >= 0);
    ZCOPY_FUZZ_CHECK(p.body.empty() && p.mapped_body.empty());
    ZCOPY_FUZZ_CHECK(p.length > 0);
    ZCOPY_FUZZ_CHECK(p.offset + p.length >= p.offset);
    ZCOPY_FUZZ_CHECK(p.offset + p.length <= static_cast<std::uint64_t>(p.file_stat.st_size));
    body = p.length;
  } else if (!p.mapped_body.empty()) {
    ZCOPY_FUZZ_CHECK(p.body.empty());
    body = p.mapped_body.size();
  }
  if (head_only) {
    ZCOPY_FUZZ_CHECK(p.body.empty() && !p.send_file && p.mapped_body.empty());
  } else if (p.status == 304) {
    ZCOPY_FUZZ_CHECK(!h.content_length && body == 0);
  } else {
    ZCOPY_FUZZ_CHECK(h.content_length && *h.content_length == body);
    ZCOPY_FUZZ_CHECK(client.head().content_length == h.content_length);
  }
  if (p.status == 206) {
    ZCOPY_FUZZ_CHECK(h.content_range.has_value() && !head_only);
    auto range = parse_content_range(*h.content_range);
    ZCOPY_FUZZ_CHECK(range && range->first && range->last && range->total);
    ZCOPY_FUZZ_CHECK(*range->first == p.offset);
    ZCOPY_FUZZ_CHECK(*range->last - *range->first + 1 == p.length);
    ZCOPY_FUZZ_CHECK(*range->total == static_cast<std::uint64_t>(p.file_stat.st_size));
  }
  if (p.status == 416) {
    ZCOPY_FUZZ_CHECK(h.content_range.has_value());
    auto range = parse_content_range(*h.content_range);
    ZCOPY_FUZZ_CHECK(range && !range->first && range->total);
  }
  if (p.status >= 400) ZCOPY_FUZZ_CHECK(!p.send_file);
}

// The head of a request as received (leading empty lines included): up to the first empty line
// after the request line, or all of it.
std::string_view raw_head(std::string_view raw) {
  std::size_t start = 0;
  while (start < raw.size() && (raw[start] == '\r' || raw[start] == '\n')) ++start;
  for (std::size_t i = start; i < raw.size(); ++i) {
    if (raw[i] != '\n') continue;
    if (raw.substr(i + 1).starts_with("\n")) return raw.substr(0, i + 2);
    if (raw.substr(i + 1).starts_with("\r\n")) return raw.substr(0, i + 3);
  }
  return raw;
}

bool has_bare_cr(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n')) return true;
  }
  return false;
}

void check_request(const request& req) {
  ZCOPY_FUZZ_CHECK(!req.method.empty());
  ZCOPY_FUZZ_CHECK(!req.target.empty());
  ZCOPY_FUZZ_CHECK(req.version_major == 1);
  for (const header_field& f : req.headers) {
    ZCOPY_FUZZ_CHECK(!f.name.empty());
    for (const char c : f.name) ZCOPY_FUZZ_CHECK(is_token_char(c) && !(c >= 'A' && c <= 'Z'));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  make_tree();
  std::atexit(remove_tree);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint64_t seed = fuzz::hash(input);
  fuzz::splitter split(seed);

  serve_options options;
  options.root_fd = root_fd;
  options.autoindex = (seed >> 61 & 1) != 0;
  options.show_hidden = (seed >> 62 & 1) != 0;
  const auto now = std::chrono::sys_seconds(std::chrono::seconds(1'700'000'000));

  // Small limits now and then, so that 413, 414 and 431 are reachable with short inputs.
  parser_limits limits;
  if ((seed >> 60 & 1) != 0) {
    limits = {.max_request_line = 64, .max_header_bytes = 256, .max_headers = 4, .max_body = 64};
  }
  request_parser parser(limits);

  std::string pending;  // what the connection has received and the parser has not consumed
  std::string raw;      // the bytes of the current request, as consumed
  bool continued = false;
  std::size_t offset = 0;
  int requests = 0;
  while (offset < input.size() || !pending.empty()) {
    const std::size_t n = split.chunk(input.size() - offset);
    pending.append(input.substr(offset, n));
    offset += n;
    const feed_result r = parser.feed(pending);
    ZCOPY_FUZZ_CHECK(r.consumed <= pending.size());
    raw.append(pending, 0, r.consumed);
    if (r.state == parse_state::need_more) {
      ZCOPY_FUZZ_CHECK(r.consumed == pending.size());
      pending.clear();
      if (offset == input.size()) break;
      continue;
    }
    pending.erase(0, r.consumed);
    if (r.state == parse_state::expect_continue) {
      const request& head = parser.current();
      ZCOPY_FUZZ_CHECK(!continued && r.consumed > 0 && pending.empty());
      ZCOPY_FUZZ_CHECK(head.version_minor == 1 && head.header("expect").has_value());
      ZCOPY_FUZZ_CHECK(head.header("content-length") || head.header("transfer-encoding"));
      ZCOPY_FUZZ_CHECK(!has_bare_cr(raw_head(raw)));
      continued = true;
      continue;
    }
    if (r.state == parse_state::error) {
      const int s = r.error_status;
      ZCOPY_FUZZ_CHECK(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505);
      const response_plan p = plan_error(s, now);
      ZCOPY_FUZZ_CHECK(p.close_connection);
      check_plan(p, false);
      // Errors are final.
      ZCOPY_FUZZ_CHECK(parser.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n").state ==
                       parse_state::error);
      break;
    }
    ZCOPY_FUZZ_CHECK(r.consumed > 0 || continued);
    ZCOPY_FUZZ_CHECK(!has_bare_cr(raw_head(raw)));
    raw.clear();
    continued = false;
    const request req = parser.take();
    check_request(req);
    if (auto t = decode_target(req.target)) {
      check_decoded(*t);
      check_resolve(*t, options.show_hidden);
    }
    const response_plan p = plan(req, options, now);
    check_plan(p, req.method == "HEAD");
    if (++requests == 64) break;
  }
  return 0;
}
