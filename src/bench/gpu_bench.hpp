// zcopy gpu bench: every file → GPU load method (zcopy/gpu.hpp) on one range of one file, with the
// page cache warm and cold, rounds interleaved (round k starts k cells further on, so no method
// always runs right after the same other one), every load checked against the file's checksum.
//
// The cache state is made before each load, not assumed: warm reads the range; cold syncs it and
// drops its clean pages (POSIX_FADV_DONTNEED); the residency measured afterwards is kept with the
// sample, so a round that could not be made cold shows as such rather than as a fast cold load.
// The device buffer is scribbled over before each load, so a load that moved nothing cannot pass
// the checksum.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "bench/bench.hpp"
#include "zcopy/gpu.hpp"

namespace zcopy::bench {

struct gpu_bench_config {
  std::vector<gpu::load_method> methods{gpu::load_method::automatic, gpu::load_method::registered,
                                        gpu::load_method::bounce, gpu::load_method::naive};
  std::vector<bool> warm{true, false};  // the cache states, in order
  unsigned rounds = 3;
  gpu::load_options load;  // its `method` is each cell's; its `device` is where the bytes go
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> length;  // default: to the end of the file
};

// One method with one cache state, over the rounds.
struct gpu_bench_cell {
  gpu::load_method method = gpu::load_method::automatic;
  bool warm = true;
  std::vector<double> seconds;
  std::vector<double> resident;        // fraction of the range cached just before each load
  std::map<std::string, int> ran_as;   // "bounce+direct": what really moved the bytes, how often
  std::vector<std::string> fallbacks;  // each distinct one, in order of first appearance
  bool verified = true;                // every round left the file's bytes on the device
};

struct gpu_bench_report {
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  std::vector<gpu_bench_cell> cells;  // methods × cache states, in the config's order
  bool all_verified() const;
};

// A failure with the step it happened in ("device allocation", "bounce (cold)", ...).
struct gpu_bench_error {
  std::string step;
  std::error_code code;
  std::string message() const;  // "step: error text"
};

std::expected<gpu_bench_report, gpu_bench_error> run_gpu(int fd, const gpu_bench_config& config);

// Puts [offset, offset + length) of the file in the page cache (reads it) or takes it out
// (fdatasync, then POSIX_FADV_DONTNEED, which drops clean pages only). Returns the fraction of
// the range resident afterwards.
std::expected<double, std::error_code> prepare_cache(int fd, std::uint64_t offset,
                                                     std::uint64_t length, bool warm);

}  // namespace zcopy::bench
