// Path resolution under ROOT: files, directories, hidden names, non-regular files, symlinks
// (inside, escaping, followed), permissions, and the walk used where openat2 is missing.
#include "http/resolve.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "support/test_support.hpp"
#include "zcopy/error.hpp"

namespace zcopy::http {
namespace {

namespace fs = std::filesystem;

// A ROOT with a few files and directories, and a file outside it (a sibling of ROOT).
//   outside.txt            (outside ROOT)
//   root/f.txt             random bytes
//   root/empty             zero bytes
//   root/sub/g.bin         random bytes
//   root/sub/deeper/h      random bytes
//   root/.git/config       random bytes
class ResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SCOPED_TRACE(::testing::Message() << "seed " << test::test_seed());
    root_path = base.path() / "root";
    fs::create_directories(root_path / "sub" / "deeper");
    fs::create_directories(root_path / ".git");
    f_data = test::random_bytes(4096 + 17, test::test_seed());
    g_data = test::random_bytes(100, test::test_seed() + 1);
    h_data = test::random_bytes(33, test::test_seed() + 2);
    outside_data = test::random_bytes(64, test::test_seed() + 3);
    test::write_file(root_path / "f.txt", f_data);
    test::write_file(root_path / "empty", {});
    test::write_file(root_path / "sub" / "g.bin", g_data);
    test::write_file(root_path / "sub" / "deeper" / "h", h_data);
    test::write_file(root_path / ".git" / "config", h_data);
    test::write_file(base.path() / "outside.txt", outside_data);
    auto r = open_root(root_path.c_str());
    ASSERT_TRUE(r.has_value()) << r.error().message();
    root = std::move(*r);
  }

  resolved lookup(std::string_view path, resolve_options options = {}) {
    return resolve(root.get(), path, options);
  }

  test::temp_dir base;
  fs::path root_path;
  unique_fd root;
  std::vector<std::byte> f_data, g_data, h_data, outside_data;
};

// Pretends openat2 is missing for the life of the guard.
struct openat2_unavailable {
  openat2_unavailable() { detail::force_openat2_unavailable(true); }
  ~openat2_unavailable() { detail::force_openat2_unavailable(false); }
};

// Expects a file whose descriptor reads back `expected`.
void expect_file(const resolved& r, const std::vector<std::byte>& expected) {
  ASSERT_EQ(r.status, resolve_status::file) << r.error.message();
  ASSERT_TRUE(r.fd);
  EXPECT_TRUE(S_ISREG(r.st.st_mode));
  EXPECT_EQ(static_cast<std::size_t>(r.st.st_size), expected.size());
  EXPECT_TRUE(test::same_bytes(expected, test::read_fd_to_end(r.fd.get())));
}

TEST_F(ResolveTest, RegularFileIsOpenedAndReadsItsContent) {
  expect_file(lookup("/f.txt"), f_data);
  expect_file(lookup("/sub/deeper/h"), h_data);
}

TEST_F(ResolveTest, FileDescriptorIsReadOnlyNonBlockingAndCloseOnExec) {
  resolved r = lookup("/sub/g.bin");
  ASSERT_EQ(r.status, resolve_status::file);
  const int fl = ::fcntl(r.fd.get(), F_GETFL);
  EXPECT_EQ(fl & O_ACCMODE, O_RDONLY);
  EXPECT_NE(fl & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(r.fd.get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST_F(ResolveTest, EmptyFileIsAFile) {
  expect_file(lookup("/empty"), {});
}

TEST_F(ResolveTest, RootIsADirectory) {
  resolved r = lookup("/");
  ASSERT_EQ(r.status, resolve_status::directory);
  EXPECT_TRUE(S_ISDIR(r.st.st_mode));
  EXPECT_TRUE(r.fd);
}

TEST_F(ResolveTest, DirectoryWithAndWithoutTrailingSlash) {
  // The descriptor is readable (not O_PATH): listings read it.
  for (std::string_view path : {"/sub", "/sub/", "/sub/deeper/"}) {
    resolved r = lookup(path);
    ASSERT_EQ(r.status, resolve_status::directory) << path;
    EXPECT_TRUE(S_ISDIR(r.st.st_mode));
    const int fl = ::fcntl(r.fd.get(), F_GETFL);
    EXPECT_EQ(fl & O_PATH, 0) << path;
    EXPECT_EQ(fl & O_ACCMODE, O_RDONLY) << path;
  }
}

TEST_F(ResolveTest, MissingNamesAreNotFound) {
  for (std::string_view path : {"/nope", "/sub/nope", "/nope/deeper", "/sub/deeper/h/x"}) {
    resolved r = lookup(path);
    EXPECT_EQ(r.status, resolve_status::not_found) << path;
    EXPECT_FALSE(r.fd) << path;
  }
}

TEST_F(ResolveTest, FileUsedAsDirectoryIsNotFound) {
  // ENOTDIR: "/f.txt/" and "/f.txt/x".
  EXPECT_EQ(lookup("/f.txt/").status, resolve_status::not_found);
  EXPECT_EQ(lookup("/f.txt/x").status, resolve_status::not_found);
}

TEST_F(ResolveTest, OverlongNameIsNotFound) {
  // ENAMETOOLONG, as nginx answers.
  EXPECT_EQ(lookup("/" + std::string(300, 'n')).status, resolve_status::not_found);
}

TEST_F(ResolveTest, HiddenSegmentsAreNotFoundBeforeAnythingIsOpened) {
  // Counted through the hooked openat that --follow-symlinks and the fallback walk use.
  test::fault_scope faults;
  faults.openat({});
  for (std::string_view path : {"/.git", "/.git/config", "/.git/", "/sub/.nothing-there"}) {
    EXPECT_EQ(lookup(path).status, resolve_status::not_found) << path;
    EXPECT_EQ(lookup(path, {.follow_symlinks = true}).status, resolve_status::not_found) << path;
  }
  EXPECT_EQ(faults.calls(syscall_kind::openat), 0u);
  // The counter does count: a visible name is opened.
  expect_file(lookup("/f.txt", {.follow_symlinks = true}), f_data);
  EXPECT_EQ(faults.calls(syscall_kind::openat), 1u);
}

TEST_F(ResolveTest, HiddenSegmentsAreServedWithShowHidden) {
  expect_file(lookup("/.git/config", {.show_hidden = true}), h_data);
  EXPECT_EQ(lookup("/.git", {.show_hidden = true}).status, resolve_status::directory);
}

TEST_F(ResolveTest, SymlinkTargetsAreNotCheckedForHiddenNames) {
  // A link named "git" to ".git" is served.
  fs::create_directory_symlink(".git", root_path / "git");
  expect_file(lookup("/git/config"), h_data);
}

TEST_F(ResolveTest, FifoIsNotFoundAndOpeningItDoesNotHang) {
  // No writer ever opens the FIFO: a blocking open would wait forever.
  ASSERT_EQ(::mkfifo((root_path / "fifo").c_str(), 0644), 0) << std::strerror(errno);
  resolved r = lookup("/fifo");
  EXPECT_EQ(r.status, resolve_status::not_found);
  EXPECT_FALSE(r.fd);
}

TEST_F(ResolveTest, UnixSocketIsNotFound) {
  unique_fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sock);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = (root_path / "sock").string();
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  EXPECT_EQ(lookup("/sock").status, resolve_status::not_found);
}

TEST_F(ResolveTest, SymlinkInsideRootIsFollowed) {
  // Relative links that stay inside ROOT, including through "..", to files and directories.
  fs::create_symlink("f.txt", root_path / "link-to-f");
  fs::create_symlink("../f.txt", root_path / "sub" / "up-to-f");
  fs::create_directory_symlink("sub/deeper", root_path / "link-dir");
  expect_file(lookup("/link-to-f"), f_data);
  expect_file(lookup("/sub/up-to-f"), f_data);
  expect_file(lookup("/link-dir/h"), h_data);
  EXPECT_EQ(lookup("/link-dir/").status, resolve_status::directory);
}

TEST_F(ResolveTest, RelativeSymlinkEscapingRootIsForbidden) {
  fs::create_symlink("../outside.txt", root_path / "escape");
  fs::create_symlink("../../outside.txt", root_path / "sub" / "escape2");
  fs::create_directory_symlink("..", root_path / "parent");
  for (std::string_view path : {"/escape", "/sub/escape2", "/parent/outside.txt", "/parent/"}) {
    resolved r = lookup(path);
    EXPECT_EQ(r.status, resolve_status::forbidden) << path;
    EXPECT_FALSE(r.fd) << path;
    // EXDEV from RESOLVE_BENEATH, said in words for the error log (it read "Invalid
    // cross-device link"); still a permission refusal for generic code.
    EXPECT_EQ(r.error, errc::symlink_leaves_root) << path;
    EXPECT_EQ(r.error.message(), "symlink leaves ROOT");
    EXPECT_EQ(r.error, std::errc::permission_denied);
  }
}

TEST_F(ResolveTest, AbsoluteSymlinkIsForbiddenEvenInsideRoot) {
  // RESOLVE_BENEATH has no notion of ROOT's absolute path.
  fs::create_symlink(base.path() / "outside.txt", root_path / "abs-out");
  fs::create_symlink(root_path / "f.txt", root_path / "abs-in");
  fs::create_symlink("/etc/passwd", root_path / "passwd");
  for (std::string_view path : {"/abs-out", "/abs-in", "/passwd"}) {
    resolved r = lookup(path);
    EXPECT_EQ(r.status, resolve_status::forbidden) << path;
    EXPECT_EQ(r.error, errc::symlink_leaves_root) << path;
  }
}

TEST_F(ResolveTest, FollowSymlinksAllowsLinksThatLeaveRoot) {
  fs::create_symlink("../outside.txt", root_path / "escape");
  fs::create_symlink(base.path() / "outside.txt", root_path / "abs-out");
  fs::create_directory_symlink("..", root_path / "parent");
  expect_file(lookup("/escape", {.follow_symlinks = true}), outside_data);
  expect_file(lookup("/abs-out", {.follow_symlinks = true}), outside_data);
  expect_file(lookup("/parent/outside.txt", {.follow_symlinks = true}), outside_data);
}

TEST_F(ResolveTest, FollowedSymlinkToADeviceIsNotFound) {
  // Only regular files and directories are served, wherever a link points.
  fs::create_symlink("/dev/null", root_path / "null");
  EXPECT_EQ(lookup("/null", {.follow_symlinks = true}).status, resolve_status::not_found);
  EXPECT_EQ(lookup("/null").status, resolve_status::forbidden);
}

TEST_F(ResolveTest, DanglingSymlinkIsNotFound) {
  fs::create_symlink("missing", root_path / "dangling");
  EXPECT_EQ(lookup("/dangling").status, resolve_status::not_found);
}

TEST_F(ResolveTest, SymlinkLoopIsForbidden) {
  // ELOOP.
  fs::create_symlink("loop-b", root_path / "loop-a");
  fs::create_symlink("loop-a", root_path / "loop-b");
  EXPECT_EQ(lookup("/loop-a").status, resolve_status::forbidden);
}

TEST_F(ResolveTest, RootRenamedAfterOpeningStillResolves) {
  // Lookups are relative to the descriptor, not to ROOT's path.
  fs::rename(root_path, base.path() / "moved");
  expect_file(lookup("/f.txt"), f_data);
}

TEST_F(ResolveTest, UnreadableFileIsForbidden) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "running as root: CAP_DAC_OVERRIDE opens a mode-000 file, so EACCES cannot "
                    "happen (the errno mapping is covered by InjectedAccessErrorIsForbidden)";
  }
  fs::permissions(root_path / "f.txt", fs::perms::none);
  resolved r = lookup("/f.txt");
  EXPECT_EQ(r.status, resolve_status::forbidden);
  EXPECT_EQ(r.error, std::errc::permission_denied);
}

TEST_F(ResolveTest, InjectedAccessErrorIsForbidden) {
  // EACCES and EPERM from open(2) map to 403 (through the hooked openat of --follow-symlinks).
  for (int e : {EACCES, EPERM}) {
    test::fault_scope faults;
    faults.openat({.error = e});
    resolved r = lookup("/f.txt", {.follow_symlinks = true});
    EXPECT_EQ(r.status, resolve_status::forbidden) << e;
    EXPECT_EQ(r.error.value(), e);
  }
}

TEST_F(ResolveTest, OtherOpenErrorsAreErrors) {
  // EMFILE is neither "not found" nor "forbidden": 500, and the error says why.
  test::fault_scope faults;
  faults.openat({.error = EMFILE});
  resolved r = lookup("/f.txt", {.follow_symlinks = true});
  EXPECT_EQ(r.status, resolve_status::error);
  EXPECT_EQ(r.error.value(), EMFILE);
  EXPECT_FALSE(r.fd);
}

TEST_F(ResolveTest, WithoutOpenat2FilesAndDirectoriesStillResolve) {
  openat2_unavailable guard;
  expect_file(lookup("/f.txt"), f_data);
  expect_file(lookup("/sub/deeper/h"), h_data);
  EXPECT_EQ(lookup("/").status, resolve_status::directory);
  EXPECT_EQ(lookup("/sub/deeper/").status, resolve_status::directory);
  EXPECT_EQ(lookup("/nope").status, resolve_status::not_found);
  EXPECT_EQ(lookup("/f.txt/").status, resolve_status::not_found);
  EXPECT_EQ(lookup("/.git/config").status, resolve_status::not_found);
}

TEST_F(ResolveTest, WithoutOpenat2EverySymlinkIsRefused) {
  // Stricter, never looser: even links that stay inside ROOT, as the last component or on the way.
  openat2_unavailable guard;
  fs::create_symlink("f.txt", root_path / "link-to-f");
  fs::create_symlink("../f.txt", root_path / "sub" / "up-to-f");
  fs::create_directory_symlink("sub", root_path / "link-dir");
  fs::create_symlink("../outside.txt", root_path / "escape");
  fs::create_symlink(base.path() / "outside.txt", root_path / "abs-out");
  for (std::string_view path :
       {"/link-to-f", "/sub/up-to-f", "/link-dir/g.bin", "/link-dir/", "/escape", "/abs-out"}) {
    resolved r = lookup(path);
    EXPECT_EQ(r.status, resolve_status::forbidden) << path;
    EXPECT_FALSE(r.fd) << path;
    EXPECT_EQ(r.error, errc::symlink_not_followed) << path;  // not "Too many levels of ..."
  }
}

TEST_F(ResolveTest, WithoutOpenat2FifoIsNotFoundWithoutHanging) {
  openat2_unavailable guard;
  ASSERT_EQ(::mkfifo((root_path / "sub" / "fifo").c_str(), 0644), 0) << std::strerror(errno);
  EXPECT_EQ(lookup("/sub/fifo").status, resolve_status::not_found);
}

TEST_F(ResolveTest, WithoutOpenat2OpenErrorsAreMapped) {
  // The walk opens through the hooked openat: a refusal on the way is 403, EMFILE is 500.
  openat2_unavailable guard;
  {
    test::fault_scope faults;
    faults.openat({.error = EACCES});
    EXPECT_EQ(lookup("/sub/g.bin").status, resolve_status::forbidden);
  }
  {
    test::fault_scope faults;
    faults.openat({.error = EMFILE, .nth = 2});
    resolved r = lookup("/sub/g.bin");
    EXPECT_EQ(r.status, resolve_status::error);
    EXPECT_EQ(r.error.value(), EMFILE);
  }
  expect_file(lookup("/sub/g.bin"), g_data);
}

TEST_F(ResolveTest, ForcingOpenat2BackRestoresInRootSymlinks) {
  fs::create_symlink("f.txt", root_path / "link-to-f");
  {
    openat2_unavailable guard;
    EXPECT_EQ(lookup("/link-to-f").status, resolve_status::forbidden);
  }
  expect_file(lookup("/link-to-f"), f_data);
}

TEST(OpenRoot, MissingPathOrFileIsAnError) {
  test::temp_dir dir;
  EXPECT_FALSE(open_root((dir.path() / "missing").c_str()).has_value());
  test::write_file(dir / "file", test::random_bytes(16, test::test_seed()));
  auto r = open_root((dir / "file").c_str());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), std::errc::not_a_directory);
}

TEST(OpenRoot, DescriptorIsAPathOnlyDirectory) {
  test::temp_dir dir;
  auto r = open_root(dir.path().c_str());
  ASSERT_TRUE(r.has_value()) << r.error().message();
  const int fl = ::fcntl(r->get(), F_GETFL);
  EXPECT_NE(fl & O_PATH, 0);
  EXPECT_NE(::fcntl(r->get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(IsHidden, AnySegmentStartingWithADot) {
  EXPECT_TRUE(is_hidden("/.git"));
  EXPECT_TRUE(is_hidden("/a/.b/c"));
  EXPECT_TRUE(is_hidden("/a/b/.c"));
  EXPECT_TRUE(is_hidden(".x"));
  EXPECT_FALSE(is_hidden("/"));
  EXPECT_FALSE(is_hidden("/a.b/c."));
  EXPECT_FALSE(is_hidden("/a/b..c/"));
  EXPECT_FALSE(is_hidden(""));
}

TEST(HttpStatus, FailuresMapToTheirCodes) {
  EXPECT_EQ(http_status(resolve_status::not_found), 404);
  EXPECT_EQ(http_status(resolve_status::forbidden), 403);
  EXPECT_EQ(http_status(resolve_status::error), 500);
}

}  // namespace
}  // namespace zcopy::http
