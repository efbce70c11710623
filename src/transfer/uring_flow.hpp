// uring_flow: one transfer's rounds on an io_uring, shared by the engine's io_uring step
// (io_uring.cpp, one thread-local ring) and by uring_batch (many transfers on one ring).
//
// A round is the few entries one transfer has in flight at a time:
//   splice   file → pipe/socket/char device: up to `depth` pairs SPLICE(file@off → pipe) +
//            SPLICE(pipe → sink), all linked so they run in order. A short splice breaks the
//            chain (the kernel completes the rest with -ECANCELED); what stayed in the pipe is
//            counted in transfer_state::pipe_inside and drained first by the next round.
//   rw       reads at consecutive offsets (one for a stream source), then the writes;
//            READ_FIXED/WRITE_FIXED on registered buffers and files when the ring has them.
// The flow only queues entries and reads completions; who submits and waits is the caller's
// business, so one ring can carry many flows, and the ring can be anyone's: the engine's
// per-thread one, a batch's, or an event loop's (src/net/uring_server.cpp), where a flow's
// entries sit beside the loop's own. A `uring_lane` names the ring and the size of the rounds;
// the caller routes each completion whose user_data it gave to `complete`, then `settle`s the
// round and lets `judge_round` apply the engine's rules to it.
#pragma once

#ifdef ZCOPY_WITH_URING
#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <system_error>
#include <vector>

#include "core/uring.hpp"
#include "transfer/state.hpp"
#include "zcopy/aligned_buffer.hpp"

namespace zcopy::detail {

inline constexpr unsigned uring_max_depth = 8;

// A ring with the buffers (and the fixed-file table) its flows use: `groups` groups of `depth`
// buffers of `chunk` bytes, and two file slots per group. Registration is tried once; where the
// kernel refuses it (RLIMIT_MEMLOCK, an old kernel) the same memory serves plain READ/WRITE.
class uring_context {
 public:
  static std::expected<uring_context, std::error_code> create(unsigned entries, std::size_t chunk,
                                                              unsigned depth, unsigned groups);
  uring& ring() noexcept { return ring_; }
  std::size_t chunk() const noexcept { return chunk_; }
  unsigned depth() const noexcept { return depth_; }
  bool fixed() const noexcept { return fixed_; }
  std::byte* buffer(unsigned group, unsigned i) noexcept {
    return memory_.data() + (std::size_t{group} * depth_ + i) * chunk_;
  }
  unsigned buffer_index(unsigned group, unsigned i) const noexcept { return group * depth_ + i; }
  std::optional<unsigned> take_group() noexcept;
  void give_group(unsigned group) noexcept;
  // Puts the two descriptors in the group's fixed-file slots (2g, 2g+1); -1 empties a slot, so the
  // table holds no reference to a file once its transfer is over.
  std::error_code bind_files(unsigned group, int src, int dst);

 private:
  uring_context(uring r) noexcept : ring_(std::move(r)) {}
  uring ring_;
  aligned_buffer memory_;
  std::size_t chunk_ = 0;
  unsigned depth_ = 0;
  std::vector<bool> used_;
  bool fixed_ = false;
};

// Where a flow queues and how big its rounds are. The splice shape runs on any ring; the rw shape
// reads into a group of `buffers`' registered memory, so it needs a context.
struct uring_lane {
  io_uring* ring = nullptr;
  unsigned depth = 1;     // splice pairs, or reads, per round (at most uring_max_depth)
  std::size_t chunk = 0;  // bytes per pair or read; 0: a pipe's capacity per pair
  uring_context* buffers = nullptr;
};

inline uring_lane lane_of(uring_context& ctx) noexcept {
  return {ctx.ring().get(), ctx.depth(), ctx.chunk(), &ctx};
}

enum class flow_shape { splice, rw };

// Which shape serves this pair on io_uring, or why none does (a missing opcode: fall back).
std::expected<flow_shape, std::error_code> uring_shape_for(const transfer_state& st);

class uring_flow {
 public:
  uring_flow(flow_shape shape, unsigned group) noexcept : shape_(shape), group_(group) {}

  // Queues the next round for at most `budget` bytes. Entries carry `tag << 8 | index` as
  // user_data. Returns the entries queued (0: nothing to do). The ring must have room for
  // `max_entries()` entries: a chain cut by a full queue would link into foreign entries.
  std::expected<unsigned, std::error_code> queue(const uring_lane& lane, transfer_state& st,
                                                 std::uint64_t budget, std::uint64_t tag);
  // One completion of this flow's round.
  void complete(unsigned index, int res) noexcept;
  bool in_flight() const noexcept { return done_ < ops_; }
  bool idle() const noexcept { return phase_ == phase::idle; }  // no round queued or unsettled
  // After every completion of the round: either queues the writes that follow the reads
  // (returns nullopt) or says what the round did.
  std::optional<step_outcome> settle(const uring_lane& lane, transfer_state& st, std::uint64_t tag);
  unsigned max_entries(const uring_lane& lane) const noexcept { return 2 * lane.depth + 1; }
  unsigned group() const noexcept { return group_; }
  // A non-blocking sink said EAGAIN: the next drain waits for POLLOUT first (linked POLL_ADD).
  // A caller that waits for room its own way turns that off.
  void poll_before_drain(bool on) noexcept { poll_first_ = on; }
  bool polls_before_drain() const noexcept { return poll_first_; }
  // The result of the POLL_ADD the last drain waited on, if it had one. A mask without POLLOUT
  // means the poll woke for something else: POLLRDHUP, which the kernel adds to every poll and
  // which stays once a peer half-closed.
  std::optional<int> last_poll() const noexcept { return last_poll_; }

 private:
  enum class phase { idle, pairs, drain, reads, writes };
  std::expected<unsigned, std::error_code> queue_writes(const uring_lane& lane, transfer_state& st,
                                                        std::uint64_t tag);
  step_outcome settle_pairs(transfer_state& st);
  step_outcome settle_drain(transfer_state& st);
  std::optional<step_outcome> settle_reads(const uring_lane& lane, transfer_state& st,
                                           std::uint64_t tag);
  step_outcome settle_writes(const uring_lane& lane, transfer_state& st);

  flow_shape shape_;
  unsigned group_;
  phase phase_ = phase::idle;
  unsigned ops_ = 0;
  unsigned done_ = 0;
  bool poll_first_ = false;
  bool polled_ = false;  // the round in flight starts with a POLL_ADD
  std::optional<int> last_poll_;
  std::array<int, 2 * uring_max_depth + 1> res_{};
  std::array<std::size_t, uring_max_depth> asked_{};
  unsigned usable_ = 0;  // reads kept (up to the first short one)
  std::uint64_t read_total_ = 0;
};

// What a transfer whose rounds a flow runs does next, by the engine's rules (transfer_job::run()).
enum class round_verdict {
  go_on,      // queue the next round (after a blocked sink, its drain polls first)
  done,       // complete or failed: the result says which, and the transfer is finished
  fall_back,  // the chain has moved past io_uring: transfer_job::run() goes on from the offsets
};
// Before a round is queued: `done` (complete, finished) when nothing is left to move.
bool finish_if_moved_all(transfer_state& st);
// After a round settled: accounts its bytes, judges an end of source (complete, truncated, or a
// method that cannot read this file), and falls back on a refusal before the first byte.
round_verdict judge_round(transfer_state& st, const step_outcome& out);

}  // namespace zcopy::detail

#endif
