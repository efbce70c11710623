// Directory listings: escaping, order, hidden entries, symlinks (inside ROOT, leaving it, dangling,
// to hidden names, without openat2), the date and size columns.
#include "http/listing.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "http/remote_listing.hpp"
#include "http/target.hpp"
#include "support/test_support.hpp"

namespace zcopy::http {
namespace {

namespace fs = std::filesystem;

// The hrefs of the entries (the table's body: not the breadcrumbs or the sort links), in order.
std::vector<std::string> hrefs_of(const std::string& page) {
  static const std::regex href("<a href=\"([^\"]*)\">");
  std::vector<std::string> out;
  const auto body =
      page.begin() + static_cast<std::ptrdiff_t>(std::min(page.find("<tbody>"), page.size()));
  for (auto it = std::sregex_iterator(body, page.end(), href); it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

// The listing line for the entry whose href is `href` ("" when there is none).
std::string line_of(const std::string& page, const std::string& href) {
  const std::size_t start = page.find("<a href=\"" + href + "\">");
  if (start == std::string::npos) return {};
  return page.substr(start, page.find('\n', start) - start);
}

// The exact size an entry's row gives on hover ("12,345"), "" when it gives none.
std::string bytes_of(const std::string& page, const std::string& href) {
  static const std::regex bytes("title=\"([0-9,]+) bytes\"");
  const std::string line = line_of(page, href);
  std::smatch m;
  return std::regex_search(line, m, bytes) ? m[1].str() : std::string{};
}

class ListingTest : public ::testing::Test {
 protected:
  void SetUp() override { SCOPED_TRACE(::testing::Message() << "seed " << test::test_seed()); }

  void write(const std::string& name, std::size_t size) {
    test::write_file(dir / name, test::random_bytes(size, test::test_seed() + size));
  }

  // Renders `dir` through a descriptor, as plan does with resolve's; `dir` is also ROOT, so
  // symlinks are looked up under it by `url_path` (which matters only for them: "/" then).
  std::string render(std::string_view url_path = "/docs/", bool show_hidden = false,
                     bool follow_symlinks = false) {
    return render_at(dir.path(), url_path, dir.path(),
                     {.follow_symlinks = follow_symlinks, .show_hidden = show_hidden});
  }

  static std::string render_at(const fs::path& listed, std::string_view url_path,
                               const fs::path& root, resolve_options options = {}) {
    unique_fd fd = test::open_or_die(listed, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    auto root_fd = open_root(root.c_str());
    EXPECT_TRUE(root_fd.has_value());
    if (!root_fd) return {};
    auto page = render_listing(fd.get(), url_path, root_fd->get(), options);
    EXPECT_TRUE(page.has_value()) << page.error().message();
    return page ? *page : std::string{};
  }

  // Whether the entry's line shows no date and no size (only the link and its padding).
  static bool name_only(const std::string& page, const std::string& href) {
    const std::string line = line_of(page, href);
    return !line.empty() &&
           line.find_first_of("0123456789", line.find("</a>")) == std::string::npos;
  }

  test::temp_dir dir;
};

TEST_F(ListingTest, NamesAreEscapedInTextAndEncodedInHrefs) {
  // A file named `<b>&"x y.txt` stays a file name: no markup, no broken attribute.
  write("<b>&\"x y.txt", 10);
  const std::string page = render();
  EXPECT_EQ(hrefs_of(page), (std::vector<std::string>{"../", "%3Cb%3E%26%22x%20y.txt"}));
  EXPECT_NE(page.find(">&lt;b&gt;&amp;&quot;x y.txt</a>"), std::string::npos) << page;
  EXPECT_EQ(page.find("<b>"), std::string::npos);
  EXPECT_EQ(page.find("&\""), std::string::npos);
}

TEST_F(ListingTest, SchemeLikeNamesCannotBecomeLinksElsewhere) {
  // ':' is encoded, so the relative href never reads as "javascript:".
  write("javascript:alert(1)", 3);
  EXPECT_EQ(hrefs_of(render("/")), (std::vector<std::string>{"javascript%3Aalert%281%29"}));
}

TEST_F(ListingTest, SingleQuoteIsEscapedToo) {
  write("it's", 1);
  const std::string page = render();
  EXPECT_NE(page.find(">it&#39;s</a>"), std::string::npos);
  EXPECT_EQ(hrefs_of(page).back(), "it%27s");
}

TEST_F(ListingTest, DirectoriesFirstThenFilesInByteOrder) {
  // Byte-wise, as nginx's strcmp: 'B' < '_' < 'a' < 0xC3 (UTF-8 "é").
  write("a.txt", 1);
  write("B.txt", 2);
  write("_x", 3);
  write("\xc3\xa9t\xc3\xa9", 4);
  fs::create_directory(dir / "zeta");
  fs::create_directory(dir / "Alpha");
  fs::create_directory(dir / "mid");
  EXPECT_EQ(hrefs_of(render()), (std::vector<std::string>{"../", "Alpha/", "mid/", "zeta/", "B.txt",
                                                          "_x", "a.txt", "%C3%A9t%C3%A9"}));
}

TEST_F(ListingTest, HiddenEntriesAreLeftOutUnlessAsked) {
  write(".secret", 5);
  fs::create_directory(dir / ".git");
  write("visible", 1);
  EXPECT_EQ(hrefs_of(render()), (std::vector<std::string>{"../", "visible"}));
  EXPECT_EQ(hrefs_of(render("/docs/", true)),
            (std::vector<std::string>{"../", ".git/", ".secret", "visible"}));
}

TEST_F(ListingTest, ParentLinkOnlyBelowTheRoot) {
  write("f", 1);
  EXPECT_EQ(hrefs_of(render("/")), (std::vector<std::string>{"f"}));
  EXPECT_EQ(hrefs_of(render("/a/b/")).front(), "../");
}

TEST_F(ListingTest, TitleIsTheEscapedUrlPath) {
  const std::string page = render("/<x> & y/");
  EXPECT_NE(page.find("<title>Index of /&lt;x&gt; &amp; y/</title>"), std::string::npos) << page;
  // The heading is the same path as breadcrumbs: each ancestor a relative link, the directory
  // itself plain text.
  EXPECT_NE(page.find("<h1>Index of <a href=\"../\">/</a><span aria-current=\"page\">&lt;x&gt; "
                      "&amp; y</span>/</h1>"),
            std::string::npos)
      << page;
}

TEST_F(ListingTest, FilesShowDateAndSizeDirectoriesADash) {
  // The date in UTC as text and as <time datetime>; the size in binary units with the exact byte
  // count on hover; no size for directories.
  write("sized", 12345);
  fs::create_directory(dir / "sub");
  const timespec times[2] = {{784111777, 0}, {784111777, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir / "sized").c_str(), times, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir / "sub").c_str(), times, 0), 0);
  const std::string page = render();
  const std::string file_line = line_of(page, "sized");
  EXPECT_NE(file_line.find("<time datetime=\"1994-11-06T08:49:37Z\"><span>1994-11-06</span> "
                           "<span>08:49</span></time>"),
            std::string::npos)
      << file_line;
  EXPECT_NE(file_line.find("title=\"12,345 bytes\">12.1 KiB</td>"), std::string::npos) << file_line;
  const std::string dir_line = line_of(page, "sub/");
  EXPECT_NE(dir_line.find(">sub/</a>"), std::string::npos) << dir_line;
  EXPECT_NE(dir_line.find("<span>1994-11-06</span> <span>08:49</span>"), std::string::npos)
      << dir_line;
  EXPECT_TRUE(dir_line.starts_with("<a href=\"sub/\">")) << dir_line;
  EXPECT_EQ(bytes_of(page, "sub/"), "");
  EXPECT_NE(page.find("<tr class=\"d\"><td><a href=\"sub/\">"), std::string::npos) << page;
  EXPECT_NE(page.find("<tr><td><a href=\"sized\">"), std::string::npos) << page;
}

TEST_F(ListingTest, EmptyFileShowsSizeZero) {
  write("empty", 0);
  EXPECT_EQ(bytes_of(render(), "empty"), "0");
}

TEST_F(ListingTest, SymlinkToADirectoryIsListedAsADirectory) {
  // Links inside ROOT show their targets, as a request for them would get them.
  fs::create_directory(dir / "real");
  fs::create_directory_symlink("real", dir / "link");
  write("file", 7);
  fs::create_symlink("file", dir / "flink");
  EXPECT_EQ(hrefs_of(render("/")), (std::vector<std::string>{"link/", "real/", "file", "flink"}));
  EXPECT_EQ(bytes_of(render("/"), "flink"), "7");
}

TEST_F(ListingTest, DanglingSymlinkIsListedWithoutDateOrSize) {
  fs::create_symlink("nowhere", dir / "dangling");
  write("zz", 2);
  const std::string page = render("/");
  EXPECT_EQ(hrefs_of(page), (std::vector<std::string>{"dangling", "zz"}));
  EXPECT_TRUE(name_only(page, "dangling")) << line_of(page, "dangling");
  EXPECT_TRUE(name_only(render("/", false, true), "dangling"));
}

// A link that leaves ROOT answers 403, so the listing shows its name only: not the size, date or
// type of what lies outside (nginx's autoindex shows them). Relative and absolute links, to a file
// and to a directory. With --follow-symlinks the targets are served, and shown.
TEST_F(ListingTest, SymlinkLeavingRootShowsNoMetadataOfItsTarget) {
  const fs::path root = dir / "root";
  fs::create_directories(root);
  test::write_file(dir / "outside.bin", test::random_bytes(12345, test::test_seed()));
  fs::create_directory(dir / "outside-dir");
  const timespec times[2] = {{784111777, 0}, {784111777, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir / "outside.bin").c_str(), times, 0), 0);
  fs::create_symlink("../outside.bin", root / "rel");
  fs::create_symlink(dir / "outside.bin", root / "abs");
  fs::create_directory_symlink("../outside-dir", root / "reldir");
  fs::create_symlink("/etc/passwd", root / "passwd");

  const std::string page = render_at(root, "/", root);
  EXPECT_EQ(hrefs_of(page), (std::vector<std::string>{"abs", "passwd", "rel", "reldir"}));
  for (const std::string name : {"abs", "passwd", "rel", "reldir"}) {
    EXPECT_TRUE(name_only(page, name)) << line_of(page, name);
  }
  EXPECT_EQ(page.find("1994"), std::string::npos) << page;

  const std::string followed = render_at(root, "/", root, {.follow_symlinks = true});
  EXPECT_EQ(hrefs_of(followed), (std::vector<std::string>{"reldir/", "abs", "passwd", "rel"}));
  EXPECT_EQ(bytes_of(followed, "rel"), "12,345") << followed;
  EXPECT_NE(line_of(followed, "abs").find("<span>1994-11-06</span>"), std::string::npos)
      << followed;
}

// A link in a subdirectory is looked up by its URL path under ROOT: "../f" from /sub/ is ROOT/f,
// inside ROOT, and shown; "../../x" from /sub/ leaves ROOT, and is not.
TEST_F(ListingTest, SymlinkInASubdirectoryIsLookedUpUnderRoot) {
  const fs::path root = dir / "root";
  fs::create_directories(root / "sub");
  test::write_file(root / "f", test::random_bytes(321, test::test_seed()));
  test::write_file(dir / "x", test::random_bytes(654, test::test_seed() + 1));
  fs::create_symlink("../f", root / "sub" / "up");
  fs::create_symlink("../../x", root / "sub" / "out");
  const std::string page = render_at(root / "sub", "/sub/", root);
  EXPECT_EQ(bytes_of(page, "up"), "321") << page;
  EXPECT_TRUE(name_only(page, "out")) << page;
}

// A link inside ROOT to a hidden name is served (resolve checks the path asked for, not link
// targets), so its target is listed; hidden link names stay out unless asked.
TEST_F(ListingTest, SymlinkToAHiddenNameIsListedAsItIsServed) {
  write(".secret", 42);
  fs::create_symlink(".secret", dir / "visible");
  fs::create_symlink("visible", dir / ".hidden-link");
  const std::string page = render("/");
  EXPECT_EQ(hrefs_of(page), (std::vector<std::string>{"visible"}));
  EXPECT_EQ(bytes_of(page, "visible"), "42") << page;
  EXPECT_EQ(bytes_of(render("/", true), ".hidden-link"), "42");
}

// Without openat2 every symlink is refused (resolve.hpp), so none shows its target.
TEST_F(ListingTest, WithoutOpenat2NoSymlinkShowsItsTarget) {
  write("file", 7);
  fs::create_symlink("file", dir / "flink");
  detail::force_openat2_unavailable(true);
  const std::string page = render("/");
  detail::force_openat2_unavailable(false);
  EXPECT_EQ(bytes_of(page, "file"), "7");
  EXPECT_TRUE(name_only(page, "flink")) << page;
}

TEST_F(ListingTest, EmptyDirectoryHasOnlyTheFrame) {
  const std::string page = render("/");
  EXPECT_TRUE(hrefs_of(page).empty());
  EXPECT_TRUE(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n"));
  EXPECT_NE(page.find("<tbody>\n</tbody>"), std::string::npos) << page;
  EXPECT_NE(page.find("<footer>0 directories, 0 files</footer>"), std::string::npos) << page;
  EXPECT_TRUE(page.ends_with("</html>\n"));
}

TEST_F(ListingTest, ManyEntriesAreAllListed) {
  for (int i = 0; i < 300; ++i) write("f" + std::to_string(1000 + i), 1);
  const std::vector<std::string> hrefs = hrefs_of(render("/"));
  ASSERT_EQ(hrefs.size(), 300u);
  EXPECT_EQ(hrefs.front(), "f1000");
  EXPECT_EQ(hrefs.back(), "f1299");
}

TEST(Listing, NonDirectoryDescriptorIsAnError) {
  test::temp_dir dir;
  unique_fd file = test::write_file(dir / "f", test::random_bytes(16, test::test_seed()), O_RDONLY);
  auto root = open_root(dir.path().c_str());
  ASSERT_TRUE(root.has_value());
  EXPECT_FALSE(render_listing(file.get(), "/", root->get(), {}).has_value());
  EXPECT_FALSE(render_listing(-1, "/", root->get(), {}).has_value());
}

TEST(HtmlEscape, EscapesTheFiveSpecialCharacters) {
  EXPECT_EQ(html_escape("&<>\"'"), "&amp;&lt;&gt;&quot;&#39;");
  EXPECT_EQ(html_escape("plain text / é"), "plain text / é");
  EXPECT_EQ(html_escape(""), "");
  EXPECT_EQ(html_escape("&amp;"), "&amp;amp;");  // not idempotent: escape once
}

// The JSON listing (--autoindex-format json) read back by get -r's parser: every name (quotes,
// backslashes, control characters, UTF-8) comes back as it is on disk, with its type, size and
// modification time; a name that is not UTF-8 is written with U+FFFD (JSON holds only UTF-8).
TEST_F(ListingTest, JsonListingReadsBackAsGetDashRReadsIt) {
  const std::vector<std::string> names = {"plain.bin", "q\"uote\\back", "tab\there", "caf\xc3\xa9",
                                          "<b>&"};
  for (std::size_t i = 0; i < names.size(); ++i) write(names[i], 100 + i * 37);
  write("bad\xff", 5);
  fs::create_directory(dir / "sub");
  unique_fd fd = test::open_or_die(dir.path(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  auto root_fd = open_root(dir.path().c_str());
  ASSERT_TRUE(root_fd);
  auto page = render_listing(fd.get(), "/", root_fd->get(), {}, listing_format::json);
  ASSERT_TRUE(page) << page.error().message();
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  auto parsed = parse_remote_listing(*page, now);
  ASSERT_TRUE(parsed) << parsed.error() << "\n" << *page;
  EXPECT_TRUE(parsed->refused.empty());
  std::map<std::string, remote_entry> by_name;
  for (const auto& e : parsed->entries) by_name[e.name] = e;
  ASSERT_EQ(by_name.size(), names.size() + 2) << *page;
  for (const std::string& name : names) {
    ASSERT_TRUE(by_name.contains(name)) << name << "\n" << *page;
    const remote_entry& e = by_name[name];
    EXPECT_EQ(e.type, remote_entry::kind::file);
    ASSERT_TRUE(e.size && e.mtime);
    EXPECT_EQ(*e.size, fs::file_size(dir / name));
    struct stat st {};
    ASSERT_EQ(::stat((dir / name).c_str(), &st), 0);
    EXPECT_EQ(e.mtime->time_since_epoch().count(), st.st_mtim.tv_sec);
  }
  EXPECT_EQ(by_name["sub"].type, remote_entry::kind::directory);
  EXPECT_FALSE(by_name["sub"].size);
  EXPECT_TRUE(by_name.contains("bad\xef\xbf\xbd")) << *page;
  // Directories first, as in the HTML listing.
  EXPECT_EQ(parsed->entries.front().name, "sub");
}

// Sizes read as people read them, in the binary units zcopy prints elsewhere, never longer than
// three significant figures; the exact count is on hover.
TEST_F(ListingTest, SizesAreHumanWithExactBytesOnHover) {
  const std::vector<std::pair<std::size_t, std::string>> cases = {
      {0, "0 B"},
      {1, "1 B"},
      {1023, "1023 B"},
      {1024, "1.0 KiB"},
      {1536, "1.5 KiB"},
      {12345, "12.1 KiB"},
      {102400, "100 KiB"},
      {1048575, "1.0 MiB"},
      {1048576, "1.0 MiB"},
      {3 << 20, "3.0 MiB"},
      {(300 << 20) + 1, "300 MiB"},
  };
  for (const auto& [size, shown] : cases) {
    // Sparse files: a size without the bytes.
    unique_fd fd = test::open_or_die(dir / ("s" + std::to_string(size)),
                                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  }
  const std::string page = render("/");
  for (const auto& [size, shown] : cases) {
    const std::string href = "s" + std::to_string(size);
    std::string exact = std::to_string(size);
    for (int i = static_cast<int>(exact.size()) - 3; i > 0; i -= 3) exact.insert(i, ",");
    EXPECT_EQ(bytes_of(page, href), exact) << page;
    EXPECT_NE(line_of(page, href).find("bytes\">" + shown + "</td>"), std::string::npos)
        << shown << ": " << line_of(page, href);
  }
  // The footer totals them: 305.2 MiB.
  EXPECT_NE(page.find("<footer>0 directories, 11 files (305 MiB)</footer>"), std::string::npos)
      << page;
}

// Every ancestor is one relative link in the heading ("../../" is ROOT from /a/b/), so the page
// works behind a proxy serving it under a prefix; ROOT's own page has no link.
TEST_F(ListingTest, BreadcrumbsLinkEveryAncestor) {
  const std::string page = render("/a/b c/d/");
  EXPECT_NE(page.find("<h1>Index of <a href=\"../../../\">/</a><a href=\"../../\">a</a>/"
                      "<a href=\"../\">b c</a>/<span aria-current=\"page\">d</span>/</h1>"),
            std::string::npos)
      << page;
  EXPECT_NE(render("/").find("<h1>Index of /</h1>"), std::string::npos);
}

// ?sort=name|size|time&order=asc|desc: directories stay first, ties go by name, anything unknown
// is the default order. The heading of the current key links to the other direction.
TEST_F(ListingTest, SortsByTheKeyTheQueryNames) {
  const std::vector<std::pair<std::string, std::size_t>> files = {
      {"b", 300}, {"a", 100}, {"c", 200}, {"d", 200}};
  for (std::size_t i = 0; i < files.size(); ++i) {
    write(files[i].first, files[i].second);
    const timespec times[2] = {{1'000'000 + static_cast<time_t>(i) * 60, 0},
                               {1'000'000 + static_cast<time_t>(i) * 60, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (dir / files[i].first).c_str(), times, 0), 0);
  }
  fs::create_directory(dir / "z");
  fs::create_directory(dir / "y");
  const timespec older[2] = {{500'000, 0}, {500'000, 0}}, newer[2] = {{600'000, 0}, {600'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir / "z").c_str(), older, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir / "y").c_str(), newer, 0), 0);
  const auto sorted = [&](std::string_view query) {
    unique_fd fd = test::open_or_die(dir.path(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    auto root_fd = open_root(dir.path().c_str());
    EXPECT_TRUE(root_fd);
    auto page = render_listing(fd.get(), "/", root_fd->get(), {}, listing_format::html,
                               parse_listing_order(query));
    EXPECT_TRUE(page);
    return page ? hrefs_of(*page) : std::vector<std::string>{};
  };
  using v = std::vector<std::string>;
  EXPECT_EQ(sorted(""), (v{"y/", "z/", "a", "b", "c", "d"}));
  EXPECT_EQ(sorted("sort=name&order=desc"), (v{"z/", "y/", "d", "c", "b", "a"}));
  EXPECT_EQ(sorted("sort=size"), (v{"y/", "z/", "a", "c", "d", "b"}));
  EXPECT_EQ(sorted("sort=size;order=desc"), (v{"y/", "z/", "b", "c", "d", "a"}));
  EXPECT_EQ(sorted("sort=time"), (v{"z/", "y/", "b", "a", "c", "d"}));
  EXPECT_EQ(sorted("order=desc&sort=time"), (v{"y/", "z/", "d", "c", "a", "b"}));
  EXPECT_EQ(sorted("sort=bogus&order=sideways&x"), sorted(""));

  const std::string by_name = render_at(dir.path(), "/", dir.path(), {});
  EXPECT_NE(
      by_name.find("<th aria-sort=\"ascending\"><a href=\"?sort=name&amp;order=desc\">Name</a>"),
      std::string::npos)
      << by_name;
  EXPECT_NE(by_name.find("<a href=\"?sort=size&amp;order=asc\">Size</a>"), std::string::npos);
}

}  // namespace
}  // namespace zcopy::http
