// plan: a parsed request and a ROOT in, the response the event loop sends out. Covers every
// decision of plan.hpp in order: method, target, lookup, directories, conditionals, Range, HEAD.
#include "http/plan.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "http/conditional.hpp"
#include "http/date.hpp"
#include "http/resolve.hpp"
#include "http/response.hpp"
#include "support/test_support.hpp"

namespace zcopy::http {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The value of field `name` in `head` (as written, case-sensitive), if present.
std::optional<std::string> field(const std::string& head, std::string_view name) {
  const std::string key = "\r\n" + std::string(name) + ": ";
  const std::size_t at = head.find(key);
  if (at == std::string::npos) return std::nullopt;
  const std::size_t start = at + key.size();
  return head.substr(start, head.find("\r\n", start) - start);
}

std::string status_line(const std::string& head) {
  return head.substr(0, head.find("\r\n"));
}

std::vector<std::byte> slice(const std::vector<std::byte>& data, std::size_t offset,
                             std::size_t length) {
  return {data.begin() + static_cast<std::ptrdiff_t>(offset),
          data.begin() + static_cast<std::ptrdiff_t>(offset + length)};
}

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

// ROOT:
//   f.bin           random, 10000 bytes
//   page.html       random
//   empty           0 bytes
//   .hidden         random
//   dir/a.txt       random          (no index.html)
//   site/index.html random
//   a b/            empty directory (a name that needs encoding)
//   idxdir/index.html/   a directory named index.html
//   escape  -> ../outside.txt       (leaves ROOT)
//   link    -> f.bin
class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SCOPED_TRACE(::testing::Message() << "seed " << test::test_seed());
    root_path = base.path() / "root";
    fs::create_directories(root_path / "dir");
    fs::create_directories(root_path / "site");
    fs::create_directories(root_path / "a b");
    fs::create_directories(root_path / "idxdir" / "index.html");
    const std::uint64_t seed = test::test_seed();
    f_data = test::random_bytes(10000, seed);
    page_data = test::random_bytes(777, seed + 1);
    index_data = test::random_bytes(321, seed + 2);
    a_data = test::random_bytes(55, seed + 3);
    outside_data = test::random_bytes(99, seed + 4);
    test::write_file(root_path / "f.bin", f_data);
    test::write_file(root_path / "page.html", page_data);
    test::write_file(root_path / "empty", {});
    test::write_file(root_path / ".hidden", a_data);
    test::write_file(root_path / "dir" / "a.txt", a_data);
    test::write_file(root_path / "site" / "index.html", index_data);
    test::write_file(base.path() / "outside.txt", outside_data);
    fs::create_symlink("../outside.txt", root_path / "escape");
    fs::create_symlink("f.bin", root_path / "link");
    // The files predate `now`, as they would on a server whose clock is right: an
    // If-Modified-Since later than `now` is ignored.
    const timespec past[2] = {{now.time_since_epoch().count() - 86'400, 0},
                              {now.time_since_epoch().count() - 86'400, 0}};
    for (const auto& e : fs::recursive_directory_iterator(root_path)) {
      ASSERT_EQ(::utimensat(AT_FDCWD, e.path().c_str(), past, AT_SYMLINK_NOFOLLOW), 0);
    }
    auto r = open_root(root_path.c_str());
    ASSERT_TRUE(r.has_value()) << r.error().message();
    root = std::move(*r);
    options.root_fd = root.get();
    options.mime = &mime;  // the built-in table: the same on every machine
  }

  static request make(std::string method, std::string target,
                      std::vector<header_field> headers = {}, bool keep_alive = true) {
    request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.version_major = 1;
    req.version_minor = 1;
    req.headers = std::move(headers);
    req.host = "localhost";
    req.keep_alive = keep_alive;
    return req;
  }

  response_plan get(std::string target, std::vector<header_field> headers = {}) {
    return plan(make("GET", std::move(target), std::move(headers)), options, now);
  }
  response_plan head(std::string target, std::vector<header_field> headers = {}) {
    return plan(make("HEAD", std::move(target), std::move(headers)), options, now);
  }

  // The validators of a file under ROOT, as plan computes them.
  validators validators_of(const std::string& name) {
    struct stat st {};
    EXPECT_EQ(::stat((root_path / name).c_str(), &st), 0);
    return make_validators(st);
  }

  // A plan that sends `expected` from its file.
  void expect_sends(const response_plan& p, const std::vector<std::byte>& expected,
                    std::uint64_t offset = 0) {
    ASSERT_TRUE(p.send_file);
    ASSERT_TRUE(p.file);
    EXPECT_TRUE(p.body.empty());
    EXPECT_EQ(p.offset, offset);
    EXPECT_EQ(p.length, expected.size());
    EXPECT_EQ(field(p.head, "Content-Length"), std::to_string(expected.size()));
    EXPECT_TRUE(test::same_bytes(expected, test::read_range(p.file->get(), p.offset, p.length)));
  }

  // An inline error page for `status`, with or without its body.
  void expect_error(const response_plan& p, int status, bool with_body = true) {
    EXPECT_EQ(p.status, status);
    EXPECT_EQ(status_line(p.head),
              "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)));
    EXPECT_FALSE(p.send_file);
    EXPECT_FALSE(p.file);
    EXPECT_EQ(field(p.head, "Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(field(p.head, "Content-Length"), std::to_string(error_body(status).size()));
    EXPECT_EQ(p.body, with_body ? error_body(status) : std::string{});
  }

  test::temp_dir base;
  fs::path root_path;
  unique_fd root;
  mime_table mime;
  serve_options options;
  const std::chrono::sys_seconds now{1'700'000'000s};
  std::vector<std::byte> f_data, page_data, index_data, a_data, outside_data;
};

TEST_F(PlanTest, GetFileIs200WithFullHead) {
  const response_plan p = get("/f.bin");
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(status_line(p.head), "HTTP/1.1 200 OK");
  expect_sends(p, f_data);
  const validators v = validators_of("f.bin");
  EXPECT_EQ(field(p.head, "Content-Type"), "application/octet-stream");
  EXPECT_EQ(field(p.head, "ETag"), v.etag);
  EXPECT_EQ(field(p.head, "Last-Modified"), format_http_date(v.last_modified));
  EXPECT_EQ(field(p.head, "Date"), format_http_date(now));
  EXPECT_EQ(field(p.head, "Accept-Ranges"), "bytes");
  EXPECT_EQ(field(p.head, "Connection"), "keep-alive");
  EXPECT_FALSE(field(p.head, "Content-Range"));
  EXPECT_FALSE(field(p.head, "Location"));
  EXPECT_FALSE(field(p.head, "Allow"));
  EXPECT_FALSE(p.close_connection);
}

TEST_F(PlanTest, EtagIsNginxStyleFromTheFile) {
  // "<mtime hex>-<size hex>": 10000 bytes is 2710.
  const validators v = validators_of("f.bin");
  EXPECT_TRUE(field(get("/f.bin").head, "ETag")->ends_with("-2710\""));
  EXPECT_EQ(v.etag, make_etag(v.last_modified, 10000));
}

TEST_F(PlanTest, ContentTypeFollowsTheExtension) {
  EXPECT_EQ(field(get("/page.html").head, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(field(get("/dir/a.txt").head, "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(field(get("/empty").head, "Content-Type"), "application/octet-stream");
}

TEST_F(PlanTest, CustomMimeTableIsUsed) {
  const mime_table custom = mime_table::parse("application/x-custom bin\n");
  options.mime = &custom;
  EXPECT_EQ(field(get("/f.bin").head, "Content-Type"), "application/x-custom");
}

TEST_F(PlanTest, NullMimeUsesTheSystemTable) {
  options.mime = nullptr;
  EXPECT_EQ(field(get("/page.html").head, "Content-Type"), mime_table::system().lookup("x.html"));
}

TEST_F(PlanTest, HeadHasGetsHeadAndNoBody) {
  // RFC 9110 §9.3.2: same fields, Content-Length included; nothing is sent after the head.
  const response_plan g = get("/f.bin");
  const response_plan h = head("/f.bin");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.head, g.head);
  EXPECT_EQ(field(h.head, "Content-Length"), "10000");
  EXPECT_FALSE(h.send_file);
  EXPECT_FALSE(h.file);
  EXPECT_TRUE(h.body.empty());
  EXPECT_EQ(h.length, 0u);
}

TEST_F(PlanTest, ConnectionCloseWhenTheRequestDoesNotKeepAlive) {
  const response_plan p = plan(make("GET", "/f.bin", {}, false), options, now);
  EXPECT_EQ(p.status, 200);
  EXPECT_TRUE(p.close_connection);
  EXPECT_EQ(field(p.head, "Connection"), "close");
  const response_plan missing = plan(make("GET", "/nope", {}, false), options, now);
  EXPECT_TRUE(missing.close_connection);
  EXPECT_EQ(field(missing.head, "Connection"), "close");
}

TEST_F(PlanTest, EmptyFileIs200WithZeroLengthAndNothingToSend) {
  const response_plan p = get("/empty");
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(field(p.head, "Content-Length"), "0");
  EXPECT_FALSE(p.send_file);
  EXPECT_EQ(p.length, 0u);
  EXPECT_TRUE(p.body.empty());
}

TEST_F(PlanTest, AbsoluteFormTargetServesThePath) {
  expect_sends(get("http://localhost/dir/a.txt?x=1"), a_data);
}

TEST_F(PlanTest, OtherMethodsAre405WithAllow) {
  // Even for a path that does not exist: the method is checked first.
  for (std::string method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "get"}) {
    const response_plan p = plan(make(method, "/nope"), options, now);
    expect_error(p, 405);
    EXPECT_EQ(field(p.head, "Allow"), "GET, HEAD") << method;
    EXPECT_FALSE(p.close_connection) << method;
  }
}

TEST_F(PlanTest, TargetsThatDoNotDecodeAre400) {
  for (std::string target : {"/../f.bin", "/a/../../f.bin", "/%2e%2e/x", "/a%2Fb", "/a%00", "/%zz",
                             "/%4", "*", "f.bin", "ftp://h/f.bin", ""}) {
    expect_error(get(target), 400);
  }
}

TEST_F(PlanTest, BadTargetOnHeadIs400WithoutBody) {
  expect_error(head("/../x"), 400, false);
}

TEST_F(PlanTest, MissingIs404) {
  expect_error(get("/nope"), 404);
  expect_error(get("/dir/nope.txt"), 404);
  expect_error(get("/f.bin/"), 404);  // a file used as a directory
  expect_error(head("/nope"), 404, false);
  EXPECT_FALSE(get("/nope").close_connection);
}

TEST_F(PlanTest, HiddenIs404UnlessShown) {
  expect_error(get("/.hidden"), 404);
  options.show_hidden = true;
  expect_sends(get("/.hidden"), a_data);
}

TEST_F(PlanTest, FifoIs404) {
  ASSERT_EQ(::mkfifo((root_path / "fifo").c_str(), 0644), 0);
  expect_error(get("/fifo"), 404);
}

TEST_F(PlanTest, EscapingSymlinkIs403UnlessFollowingSymlinks) {
  expect_error(get("/escape"), 403);
  options.follow_symlinks = true;
  expect_sends(get("/escape"), outside_data);
}

TEST_F(PlanTest, SymlinkInsideRootIsServed) {
  expect_sends(get("/link"), f_data);
}

TEST_F(PlanTest, PercentEncodedAndDotSegmentsResolve) {
  expect_sends(get("/dir/./%61.txt"), a_data);
  expect_sends(get("//dir//sub/../a.txt"), a_data);
}

TEST_F(PlanTest, DirectoryWithoutSlashIs301ToSlash) {
  const response_plan p = get("/dir");
  expect_error(p, 301);
  EXPECT_EQ(field(p.head, "Location"), "/dir/");
}

TEST_F(PlanTest, RedirectKeepsTheQuery) {
  EXPECT_EQ(field(get("/dir?x=1&y=%2F").head, "Location"), "/dir/?x=1&y=%2F");
  EXPECT_EQ(field(get("/dir?").head, "Location"), "/dir/?");
  EXPECT_EQ(field(get("/dir#frag").head, "Location"), "/dir/");
}

TEST_F(PlanTest, RedirectLocationIsPercentEncodedAndNormalised) {
  EXPECT_EQ(field(get("/a%20b").head, "Location"), "/a%20b/");
  EXPECT_EQ(field(get("//dir/../a%20b").head, "Location"), "/a%20b/");
  EXPECT_EQ(field(get("http://localhost/dir").head, "Location"), "/dir/");
}

TEST_F(PlanTest, RedirectOnHeadHasNoBody) {
  const response_plan p = head("/dir");
  expect_error(p, 301, false);
  EXPECT_EQ(field(p.head, "Location"), "/dir/");
}

TEST_F(PlanTest, RedirectQueryCannotInjectHeaderLines) {
  // Whatever the parser let through, a CR, LF or space never reaches the Location line raw.
  const response_plan p = get("/dir?a\r\nSet-Cookie: x");
  EXPECT_EQ(field(p.head, "Location"), "/dir/?a%0D%0ASet-Cookie:%20x");
  EXPECT_FALSE(field(p.head, "Set-Cookie"));
}

TEST_F(PlanTest, IndexHtmlIsServedForADirectory) {
  const response_plan p = get("/site/");
  EXPECT_EQ(p.status, 200);
  expect_sends(p, index_data);
  EXPECT_EQ(field(p.head, "Content-Type"), "text/html; charset=utf-8");
  struct stat st {};
  ASSERT_EQ(::stat((root_path / "site" / "index.html").c_str(), &st), 0);
  EXPECT_EQ(field(p.head, "ETag"), make_validators(st).etag);
}

TEST_F(PlanTest, IndexHtmlWinsOverAutoindex) {
  options.autoindex = true;
  expect_sends(get("/site/"), index_data);
}

TEST_F(PlanTest, DirectoryWithoutIndexIs403WithoutAutoindex) {
  expect_error(get("/dir/"), 403);
  expect_error(get("/"), 403);
  // A directory named index.html is not an index.
  expect_error(get("/idxdir/"), 403);
}

TEST_F(PlanTest, AutoindexListsTheDirectory) {
  options.autoindex = true;
  const response_plan p = get("/dir/");
  EXPECT_EQ(p.status, 200);
  EXPECT_FALSE(p.send_file);
  EXPECT_EQ(field(p.head, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(field(p.head, "Content-Length"), std::to_string(p.body.size()));
  EXPECT_NE(p.body.find("<title>Index of /dir/</title>"), std::string::npos) << p.body;
  EXPECT_NE(p.body.find("<a href=\"a.txt\">a.txt</a>"), std::string::npos) << p.body;
}

TEST_F(PlanTest, AutoindexOfRootHidesHiddenEntries) {
  options.autoindex = true;
  const response_plan p = get("/");
  EXPECT_EQ(p.status, 200);
  EXPECT_NE(p.body.find("href=\"a%20b/\""), std::string::npos);
  EXPECT_NE(p.body.find("href=\"f.bin\""), std::string::npos);
  EXPECT_EQ(p.body.find(".hidden"), std::string::npos);
  options.show_hidden = true;
  EXPECT_NE(get("/").body.find("href=\".hidden\""), std::string::npos);
}

TEST_F(PlanTest, AutoindexWhenIndexHtmlIsADirectory) {
  options.autoindex = true;
  const response_plan p = get("/idxdir/");
  EXPECT_EQ(p.status, 200);
  EXPECT_NE(p.body.find("href=\"index.html/\""), std::string::npos);
}

TEST_F(PlanTest, AutoindexOnHeadHasLengthButNoBody) {
  options.autoindex = true;
  const response_plan g = get("/dir/");
  const response_plan h = head("/dir/");
  EXPECT_EQ(h.status, 200);
  EXPECT_TRUE(h.body.empty());
  EXPECT_FALSE(h.send_file);
  EXPECT_EQ(field(h.head, "Content-Length"), std::to_string(g.body.size()));
}

TEST_F(PlanTest, IfNoneMatchGives304WithValidatorsOnly) {
  // RFC 9110 §15.4.5: validators and Date, no content, and (as nginx) no Content-Length.
  const validators v = validators_of("f.bin");
  std::vector<response_plan> plans;
  plans.push_back(get("/f.bin", {{"if-none-match", v.etag}}));
  plans.push_back(head("/f.bin", {{"if-none-match", "W/" + v.etag}}));
  plans.push_back(get("/f.bin", {{"if-none-match", "\"x\", " + v.etag}}));
  plans.push_back(get("/f.bin", {{"if-none-match", "*"}}));
  for (const response_plan& p : plans) {
    EXPECT_EQ(p.status, 304);
    EXPECT_EQ(status_line(p.head), "HTTP/1.1 304 Not Modified");
    EXPECT_EQ(field(p.head, "ETag"), v.etag);
    EXPECT_EQ(field(p.head, "Last-Modified"), format_http_date(v.last_modified));
    EXPECT_TRUE(field(p.head, "Date"));
    EXPECT_FALSE(field(p.head, "Content-Length"));
    EXPECT_FALSE(field(p.head, "Content-Type"));
    EXPECT_FALSE(p.send_file);
    EXPECT_TRUE(p.body.empty());
  }
}

TEST_F(PlanTest, IfModifiedSinceLaterThanNowGives200) {
  // A date from the future is invalid and ignored (it answered 304): the file is sent.
  expect_sends(get("/f.bin", {{"if-modified-since", format_http_date(now + 1h)}}), f_data);
}

TEST_F(PlanTest, IfModifiedSinceGives304WhenNotNewer) {
  const validators v = validators_of("f.bin");
  EXPECT_EQ(get("/f.bin", {{"if-modified-since", format_http_date(v.last_modified)}}).status, 304);
  EXPECT_EQ(get("/f.bin", {{"if-modified-since", format_http_date(v.last_modified + 1h)}}).status,
            304);
  expect_sends(get("/f.bin", {{"if-modified-since", format_http_date(v.last_modified - 1s)}}),
               f_data);
  // An invalid date is ignored.
  expect_sends(get("/f.bin", {{"if-modified-since", "not a date"}}), f_data);
}

TEST_F(PlanTest, NonMatchingIfNoneMatchIgnoresIfModifiedSince) {
  const validators v = validators_of("f.bin");
  expect_sends(get("/f.bin", {{"if-none-match", "\"other\""},
                              {"if-modified-since", format_http_date(v.last_modified)}}),
               f_data);
}

TEST_F(PlanTest, FailedIfMatchIs412) {
  const validators v = validators_of("f.bin");
  expect_error(get("/f.bin", {{"if-match", "\"other\""}}), 412);
  expect_error(get("/f.bin", {{"if-match", "W/" + v.etag}}), 412);  // strong comparison
  expect_error(head("/f.bin", {{"if-match", "\"other\""}}), 412, false);
  expect_sends(get("/f.bin", {{"if-match", v.etag}}), f_data);
  expect_sends(get("/f.bin", {{"if-match", "*"}}), f_data);
}

TEST_F(PlanTest, FailedIfUnmodifiedSinceIs412) {
  const validators v = validators_of("f.bin");
  expect_error(get("/f.bin", {{"if-unmodified-since", format_http_date(v.last_modified - 1s)}}),
               412);
  expect_sends(get("/f.bin", {{"if-unmodified-since", format_http_date(v.last_modified)}}), f_data);
}

TEST_F(PlanTest, PreconditionFailureBeatsNotModified) {
  const validators v = validators_of("f.bin");
  expect_error(get("/f.bin", {{"if-match", "\"other\""}, {"if-none-match", v.etag}}), 412);
}

TEST_F(PlanTest, SingleRangeIs206) {
  const response_plan p = get("/f.bin", {{"range", "bytes=100-1099"}});
  EXPECT_EQ(p.status, 206);
  EXPECT_EQ(status_line(p.head), "HTTP/1.1 206 Partial Content");
  EXPECT_EQ(field(p.head, "Content-Range"), "bytes 100-1099/10000");
  expect_sends(p, slice(f_data, 100, 1000), 100);
  EXPECT_EQ(field(p.head, "ETag"), validators_of("f.bin").etag);
}

TEST_F(PlanTest, SuffixAndOpenRangesAre206) {
  const response_plan suffix = get("/f.bin", {{"range", "bytes=-10"}});
  EXPECT_EQ(suffix.status, 206);
  EXPECT_EQ(field(suffix.head, "Content-Range"), "bytes 9990-9999/10000");
  expect_sends(suffix, slice(f_data, 9990, 10), 9990);
  const response_plan open = get("/f.bin", {{"range", "bytes=9000-"}});
  EXPECT_EQ(field(open.head, "Content-Range"), "bytes 9000-9999/10000");
  expect_sends(open, slice(f_data, 9000, 1000), 9000);
  const response_plan clamped = get("/f.bin", {{"range", "bytes=9999-20000"}});
  expect_sends(clamped, slice(f_data, 9999, 1), 9999);
}

TEST_F(PlanTest, UnsatisfiableRangeIs416) {
  const response_plan p = get("/f.bin", {{"range", "bytes=10000-"}});
  expect_error(p, 416);
  EXPECT_EQ(field(p.head, "Content-Range"), "bytes */10000");
}

TEST_F(PlanTest, MultipleRangesAndInvalidRangeServeTheWholeFile) {
  for (std::string range : {"bytes=0-1,5-6", "bytes=abc", "items=0-1", "bytes=5-1"}) {
    const response_plan p = get("/f.bin", {{"range", range}});
    EXPECT_EQ(p.status, 200) << range;
    EXPECT_FALSE(field(p.head, "Content-Range")) << range;
    expect_sends(p, f_data);
  }
}

TEST_F(PlanTest, HeadIgnoresRange) {
  // Range is defined for GET only (RFC 9110 §14.2).
  const response_plan p = head("/f.bin", {{"range", "bytes=0-9"}});
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(field(p.head, "Content-Length"), "10000");
  EXPECT_FALSE(field(p.head, "Content-Range"));
  EXPECT_FALSE(p.send_file);
  EXPECT_EQ(head("/f.bin", {{"range", "bytes=20000-"}}).status, 200);
}

TEST_F(PlanTest, IfRangeDecidesWhetherRangeApplies) {
  const validators v = validators_of("f.bin");
  const response_plan match = get("/f.bin", {{"range", "bytes=0-9"}, {"if-range", v.etag}});
  EXPECT_EQ(match.status, 206);
  expect_sends(match, slice(f_data, 0, 10));
  const response_plan by_date =
      get("/f.bin", {{"range", "bytes=0-9"}, {"if-range", format_http_date(v.last_modified)}});
  EXPECT_EQ(by_date.status, 206);
  const response_plan stale = get("/f.bin", {{"range", "bytes=0-9"}, {"if-range", "\"stale\""}});
  EXPECT_EQ(stale.status, 200);
  expect_sends(stale, f_data);
  const response_plan weak = get("/f.bin", {{"range", "bytes=0-9"}, {"if-range", "W/" + v.etag}});
  EXPECT_EQ(weak.status, 200);
  // A stale If-Range also turns an unsatisfiable range into the whole file.
  EXPECT_EQ(get("/f.bin", {{"range", "bytes=20000-"}, {"if-range", "\"stale\""}}).status, 200);
}

TEST_F(PlanTest, RangesOnAnEmptyFile) {
  // An int-range is 416; a suffix-range gets the whole, empty, body.
  const response_plan unsat = get("/empty", {{"range", "bytes=0-"}});
  expect_error(unsat, 416);
  EXPECT_EQ(field(unsat.head, "Content-Range"), "bytes */0");
  const response_plan suffix = get("/empty", {{"range", "bytes=-5"}});
  EXPECT_EQ(suffix.status, 200);
  EXPECT_EQ(field(suffix.head, "Content-Length"), "0");
  EXPECT_FALSE(suffix.send_file);
}

TEST_F(PlanTest, RangeOnIndexHtml) {
  const response_plan p = get("/site/", {{"range", "bytes=1-3"}});
  EXPECT_EQ(p.status, 206);
  expect_sends(p, slice(index_data, 1, 3), 1);
}

TEST_F(PlanTest, ReplacedFileGetsNewValidators) {
  // Another size means another ETag, and the old one no longer gives 304.
  const std::string old_etag = validators_of("dir/a.txt").etag;
  const std::vector<std::byte> bigger = test::random_bytes(200, test::test_seed() + 9);
  test::write_file(root_path / "dir" / "a.txt", bigger);
  const response_plan p = get("/dir/a.txt", {{"if-none-match", old_etag}});
  EXPECT_EQ(p.status, 200);
  EXPECT_NE(field(p.head, "ETag"), old_etag);
  expect_sends(p, bigger);
}

TEST_F(PlanTest, Http10RequestGetsHttp11StatusLine) {
  request req = make("GET", "/f.bin", {}, false);
  req.version_minor = 0;
  const response_plan p = plan(req, options, now);
  EXPECT_EQ(status_line(p.head), "HTTP/1.1 200 OK");
  EXPECT_TRUE(p.close_connection);
}

TEST_F(PlanTest, LargeFileRangeOffsetsAreExact) {
  // 1 MiB of random data, a range in the middle.
  const std::vector<std::byte> big = test::random_bytes(1 << 20, test::test_seed() + 5);
  test::write_file(root_path / "big.dat", big);
  const response_plan p = get("/big.dat", {{"range", "bytes=123457-654320"}});
  EXPECT_EQ(p.status, 206);
  expect_sends(p, slice(big, 123457, 654320 - 123457 + 1), 123457);
  EXPECT_EQ(field(p.head, "Content-Range"), "bytes 123457-654320/1048576");
}

TEST_F(PlanTest, TextIndexFileBytesAreServedUnchanged) {
  const std::span<const std::byte> text = bytes_of("<h1>hi</h1>\n");
  test::write_file(root_path / "dir" / "index.html", text);
  const response_plan p = get("/dir/");
  EXPECT_EQ(p.status, 200);
  expect_sends(p, {text.begin(), text.end()});
}

TEST(PlanError, ParserErrorsCloseTheConnection) {
  const std::chrono::sys_seconds now{1'700'000'000s};
  for (int status : {400, 408, 413, 414, 431, 505}) {
    const response_plan p = plan_error(status, now);
    EXPECT_EQ(p.status, status);
    EXPECT_TRUE(p.close_connection) << status;
    EXPECT_EQ(field(p.head, "Connection"), "close") << status;
    EXPECT_EQ(status_line(p.head),
              "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)));
    EXPECT_EQ(p.body, error_body(status));
    EXPECT_EQ(field(p.head, "Content-Length"), std::to_string(p.body.size()));
    EXPECT_EQ(field(p.head, "Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(field(p.head, "Date"), format_http_date(now));
    EXPECT_FALSE(p.send_file);
    EXPECT_FALSE(p.file);
  }
}

}  // namespace
}  // namespace zcopy::http
