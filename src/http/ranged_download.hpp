// One file over several connections at once (`zcopy get -x N`): the file is cut into byte ranges,
// each fetched on its own connection with "Range: bytes=FIRST-LAST" and spliced socket → pipe →
// file at its own offset into one FILE.part preallocated to the full size.
//
// How it goes:
//   - the first request asks for "bytes=0-". A 206 with the file's size and a strong validator
//     (ETag, else Last-Modified) starts the ranged download: that first connection keeps
//     receiving the first range, the others ask for theirs with If-Range carrying the validator.
//     Any other answer (a 200 from a server that ignores Range, an error status) is handed back
//     for the one-connection path to take, so nothing is fetched twice; a 206 without a validator
//     is dropped and the one-connection path starts over (without a validator, ranges on several
//     connections could come from two versions of the file);
//   - with -x auto (connections 0) one connection starts; every 400 ms the rate is measured and
//     the connections doubled (each new one taking half of the largest range) while the last
//     doubling raised it by 15 % or more, up to 16: a long path gets several, loopback or a slow
//     disk stays at one or two;
//   - a connection that finishes its range takes half of the largest range still being received
//     (the other connection stops where its range now ends and drops its connection), so a slow
//     connection does not hold up the end;
//   - a range that fails (connect, timeout, a close before its end, a 5xx) is asked again from
//     where it stopped, after a backoff (0.25 s doubling to 4 s), up to 5 times in a row without
//     progress; then the download fails with FILE.part and its meta kept;
//   - every answer is checked against the first: a 200 to an If-Range request, or a 206 whose
//     Content-Range names another size, means the file changed on the server. The download then
//     starts over from the first request (twice at most), so FILE is never put together from two
//     versions;
//   - FILE.part.meta (part_meta.hpp) records the size and the ranges still missing about once a
//     second and when the download stops; `-c` continues from it (a killed client loses at most
//     what arrived since the last record, which is fetched again).
// Threads: one per connection, each blocked in its own poll; they share the range table under one
// mutex. The caller's stop token stops them all.
#pragma once

#include <expected>
#include <filesystem>
#include <optional>
#include <string>

#include "http/client.hpp"
#include "http/download.hpp"
#include "http/part_meta.hpp"

namespace zcopy::http {

// Where the download goes: FILE's directory and the names in it.
struct ranged_target {
  int dir = -1;
  std::string name, part_name, meta_name;
  std::filesystem::path file, part_path;
};

struct ranged_outcome {
  // Set when FILE is complete and renamed into place.
  std::optional<download_result> done;
  // Otherwise, the first answer when it was not a usable 206 (a 200, an error status): the
  // one-connection path receives it. Neither set: the one-connection path starts afresh.
  std::optional<response> first;
};

// `resume`: a ranged FILE.part.meta read for -c (FILE.part is continued from its missing ranges
// if it still has the meta's size); without it, FILE.part is started afresh. `part_exists` says
// whether a FILE.part is there now.
std::expected<ranged_outcome, download_error> download_ranged(const url& target,
                                                              const download_options& options,
                                                              const ranged_target& where,
                                                              bool part_exists,
                                                              std::optional<part_meta> resume);

}  // namespace zcopy::http
