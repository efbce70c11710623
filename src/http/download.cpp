#include "http/download.hpp"

#include <fcntl.h>

#include <string>
#include <string_view>
#include <utility>

#include "core/destination.hpp"
#include "http/part_meta.hpp"
#include "http/ranged_download.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy::http {

namespace {

namespace fs = std::filesystem;
using detail::destination;

// A server that answers every range with a few bytes less than asked is asked again; this many
// answers in one run without reaching the end is a server not worth following further.
constexpr int max_range_rounds = 64;

std::unexpected<download_error> failed(client_error::kind what, std::error_code code,
                                       std::string message, bool part_kept = false) {
  return std::unexpected(
      download_error{client_error{what, code, std::move(message), 0}, part_kept});
}

std::unexpected<download_error> local_failure(std::error_code code, std::string_view operation,
                                              const fs::path& path, bool part_kept = false) {
  return failed(client_error::kind::io, code,
                std::string(operation) + " '" + path.string() + "': " + code.message(), part_kept);
}

// The bytes of a complete FILE copied into a new FILE.part (reflink or copy_file_range: no
// user-space copy), so that FILE stays whole while the server's additional bytes are appended.
std::error_code copy_into_part(int dir, const std::string& file_name, int part) {
  auto src = unique_fd::openat(dir, file_name.c_str(), O_RDONLY | O_NOFOLLOW | O_NOCTTY);
  if (!src) return src.error();
  transfer_options t;
  t.source_offset = 0;
  t.sink_offset = 0;
  const transfer_result r = transfer(src->get(), part, t);
  return r.error;
}

// One GET of the sequence a download may take (a range answered short is asked again).
struct round_plan {
  std::uint64_t have = 0;   // bytes already in FILE.part (or FILE, when `whole_file`)
  bool whole_file = false;  // a complete FILE is being checked (-c without FILE.part)
  std::string if_range;
};

class downloader {
 public:
  downloader(const url& target, const download_options& options)
      : target_(target), options_(options) {}

  std::expected<download_result, download_error> run(const fs::path& file, int depth = 0);
  std::expected<download_result, download_error> run_at(int dir, const std::string& name,
                                                        const fs::path& shown);

 private:
  std::expected<download_result, download_error> into_special(int dir, const std::string& name,
                                                              const destination& at);
  std::expected<download_result, download_error> into_part(int dir, const std::string& name,
                                                           const fs::path& file,
                                                           const destination& at);

  const url& target_;
  const download_options& options_;
};

std::expected<download_result, download_error> downloader::run(const fs::path& file, int depth) {
  const std::string name = file.filename().string();
  if (name.empty() || name == "." || name == "..") {
    return local_failure(make_error_code(std::errc::is_a_directory), "open", file);
  }
  const fs::path parent = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  auto dir = unique_fd::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (!dir) return local_failure(dir.error(), "open", parent);
  // Before any request: a FILE that cannot take the download is refused before the first byte.
  auto at = detail::look_at_destination(dir->get(), name, file, true);
  if (!at) return local_failure(at.error().second, to_string(at.error().first), file);
  switch (at->what) {
    case destination::kind::directory:
      return local_failure(make_error_code(std::errc::is_a_directory), "open", file);
    case destination::kind::dangling:
      return local_failure(make_error_code(std::errc::no_such_file_or_directory),
                           "not writing through dangling symlink", file);
    case destination::kind::linked:
      // The file a symlink at FILE names gets the download (FILE.part beside it), as curl writes
      // through the link; look_at_destination has bounded the chain.
      if (depth > 0) break;
      return run(at->target, depth + 1);
    case destination::kind::special:
      return into_special(dir->get(), name, *at);
    default:
      break;
  }
  return into_part(dir->get(), name, file, *at);
}

std::expected<download_result, download_error> downloader::run_at(int dir, const std::string& name,
                                                                  const fs::path& shown) {
  auto at = detail::look_at_destination(dir, name, shown, false);
  if (!at) return local_failure(at.error().second, to_string(at.error().first), shown);
  if (at->what != destination::kind::absent && at->what != destination::kind::regular) {
    return failed(client_error::kind::io, make_error_code(std::errc::file_exists),
                  "'" + shown.string() +
                      "' is not a regular file (a symlink, directory or special file there is "
                      "never written through or replaced); remove it");
  }
  return into_part(dir, name, shown, *at);
}

std::expected<download_result, download_error> downloader::into_special(int dir,
                                                                        const std::string& name,
                                                                        const destination& at) {
  request_options request = options_.request;
  request.range_from.reset();
  request.if_range.clear();
  auto response = fetch(target_, request);
  if (!response) return std::unexpected(download_error{response.error(), false});
  const response_head& head = response->head();
  if (head.status / 100 != 2) {
    return failed(client_error::kind::status, {}, head.status_line);
  }
  auto out = detail::open_in_place(dir, name, at, request.stop);
  if (!out) {
    if (out.error().second == errc::cancelled) {
      return failed(client_error::kind::cancelled, errc::cancelled, "interrupted");
    }
    return local_failure(out.error().second, to_string(out.error().first), name);
  }
  if (options_.on_start) options_.on_start(0, head.content_length);
  auto received = response->receive_body(out->first.get(), std::nullopt, options_.on_progress);
  if (!received) return std::unexpected(download_error{received.error(), false});
  if (auto c = out->first.close(); c) return local_failure(c, "close", name);
  download_result result;
  result.file = name;
  result.size = result.received = *received;
  result.in_place = true;
  return result;
}

std::expected<download_result, download_error> downloader::into_part(int dir,
                                                                     const std::string& name,
                                                                     const fs::path& file,
                                                                     const destination& at) {
  const std::string part_name = name + ".part";
  const std::string meta_name = part_name + ".meta";
  const fs::path part_path = file.string() + ".part";
  const fs::path meta_path = part_path.string() + ".meta";

  // FILE.part must be a regular file or nothing: a symlink or a special file planted there is
  // refused, never written through or removed.
  auto part_stat = sys::fstatat(dir, part_name.c_str(), AT_SYMLINK_NOFOLLOW);
  if (!part_stat && part_stat.error() != std::errc::no_such_file_or_directory) {
    return local_failure(part_stat.error(), "stat", part_path);
  }
  if (part_stat && !S_ISREG(part_stat->st_mode)) {
    return failed(client_error::kind::io, make_error_code(std::errc::file_exists),
                  "'" + part_path.string() +
                      "' is not a regular file (a symlink or special file there is never "
                      "written through); remove it");
  }
  bool part_exists = part_stat.has_value();

  // Several connections, or a part that several connections left (its meta lists what is
  // missing; its length is the full size, so only the ranged path can continue it). A part one
  // connection left, or a complete FILE under -c, is continued by one connection.
  const part_meta old_meta =
      options_.resume && part_exists ? read_part_meta(dir, meta_name) : part_meta{};
  const bool sequential_resume =
      options_.resume && (part_exists ? !old_meta.ranged() && part_stat->st_size > 0
                                      : at.what == destination::kind::regular && at.st.st_size > 0);
  std::optional<response> first;
  if (old_meta.ranged() || (options_.connections != 1 && !sequential_resume)) {
    auto ranged =
        download_ranged(target_, options_, {dir, name, part_name, meta_name, file, part_path},
                        part_exists, old_meta.ranged() ? std::optional(old_meta) : std::nullopt);
    if (!ranged) return std::unexpected(std::move(ranged.error()));
    if (ranged->done) return std::move(*ranged->done);
    // Not a ranged answer: one connection takes it from here (from the start, the body of a
    // 200 in hand when there is one).
    first = std::move(ranged->first);
    part_stat = sys::fstatat(dir, part_name.c_str(), AT_SYMLINK_NOFOLLOW);
    part_exists = part_stat.has_value();
  }

  round_plan plan;
  if (options_.resume && !old_meta.ranged()) {
    if (part_stat && part_stat->st_size > 0) {
      plan.have = static_cast<std::uint64_t>(part_stat->st_size);
      plan.if_range = read_part_meta(dir, meta_name).validator();
    } else if (at.what == destination::kind::regular && at.st.st_size > 0) {
      plan.have = static_cast<std::uint64_t>(at.st.st_size);
      plan.whole_file = true;
    }
  }

  download_result result;
  result.file = file;
  result.resumed_at = plan.have;
  std::uint64_t received_total = 0;
  bool started = false;
  for (int round = 0;; ++round) {
    if (round == max_range_rounds) {
      return failed(client_error::kind::protocol, make_error_code(std::errc::protocol_error),
                    "the server answered " + std::to_string(round) +
                        " ranges without reaching the end of the file; '" + part_path.string() +
                        "' kept (resume with -c)",
                    true);
    }
    request_options request = options_.request;
    request.range_from.reset();
    request.if_range.clear();
    if (plan.have > 0) {
      request.range_from = plan.have;
      request.if_range = plan.if_range;
    }
    auto response = first ? std::expected<http::response, client_error>(std::move(*first))
                          : fetch(target_, request);
    first.reset();
    if (!response) return std::unexpected(download_error{response.error(), part_exists});
    const response_head& head = response->head();
    const auto range = head.header("content-range").and_then([](std::string_view v) {
      return parse_content_range(v);
    });

    // -c: nothing is missing when the server says the file is as long as what is here.
    if (head.status == 416 && plan.have > 0 && range && !range->first &&
        range->total == plan.have) {
      if (!plan.whole_file) {
        if (auto bad = verify_part(options_, dir, part_name, meta_name, part_path)) {
          return std::unexpected(std::move(*bad));
        }
        if (auto r = sys::renameat2(dir, part_name.c_str(), dir, name.c_str(), 0); !r) {
          return local_failure(r.error(), "rename", part_path, true);
        }
        (void)sys::unlinkat(dir, meta_name.c_str(), 0);
      }
      result.size = plan.have;
      result.already_complete = round == 0;
      result.received = received_total;
      return result;
    }
    if (head.status / 100 != 2) {
      return failed(client_error::kind::status, {}, head.status_line, part_exists);
    }

    std::uint64_t offset = 0;
    std::optional<std::uint64_t> length = head.content_length;  // of this body
    std::optional<std::uint64_t> total = head.content_length;   // of the file
    if (head.status == 206) {
      const std::string shown(head.header("content-range").value_or(""));
      if (plan.have == 0 || !range || !range->first || *range->first != plan.have) {
        return failed(client_error::kind::protocol, make_error_code(std::errc::protocol_error),
                      head.status_line + " with an unexpected Content-Range '" + shown + "'",
                      part_exists);
      }
      // RFC 9110 §14.4: the body is exactly the range; a Content-Length that says otherwise makes
      // one of the two a lie, and no byte of it is written.
      const std::uint64_t range_length = *range->last - *range->first + 1;
      if (head.content_length && *head.content_length != range_length) {
        return failed(client_error::kind::protocol, make_error_code(std::errc::protocol_error),
                      head.status_line + ": Content-Length " +
                          std::to_string(*head.content_length) + " contradicts Content-Range '" +
                          shown + "'",
                      part_exists);
      }
      offset = plan.have;
      length = range_length;
      total = range->total;
    } else if (head.no_body) {
      return failed(client_error::kind::protocol, make_error_code(std::errc::protocol_error),
                    head.status_line + " carries no body to save", part_exists);
    }
    // A 200 after a range request: the server ignored it, or If-Range said the file changed.
    // Either way the body is the whole file, written from 0 over what was there.

    // FILE.part: created afresh (O_EXCL: nothing planted there since the look is written
    // through) for a body from 0, else opened without following a symlink and checked to be the
    // regular file of the size resumed.
    unique_fd part;
    if (offset == 0 || plan.whole_file) {
      if (part_exists) {
        if (auto r = sys::unlinkat(dir, part_name.c_str(), 0); !r) {
          return local_failure(r.error(), "remove", part_path);
        }
      }
      auto created = unique_fd::openat(dir, part_name.c_str(),
                                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0666);
      if (!created) return local_failure(created.error(), "create", part_path);
      part = std::move(*created);
      part_exists = true;
      if (offset > 0) {
        // A complete FILE the server says has grown: its bytes start the part, FILE stays whole.
        if (auto e = copy_into_part(dir, name, part.get()); e) {
          return local_failure(e, "copy", file, true);
        }
        plan.whole_file = false;
      }
    } else {
      auto opened =
          unique_fd::openat(dir, part_name.c_str(), O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
      if (!opened) return local_failure(opened.error(), "open", part_path, true);
      auto st = sys::fstat(opened->get());
      if (!st) return local_failure(st.error(), "stat", part_path, true);
      if (!S_ISREG(st->st_mode) || static_cast<std::uint64_t>(st->st_size) != offset) {
        return failed(client_error::kind::io,
                      make_error_code(std::errc::resource_unavailable_try_again),
                      "'" + part_path.string() + "' changed during the download", true);
      }
      part = std::move(*opened);
    }
    part_meta meta{response->final_url().text(), std::string(head.header("etag").value_or("")),
                   std::string(head.header("last-modified").value_or(""))};
    if (head.status == 206 && meta.validator().empty()) meta = read_part_meta(dir, meta_name);
    if (auto e = options_.keep_meta ? write_part_meta(dir, meta_name, meta) : std::error_code{};
        e) {
      return local_failure(e, "write", meta_path, true);
    }

    if (!started && options_.on_start) options_.on_start(offset, total);
    started = true;
    const std::uint64_t base = received_total;
    auto progress = [&](std::uint64_t bytes) {
      if (options_.on_progress) options_.on_progress(base + bytes);
    };
    auto received = response->receive_body(part.get(), offset, progress);
    if (!received) {
      download_error e{received.error(), true};
      e.error.message += "; '" + part_path.string() + "' kept (resume with -c)";
      return std::unexpected(std::move(e));
    }
    // A body longer than its range (chunked or ended by the close, so nothing limited it) has
    // written past where the range ends: none of this answer can be trusted, and it is cut off.
    if (length && *received != *length) {
      const bool longer = *received > *length;
      if (longer) (void)sys::ftruncate(part.get(), static_cast<off_t>(offset));
      return failed(client_error::kind::protocol, make_error_code(std::errc::protocol_error),
                    head.status_line + ": " + std::to_string(*received) +
                        " body bytes where the head announced " + std::to_string(*length) + "; '" +
                        part_path.string() + "' kept (resume with -c)",
                    true);
    }
    received_total += *received;
    const std::uint64_t size = offset + *received;
    if (auto c = part.close(); c) return local_failure(c, "close", part_path, true);
    if (head.status == 206 && total && size < *total) {
      plan.have = size;
      plan.if_range = meta.validator();
      continue;
    }
    if (total && size != *total) {
      return failed(client_error::kind::short_body, errc::unexpected_eof,
                    "the file has " + std::to_string(size) + " of " + std::to_string(*total) +
                        " bytes; '" + part_path.string() + "' kept (resume with -c)",
                    true);
    }
    if (auto bad = verify_part(options_, dir, part_name, meta_name, part_path)) {
      return std::unexpected(std::move(*bad));
    }
    if (auto r = sys::renameat2(dir, part_name.c_str(), dir, name.c_str(), 0); !r) {
      return local_failure(r.error(), "rename", part_path, true);
    }
    (void)sys::unlinkat(dir, meta_name.c_str(), 0);
    result.size = size;
    result.received = received_total;
    return result;
  }
}

}  // namespace

std::expected<download_result, download_error> download(const url& target,
                                                        const std::filesystem::path& file,
                                                        const download_options& options) {
  return downloader(target, options).run(file);
}

std::expected<download_result, download_error> download_at(const url& target, int dir,
                                                           const std::string& name,
                                                           const std::filesystem::path& shown,
                                                           const download_options& options) {
  return downloader(target, options).run_at(dir, name, shown);
}

std::optional<download_error> verify_part(const download_options& options, int dir,
                                          const std::string& part_name,
                                          const std::string& meta_name,
                                          const fs::path& part_shown) {
  if (!options.verify) return std::nullopt;
  auto part = unique_fd::openat(dir, part_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  std::string why =
      part ? options.verify(part->get())
           : "reopen '" + part_shown.string() + "' to check it: " + part.error().message();
  if (why.empty()) return std::nullopt;
  (void)sys::unlinkat(dir, part_name.c_str(), 0);
  (void)sys::unlinkat(dir, meta_name.c_str(), 0);
  return download_error{
      client_error{client_error::kind::protocol, make_error_code(std::errc::protocol_error),
                   why + "; '" + part_shown.string() + "' removed", 0},
      false};
}

}  // namespace zcopy::http
