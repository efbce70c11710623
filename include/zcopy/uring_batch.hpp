// uring_batch: many file transfers on one io_uring, submitted together and reaped together.
//
// A server that sends many files at once, or a copy of many small files, pays one
// io_uring_enter for many transfers' work instead of one or more system calls per transfer. Each
// transfer keeps its own offsets, length and transfer_result; the batch owns the ring, the
// registered buffers and the pipes, and borrows the descriptors (they must stay open until run()
// returns or the batch is destroyed).
//
//   file → socket, pipe, char device   linked SPLICE pairs (file → pipe, pipe → sink)
//   file → file                        READ_FIXED / WRITE_FIXED on registered buffers and files
//
// A transfer whose opcodes this kernel lacks (io_uring_get_probe), a source with holes, or one a
// splice cannot serve is run by the engine's chain instead (transfer.hpp); the result records that
// as a fallback from io_uring. Non-blocking socket sinks are fine: EAGAIN arms a POLL_ADD linked
// before the retry. When the submission queue is full the queued entries are submitted and
// queuing goes on; EBUSY or EAGAIN from the submission (completion queue full) is answered by
// reaping and submitting again. Available in builds with liburing (ZCOPY_WITH_URING); elsewhere
// create() fails with method_unavailable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <system_error>

#include "zcopy/pipe.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy {

struct uring_batch_options {
  unsigned entries = 64;                            // submission queue size
  std::size_t max_active = 16;                      // transfers with entries in flight at once
  std::size_t chunk_size = std::size_t{128} << 10;  // bytes per splice pair or read
  unsigned depth = 2;                               // splice pairs or reads per transfer per round
  unsigned buffer_groups = 8;                       // file → file transfers in flight at once
  pipe_pool* pipes = nullptr;  // none: the batch's own pool; must outlive the batch
};

class uring_batch {
 public:
  // Sets up the ring and registers its buffers (ENOSYS/EPERM where io_uring is off).
  static std::expected<uring_batch, std::error_code> create(
      const uring_batch_options& options = {});
  uring_batch(uring_batch&&) noexcept;
  uring_batch& operator=(uring_batch&&) noexcept;
  ~uring_batch();

  // Adds a transfer from a file (regular, memfd, block device) to a socket, pipe, char device or
  // file. `options.length`, `source_offset`, `sink_offset`, `keep_holes` and `on_progress` mean
  // what they mean for transfer(); the method is chosen by the batch. Returns the transfer's
  // index. Fails like transfer_job::create, and with method_not_applicable for a stream source.
  std::expected<std::size_t, std::error_code> add(int source, int sink,
                                                  const transfer_options& options = {});
  // Submits and reaps until every transfer added so far has completed or failed. Errors of one
  // transfer are in its result; the returned error is the ring's own (not EBUSY, handled here).
  std::error_code run();
  // One turn: queues what is ready, submits, reaps; waits for a completion when `wait` and
  // something is in flight. Returns how many transfers are unfinished.
  std::expected<std::size_t, std::error_code> poll(bool wait = true);

  std::size_t size() const noexcept;
  const transfer_result& result(std::size_t index) const;
  bool done(std::size_t index) const;

 private:
  struct impl;
  explicit uring_batch(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

}  // namespace zcopy
