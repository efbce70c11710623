// parse_remote_listing: nginx's autoindex_format json as nginx writes it, and every way a hostile
// or broken listing can try to name something outside the mirror's directory or crash the parser.
#include "http/remote_listing.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace zcopy::http {
namespace {

using namespace std::chrono;

const sys_seconds now = floor<seconds>(system_clock::now());

remote_listing parse_ok(const std::string& text) {
  auto r = parse_remote_listing(text, now);
  EXPECT_TRUE(r) << (r ? "" : r.error()) << "\n" << text;
  return r ? *r : remote_listing{};
}

// What nginx 1.22 writes (whitespace and field order included).
TEST(RemoteListing, ReadsNginxAutoindexJson) {
  const std::string text =
      "[\n"
      "{ \"name\":\"sub\", \"type\":\"directory\", \"mtime\":\"Sat, 05 Dec 2026 22:57:23 GMT\" },\n"
      "{ \"name\":\"a b.txt\", \"type\":\"file\", \"mtime\":\"Thu, 02 Jan 2020 03:04:05 GMT\", "
      "\"size\":123456789012 },\n"
      "{ \"name\":\"sock\", \"type\":\"other\", \"mtime\":\"Thu, 02 Jan 2020 03:04:05 GMT\" }\n"
      "]";
  const remote_listing l = parse_ok(text);
  ASSERT_EQ(l.entries.size(), 2u);
  EXPECT_EQ(l.skipped, 1u);
  EXPECT_TRUE(l.refused.empty());
  EXPECT_EQ(l.entries[0].name, "sub");
  EXPECT_EQ(l.entries[0].type, remote_entry::kind::directory);
  EXPECT_EQ(l.entries[1].name, "a b.txt");
  EXPECT_EQ(l.entries[1].size, 123456789012u);
  EXPECT_EQ(l.entries[1].mtime, sys_days{2020y / 1 / 2} + 3h + 4min + 5s);
}

// Names that would leave the directory, or cannot be one path component, are refused one by one;
// the good entry beside them stays.
TEST(RemoteListing, RefusesNamesThatAreNotOneComponent) {
  const std::string long_name(256, 'n');
  const std::string text = R"([
    {"name":"..","type":"directory"}, {"name":".","type":"file","size":1},
    {"name":"../x","type":"file","size":1}, {"name":"/etc/passwd","type":"file","size":1},
    {"name":"a/b","type":"directory"}, {"name":"nul\u0000x","type":"file","size":1},
    {"name":"","type":"file","size":1}, {"name":")" +
                           long_name + R"(","type":"file","size":1},
    {"name":"ok","type":"file","size":2}, {"name":"ok","type":"file","size":3},
    {"name":"ok.part","type":"file","size":4}, {"name":"ok.part.meta","type":"file","size":5},
    {"name":"lone.part","type":"file","size":6}
  ])";
  const remote_listing l = parse_ok(text);
  ASSERT_EQ(l.entries.size(), 2u);
  EXPECT_EQ(l.entries[0].name, "ok");
  EXPECT_EQ(l.entries[0].size, 2u);
  EXPECT_EQ(l.entries[1].name, "lone.part");  // no "lone" beside it: nothing to collide with
  EXPECT_EQ(l.refused.size(), 11u);
  for (const refused_entry& r : l.refused) EXPECT_FALSE(r.reason.empty()) << r.name;
  EXPECT_EQ(std::string(255, 'n').size(), 255u);
  EXPECT_FALSE(unsafe_name(std::string(255, 'n')));
  EXPECT_TRUE(unsafe_name(long_name));
}

TEST(RemoteListing, MalformedSizesAndDatesAreRefused) {
  const remote_listing l = parse_ok(R"([
    {"name":"neg","type":"file","size":-1}, {"name":"frac","type":"file","size":1.5},
    {"name":"str","type":"file","size":"12"}, {"name":"date","type":"file","mtime":"yesterday"},
    {"name":"num","type":"file","mtime":12345}, {"name":"fine","type":"file"}
  ])");
  ASSERT_EQ(l.entries.size(), 1u);
  EXPECT_EQ(l.entries[0].name, "fine");
  EXPECT_FALSE(l.entries[0].size);
  EXPECT_FALSE(l.entries[0].mtime);
  EXPECT_EQ(l.refused.size(), 5u);
}

// Not a listing at all: an error for the whole (the caller reports the directory).
TEST(RemoteListing, WhatIsNotAListingIsAnError) {
  for (const std::string& text : std::vector<std::string>{
           "", "<html><body>Index of /</body></html>", "{\"name\":\"x\"}", "[1, 2]",
           "[{\"name\":1,\"type\":\"file\"}]", "[{\"type\":\"file\"}]", "[{\"name\":\"x\"}]",
           "[{\"name\":\"x\",\"type\":\"file\"}",
           std::string("[{\"name\":\"\xff\",\"type\":\"file\"}]"), std::string(100000, '[')}) {
    auto r = parse_remote_listing(text, now);
    EXPECT_FALSE(r) << text.substr(0, 80);
    if (!r) {
      EXPECT_FALSE(r.error().empty());
    }
  }
}

// 100,000 entries parse (a large, legitimate directory) and keep their order.
TEST(RemoteListing, HundredThousandEntries) {
  std::string text = "[";
  for (int i = 0; i < 100'000; ++i) {
    if (i) text += ',';
    text += "{\"name\":\"f" + std::to_string(i) +
            "\",\"type\":\"file\",\"size\":" + std::to_string(i) +
            ",\"mtime\":\"Thu, 02 Jan 2020 03:04:05 GMT\"}";
  }
  text += "]";
  const remote_listing l = parse_ok(text);
  ASSERT_EQ(l.entries.size(), 100'000u);
  EXPECT_EQ(l.entries[99'999].name, "f99999");
  EXPECT_EQ(l.entries[99'999].size, 99'999u);
}

}  // namespace
}  // namespace zcopy::http
