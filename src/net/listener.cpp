#include "net/listener.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>
#include <cstring>

#include "sys/sys.hpp"

namespace zcopy::net {

std::expected<endpoint_address, std::error_code> parse_address(std::string_view text) {
  const auto invalid = std::unexpected(std::make_error_code(std::errc::invalid_argument));
  std::string_view host, port;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return invalid;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return invalid;  // IPv6 needs brackets
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) return invalid;

  endpoint_address out;
  out.text = std::string(text);
  const auto port_n = htons(static_cast<std::uint16_t>(value));
  if (host.empty()) host = "0.0.0.0";
  std::string h(host);
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (::inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = port_n;
    std::memcpy(&out.storage, &v4, sizeof v4);
    out.length = sizeof v4;
    return out;
  }
  if (::inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = port_n;
    std::memcpy(&out.storage, &v6, sizeof v6);
    out.length = sizeof v6;
    return out;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(h.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return std::unexpected(std::make_error_code(std::errc::address_not_available));
  }
  std::memcpy(&out.storage, found->ai_addr, found->ai_addrlen);
  out.length = found->ai_addrlen;
  ::freeaddrinfo(found);
  if (out.family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&out.storage)->sin_port = port_n;
  } else {
    reinterpret_cast<sockaddr_in6*>(&out.storage)->sin6_port = port_n;
  }
  return out;
}

std::expected<unique_fd, std::error_code> listen_on(const endpoint_address& address,
                                                    bool reuse_port, int backlog) {
  auto s = sys::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (!s) return std::unexpected(s.error());
  unique_fd fd(*s);
  int one = 1;
  if (auto r = sys::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); !r) {
    return std::unexpected(r.error());
  }
  if (reuse_port) {
    if (auto r = sys::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one); !r) {
      return std::unexpected(r.error());
    }
  }
  if (address.family() == AF_INET6) {
    // "[::]:80" means IPv6 only; IPv4 clients get their own --listen.
    (void)sys::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (auto r = sys::bind(fd.get(), address.get(), address.length); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = sys::listen(fd.get(), backlog); !r) return std::unexpected(r.error());
  return fd;
}

std::string local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (!sys::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len)) return "?";
  return format_address(ss, true);
}

std::string format_address(const sockaddr_storage& address, bool with_port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    if (!with_port) return buf;
    return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    if (!with_port) return buf;
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return "?";
}

std::expected<std::vector<unique_fd>, std::error_code> listen_all(
    std::vector<endpoint_address>& addresses, bool first, std::vector<std::string>& names) {
  std::vector<unique_fd> out;
  for (auto& a : addresses) {
    auto l = listen_on(a, /*reuse_port=*/true);
    if (!l) return std::unexpected(l.error());
    if (first) {
      sockaddr_storage bound{};
      socklen_t len = sizeof bound;
      if (auto g = sys::getsockname(l->get(), reinterpret_cast<sockaddr*>(&bound), &len); g) {
        a.storage = bound;
        a.length = len;
      }
      names.push_back(local_address(l->get()));
    }
    out.push_back(std::move(*l));
  }
  return out;
}

}  // namespace zcopy::net
