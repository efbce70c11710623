// SHA-256 of files (get -r --checksum) against the standard's test vectors and coreutils'
// sha256sum, and SHA256SUMS parsing: both of sha256sum's modes, and every line that must not
// become a digest.
#include "http/digest.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <cstdio>
#include <string>

#include "support/test_support.hpp"
#include "sys/sys.hpp"

namespace zcopy::http {
namespace {

namespace fs = std::filesystem;

std::string digest_of_text(const test::temp_dir& dir, const std::string& text) {
  test::write_file(dir / "f", std::as_bytes(std::span(text)));
  unique_fd fd = test::open_or_die(dir / "f", O_RDONLY | O_CLOEXEC);
  auto d = sha256_of(fd.get());
  EXPECT_TRUE(d) << d.error().message();
  return d ? *d : std::string{};
}

// FIPS 180-2's examples: "", "abc" and the 448-bit message.
TEST(Sha256, MatchesTheStandardsVectors) {
  test::temp_dir dir;
  EXPECT_EQ(digest_of_text(dir, ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest_of_text(dir, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest_of_text(dir, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// Random files across the 1 MiB read size, against what `sha256sum` prints; the descriptor's
// offset is left where it was.
TEST(Sha256, AgreesWithSha256sumOnRandomFiles) {
  test::temp_dir dir;
  for (std::size_t size : {std::size_t{1}, std::size_t{1} << 20, (std::size_t{3} << 20) + 7}) {
    const fs::path file = dir / ("r" + std::to_string(size));
    unique_fd fd =
        test::write_file(file, test::random_bytes(size, test::test_seed() + size), O_RDWR);
    ASSERT_EQ(::lseek(fd.get(), 5, SEEK_SET), 5);
    auto ours = sha256_of(fd.get());
    ASSERT_TRUE(ours);
    EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 5);
    std::string theirs(64, '\0');
    FILE* p = ::popen(("sha256sum '" + file.string() + "'").c_str(), "r");
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(std::fread(theirs.data(), 1, 64, p), 64u);
    ::pclose(p);
    EXPECT_EQ(*ours, theirs) << size;
  }
}

// A read that fails is the error, not a digest of what was read so far.
TEST(Sha256, ReadFailureIsAnError) {
  test::temp_dir dir;
  unique_fd fd =
      test::write_file(dir / "f", test::random_bytes(3 << 20, test::test_seed()), O_RDONLY);
  test::fault_scope faults;
  faults.pread({.error = EIO, .nth = 2});
  auto d = sha256_of(fd.get());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error(), std::errc::io_error);
}

TEST(Sha256sums, ReadsBothModesAndNormalizes) {
  const std::string a(64, 'a'), b = std::string(63, 'B') + "0", c(64, 'c');
  const auto sums =
      parse_sha256sums(a + "  plain.bin\n" + b + " *binary mode.iso\r\n" + c + "  ./dotted\n");
  ASSERT_EQ(sums.size(), 3u);
  EXPECT_EQ(sums.at("plain.bin"), a);
  EXPECT_EQ(sums.at("binary mode.iso"), std::string(63, 'b') + "0");
  EXPECT_EQ(sums.at("dotted"), c);
}

TEST(Sha256sums, LeavesOutWhatIsNotADigestOfThisDirectory) {
  const std::string d(64, 'd'), e(64, 'e');
  const std::string text =
      "# a comment\n\n" + d + "  sub/file\n" + d + "  ../up\n" + d + "  /abs\n" + d + "  ..\n" + d +
      "  \n" + "\\" + d + "  escaped\\nname\n" + std::string(40, 'f') + "  sha1.txt\n" +
      std::string(63, 'g') + "z  nothex\n" + d + "\tTAB\n" + d + "x name\n" + d + "  twice\n" + e +
      "  twice\n" + d + "  same\n" + d + "  same\n" + e + "  ok";
  const auto sums = parse_sha256sums(text);
  std::vector<std::string> names;
  for (const auto& [name, digest] : sums) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"ok", "same"}));
  EXPECT_EQ(sums.at("ok"), e);
}

}  // namespace
}  // namespace zcopy::http
