// The pipe-only mechanisms, callable on their own: tee(2) and vmsplice(2).
//
// tee duplicates bytes from one pipe into another without consuming them: one source, two
// consumers, no copy. vmsplice hands user pages to a pipe; from there splice moves them to a
// socket or file. Ownership: vmsplice does not copy. The kernel keeps references to the caller's
// pages until the consumer has read them (for a socket, until the stack has sent them), so the
// buffer must stay unchanged until then. `splice_memory` returns only after every byte left the
// pipe, which covers pipes and files; for sockets the pages may still be in flight (the same
// page-sharing caveat as sendfile, see transfer.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <system_error>

namespace zcopy {

// Duplicates up to `length` bytes waiting in pipe `in_read_fd` into pipe `out_write_fd`. Returns
// the count duplicated (0 when the input pipe is empty and its writers are gone). Blocks when the
// input is empty or the output full, unless `nonblocking`.
std::expected<std::size_t, std::error_code> tee(int in_read_fd, int out_write_fd,
                                                std::size_t length, bool nonblocking = false);

// Moves up to all of `data` into the pipe `pipe_write_fd` by reference. Returns the count taken.
std::expected<std::size_t, std::error_code> vmsplice(int pipe_write_fd,
                                                     std::span<const std::byte> data,
                                                     bool nonblocking = false);

// Sends all of `data` to `sink` (a socket, file or pipe) through vmsplice and splice with a pooled
// pipe. Falls back to write(2) when the sink refuses splice. Returns bytes sent.
std::expected<std::uint64_t, std::error_code> splice_memory(std::span<const std::byte> data,
                                                            int sink);

}  // namespace zcopy
