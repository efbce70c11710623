// `zcopy serve` as a user runs it: the real binary on loopback, driven by curl and by raw sockets.
// Every file holds seeded random bytes and every body is compared byte for byte. Every wait is
// bounded; the server is killed in the fixture's destructor whatever happens.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <thread>

#include "integration/serve_fixture.hpp"

namespace zcopy::test {
namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

class Serve : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(root());
    fs::create_directory(outside());
  }
  fs::path root() const { return dir_ / "root"; }
  fs::path outside() const { return dir_ / "outside"; }

  // A file of `size` random bytes at ROOT/rel (parents created).
  std::vector<std::byte> put(const std::string& rel, std::size_t size, std::uint64_t salt) {
    auto data = random_bytes(size, seed_ + salt);
    fs::create_directories((root() / rel).parent_path());
    write_file(root() / rel, data);
    return data;
  }
  // Starts `zcopy serve ROOT` with `args`, on 127.0.0.1:0 and 2 threads unless `args` says.
  bool start(std::vector<std::string> args = {}, std::size_t lines = 1) {
    auto has = [&](std::string_view flag) {
      return std::find(args.begin(), args.end(), flag) != args.end();
    };
    if (!has("--listen")) args.insert(args.end(), {"--listen", "127.0.0.1:0"});
    if (!has("--threads")) args.insert(args.end(), {"--threads", "2"});
    server_ = serve_process::start(root(), args, lines);
    return server_ != nullptr;
  }
  std::optional<client> connect(int rcvbuf = 0) {
    auto c = client::connect(server_->host(), server_->port(), rcvbuf);
    EXPECT_TRUE(c) << "connect to " << server_->url("/");
    return c;
  }
  std::optional<client::response> get(std::string_view path, std::string_view extra = {},
                                      std::string_view method = "GET") {
    return exchange(server_->host(), server_->port(), simple_request(method, path, extra),
                    method == "HEAD");
  }

  temp_dir dir_;
  std::uint64_t seed_ = test_seed();
  std::unique_ptr<serve_process> server_;
};

std::string str(const std::vector<std::byte>& v) {
  return to_string(v);
}

// Waits (bounded) until `fn` is true.
template <typename F>
bool eventually(F fn, std::chrono::milliseconds timeout = patience,
                std::chrono::milliseconds step = 50ms) {
  auto deadline = clock::now() + timeout;
  while (true) {
    if (fn()) return true;
    if (clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

// Reads from `c` until at least `n` bytes are pending. False on EOF, an error, or a silence of
// `patience`.
bool read_at_least(client& c, std::size_t n) {
  while (c.pending().size() < n) {
    long r = c.fill(patience, 64 * 1024);
    if (r <= 0) return false;
  }
  return true;
}

// --- curl ------------------------------------------------------------------------------------

// Files of several sizes: status, the headers a cache needs, and the bytes.
TEST_F(Serve, CurlServesFilesOfSeveralSizes) {
  const std::vector<std::pair<std::string, std::size_t>> files{
      {"empty.bin", 0},        {"one.bin", 1},     {"four.bin", 4096}, {"mib.bin", (1u << 20) + 17},
      {"eight.bin", 8u << 20}, {"notes.txt", 777}, {"page.html", 1234}};
  std::map<std::string, std::vector<std::byte>> data;
  std::uint64_t salt = 1;
  for (const auto& [name, size] : files) data[name] = put(name, size, salt++);
  ASSERT_TRUE(start());
  for (const auto& [name, size] : files) {
    SCOPED_TRACE(name);
    auto r = run_curl({}, {server_->url("/" + name)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(r.heads.size(), 1u);
    const auto& h = r.head();
    EXPECT_EQ(h.status, 200) << h.text();
    EXPECT_EQ(h.get("content-length"), std::to_string(size)) << h.text();
    EXPECT_EQ(h.get("etag"), nginx_etag(root() / name)) << h.text();
    EXPECT_EQ(h.get("last-modified"), http_date_of(root() / name)) << h.text();
    EXPECT_TRUE(h.get("date")) << h.text();
    EXPECT_TRUE(h.get("server")) << h.text();
    auto type = h.get("content-type").value_or("");
    if (name.ends_with(".bin")) {
      EXPECT_EQ(type, "application/octet-stream");
    }
    if (name.ends_with(".txt")) {
      EXPECT_TRUE(type.starts_with("text/plain")) << type;
    }
    if (name.ends_with(".html")) {
      EXPECT_TRUE(type.starts_with("text/html")) << type;
    }
    EXPECT_TRUE(same_bytes(data[name], r.body()));
  }
}

// Single ranges give 206 and the slice; unsatisfiable ones 416 with "bytes */SIZE"; several ranges
// the whole body with 200 (on purpose: no multipart).
TEST_F(Serve, CurlRanges) {
  const std::size_t size = 100'000;
  auto data = put("r.bin", size, 1);
  ASSERT_TRUE(start());
  auto slice = [&](std::size_t from, std::size_t n) {
    return std::vector<std::byte>(data.begin() + from, data.begin() + from + n);
  };
  struct range_case {
    std::string range;
    int status;
    std::size_t from, n;  // expected slice for 206
    std::string content_range;
  };
  const std::vector<range_case> cases{
      {"bytes=100-199", 206, 100, 100, "bytes 100-199/100000"},
      {"bytes=0-0", 206, 0, 1, "bytes 0-0/100000"},
      {"bytes=-500", 206, size - 500, 500, "bytes 99500-99999/100000"},
      {"bytes=99000-", 206, 99000, 1000, "bytes 99000-99999/100000"},
      {"bytes=99990-200000", 206, 99990, 10, "bytes 99990-99999/100000"},
      {"bytes=-200000", 206, 0, size, "bytes 0-99999/100000"},
      {"bytes=100000-", 416, 0, 0, "bytes */100000"},
      {"bytes=200000-200010", 416, 0, 0, "bytes */100000"},
      {"bytes=0-9,20-29", 200, 0, size, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.range);
    auto r = run_curl({"-H", "Range: " + c.range}, {server_->url("/r.bin")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(r.heads.size(), 1u);
    EXPECT_EQ(r.status(), c.status) << r.head().text();
    if (c.status == 206) {
      EXPECT_EQ(r.head().get("content-range"), c.content_range) << r.head().text();
      EXPECT_EQ(r.head().get("content-length"), std::to_string(c.n)) << r.head().text();
      EXPECT_TRUE(same_bytes(slice(c.from, c.n), r.body()));
    } else if (c.status == 416) {
      EXPECT_EQ(r.head().get("content-range"), c.content_range) << r.head().text();
    } else {
      EXPECT_FALSE(r.head().get("content-range")) << r.head().text();
      EXPECT_TRUE(same_bytes(data, r.body()));
    }
  }
  // If-Range: a matching validator keeps the range, a stale one gives the whole file.
  auto etag = nginx_etag(root() / "r.bin");
  auto r = run_curl({"-r", "10-19", "-H", "If-Range: " + etag}, {server_->url("/r.bin")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.status(), 206);
  EXPECT_TRUE(same_bytes(slice(10, 10), r.body()));
  r = run_curl({"-r", "10-19", "-H", "If-Range: " + http_date_of(root() / "r.bin")},
               {server_->url("/r.bin")});
  EXPECT_EQ(r.status(), 206);
  EXPECT_TRUE(same_bytes(slice(10, 10), r.body()));
  r = run_curl({"-r", "10-19", "-H", "If-Range: \"stale-1\""}, {server_->url("/r.bin")});
  EXPECT_EQ(r.status(), 200);
  EXPECT_TRUE(same_bytes(data, r.body()));
}

// 304 with the ETag of a first response and with its Last-Modified; a changed validator 200.
TEST_F(Serve, CurlConditionalRequests) {
  auto data = put("c.bin", 5000, 1);
  ASSERT_TRUE(start());
  auto first = run_curl({}, {server_->url("/c.bin")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(first.status(), 200);
  auto etag = first.head().get("etag");
  auto lm = first.head().get("last-modified");
  ASSERT_TRUE(etag && lm) << first.head().text();

  auto r = run_curl({"-H", "If-None-Match: " + *etag}, {server_->url("/c.bin")});
  EXPECT_EQ(r.status(), 304) << r.head().text();
  EXPECT_TRUE(r.body().empty());
  EXPECT_EQ(r.head().get("etag"), etag);
  r = run_curl({"-H", "If-None-Match: \"x\", " + *etag}, {server_->url("/c.bin")});
  EXPECT_EQ(r.status(), 304) << r.head().text();
  r = run_curl({"-H", "If-None-Match: W/" + *etag}, {server_->url("/c.bin")});
  EXPECT_EQ(r.status(), 304) << "weak comparison for If-None-Match\n" << r.head().text();
  r = run_curl({"-H", "If-None-Match: *"}, {server_->url("/c.bin")});
  EXPECT_EQ(r.status(), 304) << r.head().text();
  r = run_curl({"-H", "If-Modified-Since: " + *lm}, {server_->url("/c.bin")});
  EXPECT_EQ(r.status(), 304) << r.head().text();
  EXPECT_TRUE(r.body().empty());

  r = run_curl({"-H", "If-None-Match: \"other\""}, {server_->url("/c.bin")});
  EXPECT_EQ(r.status(), 200) << r.head().text();
  EXPECT_TRUE(same_bytes(data, r.body()));
  r = run_curl({"-H", "If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT"},
               {server_->url("/c.bin")});
  EXPECT_EQ(r.status(), 200) << r.head().text();
  EXPECT_TRUE(same_bytes(data, r.body()));
}

// HEAD: the GET headers, no body.
TEST_F(Serve, CurlHead) {
  put("h.bin", 123'457, 1);
  ASSERT_TRUE(start());
  auto r = run_curl({"-I"}, {server_->url("/h.bin")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.heads.size(), 1u);
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.head().get("content-length"), "123457");
  EXPECT_EQ(r.head().get("etag"), nginx_etag(root() / "h.bin"));
  // With -I curl writes the head itself to the -o file: nothing may follow it.
  auto written = str(r.body());
  EXPECT_EQ(written.find("\r\n\r\n"), written.size() - 4) << written;
  // The same over a raw socket: nothing after the head, and the connection stays usable.
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(simple_request("HEAD", "/h.bin", {}, false)));
  auto h = c->read_response(true);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->head.status, 200);
  EXPECT_TRUE(c->pending().empty());
  ASSERT_TRUE(c->send(simple_request("GET", "/h.bin")));
  auto g = c->read_response();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->head.status, 200);
  EXPECT_EQ(g->body.size(), 123'457u);
}

// Several URLs in one curl run go over one kept-alive connection.
TEST_F(Serve, CurlKeepAliveReusesOneConnection) {
  auto a = put("a.bin", 10'000, 1);
  auto b = put("b.bin", 300'001, 2);
  auto c = put("c.bin", 1, 3);
  ASSERT_TRUE(start());
  auto r = run_curl({"-w", "%{num_connects}\\n"},
                    {server_->url("/a.bin"), server_->url("/b.bin"), server_->url("/c.bin")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.heads.size(), 3u);
  int connects = 0;
  std::istringstream lines(r.write_out);
  for (std::string line; std::getline(lines, line);) connects += std::atoi(line.c_str());
  EXPECT_EQ(connects, 1) << r.write_out;
  for (const auto& h : r.heads) EXPECT_EQ(h.status, 200);
  EXPECT_TRUE(same_bytes(a, r.bodies.at(0)));
  EXPECT_TRUE(same_bytes(b, r.bodies.at(1)));
  EXPECT_TRUE(same_bytes(c, r.bodies.at(2)));
}

// Every engine serves identical bytes, whole files and ranges.
TEST_F(Serve, CurlEachEngineServesIdenticalBytes) {
  auto big = put("big.bin", (3u << 20) + 5, 1);
  auto small = put("small.bin", 4096, 2);
  put("empty.bin", 0, 3);
  for (std::string engine : {"sendfile", "splice", "mmap", "read-write", "auto"}) {
    SCOPED_TRACE("--engine " + engine);
    ASSERT_TRUE(start({"--engine", engine}));
    auto r = run_curl(
        {}, {server_->url("/big.bin"), server_->url("/small.bin"), server_->url("/empty.bin")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(r.heads.size(), 3u);
    EXPECT_TRUE(same_bytes(big, r.bodies.at(0)));
    EXPECT_TRUE(same_bytes(small, r.bodies.at(1)));
    EXPECT_TRUE(r.bodies.at(2).empty());
    auto rr = run_curl({"-r", "1000-2000000"}, {server_->url("/big.bin")});
    EXPECT_EQ(rr.status(), 206);
    EXPECT_TRUE(same_bytes(std::span(big).subspan(1000, 1'999'001), rr.body()));
    EXPECT_EQ(server_->process().stop(SIGTERM, patience), 0) << server_->process().err();
  }
}

// IPv6 loopback: the printed URL has brackets, and it serves.
TEST_F(Serve, CurlOverIpv6) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "cannot bind [::1] on this machine";
  auto data = put("six.bin", 70'000, 1);
  ASSERT_TRUE(start({"--listen", "[::1]:0"}));
  EXPECT_EQ(server_->host(), "::1");
  EXPECT_TRUE(server_->primary().url.starts_with("http://[::1]:")) << server_->primary().url;
  auto r = run_curl({}, {server_->url("/six.bin")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.status(), 200);
  EXPECT_TRUE(same_bytes(data, r.body()));
}

// Two --listen addresses: two lines printed, both serve.
TEST_F(Serve, SeveralListenAddresses) {
  auto data = put("two.bin", 1000, 1);
  ASSERT_TRUE(start({"--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"}, 2));
  ASSERT_EQ(server_->endpoints().size(), 2u);
  for (const auto& e : server_->endpoints()) {
    auto r = run_curl({}, {e.url + "two.bin"});
    EXPECT_EQ(r.status(), 200) << e.url;
    EXPECT_TRUE(same_bytes(data, r.body()));
  }
}

// Directories: /dir redirects to /dir/, index.html is served, no index → 403.
TEST_F(Serve, CurlDirectories) {
  auto index = put("sub/index.html", 321, 1);
  put("noindex/file.bin", 10, 2);
  ASSERT_TRUE(start());
  auto r = run_curl({}, {server_->url("/sub")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.status(), 301) << r.head().text();
  EXPECT_TRUE(r.head().get("location").value_or("").ends_with("/sub/")) << r.head().text();
  r = run_curl({}, {server_->url("/sub/")});
  EXPECT_EQ(r.status(), 200) << r.head().text();
  EXPECT_TRUE(r.head().get("content-type").value_or("").starts_with("text/html"));
  EXPECT_TRUE(same_bytes(index, r.body()));
  r = run_curl({}, {server_->url("/noindex/")});
  EXPECT_EQ(r.status(), 403) << r.head().text();
  r = run_curl({}, {server_->url("/")});
  EXPECT_EQ(r.status(), 403) << r.head().text();
  // Following the redirect lands on the index.
  r = run_curl({"-L", "--max-redirs", "2"}, {server_->url("/sub")});
  EXPECT_EQ(r.status(), 200);
  EXPECT_TRUE(same_bytes(index, r.body()));
}

// --autoindex lists a directory, escaping odd names, leaving out dotfiles; the href works.
TEST_F(Serve, CurlAutoindexListing) {
  const std::string odd = "odd <b>&\"x y.txt";
  auto data = put("list/" + odd, 99, 1);
  put("list/plain.bin", 5, 2);
  put("list/.secret", 5, 3);
  put("list/child/f.bin", 5, 4);
  ASSERT_TRUE(start({"--autoindex"}));
  auto r = run_curl({}, {server_->url("/list/")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.status(), 200) << r.head().text();
  EXPECT_TRUE(r.head().get("content-type").value_or("").starts_with("text/html"));
  auto html = str(r.body());
  EXPECT_NE(html.find("odd &lt;b&gt;&amp;&quot;x y.txt"), std::string::npos) << html;
  EXPECT_EQ(html.find("<b>&"), std::string::npos) << html;
  EXPECT_NE(html.find("odd%20%3Cb%3E%26%22x%20y.txt"), std::string::npos) << html;
  EXPECT_NE(html.find("plain.bin"), std::string::npos) << html;
  EXPECT_NE(html.find("child/"), std::string::npos) << html;
  EXPECT_EQ(html.find(".secret"), std::string::npos) << html;
  auto f = run_curl({}, {server_->url("/list/odd%20%3Cb%3E%26%22x%20y.txt")});
  EXPECT_EQ(f.status(), 200);
  EXPECT_TRUE(same_bytes(data, f.body()));
}

// Dotfiles (any segment) are 404 unless --show-hidden.
TEST_F(Serve, CurlDotfilesAreHidden) {
  auto hidden = put(".hidden", 50, 1);
  put(".git/config", 50, 2);
  put("sub/.env", 50, 3);
  ASSERT_TRUE(start());
  for (std::string path : {"/.hidden", "/.git/config", "/sub/.env", "/.git/", "/%2ehidden"}) {
    auto r = run_curl({}, {server_->url(path)});
    EXPECT_EQ(r.status(), 404) << path << "\n" << r.head().text();
    EXPECT_EQ(str(r.body()).find(str(hidden)), std::string::npos);
  }
  ASSERT_TRUE(start({"--show-hidden"}));
  auto r = run_curl({}, {server_->url("/.hidden")});
  EXPECT_EQ(r.status(), 200);
  EXPECT_TRUE(same_bytes(hidden, r.body()));
}

// Methods other than GET and HEAD: 405 with Allow.
TEST_F(Serve, CurlOtherMethodsAre405) {
  put("m.bin", 50, 1);
  ASSERT_TRUE(start());
  for (std::string method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    auto r = run_curl({"-X", method}, {server_->url("/m.bin")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.status(), 405) << method << "\n" << r.head().text();
    EXPECT_EQ(r.head().get("allow"), "GET, HEAD") << method;
  }
}

// --- raw sockets -----------------------------------------------------------------------------

// Malformed requests get 400 (505 for other versions); HTTP/1.0 needs no Host.
TEST_F(Serve, RawMalformedRequests) {
  auto a = put("a.bin", 2000, 1);
  ASSERT_TRUE(start());
  const std::vector<std::pair<std::string, int>> cases{
      {"garbage\r\n\r\n", 400},
      {"\x01\x02\x03 / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET /a.bin HTTP/1.1\r\n\r\n", 400},
      {"GET /a.bin HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400},
      {"GET /a.bin HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400},
      {"GET a.bin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET /a.bin HTTP/2.0\r\nHost: x\r\n\r\n", 505},
      {"GET /a.bin HTTP/0.9\r\nHost: x\r\n\r\n", 505},
  };
  for (const auto& [req, status] : cases) {
    SCOPED_TRACE(req);
    auto c = connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(req));
    auto r = c->read_response();
    ASSERT_TRUE(r) << "no response; got: " << c->pending();
    EXPECT_EQ(r->head.status, status) << r->head.text();
    EXPECT_TRUE(c->closed_within(patience)) << "connection left open after an error response";
  }
  // HTTP/1.0 without Host is fine, and the connection closes after the response.
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /a.bin HTTP/1.0\r\n\r\n"));
  auto r = c->read_response();
  ASSERT_TRUE(r) << c->pending();
  EXPECT_EQ(r->head.status, 200) << r->head.text();
  EXPECT_EQ(r->body, str(a));
  EXPECT_TRUE(c->closed_within(patience));
  // HTTP/1.0 with keep-alive stays open for a second request.
  c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("GET /a.bin HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(lower(r->head.get("connection").value_or("")), "keep-alive") << r->head.text();
  ASSERT_TRUE(c->send("GET /a.bin HTTP/1.0\r\n\r\n"));
  r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, str(a));
}

// Absolute-form targets, percent-decoding, queries ignored.
TEST_F(Serve, RawTargetForms) {
  auto a = put("a.bin", 300, 1);
  auto sp = put("sp ace.bin", 301, 2);
  auto u = put("\xc3\xbc.bin", 302, 3);
  ASSERT_TRUE(start());
  const std::vector<std::pair<std::string, const std::vector<std::byte>*>> cases{
      {"http://localhost/a.bin", &a}, {"/a.bin?x=1&y=%2F..%2F", &a}, {"/%61.bin", &a},
      {"/sp%20ace.bin", &sp},         {"/%C3%BC.bin", &u},           {"/%c3%bc.bin", &u},
  };
  for (const auto& [target, body] : cases) {
    auto r = get(target);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->head.status, 200) << target << "\n" << r->head.text();
    EXPECT_EQ(r->body, str(*body)) << target;
  }
}

// A request line over 8 KiB → 414; a header block over 16 KiB → 431.
TEST_F(Serve, RawOversizedRequests) {
  put("a.bin", 10, 1);
  ASSERT_TRUE(start());
  {
    auto c = connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c->read_response();
    ASSERT_TRUE(r) << "no response; got: " << c->pending().substr(0, 200);
    EXPECT_EQ(r->head.status, 414) << r->head.text();
  }
  {
    std::string req = "GET /a.bin HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 40; ++i) {
      req += "X-Filler-" + std::to_string(i) + ": " + std::string(500, 'f') + "\r\n";
    }
    req += "\r\n";
    auto c = connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(req));
    auto r = c->read_response();
    ASSERT_TRUE(r) << "no response; got: " << c->pending().substr(0, 200);
    EXPECT_EQ(r->head.status, 431) << r->head.text();
  }
  {  // Just under the limits is fine.
    std::string req = "GET /a.bin?" + std::string(7000, 'q') + " HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 10; ++i) {
      req += "X-Filler-" + std::to_string(i) + ": " + std::string(500, 'f') + "\r\n";
    }
    req += "Connection: close\r\n\r\n";
    auto c = connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(req));
    auto r = c->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->head.status, 200) << r->head.text();
  }
}

// Pipelined requests in one write are answered in order.
TEST_F(Serve, RawPipelining) {
  auto a = put("a.bin", 100'000, 1);
  auto b = put("b.bin", 1, 2);
  auto c3 = put("c.bin", 5000, 3);
  ASSERT_TRUE(start());
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(
      simple_request("GET", "/a.bin", {}, false) + simple_request("HEAD", "/c.bin", {}, false) +
      simple_request("GET", "/b.bin", {}, false) + simple_request("GET", "/nope", {}, false) +
      simple_request("GET", "/c.bin", {}, false)));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, str(a));
  r = c->read_response(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->head.status, 200);
  EXPECT_EQ(r->head.get("content-length"), "5000");
  r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, str(b));
  r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->head.status, 404);
  r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->head.status, 200);
  EXPECT_EQ(r->body, str(c3));
}

// A GET carrying a body: the body is skipped, the next request is read from the right place.
TEST_F(Serve, RawGetWithBodyDoesNotDesynchronise) {
  auto a = put("a.bin", 1000, 1);
  auto b = put("b.bin", 2000, 2);
  ASSERT_TRUE(start());
  // The body looks like a request: if it were parsed as one, /a.bin would come back twice.
  const std::string smuggled = "GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n";
  for (bool split : {false, true}) {
    SCOPED_TRACE(split ? "body in a second write" : "one write");
    auto c = connect();
    ASSERT_TRUE(c);
    std::string first =
        "GET /a.bin HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(smuggled.size()) +
        "\r\n\r\n";
    if (split) {
      ASSERT_TRUE(c->send(first));
      std::this_thread::sleep_for(100ms);
      ASSERT_TRUE(c->send(smuggled + simple_request("GET", "/b.bin", {}, false)));
    } else {
      ASSERT_TRUE(c->send(first + smuggled + simple_request("GET", "/b.bin", {}, false)));
    }
    auto r = c->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->head.status, 200);
    EXPECT_EQ(r->body, str(a));
    if (lower(r->head.get("connection").value_or("")) == "close") {
      EXPECT_TRUE(c->closed_within(patience));
      continue;
    }
    r = c->read_response();
    ASSERT_TRUE(r) << "no second response; pending: " << c->pending().substr(0, 200);
    EXPECT_EQ(r->head.status, 200);
    EXPECT_EQ(r->body, str(b)) << "second response is not /b.bin: desynchronised";
  }
}

// A client that half-closes after its requests (shutdown(SHUT_WR), which HTTP allows) gets every
// response whole, a large one included, and then the connection closes; a partial request
// before the FIN is dropped. (nginx 1.22 cuts a response that does not fit the socket buffers
// short here: "client prematurely closed connection while sending response to client".)
TEST_F(Serve, RawHalfClosedClientGetsEveryResponse) {
  auto big = put("big.bin", (16u << 20) + 1, 1);
  auto small = put("small.bin", 1000, 2);
  ASSERT_TRUE(start());
  auto c = connect(65536);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(simple_request("GET", "/big.bin", {}, false) +
                      simple_request("GET", "/small.bin", {}, false) + "GET /sma"));
  ASSERT_EQ(::shutdown(c->fd(), SHUT_WR), 0);
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->head.status, 200);
  EXPECT_EQ(r->body, str(big));
  r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, str(small));
  EXPECT_TRUE(c->closed_within(patience));
  EXPECT_TRUE(c->pending().empty()) << c->pending().substr(0, 200);
}

// Connection: close is honoured; without it the connection stays open.
TEST_F(Serve, RawConnectionClose) {
  put("a.bin", 100, 1);
  ASSERT_TRUE(start());
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(simple_request("GET", "/a.bin", {}, false)));
  auto r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_NE(lower(r->head.get("connection").value_or("")), "close");
  EXPECT_EQ(c->fill(300ms), -1) << "closed without Connection: close";
  ASSERT_TRUE(c->send(simple_request("GET", "/a.bin", {}, true)));
  r = c->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(lower(r->head.get("connection").value_or("")), "close") << r->head.text();
  EXPECT_TRUE(c->closed_within(patience));
}

// --max-requests N: the Nth response says Connection: close, and nothing more is answered.
TEST_F(Serve, RawMaxRequests) {
  put("a.bin", 100, 1);
  ASSERT_TRUE(start({"--max-requests", "3"}));
  auto c = connect();
  ASSERT_TRUE(c);
  std::string four;
  for (int i = 0; i < 4; ++i) four += simple_request("GET", "/a.bin", {}, false);
  ASSERT_TRUE(c->send(four));
  for (int i = 0; i < 3; ++i) {
    auto r = c->read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->head.status, 200);
    EXPECT_EQ(lower(r->head.get("connection").value_or("")) == "close", i == 2) << i << "\n"
                                                                                << r->head.text();
  }
  EXPECT_TRUE(c->closed_within(patience));
  EXPECT_TRUE(c->pending().empty()) << "a fourth response: " << c->pending().substr(0, 100);
}

// Nothing from outside ROOT, whatever the encoding; symlinks out of ROOT are refused by default.
TEST_F(Serve, RawTraversalNeverLeaks) {
  const std::string marker = "SECRET-" + std::to_string(seed_) + "-MARKER";
  {
    std::ofstream f(outside() / "secret.txt");
    f << marker;
  }
  put("a.bin", 100, 1);
  put("sub/b.bin", 100, 2);
  fs::create_symlink(outside() / "secret.txt", root() / "abs_link");
  fs::create_symlink("../outside/secret.txt", root() / "rel_link");
  fs::create_symlink("../outside", root() / "dir_link");
  fs::create_symlink("a.bin", root() / "inside_link");
  ASSERT_TRUE(start());
  const std::vector<std::string> targets{
      "/../outside/secret.txt",
      "/../etc/passwd",
      "/../../../../../../etc/passwd",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/%2e%2e/outside/secret.txt",
      "/%2E%2E/outside/secret.txt",
      "/sub/../../outside/secret.txt",
      "/sub/%2e%2e/%2e%2e/outside/secret.txt",
      "/a%2f..%2f..%2fetc/passwd",
      "/sub%2f..%2f..%2foutside%2fsecret.txt",
      "/..%2foutside/secret.txt",
      "/..%5coutside/secret.txt",
      "//../outside/secret.txt",
      "/./../outside/secret.txt",
      "/%00",
      "/a.bin%00.txt",
      "/abs_link",
      "/rel_link",
      "/dir_link/secret.txt",
      "/dir_link/",
      "http://localhost/../outside/secret.txt",
      "../outside/secret.txt",
  };
  for (const auto& t : targets) {
    auto r = get(t);
    ASSERT_TRUE(r) << t;
    EXPECT_GE(r->head.status, 400) << t << "\n" << r->head.text();
    EXPECT_LT(r->head.status, 500) << t << "\n" << r->head.text();
    EXPECT_EQ(r->body.find(marker), std::string::npos) << t << " leaked the secret";
    EXPECT_EQ(r->body.find("root:x:0:0"), std::string::npos) << t << " leaked /etc/passwd";
  }
  // A symlink inside ROOT is fine.
  auto r = get("/inside_link");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->head.status, 200);
  // With --follow-symlinks the links out of ROOT work (so the refusals above were about them).
  ASSERT_TRUE(start({"--follow-symlinks"}));
  for (std::string t : {"/abs_link", "/rel_link", "/dir_link/secret.txt"}) {
    r = get(t);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->head.status, 200) << t;
    EXPECT_EQ(r->body, marker) << t;
  }
  // ...but never `..` above ROOT.
  r = get("/../outside/secret.txt");
  ASSERT_TRUE(r);
  EXPECT_GE(r->head.status, 400);
  EXPECT_EQ(r->body.find(marker), std::string::npos);
}

// Slowloris: a client dribbling a header is cut off before its request is complete; another
// client is served meanwhile. The dribble (a byte each 300 ms, about 70 s for the whole request)
// outlasts the 1 s header timeout by far more than any slowness of the machine, and no clock of
// the test's decides.
TEST_F(Serve, RawSlowlorisIsDisconnected) {
  auto small = put("small.bin", 1000, 1);
  ASSERT_TRUE(start({"--header-timeout", "1"}));
  auto slow = connect();
  ASSERT_TRUE(slow);
  std::atomic<bool> done{false};
  bool closed = false;
  double after_s = 0;
  std::thread dribbler([&] {
    const std::string req =
        "GET /small.bin HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + std::string(200, 'p');
    auto t0 = clock::now();
    for (std::size_t i = 0; i < req.size(); ++i) {
      if (!slow->send(req.substr(i, 1))) {
        closed = true;
        break;
      }
      long n = slow->fill(300ms);
      if (n == 0 || n == -2) {
        closed = true;
        break;
      }
    }
    after_s = std::chrono::duration<double>(clock::now() - t0).count();
    done = true;
  });
  int served = 0, failed = 0;
  while (!done) {
    auto r = get("/small.bin");
    if (r && r->head.status == 200 && r->body == str(small)) {
      ++served;
    } else {
      ++failed;
    }
    std::this_thread::sleep_for(200ms);
  }
  dribbler.join();
  EXPECT_TRUE(closed) << "slow client still connected after " << after_s
                      << " s: the whole request went out";
  EXPECT_GT(served, 0);
  EXPECT_EQ(failed, 0);
  if (!slow->pending().empty()) {
    EXPECT_TRUE(slow->pending().starts_with("HTTP/1.1 408")) << slow->pending().substr(0, 100);
  }
}

// --max-connections 2: a third connection is closed at once; after one leaves, new ones work.
TEST_F(Serve, RawMaxConnections) {
  auto small = put("small.bin", 1000, 1);
  ASSERT_TRUE(start({"--max-connections", "2", "--threads", "1"}));
  auto a = connect();
  auto b = connect();
  ASSERT_TRUE(a && b);
  for (auto* c : {&*a, &*b}) {
    ASSERT_TRUE(c->send(simple_request("GET", "/small.bin", {}, false)));
    auto r = c->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->head.status, 200);
  }
  auto third = connect();
  ASSERT_TRUE(third);
  third->send(simple_request("GET", "/small.bin", {}, false));
  EXPECT_TRUE(third->closed_within(patience)) << "third connection not closed";
  EXPECT_EQ(third->pending().find("HTTP/1.1 200"), std::string::npos) << third->pending();
  // The two admitted ones still work.
  ASSERT_TRUE(b->send(simple_request("GET", "/small.bin", {}, false)));
  auto r = b->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, str(small));
  a->close();
  bool admitted = eventually(
      [&] {
        auto rr = get("/small.bin");
        return rr && rr->head.status == 200 && rr->body == str(small);
      },
      patience, 100ms);
  EXPECT_TRUE(admitted) << "no new connection admitted after one closed";
}

// --max-connections is a total for the server, not a share per worker thread: with 3 allowed and
// 2 threads, 3 kept-alive connections are all served, and a fourth is closed.
TEST_F(Serve, RawMaxConnectionsIsATotalAcrossThreads) {
  auto small = put("small.bin", 1000, 1);
  ASSERT_TRUE(start({"--max-connections", "3", "--threads", "2"}));
  std::vector<client> kept;
  int admitted = 0;
  for (int i = 0; i < 3; ++i) {
    auto c = connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(simple_request("GET", "/small.bin", {}, false)));
    auto r = c->read_response();
    if (r && r->head.status == 200 && r->body == str(small)) ++admitted;
    kept.push_back(std::move(*c));
  }
  EXPECT_EQ(admitted, 3) << "--max-connections 3 --threads 2 admitted only " << admitted;
  auto fourth = connect();
  ASSERT_TRUE(fourth);
  fourth->send(simple_request("GET", "/small.bin", {}, false));
  EXPECT_TRUE(fourth->closed_within(patience)) << "fourth connection not closed";
}

class ServeEngine : public Serve, public ::testing::WithParamInterface<std::string> {};

// A file truncated while it is sent: the client gets a short body that matches the original's
// prefix and then EOF; the server survives.
TEST_P(ServeEngine, TruncatedDuringSend) {
  const std::size_t size = 64u << 20;
  auto data = put("big.bin", size, 1);
  auto small = put("small.bin", 1000, 2);
  ASSERT_TRUE(start({"--engine", GetParam()}));
  auto c = connect(65536);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(simple_request("GET", "/big.bin")));
  ASSERT_TRUE(read_at_least(*c, 1u << 20));
  auto end = c->pending().find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  ASSERT_TRUE(c->pending().starts_with("HTTP/1.1 200")) << c->pending().substr(0, 200);
  ASSERT_EQ(::truncate((root() / "big.bin").c_str(), 1 << 20), 0);
  bool eof = c->read_to_close();
  EXPECT_TRUE(eof) << "no EOF after truncation";
  std::string body = c->pending().substr(end + 4);
  EXPECT_LT(body.size(), size);
  // The part of the file that still exists arrives intact with every engine. Beyond it, the
  // copying engines (mmap, read-write) sent only bytes they had read before the truncation, so
  // all of them match; sendfile and splice (io_uring's too) hand page-cache pages to the socket by
  // reference, and the kernel may reuse pages that the truncation freed before they are
  // transmitted: nginx with sendfile on shows the same, so there only the surviving 1 MiB is
  // compared.
  const bool zero_copy =
      GetParam() == "sendfile" || GetParam() == "splice" || GetParam() == "io_uring";
  const std::size_t check = zero_copy ? std::min<std::size_t>(body.size(), 1u << 20) : body.size();
  EXPECT_GE(body.size(), std::size_t{1} << 20);
  auto got = to_bytes(body);
  EXPECT_TRUE(same_bytes(std::span(data).first(check), std::span(got).first(check)));
  EXPECT_TRUE(server_->process().running()) << server_->process().err();
  auto r = get("/small.bin");
  ASSERT_TRUE(r) << "server no longer answers";
  EXPECT_EQ(r->body, str(small));
}

INSTANTIATE_TEST_SUITE_P(Engines, ServeEngine,
                         ::testing::Values("sendfile", "splice", "mmap", "read-write", "io_uring"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           std::erase(n, '-');
                           return n;
                         });

// Clients closing mid-body: the server's descriptors go back to their idle count.
TEST_F(Serve, DisconnectMidBodyFreesDescriptors) {
  put("big.bin", 64u << 20, 1);
  auto small = put("small.bin", 1000, 2);
  ASSERT_TRUE(start({"--open-file-cache", "0"}));
  const int before = server_->fd_count();
  ASSERT_GT(before, 0);
  auto warm = get("/small.bin");
  ASSERT_TRUE(warm);
  eventually([&] { return server_->fd_count() == before; });
  const int idle = server_->fd_count();
  std::vector<client> clients;
  for (int i = 0; i < 4; ++i) {
    auto c = connect(65536);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(simple_request("GET", "/big.bin", {}, false)));
    ASSERT_TRUE(read_at_least(*c, 100'000));
    clients.push_back(std::move(*c));
  }
  EXPECT_GT(server_->fd_count(), idle);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    if (i % 2 == 0) {  // reset instead of FIN
      linger l{1, 0};
      ::setsockopt(clients[i].fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    clients[i].close();
  }
  int last = -1;
  bool back = eventually(
      [&] {
        last = server_->fd_count();
        return last == idle;
      },
      patience, 100ms);
  EXPECT_TRUE(back) << "fd count " << last << ", idle " << idle;
  auto r = get("/small.bin");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, str(small));
}

// A file replaced by rename: new bytes at once without the cache, after the TTL with it.
TEST_F(Serve, FileReplacedOnDisk) {
  for (bool cache : {false, true}) {
    SCOPED_TRACE(cache ? "cache on" : "cache off");
    auto old_data = put("f.bin", 100'000, cache ? 10 : 1);
    if (cache) {
      ASSERT_TRUE(start({"--open-file-cache", "100", "--open-file-cache-valid", "0.2"}));
    } else {
      ASSERT_TRUE(start({"--open-file-cache", "0"}));
    }
    for (int i = 0; i < 2; ++i) {
      auto r = run_curl({}, {server_->url("/f.bin")});
      EXPECT_TRUE(same_bytes(old_data, r.body()));
    }
    auto new_data = random_bytes(100'000, seed_ + (cache ? 11 : 2));
    write_file(root() / "f.bin.tmp", new_data);
    fs::rename(root() / "f.bin.tmp", root() / "f.bin");
    if (cache) std::this_thread::sleep_for(500ms);
    auto r = run_curl({}, {server_->url("/f.bin")});
    EXPECT_EQ(r.status(), 200);
    EXPECT_TRUE(same_bytes(new_data, r.body()));
    // And a different size too.
    auto newer = random_bytes(50'001, seed_ + (cache ? 12 : 3));
    write_file(root() / "f.bin.tmp", newer);
    fs::rename(root() / "f.bin.tmp", root() / "f.bin");
    if (cache) std::this_thread::sleep_for(500ms);
    r = run_curl({}, {server_->url("/f.bin")});
    EXPECT_EQ(r.head().get("content-length"), "50001");
    EXPECT_TRUE(same_bytes(newer, r.body()));
  }
}

// A small cached file (sent from its mapping with the head) truncated in place while its cache
// entry is still trusted: that response ends early (never wrong bytes, never a crash), the error
// goes to stderr, other requests are served, and after the entry expires the new size is served.
// The second request must come while the entry is trusted: a machine too slow for that (the
// entry expired first, and the new size came back whole) gets the scenario again with an entry
// trusted four times as long, so the outcome does not depend on speed.
TEST_F(Serve, SmallCachedFileTruncatedInPlace) {
  auto other = put("other.bin", 3000, 22);
  bool met_the_entry = false;
  for (double valid_s = 1; valid_s <= 64 && !met_the_entry; valid_s *= 4) {
    SCOPED_TRACE("--open-file-cache-valid " + std::to_string(valid_s));
    auto data = put("small.bin", 8000, 21);
    // One worker: the second request must meet the first one's cache entry.
    ASSERT_TRUE(start({"--open-file-cache-valid", std::to_string(valid_s), "--threads", "1"}));
    auto r = run_curl({}, {server_->url("/small.bin")});
    ASSERT_TRUE(same_bytes(data, r.body()));
    const auto cached_at = clock::now();
    ASSERT_EQ(::truncate((root() / "small.bin").c_str(), 100), 0);
    r = run_curl({}, {server_->url("/small.bin")});
    ASSERT_FALSE(r.bodies.empty());
    const bool expired =
        !r.heads.empty() && r.head().get("content-length") == "100" && r.body().size() == 100;
    if (expired) continue;
    met_the_entry = true;
    // Whatever arrived is a prefix of the old bytes, and never the whole of them.
    EXPECT_LT(r.body().size(), data.size());
    EXPECT_TRUE(same_bytes(std::span(data).first(r.body().size()), r.body()));
    EXPECT_TRUE(same_bytes(other, run_curl({}, {server_->url("/other.bin")}).body()));
    std::this_thread::sleep_until(cached_at + std::chrono::duration<double>(valid_s + 0.2));
    r = run_curl({}, {server_->url("/small.bin")});
    EXPECT_EQ(r.head().get("content-length"), "100");
    EXPECT_TRUE(same_bytes(std::span(data).first(100), r.body()));
    EXPECT_NE(server_->process().err().find("truncated"), std::string::npos)
        << server_->process().err();
  }
  EXPECT_TRUE(met_the_entry) << "every second request came after its cache entry expired";
}

// SIGTERM: a large response in flight completes, then the server exits 0 at once. The grace
// period is far longer than any machine needs for the body (a 10 s one cut 64 MiB short under
// TSan on a busy machine), so the exit that follows the last byte shows that the server ends when
// its responses are done, not when the grace runs out.
TEST_F(Serve, SigtermFinishesInFlightResponse) {
  const std::size_t size = 16u << 20;  // more than the client's and the server's buffers hold
  auto data = put("big.bin", size, 1);
  ASSERT_TRUE(start({"--grace", "600"}));
  auto c = connect(65536);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(simple_request("GET", "/big.bin")));
  ASSERT_TRUE(read_at_least(*c, 1u << 20));
  server_->process().signal(SIGTERM);
  // The client reads nothing until the server has taken the signal: the response is in flight.
  ASSERT_TRUE(eventually([&] {
    return server_->process().err().find("SIGTERM received") != std::string::npos;
  })) << server_->process().err();
  EXPECT_TRUE(c->read_to_close());
  auto end = c->pending().find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  std::string body = c->pending().substr(end + 4);
  EXPECT_EQ(body.size(), size);
  EXPECT_TRUE(same_bytes(data, to_bytes(body)));
  auto code = server_->process().wait(patience);
  ASSERT_TRUE(code) << "still running after the response was done (--grace 600)";
  EXPECT_EQ(*code, 0) << server_->process().err();
}

// SIGINT on an idle server: exit 0.
TEST_F(Serve, SigintExitsZero) {
  ASSERT_TRUE(start());
  server_->process().signal(SIGINT);
  auto code = server_->process().wait(patience);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << server_->process().err();
}

std::string zcopy_binary() {
  const char* b = std::getenv("ZCOPY_BINARY");
  return b ? b : "zcopy";
}

// A missing ROOT: exit 1 with a message.
TEST_F(Serve, BadRootExitsOne) {
  auto r = run_bounded(
      {zcopy_binary(), "serve", (dir_ / "missing").string(), "--listen", "127.0.0.1:0"}, patience);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(r.err.starts_with("zcopy: ")) << r.err;
}

// A bad --listen: non-zero exit and a message; an address in use: exit 1.
TEST_F(Serve, BadListenFails) {
  for (std::string listen : {"nonsense", "127.0.0.1:70000", "127.0.0.1:", "[::1:0", "1.2.3:80"}) {
    auto r = run_bounded({zcopy_binary(), "serve", root().string(), "--listen", listen}, patience);
    EXPECT_NE(r.exit_code, 0) << listen;
    EXPECT_NE(r.exit_code, -1) << listen;
    EXPECT_TRUE(r.err.starts_with("zcopy: ")) << listen << ": " << r.err;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unique_fd owner(fd);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto r = run_bounded({zcopy_binary(), "serve", root().string(), "--listen",
                        "127.0.0.1:" + std::to_string(ntohs(a.sin_port))},
                       patience);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(r.err.starts_with("zcopy: ")) << r.err;
}

// Usage errors exit 2.
TEST_F(Serve, UsageErrorsExitTwo) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"--engine", "teleport"}, {"--threads", "many"}, {"--no-such-flag"}}) {
    std::vector<std::string> argv{zcopy_binary(), "serve", root().string(), "--listen",
                                  "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_bounded(argv, patience);
    EXPECT_EQ(r.exit_code, 2) << args.at(0) << ": " << r.err;
    EXPECT_TRUE(r.err.starts_with("zcopy: ")) << r.err;
  }
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// --access-log FILE: combined format with status and body bytes; SIGHUP reopens after a rename.
TEST_F(Serve, AccessLogCombinedAndReopen) {
  put("a.bin", 12'345, 1);
  const auto log = dir_ / "access.log";
  ASSERT_TRUE(start({"--access-log", log.string()}));
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(simple_request(
      "GET", "/a.bin", "Referer: http://ref.example/x\r\nUser-Agent: serve-test/1.0\r\n", false)));
  ASSERT_TRUE(c->read_response());
  ASSERT_TRUE(c->send(simple_request("GET", "/missing?q=1", {}, false)));
  ASSERT_TRUE(c->read_response());
  ASSERT_TRUE(c->send(simple_request("GET", "/a.bin", "Range: bytes=0-99\r\n", false)));
  ASSERT_TRUE(c->read_response());
  ASSERT_TRUE(c->send(simple_request("HEAD", "/a.bin", {}, false)));
  ASSERT_TRUE(c->read_response(true));
  EXPECT_TRUE(eventually([&] { return read_lines(log).size() >= 4; }))
      << "log has " << read_lines(log).size() << " lines";
  auto lines = read_lines(log);
  ASSERT_EQ(lines.size(), 4u);
  static const std::regex combined(
      R"re(^(\S+) - (\S+) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$)re");
  struct expect_line {
    std::string request;
    int status;
    long bytes;  // -1: any
    std::string referer, agent;
  };
  const std::vector<expect_line> expected{
      {"GET /a.bin HTTP/1.1", 200, 12345, "http://ref.example/x", "serve-test/1.0"},
      {"GET /missing?q=1 HTTP/1.1", 404, -1, "-", "-"},
      {"GET /a.bin HTTP/1.1", 206, 100, "-", "-"},
      {"HEAD /a.bin HTTP/1.1", 200, 0, "-", "-"},
  };
  for (std::size_t i = 0; i < 4; ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[i], m, combined)) << lines[i];
    EXPECT_EQ(m[1].str(), "127.0.0.1") << lines[i];
    EXPECT_EQ(m[2].str(), "-") << lines[i];
    EXPECT_EQ(m[4].str(), expected[i].request) << lines[i];
    EXPECT_EQ(std::stoi(m[5].str()), expected[i].status) << lines[i];
    if (expected[i].bytes >= 0) {
      EXPECT_EQ(std::stol(m[6].str()), expected[i].bytes) << lines[i];
    }
    EXPECT_EQ(m[7].str(), expected[i].referer) << lines[i];
    EXPECT_EQ(m[8].str(), expected[i].agent) << lines[i];
  }
  // Rotate: rename, SIGHUP, and the next line lands in a new file at the old name.
  fs::rename(log, dir_ / "access.log.1");
  server_->process().signal(SIGHUP);
  EXPECT_TRUE(eventually([&] { return fs::exists(log); })) << "no new log after SIGHUP";
  ASSERT_TRUE(c->send(simple_request("GET", "/a.bin?after=hup", {}, false)));
  ASSERT_TRUE(c->read_response());
  EXPECT_TRUE(eventually([&] { return read_lines(log).size() == 1; }));
  auto fresh = read_lines(log);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_NE(fresh[0].find("\"GET /a.bin?after=hup HTTP/1.1\" 200 12345"), std::string::npos)
      << fresh[0];
  EXPECT_EQ(read_lines(dir_ / "access.log.1").size(), 4u);
  EXPECT_TRUE(server_->process().running());
}

// --access-log -: lines on stdout after the URL line.
TEST_F(Serve, AccessLogToStdout) {
  put("a.bin", 10, 1);
  ASSERT_TRUE(start({"--access-log", "-"}));
  auto r = get("/a.bin");
  ASSERT_TRUE(r);
  EXPECT_TRUE(eventually([&] {
    return server_->process().out().find("\"GET /a.bin HTTP/1.1\" 200 10") != std::string::npos;
  })) << server_->process().out();
}

}  // namespace
}  // namespace zcopy::test
