// Small socket helpers: loopback listeners and connected TCP pairs.
//
// zcopy's tools and tests need real TCP sockets on 127.0.0.1 (never an outside address). These
// helpers make them through the syscall layer, so their calls are counted like any other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <system_error>
#include <utility>

#include "zcopy/fd.hpp"

namespace zcopy {

struct socket_pair {
  unique_fd first;   // the connecting side
  unique_fd second;  // the accepted side
};

// A listening TCP socket on 127.0.0.1 with an ephemeral port (SO_REUSEADDR set).
std::expected<unique_fd, std::error_code> listen_loopback_tcp(int backlog = 16);
// The port a bound socket listens on.
std::expected<std::uint16_t, std::error_code> local_port(int fd);
// A connected pair of TCP sockets over loopback. Both ends are blocking unless `nonblocking`.
std::expected<socket_pair, std::error_code> loopback_tcp_pair(bool nonblocking = false);
// Writes all of `data` to `fd` with write(2) in chunks of at most `chunk` bytes (0: all at
// once), waiting when a non-blocking descriptor is full: the plain copy from user memory that
// vmsplice and MSG_ZEROCOPY are measured against. Returns the bytes written.
std::expected<std::uint64_t, std::error_code> write_all(int fd, std::span<const std::byte> data,
                                                        std::size_t chunk = 0);

// Sets or clears O_NONBLOCK.
std::expected<void, std::error_code> set_nonblocking(int fd, bool on);

}  // namespace zcopy
