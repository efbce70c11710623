// Listening sockets for the servers: "HOST:PORT" parsing (IPv4, [IPv6], names resolved once at
// start-up) and sockets bound with SO_REUSEPORT so that every worker thread can own one listener
// for the same address and the kernel spreads new connections across them.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "zcopy/fd.hpp"

namespace zcopy::net {

struct endpoint_address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text;  // as given, for messages ("127.0.0.1:8080", "[::1]:8080")

  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const noexcept { return storage.ss_family; }
};

// Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (all addresses). A host name is resolved with
// getaddrinfo (first answer). Errors: invalid_argument for a malformed string.
std::expected<endpoint_address, std::error_code> parse_address(std::string_view text);

// A non-blocking listening TCP socket with SO_REUSEADDR and, when `reuse_port`, SO_REUSEPORT.
std::expected<unique_fd, std::error_code> listen_on(const endpoint_address& address,
                                                    bool reuse_port, int backlog = 1024);

// One worker's listeners: a socket per address, all with SO_REUSEPORT. The first worker
// (`first`) writes the port the kernel picked for port 0 back into `addresses`, so that the other
// workers bind the same one, and appends the bound names ("127.0.0.1:8080") to `names`.
std::expected<std::vector<unique_fd>, std::error_code> listen_all(
    std::vector<endpoint_address>& addresses, bool first, std::vector<std::string>& names);

// The address a socket is bound to, formatted as "HOST:PORT" / "[V6]:PORT".
std::string local_address(int fd);

// "127.0.0.1:80" / "[::1]:80", or without the port "127.0.0.1" / "::1" (log format).
std::string format_address(const sockaddr_storage& address, bool with_port);

}  // namespace zcopy::net
