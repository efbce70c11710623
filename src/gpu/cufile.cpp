// libcufile by dlopen (src/gpu/cufile.hpp).
//
// The declarations below are the parts of cufile.h's C ABI this file calls (CUfileError_t,
// CUfileDescr_t with CU_FILE_HANDLE_TYPE_OPAQUE_FD, and five entry points); the header is not
// needed at build time because the library is only ever reached through dlsym.
#include "gpu/cufile.hpp"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace zcopy::gpu::cufile {
namespace {

struct cufile_error_t {
  int err;     // CUfileOpError: 0 is CU_FILE_SUCCESS
  int cu_err;  // CUresult
};

constexpr int handle_type_opaque_fd = 1;

struct cufile_descr_t {
  int type;
  union {
    int fd;
    void* handle;
  } handle;
  const void* fs_ops;
};

using handle_t = void*;

struct library {
  void* dl = nullptr;
  cufile_error_t (*driver_open)() = nullptr;
  cufile_error_t (*handle_register)(handle_t*, cufile_descr_t*) = nullptr;
  void (*handle_deregister)(handle_t) = nullptr;
  ssize_t (*read)(handle_t, void*, size_t, off_t, off_t) = nullptr;
  std::string failure;  // empty once the driver is open
};

template <typename F>
bool bind(library& lib, F& slot, const char* name) {
  slot = reinterpret_cast<F>(::dlsym(lib.dl, name));
  if (slot == nullptr) lib.failure = std::string("libcufile has no ") + name;
  return slot != nullptr;
}

library& the_library() {
  static library lib = [] {
    library l;
    const char* env = std::getenv("ZCOPY_CUFILE_LIBRARY");
    const char* name = env != nullptr && *env != '\0' ? env : "libcufile.so.0";
    l.dl = ::dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (l.dl == nullptr) {
      const char* why = ::dlerror();
      l.failure = std::string("libcufile not found (") + (why != nullptr ? why : name) + ")";
      return l;
    }
    if (!bind(l, l.driver_open, "cuFileDriverOpen") ||
        !bind(l, l.handle_register, "cuFileHandleRegister") ||
        !bind(l, l.handle_deregister, "cuFileHandleDeregister") || !bind(l, l.read, "cuFileRead")) {
      return l;
    }
    if (const cufile_error_t e = l.driver_open(); e.err != 0) {
      l.failure = "cuFileDriverOpen failed (cuFile error " + std::to_string(e.err) +
                  ", CUDA driver error " + std::to_string(e.cu_err) + ")";
    }
    return l;
  }();
  return lib;
}

}  // namespace

bool gds_driver_loaded() {
  std::error_code ec;
  return std::filesystem::exists("/proc/driver/nvidia-fs", ec);
}

std::expected<void, std::string> open_driver() {
  library& lib = the_library();
  if (!lib.failure.empty()) return std::unexpected(lib.failure);
  return {};
}

std::expected<void, std::string> read(int direct_fd, std::uint64_t offset, std::uint64_t length,
                                      void* device_dst, unsigned threads, std::uint64_t piece,
                                      int device) {
  if (auto r = open_driver(); !r) return r;
  library& lib = the_library();
  cufile_descr_t descr{};
  descr.type = handle_type_opaque_fd;
  descr.handle.fd = direct_fd;
  handle_t handle = nullptr;
  if (const cufile_error_t e = lib.handle_register(&handle, &descr); e.err != 0) {
    return std::unexpected("cuFileHandleRegister failed (cuFile error " + std::to_string(e.err) +
                           ")");
  }
  const std::uint64_t pieces = (length + piece - 1) / piece;
  std::atomic<std::uint64_t> next{0};
  std::mutex failure_lock;
  std::string failure;
  std::atomic<bool> failed{false};
  auto worker = [&] {
    (void)cudaSetDevice(device);
    for (std::uint64_t i; !failed.load(std::memory_order_relaxed) && (i = next++) < pieces;) {
      const std::uint64_t at = i * piece;
      const std::uint64_t n = std::min(piece, length - at);
      std::uint64_t done = 0;
      while (done < n) {
        const ssize_t got =
            lib.read(handle, device_dst, n - done, static_cast<off_t>(offset + at + done),
                     static_cast<off_t>(at + done));
        if (got <= 0) {
          std::lock_guard lock(failure_lock);
          if (failure.empty()) {
            failure = got == 0 ? "cuFileRead: the file ended before the range"
                               : "cuFileRead failed (returned " + std::to_string(got) + ")";
          }
          failed = true;
          return;
        }
        done += static_cast<std::uint64_t>(got);
      }
    }
  };
  {
    std::vector<std::jthread> pool;
    const auto count =
        static_cast<unsigned>(std::min<std::uint64_t>(std::max(threads, 1u), pieces));
    for (unsigned t = 1; t < count; ++t) pool.emplace_back(worker);
    worker();
  }
  lib.handle_deregister(handle);
  if (failed) return std::unexpected(failure);
  return {};
}

}  // namespace zcopy::gpu::cufile
