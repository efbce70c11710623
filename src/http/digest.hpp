// SHA-256 digests for `zcopy get -r --checksum`: of a file, by descriptor, and as a server offers
// them, in a SHA256SUMS file beside the files (what `sha256sum` writes and `sha256sum -c` reads:
// Debian's and most projects' release directories carry one).
//
// The hashing is OpenSSL's libcrypto (EVP), reading through src/sys like every other read.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

namespace zcopy::http {

// The SHA-256 of the whole file at `fd` (read with pread from offset 0, so the descriptor's
// offset is left alone), as 64 lower-case hex digits.
std::expected<std::string, std::error_code> sha256_of(int fd);

// The entries of a SHA256SUMS file that name a file of this directory: "DIGEST  NAME" (text
// mode) or "DIGEST *NAME" (binary mode), a leading "./" dropped, digests lower-cased. Lines that
// are not such an entry (comments, other digests' lengths, names with a '/', backslash-escaped
// names, which sha256sum writes for names with a newline or backslash) are left out. A name
// listed twice with two digests is left out too: neither can be trusted.
std::map<std::string, std::string, std::less<>> parse_sha256sums(std::string_view text);

// The name a server's digest list has in each directory.
inline constexpr std::string_view sha256sums_name = "SHA256SUMS";

}  // namespace zcopy::http
