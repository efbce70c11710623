#include "http/ranged_download.hpp"

#include <fcntl.h>

#include <cerrno>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "sys/sys.hpp"
#include "zcopy/error.hpp"

namespace zcopy::http {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// How much one receive_some call takes: how soon a connection notices that its range was cut
// short by another one taking half of it.
constexpr std::uint64_t step_bytes = std::uint64_t{4} << 20;
// No range is made smaller than this, neither when the file is cut up nor when a range is split:
// below it a new connection's handshake and slow start cost more than they save.
constexpr std::uint64_t min_range = std::uint64_t{1} << 20;
constexpr std::uint64_t split_alignment = 64 * 1024;
constexpr int max_tries = 5;     // failures of one range in a row without a byte of progress
constexpr int max_restarts = 2;  // the file changed on the server while it was fetched
constexpr auto checkpoint_interval = 1s;
// -x auto: the connections are doubled, each time after a window of this long has been measured,
// while the last doubling raised the rate by `auto_gain`; at most `auto_max` of them. Doubling
// rather than adding one: on a 50 ms path each step costs two windows (one to let the new
// connections out of slow start, one to measure), and one at a time reached 8 connections only
// after 5.6 s, most of a 1 GiB download (docs/PERFORMANCE.md).
constexpr auto auto_window = 400ms;
constexpr double auto_gain = 1.15;
constexpr unsigned auto_max = 16;

std::unexpected<download_error> failure(client_error::kind what, std::error_code code,
                                        std::string message, bool part_kept) {
  return std::unexpected(
      download_error{client_error{what, code, std::move(message), 0}, part_kept});
}

download_error protocol_error(std::string message) {
  return {client_error{client_error::kind::protocol, make_error_code(std::errc::protocol_error),
                       std::move(message), 0},
          true};
}

// Local failures (the disk, the file) end the download; the network's are worth another try.
bool worth_retrying(const client_error& e) {
  switch (e.what) {
    case client_error::kind::resolve:
    case client_error::kind::connect:
    case client_error::kind::timeout:
    case client_error::kind::short_body:
      return true;
    case client_error::kind::io: {
      static const int local[] = {ENOSPC, EIO, EROFS, EFBIG, EBADF, EDQUOT};
      return std::none_of(std::begin(local), std::end(local), [&](int c) {
        return e.code == std::error_code(c, std::generic_category());
      });
    }
    default:
      return false;
  }
}

// Cuts the missing ranges into at least `pieces` ranges where each piece keeps min_range.
std::vector<byte_span> cut(std::vector<byte_span> todo, unsigned pieces) {
  while (todo.size() < pieces) {
    auto largest = std::max_element(todo.begin(), todo.end(), [](const auto& a, const auto& b) {
      return a.end - a.first < b.end - b.first;
    });
    if (largest == todo.end() || largest->end - largest->first < 2 * min_range) break;
    const std::uint64_t length = largest->end - largest->first;
    // As many equal pieces of this range as are still wanted, each at least min_range.
    const std::uint64_t n = std::min<std::uint64_t>(pieces - todo.size() + 1, length / min_range);
    const std::uint64_t piece = std::max(length / n / split_alignment * split_alignment, min_range);
    const byte_span whole = *largest;
    std::vector<byte_span> parts;
    for (std::uint64_t at = whole.first; at < whole.end;) {
      const std::uint64_t end = parts.size() + 1 == n ? whole.end : std::min(whole.end, at + piece);
      parts.push_back({at, end});
      at = end;
    }
    const auto where = todo.erase(largest);
    todo.insert(where, parts.begin(), parts.end());
  }
  return todo;
}

enum class ending { complete, failed, changed, cancelled };

// The ranges of one attempt, the threads fetching them and what they found.
class ranged_run {
 public:
  ranged_run(const url& target, const download_options& options, const ranged_target& where,
             int part, part_meta meta, unsigned connections)
      : target_(target),
        options_(options),
        where_(where),
        part_(part),
        meta_(std::move(meta)),
        connections_(connections == 0 ? 1 : connections),
        auto_(connections == 0) {
    for (const byte_span& r : cut(meta_.todo, connections_)) {
      ranges_.push_back({r.first, r.end, r.first, false});
    }
  }

  // Fetches every range; `first` (the answer to "bytes=0-") serves the range that starts at 0.
  ending run(std::optional<response> first) {
    std::stop_callback forward(options_.request.stop, [this] {
      stop_.request_stop();
      wake_.notify_all();
    });
    {
      std::vector<std::jthread> threads;
      const std::size_t n = std::min<std::size_t>(connections_, ranges_.size());
      {
        std::lock_guard lock(mutex_);
        for (std::size_t i = 0; i < n; ++i) ranges_[i].owned = true;
        active_ = n;
      }
      for (std::size_t i = 0; i < n; ++i) {
        std::optional<response> conn;
        if (i == 0 && first) conn = std::move(first);
        threads.emplace_back([this, i, c = std::move(conn)]() mutable { work(i, std::move(c)); });
      }
      if (auto_) grow(threads);
    }
    std::lock_guard lock(mutex_);
    if (end_ == ending::complete && !missing_locked().empty()) {
      // Every thread stopped and something is missing: the caller stopped them, or (a defect) a
      // range was left that no thread took; never rename an incomplete file.
      end_ = options_.request.stop.stop_requested() ? ending::cancelled : ending::failed;
      if (end_ == ending::failed) error_ = protocol_error("ranges were left unfetched");
    }
    return end_;
  }

  const download_error& error() const { return *error_; }
  std::uint64_t received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  std::error_code record() {
    std::lock_guard lock(mutex_);
    return record_locked();
  }

 private:
  struct range_state {
    std::uint64_t pos = 0, end = 0;
    std::uint64_t reserved = 0;  // [pos, reserved) is being received right now
    bool owned = false;
  };

  enum class step { go_on, new_request, stop };

  // -x auto: measures the rate over windows of auto_window and doubles the connections (each new
  // one taking half of the largest range still running) while the last doubling raised it by
  // auto_gain. A window right after a doubling is not judged: the new connections are still in
  // slow start.
  void grow(std::vector<std::jthread>& threads) {
    std::unique_lock lock(mutex_);
    double best = 0;
    bool settling = false;
    std::uint64_t last = received_;
    auto since = std::chrono::steady_clock::now();
    while (active_ > 0 && !stop_.stop_requested() && threads.size() < auto_max) {
      if (wake_.wait_for(lock, stop_.get_token(), auto_window, [&] { return active_ == 0; })) break;
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - since).count();
      if (seconds < std::chrono::duration<double>(auto_window).count()) continue;
      const double rate = static_cast<double>(received_ - last) / seconds;
      last = received_;
      since = now;
      if (settling) {
        settling = false;
        continue;
      }
      if (best > 0 && rate < best * auto_gain) break;  // the last doubling added little
      best = std::max(best, rate);
      const std::size_t add = std::min<std::size_t>(active_, auto_max - threads.size());
      for (std::size_t k = 0; k < add; ++k) {
        const auto next = next_range_locked();
        if (!next) break;
        ++active_;
        threads.emplace_back([this, i = *next] { work(i, std::nullopt); });
        settling = true;
      }
      if (!settling) break;  // nothing left to split
    }
  }

  void work(std::size_t index, std::optional<response> conn) {
    struct leave {
      ranged_run& run;
      ~leave() {
        {
          std::lock_guard lock(run.mutex_);
          --run.active_;
        }
        run.wake_.notify_all();
      }
    } on_exit{*this};
    std::optional<std::size_t> current = index;
    int tries = 0;
    while (current && !stop_.stop_requested()) {
      const std::size_t i = *current;
      if (!conn) {
        std::uint64_t from = 0, to = 0;
        {
          std::lock_guard lock(mutex_);
          from = ranges_[i].pos;
          to = ranges_[i].end;
        }
        if (from < to) {
          request_options request = options_.request;
          request.stop = stop_.get_token();
          request.range_from = from;
          request.range_to = to - 1;
          request.if_range = meta_.validator();
          auto got = fetch(target_, request);
          if (!got) {
            if (!retry(got.error(), tries, worth_retrying(got.error()))) return;
            continue;
          }
          if (auto verdict = check(*got, from, tries); verdict != step::go_on) {
            if (verdict == step::stop) return;
            continue;  // retry() has waited
          }
          conn = std::move(*got);
        }
      }
      if (conn) {
        const step s = receive(i, *conn, tries);
        conn.reset();  // the range is done, or cut short by a split: the rest of the answer is not
                       // needed
        if (s == step::stop) return;
        if (s == step::new_request) continue;
      }
      std::lock_guard lock(mutex_);
      ranges_[i].owned = false;
      current = next_range_locked();
    }
  }

  // The answer to a range request: a 206 for exactly where the range stands now, of the file's
  // size. A 200 to If-Range, or another size, is a changed file.
  step check(const response& r, std::uint64_t from, int& tries) {
    const response_head& head = r.head();
    if (head.status == 200 || head.status == 412) {
      stop_with(ending::changed, std::nullopt);
      return step::stop;
    }
    if (head.status != 206) {
      // A server busy or failing for a moment is asked again; any other status ends the download.
      const client_error e{client_error::kind::status, {}, head.status_line, 0};
      const bool transient = head.status >= 500 || head.status == 429;
      return retry(e, tries, transient) ? step::new_request : step::stop;
    }
    const std::string shown(head.header("content-range").value_or(""));
    const auto range = parse_content_range(shown);
    if (!range || !range->first || range->total != meta_.size) {
      if (range && range->first && range->total) {
        stop_with(ending::changed, std::nullopt);
      } else {
        stop_with(ending::failed,
                  protocol_error(head.status_line + " with an unusable Content-Range '" + shown +
                                 "' for a range request"));
      }
      return step::stop;
    }
    if (*range->first != from || head.chunked || !head.content_length ||
        *head.content_length != *range->last - *range->first + 1) {
      stop_with(
          ending::failed,
          protocol_error(
              head.status_line + " with Content-Range '" + shown + "' and Content-Length " +
              (head.content_length ? std::to_string(*head.content_length) : std::string("(none)")) +
              " for a request from byte " + std::to_string(from)));
      return step::stop;
    }
    return step::go_on;
  }

  // Receives range `i` from `conn` until the range is done (possibly shortened by a split
  // meanwhile) or the answer ends.
  step receive(std::size_t i, response& conn, int& tries) {
    for (;;) {
      std::uint64_t pos = 0, want = 0;
      {
        std::lock_guard lock(mutex_);
        range_state& r = ranges_[i];
        if (r.pos >= r.end) return step::go_on;
        const std::uint64_t left = *conn.head().content_length - conn.body_taken();
        if (left == 0) return step::new_request;  // answered short: ask for the rest
        want = std::min({r.end - r.pos, step_bytes, left});
        pos = r.pos;
        r.reserved = pos + want;
      }
      auto got = conn.receive_some(part_, pos, want);
      advance(i, got ? *got : got.error().body_bytes);
      if (!got) {
        return retry(got.error(), tries, worth_retrying(got.error())) ? step::new_request
                                                                      : step::stop;
      }
      tries = 0;
    }
  }

  void advance(std::size_t i, std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    range_state& r = ranges_[i];
    r.pos += bytes;
    r.reserved = r.pos;
    received_ += bytes;
    if (options_.on_progress) options_.on_progress(received_);
    const auto now = std::chrono::steady_clock::now();
    if (now - recorded_at_ >= checkpoint_interval) {
      recorded_at_ = now;
      // A failed record is not fatal here: the last one that worked stays, and the final record
      // at the end reports its error.
      (void)record_locked();
    }
  }

  // Whether to ask again: counts the try and waits the backoff; false when the download is over
  // (this failure ended it, or another thread's did, or the caller stopped it).
  bool retry(const client_error& e, int& tries, bool transient) {
    if (stop_.stop_requested()) return false;
    if (e.what == client_error::kind::cancelled) {
      stop_with(ending::cancelled, std::nullopt);
      return false;
    }
    if (!transient || ++tries > max_tries) {
      download_error failed{e, true};
      if (tries > max_tries) {
        failed.error.message += " (" + std::to_string(max_tries) + " tries for one range)";
      }
      stop_with(ending::failed, std::move(failed));
      return false;
    }
    const auto wait = std::min<std::chrono::milliseconds>(250ms * (1 << (tries - 1)), 4s);
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, stop_.get_token(), wait, [] { return false; });
    return !stop_.stop_requested();
  }

  void stop_with(ending how, std::optional<download_error> error) {
    {
      std::lock_guard lock(mutex_);
      if (end_ == ending::complete) {
        end_ = how;
        error_ = std::move(error);
      }
    }
    stop_.request_stop();
    wake_.notify_all();
  }

  // A range for a thread that finished its own: one nobody owns, else the second half of the
  // largest range still being received (its owner stops where the first half ends).
  std::optional<std::size_t> next_range_locked() {
    for (std::size_t i = 0; i < ranges_.size(); ++i) {
      if (!ranges_[i].owned && ranges_[i].pos < ranges_[i].end) {
        ranges_[i].owned = true;
        return i;
      }
    }
    std::optional<std::size_t> victim;
    std::uint64_t largest = 0;
    for (std::size_t i = 0; i < ranges_.size(); ++i) {
      const range_state& r = ranges_[i];
      const std::uint64_t base = std::max(r.pos, r.reserved);
      if (r.owned && r.end > base && r.end - base > largest) {
        largest = r.end - base;
        victim = i;
      }
    }
    if (!victim || largest < 2 * min_range) return std::nullopt;
    range_state& v = ranges_[*victim];
    const std::uint64_t base = std::max(v.pos, v.reserved);
    const std::uint64_t mid = (base + largest / 2) / split_alignment * split_alignment;
    if (mid <= base) return std::nullopt;
    const std::uint64_t end = v.end;
    v.end = mid;  // before the push_back, which may move `v`
    ranges_.push_back({mid, end, mid, true});
    return ranges_.size() - 1;
  }

  std::vector<byte_span> missing_locked() const {
    std::vector<byte_span> out;
    for (const range_state& r : ranges_) {
      if (r.pos < r.end) out.push_back({r.pos, r.end});
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
  }

  std::error_code record_locked() {
    part_meta m = meta_;
    m.todo = missing_locked();
    return write_part_meta(where_.dir, where_.meta_name, m);
  }

  const url& target_;
  const download_options& options_;
  const ranged_target& where_;
  const int part_;
  const part_meta meta_;
  const unsigned connections_;
  const bool auto_;  // -x auto: connections_ is where it starts; grow() adds more

  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  std::stop_source stop_;
  std::vector<range_state> ranges_;
  std::uint64_t received_ = 0;
  std::size_t active_ = 0;  // threads in work()
  std::chrono::steady_clock::time_point recorded_at_ = std::chrono::steady_clock::now();
  ending end_ = ending::complete;
  std::optional<download_error> error_;
};

std::uint64_t sum(const std::vector<byte_span>& todo) {
  std::uint64_t n = 0;
  for (const byte_span& r : todo) n += r.end - r.first;
  return n;
}

// FILE.part at the full size up front: space runs out before the first byte rather than in the
// middle, and every range has its place. fallocate where the filesystem has it, else a sparse
// ftruncate.
std::error_code preallocate(int fd, std::uint64_t size) {
  if (size == 0) return {};
  auto a = sys::fallocate(fd, 0, 0, static_cast<off_t>(size));
  if (a) return {};
  if (a.error() != std::errc::operation_not_supported) return a.error();
  auto t = sys::ftruncate(fd, static_cast<off_t>(size));
  return t ? std::error_code{} : t.error();
}

}  // namespace

std::expected<ranged_outcome, download_error> download_ranged(const url& target,
                                                              const download_options& options,
                                                              const ranged_target& where,
                                                              bool part_exists,
                                                              std::optional<part_meta> resume) {
  const std::string kept = "; '" + where.part_path.string() + "' kept (resume with -c)";
  for (int attempt = 0;; ++attempt) {
    part_meta meta;
    unique_fd part;
    std::optional<response> first;
    if (resume) {
      // Continue only the part the meta describes: a regular file of the meta's size.
      auto opened = unique_fd::openat(where.dir, where.part_name.c_str(),
                                      O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
      if (opened) {
        auto st = sys::fstat(opened->get());
        if (st && S_ISREG(st->st_mode) && static_cast<std::uint64_t>(st->st_size) == resume->size &&
            !resume->validator().empty()) {
          part = std::move(*opened);
          meta = *resume;
        }
      }
      resume.reset();
    }
    if (!part) {
      request_options request = options.request;
      request.range_from = 0;
      request.range_to.reset();
      request.if_range.clear();
      auto got = fetch(target, request);
      if (!got) return std::unexpected(download_error{got.error(), part_exists});
      const response_head& head = got->head();
      // "bytes=0-" is not satisfiable only for an empty file: a plain request on one connection.
      if (head.status == 416) return ranged_outcome{};
      if (head.status != 206) return ranged_outcome{std::nullopt, std::move(*got)};
      const std::string shown(head.header("content-range").value_or(""));
      const auto range = parse_content_range(shown);
      if (!range || range->first != 0 || !range->total || head.chunked || !head.content_length ||
          *head.content_length != *range->last + 1) {
        return failure(
            client_error::kind::protocol, make_error_code(std::errc::protocol_error),
            head.status_line + " with Content-Range '" + shown + "' does not answer \"bytes=0-\"",
            part_exists);
      }
      meta = part_meta{got->final_url().text(), std::string(head.header("etag").value_or("")),
                       std::string(head.header("last-modified").value_or(""))};
      // Without a validator, ranges on several connections could come from two versions of the
      // file: one connection, from the start.
      if (meta.validator().empty()) return ranged_outcome{};
      meta.size = *range->total;
      meta.todo = {{0, *range->total}};
      if (part_exists) {
        if (auto r = sys::unlinkat(where.dir, where.part_name.c_str(), 0); !r) {
          return failure(client_error::kind::io, r.error(),
                         "remove '" + where.part_path.string() + "': " + r.error().message(), true);
        }
      }
      auto created = unique_fd::openat(where.dir, where.part_name.c_str(),
                                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0666);
      if (!created) {
        return failure(client_error::kind::io, created.error(),
                       "create '" + where.part_path.string() + "': " + created.error().message(),
                       false);
      }
      part = std::move(*created);
      part_exists = true;
      if (auto e = preallocate(part.get(), *meta.size); e) {
        // Nothing of the body is in it yet: no part is left for -c to find.
        part.reset();
        (void)sys::unlinkat(where.dir, where.part_name.c_str(), 0);
        return failure(client_error::kind::io, e,
                       "allocate " + std::to_string(*meta.size) + " bytes for '" +
                           where.part_path.string() + "': " + e.message(),
                       false);
      }
      first = std::move(*got);
    }
    if (auto e = write_part_meta(where.dir, where.meta_name, meta); e) {
      return failure(client_error::kind::io, e,
                     "write '" + where.meta_name + "': " + e.message() + kept, true);
    }
    const std::uint64_t total = *meta.size;
    const std::uint64_t already = total - sum(meta.todo);
    if (options.on_start) options.on_start(already, total);

    ranged_run job(target, options, where, part.get(), meta, options.connections);
    const ending how = job.run(std::move(first));
    if (how == ending::changed) {
      if (attempt < max_restarts) continue;  // from the first request, afresh
      return failure(client_error::kind::protocol, make_error_code(std::errc::protocol_error),
                     "the file changed on the server during the download, " +
                         std::to_string(max_restarts + 1) + " times",
                     true);
    }
    if (how != ending::complete) {
      const std::error_code recorded = job.record();
      if (how == ending::cancelled) {
        return failure(client_error::kind::cancelled, errc::cancelled, "interrupted", true);
      }
      download_error e = job.error();
      e.part_kept = true;
      e.error.message += kept;
      if (recorded)
        e.error.message += " (its meta could not be updated: " + recorded.message() + ")";
      return std::unexpected(std::move(e));
    }
    if (auto c = part.close(); c) {
      return failure(client_error::kind::io, c,
                     "close '" + where.part_path.string() + "': " + c.message() + kept, true);
    }
    if (auto bad =
            verify_part(options, where.dir, where.part_name, where.meta_name, where.part_path)) {
      return std::unexpected(std::move(*bad));
    }
    if (auto r =
            sys::renameat2(where.dir, where.part_name.c_str(), where.dir, where.name.c_str(), 0);
        !r) {
      return failure(client_error::kind::io, r.error(),
                     "rename '" + where.part_path.string() + "': " + r.error().message() + kept,
                     true);
    }
    (void)sys::unlinkat(where.dir, where.meta_name.c_str(), 0);
    download_result result;
    result.file = where.file;
    result.size = total;
    result.received = job.received();
    result.resumed_at = already;
    return ranged_outcome{std::move(result), std::nullopt};
  }
}

}  // namespace zcopy::http
