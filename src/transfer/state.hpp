// The transfer engine's internals: the state one transfer keeps between steps, and the step
// functions, one per mechanism (one file each in src/transfer).
//
// A step issues one system call or a short bounded series of them and reports what happened in
// terms the engine can act on: bytes that reached the sink, and whether the source ended, an end
// would block, the method is not supported for this pair (fall back) or a real error occurred.
// Steps never decide about fallbacks; the engine does (engine.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <system_error>
#include <vector>

#include "zcopy/aligned_buffer.hpp"
#include "zcopy/error.hpp"
#include "zcopy/fd.hpp"
#include "zcopy/mapping.hpp"
#include "zcopy/pipe.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy::detail {

enum class step_kind {
  progressed,     // moved some bytes (maybe zero, when only the source side advanced)
  end_of_source,  // the source returned 0
  blocked_read,   // the source has nothing now (EAGAIN)
  blocked_write,  // the sink takes nothing now (EAGAIN)
  unsupported,    // this method cannot do it here: fall back (error says why)
  failed,         // a real error: stop (error says why)
};

struct step_outcome {
  std::uint64_t moved = 0;  // bytes that reached the sink during the step
  step_kind kind = step_kind::progressed;
  std::error_code error;

  static step_outcome progress(std::uint64_t n) { return {n, step_kind::progressed, {}}; }
  static step_outcome eof(std::uint64_t n = 0) { return {n, step_kind::end_of_source, {}}; }
  static step_outcome blocked(step_kind k, std::uint64_t n = 0) { return {n, k, {}}; }
  static step_outcome unsupported(std::error_code ec, std::uint64_t n = 0) {
    return {n, step_kind::unsupported, ec};
  }
  static step_outcome failed(std::error_code ec, std::uint64_t n = 0) {
    return {n, step_kind::failed, ec};
  }
};

struct side {
  endpoint_info info;
  bool positional = false;                 // offsets tracked here (seekable and not O_APPEND)
  bool explicit_offset = false;            // the caller gave one: leave the kernel position alone
  std::uint64_t start = 0;                 // offset at the start of the transfer
  std::uint64_t offset = 0;                // next offset (positional sides only)
  std::optional<std::uint64_t> kernel_at;  // the kernel's file position, when known
  std::optional<std::uint64_t> original_position;  // to restore, once an explicit-offset side
                                                   // had its position moved (sendfile to a file)
  int fd() const noexcept { return info.fd; }
};

struct transfer_state {
  transfer_options options;
  side src;
  side dst;
  std::vector<method> chain;
  std::size_t chain_index = 0;
  bool size_known = false;                 // src has a trustworthy size
  std::uint64_t expected_end = 0;          // src offset where the transfer ends (size_known)
  std::optional<std::uint64_t> remaining;  // bytes still to move; none: until end of source
  std::uint64_t method_moved = 0;          // bytes the current method moved
  std::uint64_t dst_size_at_start = 0;
  transfer_result result;
  bool finished = false;

  // splice through an intermediate pipe
  pipe_pair pipe;
  std::size_t pipe_inside = 0;

  // buffered methods (read_write, direct_io): bytes read but not yet written
  std::vector<std::byte> buffer;
  aligned_buffer dio_buffer;
  std::byte* pending = nullptr;
  std::size_t pending_size = 0;

  // mmap_write: the current window of the source
  mapping window;
  std::uint64_t window_offset = 0;

  // direct_io: O_DIRECT descriptors opened on the same files
  unique_fd direct_src;
  unique_fd direct_dst;
  std::uint32_t dio_align = 0;
  bool direct_ready = false;

  // sparse copies: the end of the source's current data segment
  bool sparse = false;
  std::uint64_t data_end = 0;
  bool holes_skipped = false;

  method current() const noexcept { return chain[chain_index]; }
  std::uint64_t in_flight() const noexcept { return pipe_inside + pending_size; }
  pipe_pool& pipes() const noexcept { return options.pipes ? *options.pipes : pipe_pool::shared(); }
  std::size_t chunk_or(std::size_t fallback) const noexcept {
    return options.chunk_size ? options.chunk_size : fallback;
  }
};

// A transfer of `budget` bytes at most, by one mechanism.
step_outcome step_read_write(transfer_state& st, std::uint64_t budget);
step_outcome step_mmap_write(transfer_state& st, std::uint64_t budget);
step_outcome step_sendfile(transfer_state& st, std::uint64_t budget);
step_outcome step_splice(transfer_state& st, std::uint64_t budget);
step_outcome step_copy_file_range(transfer_state& st, std::uint64_t budget);
step_outcome step_reflink(transfer_state& st, std::uint64_t budget);
step_outcome step_direct_io(transfer_state& st, std::uint64_t budget);
step_outcome step_io_uring(transfer_state& st, std::uint64_t budget);

// Writes the pending buffer to the sink (shared by the buffered methods). `direct` names an
// O_DIRECT descriptor for the sink (or -1) used for the aligned part.
step_outcome write_pending(transfer_state& st, int direct_fd = -1, std::uint32_t align = 0);

// Releases what a method holds when the engine leaves it (keeping bytes in flight safe).
void leave_method(transfer_state& st);

// What a 0 from the source means when nothing is in flight (engine.cpp's rules): the transfer is
// complete, the source was truncated under it, or this method cannot read it (fall back).
enum class eof_verdict { complete, truncated, fall_back };
eof_verdict judge_end_of_source(const transfer_state& st);
// Leaves the current method for the next one in the chain, from the current offsets (bytes a
// pipe holds are read again from a file, or kept for the buffered methods), recorded in the
// result's fallbacks with `why`. Returns `why` when the chain has no next method, or what went
// wrong rescuing the pipe.
std::error_code fall_back(transfer_state& st, std::error_code why);
// Adds a step's outcome to the result (bytes, per-method bytes, remaining, progress callback).
void account_step(transfer_state& st, method m, const step_outcome& out);
// Ends a transfer: trailing hole, the method's resources, the descriptors' positions.
void finish_transfer(transfer_state& st);

// uring_batch runs jobs' states on its own ring.
struct job_access {
  static transfer_state& state(transfer_job& job) noexcept { return *job.state_; }
};

// Process-wide availability of a mechanism (availability.cpp). Only ENOSYS and EPERM from seccomp
// are remembered; every other refusal is about one file or filesystem and is not cached.
bool method_available(method m) noexcept;
// Called when `m`'s system call failed with ENOSYS or EPERM: probes whether the call exists and
// remembers when it does not. Returns true when the method is now unavailable for the process.
bool note_refusal(method m, std::error_code ec) noexcept;
bool kernel_at_least(int major, int minor) noexcept;
void reset_availability_for_tests() noexcept;

}  // namespace zcopy::detail
