#include "net/worker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "sys/sys.hpp"

namespace zcopy::net {

bool accept_should_pause(const std::error_code& ec) noexcept {
  return ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
         ec == std::errc::not_enough_memory || ec == std::errc::no_buffer_space;
}

endpoint_info describe_socket(int fd) {
  struct stat socket_stat {};
  socket_stat.st_mode = S_IFSOCK;
  return describe(fd, socket_stat, O_RDWR | O_NONBLOCK);
}

unsigned worker_count(unsigned asked) noexcept {
  const unsigned n = asked ? asked : std::thread::hardware_concurrency();
  return n ? n : 1;
}

std::error_code worker::open_wake() {
  auto efd = sys::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!efd) return efd.error();
  wake.reset(*efd);
  return {};
}

void worker::drain_wake() noexcept {
  std::uint64_t v;
  (void)sys::read(wake.get(), &v, sizeof v);
}

void worker::request_stop(std::chrono::milliseconds grace) noexcept {
  grace_ms = grace.count();
  stopping = true;
  const std::uint64_t one = 1;
  (void)sys::write(wake.get(), &one, sizeof one);
}

bool worker::stop_begins(clock::time_point now) {
  if (!stopping.load() || stop_deadline) return false;
  stop_deadline = now + std::chrono::milliseconds(grace_ms.load());
  return true;
}

bool worker::stop_done(clock::time_point now, bool connections_left) const noexcept {
  return stop_deadline && (!connections_left || now >= *stop_deadline);
}

void worker::drop_listeners(int epoll) {
  if (epoll >= 0) {
    for (auto& l : listeners) (void)sys::epoll_ctl(epoll, EPOLL_CTL_DEL, l.get(), nullptr);
  }
  listeners.clear();
}

bool worker::admit(int fd) {
  if (service_open->fetch_add(1) >= max_connections) {
    service_open->fetch_sub(1);
    ++refused;
    return false;
  }
  ++accepted;
  ++open;
  int one = 1;
  (void)sys::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

void worker::release() noexcept {
  --open;
  service_open->fetch_sub(1);
}

bool worker::pause_accepting(const std::error_code& error, clock::time_point now) {
  if (!accept_should_pause(error)) return false;
  accept_paused = true;
  accept_resume = now + accept_pause;
  return true;
}

bool worker::resume_accepting(clock::time_point now) {
  if (!accept_paused || now < accept_resume || stopping.load()) return false;
  accept_paused = false;
  return true;
}

std::expected<int, std::error_code> worker::accept_one(int listener, sockaddr_storage& peer,
                                                       socklen_t& length) {
  return sys::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK);
}

worker_group::~worker_group() {
  stop(std::chrono::milliseconds{0});
  wait();
}

std::error_code worker_group::add_worker(std::unique_ptr<worker> w,
                                         std::vector<endpoint_address>& addresses,
                                         std::size_t max_connections) {
  w->service_open = &open_;
  w->max_connections = max_connections;
  if (auto ec = w->open_wake(); ec) return ec;
  auto l = listen_all(addresses, workers_.empty(), addresses_);
  if (!l) return l.error();
  w->listeners = std::move(*l);
  if (auto ec = w->prepare(); ec) return ec;
  workers_.push_back(std::move(w));
  return {};
}

std::error_code worker_group::start_workers() {
  for (auto& w : workers_) {
    worker* raw = w.get();
    w->thread = std::thread([raw] { raw->run(); });
  }
  for (auto& w : workers_) {
    if (auto ec = w->wait_ready(); ec) return ec;
  }
  return {};
}

void worker_group::stop(std::chrono::milliseconds grace) {
  for (auto& w : workers_) w->request_stop(grace);
}

void worker_group::wait() {
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

}  // namespace zcopy::net
