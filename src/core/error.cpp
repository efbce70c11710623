#include "zcopy/error.hpp"

namespace zcopy {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "zcopy"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::source_truncated:
        return "source was truncated during the transfer";
      case errc::unexpected_eof:
        return "source ended before the requested length";
      case errc::method_not_applicable:
        return "method cannot be used for this pair of endpoints";
      case errc::method_unavailable:
        return "method is not available in this process (ENOSYS or blocked by seccomp)";
      case errc::mapping_truncated:
        return "mapped file was truncated while mapped";
      case errc::cancelled:
        return "transfer cancelled";
      case errc::source_changed:
        return "file changed while it was copied";
      case errc::malformed_safetensors:
        return "malformed safetensors file";
      case errc::gpu_unavailable:
        return "no usable GPU: no CUDA driver or device found (or zcopy built without CUDA)";
      case errc::symlink_leaves_root:
        return "symlink leaves ROOT";
      case errc::symlink_not_followed:
        return "symlink not followed (openat2 is not available)";
      case errc::same_file:
        return "source and destination are the same file";
      case errc::into_itself:
        return "cannot copy a directory into itself";
      case errc::dangling_symlink:
        return "not writing through dangling symlink";
      case errc::special_file_refused:
        return "cannot copy special file";
      case errc::non_directory_over_directory:
        return "cannot overwrite directory with non-directory";
      case errc::directory_over_non_directory:
        return "cannot overwrite non-directory with directory";
      case errc::relative_symlink_elsewhere:
        return "can make relative symbolic links only in current directory";
      case errc::directory_loop:
        return "directory loop";
      case errc::directory_omitted:
        return "omitting directory";
      case errc::directory_changed:
        return "directory changed during the copy";
      case errc::destination_changed:
        return "destination changed while it was opened";
      case errc::outside_directory:
        return "would be copied outside the destination directory";
    }
    return "unknown zcopy error";
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<errc>(value)) {
      case errc::method_not_applicable:
      case errc::method_unavailable:
        return std::errc::not_supported;
      case errc::cancelled:
        return std::errc::operation_canceled;
      case errc::source_truncated:
      case errc::unexpected_eof:
      case errc::mapping_truncated:
      case errc::source_changed:
        return std::errc::io_error;
      case errc::malformed_safetensors:
      case errc::same_file:
      case errc::into_itself:
      case errc::relative_symlink_elsewhere:
      case errc::outside_directory:
        return std::errc::invalid_argument;
      case errc::dangling_symlink:
        return std::errc::no_such_file_or_directory;
      case errc::special_file_refused:
        return std::errc::operation_not_supported;
      case errc::non_directory_over_directory:
      case errc::directory_omitted:
        return std::errc::is_a_directory;
      case errc::directory_over_non_directory:
        return std::errc::not_a_directory;
      case errc::directory_loop:
        return std::errc::too_many_symbolic_link_levels;
      case errc::directory_changed:
      case errc::destination_changed:
        return std::errc::resource_unavailable_try_again;
      case errc::gpu_unavailable:
        return std::errc::no_such_device;
      case errc::symlink_leaves_root:
      case errc::symlink_not_followed:
        return std::errc::permission_denied;
    }
    return {value, *this};
  }
};

}  // namespace

const std::error_category& zcopy_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace zcopy
