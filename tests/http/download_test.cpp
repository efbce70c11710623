// download(): what stands at FILE, FILE.part and FILE.part.meta (symlinks planted there, a
// directory, a device node, a FIFO), and ranges held to their word (a 206 whose length
// contradicts its Content-Range, a body longer than its range, a short range asked again, a
// complete FILE that grew on the server kept whole until the rest is in), against a scripted
// loopback server.
#include "http/download.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "http/scripted_server.hpp"
#include "support/test_support.hpp"
#include "sys/sys.hpp"

namespace zcopy::http {
namespace {

namespace fs = std::filesystem;
using test::random_text;
using test::read_text;
using test::scripted_server;
using test::simple_response;
using test::text_of;

void write_text(const fs::path& p, std::string_view text) {
  test::write_file(p, std::as_bytes(std::span(text)));
}

// "HTTP/1.1 206 ..." with the given Content-Range, Content-Length and body bytes.
std::string partial(std::string_view range, std::string_view body, std::size_t length) {
  return "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + std::string(range) +
         "\r\nContent-Length: " + std::to_string(length) +
         "\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n" + std::string(body);
}

class Download : public ::testing::Test {
 protected:
  void SetUp() override { SCOPED_TRACE(::testing::Message() << "seed " << seed_); }

  std::expected<download_result, download_error> get(const scripted_server& server,
                                                     const fs::path& file, bool resume = false) {
    auto u = parse_url(server.url("/f"));
    EXPECT_TRUE(u.has_value());
    download_options o;
    o.resume = resume;
    o.request.read_timeout = std::chrono::minutes(1);
    return download(*u, file, o);
  }

  std::uint64_t seed_ = test::test_seed();
  test::temp_dir dir_;
  std::string body_ = random_text(20, seed_);
};

// --- what stands at the names --------------------------------------------------------------------

// A directory at FILE is refused before a request is sent (no body downloaded for nothing).
TEST_F(Download, DirectoryAsFileIsRefusedBeforeTheRequest) {
  scripted_server server(
      {[&](int fd, const std::string&) { scripted_server::send_all(fd, simple_response(body_)); }});
  fs::create_directories(dir_ / "d");
  auto r = get(server, dir_ / "d");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.code, std::errc::is_a_directory);
  EXPECT_TRUE(server.requests().empty());
  EXPECT_FALSE(fs::exists(dir_ / "d.part"));
}

// A symlink planted at FILE.part is never written through nor removed: the download is refused.
TEST_F(Download, SymlinkAtThePartIsRefused) {
  scripted_server server(
      {[&](int fd, const std::string&) { scripted_server::send_all(fd, simple_response(body_)); }});
  write_text(dir_ / "victim", "precious");
  fs::create_symlink(dir_ / "victim", dir_ / "f.part");
  for (bool resume : {false, true}) {
    auto r = get(server, dir_ / "f", resume);
    ASSERT_FALSE(r);
    EXPECT_EQ(read_text(dir_ / "victim"), "precious");
    EXPECT_TRUE(fs::is_symlink(dir_ / "f.part"));
    EXPECT_FALSE(fs::exists(dir_ / "f"));
  }
  EXPECT_TRUE(server.requests().empty());
}

// A symlink planted at FILE.part.meta is replaced by the meta written under its own name, never
// written through; the download completes and the victim keeps its bytes.
TEST_F(Download, SymlinkAtTheMetaIsNotWrittenThrough) {
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(fd, simple_response(body_, "200 OK", "ETag: \"v1\"\r\n"));
  }});
  write_text(dir_ / "victim", "precious");
  fs::create_symlink(dir_ / "victim", dir_ / "f.part.meta");
  auto r = get(server, dir_ / "f");
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_EQ(read_text(dir_ / "f"), body_);
  EXPECT_EQ(read_text(dir_ / "victim"), "precious");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ / "f.part.meta")));
}

// -c with a symlink at the meta: its target is not read as a validator (the meta is only read
// from a regular file), and the resumed download still completes.
TEST_F(Download, ResumeDoesNotReadAMetaThroughASymlink) {
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(fd, partial("10-19/20", body_.substr(10), 10));
  }});
  write_text(dir_ / "f.part", body_.substr(0, 10));
  write_text(dir_ / "victim", "etag \"forged\"\n");
  fs::create_symlink(dir_ / "victim", dir_ / "f.part.meta");
  auto r = get(server, dir_ / "f", true);
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_EQ(read_text(dir_ / "f"), body_);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].find("forged"), std::string::npos) << server.requests()[0];
  EXPECT_EQ(read_text(dir_ / "victim"), "etag \"forged\"\n");
}

// A meta that cannot be written stops the download before the body, with nothing left under a
// temporary name.
TEST_F(Download, MetaWriteFailureStopsBeforeTheBody) {
  // The hook is set before the server's thread starts and restored after it is joined (the
  // server is declared after the scope): the table is never written while another thread reads
  // it.
  test::fault_scope scope;
  sys::hooks().renameat2 = [](int od, const char* op, int nd, const char* np, unsigned fl) -> int {
    if (std::string_view(np).ends_with(".meta")) {
      errno = EIO;
      return -1;
    }
    return sys::real_hooks().renameat2(od, op, nd, np, fl);
  };
  scripted_server server(
      {[&](int fd, const std::string&) { scripted_server::send_all(fd, simple_response(body_)); }});
  auto r = get(server, dir_ / "f");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.code, std::errc::io_error);
  EXPECT_FALSE(fs::exists(dir_ / "f"));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_.path())) names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"f.part"});
}

// A device node at FILE is written into (curl does the same): it stays a device, and there is no
// FILE.part beside it.
TEST_F(Download, DeviceNodeIsWrittenIntoNotReplaced) {
  scripted_server server(
      {[&](int fd, const std::string&) { scripted_server::send_all(fd, simple_response(body_)); }});
  const fs::path node = dir_ / "null";
  if (::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod: " << std::strerror(errno) << " (needs CAP_MKNOD)";
  }
  auto r = get(server, node, true);
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_TRUE(r->in_place);
  EXPECT_EQ(r->received, body_.size());
  EXPECT_EQ(fs::symlink_status(node).type(), fs::file_type::character);
  EXPECT_FALSE(fs::exists(dir_ / "null.part"));
}

// A FIFO at FILE gets the body, written into it.
TEST_F(Download, FifoIsWrittenInto) {
  const std::string big = random_text(3 << 20, seed_ + 1);
  scripted_server server(
      {[&](int fd, const std::string&) { scripted_server::send_all(fd, simple_response(big)); }});
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  test::fifo_reader reader(fifo);
  auto r = get(server, fifo);
  const std::string got = text_of(reader.finish());
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_EQ(got, big);
  EXPECT_EQ(fs::symlink_status(fifo).type(), fs::file_type::fifo);
}

// --- ranges held to their word -------------------------------------------------------------------

// "bytes 10-19/20" announces 10 bytes; a Content-Length of 5 or 30 contradicts it and no byte of
// that body is written.
TEST_F(Download, RangeLengthContradictingContentRangeIsRefused) {
  for (std::size_t length : {5u, 30u}) {
    SCOPED_TRACE(length);
    const std::string sent = random_text(length, seed_ + length);
    scripted_server server({[&](int fd, const std::string&) {
      scripted_server::send_all(fd, partial("10-19/20", sent, length));
    }});
    write_text(dir_ / "f.part", body_.substr(0, 10));
    auto r = get(server, dir_ / "f", true);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().error.what, client_error::kind::protocol);
    EXPECT_EQ(read_text(dir_ / "f.part"), body_.substr(0, 10));
    EXPECT_FALSE(fs::exists(dir_ / "f"));
  }
}

// A chunked 206 that carries more bytes than its range is cut back to where the range began:
// nothing of an answer that contradicts itself stays in FILE.part.
TEST_F(Download, ChunkedRangeLongerThanItsRangeIsCutOff) {
  const std::string extra = random_text(30, seed_ + 2);
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(fd,
                              "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/20\r\n"
                              "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n1e\r\n" +
                                  extra + "\r\n0\r\n\r\n");
  }});
  write_text(dir_ / "f.part", body_.substr(0, 10));
  auto r = get(server, dir_ / "f", true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.what, client_error::kind::protocol);
  EXPECT_EQ(read_text(dir_ / "f.part"), body_.substr(0, 10));
  EXPECT_FALSE(fs::exists(dir_ / "f"));
}

// A server may answer less than the rest of the file: the rest is asked for from where it
// stopped, with the first answer's validator, and the file is complete only at its total.
TEST_F(Download, ShortRangeIsAskedAgain) {
  scripted_server server({[&](int fd, const std::string&) {
                            scripted_server::send_all(fd,
                                                      partial("10-14/20", body_.substr(10, 5), 5));
                          },
                          [&](int fd, const std::string&) {
                            scripted_server::send_all(fd, partial("15-19/20", body_.substr(15), 5));
                          }});
  write_text(dir_ / "f.part", body_.substr(0, 10));
  auto r = get(server, dir_ / "f", true);
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_EQ(read_text(dir_ / "f"), body_);
  EXPECT_EQ(r->size, 20u);
  EXPECT_EQ(r->received, 10u);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[0].find("Range: bytes=10-\r\n"), std::string::npos) << requests[0];
  EXPECT_NE(requests[1].find("Range: bytes=15-\r\n"), std::string::npos) << requests[1];
  EXPECT_NE(requests[1].find("If-Range: \"v1\"\r\n"), std::string::npos) << requests[1];
}

// A 206 that starts anywhere but where the part ends is refused before its body.
TEST_F(Download, RangeFromTheWrongOffsetIsRefused) {
  scripted_server server({[&](int fd, const std::string&) {
    scripted_server::send_all(fd, partial("5-19/20", body_.substr(5), 15));
  }});
  write_text(dir_ / "f.part", body_.substr(0, 10));
  auto r = get(server, dir_ / "f", true);
  ASSERT_FALSE(r);
  EXPECT_EQ(read_text(dir_ / "f.part"), body_.substr(0, 10));
}

// -c on a complete FILE that the server says has grown: the new bytes are appended to a copy in
// FILE.part, so FILE stays whole when that answer is cut short.
TEST_F(Download, GrownCompleteFileStaysWholeUntilTheRestIsIn) {
  scripted_server server({[&](int fd, const std::string&) {
                            // Announces the rest, sends half of it, closes.
                            scripted_server::send_all(fd,
                                                      partial("10-19/20", body_.substr(10, 5), 10));
                          },
                          [&](int fd, const std::string&) {
                            scripted_server::send_all(fd, partial("15-19/20", body_.substr(15), 5));
                          }});
  write_text(dir_ / "f", body_.substr(0, 10));
  auto first = get(server, dir_ / "f", true);
  ASSERT_FALSE(first);
  EXPECT_TRUE(first.error().part_kept);
  EXPECT_EQ(read_text(dir_ / "f"), body_.substr(0, 10));
  EXPECT_EQ(read_text(dir_ / "f.part"), body_.substr(0, 15));
  auto second = get(server, dir_ / "f", true);
  ASSERT_TRUE(second) << second.error().error.message;
  EXPECT_EQ(read_text(dir_ / "f"), body_);
  EXPECT_FALSE(fs::exists(dir_ / "f.part"));
  EXPECT_FALSE(fs::exists(dir_ / "f.part.meta"));
}

// A symlink at FILE: the file it names gets the download (FILE.part beside it), as curl writes
// through it; the link stays.
TEST_F(Download, SymlinkAtFileIsWrittenThrough) {
  scripted_server server(
      {[&](int fd, const std::string&) { scripted_server::send_all(fd, simple_response(body_)); }});
  fs::create_directories(dir_ / "real");
  write_text(dir_ / "real" / "target", "old");
  fs::create_symlink("real/target", dir_ / "f");
  auto r = get(server, dir_ / "f");
  ASSERT_TRUE(r) << r.error().error.message;
  EXPECT_TRUE(fs::is_symlink(dir_ / "f"));
  EXPECT_EQ(read_text(dir_ / "real" / "target"), body_);
  EXPECT_EQ(r->file, dir_ / "real" / "target");
}

}  // namespace
}  // namespace zcopy::http
