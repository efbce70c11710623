// zerocopy_sender (include/zcopy/zerocopy.hpp): MSG_ZEROCOPY, IORING_OP_SEND_ZC and plain send
// behind one owning interface.
//
// Every buffer is a `record`. Records still being sent sit in `sending_` (only the front one is
// ever partly sent: sends are strictly in order on a stream). A record that is fully sent, or that
// failed, moves to `waiting_` until the kernel has released every send that used its pages; then
// the callback gets it back. What "released" means per mode:
//   msg_zerocopy  every successful sendmsg(MSG_ZEROCOPY) gets the next 32-bit id of the socket
//                 (Documentation/networking/msg_zerocopy.rst); the error queue reports inclusive,
//                 possibly coalesced and out-of-order ranges [ee_info, ee_data] of finished ids.
//                 A record holds a contiguous run of ids; it is released when all are reported.
//   send_zc       every submission whose result CQE has IORING_CQE_F_MORE is followed by one
//                 IORING_CQE_F_NOTIF CQE with the same user_data (a per-submission number);
//                 F_MORE, not the result, says whether a NOTIF follows (axboe/liburing#643).
//   copy / small  nothing: the kernel copied during the call.
#include "zcopy/zerocopy.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>

#include "core/uring.hpp"
#include "sys/sys.hpp"
#include "zcopy/error.hpp"

namespace zcopy {

std::string_view to_string(send_mode m) noexcept {
  switch (m) {
    case send_mode::copy:
      return "copy";
    case send_mode::msg_zerocopy:
      return "msg_zerocopy";
    case send_mode::send_zc:
      return "send_zc";
  }
  return "?";
}

namespace detail {

namespace {

using steady = std::chrono::steady_clock;

// One call sends at most this much: io_uring takes a 32-bit length and sendmsg returns at most
// INT_MAX minus a page anyway.
constexpr std::size_t max_per_call = std::size_t{1} << 30;

struct record {
  std::uint64_t seq = 0;
  send_buffer buffer;
  std::size_t sent = 0;
  std::uint32_t pending = 0;   // notifications still expected (ids or NOTIF CQEs)
  std::uint64_t first_id = 0;  // msg_zerocopy: the first id of this record, unwrapped to 64 bits
  std::uint32_t ids = 0;       // msg_zerocopy: how many ids it holds
  std::uint32_t zerocopy_sends = 0;
  std::uint32_t copied_sends = 0;
  std::error_code error;
};

// Buffers the kernel still held when their sender gave up waiting: kept reachable, never freed or
// reused (the pages may still be read by the NIC, and a leak checker should not call it a leak).
void abandon(send_buffer buffer) {
  static std::mutex lock;
  static auto* kept = new std::vector<send_buffer>();
  std::lock_guard guard(lock);
  kept->push_back(std::move(buffer));
}

bool would_block(const std::error_code& e) {
  return e == std::errc::resource_unavailable_try_again || e == std::errc::operation_would_block;
}

}  // namespace

class zerocopy_engine {
 public:
  zerocopy_engine(int fd, completion_callback cb, zerocopy_options options)
      : fd_(fd), callback_(std::move(cb)), options_(options), mode_(options.mode) {}

  std::error_code setup();
  send_progress send(send_buffer buffer);
  send_progress pump();
  std::expected<std::size_t, std::error_code> reap();
  std::expected<std::size_t, std::error_code> wait(steady::time_point deadline);
  std::error_code flush(steady::time_point deadline);
  void shut_down();

  std::size_t held() const noexcept { return sending_.size() + waiting_.size(); }
  std::uint64_t queued_bytes() const noexcept {
    std::uint64_t n = 0;
    for (const record& r : sending_) n += r.buffer.size() - r.sent;
    return n;
  }

  int fd_;
  completion_callback callback_;
  zerocopy_options options_;
  send_mode mode_;
  std::error_code fallback_;
  std::error_code failed_;  // the socket failed: later buffers are handed back at once
  zerocopy_stats stats_;

 private:
  // Sends a prefix of the front record; the bytes the socket took.
  sys::result<std::size_t> send_some(record& r);
  sys::result<std::size_t> send_plain(record& r, std::span<const std::byte> data);
  sys::result<std::size_t> send_msg_zerocopy(record& r, std::span<const std::byte> data);
  std::expected<std::size_t, std::error_code> reap_error_queue();
  void complete_ids(std::uint32_t lo, std::uint32_t hi, bool copied);
  record* find(std::uint64_t seq);
  // Moves the front record out of `sending_` (done or failed) and releases what is finished.
  void retire_front();
  std::size_t release_finished();
  void hand_back(record&& r);
  void fail(std::error_code e);

  std::deque<record> sending_;
  std::deque<record> waiting_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t next_id_ = 0;  // msg_zerocopy: the id the next zero-copy sendmsg gets
#ifdef ZCOPY_WITH_URING
  sys::result<std::size_t> send_uring(record& r, std::span<const std::byte> data);
  // Counts NOTIFs; stores the result CQE of submission `want` (made for record `owner_seq`)
  // when `have` is given, and sets *have.
  std::size_t reap_uring(std::uint64_t want, std::uint64_t owner_seq,
                         sys::result<std::size_t>* result, std::uint32_t* result_flags, bool* have);
  std::optional<uring> ring_;
  unsigned zc_flags_ = send_zc_report_usage;
  // io_uring waits for room even on an O_NONBLOCK socket (it polls and retries); MSG_DONTWAIT
  // makes it answer -EAGAIN like send(2) would.
  int msg_flags_ = MSG_NOSIGNAL;
  // Each submission's user_data is its own number; the NOTIF it promised (F_MORE) is found here:
  // the record it belongs to, and whether the send moved bytes (a failed send's NOTIF reports
  // "copied" too, as nothing was sent zero-copy).
  struct notif_owner {
    std::uint64_t seq;
    bool moved;
  };
  std::unordered_map<std::uint64_t, notif_owner> notifs_;
  std::uint64_t next_submission_ = 0;
#endif
};

std::error_code zerocopy_engine::setup() {
  if (mode_ == send_mode::send_zc) {
#ifdef ZCOPY_WITH_URING
    if (!uring_support().has(IORING_OP_SEND_ZC)) {
      fallback_ = make_error_code(errc::method_unavailable);  // before Linux 6.0, or hidden
    } else if (auto ring = uring::create({.entries = 64}); !ring) {
      fallback_ = ring.error();  // ENOMEM (memlock), EPERM (io_uring_disabled, seccomp)
    } else if (auto fl = sys::fcntl(fd_, F_GETFL); !fl) {
      return fl.error();
    } else {
      if (*fl & O_NONBLOCK) msg_flags_ |= MSG_DONTWAIT;
      ring_.emplace(std::move(*ring));
      return {};
    }
#else
    fallback_ = make_error_code(errc::method_unavailable);  // built without liburing
#endif
    mode_ = send_mode::msg_zerocopy;
  }
  if (mode_ == send_mode::msg_zerocopy) {
    int one = 1;
    // EOPNOTSUPP on sockets without an error queue (AF_UNIX), ENOPROTOOPT before 4.14.
    if (auto r = sys::setsockopt(fd_, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one); !r) {
      if (!fallback_) fallback_ = r.error();
      mode_ = send_mode::copy;
    }
  }
  return {};
}

record* zerocopy_engine::find(std::uint64_t seq) {
  for (record& r : waiting_) {
    if (r.seq == seq) return &r;
  }
  if (!sending_.empty() && sending_.front().seq == seq) return &sending_.front();
  return nullptr;
}

void zerocopy_engine::hand_back(record&& r) {
  send_completion c;
  c.bytes_sent = r.sent;
  c.error = r.error;
  c.zerocopy_sends = r.zerocopy_sends;
  c.copied_sends = r.copied_sends;
  c.buffer = std::move(r.buffer);
  ++stats_.buffers_returned;
  if (callback_) callback_(std::move(c));
}

std::size_t zerocopy_engine::release_finished() {
  std::vector<record> done;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->pending == 0) {
      done.push_back(std::move(*it));
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  // The callbacks run after the bookkeeping, so a callback that throws leaves no half state.
  for (record& r : done) hand_back(std::move(r));
  return done.size();
}

void zerocopy_engine::retire_front() {
  waiting_.push_back(std::move(sending_.front()));
  sending_.pop_front();
  release_finished();
}

void zerocopy_engine::fail(std::error_code e) {
  failed_ = e;
  // The front record may have ids in flight: it waits for them like any other. Records never
  // started were not seen by the kernel and go back at once.
  if (!sending_.empty()) {
    sending_.front().error = e;
    retire_front();
  }
  while (!sending_.empty()) {
    record r = std::move(sending_.front());
    sending_.pop_front();
    r.error = e;
    hand_back(std::move(r));
  }
}

sys::result<std::size_t> zerocopy_engine::send_plain(record& r, std::span<const std::byte> data) {
  ++stats_.sends;
  if (mode_ != send_mode::copy && r.buffer.size() < options_.threshold) ++stats_.small_sends;
  return sys::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
}

sys::result<std::size_t> zerocopy_engine::send_msg_zerocopy(record& r,
                                                            std::span<const std::byte> data) {
  for (;;) {
    iovec iov{const_cast<std::byte*>(data.data()), data.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ++stats_.sends;
    auto n = sys::sendmsg(fd_, &msg, MSG_ZEROCOPY | MSG_NOSIGNAL);
    if (n && *n > 0) {
      // A call that moved bytes took the socket's next id (a failed one gave its id back).
      if (r.ids == 0) r.first_id = next_id_;
      ++next_id_;
      ++r.ids;
      ++r.pending;
      ++r.zerocopy_sends;
      ++stats_.zerocopy_sends;
      return n;
    }
    if (n || n.error() != std::errc::no_buffer_space) return n;
    // ENOBUFS: the pinned pages of earlier sends filled optmem (net.core.optmem_max). Reaping
    // completions gives it back; when nothing is finished yet, this part goes out as a copy.
    auto reaped = reap_error_queue();
    if (!reaped) return std::unexpected(reaped.error());
    if (*reaped == 0) {
      ++stats_.sends;
      return sys::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    }
    release_finished();
  }
}

sys::result<std::size_t> zerocopy_engine::send_some(record& r) {
  auto data = std::span<const std::byte>(r.buffer).subspan(r.sent);
  data = data.first(std::min(data.size(), max_per_call));
  if (mode_ == send_mode::copy || r.buffer.size() < options_.threshold) return send_plain(r, data);
  if (mode_ == send_mode::msg_zerocopy) return send_msg_zerocopy(r, data);
#ifdef ZCOPY_WITH_URING
  return send_uring(r, data);
#else
  return send_plain(r, data);
#endif
}

send_progress zerocopy_engine::pump() {
  send_progress p;
  if (failed_) {
    p.error = failed_;
    return p;
  }
  while (!sending_.empty()) {
    record& r = sending_.front();
    if (r.sent == r.buffer.size()) {
      retire_front();
      continue;
    }
    auto n = send_some(r);
    if (!n) {
      if (would_block(n.error())) {
        p.would_block = true;
        return p;
      }
      p.error = n.error();
      fail(n.error());
      return p;
    }
    r.sent += *n;
    stats_.bytes += *n;
    p.bytes += *n;
  }
  return p;
}

send_progress zerocopy_engine::send(send_buffer buffer) {
  record r;
  r.seq = next_seq_++;
  r.buffer = std::move(buffer);
  if (failed_) {
    r.error = failed_;
    hand_back(std::move(r));
    return {.error = failed_};
  }
  sending_.push_back(std::move(r));
  // Completions pile up when the caller never polls: reap now and then, not on every send (a
  // system call each).
  if (waiting_.size() >= 32) (void)reap();
  return pump();
}

void zerocopy_engine::complete_ids(std::uint32_t lo, std::uint32_t hi, bool copied) {
  // Unwrap the 32-bit ids against the next id to be given; a range is never older than 2^31 sends.
  const std::uint64_t hi64 =
      next_id_ - static_cast<std::uint32_t>(static_cast<std::uint32_t>(next_id_) - hi);
  const std::uint64_t lo64 = hi64 - static_cast<std::uint32_t>(hi - lo);
  auto visit = [&](record& r) {
    if (r.ids == 0) return;
    const std::uint64_t a = std::max(lo64, r.first_id);
    const std::uint64_t b = std::min(hi64 + 1, r.first_id + r.ids);
    if (a >= b) return;
    const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(b - a, r.pending));
    r.pending -= n;
    if (copied) {
      r.copied_sends += n;
      stats_.copied_sends += n;
    }
  };
  for (record& r : waiting_) visit(r);
  if (!sending_.empty()) visit(sending_.front());
}

std::expected<std::size_t, std::error_code> zerocopy_engine::reap_error_queue() {
  std::size_t ranges = 0;
  for (;;) {
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(sock_extended_err) + 64)> control{};
    msghdr msg{};
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    // Never blocks: an empty error queue answers EAGAIN.
    auto r = sys::recvmsg(fd_, &msg, MSG_ERRQUEUE);
    if (!r) {
      if (would_block(r.error())) return ranges;
      return std::unexpected(r.error());
    }
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
      const bool recverr = (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
                           (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR);
      if (!recverr) continue;
      sock_extended_err err;
      std::memcpy(&err, CMSG_DATA(cm), sizeof err);
      if (err.ee_origin != SO_EE_ORIGIN_ZEROCOPY || err.ee_errno != 0) continue;
      ++ranges;
      ++stats_.completions;
      // SO_EE_CODE_ZEROCOPY_COPIED: the kernel fell back to copying (loopback, a device without
      // scatter-gather); the pages were released all the same.
      complete_ids(err.ee_info, err.ee_data, (err.ee_code & SO_EE_CODE_ZEROCOPY_COPIED) != 0);
    }
  }
}

#ifdef ZCOPY_WITH_URING

std::size_t zerocopy_engine::reap_uring(std::uint64_t want, std::uint64_t owner_seq,
                                        sys::result<std::size_t>* result,
                                        std::uint32_t* result_flags, bool* have) {
  std::size_t seen = 0;
  ring_->for_each_completion([&](const io_uring_cqe& cqe) {
    ++seen;
    if (cqe.flags & IORING_CQE_F_NOTIF) {
      ++stats_.completions;
      auto owner = notifs_.find(cqe.user_data);
      if (owner == notifs_.end()) return;
      const notif_owner o = owner->second;
      notifs_.erase(owner);
      if (record* r = find(o.seq); r && r->pending > 0) {
        --r->pending;
        // With IORING_SEND_ZC_REPORT_USAGE (6.2) the NOTIF says whether the data was copied.
        if (o.moved && zc_flags_ & send_zc_report_usage &&
            static_cast<std::uint32_t>(cqe.res) & notif_usage_zc_copied) {
          ++r->copied_sends;
          ++stats_.copied_sends;
        }
      }
      return;
    }
    if (cqe.user_data == want && have) {
      *have = true;
      *result_flags = cqe.flags;
      // Counted here, before a NOTIF later in this same batch is looked at.
      if (cqe.flags & IORING_CQE_F_MORE) {
        if (record* r = find(owner_seq)) {
          ++r->pending;
          notifs_[cqe.user_data] = {owner_seq, cqe.res > 0};
        }
      }
      *result = cqe.res < 0 ? sys::fail(-cqe.res) : sys::result<std::size_t>(cqe.res);
    }
  });
  return seen;
}

sys::result<std::size_t> zerocopy_engine::send_uring(record& r, std::span<const std::byte> data) {
  for (;;) {
    auto sqe = ring_->next_sqe();
    if (!sqe) return std::unexpected(sqe.error());
    io_uring_prep_send_zc(*sqe, fd_, data.data(), data.size(), msg_flags_, zc_flags_);
    const std::uint64_t submission = next_submission_++;
    (*sqe)->user_data = submission;
    ++stats_.sends;
    sys::result<std::size_t> got = sys::fail(EAGAIN);
    std::uint32_t flags = 0;
    bool have = false;
    // The result CQE of this submission; NOTIFs of earlier ones are counted on the way. A
    // blocking socket waits in the kernel (io_uring polls it), so this may take as long as send.
    while (!have) {
      if (auto e = ring_->submit_and_wait(1, std::chrono::milliseconds(1000))) {
        return std::unexpected(e);
      }
      reap_uring(submission, r.seq, &got, &flags, &have);
    }
    if (got && *got > 0) {
      if (flags & IORING_CQE_F_MORE) {
        ++r.zerocopy_sends;
        ++stats_.zerocopy_sends;
      }
      return got;
    }
    if (!got && got.error() == std::errc::invalid_argument && (zc_flags_ & send_zc_report_usage)) {
      zc_flags_ &= ~send_zc_report_usage;  // a kernel before 6.2 refuses REPORT_USAGE
      continue;
    }
    if (got && *got == 0) return sys::fail(EAGAIN);  // nothing taken: treat like a full socket
    return got;
  }
}

#endif

std::expected<std::size_t, std::error_code> zerocopy_engine::reap() {
  if (mode_ == send_mode::msg_zerocopy) {
    auto r = reap_error_queue();
    if (!r) return std::unexpected(r.error());
  }
#ifdef ZCOPY_WITH_URING
  if (ring_) reap_uring(UINT64_MAX, 0, nullptr, nullptr, nullptr);
#endif
  return release_finished();
}

std::expected<std::size_t, std::error_code> zerocopy_engine::wait(steady::time_point deadline) {
  std::size_t returned = 0;
  for (;;) {
    if (!sending_.empty() && !failed_) {
      auto p = pump();
      if (p.error) return std::unexpected(p.error);
    }
    auto r = reap();
    if (!r) return r;
    returned += *r;
    if (returned > 0 || held() == 0) return returned;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) return returned;
    const int step = static_cast<int>(std::min<std::int64_t>(left.count(), 100));
    if (!sending_.empty() && !failed_) {
      // A full non-blocking socket: wait until it takes more.
      if (auto w = sys::wait_ready(fd_, POLLOUT, step); !w) return std::unexpected(w.error());
      continue;
    }
#ifdef ZCOPY_WITH_URING
    if (ring_) {
      if (auto e = ring_->submit_and_wait(1, std::chrono::milliseconds(step))) {
        return std::unexpected(e);
      }
      continue;
    }
#endif
    if (mode_ == send_mode::msg_zerocopy) {
      // POLLERR: the error queue has something. A socket that was reset or shut down also reports
      // POLLHUP at once, every time; then back off a millisecond instead of spinning.
      pollfd p{fd_, 0, 0};
      auto n = sys::poll(&p, 1, step);
      if (!n) return std::unexpected(n.error());
      if (*n > 0 && (p.revents & POLLERR) == 0) (void)sys::poll(nullptr, 0, 1);
      continue;
    }
    return returned;  // nothing in flight can finish in copy mode
  }
}

std::error_code zerocopy_engine::flush(steady::time_point deadline) {
  while (held() > 0) {
    auto r = wait(deadline);
    if (!r) return r.error();
    if (*r == 0 && held() > 0 && steady::now() >= deadline) {
      return std::make_error_code(std::errc::timed_out);
    }
  }
  return failed_;
}

void zerocopy_engine::shut_down() {
  (void)flush(steady::now() + options_.drain_timeout);
  const std::error_code timed_out = std::make_error_code(std::errc::timed_out);
  // Never started: the kernel never saw these pages.
  std::deque<record> left;
  left.swap(sending_);
  for (record& r : left) {
    if (r.sent == 0 && r.ids == 0 && r.pending == 0) {
      r.error = timed_out;
      hand_back(std::move(r));
    } else {
      waiting_.push_back(std::move(r));
    }
  }
  std::deque<record> stuck;
  stuck.swap(waiting_);
  for (record& r : stuck) {
    if (r.pending > 0) abandon(std::move(r.buffer));
    if (!r.error) r.error = timed_out;
    hand_back(std::move(r));
  }
}

}  // namespace detail

zerocopy_sender::zerocopy_sender(std::unique_ptr<detail::zerocopy_engine> engine) noexcept
    : engine_(std::move(engine)) {}
zerocopy_sender::zerocopy_sender(zerocopy_sender&&) noexcept = default;
zerocopy_sender& zerocopy_sender::operator=(zerocopy_sender&& other) noexcept {
  if (this != &other) {
    if (engine_) engine_->shut_down();
    engine_ = std::move(other.engine_);
  }
  return *this;
}
zerocopy_sender::~zerocopy_sender() {
  if (engine_) engine_->shut_down();
}

std::expected<zerocopy_sender, std::error_code> zerocopy_sender::create(
    int fd, completion_callback on_complete, zerocopy_options options) {
  if (fd < 0) return std::unexpected(std::make_error_code(std::errc::bad_file_descriptor));
  auto engine = std::make_unique<detail::zerocopy_engine>(fd, std::move(on_complete), options);
  if (auto e = engine->setup()) return std::unexpected(e);
  return zerocopy_sender(std::move(engine));
}

send_progress zerocopy_sender::send(send_buffer buffer) {
  return engine_->send(std::move(buffer));
}
send_progress zerocopy_sender::resume() {
  return engine_->pump();
}
std::expected<std::size_t, std::error_code> zerocopy_sender::poll() {
  return engine_->reap();
}
std::expected<std::size_t, std::error_code> zerocopy_sender::wait(
    std::chrono::milliseconds timeout) {
  return engine_->wait(std::chrono::steady_clock::now() + timeout);
}
std::error_code zerocopy_sender::flush(std::chrono::milliseconds timeout) {
  return engine_->flush(std::chrono::steady_clock::now() + timeout);
}
std::size_t zerocopy_sender::buffers_held() const noexcept {
  return engine_->held();
}
std::uint64_t zerocopy_sender::queued_bytes() const noexcept {
  return engine_->queued_bytes();
}
send_mode zerocopy_sender::requested_mode() const noexcept {
  return engine_->options_.mode;
}
send_mode zerocopy_sender::mode() const noexcept {
  return engine_->mode_;
}
std::error_code zerocopy_sender::fallback_reason() const noexcept {
  return engine_->fallback_;
}
const zerocopy_stats& zerocopy_sender::stats() const noexcept {
  return engine_->stats_;
}

}  // namespace zcopy
