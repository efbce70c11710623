// relay: the TCP relay behind `zcopy relay` (HAProxy's tcp mode, socat's TCP-LISTEN → TCP),
// one epoll loop per worker thread.
//
// Each worker owns an epoll instance and its own SO_REUSEPORT listener, like server.cpp (both are
// net::worker loops). A connection owns two sockets (the client's and the backend's) and two
// resumable transfers, one per direction (client → backend, backend → client); each transfer owns
// its pipe (socket → pipe → socket with splice, from the engine's bounded pool) and, after a
// fallback to read/write, one buffer. Those are the only buffers: a direction that cannot deliver
// stops reading its source, so memory stays bounded whatever the speeds of the two peers, and TCP's
// own flow control pushes back on the faster one.
//
// Backends are tried in round robin (one counter shared by the workers). A backend that refuses,
// times out, or resets before a byte has moved is skipped for `retry_after` and the next one is
// tried for the same client; when every backend is marked down they are all tried anyway, so a
// single backend that comes back is found without waiting. EOF in one direction is passed on as
// shutdown(SHUT_WR) once that direction's pipe is empty; the other direction keeps flowing. A
// connection closes when both directions are done, on an error (a reset is passed on as a
// reset), or after `idle_timeout` without a byte delivered either way.
//
// The loops share their skeleton with the server's (net/worker.hpp): listeners, admission
// against max_connections, accept pausing after EMFILE, graceful stop, and SIGPIPE ignored while
// it has its default action (splice cannot be told MSG_NOSIGNAL).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "net/listener.hpp"
#include "net/worker.hpp"
#include "zcopy/pipe.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy::net {

struct relay_options {
  std::vector<endpoint_address> listen;
  std::vector<endpoint_address> targets;             // backends, in round-robin order
  unsigned threads = 0;                              // 0: one per CPU
  std::size_t max_connections = 10'000;              // over it, new clients are closed at once
  std::chrono::milliseconds connect_timeout{5'000};  // per backend attempt
  std::chrono::milliseconds retry_after{5'000};      // a failed backend is skipped this long
  std::chrono::milliseconds idle_timeout{300'000};   // no byte delivered either way
  // Bytes one direction moves per turn before the loop serves other connections (fairness).
  std::size_t step_limit = std::size_t{2} << 20;
  // Capacity of the relay's pipes. A relay gains from passing data on early: iperf3 through the
  // relay on loopback ran ~8% faster with 64 KiB pipes than with the 1 MiB pipes a file transfer
  // uses, at the same CPU per byte (HAProxy's pipes are the kernel's default 64 KiB too).
  std::size_t pipe_size = std::size_t{64} << 10;
  std::size_t idle_pipes = 256;  // pipes kept for reuse (the rest are closed when released)
  // splice (falling back to read/write when refused) by default; read_write forces the copy loop,
  // splice forbids the fallback (for measurements).
  method engine = method::automatic;
  // One line per closed connection and per failed backend attempt, without a newline. Called
  // from the worker threads, concurrently: the callee serializes.
  std::function<void(std::string_view line)> log;
};

struct relay_stats {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;           // over max_connections
  std::uint64_t backend_failures = 0;  // attempts that failed (refused, timeout, early reset)
  std::uint64_t closed = 0;
  std::uint64_t open_connections = 0;
  std::uint64_t bytes_to_backends = 0;  // of closed connections
  std::uint64_t bytes_to_clients = 0;
};

// Stopped (stop, wait) through worker_group.
class relay : public worker_group {
 public:
  // Binds every address on every worker and starts the workers. invalid_argument without a
  // listen address or a target.
  static std::expected<std::unique_ptr<relay>, std::error_code> start(relay_options options);
  ~relay() override;

  relay_stats stats() const;

  struct worker;
  // What the workers share besides the connection limit (worker_group): the round-robin counter
  // and, per target, the time until which it is skipped.
  struct shared_state {
    relay_options options;
    std::atomic<std::size_t> next_target{0};
    std::unique_ptr<std::atomic<std::int64_t>[]> down_until;  // steady_clock ns since epoch
    pipe_pool pipes;  // every connection's pipes (transfer_options::pipes)
    explicit shared_state(relay_options o)
        : options(std::move(o)), pipes(options.idle_pipes, options.pipe_size) {}
  };

 private:
  relay() = default;
  std::unique_ptr<shared_state> shared_;
};

}  // namespace zcopy::net
