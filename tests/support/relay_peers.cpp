#include "support/relay_peers.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace zcopy::test {

namespace {

using clock = std::chrono::steady_clock;

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

tcp_backend::tcp_backend(handler h) : handler_(std::move(h)) {
  listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(0);
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listener_.get(), 512) != 0) {
    ADD_FAILURE_AT(__FILE__, __LINE__);
    return;
  }
  socklen_t len = sizeof a;
  ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

void tcp_backend::accept_loop() {
  while (!stop_.load()) {
    pollfd p{listener_.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // Bounded waits in every handler: a test that goes wrong fails instead of hanging.
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const std::size_t index = accepted_++;
    std::lock_guard lock(mutex_);
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd, index] {
      handler_(fd, index);
      // Closed under the lock: the destructor never shuts down a number reused meanwhile.
      std::lock_guard inner(mutex_);
      std::erase(open_fds_, fd);
      unique_fd owned(fd);
    });
  }
}

tcp_backend::~tcp_backend() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
}

void echo(tcp_backend& backend, int fd) {
  std::vector<char> buf(256 * 1024);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n == 0) {
      backend.note_eof();
      ::shutdown(fd, SHUT_WR);
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(fd, buf.data() + off, static_cast<std::size_t>(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        return;
      }
      off += w;
    }
  }
}

void reset_close(int fd) {
  linger hard{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  // The handler's thread closes the descriptor when the handler returns; the reset goes out
  // then. Shutting the socket down here would send a FIN first.
}

unique_fd connect_loopback(int port) {
  unique_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopback(port);
  timeval tv{30, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return {};
  return s;
}

read_outcome read_until_end(int fd, std::chrono::milliseconds timeout, std::size_t max) {
  read_outcome out;
  const auto deadline = clock::now() + timeout;
  std::vector<std::byte> buf(256 * 1024);
  while (out.bytes.size() < max) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    if (left <= 0) return out;  // timeout
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const std::size_t want = std::min(buf.size(), max - out.bytes.size());
    ssize_t n = ::recv(fd, buf.data(), want, MSG_DONTWAIT);
    if (n == 0) {
      out.how = read_end::eof;
      return out;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      out.how = errno == ECONNRESET ? read_end::reset : read_end::error;
      return out;
    }
    out.bytes.insert(out.bytes.end(), buf.begin(), buf.begin() + n);
  }
  out.how = read_end::eof;  // the caller's limit: as good as the end it asked for
  return out;
}

bool send_all(int fd, std::span<const std::byte> data) {
  while (!data.empty()) {
    ssize_t w = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data = data.subspan(static_cast<std::size_t>(w));
  }
  return true;
}

read_outcome echo_through(int port, std::span<const std::byte> payload,
                          std::chrono::milliseconds timeout) {
  unique_fd s = connect_loopback(port);
  if (!s) return {};
  std::thread writer([&] {
    send_all(s.get(), payload);
    ::shutdown(s.get(), SHUT_WR);
  });
  read_outcome out = read_until_end(s.get(), timeout);
  if (out.how != read_end::eof) ::shutdown(s.get(), SHUT_RDWR);  // unblocks the writer
  writer.join();
  return out;
}

long fd_count(int pid) {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  long n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) {
      std::istringstream s(line.substr(6));
      long kib = -1;
      s >> kib;
      return kib;
    }
  }
  return -1;
}

}  // namespace zcopy::test
