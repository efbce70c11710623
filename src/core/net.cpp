#include "zcopy/net.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sys/sys.hpp"

namespace zcopy {

std::expected<void, std::error_code> set_nonblocking(int fd, bool on) {
  auto flags = sys::fcntl(fd, F_GETFL);
  if (!flags) return std::unexpected(flags.error());
  long wanted = on ? (*flags | O_NONBLOCK) : (*flags & ~O_NONBLOCK);
  if (wanted == *flags) return {};
  if (auto r = sys::fcntl(fd, F_SETFL, wanted); !r) return std::unexpected(r.error());
  return {};
}

std::expected<std::uint64_t, std::error_code> write_all(int fd, std::span<const std::byte> data,
                                                        std::size_t chunk) {
  std::uint64_t done = 0;
  while (done < data.size()) {
    std::size_t n = data.size() - done;
    if (chunk != 0 && n > chunk) n = chunk;
    if (auto w = sys::write_all(fd, data.data() + done, n); !w) return std::unexpected(w.error());
    done += n;
  }
  return done;
}

std::expected<unique_fd, std::error_code> listen_loopback_tcp(int backlog) {
  auto s = sys::socket(AF_INET, SOCK_STREAM, 0);
  if (!s) return std::unexpected(s.error());
  unique_fd fd(*s);
  int one = 1;
  if (auto r = sys::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); !r) {
    return std::unexpected(r.error());
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (auto r = sys::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = sys::listen(fd.get(), backlog); !r) return std::unexpected(r.error());
  return fd;
}

std::expected<std::uint16_t, std::error_code> local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (auto r = sys::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len); !r) {
    return std::unexpected(r.error());
  }
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return std::unexpected(std::make_error_code(std::errc::address_family_not_supported));
}

std::expected<socket_pair, std::error_code> loopback_tcp_pair(bool nonblocking) {
  auto listener = listen_loopback_tcp(1);
  if (!listener) return std::unexpected(listener.error());
  auto port = local_port(listener->get());
  if (!port) return std::unexpected(port.error());
  auto s = sys::socket(AF_INET, SOCK_STREAM, 0);
  if (!s) return std::unexpected(s.error());
  socket_pair pair;
  pair.first.reset(*s);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(*port);
  if (auto r = sys::connect(pair.first.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      !r) {
    return std::unexpected(r.error());
  }
  auto accepted = sys::accept4(listener->get(), nullptr, nullptr, 0);
  if (!accepted) return std::unexpected(accepted.error());
  pair.second.reset(*accepted);
  if (nonblocking) {
    for (int fd : {pair.first.get(), pair.second.get()}) {
      if (auto r = set_nonblocking(fd, true); !r) return std::unexpected(r.error());
    }
  }
  return pair;
}

}  // namespace zcopy
