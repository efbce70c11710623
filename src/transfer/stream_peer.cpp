#include "transfer/stream_peer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "sys/sys.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy::detail {

namespace {

// A peer waiting for its descriptor looks at its stop request and deadline this often.
constexpr int poll_slice_ms = 50;

double seconds_of(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

// The CPU the calling thread uses between construction and `charge`.
class thread_cpu {
 public:
  thread_cpu() { ::getrusage(RUSAGE_THREAD, &start_); }
  void charge(stream_peer_result& r) const {
    rusage now{};
    ::getrusage(RUSAGE_THREAD, &now);
    r.user_seconds = seconds_of(now.ru_utime) - seconds_of(start_.ru_utime);
    r.system_seconds = seconds_of(now.ru_stime) - seconds_of(start_.ru_stime);
  }

 private:
  rusage start_{};
};

bool would_block(const std::error_code& e) {
  return e == std::errc::resource_unavailable_try_again;
}

}  // namespace

stream_writer::stream_writer(unique_fd fd, std::span<const std::byte> data,
                             clock::time_point deadline, std::size_t chunk)
    : fd_(std::move(fd)), thread_([this, data, deadline, chunk](std::stop_token stop) {
        run(stop, data, deadline, chunk);
      }) {}

stream_writer::~stream_writer() {
  (void)stop();
}

stream_peer_result stream_writer::finish() {
  if (thread_.joinable()) thread_.join();
  return result_;
}

stream_peer_result stream_writer::stop() {
  thread_.request_stop();
  return finish();
}

void stream_writer::run(const std::stop_token& stop, std::span<const std::byte> data,
                        clock::time_point deadline, std::size_t chunk) {
  thread_cpu cpu;
  const int fd = fd_.get();
  auto st = sys::fstat(fd);
  const bool is_socket = st && S_ISSOCK(st->st_mode);
  std::uint64_t off = 0;
  while (off < data.size() && !stop.stop_requested() && clock::now() < deadline) {
    const std::size_t n = std::min<std::size_t>(chunk, data.size() - off);
    // MSG_NOSIGNAL: a reader that went away is an error to stop on, not a signal.
    auto w = is_socket ? sys::send(fd, data.data() + off, n, MSG_NOSIGNAL)
                       : sys::write(fd, data.data() + off, n);
    if (w) {
      off += *w;
    } else if (would_block(w.error())) {
      (void)sys::wait_ready(fd, POLLOUT, poll_slice_ms);
    } else {
      result_.error = w.error();
      break;
    }
  }
  result_.bytes = off;
  if (is_socket) {
    (void)sys::shutdown(fd, SHUT_WR);
  } else {
    fd_.reset();
  }
  cpu.charge(result_);
}

stream_reader::stream_reader(int fd, consumer consume, std::size_t chunk, std::uint64_t limit)
    : consume_(std::move(consume)),
      thread_([this, fd, chunk, limit](std::stop_token stop) { run(stop, fd, chunk, limit); }) {}

stream_reader::~stream_reader() {
  (void)finish();
}

stream_peer_result stream_reader::finish() {
  if (thread_.joinable()) thread_.join();
  return result_;
}

stream_peer_result stream_reader::stop(std::chrono::milliseconds grace) {
  grace_ms_.store(grace.count());
  thread_.request_stop();
  return finish();
}

void stream_reader::run(const std::stop_token& stop, int fd, std::size_t chunk,
                        std::uint64_t limit) {
  thread_cpu cpu;
  if (!consume_) {
    discard(fd, limit);
    cpu.charge(result_);
    return;
  }
  std::vector<std::byte> buf(chunk);
  std::optional<std::chrono::steady_clock::time_point> grace_end;
  std::uint64_t got = 0;
  while (got < limit) {
    if (stop.stop_requested()) {
      const auto now = std::chrono::steady_clock::now();
      if (!grace_end) grace_end = now + std::chrono::milliseconds(grace_ms_.load());
      if (now > *grace_end) break;
    }
    auto r = sys::read(fd, buf.data(), std::min<std::uint64_t>(buf.size(), limit - got));
    if (r) {
      if (*r == 0) break;  // EOF: the other side ended the stream
      consume_(std::span<const std::byte>(buf.data(), *r));
      got += *r;
      total_.store(got, std::memory_order_relaxed);
    } else if (would_block(r.error())) {
      (void)sys::wait_ready(fd, POLLIN, poll_slice_ms);
    } else {
      result_.error = r.error();
      break;
    }
  }
  result_.bytes = got;
  cpu.charge(result_);
}

void stream_reader::discard(int fd, std::uint64_t limit) {
  auto null = unique_fd::open("/dev/null", O_WRONLY);
  if (!null) {
    result_.error = null.error();
    return;
  }
  transfer_options options{.use = method::splice, .allow_fallback = true};
  if (limit != std::numeric_limits<std::uint64_t>::max()) options.length = limit;
  const transfer_result r = transfer(fd, null->get(), options);
  result_.bytes = r.bytes;
  result_.error = r.error;
  total_.store(r.bytes, std::memory_order_relaxed);
}

}  // namespace zcopy::detail
