// download: one URL into one file the way `zcopy get` promises it, on top of the client
// (client.hpp): the body spliced into FILE.part and renamed to FILE only when complete, resumable.
//
// Files: FILE is never a partial download. The body goes to FILE.part beside it; FILE.part.meta
// (URL, ETag, Last-Modified) is written next to it, by a temporary name renamed into place, when
// the body starts. Both are opened without following symlinks (a link planted at either name is
// refused, never written through) and FILE.part is created with O_EXCL. With `resume`, a
// FILE.part continues from its size with "Range: bytes=N-" and If-Range (the strong ETag, else
// Last-Modified), so that a file changed on the server comes back whole as a 200 and restarts at 0
// rather than being spliced from two versions; a complete FILE is checked the same way (a 416
// whose Content-Range total is its size means nothing is missing). A short body, a timeout or an
// interrupt keeps FILE.part and its meta; an error status before the body writes nothing.
//
// Ranges are held to their word: a 206 must start where it was asked to, carry a Content-Length
// equal to last − first + 1 (checked before the first byte lands), deliver exactly that many
// bytes, and the file must end at the Content-Range total; a server that sends a range shorter
// than the rest of the file is asked again from where it stopped. A body that contradicts its own
// head is cut back off FILE.part and reported.
//
// What stands at FILE decides the rest (core/destination.hpp): a directory is refused before the
// request, a symlink is followed to the file it names (FILE.part goes beside that file), and a
// device node, a FIFO or what /dev/stdout leads to is written into directly, with no FILE.part,
// no resume and no rename (`download_result::in_place`), as curl writes into it.
//
// With `connections` above 1 (or a FILE.part.meta that lists missing ranges), a regular FILE is
// fetched as byte ranges on several connections at once (ranged_download.hpp); a server that
// ignores ranges or gives no validator falls back to the one-connection path above.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <optional>

#include "http/client.hpp"
#include "http/url.hpp"

namespace zcopy::http {

struct download_options {
  // Timeouts, redirects, User-Agent and the stop token; range_from and if_range are the
  // download's to set.
  request_options request;
  bool resume = false;  // continue FILE.part, or check a complete FILE (-c)
  // Connections for one file (-x N): above 1, a server that answers ranges with a validator gets
  // the file as byte ranges fetched at once (ranged_download.hpp); others get one connection.
  // 0 is -x auto: one connection to start with, more added while each raises the rate.
  unsigned connections = 1;
  // Write FILE.part.meta beside a one-connection download, for -c to continue it. A caller that
  // never continues a file (get -r, for small files: it fetches them whole again) saves the
  // meta's create, write and rename per file; without a meta, -c would resume without If-Range.
  bool keep_meta = true;
  // Called before the first body byte: where the body starts in the file and the file's full size
  // where the server said it.
  std::function<void(std::uint64_t offset, std::optional<std::uint64_t> total)> on_start;
  // Body bytes written so far in this run (not counting `offset`).
  std::function<void(std::uint64_t bytes)> on_progress;
  // Checks a complete FILE.part (open for reading) before it is renamed to FILE: an empty string
  // passes it; anything else is why it fails, and FILE.part and its meta are then removed, never
  // renamed, and FILE is left as it was (get -r --checksum: the digest the server offers).
  std::function<std::string(int part)> verify;
};

struct download_result {
  std::filesystem::path file;  // where the bytes are: FILE, or the file a symlink at FILE names
  std::uint64_t size = 0;      // bytes in it
  std::uint64_t received = 0;  // body bytes this run
  std::uint64_t resumed_at = 0;
  bool already_complete = false;  // -c, and the server said nothing is missing
  bool in_place = false;          // written into a device, FIFO or /dev/stdout
};

// client_error's `message` is ready for "zcopy: get 'URL': <message>"; a failure that kept
// FILE.part for a later resume says so in `part_kept`.
struct download_error {
  client_error error;
  bool part_kept = false;
};

std::expected<download_result, download_error> download(const url& target,
                                                        const std::filesystem::path& file,
                                                        const download_options& options);

// The same into `name` inside the open directory `dir`, for a caller walking a tree it creates
// (`get -r`): nothing at `name` is followed. A regular file there is replaced (by the rename of
// NAME.part), anything else (a symlink, a directory, a device, a FIFO) is refused before the
// request. `shown` names the file in messages.
std::expected<download_result, download_error> download_at(const url& target, int dir,
                                                           const std::string& name,
                                                           const std::filesystem::path& shown,
                                                           const download_options& options);

// (For download and ranged_download.) Runs options.verify on DIR/PART_NAME (a failure to reopen it
// fails too); on a failure removes it and META_NAME and says why, naming PART_SHOWN.
std::optional<download_error> verify_part(const download_options& options, int dir,
                                          const std::string& part_name,
                                          const std::string& meta_name,
                                          const std::filesystem::path& part_shown);

}  // namespace zcopy::http
