// consumer SOURCE DEST: copies one file to another with zcopy::transfer and says how.
#include <fcntl.h>

#include <cstdio>
#include <string>

#include "zcopy/fd.hpp"
#include "zcopy/transfer.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SOURCE DEST\n", argv[0]);
    return 2;
  }
  auto source = zcopy::unique_fd::open(argv[1], O_RDONLY);
  if (!source) {
    std::fprintf(stderr, "consumer: open '%s': %s\n", argv[1], source.error().message().c_str());
    return 1;
  }
  auto dest = zcopy::unique_fd::open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!dest) {
    std::fprintf(stderr, "consumer: open '%s': %s\n", argv[2], dest.error().message().c_str());
    return 1;
  }

  zcopy::transfer_result result = zcopy::transfer(source->get(), dest->get());
  if (!result.ok()) {
    std::fprintf(stderr, "consumer: copy '%s' after %llu bytes: %s\n", argv[1],
                 static_cast<unsigned long long>(result.bytes), result.error.message().c_str());
    return 1;
  }
  // close(2) can report a deferred write error (NFS); a copy is done only when it says so.
  if (auto ec = dest->close(); ec) {
    std::fprintf(stderr, "consumer: close '%s': %s\n", argv[2], ec.message().c_str());
    return 1;
  }
  std::printf("%llu bytes with %s (%llu system calls)\n",
              static_cast<unsigned long long>(result.bytes),
              std::string(zcopy::to_string(result.used)).c_str(),
              static_cast<unsigned long long>(result.syscalls));
  return 0;
}
