#include "core/temp_entry.hpp"

#include <limits.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

#include "sys/sys.hpp"

namespace zcopy::detail {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::string temp_name(std::string_view name) {
  static std::atomic<std::uint64_t> counter{0};
  static constexpr std::string_view suffix = ".zcopy-";
  static constexpr char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  // Unpredictable enough for O_EXCL to rarely collide, without a syscall: the clock, the thread,
  // a process-wide counter and the address space layout.
  std::uint64_t x = splitmix64(
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (std::hash<std::thread::id>{}(std::this_thread::get_id()) << 1) ^
      splitmix64(counter.fetch_add(1, std::memory_order_relaxed)) ^
      reinterpret_cast<std::uintptr_t>(&counter));
  constexpr std::size_t random_chars = 6;
  const std::size_t room = NAME_MAX - 1 - suffix.size() - random_chars;
  std::string out;
  out.reserve(NAME_MAX);
  out += '.';
  out += name.substr(0, room);
  out += suffix;
  for (std::size_t i = 0; i < random_chars; ++i) {
    out += alphabet[x % (sizeof alphabet - 1)];
    x /= sizeof alphabet - 1;
  }
  return out;
}

temp_entry::~temp_entry() {
  if (!name_.empty()) (void)sys::unlinkat(dirfd_, name_.c_str(), 0);
}

}  // namespace zcopy::detail
