#include "http/mirror.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "http/digest.hpp"
#include "http/remote_listing.hpp"
#include "http/target.hpp"
#include "sys/sys.hpp"
#include "zcopy/fd.hpp"

namespace zcopy::http {

namespace {

namespace fs = std::filesystem;

using shared_dir = std::shared_ptr<const unique_fd>;

// Files listed smaller than this are fetched whole on every try: continuing them saves little.
constexpr std::uint64_t resume_from = std::uint64_t{1} << 20;

client_error local_error(std::error_code code, std::string message) {
  return client_error{client_error::kind::io, code, std::move(message), 0};
}

client_error listing_error(std::string message) {
  return client_error{client_error::kind::protocol, make_error_code(std::errc::protocol_error),
                      std::move(message), 0};
}

timespec to_timespec(std::chrono::sys_seconds t) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(t.time_since_epoch().count());
  return ts;
}

// A small body (a listing, a SHA256SUMS), at most `max` bytes; `what` names it in messages. It
// goes through a file without a name (in DIR's filesystem, else /tmp) because the client
// receives bodies into descriptors, whatever their framing (nginx sends its listings chunked).
std::expected<std::pair<std::string, url>, client_error> read_small_body(
    const url& where, const request_options& base, int scratch_dir, std::uint64_t max,
    std::string_view what = "listing") {
  std::stop_source local;
  std::stop_callback forward(base.stop, [&] { local.request_stop(); });
  request_options request = base;
  request.stop = local.get_token();
  request.range_from.reset();
  request.range_to.reset();
  request.if_range.clear();
  auto got = fetch(where, request);
  if (!got) return std::unexpected(got.error());
  const response_head& head = got->head();
  if (head.status != 200) {
    return std::unexpected(client_error{client_error::kind::status, {}, head.status_line, 0});
  }
  const std::string too_large =
      fmt::format("a {} larger than {} bytes (the limit for one directory)", what, max);
  if (head.content_length && *head.content_length > max) {
    return std::unexpected(listing_error(too_large));
  }
  auto scratch = unique_fd::openat(scratch_dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (!scratch) scratch = unique_fd::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (!scratch) {
    return std::unexpected(local_error(
        scratch.error(),
        fmt::format("no unnamed file for the {}: {}", what, scratch.error().message())));
  }
  bool over = false;
  auto received = got->receive_body(scratch->get(), 0, [&](std::uint64_t bytes) {
    if (bytes > max && !over) {
      over = true;
      local.request_stop();
    }
  });
  if (over) return std::unexpected(listing_error(too_large));
  if (!received) return std::unexpected(received.error());
  std::string text(static_cast<std::size_t>(*received), '\0');
  for (std::size_t at = 0; at < text.size();) {
    auto n = sys::pread(scratch->get(), text.data() + at, text.size() - at, static_cast<off_t>(at));
    if (!n)
      return std::unexpected(
          local_error(n.error(), fmt::format("read the {}: {}", what, n.error().message())));
    if (*n == 0)
      return std::unexpected(listing_error(fmt::format("the {}'s file came back short", what)));
    at += *n;
  }
  return std::pair{std::move(text), got->final_url()};
}

class mirror_run {
 public:
  mirror_run(const mirror_options& options, std::function<void(const mirror_event&)> on_event)
      : options_(options), on_event_(std::move(on_event)) {}

  std::expected<mirror_result, client_error> run(const url& root, const fs::path& dir) {
    if (auto made = sys::mkdirat(AT_FDCWD, dir.c_str(), 0777);
        !made && made.error() != std::errc::file_exists) {
      return std::unexpected(
          local_error(made.error(), "make '" + dir.string() + "': " + made.error().message()));
    }
    auto top = unique_fd::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!top) {
      return std::unexpected(
          local_error(top.error(), "open '" + dir.string() + "': " + top.error().message()));
    }
    top_ = std::make_shared<const unique_fd>(std::move(*top));
    dir_shown_ = dir;
    result_.directories = 1;

    const unsigned jobs = std::max(1u, options_.jobs);
    {
      std::vector<std::jthread> workers;
      for (unsigned i = 0; i < jobs; ++i) workers.emplace_back([this] { work(); });
      auto walked = walk(root);
      {
        std::lock_guard lock(mutex_);
        walk_done_ = true;
      }
      ready_.notify_all();
      if (!walked) {
        stop_.request_stop();
        return std::unexpected(walked.error());
      }
    }
    // Directories last, deepest first: making and filling a directory changes its mtime.
    for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
      const timespec times[2] = {to_timespec(it->second), to_timespec(it->second)};
      (void)sys::futimens(it->first->get(), times);
    }
    result_.cancelled = stopped();
    return std::move(result_);
  }

 private:
  struct directory {
    shared_dir fd;
    std::string rel;  // "" for DIR, else "a/b/"
    url where;
    unsigned depth = 0;
  };
  struct file_job {
    shared_dir dir;
    std::string name, rel;
    url where;
    remote_entry entry;
    std::string digest;  // --checksum: the SHA-256 the server's SHA256SUMS gives, else empty
  };
  using digests = std::map<std::string, std::string, std::less<>>;

  bool stopped() const {
    return stop_.stop_requested() || options_.file.request.stop.stop_requested();
  }

  // Breadth first: one listing at a time, while the workers fetch the files found so far.
  std::expected<void, client_error> walk(const url& root) {
    std::deque<directory> pending;
    pending.push_back({top_, "", root, 0});
    bool first = true;
    while (!pending.empty() && !stopped()) {
      directory d = std::move(pending.front());
      pending.pop_front();
      request_options request = options_.file.request;
      request.pool = &pool_;
      auto listing = read_small_body(d.where, request, top_->get(), options_.max_listing_bytes);
      std::expected<remote_listing, std::string> parsed =
          listing ? parse_remote_listing(listing->first, now())
                  : std::unexpected(listing.error().message);
      if (!parsed && listing) {
        parsed = std::unexpected("the listing at " + d.where.text() + " is " + parsed.error() +
                                 " (get -r reads JSON listings: nginx's autoindex_format json, "
                                 "zcopy serve --autoindex-format json)");
      }
      if (!parsed) {
        if (first) {
          if (!listing) return std::unexpected(listing.error());
          return std::unexpected(listing_error(parsed.error()));
        }
        report({mirror_event::kind::failed, d.rel, 0, parsed.error()});
        continue;
      }
      first = false;
      const url base = listing->second;
      entries_ += parsed->entries.size() + parsed->refused.size();
      if (entries_ > options_.max_entries) {
        report({mirror_event::kind::refused, d.rel, 0,
                "the tree has more than " + std::to_string(options_.max_entries) +
                    " entries; the walk stops here"});
        break;
      }
      for (const refused_entry& r : parsed->refused) {
        report({mirror_event::kind::refused, d.rel + r.name, 0, r.reason});
      }
      const digests sums = options_.checksum ? read_digests(d, base, *parsed) : digests{};
      for (remote_entry& e : parsed->entries) {
        auto where =
            resolve_reference(base, percent_encode_path(e.name) +
                                        (e.type == remote_entry::kind::directory ? "/" : ""));
        if (!where) {
          report({mirror_event::kind::refused, d.rel + e.name, 0, where.error().reason});
          continue;
        }
        if (e.type == remote_entry::kind::directory) {
          enter(d, e, std::move(*where), pending);
        } else {
          auto digest = sums.find(e.name);
          take_file(d, std::move(e), std::move(*where),
                    digest == sums.end() ? std::string{} : digest->second);
        }
      }
    }
    return {};
  }

  // Makes (or finds) a subdirectory in its parent's descriptor, never through a symlink.
  void enter(const directory& parent, const remote_entry& e, url where,
             std::deque<directory>& pending) {
    const std::string rel = parent.rel + e.name + "/";
    if (parent.depth + 1 > options_.max_depth) {
      report({mirror_event::kind::refused, rel, 0,
              "deeper than " + std::to_string(options_.max_depth) + " levels"});
      return;
    }
    const int at = parent.fd->get();
    if (auto made = sys::mkdirat(at, e.name.c_str(), 0777);
        !made && made.error() != std::errc::file_exists) {
      report({mirror_event::kind::failed, rel, 0, "make the directory: " + made.error().message()});
      return;
    }
    auto opened =
        unique_fd::openat(at, e.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (!opened) {
      const bool planted = opened.error() == std::errc::too_many_symbolic_link_levels ||
                           opened.error() == std::errc::not_a_directory;
      report({mirror_event::kind::refused, rel, 0,
              planted ? "something other than a directory is there (a symlink is never followed)"
                      : "open the directory: " + opened.error().message()});
      return;
    }
    auto fd = std::make_shared<const unique_fd>(std::move(*opened));
    if (e.mtime) dir_times_.emplace_back(fd, *e.mtime);
    ++result_.directories;
    pending.push_back({std::move(fd), rel, std::move(where), parent.depth + 1});
  }

  // --checksum: the digests of this directory's SHA256SUMS, when its listing has one. A
  // SHA256SUMS that cannot be fetched is reported, and its directory's files are then judged by
  // size and time.
  digests read_digests(const directory& d, const url& base, const remote_listing& listing) {
    const auto listed = std::find_if(listing.entries.begin(), listing.entries.end(), [](auto& e) {
      return e.type == remote_entry::kind::file && e.name == sha256sums_name;
    });
    if (listed == listing.entries.end()) return {};
    auto where = resolve_reference(base, std::string(sha256sums_name));
    if (!where) return {};
    request_options request = options_.file.request;
    request.pool = &pool_;
    auto body =
        read_small_body(*where, request, top_->get(), options_.max_listing_bytes, sha256sums_name);
    if (!body) {
      report({mirror_event::kind::failed, d.rel + std::string(sha256sums_name), 0,
              "the digests (--checksum): " + body.error().message});
      return {};
    }
    return parse_sha256sums(body->first);
  }

  void take_file(const directory& d, remote_entry e, url where, std::string digest) {
    const std::string rel = d.rel + e.name;
    {
      std::lock_guard lock(mutex_);
      if (e.size) result_.bytes_total += *e.size;
      if (options_.checksum && digest.empty()) ++result_.without_digest;
    }
    // Complete already: the listing's size and modification time (to the second, as HTTP dates
    // go), on a regular file that is not a symlink. With a digest the content decides instead
    // (fetch_file hashes it, on a worker).
    if (digest.empty() && e.size && e.mtime) {
      auto st = sys::fstatat(d.fd->get(), e.name.c_str(), AT_SYMLINK_NOFOLLOW);
      if (st && S_ISREG(st->st_mode) && static_cast<std::uint64_t>(st->st_size) == *e.size &&
          st->st_mtim.tv_sec == e.mtime->time_since_epoch().count()) {
        report({mirror_event::kind::up_to_date, rel, 0, {}});
        return;
      }
    }
    {
      std::lock_guard lock(mutex_);
      queue_.push_back({d.fd, e.name, rel, std::move(where), std::move(e), std::move(digest)});
    }
    ready_.notify_one();
  }

  // Whether the file already at the job's name has the digest the server gives (a regular file,
  // not a symlink, of the listed size); its time is then set to the listing's.
  bool matches_digest(const file_job& job) {
    // Looked at before it is opened: a device node or FIFO planted at the name is never opened
    // (opening some devices acts on them); the open then checks it is still that file.
    auto named = sys::fstatat(job.dir->get(), job.name.c_str(), AT_SYMLINK_NOFOLLOW);
    if (!named || !S_ISREG(named->st_mode)) return false;
    auto fd = unique_fd::openat(job.dir->get(), job.name.c_str(),
                                O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (!fd) return false;
    auto st = sys::fstat(fd->get());
    if (!st || !S_ISREG(st->st_mode) || st->st_ino != named->st_ino ||
        st->st_dev != named->st_dev) {
      return false;
    }
    if (job.entry.size && static_cast<std::uint64_t>(st->st_size) != *job.entry.size) return false;
    auto digest = sha256_of(fd->get());
    if (!digest || *digest != job.digest) return false;
    if (job.entry.mtime && st->st_mtim.tv_sec != job.entry.mtime->time_since_epoch().count()) {
      const timespec times[2] = {to_timespec(*job.entry.mtime), to_timespec(*job.entry.mtime)};
      (void)sys::futimens(fd->get(), times);
    }
    return true;
  }

  void work() {
    for (;;) {
      file_job job;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return !queue_.empty() || walk_done_ || stopped(); });
        if (stopped() || queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      fetch_file(job);
    }
  }

  void fetch_file(const file_job& job) {
    if (!job.digest.empty() && matches_digest(job)) {
      count_checked();
      report({mirror_event::kind::up_to_date, job.rel, 0, {}});
      return;
    }
    download_options o = options_.file;
    if (!job.digest.empty()) {
      o.verify = [&job](int part) -> std::string {
        auto got = sha256_of(part);
        if (!got) return "hash the download: " + got.error().message();
        if (*got == job.digest) return {};
        return "its SHA-256 is " + *got + ", not " + job.digest + " as the server's " +
               std::string(sha256sums_name) + " says";
      };
    }
    o.request.pool = &pool_;
    o.on_start = {};
    o.on_progress = {};
    const bool large = job.entry.size && *job.entry.size >= options_.ranged_from;
    o.connections = large ? options_.file.connections : 1;
    // A small file is fetched whole, never continued: no meta for it, and no -c (which, without a
    // meta, would resume without If-Range).
    const bool resumable = !job.entry.size || *job.entry.size >= resume_from;
    o.resume = o.resume && resumable;
    o.keep_meta = resumable;
    auto done = download_at(job.where, job.dir->get(), job.name, dir_shown_ / job.rel, o);
    if (!done) {
      if (done.error().error.what == client_error::kind::cancelled) return;
      report({mirror_event::kind::failed, job.rel, 0, done.error().error.message});
      return;
    }
    if (job.entry.mtime) {
      const timespec times[2] = {to_timespec(*job.entry.mtime), to_timespec(*job.entry.mtime)};
      if (auto set = sys::utimensat(job.dir->get(), job.name.c_str(), times, AT_SYMLINK_NOFOLLOW);
          !set) {
        report({mirror_event::kind::failed, job.rel, done->received,
                "set the modification time: " + set.error().message()});
        return;
      }
    }
    if (!job.digest.empty()) count_checked();
    report({mirror_event::kind::fetched, job.rel, done->received, {}});
  }

  void count_checked() {
    std::lock_guard lock(mutex_);
    ++result_.checked;
  }

  void report(mirror_event e) {
    e.path = printable(e.path);  // names from the network reach a terminal
    std::lock_guard lock(mutex_);
    switch (e.what) {
      case mirror_event::kind::fetched:
        ++result_.fetched;
        break;
      case mirror_event::kind::up_to_date:
        ++result_.up_to_date;
        break;
      case mirror_event::kind::failed:
        ++result_.failed;
        break;
      case mirror_event::kind::refused:
        ++result_.refused;
        break;
    }
    result_.bytes_received += e.bytes;
    if (on_event_) on_event_(e);
    if (e.what == mirror_event::kind::failed || e.what == mirror_event::kind::refused) {
      result_.problems.push_back(std::move(e));
    }
  }

  // A path as messages show it: control bytes escaped, cut at 200 bytes.
  static std::string printable(std::string_view name) {
    std::string out;
    for (char ch : name.substr(0, 200)) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c == 0x7f) {
        static constexpr char hex[] = "0123456789abcdef";
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 0xf];
      } else {
        out += ch;
      }
    }
    if (name.size() > 200) out += "...";
    return out;
  }

  static std::chrono::sys_seconds now() {
    return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  }

  const mirror_options& options_;
  std::function<void(const mirror_event&)> on_event_;
  shared_dir top_;
  fs::path dir_shown_;
  std::size_t entries_ = 0;
  std::vector<std::pair<shared_dir, std::chrono::sys_seconds>> dir_times_;
  connection_pool pool_;  // keep-alive connections shared by the listings and the workers

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<file_job> queue_;
  bool walk_done_ = false;
  std::stop_source stop_;
  mirror_result result_;
};

}  // namespace

std::expected<mirror_result, client_error> mirror(
    const url& root, const fs::path& dir, const mirror_options& options,
    std::function<void(const mirror_event&)> on_event) {
  return mirror_run(options, std::move(on_event)).run(root, dir);
}

}  // namespace zcopy::http
