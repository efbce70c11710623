// Outgoing TCP connections for clients (`zcopy get`): a host name resolved and its addresses
// tried in the resolver's order, each connect non-blocking and waited for in slices, so that a
// timeout bounds the whole step and a stop request is seen within a fraction of a second. Knows
// no protocol: the caller words the failures.
//
// Ownership: connect_tcp returns the connected socket (non-blocking, close-on-exec); wait_ready
// borrows the descriptor it waits on.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <stop_token>
#include <string>
#include <system_error>

#include "zcopy/fd.hpp"

namespace zcopy::net {

// Waits until `fd` is ready for `events` (POLLIN, POLLOUT), polling in slices of at most 200 ms.
// Errors: zcopy::errc::cancelled when `stop` is requested, std::errc::timed_out after `timeout`,
// or poll's own.
std::expected<void, std::error_code> wait_ready(int fd, short events,
                                                std::chrono::milliseconds timeout,
                                                const std::stop_token& stop);

struct connect_error {
  enum class kind {
    resolve,    // the name did not resolve: `resolver_reason` says why unless it does not exist
    timeout,    // no address answered within the timeout (`code`: timed_out)
    cancelled,  // `stop` was requested (`code`: zcopy::errc::cancelled)
    wait,       // waiting for the connection failed (`code`: poll's error)
    refused,    // every address failed: `code` is the last one's error (ECONNREFUSED, ...)
  };
  kind what = kind::refused;
  std::error_code code;
  std::string resolver_reason;  // gai_strerror's text; empty for "no such name"
};

// Resolves `host` (a name or an address literal, IPv4 or IPv6) and connects to `port` on the
// first address that accepts, all within `timeout`.
std::expected<unique_fd, connect_error> connect_tcp(const std::string& host, std::uint16_t port,
                                                    std::chrono::milliseconds timeout,
                                                    const std::stop_token& stop);

}  // namespace zcopy::net
