// Error codes that are zcopy's own.
//
// libzcopy reports failures as std::error_code. Kernel failures keep their errno in
// std::system_category(); the conditions below have no errno of their own (a file that shrank
// under a transfer is not EIO) and live in zcopy's category. They compare equal to the closest
// std::errc where one exists, so generic code can still test for, say, std::errc::not_supported.
#pragma once

#include <string>
#include <system_error>

namespace zcopy {

enum class errc {
  source_truncated = 1,   // the source ended before the length it had when the transfer began
  unexpected_eof,         // a stream ended before the requested length
  method_not_applicable,  // a forced method cannot serve this pair of endpoints
  method_unavailable,     // the kernel refused the method (ENOSYS, seccomp) for this process
  mapping_truncated,      // a library-owned mapping lost its backing pages (SIGBUS guard tripped)
  cancelled,              // the caller's cancellation request was honoured
  source_changed,         // the source was written while it was copied (its size, mtime or ctime
                          // moved): the copy could mix two versions of it
  malformed_safetensors,  // a safetensors file whose header breaks the format (safetensors.hpp)
  gpu_unavailable,        // no CUDA in this build, no driver or no device (gpu.hpp)
  symlink_leaves_root,    // `zcopy serve`: a symlink on the path points outside ROOT, or is
                          // absolute (openat2 RESOLVE_BENEATH says EXDEV for both)
  symlink_not_followed,   // `zcopy serve` without openat2: every symlink is refused
  // cp's refusals (copy.hpp): conditions a copy checks for, not failures of a system call.
  same_file,                     // SOURCE and DEST are one file (device and inode)
  into_itself,                   // a directory copied into itself or below itself
  dangling_symlink,              // DEST is a symlink to nothing: not written through
  special_file_refused,          // a FIFO, device or socket where only files are copied
  non_directory_over_directory,  // DEST is a directory and SOURCE is not
  directory_over_non_directory,  // SOURCE is a directory and DEST is not
  relative_symlink_elsewhere,    // -s with a relative SOURCE, DEST outside the current directory
  directory_loop,                // following links led back to a directory being copied
  directory_omitted,             // a directory given without `recursive`
  directory_changed,             // a source directory replaced between its stat and its open
  destination_changed,           // DEST replaced between the look at it and its open
  outside_directory,             // --parents: a ".." in SOURCE would put the copy outside DEST
};

const std::error_category& zcopy_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), zcopy_category()};
}

}  // namespace zcopy

template <>
struct std::is_error_code_enum<zcopy::errc> : std::true_type {};
