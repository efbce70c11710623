#include "http/digest.hpp"

#include <openssl/evp.h>

#include <memory>
#include <vector>

#include "sys/sys.hpp"

namespace zcopy::http {

std::expected<std::string, std::error_code> sha256_of(int fd) {
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
  }
  std::vector<unsigned char> buffer(std::size_t{1} << 20);
  for (off_t at = 0;;) {
    auto n = sys::pread(fd, buffer.data(), buffer.size(), at);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    if (EVP_DigestUpdate(ctx.get(), buffer.data(), *n) != 1) {
      return std::unexpected(std::make_error_code(std::errc::io_error));
    }
    at += static_cast<off_t>(*n);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) {
    return std::unexpected(std::make_error_code(std::errc::io_error));
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xF];
  }
  return out;
}

std::map<std::string, std::string, std::less<>> parse_sha256sums(std::string_view text) {
  std::map<std::string, std::string, std::less<>> out;
  std::map<std::string, bool, std::less<>> conflicting;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    // 64 hex digits, a space, ' ' or '*', the name.
    if (line.size() < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) continue;
    std::string digest(line.substr(0, 64));
    bool hex = true;
    for (char& c : digest) {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
      hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    std::string_view name = line.substr(66);
    if (name.starts_with("./")) name.remove_prefix(2);
    if (!hex || name.empty() || name == "." || name == ".." ||
        name.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos) {
      continue;
    }
    if (conflicting.contains(name)) continue;
    auto [it, added] = out.emplace(std::string(name), digest);
    if (!added && it->second != digest) {
      conflicting.emplace(std::string(name), true);
      out.erase(it);
    }
  }
  return out;
}

}  // namespace zcopy::http
