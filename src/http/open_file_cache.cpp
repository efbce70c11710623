#include "http/open_file_cache.hpp"

namespace zcopy::http {

open_file open_uncached(int root_fd, std::string_view path, resolve_options how) {
  resolved r = resolve(root_fd, path, how);
  open_file out;
  out.status = r.status;
  if (r.fd) out.fd = std::make_shared<const unique_fd>(std::move(r.fd));
  out.st = r.st;
  out.error = r.error;
  return out;
}

open_file open_file_cache::lookup(int root_fd, std::string_view path, resolve_options how,
                                  clock::time_point now) {
  if (settings_.max_entries == 0) return open_uncached(root_fd, path, how);

  if (auto found = index_.find(path); found != index_.end()) {
    auto it = found->second;
    if (now - it->created < settings_.valid) {
      ++stats_.hits;
      entries_.splice(entries_.begin(), entries_, it);
      open_file out;
      out.status = resolve_status::file;
      out.fd = it->fd;
      out.st = it->st;
      out.small_body = it->small_body;
      return out;
    }
    erase(it);
  }

  ++stats_.misses;
  open_file out = open_uncached(root_fd, path, how);
  if (out.status != resolve_status::file) return out;
  while (entries_.size() >= settings_.max_entries) {
    ++stats_.evictions;
    erase(std::prev(entries_.end()));
  }
  const auto size = static_cast<std::uint64_t>(out.st.st_size);
  if (size > 0 && size <= settings_.small_file_limit) {
    // No SIGBUS guard: only the kernel reads this mapping (sendmsg), and it reports a truncated
    // file as EFAULT.
    if (auto m = mapping::map(out.fd->get(), map_access::read_only, 0, std::nullopt,
                              map_options{.populate = false, .guard = false})) {
      out.small_body = std::make_shared<const mapping>(std::move(*m));
    }
  }
  entries_.push_front(entry{std::string(path), out.fd, out.st, out.small_body, now});
  index_.emplace(entries_.front().path, entries_.begin());
  return out;
}

void open_file_cache::expire(clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (now - it->created >= settings_.valid) erase(it);
    it = next;
  }
}

void open_file_cache::erase(entry_list::iterator it) {
  index_.erase(std::string_view(it->path));
  entries_.erase(it);
}

}  // namespace zcopy::http
