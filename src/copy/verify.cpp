// same_contents(): sizes, then XXH3-128 over read-only mappings in 64 MiB windows. Mapping
// avoids a copy into a buffer; the windows bound the address space a huge file takes, and the
// SIGBUS guard (mapping.hpp) turns a file truncated under the comparison into an error.
#include <fcntl.h>
#include <xxhash.h>

#include <algorithm>
#include <memory>

#include "copy/internal.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"
#include "zcopy/mapping.hpp"

namespace zcopy {
namespace {

constexpr std::uint64_t window = std::uint64_t{64} << 20;

struct state_deleter {
  void operator()(XXH3_state_t* s) const noexcept { XXH3_freeState(s); }
};
using hash_state = std::unique_ptr<XXH3_state_t, state_deleter>;

struct opened {
  unique_fd fd;
  std::uint64_t size = 0;
  hash_state hash;
};

std::expected<opened, copy_error> open_for_hashing(const std::filesystem::path& path) {
  auto fd = unique_fd::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (!fd) return std::unexpected(detail::make_copy_error(fd.error(), copy_step::open, path));
  auto st = sys::fstat(fd->get());
  if (!st) return std::unexpected(detail::make_copy_error(st.error(), copy_step::stat, path));
  if (!S_ISREG(st->st_mode)) {
    return std::unexpected(detail::make_copy_error(
        std::make_error_code(std::errc::invalid_argument), copy_step::compare, path));
  }
  hash_state h(XXH3_createState());
  if (!h || XXH3_128bits_reset(h.get()) != XXH_OK) {
    return std::unexpected(detail::make_copy_error(
        std::make_error_code(std::errc::not_enough_memory), copy_step::compare, path));
  }
  return opened{std::move(*fd), static_cast<std::uint64_t>(st->st_size), std::move(h)};
}

std::expected<void, copy_error> hash_window(opened& f, const std::filesystem::path& path,
                                            std::uint64_t offset, std::size_t length) {
  auto m = mapping::map(f.fd.get(), map_access::read_only, offset, length);
  if (!m) return std::unexpected(detail::make_copy_error(m.error(), copy_step::map, path));
  (void)m->advise(map_advice::sequential);
  XXH3_128bits_update(f.hash.get(), m->data(), m->size());
  if (m->truncated()) {
    return std::unexpected(
        detail::make_copy_error(make_error_code(errc::mapping_truncated), copy_step::read, path));
  }
  return {};
}

}  // namespace

std::expected<bool, copy_error> same_contents(const std::filesystem::path& a,
                                              const std::filesystem::path& b) {
  auto fa = open_for_hashing(a);
  if (!fa) return std::unexpected(fa.error());
  auto fb = open_for_hashing(b);
  if (!fb) return std::unexpected(fb.error());
  if (fa->size != fb->size) return false;
  for (std::uint64_t offset = 0; offset < fa->size; offset += window) {
    const auto length = static_cast<std::size_t>(std::min(window, fa->size - offset));
    if (auto r = hash_window(*fa, a, offset, length); !r) return std::unexpected(r.error());
    if (auto r = hash_window(*fb, b, offset, length); !r) return std::unexpected(r.error());
    // Digests so far: a difference early in a large file ends the comparison there.
    if (!XXH128_isEqual(XXH3_128bits_digest(fa->hash.get()), XXH3_128bits_digest(fb->hash.get()))) {
      return false;
    }
  }
  return true;
}

}  // namespace zcopy
