#include "net/server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_map>

#include "net/server_worker.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"

namespace zcopy::net {

namespace {

using clock = std::chrono::steady_clock;

struct connection : connection_state {
  unique_fd fd;
  endpoint_info socket;  // described once at accept
  std::size_t head_sent = 0;
  std::size_t body_sent = 0;
  std::optional<transfer_job> body;
  std::uint32_t events = 0;  // what epoll watches now
  // Whether large bodies go out corked (see corks_large_bodies); asked at the first large body.
  std::optional<bool> cork_large_bodies;
  bool corked = false;  // TCP_CORK is on for the body being sent
};

// A body that takes more than one transfer step (step_limit) goes out with TCP_CORK on, as
// nginx's tcp_nopush does: uncorked, the end of each step pushes out the short segment queued
// at that point and the receiver wakes up for it; corked, every segment leaves full and the last
// one when the body is done. A body sent in one step needs no cork (its only short segment is
// its last), and two setsockopt calls per reply are a cost: at 1 MiB (one step) corking took
// 7 % more server CPU per reply in the A/B. Without a step limit a body runs until the socket
// is full, and one beyond cork_above is corked.
//
// Only where the kernel does not pace the socket itself. Under cubic (Debian's default) corked
// 64 MiB replies cost the receiving client 0.56-0.65x the CPU in every A/B, the server
// 0.85-1.02x; under bbr without the fq qdisc the kernel paces each departure with a timer, and
// corked replies went out at half the rate in one A/B of two, as nginx's (corked) do in every
// run there (0.43-0.51x lighttpd). docs/PERFORMANCE.md has the runs. A socket whose congestion
// control cannot be read is not corked.
constexpr std::uint64_t cork_above = std::uint64_t{2} << 20;

bool corks_large_bodies(int fd) {
  char name[16] = {};
  socklen_t length = sizeof name - 1;
  if (!sys::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &length)) return false;
  return std::strncmp(name, "bbr", 3) != 0;
}

void set_cork(connection& c, bool on) {
  const int value = on ? 1 : 0;
  // A refused cork changes only how segments are cut, never what is sent.
  if (sys::setsockopt(c.fd.get(), IPPROTO_TCP, TCP_CORK, &value, sizeof value)) c.corked = on;
}

// The epoll loop: level-triggered, one epoll instance per worker.
struct epoll_worker : server::worker {
  unique_fd epoll;
  std::unordered_map<int, connection> connections;

  std::error_code prepare() override;
  void run() override;
  void watch(int fd, std::uint32_t events, bool add);
  void set_accepting(bool on);
  void on_listener(int listener);
  void close_connection(int fd);
  // Body bytes of the current reply that have left so far.
  static std::uint64_t body_bytes(const connection& c);
  void on_event(connection& c, std::uint32_t events);
  // Parses and replies while possible. Returns false when the connection was closed.
  bool drive(connection& c);
  // Sends what it can of the current reply. Returns false on a fatal error (closed).
  enum class send_state { done, blocked, failed };
  send_state send_reply(connection& c);
  void sweep(clock::time_point now);
};

}  // namespace

std::error_code epoll_worker::prepare() {
  auto ep = sys::epoll_create1(0);
  if (!ep) return ep.error();
  epoll.reset(*ep);
  watch(wake.get(), EPOLLIN, true);
  for (auto& l : listeners) watch(l.get(), EPOLLIN, true);
  return {};
}

void epoll_worker::watch(int fd, std::uint32_t events, bool add) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  (void)sys::epoll_ctl(epoll.get(), add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
}

void epoll_worker::set_accepting(bool on) {
  for (auto& l : listeners) watch(l.get(), on ? std::uint32_t{EPOLLIN} : 0u, false);
}

void epoll_worker::on_listener(int listener) {
  const bool go_on =
      accept_all(listener, clock::now(), [this](unique_fd sock, const sockaddr_storage& peer) {
        const int raw = sock.get();
        connection c;
        c.fd = std::move(sock);
        c.socket = describe_socket(raw);
        c.proto = factory(format_address(peer, false));
        c.deadline = clock::now() + options.header_timeout;
        c.events = EPOLLIN;
        watch(raw, c.events, true);
        connections.emplace(raw, std::move(c));
      });
  if (!go_on) set_accepting(false);
}

void epoll_worker::close_connection(int fd) {
  auto it = connections.find(fd);
  if (it == connections.end()) return;
  reply_cut(it->second, body_bytes(it->second));
  (void)sys::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
  connections.erase(it);  // closes the socket, the reply's file and the transfer's pipe
  release();
}

std::uint64_t epoll_worker::body_bytes(const connection& c) {
  return c.body_sent + (c.body ? c.body->result().bytes : 0);
}

epoll_worker::send_state epoll_worker::send_reply(connection& c) {
  reply& r = *c.current;
  const bool has_file = r.file && *r.file && r.length > 0;
  // Head and inline body in one call; MSG_MORE keeps a small head in the same segment as the
  // first file bytes that follow (nginx's tcp_nopush, without the extra setsockopt calls).
  // The in-memory body: inline text, or borrowed bytes (a small file's mapping).
  const std::size_t memory_body = r.body.size() + r.borrowed_body.size();
  while (c.head_sent < r.head.size() || c.body_sent < memory_body) {
    iovec iov[3];
    int n = 0;
    if (c.head_sent < r.head.size()) {
      iov[n++] = {r.head.data() + c.head_sent, r.head.size() - c.head_sent};
    }
    if (c.body_sent < r.body.size()) {
      iov[n++] = {r.body.data() + c.body_sent, r.body.size() - c.body_sent};
    }
    if (const std::size_t from = std::max(c.body_sent, r.body.size()) - r.body.size();
        from < r.borrowed_body.size()) {
      // iovec wants a non-const pointer; sendmsg only reads.
      iov[n++] = {const_cast<std::byte*>(r.borrowed_body.data()) + from,
                  r.borrowed_body.size() - from};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(n);
    auto w = sys::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL | (has_file ? MSG_MORE : 0));
    if (!w) {
      if (w.error() == std::errc::resource_unavailable_try_again) return send_state::blocked;
      c.failure = w.error();
      // A borrowed body is a file's mapping: EFAULT means the file shrank under it.
      if (c.failure == std::errc::bad_address && !r.borrowed_body.empty()) {
        c.failure = make_error_code(errc::source_truncated);
      }
      return send_state::failed;
    }
    std::size_t sent = *w;
    const std::size_t head_part = std::min(sent, r.head.size() - c.head_sent);
    c.head_sent += head_part;
    c.body_sent += sent - head_part;
    c.deadline = clock::now() + options.send_timeout;
  }
  if (has_file) {
    if (!c.body) {
      const std::uint64_t one_step = options.step_limit ? options.step_limit : cork_above;
      if (r.length > one_step && c.socket.kind == endpoint_kind::socket) {
        if (!c.cork_large_bodies) c.cork_large_bodies = corks_large_bodies(c.fd.get());
        if (*c.cork_large_bodies) set_cork(c, true);
      }
      auto job = body_job(r, c.socket, options.body_method);
      if (!job) {
        c.failure = job.error();
        return send_state::failed;
      }
      c.body.emplace(std::move(*job));
    }
    const auto before = c.body->result().bytes;
    transfer_result t = c.body->run();
    if (t.bytes != before) c.deadline = clock::now() + options.send_timeout;
    if (t.error) {  // a truncated file ends the response: close
      c.failure = t.error;
      return send_state::failed;
    }
    if (!t.complete) return send_state::blocked;  // would block, or a fairness step ended
    if (t.bytes != r.length) {
      c.failure = make_error_code(errc::source_truncated);
      return send_state::failed;
    }
    if (c.corked) {
      set_cork(c, false);  // the body's last partial segment leaves now
      // A cork that stays on would hold the last segment of every later reply for the kernel's
      // 200 ms: the connection ends after this reply instead, and its shutdown sends the rest.
      if (c.corked) c.current->close = true;
    }
  }
  return send_state::done;
}

bool epoll_worker::drive(connection& c) {
  const int fd = c.fd.get();
  for (;;) {
    if (c.current) {
      switch (send_reply(c)) {
        case send_state::failed:
          close_connection(fd);
          return false;
        case send_state::blocked:
          // A fairness pause (the transfer stopped at step_limit without EAGAIN) also waits for
          // EPOLLOUT, which a socket with room reports at once: the other connections go first.
          // EPOLLOUT alone: a peer that half-closed (HTTP lets a client shut down its side after
          // the request) leaves EPOLLIN and EPOLLRDHUP reported for good, and the loop spun at
          // 100 % CPU while the client did not read (issue 17). Its FIN and any pipelined bytes
          // before it are read once the reply is out.
          if (c.events != EPOLLOUT) watch(fd, c.events = EPOLLOUT, false);
          return true;
        case send_state::done:
          break;
      }
      const bool close_after = c.current->close;
      reply_sent(c, body_bytes(c));
      c.body.reset();
      c.head_sent = c.body_sent = 0;
      if (close_after || stopping.load()) {
        (void)sys::shutdown(fd, SHUT_WR);
        close_connection(fd);
        return false;
      }
    }
    if (!next_reply(c)) break;
  }
  if (c.peer_closed) {
    close_connection(fd);
    return false;
  }
  // Input the protocol cannot use yet stops the reading, as in the io_uring loop: a socket that
  // stays readable would be reported on every turn (the header timeout ends it). Errors and
  // hang-ups are reported whatever the mask.
  const std::uint32_t want = c.input.size() < max_buffered_input ? std::uint32_t{EPOLLIN} : 0u;
  if (c.events != want) watch(fd, c.events = want, false);
  return true;
}

void epoll_worker::on_event(connection& c, std::uint32_t events) {
  const int fd = c.fd.get();
  // EPOLLHUP: the connection is shut both ways or gone (a reset): nothing can be sent any more,
  // and epoll would report it on every turn whatever the mask.
  if (events & (EPOLLERR | EPOLLHUP)) {
    close_connection(fd);
    return;
  }
  if (!c.current && (events & EPOLLIN)) {
    char buf[read_chunk];
    while (c.input.size() < max_buffered_input) {
      auto r = sys::recv(fd, buf, sizeof buf, 0);
      if (!r) {
        if (r.error() == std::errc::resource_unavailable_try_again) break;
        close_connection(fd);
        return;
      }
      if (*r == 0) {
        c.peer_closed = true;
        break;
      }
      c.input.append(buf, *r);
      // A short read drained the socket (level-triggered epoll reports any later bytes):
      // skipping the recv that would only say EAGAIN saves a system call per request.
      if (*r < sizeof buf) break;
    }
  }
  drive(c);
}

void epoll_worker::sweep(clock::time_point now) {
  std::vector<int> expired;
  for (auto& [fd, c] : connections) {
    if (c.deadline <= now) expired.push_back(fd);
  }
  for (int fd : expired) {
    auto it = connections.find(fd);
    if (it == connections.end()) continue;
    answer_timeout(it->second, fd);
    close_connection(fd);
  }
}

void epoll_worker::run() {
  std::array<epoll_event, 256> events{};
  auto next_sweep = clock::now() + std::chrono::seconds(1);
  for (;;) {
    if (stop_begins(clock::now())) {
      drop_listeners(epoll.get());
      // Connections without a reply in flight (idle keep-alive ones, and requests still
      // arriving) are closed now; nginx does the same on a graceful stop.
      std::vector<int> idle;
      for (auto& [fd, c] : connections) {
        if (!c.current) idle.push_back(fd);
      }
      for (int fd : idle) close_connection(fd);
    }
    if (stop_done(clock::now(), !connections.empty())) break;

    auto r = sys::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), 250);
    if (!r) break;
    const auto now = clock::now();
    for (int i = 0; i < *r; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
      if (fd == wake.get()) {
        drain_wake();
        continue;
      }
      if (std::any_of(listeners.begin(), listeners.end(),
                      [fd](const unique_fd& l) { return l.get() == fd; })) {
        on_listener(fd);
        continue;
      }
      auto it = connections.find(fd);
      if (it != connections.end()) on_event(it->second, ev);
    }
    if (resume_accepting(now)) set_accepting(true);
    if (now >= next_sweep) {
      sweep(now);
      if (options.tick) options.tick();
      next_sweep = now + std::chrono::seconds(1);
    }
  }
  // close_connection, not clear(): replies cut short still reach the protocol (and its log).
  while (!connections.empty()) close_connection(connections.begin()->first);
  if (options.tick) options.tick();
}

std::expected<std::unique_ptr<server>, std::error_code> server::start(server_options options,
                                                                      protocol_factory factory) {
  if (options.listen.empty()) {
    return std::unexpected(std::make_error_code(std::errc::invalid_argument));
  }
  // Peers go away mid-reply: a write to a reset socket must be EPIPE, not the end of the process.
  (void)sys::ignore_sigpipe();
  std::unique_ptr<server> s(new server());
  // Port 0 picks a port on the first worker; the others bind the same one.
  std::vector<endpoint_address> addresses = options.listen;
  const unsigned threads = worker_count(options.threads);
  for (unsigned t = 0; t < threads; ++t) {
    std::unique_ptr<worker> w;
    if (options.engine == loop_engine::io_uring) {
      auto made = make_uring_worker();
      if (!made) return std::unexpected(made.error());
      w = std::move(*made);
    } else {
      w = std::make_unique<epoll_worker>();
    }
    w->options = options;
    w->factory = factory;
    if (auto ec = s->add_worker(std::move(w), addresses, options.max_connections); ec) {
      return std::unexpected(ec);
    }
  }
  if (auto ec = s->start_workers(); ec) return std::unexpected(ec);  // ~server stops the others
  return s;
}

server_stats server::stats() const {
  server_stats s;
  for (auto& w : workers()) {
    const auto& sw = static_cast<const worker&>(*w);
    s.accepted += sw.accepted;
    s.refused += sw.refused;
    s.replies += sw.replies;
    s.open_connections += sw.open;
  }
  return s;
}

}  // namespace zcopy::net
