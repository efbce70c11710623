// A directory tree over HTTP into a local directory (`zcopy get -r URL/ -o DIR`), read from JSON
// listings (remote_listing.hpp: nginx's autoindex_format json, zcopy serve's
// --autoindex-format json).
//
// The walk: each directory's listing is fetched (its URL ends in '/'); its subdirectories are
// made under DIR and walked in turn, its files handed to `jobs` threads that fetch them at once,
// each with download_at() (NAME.part renamed to NAME when complete; from 1 MiB on resumable with
// `resume`, smaller ones fetched whole again, without a meta;
// files of at least `ranged_from` bytes over `connections` connections). Requests share a pool of
// keep-alive connections, so a tree of small files costs no new connection per file. A file already
// there with the listing's size and modification time is left alone. Modification times from the
// listing are set on every file fetched and, at the end, on every directory.
//
// With `checksum`, the content decides instead, wherever the server offers a digest: a directory
// whose listing has a SHA256SUMS (digest.hpp) gets it first, a file already there is left alone
// only if its SHA-256 is the listed one (whatever its time says), and a fetched file must have it
// before NAME.part becomes NAME (a mismatch is a failure, and NAME stays as it was). Files the
// server gives no digest for are judged by size and time, and counted.
//
// Never outside DIR: names are checked one component at a time (remote_listing.hpp refuses
// "..", '/', NUL, overlong and duplicate names); every directory is made with mkdirat() in its
// parent's descriptor and opened with O_NOFOLLOW, so a symlink planted anywhere in DIR is refused,
// never followed; files are created in their directory's descriptor and never written through a
// symlink (download_at). A refused entry or a failed file is reported and the walk goes on; only
// DIR itself and the first listing are fatal. Limits bound what a hostile server can make the
// client do: `max_entries` across the tree, `max_depth` levels, `max_listing_bytes` per listing.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "http/client.hpp"
#include "http/download.hpp"

namespace zcopy::http {

struct mirror_options {
  // For every request and file: timeouts, the stop token, resume (-c), connections (-x).
  download_options file;
  unsigned jobs = 4;                                    // files fetched at once (-j)
  std::uint64_t ranged_from = std::uint64_t{64} << 20;  // smaller files get one connection
  std::size_t max_entries = 1'000'000;
  unsigned max_depth = 64;
  std::uint64_t max_listing_bytes = std::uint64_t{64} << 20;  // a SHA256SUMS too
  bool checksum = false;  // --checksum: SHA256SUMS digests decide (above)
};

struct mirror_event {
  enum class kind { fetched, up_to_date, failed, refused };
  kind what = kind::fetched;
  std::string path;         // relative to DIR ("sub/a.txt"; a directory ends in '/')
  std::uint64_t bytes = 0;  // fetched: body bytes received
  std::string message;      // failed, refused: why
};

struct mirror_result {
  std::uint64_t fetched = 0, up_to_date = 0, failed = 0, refused = 0;
  std::uint64_t directories = 0;  // made or found, DIR included
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_total = 0;     // of every file in the tree, as listed
  std::uint64_t checked = 0;         // --checksum: files found or fetched with the server's digest
  std::uint64_t without_digest = 0;  // --checksum: files the server offers no digest for
  std::vector<mirror_event> problems;  // failed and refused, in the order they happened
  bool cancelled = false;              // the stop token ended the walk
};

// `on_event` (may be empty) is called for every file and refused entry, one call at a time.
std::expected<mirror_result, client_error> mirror(
    const url& root, const std::filesystem::path& dir, const mirror_options& options,
    std::function<void(const mirror_event&)> on_event = {});

}  // namespace zcopy::http
