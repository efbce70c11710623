// The server's io_uring loop (server_options::engine = loop_engine::io_uring).
//
// The same behaviour as the epoll loop (server.cpp), another way of waiting: instead of being told
// that a socket is ready and then making one system call per action, the loop queues the actions
// themselves (accept, recv, sendmsg, splice) and one io_uring_enter per turn submits them and
// collects what completed, for every connection of the worker at once. A small file's request
// costs no system call of its own: its recv and the sendmsg of head + body (the open-file cache's
// mapping) are entries in the ring.
//
// A file body is a transfer_job whose rounds a uring_flow (src/transfer/uring_flow.hpp) queues in
// this ring: linked splice pairs, file → pipe → socket, a pipe's capacity per pair (the kernel runs
// splices on its io-wq threads), SPLICE_F_MORE while more of the body follows. A full non-blocking
// socket answers EAGAIN to the second splice; the flow links a POLL_ADD before the retry. The
// engine's rules judge each round (a zero from the file: truncated, or a file the method cannot
// read), and a splice the kernel refuses before the first byte (EINVAL) hands the job to its chain
// (sendfile), as does a kernel without IORING_OP_SPLICE; the job then runs on POLL_ADD as the
// readiness signal.
//
// A peer that half-closed makes every POLL_ADD on its socket complete at once: the kernel adds
// POLLRDHUP (with POLLERR and POLLHUP) to whatever mask a poll asks for, and the FIN stays; a
// SENDMSG on a full socket then answers EAGAIN instead of waiting (its internal poll wakes the same
// way). While such a client does not read, waiting for POLLOUT or sending again that way spun the
// loop (10^4 to 10^5 io_uring_enter a second, issue 17). A connection whose poll came back without
// POLLOUT, or whose send said EAGAIN, waits for room in a small epoll set instead (EPOLLOUT |
// EPOLLONESHOT, which reports no half-close), and the ring polls that set's descriptor.
//
// The kernel writes into a connection's memory (its receive buffer) and reads from it (the iovecs
// of a send, the reply they point into, the pipe) while entries are in flight, so a connection
// that closes is shut down (shutdown(2) completes its receive and its sends at once) and freed
// only when its last entry has completed.
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "net/server_worker.hpp"
#include "zcopy/error.hpp"

#ifdef ZCOPY_WITH_URING

#include <algorithm>
#include <array>
#include <future>
#include <limits>
#include <optional>
#include <unordered_map>

#include "core/uring.hpp"
#include "sys/sys.hpp"
#include "transfer/state.hpp"
#include "transfer/uring_flow.hpp"

namespace zcopy::net {

namespace {

using clock = std::chrono::steady_clock;

// What a completion belongs to: user_data is (id << 8 | op) << 8 | index, the index being the
// entry's place in a body flow's round (uring_flow's `tag << 8 | index`). Accepts and the wake
// poll use the listener's index and 0 as the id.
enum class op : std::uint8_t {
  accept,
  wake,
  recv,
  send,
  body,  // an entry of the connection's body flow
  poll_out,
  cancel,
  room,  // the epoll set of connections waiting for room became readable
};

constexpr std::uint64_t flow_tag(std::uint64_t id) noexcept {
  return id << 8 | static_cast<std::uint64_t>(op::body);
}

constexpr std::uint64_t tag(std::uint64_t id, op o) noexcept {
  return (id << 8 | static_cast<std::uint64_t>(o)) << 8;
}

// Entries: every connection has at most three in flight (a body flow's round of depth 1: poll +
// splice pair; or one recv or send), and the kernel keeps completions that overflow the queue
// (IORING_FEAT_NODROP).
constexpr unsigned ring_entries = 1024;

struct connection : connection_state {
  std::uint64_t id = 0;
  unique_fd fd;
  endpoint_info socket;
  std::unique_ptr<char[]> receive_buffer;
  std::size_t head_sent = 0;    // head bytes sent
  std::size_t memory_sent = 0;  // inline and borrowed body bytes sent
  // A POLL_ADD came back without POLLOUT (the peer half-closed): room is waited for in the
  // worker's epoll set from now on.
  bool poll_useless = false;
  bool in_room_set = false;     // registered in that set (armed or not)
  bool waiting_room = false;    // armed there: nothing of this connection is in the ring
  bool receive_queued = false;  // a recv is in flight, or linked behind a send
  // The file range. The ring moves it while `flow` is set; after a fallback (or without
  // IORING_OP_SPLICE) transfer_job::run() does, with a POLL_ADD as the readiness signal.
  std::optional<transfer_job> body;
  std::optional<detail::uring_flow> flow;
  std::array<iovec, 3> iov{};
  msghdr message{};
  bool closing = false;
  unsigned in_flight = 0;  // entries the kernel still holds
};

struct uring_worker : server::worker {
  // Made and destroyed on the loop's own thread: a thread that makes a ring is tied to it, and
  // the kernel interrupts that thread's blocking calls (EINTR) when the ring is torn down.
  std::optional<detail::uring> ring;
  std::promise<std::error_code> ready;
  std::future<std::error_code> ready_result = ready.get_future();
  bool splice_ok = true;
  std::unordered_map<std::uint64_t, std::unique_ptr<connection>> connections;
  std::uint64_t next_id = 1;
  std::vector<bool> accept_armed;
  std::size_t closing_count = 0;  // connections closed, waiting for their entries
  // Connections whose poll cannot wait for room (poll_useless), EPOLLOUT | EPOLLONESHOT, keyed by
  // id; a POLL_ADD on it is in the ring while `room_armed`.
  unique_fd room;
  bool room_armed = false;
  std::size_t room_waiters = 0;  // connections armed there

  std::error_code prepare() override;
  std::error_code wait_ready() override { return ready_result.get(); }
  void run() override;
  void loop();
  // Cancels the accepts and waits (bounded) until the kernel has let go of the listeners.
  void stop_accepting();
  void reap(std::chrono::milliseconds timeout);

  io_uring_sqe* entry(connection* c, op o);
  void arm_accept(std::size_t index);
  void arm_wake();
  // Waits for room on `c`'s socket: a POLL_ADD, or the epoll set once polls are useless there.
  // False when nothing could be queued.
  bool wait_for_room(connection& c);
  void arm_room();
  void on_room();
  void on_completion(const io_uring_cqe& cqe);
  void on_accept(std::size_t index, const io_uring_cqe& cqe);
  void add_connection(int fd);
  void start_receive(connection& c);
  // Replies and parses while possible, queueing what the connection waits for next.
  void drive(connection& c);
  enum class progress { waiting, done, failed };
  progress advance_reply(connection& c);
  progress queue_send(connection& c, bool file_follows);
  progress start_body(connection& c);
  progress queue_body(connection& c);
  void settle_body(connection& c);
  progress run_body_job(connection& c);
  progress body_finished(connection& c);
  detail::uring_lane body_lane() const noexcept { return {ring->get(), 1, 0, nullptr}; }
  std::uint64_t body_bytes(const connection& c) const noexcept;
  void finish_reply(connection& c);
  void close_connection(connection& c);
  void completed(connection& c);  // one entry of c's came back
  void sweep(clock::time_point now);
};

std::error_code uring_worker::prepare() {
  splice_ok = detail::uring_support().has(IORING_OP_SPLICE);
  accept_armed.assign(listeners.size(), false);
  auto ep = sys::epoll_create1(0);
  if (!ep) return ep.error();
  room.reset(*ep);
  return {};
}

io_uring_sqe* uring_worker::entry(connection* c, op o) {
  auto sqe = ring->next_sqe();
  if (!sqe) return nullptr;
  io_uring_sqe_set_data64(*sqe, tag(c ? c->id : 0, o));
  if (c) ++c->in_flight;
  return *sqe;
}

void uring_worker::arm_accept(std::size_t index) {
  auto sqe = ring->next_sqe();
  if (!sqe) return;  // retried by the loop's next turn (accept_armed stays false)
  const int fd = listeners[index].get();
  if (options.multishot_accept) {
    io_uring_prep_multishot_accept(*sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } else {
    io_uring_prep_accept(*sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  }
  io_uring_sqe_set_data64(*sqe, tag(index, op::accept));
  accept_armed[index] = true;
}

void uring_worker::arm_wake() {
  if (auto sqe = ring->next_sqe()) {
    io_uring_prep_poll_add(*sqe, wake.get(), POLLIN);
    io_uring_sqe_set_data64(*sqe, tag(0, op::wake));
  }
}

bool uring_worker::wait_for_room(connection& c) {
  if (!c.poll_useless) {
    io_uring_sqe* poll = entry(&c, op::poll_out);
    if (!poll) return false;
    io_uring_prep_poll_add(poll, c.fd.get(), POLLOUT);
    return true;
  }
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLONESHOT;
  ev.data.u64 = c.id;
  if (auto r = sys::epoll_ctl(room.get(), c.in_room_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd.get(),
                              &ev);
      !r) {
    c.failure = r.error();
    return false;
  }
  c.in_room_set = c.waiting_room = true;
  ++room_waiters;
  arm_room();
  return true;
}

void uring_worker::arm_room() {
  if (room_armed || room_waiters == 0) return;
  if (auto sqe = ring->next_sqe()) {
    io_uring_prep_poll_add(*sqe, room.get(), POLLIN);
    io_uring_sqe_set_data64(*sqe, tag(0, op::room));
    room_armed = true;
  }
  // No entry free: the loop's next turn arms it (loop()).
}

void uring_worker::on_room() {
  room_armed = false;
  std::array<epoll_event, 64> writable{};
  auto n = sys::epoll_wait(room.get(), writable.data(), static_cast<int>(writable.size()), 0);
  for (int i = 0; n && i < *n; ++i) {
    auto it = connections.find(writable[static_cast<std::size_t>(i)].data.u64);
    if (it == connections.end() || !it->second->waiting_room) continue;
    it->second->waiting_room = false;
    --room_waiters;
    drive(*it->second);
  }
  // Others still wait (or more were ready than one call returns): the poll goes back.
  arm_room();
}

void uring_worker::add_connection(int raw) {
  unique_fd sock(raw);
  if (stopping.load() || !admit(raw)) return;  // closed right away
  sockaddr_storage peer{};
  socklen_t peer_length = sizeof peer;
  (void)sys::getpeername(raw, reinterpret_cast<sockaddr*>(&peer), &peer_length);
  auto c = std::make_unique<connection>();
  c->id = next_id++;
  c->fd = std::move(sock);
  c->socket = describe_socket(raw);
  c->proto = factory(format_address(peer, false));
  c->deadline = clock::now() + options.header_timeout;
  connection& ref = *c;
  connections.emplace(c->id, std::move(c));
  start_receive(ref);
}

void uring_worker::on_accept(std::size_t index, const io_uring_cqe& cqe) {
  if (index >= listeners.size()) return;
  if (!(cqe.flags & IORING_CQE_F_MORE)) accept_armed[index] = false;
  if (cqe.res >= 0) {
    add_connection(cqe.res);
  } else if (cqe.res == -EINVAL && options.multishot_accept && !accept_armed[index]) {
    options.multishot_accept = false;  // a kernel before 5.19: one accept at a time
  } else {
    (void)pause_accepting(sys::errno_code(-cqe.res), clock::now());
  }
  if (!accept_armed[index] && !accept_paused && !stopping.load()) arm_accept(index);
}

void uring_worker::start_receive(connection& c) {
  if (c.receive_queued) return;
  if (!c.receive_buffer) c.receive_buffer = std::make_unique<char[]>(read_chunk);
  io_uring_sqe* sqe = entry(&c, op::recv);
  if (!sqe) {
    close_connection(c);
    return;
  }
  io_uring_prep_recv(sqe, c.fd.get(), c.receive_buffer.get(), read_chunk, 0);
  c.receive_queued = true;
}

std::uint64_t uring_worker::body_bytes(const connection& c) const noexcept {
  return c.memory_sent + (c.body ? c.body->result().bytes : 0);
}

uring_worker::progress uring_worker::queue_send(connection& c, bool file_follows) {
  reply& r = *c.current;
  int n = 0;
  if (c.head_sent < r.head.size()) {
    c.iov[n++] = {r.head.data() + c.head_sent, r.head.size() - c.head_sent};
  }
  if (c.memory_sent < r.body.size()) {
    c.iov[n++] = {r.body.data() + c.memory_sent, r.body.size() - c.memory_sent};
  }
  if (const std::size_t from = std::max(c.memory_sent, r.body.size()) - r.body.size();
      from < r.borrowed_body.size()) {
    // iovec wants a non-const pointer; sendmsg only reads.
    c.iov[n++] = {const_cast<std::byte*>(r.borrowed_body.data()) + from,
                  r.borrowed_body.size() - from};
  }
  c.message = {};
  c.message.msg_iov = c.iov.data();
  c.message.msg_iovlen = static_cast<std::size_t>(n);
  io_uring_sqe* sqe = entry(&c, op::send);
  if (!sqe) return progress::failed;
  // MSG_MORE keeps a small head in the same segment as the first file bytes that follow.
  io_uring_prep_sendmsg(sqe, c.fd.get(), &c.message, MSG_NOSIGNAL | (file_follows ? MSG_MORE : 0));
  // A reply that is all in this send and leaves the connection open is followed by the next
  // receive, linked: the kernel starts it when the send completes instead of a turn of the loop
  // later. A failed send cancels it (-ECANCELED); a short one does not (only MSG_WAITALL would
  // make it a failure), so the receive may complete while the rest of the reply is going out.
  if (!file_follows && !r.close && c.input.empty() && !c.receive_queued && !stopping.load()) {
    sqe->flags |= IOSQE_IO_LINK;
    start_receive(c);
  }
  return progress::waiting;
}

uring_worker::progress uring_worker::start_body(connection& c) {
  // io_uring first, so the ring moves the body; the automatic chain after it takes over where
  // the kernel refuses the splice. Without IORING_OP_SPLICE, the method the options name.
  auto job = body_job(*c.current, c.socket, splice_ok ? method::io_uring : options.body_method);
  if (!job) {
    c.failure = job.error();
    return progress::failed;
  }
  c.body.emplace(std::move(*job));
  if (splice_ok) {
    auto shape = detail::uring_shape_for(detail::job_access::state(*c.body));
    if (shape && *shape == detail::flow_shape::splice) c.flow.emplace(*shape, 0);
  }
  return progress::waiting;
}

uring_worker::progress uring_worker::queue_body(connection& c) {
  if (!c.flow->idle()) return progress::waiting;  // a round is in flight
  detail::transfer_state& st = detail::job_access::state(*c.body);
  if (detail::finish_if_moved_all(st)) return body_finished(c);
  if (c.flow->polls_before_drain() && c.poll_useless) {
    // The socket was full, and a poll wakes at once on this peer: room is waited for in the
    // epoll set, and the drain that follows goes without a poll.
    c.flow->poll_before_drain(false);
    return wait_for_room(c) ? progress::waiting : progress::failed;
  }
  const detail::uring_lane lane = body_lane();
  // The round is one linked chain: it must not be cut by a full queue.
  if (io_uring_sq_space_left(lane.ring) < c.flow->max_entries(lane)) {
    if (auto s = ring->submit(0); !s) {
      c.failure = s.error();
      return progress::failed;
    }
  }
  auto queued = c.flow->queue(
      lane, st, st.remaining.value_or(std::numeric_limits<std::uint64_t>::max()), flow_tag(c.id));
  if (!queued) {
    c.failure = queued.error();
    return progress::failed;
  }
  c.in_flight += *queued;
  return progress::waiting;
}

void uring_worker::settle_body(connection& c) {
  detail::transfer_state& st = detail::job_access::state(*c.body);
  const auto out = c.flow->settle(body_lane(), st, flow_tag(c.id));
  if (!out || c.closing) return;  // closing: the settled round only keeps the pipe's count true
  // Woken by POLLRDHUP (or an error the next send reports), not by room: the next wait for room
  // goes through the epoll set.
  if (auto p = c.flow->last_poll(); p && *p >= 0 && !(*p & POLLOUT)) c.poll_useless = true;
  if (out->moved > 0) c.deadline = clock::now() + options.send_timeout;
  switch (detail::judge_round(st, *out)) {
    case detail::round_verdict::go_on:
    case detail::round_verdict::done:
      break;
    case detail::round_verdict::fall_back:
      c.flow.reset();  // transfer_job::run() goes on from here
      break;
  }
  drive(c);
}

uring_worker::progress uring_worker::run_body_job(connection& c) {
  const auto before = c.body->result().bytes;
  const transfer_result t = c.body->run();
  if (t.bytes != before) c.deadline = clock::now() + options.send_timeout;
  if (t.error || t.complete) return body_finished(c);
  return wait_for_room(c) ? progress::waiting : progress::failed;
}

uring_worker::progress uring_worker::body_finished(connection& c) {
  const transfer_result& t = c.body->result();
  if (t.error) {
    c.failure = t.error;
    return progress::failed;
  }
  if (t.bytes == c.current->length) return progress::done;
  c.failure = make_error_code(errc::source_truncated);
  return progress::failed;
}

uring_worker::progress uring_worker::advance_reply(connection& c) {
  const reply& r = *c.current;
  const bool has_file = r.file && *r.file && r.length > 0;
  const std::size_t memory_body = r.body.size() + r.borrowed_body.size();
  if (c.head_sent < r.head.size() || c.memory_sent < memory_body) return queue_send(c, has_file);
  if (!has_file) return progress::done;
  if (!c.body && start_body(c) == progress::failed) return progress::failed;
  if (c.body->done()) return body_finished(c);
  if (c.flow) return queue_body(c);
  return run_body_job(c);
}

void uring_worker::finish_reply(connection& c) {
  reply_sent(c, body_bytes(c));
  c.flow.reset();
  c.body.reset();  // a finished job has given its pipe back
  c.head_sent = c.memory_sent = 0;
}

void uring_worker::drive(connection& c) {
  if (c.closing) return;
  for (;;) {
    if (c.current) {
      switch (advance_reply(c)) {
        case progress::failed:
          close_connection(c);
          return;
        case progress::waiting:
          return;
        case progress::done:
          break;
      }
      const bool close_after = c.current->close;
      finish_reply(c);
      if (close_after || stopping.load()) {
        close_connection(c);
        return;
      }
    }
    if (!next_reply(c)) break;
  }
  if (c.peer_closed) {
    close_connection(c);
    return;
  }
  // Input the protocol cannot use yet stops the reading (the header timeout ends it).
  if (c.input.size() < max_buffered_input) start_receive(c);
}

void uring_worker::close_connection(connection& c) {
  if (c.closing) return;
  c.closing = true;
  ++closing_count;
  reply_cut(c, body_bytes(c));
  release();
  if (c.in_room_set) (void)sys::epoll_ctl(room.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
  if (c.waiting_room) --room_waiters;
  c.in_room_set = c.waiting_room = false;
  // Completes the receive and the sends the kernel still holds for this socket.
  (void)sys::shutdown(c.fd.get(), SHUT_RDWR);
  if (c.in_flight == 0) completed(c);
}

void uring_worker::completed(connection& c) {
  if (!c.closing || c.in_flight != 0) return;
  --closing_count;
  // Closes the socket and the file; the job gives its pipe back, or closes one holding bytes.
  connections.erase(c.id);
}

void uring_worker::on_completion(const io_uring_cqe& cqe) {
  const std::uint64_t data = io_uring_cqe_get_data64(&cqe);
  const auto o = static_cast<op>(data >> 8 & 0xff);
  const std::uint64_t id = data >> 16;
  const auto index = static_cast<unsigned>(data & 0xff);
  if (o == op::accept) return on_accept(static_cast<std::size_t>(id), cqe);
  if (o == op::wake) {
    drain_wake();
    if (!stopping.load()) arm_wake();
    return;
  }
  if (o == op::cancel) return;
  if (o == op::room) return on_room();
  auto it = connections.find(id);
  if (it == connections.end()) return;
  connection& c = *it->second;
  --c.in_flight;
  const int res = cqe.res;
  if (c.closing) {
    // Bytes a splice moved while the connection was closing still count for the pipe.
    if (o == op::body && c.flow) {
      c.flow->complete(index, res);
      if (!c.flow->in_flight()) settle_body(c);
    }
    completed(c);
    return;
  }
  switch (o) {
    case op::recv:
      c.receive_queued = false;
      if (res == -ECANCELED) {  // linked behind a send that failed
        if (!c.current) start_receive(c);
        return;
      }
      if (res < 0) {
        if (res == -EAGAIN || res == -EINTR) return start_receive(c);
        return close_connection(c);
      }
      if (res == 0) {
        c.peer_closed = true;
      } else {
        c.input.append(c.receive_buffer.get(), static_cast<std::size_t>(res));
      }
      // During a reply (a receive linked behind a send that was short) the bytes or the FIN wait
      // for it: the reply's own completions drive the connection. Driving it from here queued a
      // second send of the same bytes beside the one in flight, and the client got wrong bytes.
      if (c.current) return;
      return drive(c);
    case op::send: {
      if (res < 0) {
        if (res == -EINTR) return drive(c);
        if (res == -EAGAIN) {
          // The kernel answers EAGAIN instead of waiting for room once the peer half-closed (its
          // own poll for the send wakes on POLLRDHUP): sending again at once spun the loop, issue
          // 17. Room is waited for in the epoll set.
          c.poll_useless = true;
          if (!wait_for_room(c)) close_connection(c);
          return;
        }
        c.failure = sys::errno_code(-res);
        if (c.failure == std::errc::bad_address && !c.current->borrowed_body.empty()) {
          c.failure = make_error_code(errc::source_truncated);  // the mapped file shrank
        }
        return close_connection(c);
      }
      const auto sent = static_cast<std::size_t>(res);
      const std::size_t head_part = std::min(sent, c.current->head.size() - c.head_sent);
      c.head_sent += head_part;
      c.memory_sent += sent - head_part;
      c.deadline = clock::now() + options.send_timeout;
      return drive(c);
    }
    case op::body:
      if (!c.flow) return;
      c.flow->complete(index, res);
      if (!c.flow->in_flight()) settle_body(c);
      return;
    case op::poll_out:
      // The transfer job waits for it.
      if (res < 0 && res != -ECANCELED) {
        c.failure = sys::errno_code(-res);
        return close_connection(c);
      }
      // Woken by POLLRDHUP (or an error the next send reports), not by room: the next wait for
      // room goes through the epoll set.
      if (res >= 0 && !(res & POLLOUT)) c.poll_useless = true;
      return drive(c);
    default:
      return;
  }
}

void uring_worker::sweep(clock::time_point now) {
  std::vector<connection*> expired;
  for (auto& [id, c] : connections) {
    if (!c->closing && c->deadline <= now) expired.push_back(c.get());
  }
  for (connection* c : expired) {
    answer_timeout(*c, c->fd.get());
    close_connection(*c);
  }
}

void uring_worker::run() {
  auto made = detail::uring::create({.entries = ring_entries, .single_issuer = true});
  if (!made) {
    ready.set_value(made.error());
    return;
  }
  ring.emplace(std::move(*made));
  ready.set_value({});
  loop();
  ring.reset();
}

void uring_worker::reap(std::chrono::milliseconds timeout) {
  if (auto ec = ring->submit_and_wait(1, timeout);
      ec && ec != std::errc::device_or_resource_busy &&
      ec != std::errc::resource_unavailable_try_again) {
    // The ring is unusable (EBADF, EFAULT): nothing more will complete.
    stopping = true;
    grace_ms = 0;
    return;
  }
  // EBUSY / EAGAIN: completions must be reaped before more can be submitted; that is next.
  ring->for_each_completion([this](const io_uring_cqe& cqe) { on_completion(cqe); });
}

void uring_worker::stop_accepting() {
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    if (!accept_armed[i]) continue;
    if (auto sqe = ring->next_sqe()) {
      io_uring_prep_cancel64(*sqe, tag(i, op::accept), 0);
      io_uring_sqe_set_data64(*sqe, tag(0, op::cancel));
    }
  }
  const auto give_up = clock::now() + std::chrono::seconds(2);
  while (std::find(accept_armed.begin(), accept_armed.end(), true) != accept_armed.end() &&
         clock::now() < give_up) {
    reap(std::chrono::milliseconds(100));
  }
  drop_listeners(-1);
}

void uring_worker::loop() {
  arm_wake();
  for (std::size_t i = 0; i < listeners.size(); ++i) arm_accept(i);
  auto next_sweep = clock::now() + std::chrono::seconds(1);
  for (;;) {
    if (stop_begins(clock::now())) {
      stop_accepting();
      // Connections without a reply in flight are closed now, as the epoll loop does.
      std::vector<connection*> idle;
      for (auto& [id, c] : connections) {
        if (!c->closing && !c->current) idle.push_back(c.get());
      }
      for (connection* c : idle) close_connection(*c);
    }
    if (stop_done(clock::now(), connections.size() != closing_count)) break;
    arm_room();
    reap(std::chrono::milliseconds(250));
    const auto now = clock::now();
    if (resume_accepting(now)) {
      for (std::size_t i = 0; i < listeners.size(); ++i) {
        if (!accept_armed[i]) arm_accept(i);
      }
    }
    if (now >= next_sweep) {
      sweep(now);
      if (options.tick) options.tick();
      next_sweep = now + std::chrono::seconds(1);
    }
  }
  // Replies cut short still reach the protocol (and its log); then the kernel gives back every
  // entry before the memory they use goes away.
  std::vector<connection*> left;
  for (auto& [id, c] : connections) left.push_back(c.get());
  for (connection* c : left) close_connection(*c);
  const auto give_up = clock::now() + std::chrono::seconds(5);
  while (!connections.empty() && clock::now() < give_up) reap(std::chrono::milliseconds(100));
  if (options.tick) options.tick();
}

}  // namespace

std::expected<std::unique_ptr<server::worker>, std::error_code> make_uring_worker() {
  const auto support = detail::uring_support();
  if (support.setup_error) return std::unexpected(support.setup_error);
  for (unsigned needed : {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SENDMSG, IORING_OP_POLL_ADD,
                          IORING_OP_ASYNC_CANCEL}) {
    if (!support.has(needed)) {
      return std::unexpected(make_error_code(errc::method_unavailable));
    }
  }
  return std::make_unique<uring_worker>();
}

}  // namespace zcopy::net

#else

namespace zcopy::net {
std::expected<std::unique_ptr<server::worker>, std::error_code> make_uring_worker() {
  return std::unexpected(make_error_code(errc::method_unavailable));
}
}  // namespace zcopy::net

#endif
