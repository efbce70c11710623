// Response heads and error bodies: status line, which fields appear, Connection, reasons.
#include "http/response.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace zcopy::http {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

constexpr sys_seconds example = sys_days{1994y / November / 6} + 8h + 49min + 37s;

// The field lines of a head (between the status line and the blank line).
std::vector<std::string> lines_of(const std::string& head) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (true) {
    const std::size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) break;
    lines.push_back(head.substr(pos, end - pos));
    pos = end + 2;
  }
  return lines;
}

bool has_field(const std::string& head, std::string_view name) {
  return head.find("\r\n" + std::string(name) + ":") != std::string::npos;
}

TEST(ReasonPhrase, KnownCodes) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(206), "Partial Content");
  EXPECT_EQ(reason_phrase(301), "Moved Permanently");
  EXPECT_EQ(reason_phrase(304), "Not Modified");
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(403), "Forbidden");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(reason_phrase(408), "Request Timeout");
  EXPECT_EQ(reason_phrase(412), "Precondition Failed");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");  // RFC 9110's name
  EXPECT_EQ(reason_phrase(414), "URI Too Long");
  EXPECT_EQ(reason_phrase(416), "Range Not Satisfiable");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(500), "Internal Server Error");
  EXPECT_EQ(reason_phrase(501), "Not Implemented");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
}

TEST(ReasonPhrase, UnknownCodes) {
  EXPECT_EQ(reason_phrase(0), "Unknown");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_EQ(reason_phrase(999), "Unknown");
  EXPECT_EQ(reason_phrase(-1), "Unknown");
}

TEST(BuildHead, MinimalHeadHasStatusServerDateAndConnection) {
  const std::string head = build_head({.status = 200, .date = example});
  EXPECT_EQ(head,
            "HTTP/1.1 200 OK\r\n"
            "Server: zcopy\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(BuildHead, StatusLineAlwaysSaysHttp11) {
  for (int status : {200, 206, 304, 404, 505, 299}) {
    const std::string head = build_head({.status = status, .date = example});
    EXPECT_EQ(head.substr(0, 9), "HTTP/1.1 ") << head;
    EXPECT_EQ(lines_of(head).front(),
              "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)));
  }
}

TEST(BuildHead, AllFieldsPresentWhenSet) {
  const std::string head = build_head({.status = 206,
                                       .date = example,
                                       .content_length = 100,
                                       .content_type = "text/plain; charset=utf-8",
                                       .last_modified = example - 24h,
                                       .etag = "\"2ebc0a21-3e8\"",
                                       .accept_ranges = true,
                                       .content_range = "bytes 0-99/1000",
                                       .allow = "GET, HEAD",
                                       .location = "/a%20b/",
                                       .close = true});
  const std::vector<std::string> lines = lines_of(head);
  const std::vector<std::string> expected = {
      "HTTP/1.1 206 Partial Content",
      "Server: zcopy",
      "Date: Sun, 06 Nov 1994 08:49:37 GMT",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Length: 100",
      "Last-Modified: Sat, 05 Nov 1994 08:49:37 GMT",
      "ETag: \"2ebc0a21-3e8\"",
      "Content-Range: bytes 0-99/1000",
      "Accept-Ranges: bytes",
      "Allow: GET, HEAD",
      "Location: /a%20b/",
      "Connection: close",
      "",
  };
  EXPECT_EQ(lines, expected);
  EXPECT_TRUE(head.ends_with("\r\n\r\n"));
}

TEST(BuildHead, AbsentFieldsAreLeftOut) {
  const std::string head = build_head({.status = 304, .date = example});
  for (std::string_view name : {"Content-Type", "Content-Length", "Last-Modified", "ETag",
                                "Content-Range", "Accept-Ranges", "Allow", "Location"}) {
    EXPECT_FALSE(has_field(head, name)) << name;
  }
}

TEST(BuildHead, ZeroContentLengthIsSent) {
  // An empty body still says so; only an absent length is left out.
  const std::string head = build_head({.status = 200, .date = example, .content_length = 0});
  EXPECT_NE(head.find("\r\nContent-Length: 0\r\n"), std::string::npos);
}

TEST(BuildHead, LargeContentLength) {
  const std::string head =
      build_head({.status = 200, .date = example, .content_length = UINT64_MAX});
  EXPECT_NE(head.find("\r\nContent-Length: 18446744073709551615\r\n"), std::string::npos);
}

TEST(BuildHead, ConnectionCloseOrKeepAlive) {
  // Exactly one Connection field either way.
  const std::string close = build_head({.status = 200, .date = example, .close = true});
  const std::string keep = build_head({.status = 200, .date = example, .close = false});
  EXPECT_NE(close.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_EQ(close.find("keep-alive"), std::string::npos);
  EXPECT_NE(keep.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  EXPECT_EQ(keep.find("close"), std::string::npos);
}

TEST(BuildHead, DateIsAlwaysSentEvenAtTheEpoch) {
  // RFC 9110 §6.6.1: an origin server with a clock MUST send Date.
  const std::string head = build_head({.status = 500});
  EXPECT_NE(head.find("\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nServer: zcopy\r\n"), std::string::npos);
}

TEST(BuildHead, EndsWithOneBlankLine) {
  const std::string head = build_head({.status = 404, .date = example, .content_length = 5});
  EXPECT_EQ(head.find("\r\n\r\n"), head.size() - 4);
}

TEST(ErrorBody, NamesTheStatusInTitleAndHeading) {
  const std::string body = error_body(404);
  EXPECT_EQ(body,
            "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
            "<center><h1>404 Not Found</h1></center>\r\n<hr><center>zcopy</center>\r\n"
            "</body>\r\n</html>\r\n");
}

TEST(ErrorBody, EveryErrorHasItsOwnBody) {
  for (int status : {400, 403, 405, 408, 412, 413, 414, 416, 431, 500, 505}) {
    const std::string body = error_body(status);
    const std::string title = std::to_string(status) + " " + std::string(reason_phrase(status));
    EXPECT_NE(body.find("<title>" + title + "</title>"), std::string::npos) << status;
    EXPECT_NE(body.find("<h1>" + title + "</h1>"), std::string::npos) << status;
  }
  EXPECT_NE(error_body(999).find("999 Unknown"), std::string::npos);
}

}  // namespace
}  // namespace zcopy::http
