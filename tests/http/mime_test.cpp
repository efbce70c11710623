// Content-Type from file names: mime.types parsing, the built-in fallback, charset rules,
// extensions.
#include "http/mime.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace zcopy::http {
namespace {

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

TEST(FileExtension, IsTheTextAfterTheLastDotOfTheLastSegment) {
  EXPECT_EQ(file_extension("index.html"), "html");
  EXPECT_EQ(file_extension("a.b.c"), "c");
  EXPECT_EQ(file_extension("archive.tar.gz"), "gz");
  EXPECT_EQ(file_extension("/docs/v1.2/readme.TXT"), "TXT");  // as written
  EXPECT_EQ(file_extension("..x"), "x");
  EXPECT_EQ(file_extension(".a.b"), "b");
}

TEST(FileExtension, NamesWithoutOneHaveNone) {
  EXPECT_EQ(file_extension("Makefile"), "");
  EXPECT_EQ(file_extension(".profile"), "");  // only dot is the first character
  EXPECT_EQ(file_extension("/home/u/.profile"), "");
  EXPECT_EQ(file_extension("dir.d/file"), "");  // the dot is in a directory name
  EXPECT_EQ(file_extension("file."), "");
  EXPECT_EQ(file_extension("dir/"), "");
  EXPECT_EQ(file_extension(""), "");
}

TEST(WithCharset, TextTypesGetUtf8) {
  EXPECT_EQ(with_charset("text/html"), "text/html; charset=utf-8");
  EXPECT_EQ(with_charset("text/plain"), "text/plain; charset=utf-8");
  EXPECT_EQ(with_charset("text/x-anything"), "text/x-anything; charset=utf-8");
}

TEST(WithCharset, XmlAndJavascriptTypesGetUtf8) {
  for (std::string_view t :
       {"application/javascript", "application/ecmascript", "application/xml",
        "application/xhtml+xml", "application/rss+xml", "application/atom+xml", "image/svg+xml"}) {
    EXPECT_EQ(with_charset(t), std::string(t) + "; charset=utf-8");
  }
}

TEST(WithCharset, OtherTypesAreUnchanged) {
  // application/json has no charset parameter (RFC 8259 §11).
  for (std::string_view t : {"application/json", "image/png", "application/octet-stream",
                             "application/pdf", "video/mp4", "application/xml-dtd"}) {
    EXPECT_EQ(with_charset(t), t);
  }
}

TEST(WithCharset, ExistingParametersAreKept) {
  EXPECT_EQ(with_charset("text/html; charset=iso-8859-1"), "text/html; charset=iso-8859-1");
}

TEST(MimeTable, EmptyTableUsesTheBuiltInTypes) {
  const mime_table empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.lookup("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(empty.lookup("a.htm"), "text/html; charset=utf-8");
  EXPECT_EQ(empty.lookup("s.css"), "text/css; charset=utf-8");
  EXPECT_EQ(empty.lookup("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(empty.lookup("mod.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(empty.lookup("data.json"), "application/json");
  EXPECT_EQ(empty.lookup("notes.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(empty.lookup("p.png"), "image/png");
  EXPECT_EQ(empty.lookup("p.jpg"), "image/jpeg");
  EXPECT_EQ(empty.lookup("p.jpeg"), "image/jpeg");
  EXPECT_EQ(empty.lookup("p.gif"), "image/gif");
  EXPECT_EQ(empty.lookup("p.svg"), "image/svg+xml; charset=utf-8");
  EXPECT_EQ(empty.lookup("p.webp"), "image/webp");
  EXPECT_EQ(empty.lookup("favicon.ico"), "image/vnd.microsoft.icon");
  EXPECT_EQ(empty.lookup("d.pdf"), "application/pdf");
  EXPECT_EQ(empty.lookup("m.wasm"), "application/wasm");
  EXPECT_EQ(empty.lookup("v.mp4"), "video/mp4");
  EXPECT_EQ(empty.lookup("f.woff2"), "font/woff2");
  EXPECT_EQ(empty.lookup("feed.xml"), "application/xml; charset=utf-8");
  EXPECT_EQ(empty.lookup("a.zip"), "application/zip");
  EXPECT_EQ(empty.lookup("a.tar.gz"), "application/gzip");
  EXPECT_EQ(empty.lookup("a.tar"), "application/x-tar");
}

TEST(MimeTable, UnknownOrMissingExtensionIsOctetStream) {
  const mime_table empty;
  EXPECT_EQ(empty.lookup("x.unknownext"), default_content_type);
  EXPECT_EQ(empty.lookup("Makefile"), default_content_type);
  EXPECT_EQ(empty.lookup(".profile"), default_content_type);
  EXPECT_EQ(empty.lookup(".html"), default_content_type);  // a hidden name, not an extension
  EXPECT_EQ(empty.lookup("file."), default_content_type);
  EXPECT_EQ(empty.lookup("dir.html/file"), default_content_type);
  EXPECT_EQ(empty.lookup("x." + std::string(100, 'h')), default_content_type);
  EXPECT_EQ(default_content_type, "application/octet-stream");
}

// Checksum lists and a project's notes are text by convention, whatever mime.types says, so a
// browser shows them; only the whole name counts.
TEST(MimeTable, ConventionalTextNamesWithoutExtensionArePlainText) {
  const mime_table empty;
  for (const char* name : {"SHA256SUMS", "files/SHA256SUMS", "md5sums", "README", "LICENSE"}) {
    EXPECT_EQ(empty.lookup(name), "text/plain; charset=utf-8") << name;
  }
  for (const char* name : {"SHA256SUMSX", "XREADME", "README/x", "SHA256SUM", ".README"}) {
    EXPECT_EQ(empty.lookup(name), default_content_type) << name;
  }
  EXPECT_EQ(mime_table::parse("text/x-foo foo\n").lookup("a/LICENSE"), "text/plain; charset=utf-8");
}

TEST(MimeTable, LookupIsCaseInsensitiveAndUsesTheLastSegment) {
  const mime_table empty;
  EXPECT_EQ(empty.lookup("INDEX.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(empty.lookup("/a/b.d/Photo.JpG"), "image/jpeg");
}

TEST(MimeTable, ParsesTypesAndExtensions) {
  const mime_table t = mime_table::parse(
      "application/x-thing\tthing thg\n"
      "image/x-pic  pic\r\n"
      "text/x-doc doc\n");
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.lookup("a.thing"), "application/x-thing");
  EXPECT_EQ(t.lookup("a.thg"), "application/x-thing");
  EXPECT_EQ(t.lookup("a.pic"), "image/x-pic");  // the CR of a CRLF line is not part of it
  EXPECT_EQ(t.lookup("a.doc"), "text/x-doc; charset=utf-8");
}

TEST(MimeTable, CommentsAndBlankLinesAreIgnored) {
  const mime_table t = mime_table::parse(
      "# a comment: text/x-no no\n"
      "\n"
      "   \t\n"
      "text/x-yes yes # trailing comment names: ignored\n"
      "#image/png png\n"
      "application/x-lonely\n");
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.lookup("a.yes"), "text/x-yes; charset=utf-8");
  EXPECT_EQ(t.lookup("a.no"), default_content_type);
  EXPECT_EQ(t.lookup("a.ignored"), default_content_type);
  EXPECT_EQ(t.lookup("a.names"), default_content_type);
}

TEST(MimeTable, FirstLineNamingAnExtensionWins) {
  const mime_table t = mime_table::parse(
      "application/x-first dup\n"
      "application/x-second dup other\n");
  EXPECT_EQ(t.lookup("a.dup"), "application/x-first");
  EXPECT_EQ(t.lookup("a.other"), "application/x-second");
}

TEST(MimeTable, TypesAndExtensionsAreCaseInsensitive) {
  // Types are stored in lower case; extensions match in any case.
  const mime_table t = mime_table::parse("TEXT/X-Shout SHOUT\napplication/x-dup shout\n");
  EXPECT_EQ(t.lookup("a.shout"), "text/x-shout; charset=utf-8");
  EXPECT_EQ(t.lookup("A.SHOUT"), "text/x-shout; charset=utf-8");
  EXPECT_EQ(t.size(), 1u);
}

TEST(MimeTable, ParsedCharsetRulesMatchWithCharset) {
  const mime_table t = mime_table::parse(
      "application/json json\napplication/javascript js\nimage/svg+xml svg\n"
      "application/xml xml\n");
  EXPECT_EQ(t.lookup("a.json"), "application/json");
  EXPECT_EQ(t.lookup("a.js"), "application/javascript; charset=utf-8");
  EXPECT_EQ(t.lookup("a.svg"), "image/svg+xml; charset=utf-8");
  EXPECT_EQ(t.lookup("a.xml"), "application/xml; charset=utf-8");
}

TEST(MimeTable, TableWinsOverBuiltInAndBuiltInFillsGaps) {
  const mime_table t = mime_table::parse("application/x-not-html html\n");
  EXPECT_EQ(t.lookup("a.html"), "application/x-not-html");
  EXPECT_EQ(t.lookup("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(t.lookup("a.none"), default_content_type);
}

TEST(MimeTable, ParseOfEmptyOrGarbageTextIsEmpty) {
  EXPECT_EQ(mime_table::parse("").size(), 0u);
  EXPECT_EQ(mime_table::parse("\n\n#\n").size(), 0u);
  EXPECT_EQ(mime_table::parse("text/x-last-line-without-newline tail").size(), 1u);
}

TEST(MimeTable, LoadReadsAFile) {
  test::temp_dir dir;
  test::write_file(dir / "mime.types", bytes_of("# local\nimage/x-local loc LOC2\n"));
  auto t = mime_table::load((dir / "mime.types").c_str());
  ASSERT_TRUE(t.has_value()) << t.error().message();
  EXPECT_EQ(t->size(), 2u);
  EXPECT_EQ(t->lookup("f.loc2"), "image/x-local");
}

TEST(MimeTable, LoadOfMissingFileIsAnError) {
  test::temp_dir dir;
  auto t = mime_table::load((dir / "missing").c_str());
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error(), std::errc::no_such_file_or_directory);
}

TEST(MimeTable, LoadRefusesFilesOverFourMebibytes) {
  test::temp_dir dir;
  test::write_file(dir / "big", bytes_of("text/x-big big\n"));
  std::filesystem::resize_file(dir / "big", (4u << 20) + 1);
  auto t = mime_table::load((dir / "big").c_str());
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error(), std::errc::file_too_large);
  // Exactly 4 MiB is fine (the padding is NUL bytes on one long line).
  std::filesystem::resize_file(dir / "big", 4u << 20);
  auto ok = mime_table::load((dir / "big").c_str());
  ASSERT_TRUE(ok.has_value()) << ok.error().message();
}

TEST(MimeTable, SystemLoadsEtcMimeTypesWhenPresent) {
  const mime_table& sys = mime_table::system();
  EXPECT_EQ(&sys, &mime_table::system());  // built once
  if (::access("/etc/mime.types", R_OK) != 0) {
    EXPECT_EQ(sys.size(), 0u);
    GTEST_SKIP() << "/etc/mime.types is not readable here: only the built-in table applies";
  }
  auto direct = mime_table::load("/etc/mime.types");
  ASSERT_TRUE(direct.has_value()) << direct.error().message();
  EXPECT_GT(sys.size(), 100u);
  EXPECT_EQ(sys.size(), direct->size());
  EXPECT_EQ(sys.lookup("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(sys.lookup("a.png"), "image/png");
  EXPECT_EQ(sys.lookup("a.json"), "application/json");
}

TEST(MimeTable, SystemIsSafeFromManyThreads) {
  std::vector<const mime_table*> seen(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] { seen[i] = &mime_table::system(); });
  }
  for (auto& t : threads) t.join();
  for (const mime_table* p : seen) EXPECT_EQ(p, &mime_table::system());
}

}  // namespace
}  // namespace zcopy::http
