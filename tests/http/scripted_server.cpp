#include "http/scripted_server.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <system_error>

#include "zcopy/net.hpp"

namespace zcopy::test {

using namespace std::chrono_literals;

scripted_server::scripted_server(std::vector<script> scripts) : scripts_(std::move(scripts)) {
  auto l = listen_loopback_tcp();
  if (!l) throw std::system_error(l.error(), "listen");
  listener_ = std::move(*l);
  port_ = static_cast<int>(local_port(listener_.get()).value_or(0));
  thread_ = std::thread([this] { run(); });
}

scripted_server::~scripted_server() {
  stop_.store(true);
  thread_.join();
}

std::string scripted_server::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

std::vector<std::string> scripted_server::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool scripted_server::send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void scripted_server::pause(std::chrono::milliseconds how_long) const {
  const auto end = std::chrono::steady_clock::now() + how_long;
  while (!stop_.load() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(10ms);
  }
}

void scripted_server::run() {
  std::size_t index = 0;
  while (!stop_.load()) {
    pollfd p{listener_.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    unique_fd conn(c);
    // The request head, to the blank line (the client sends nothing after it).
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && !stop_.load()) {
      pollfd q{conn.get(), POLLIN, 0};
      if (::poll(&q, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
    }
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    if (!scripts_.empty()) scripts_[std::min(index, scripts_.size() - 1)](conn.get(), request);
    ++index;
  }
}

std::string simple_response(std::string_view body, std::string_view status,
                            std::string_view extra_fields) {
  return "HTTP/1.1 " + std::string(status) + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + std::string(extra_fields) + "Connection: close\r\n\r\n" + std::string(body);
}

}  // namespace zcopy::test
