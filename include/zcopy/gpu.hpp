// gpu: files (or byte ranges of them, or every tensor of a safetensors checkpoint) into GPU memory
// with as few CPU copies as the file's state allows.
//
// A naive loader reads a file into pageable memory (one CPU copy out of the page cache) and hands
// it to cudaMemcpy, which stages it through a pinned bounce buffer (a second CPU copy) before the
// DMA. The methods here remove those copies:
//   registered  the file is mapped read-only and its page-cache pages are pinned in place with
//               cudaHostRegister, chunk by chunk, each chunk's DMA overlapping the registration
//               of the next: the GPU's copy engine reads the page cache itself. The driver
//               registers one call at a time, so the other threads meanwhile take chunks through
//               bounce buffers. Best when the file is resident (pinning a page that is not
//               first reads it).
//   bounce      several threads fill pinned buffers with pread (O_DIRECT where the file is cold
//               and the filesystem allows it) and queue cudaMemcpyAsync from them, two buffers per
//               thread so reads overlap DMA: one CPU copy at most, none with O_DIRECT.
//   cufile      GPUDirect Storage (libcufile, found at run time with dlopen): storage DMAs into
//               device memory. Chosen automatically only where the nvidia-fs driver is loaded.
//   naive       read(2) into pageable memory and cudaMemcpy: the baseline the others are
//               measured against.
//   automatic   registered when most of the range is in the page cache (mincore), otherwise
//               cufile where GPUDirect Storage is live, otherwise bounce. A method that the system
//               refuses (registration not supported, O_DIRECT refused, no libcufile) falls back to
//               the next one, and the report names what was refused and why.
// Every function works in a build without CUDA (ZCOPY_WITH_CUDA off) and on machines without a
// GPU: those answer errc::gpu_unavailable. The checksum is defined for both sides, so a test or a
// user can check that the device holds exactly the file's bytes without copying them back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "zcopy/safetensors.hpp"

namespace zcopy::gpu {

// True when this libzcopy was built with the CUDA loaders.
bool built_with_cuda() noexcept;

// The number of CUDA devices the driver reports; errc::gpu_unavailable without CUDA, without a
// driver or without a device (the message of the error code says which).
std::expected<int, std::error_code> device_count();

// Memory of one device, freed on destruction. Move-only.
class device_buffer {
 public:
  device_buffer() noexcept = default;
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  device_buffer(device_buffer&& other) noexcept;
  device_buffer& operator=(device_buffer&& other) noexcept;
  ~device_buffer();

  // cudaMalloc of `bytes` (at least one byte is allocated, so data() is never null on success).
  static std::expected<device_buffer, std::error_code> allocate(std::size_t bytes, int device = 0);

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  int device() const noexcept { return device_; }

  // Sets every byte to `value` (cudaMemset): a destination scribbled over before a load cannot
  // pass a check by holding what an earlier load left.
  std::expected<void, std::error_code> fill(std::byte value);

  // Copies [offset, offset + out.size()) of the buffer back to host memory (for tests and tools).
  std::expected<void, std::error_code> copy_to_host(std::size_t offset,
                                                    std::span<std::byte> out) const;

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
  int device_ = 0;
};

enum class load_method { automatic, registered, bounce, cufile, naive };

std::string_view to_string(load_method method) noexcept;
std::optional<load_method> parse_load_method(std::string_view name) noexcept;

// Whether the bounce method opens the file with O_DIRECT.
enum class direct_io { automatic, always, never };

struct load_options {
  load_method method = load_method::automatic;
  int device = 0;
  // Bytes per registered chunk (rounded up to whole pages); a bounce buffer is a quarter of it
  // (at least 1 MiB). 16 MiB: on an H200, 4 GiB from the page cache arrived at 23 GB/s with
  // 8-16 MiB chunks, 15 GB/s with 64 MiB, 4 GB/s with 256 MiB (too few chunks to overlap).
  std::uint64_t chunk_size = std::uint64_t{16} << 20;
  // Threads that register chunks or fill bounce buffers; 0 picks one per CPU, at most 8.
  unsigned threads = 0;
  // registered: how many of the threads register (the driver registers one call at a time); the
  // others copy their chunks through bounce buffers alongside. At least 1.
  unsigned register_threads = 2;
  // automatic: O_DIRECT when the range is mostly not cached (it would otherwise read from
  // storage what memory already holds).
  direct_io direct = direct_io::automatic;
  // automatic picks `registered` when at least this fraction of the range is resident.
  double resident_threshold = 0.9;
};

struct load_report {
  load_method method = load_method::automatic;  // the method that moved the bytes
  std::uint64_t bytes = 0;
  double seconds = 0;                  // from the first system call to the data on the device
  double resident_fraction = -1;       // measured before loading; -1 when not measured
  bool direct = false;                 // bounce and cufile: the file was read with O_DIRECT
  unsigned threads = 0;                // threads that moved the data
  std::vector<std::string> fallbacks;  // each refused method and why, in order
};

// Copies [offset, offset + length) of the file open at `fd` into device memory at `device_dst`
// (at least `length` bytes of device options.device). The range must lie inside the file
// (errc::unexpected_eof otherwise, and errc::source_truncated when the file shrinks during the
// load). Returns once the data is on the device.
std::expected<load_report, std::error_code> load(int fd, std::uint64_t offset, std::uint64_t length,
                                                 void* device_dst,
                                                 const load_options& options = {});

// The checksum both sides compute: the bytes as 64-bit little-endian words (the last one padded
// with zeros), each mixed with its index (splitmix64 of word ^ index * 2^64/phi) and summed
// modulo 2^64. A moved, changed or missing word changes it; the sum lets a GPU compute it in
// parallel. `word_index` is the index of the first word of `bytes` within the whole range, so a
// range can be summed in pieces whose sizes (all but the last) are multiples of 8 and the results
// added.
std::uint64_t host_checksum(std::span<const std::byte> bytes,
                            std::uint64_t word_index = 0) noexcept;

// The same checksum of [offset, offset + length) of a file, read through a mapping.
std::expected<std::uint64_t, std::error_code> file_checksum(int fd, std::uint64_t offset,
                                                            std::uint64_t length);

// The same checksum of `length` bytes of device memory at `device_src`, computed by a kernel.
std::expected<std::uint64_t, std::error_code> device_checksum(const void* device_src,
                                                              std::uint64_t length, int device = 0);

// A safetensors checkpoint in one device allocation.
struct device_tensor {
  std::string name;
  tensor_dtype dtype = tensor_dtype::u8;
  std::vector<std::uint64_t> shape;
  void* data = nullptr;  // inside the checkpoint's allocation
  std::uint64_t size = 0;
};

struct device_checkpoint {
  device_buffer storage;               // the data section, byte for byte
  std::vector<device_tensor> tensors;  // in file order
  safetensors_index index;
  load_report report;

  const device_tensor* find(std::string_view name) const noexcept;
};

// Reads and validates the header (read_safetensors_index), allocates the data section on the
// device and loads it with `options`. Header errors are errc::malformed_safetensors with the
// message naming the broken rule.
std::expected<device_checkpoint, safetensors_error> load_safetensors(
    const std::filesystem::path& path, const load_options& options = {});
// The same for the file open at `fd` (read with pread: its position is left alone).
std::expected<device_checkpoint, safetensors_error> load_safetensors(
    int fd, const load_options& options = {});

}  // namespace zcopy::gpu
