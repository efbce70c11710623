// probe: what works on this machine, found by doing it.
//
// `probe_mechanisms` runs a real, tiny transfer (random bytes, verified) for every method and
// every endpoint pair it can serve: file → file, file → socket, file → pipe, socket → file,
// socket → socket, pipe → file, and O_DIRECT file → file. `probe_path` tells, for one directory,
// its filesystem and whether reflinks, copy_file_range and O_DIRECT work there.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <system_error>
#include <vector>

#include "zcopy/transfer.hpp"

namespace zcopy {

enum class probe_outcome {
  works,           // the forced method moved every byte, verified
  falls_back,      // automatic mode; moved by another method (see `moved_by`, `reason`)
  unsupported,     // the kernel refused it here (see `reason`)
  not_applicable,  // the method cannot serve this pair at all
  failed,          // it moved wrong or incomplete data (a bug or a broken kernel)
};

std::string_view to_string(probe_outcome outcome) noexcept;

struct probe_entry {
  std::string pair;  // "file->socket"
  method tried = method::automatic;
  probe_outcome outcome = probe_outcome::not_applicable;
  method moved_by = method::automatic;  // the method that really moved the bytes
  std::error_code reason;               // why it did not work or fell back
  std::uint64_t bytes = 0;
  std::uint64_t syscalls = 0;
};

struct probe_options {
  std::string directory;                 // where temporary files go; empty: $TMPDIR or /tmp
  std::uint64_t size = 256 * 1024 + 17;  // bytes per tiny transfer (not a multiple of a page)
};

std::expected<std::vector<probe_entry>, std::error_code> probe_mechanisms(
    const probe_options& options = {});

struct path_report {
  std::string path;
  std::string filesystem;  // "ext4", "xfs", "tmpfs", or the magic number in hex
  std::uint64_t filesystem_magic = 0;
  bool reflink = false;
  std::error_code reflink_reason;
  bool copy_file_range = false;
  std::error_code copy_file_range_reason;
  bool direct_io = false;
  std::error_code direct_io_reason;
  std::uint32_t direct_io_memory_alignment = 0;
  std::uint32_t direct_io_offset_alignment = 0;
};

// `path` is a directory (or a file, whose directory is used); the probe writes and removes two
// small temporary files there.
std::expected<path_report, std::error_code> probe_path(const std::string& path);

// The kernel release (uname -r) and whether io_uring can be set up here.
std::string kernel_release();
std::error_code io_uring_status();

// The io_uring operations zcopy uses, and whether this kernel offers each (io_uring_get_probe;
// multishot accept also needs Linux 5.19). Empty where io_uring cannot be set up.
struct uring_op_report {
  std::string name;  // "SPLICE", "ACCEPT_MULTISHOT", ...
  bool available = false;
};
std::vector<uring_op_report> io_uring_ops();

}  // namespace zcopy
