// GPUDirect Storage through libcufile, found at run time (dlopen), so that neither the build nor a
// machine without GDS needs the library. Internal; only built with ZCOPY_WITH_CUDA.
#pragma once

#include <cstdint>
#include <expected>
#include <string>

namespace zcopy::gpu::cufile {

// True when the nvidia-fs kernel driver is loaded: without it libcufile runs in "compatibility
// mode" (POSIX reads into bounce buffers of its own), which the bounce method does as well, so
// the automatic choice takes cufile only where this holds.
bool gds_driver_loaded();

// Loads libcufile (ZCOPY_CUFILE_LIBRARY if set, else libcufile.so.0 on the loader's path) and
// opens its driver, once per process; the reason when either fails.
std::expected<void, std::string> open_driver();

// Reads [offset, offset + length) of `direct_fd` (opened with O_DIRECT) into device memory at
// `device_dst` with cuFileRead on `threads` threads, each taking `piece`-byte pieces. The reason
// on failure (a refused registration, a read error or a short read).
std::expected<void, std::string> read(int direct_fd, std::uint64_t offset, std::uint64_t length,
                                      void* device_dst, unsigned threads, std::uint64_t piece,
                                      int device);

}  // namespace zcopy::gpu::cufile
