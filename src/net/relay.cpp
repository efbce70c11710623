#include "net/relay.hpp"

#include <fmt/core.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <array>
#include <optional>
#include <unordered_map>

#include "net/worker.hpp"
#include "sys/sys.hpp"
#include "zcopy/pipe.hpp"

namespace zcopy::net {

namespace {

using clock = std::chrono::steady_clock;

// How often deadlines (connect, idle, grace) are checked: also the epoll_wait timeout.
constexpr int sweep_ms = 100;

// epoll data: the wake eventfd is 0, listener i is 2 * (i + 1), a connection's socket is
// 2 * id + side with ids from `first_id`. Ids never repeat, so an event for a connection closed
// earlier in the same batch finds nothing, although its descriptor numbers are reused at once.
constexpr std::uint64_t wake_token = 0;
constexpr std::uint64_t first_id = std::uint64_t{1} << 20;
enum class end : std::uint64_t { client = 0, backend = 1 };

std::int64_t ns_since_epoch(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// One direction of a connection: a resumable transfer from one socket to the other.
struct direction {
  std::optional<transfer_job> job;
  wait_for waiting = wait_for::nothing;  // what `job` waits for: its source or its sink
  bool done = false;                     // source ended, all delivered, sink shut down

  std::uint64_t bytes() const { return job ? job->result().bytes : 0; }
  std::uint64_t in_flight() const { return job ? job->in_flight() : 0; }
};

struct connection {
  std::uint64_t id = 0;
  unique_fd client;
  unique_fd backend;
  endpoint_info client_info;  // described once at accept
  std::string client_text;
  std::string backend_text;      // the target being tried or used
  std::size_t first_target = 0;  // where this client's round-robin walk starts
  std::vector<bool> tried;       // targets already tried for this client
  std::size_t target = 0;
  std::string last_failure;  // the latest backend failure, for the close reason
  bool connecting = false;
  // Declared after the sockets: the jobs go first when a connection is destroyed.
  direction up;    // client → backend
  direction down;  // backend → client
  clock::time_point started;
  clock::time_point deadline;       // connect timeout while connecting, then the idle timeout
  std::uint32_t client_events = 0;  // what epoll watches now (0: not registered)
  std::uint32_t backend_events = 0;
};

bool is_reset(const std::error_code& ec) {
  return ec == std::errc::connection_reset || ec == std::errc::broken_pipe;
}

}  // namespace

struct relay::worker : net::worker {
  shared_state* shared = nullptr;
  unique_fd epoll;
  std::unordered_map<std::uint64_t, connection> connections;
  std::uint64_t next_id = first_id;
  clock::time_point now;  // taken once per loop turn

  std::atomic<std::uint64_t> backend_failures{0}, closed{0}, bytes_to_backends{0},
      bytes_to_clients{0};

  const relay_options& options() const { return shared->options; }
  std::error_code prepare() override;
  void run() override;
  void set_accepting(bool on);
  void on_listener(int listener);
  void set_interest(connection& c, end which, std::uint32_t want);
  void update_interest(connection& c);
  std::optional<std::size_t> pick_target(const connection& c) const;
  // Connects `c` to its next target. Returns false when no target is left (closed).
  bool start_backend(connection& c);
  // The backend answered EPOLLOUT while connecting. Returns false when `c` was closed.
  bool on_connected(connection& c);
  void backend_failed(connection& c, const std::error_code& error, std::string_view what);
  // Runs one direction. Returns false when the connection was closed (or went back to
  // connecting: an early reset moved it to the next target).
  bool step(connection& c, direction& d, bool upstream);
  void on_event(std::uint64_t token, std::uint32_t events);
  void close_connection(connection& c, std::string_view reason);
  void sweep();
  void log(std::string_view line) const {
    if (options().log) options().log(line);
  }
};

void relay::worker::set_accepting(bool on) {
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    epoll_event ev{};
    ev.events = on ? std::uint32_t{EPOLLIN} : 0u;
    ev.data.u64 = 2 * (i + 1);
    (void)sys::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, listeners[i].get(), &ev);
  }
}

void relay::worker::set_interest(connection& c, end which, std::uint32_t want) {
  std::uint32_t& have = which == end::client ? c.client_events : c.backend_events;
  if (have == want) return;
  const int fd = which == end::client ? c.client.get() : c.backend.get();
  if (want == 0) {
    // Removed rather than watched for nothing: epoll reports EPOLLHUP and EPOLLERR whatever the
    // mask, so a socket no direction waits on could wake the loop forever.
    (void)sys::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
  } else {
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = 2 * c.id + static_cast<std::uint64_t>(which);
    (void)sys::epoll_ctl(epoll.get(), have == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
  }
  have = want;
}

void relay::worker::update_interest(connection& c) {
  if (c.connecting) {
    // The client is not read until a backend can take its bytes: they wait in its socket.
    set_interest(c, end::client, 0);
    set_interest(c, end::backend, EPOLLOUT);
    return;
  }
  const auto on = [](const direction& d, wait_for w, std::uint32_t event) {
    return d.waiting == w ? event : 0u;
  };
  set_interest(c, end::client,
               on(c.up, wait_for::readable, EPOLLIN) | on(c.down, wait_for::writable, EPOLLOUT));
  set_interest(c, end::backend,
               on(c.down, wait_for::readable, EPOLLIN) | on(c.up, wait_for::writable, EPOLLOUT));
}

std::optional<std::size_t> relay::worker::pick_target(const connection& c) const {
  const std::size_t n = options().targets.size();
  const std::int64_t now_ns = ns_since_epoch(now);
  // First the targets not marked down; when none is left, the marked ones too: with every
  // target down a client still gets a try, and a backend that came back is found at once.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (c.first_target + k) % n;
      if (c.tried[i]) continue;
      if (pass == 0 && shared->down_until[i].load(std::memory_order_relaxed) > now_ns) continue;
      return i;
    }
  }
  return std::nullopt;
}

void relay::worker::backend_failed(connection& c, const std::error_code& error,
                                   std::string_view what) {
  shared->down_until[c.target].store(ns_since_epoch(now + options().retry_after),
                                     std::memory_order_relaxed);
  ++backend_failures;
  c.last_failure = fmt::format("{} {}: {}", c.backend_text, what, error.message());
  log(fmt::format("zcopy relay: backend {} failed ({}: {}), skipped for {:.1f} s", c.backend_text,
                  what, error.message(),
                  std::chrono::duration<double>(options().retry_after).count()));
  set_interest(c, end::backend, 0);
  c.backend.reset();
  c.connecting = false;
  c.up = direction{};
  c.down = direction{};
}

bool relay::worker::start_backend(connection& c) {
  for (;;) {
    const auto next = pick_target(c);
    if (!next) {
      close_connection(c, fmt::format("no backend reachable (last: {})", c.last_failure));
      return false;
    }
    c.tried[*next] = true;
    c.target = *next;
    const endpoint_address& address = options().targets[*next];
    c.backend_text = address.text;
    auto s = sys::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (!s) {
      // Out of descriptors or memory here: not the backend's fault, so it is not marked.
      close_connection(c, fmt::format("backend socket: {}", s.error().message()));
      return false;
    }
    c.backend.reset(*s);
    auto r = sys::connect(c.backend.get(), address.get(), address.length);
    if (r || r.error() == std::errc::operation_in_progress) {
      // Also a connect that completed at once waits for EPOLLOUT (reported at once): one path.
      c.connecting = true;
      c.deadline = now + options().connect_timeout;
      update_interest(c);
      return true;
    }
    // Loopback refusals come back from connect itself.
    backend_failed(c, r.error(), "connect");
  }
}

bool relay::worker::on_connected(connection& c) {
  int error = 0;
  socklen_t length = sizeof error;
  if (auto g = sys::getsockopt(c.backend.get(), SOL_SOCKET, SO_ERROR, &error, &length); !g) {
    error = g.error().value();
  }
  if (error != 0) {
    backend_failed(c, sys::errno_code(error), "connect");
    return start_backend(c);
  }
  c.connecting = false;
  // It answers: clear a mark left by an earlier failure (it was tried because all were down).
  shared->down_until[c.target].store(0, std::memory_order_relaxed);
  int one = 1;
  (void)sys::setsockopt(c.backend.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const endpoint_info backend_info = describe_socket(c.backend.get());

  transfer_options o;
  o.use = options().engine;  // automatic: splice, then read/write where splice is refused
  o.step_limit = options().step_limit;
  o.pipes = &shared->pipes;
  auto up = transfer_job::create(c.client_info, backend_info, o);
  auto down = transfer_job::create(backend_info, c.client_info, o);
  if (!up || !down) {
    close_connection(c, fmt::format("transfer: {}", (!up ? up : down).error().message()));
    return false;
  }
  c.up.job.emplace(std::move(*up));
  c.down.job.emplace(std::move(*down));
  // Nothing is read yet: epoll (level-triggered) reports at once whatever is already waiting.
  c.up.waiting = wait_for::readable;
  c.down.waiting = wait_for::readable;
  c.deadline = now + options().idle_timeout;
  update_interest(c);
  return true;
}

bool relay::worker::step(connection& c, direction& d, bool upstream) {
  const int sink = upstream ? c.backend.get() : c.client.get();
  const std::uint64_t before = d.job->result().bytes;
  const transfer_result& r = d.job->run();
  if (r.bytes != before) c.deadline = now + options().idle_timeout;
  if (r.error) {
    // Nothing moved either way yet and nothing taken from the client: the backend that reset
    // (only the backend can fail the backend → client direction before a byte) is marked and
    // the next one gets this client.
    if (!upstream && c.up.bytes() == 0 && c.up.in_flight() == 0 && !c.up.done &&
        c.down.bytes() == 0 && c.down.in_flight() == 0) {
      backend_failed(c, r.error, "reset before any byte");
      start_backend(c);
      return false;
    }
    if (is_reset(r.error)) {
      // Pass the reset on: the other peer must not take a cut stream for a complete one.
      linger hard{1, 0};
      for (int fd : {c.client.get(), c.backend.get()}) {
        (void)sys::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      }
    }
    close_connection(c, fmt::format("{}: {}", upstream ? "client->backend" : "backend->client",
                                    r.error.message()));
    return false;
  }
  if (r.complete) {
    // EOF from the source and its pipe drained: pass the half-close on. ENOTCONN (the peer
    // already went away) shows up on the other direction.
    (void)sys::shutdown(sink, SHUT_WR);
    d.done = true;
    d.waiting = wait_for::nothing;
    return true;
  }
  // Would block: wait for the end it names. A step limit reached: wait for the sink's
  // EPOLLOUT, which a socket with room reports at once, after the other connections' events.
  d.waiting = r.would_block() ? r.blocked : wait_for::writable;
  return true;
}

void relay::worker::on_event(std::uint64_t token, std::uint32_t events) {
  auto it = connections.find(token / 2);
  if (it == connections.end()) return;
  connection& c = it->second;
  const bool backend_side = (token & 1) != 0;
  if (c.connecting) {
    if (backend_side && on_connected(c)) update_interest(c);
    return;
  }
  constexpr std::uint32_t readable = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
  constexpr std::uint32_t writable = EPOLLOUT | EPOLLHUP | EPOLLERR;
  // Only the directions that wait on this socket for what it reports: an error or a hang-up
  // reaches them through their own next system call.
  const bool run_up = backend_side ? c.up.waiting == wait_for::writable && (events & writable)
                                   : c.up.waiting == wait_for::readable && (events & readable);
  const bool run_down = backend_side ? c.down.waiting == wait_for::readable && (events & readable)
                                     : c.down.waiting == wait_for::writable && (events & writable);
  if (run_up && !step(c, c.up, true)) return;
  if (run_down && !step(c, c.down, false)) return;
  if (c.up.done && c.down.done) {
    close_connection(c, "done");
    return;
  }
  update_interest(c);
}

void relay::worker::close_connection(connection& c, std::string_view reason) {
  const std::uint64_t to_backend = c.up.bytes();
  const std::uint64_t to_client = c.down.bytes();
  log(fmt::format(
      "zcopy relay: close client={} backend={} to_backend={} to_client={} duration={:.3f}s "
      "reason={}",
      c.client_text, c.backend_text.empty() ? "-" : c.backend_text, to_backend, to_client,
      std::chrono::duration<double>(now - c.started).count(), reason));
  set_interest(c, end::client, 0);
  if (c.backend) set_interest(c, end::backend, 0);
  bytes_to_backends += to_backend;
  bytes_to_clients += to_client;
  ++closed;
  release();
  connections.erase(c.id);  // closes both sockets; the jobs put clean pipes back in the pool
}

void relay::worker::on_listener(int listener) {
  const bool go_on =
      accept_all(listener, now, [this](unique_fd sock, const sockaddr_storage& peer) {
        const std::uint64_t id = next_id++;
        connection& c = connections[id];
        c.id = id;
        c.client_info = describe_socket(sock.get());
        c.client = std::move(sock);
        c.client_text = format_address(peer, true);
        c.started = now;
        const std::size_t n = options().targets.size();
        c.first_target = shared->next_target.fetch_add(1, std::memory_order_relaxed) % n;
        c.tried.assign(n, false);
        start_backend(c);
      });
  if (!go_on) set_accepting(false);
}

void relay::worker::sweep() {
  std::vector<std::uint64_t> expired;
  for (auto& [id, c] : connections) {
    if (c.deadline <= now) expired.push_back(id);
  }
  for (std::uint64_t id : expired) {
    auto it = connections.find(id);
    if (it == connections.end()) continue;
    connection& c = it->second;
    if (c.connecting) {
      backend_failed(c, std::make_error_code(std::errc::timed_out), "connect");
      start_backend(c);
    } else {
      close_connection(c, "idle timeout");
    }
  }
}

void relay::worker::run() {
  std::array<epoll_event, 256> events{};
  now = clock::now();
  auto next_sweep = now + std::chrono::milliseconds(sweep_ms);
  for (;;) {
    now = clock::now();
    if (stop_begins(now)) drop_listeners(epoll.get());
    if (stop_done(now, !connections.empty())) break;

    auto r = sys::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), sweep_ms);
    if (!r) break;
    now = clock::now();
    for (int i = 0; i < *r; ++i) {
      const std::uint64_t token = events[static_cast<std::size_t>(i)].data.u64;
      const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
      if (token == wake_token) {
        drain_wake();
      } else if (token < 2 * first_id) {
        const std::size_t index = token / 2 - 1;
        if (index < listeners.size()) on_listener(listeners[index].get());
      } else {
        on_event(token, ev);
      }
    }
    if (resume_accepting(now)) set_accepting(true);
    if (now >= next_sweep) {
      sweep();
      next_sweep = now + std::chrono::milliseconds(sweep_ms);
    }
  }
  now = clock::now();
  while (!connections.empty()) close_connection(connections.begin()->second, "shutdown");
}

std::error_code relay::worker::prepare() {
  auto ep = sys::epoll_create1(0);
  if (!ep) return ep.error();
  epoll.reset(*ep);
  epoll_event wake_event{};
  wake_event.events = EPOLLIN;
  wake_event.data.u64 = wake_token;
  if (auto c = sys::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &wake_event); !c) {
    return c.error();
  }
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 2 * (i + 1);
    if (auto c = sys::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, listeners[i].get(), &ev); !c) {
      return c.error();
    }
  }
  return {};
}

std::expected<std::unique_ptr<relay>, std::error_code> relay::start(relay_options options) {
  if (options.listen.empty() || options.targets.empty()) {
    return std::unexpected(std::make_error_code(std::errc::invalid_argument));
  }
  // Peers go away mid-reply: a write to a reset socket must be EPIPE, not the end of the process.
  (void)sys::ignore_sigpipe();
  const unsigned threads = worker_count(options.threads);
  std::unique_ptr<relay> s(new relay());
  std::vector<endpoint_address> addresses = options.listen;
  const std::size_t targets = options.targets.size();
  s->shared_ = std::make_unique<shared_state>(std::move(options));
  s->shared_->down_until = std::make_unique<std::atomic<std::int64_t>[]>(targets);
  // Port 0 picks a port on the first worker; the others bind the same one.
  for (unsigned t = 0; t < threads; ++t) {
    auto w = std::make_unique<worker>();
    w->shared = s->shared_.get();
    if (auto ec = s->add_worker(std::move(w), addresses, s->shared_->options.max_connections); ec) {
      return std::unexpected(ec);
    }
  }
  if (auto ec = s->start_workers(); ec) return std::unexpected(ec);
  return s;
}

relay::~relay() {
  // Before shared_ goes: the workers use it until they are joined.
  stop(std::chrono::milliseconds{0});
  wait();
}

relay_stats relay::stats() const {
  relay_stats s;
  for (auto& base : workers()) {
    const auto* w = static_cast<const worker*>(base.get());
    s.accepted += w->accepted;
    s.refused += w->refused;
    s.backend_failures += w->backend_failures;
    s.closed += w->closed;
    s.open_connections += w->open;
    s.bytes_to_backends += w->bytes_to_backends;
    s.bytes_to_clients += w->bytes_to_clients;
  }
  return s;
}

}  // namespace zcopy::net
