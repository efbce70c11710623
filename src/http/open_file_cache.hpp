// open_file_cache: descriptors and stat results of hot files, reused between requests (nginx's
// open_file_cache).
//
// A request for a small file costs more in the path walk (openat2 with RESOLVE_BENEATH, one
// dentry lookup per component), fstat and close than in sending the bytes. The cache keeps the
// open descriptor and its stat for `valid` after the lookup; a hit costs no system call at all.
// Descriptors are reference-counted (as nginx's cached files are): a response in flight keeps its
// descriptor open after the entry is evicted or expired. Sharing one open file description
// between responses is safe because bodies are sent with explicit offsets (sendfile, splice and
// pread never move the shared file position).
//
// Freshness: an entry is trusted for `valid` (default 1 s); after that the path is resolved again.
// A file replaced on disk (rename over it) is therefore served fresh at most `valid` later; a file
// changed in place shows its new bytes at once, with the old length and validators until then
// (a file that shrank ends its response early; the event loop closes that connection). nginx's
// open_file_cache_valid defaults to 60 s; we keep it short.
//
// Small files (up to 16 KiB) are also mapped once per entry, so a hit can go out as head and body
// in a single sendmsg: below that size a system call and a TCP transmit cost more than copying
// the bytes (the sendfile path needs sendmsg for the head plus sendfile for the body).
//
// Entries are keyed by path alone: a cache serves one ROOT with one set of resolve_options (one
// server). One cache per worker thread: no locks. Bounded by `max_entries` (least recently used
// goes first); `expire` drops stale entries so idle workers do not hold descriptors.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/resolve.hpp"
#include "zcopy/mapping.hpp"

namespace zcopy::http {

// A lookup's outcome, with the descriptor shared (see above).
struct open_file {
  resolve_status status = resolve_status::error;
  std::shared_ptr<const unique_fd> fd;
  struct stat st {};
  std::error_code error;
  // Small files from the cache (1 .. small_file_limit bytes): a read-only shared mapping of the
  // whole file, so the event loop can send head and body in one sendmsg. It shows the page cache
  // as it is now (no stale copy); the kernel reads it, never user code, so a file truncated under
  // it makes sendmsg fail with EFAULT (the response ends early) instead of raising SIGBUS.
  std::shared_ptr<const mapping> small_body;
};

// resolve() without a cache, in the same shape.
open_file open_uncached(int root_fd, std::string_view path, resolve_options how);

class open_file_cache {
 public:
  using clock = std::chrono::steady_clock;

  struct settings {
    std::size_t max_entries = 1024;
    std::chrono::milliseconds valid{1000};
    // Files up to this size also get a mapping (open_file::small_body); 0: never.
    std::size_t small_file_limit = 16 * 1024;
  };

  struct statistics {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t evictions = 0;
  };

  explicit open_file_cache(settings s) : settings_(s) {}
  open_file_cache(const open_file_cache&) = delete;
  open_file_cache& operator=(const open_file_cache&) = delete;

  // resolve(root_fd, path, how), answered from the cache while an entry for `path` is valid.
  // Only regular files are cached; directories and failures are resolved every time.
  open_file lookup(int root_fd, std::string_view path, resolve_options how, clock::time_point now);

  // Drops every entry older than `valid` (the event loop calls this about once a second).
  void expire(clock::time_point now);

  std::size_t size() const noexcept { return entries_.size(); }
  const statistics& stats() const noexcept { return stats_; }

 private:
  struct entry {
    std::string path;
    std::shared_ptr<const unique_fd> fd;
    struct stat st {};
    std::shared_ptr<const mapping> small_body;
    clock::time_point created;
  };
  using entry_list = std::list<entry>;  // most recently used first

  struct hash : std::hash<std::string_view> {
    using is_transparent = void;
  };

  void erase(entry_list::iterator it);

  settings settings_;
  entry_list entries_;
  std::unordered_map<std::string_view, entry_list::iterator, hash, std::equal_to<>> index_;
  statistics stats_;
};

}  // namespace zcopy::http
