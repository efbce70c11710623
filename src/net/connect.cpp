#include "net/connect.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

#include "sys/sys.hpp"
#include "zcopy/error.hpp"

namespace zcopy::net {

namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int slice_ms = 200;

struct addrinfo_deleter {
  void operator()(addrinfo* a) const noexcept { ::freeaddrinfo(a); }
};

std::unexpected<connect_error> failed(connect_error::kind what, std::error_code code,
                                      std::string resolver_reason = {}) {
  return std::unexpected(connect_error{what, code, std::move(resolver_reason)});
}

}  // namespace

std::expected<void, std::error_code> wait_ready(int fd, short events,
                                                std::chrono::milliseconds timeout,
                                                const std::stop_token& stop) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    if (stop.stop_requested()) return std::unexpected(make_error_code(errc::cancelled));
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left <= 0ms) return std::unexpected(std::make_error_code(std::errc::timed_out));
    const int slice = static_cast<int>(std::min<std::int64_t>(left.count(), slice_ms));
    auto r = sys::wait_ready(fd, events, slice);
    if (r) return {};
    if (r.error() != std::errc::timed_out) return std::unexpected(r.error());
  }
}

std::expected<unique_fd, connect_error> connect_tcp(const std::string& host, std::uint16_t port,
                                                    std::chrono::milliseconds timeout,
                                                    const std::stop_token& stop) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // No AI_ADDRCONFIG: it refuses "::1" and "localhost" on hosts (containers) whose only
  // addresses are loopback ones.
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  // getaddrinfo is libc's resolver, not one system call; it stays outside src/sys like
  // parse_address's (listener.cpp).
  const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  std::unique_ptr<addrinfo, addrinfo_deleter> owner(found);
  if (rc != 0 || found == nullptr) {
    const bool no_such_name = rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL || rc == 0;
    return failed(connect_error::kind::resolve,
                  std::make_error_code(std::errc::address_not_available),
                  no_such_name ? std::string() : std::string(::gai_strerror(rc)));
  }

  // Every address in the resolver's order, sharing one deadline (curl gives each its share; one
  // deadline is simpler and bounds the whole step).
  const auto deadline = clock::now() + timeout;
  std::error_code last = std::make_error_code(std::errc::host_unreachable);
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    auto s = sys::socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (!s) {
      last = s.error();
      continue;
    }
    unique_fd fd(*s);
    auto c = sys::connect(fd.get(), a->ai_addr, a->ai_addrlen);
    if (c) return fd;
    if (c.error() != std::errc::operation_in_progress) {
      last = c.error();
      continue;
    }
    const auto left = std::max(
        0ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
    if (auto w = wait_ready(fd.get(), POLLOUT, left, stop); !w) {
      if (w.error() == errc::cancelled) return failed(connect_error::kind::cancelled, w.error());
      if (w.error() == std::errc::timed_out) return failed(connect_error::kind::timeout, w.error());
      return failed(connect_error::kind::wait, w.error());
    }
    // Writable means the attempt ended; SO_ERROR says how.
    int err = 0;
    socklen_t len = sizeof err;
    if (auto g = sys::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len); !g) {
      last = g.error();
      continue;
    }
    if (err != 0) {
      last = sys::errno_code(err);
      continue;
    }
    return fd;
  }
  return failed(connect_error::kind::refused, last);
}

}  // namespace zcopy::net
