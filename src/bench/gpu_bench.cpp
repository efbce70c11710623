#include "bench/gpu_bench.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <utility>

#include "sys/sys.hpp"
#include "zcopy/error.hpp"
#include "zcopy/gpu_plan.hpp"

namespace zcopy::bench {

bool gpu_bench_report::all_verified() const {
  return std::all_of(cells.begin(), cells.end(),
                     [](const gpu_bench_cell& c) { return c.verified; });
}

std::string gpu_bench_error::message() const {
  return step + ": " + code.message();
}

std::expected<double, std::error_code> prepare_cache(int fd, std::uint64_t offset,
                                                     std::uint64_t length, bool warm) {
  if (warm) {
    std::vector<std::byte> sink(std::size_t{8} << 20);
    for (std::uint64_t done = 0; done < length;) {
      auto n = sys::pread(fd, sink.data(), std::min<std::uint64_t>(sink.size(), length - done),
                          static_cast<off_t>(offset + done));
      if (!n) return std::unexpected(n.error());
      if (*n == 0) return std::unexpected(make_error_code(errc::unexpected_eof));
      done += *n;
    }
  } else {
    // Dirty pages are not dropped: write them back first, or a "cold" load reads from memory.
    if (auto r = sys::fdatasync(fd); !r) return std::unexpected(r.error());
    if (auto r = sys::fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(length),
                              POSIX_FADV_DONTNEED);
        !r) {
      return std::unexpected(r.error());
    }
  }
  auto cached = residency(fd, offset, length);
  if (!cached) return std::unexpected(cached.error());
  return cached->fraction();
}

std::expected<gpu_bench_report, gpu_bench_error> run_gpu(int fd, const gpu_bench_config& config) {
  auto fail = [](std::string step, std::error_code code) {
    return std::unexpected(gpu_bench_error{std::move(step), code});
  };
  auto st = sys::fstat(fd);
  if (!st) return fail("stat", st.error());
  if (!S_ISREG(st->st_mode)) return fail("stat", std::make_error_code(std::errc::invalid_argument));
  const auto size = static_cast<std::uint64_t>(st->st_size);
  gpu_bench_report report;
  report.offset = std::min(config.offset, size);
  report.bytes = std::min(config.length.value_or(size - report.offset), size - report.offset);
  if (report.bytes == 0) return fail("range", make_error_code(errc::unexpected_eof));
  const int device = config.load.device;
  auto buffer = gpu::device_buffer::allocate(static_cast<std::size_t>(report.bytes), device);
  if (!buffer) return fail("device allocation", buffer.error());
  auto file_sum = gpu::file_checksum(fd, report.offset, report.bytes);
  if (!file_sum) return fail("file checksum", file_sum.error());

  for (auto m : config.methods) {
    for (bool warm : config.warm) report.cells.push_back(gpu_bench_cell{.method = m, .warm = warm});
  }
  auto& cells = report.cells;
  for (unsigned round = 0; round < config.rounds; ++round) {
    for (std::size_t k = 0; k < cells.size(); ++k) {
      gpu_bench_cell& c = cells[(k + round) % cells.size()];
      const std::string name =
          std::string(gpu::to_string(c.method)) + (c.warm ? " (warm)" : " (cold)");
      auto resident = prepare_cache(fd, report.offset, report.bytes, c.warm);
      if (!resident) return fail(name + ": preparing the page cache", resident.error());
      gpu::load_options o = config.load;
      o.method = c.method;
      if (auto r = buffer->fill(std::byte{0xA5}); !r) return fail("device fill", r.error());
      auto r = gpu::load(fd, report.offset, report.bytes, buffer->data(), o);
      if (!r) return fail(name, r.error());
      auto sum = gpu::device_checksum(buffer->data(), report.bytes, device);
      if (!sum) return fail("device checksum", sum.error());
      c.verified = c.verified && *sum == *file_sum;
      c.seconds.push_back(r->seconds);
      c.resident.push_back(*resident);
      ++c.ran_as[std::string(gpu::to_string(r->method)) + (r->direct ? "+direct" : "")];
      for (const auto& why : r->fallbacks) {
        if (std::find(c.fallbacks.begin(), c.fallbacks.end(), why) == c.fallbacks.end()) {
          c.fallbacks.push_back(why);
        }
      }
    }
  }
  return report;
}

}  // namespace zcopy::bench
