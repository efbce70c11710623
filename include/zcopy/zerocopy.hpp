// zerocopy_sender: zero-copy sends from user memory to one connected stream socket.
//
// With MSG_ZEROCOPY (Linux 4.14) or io_uring's IORING_OP_SEND_ZC (6.0) the kernel sends straight
// from the caller's pages, so the pages must not change until the kernel says it is done with
// them, which is later than the send call returns: MSG_ZEROCOPY reports it on the socket's error
// queue, SEND_ZC in a second, "notification" completion.
//
// Ownership makes that rule impossible to break: `send` takes a `send_buffer` by value (moved in)
// and the sender holds it until the kernel has released every page of it; only then is it handed
// back, exactly once, through the completion callback, with how much of it was sent and any error.
// There is no borrowed-span overload. A buffer is also handed back when the socket fails (after
// the kernel released it) and when the sender is destroyed (see ~zerocopy_sender). The callback
// runs on the thread that called into the sender (send, resume, poll, flush, the destructor) and
// must not call into that sender.
//
// Buffers below `threshold` are sent with a plain send: pinning pages and reading a completion
// costs more than copying a few KiB (docs/DESIGN.md, "Zero-copy sends", has the measurement).
// The socket is borrowed: the caller keeps it open for the sender's lifetime.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string_view>
#include <system_error>
#include <vector>

namespace zcopy {

enum class send_mode {
  copy,          // plain send(2): the kernel copies into socket buffers (the baseline)
  msg_zerocopy,  // SO_ZEROCOPY + sendmsg(MSG_ZEROCOPY), completions from the error queue
  send_zc,       // IORING_OP_SEND_ZC on the sender's own io_uring, completions as CQEs
};
std::string_view to_string(send_mode m) noexcept;

// The memory a sender owns while the kernel may read it.
using send_buffer = std::vector<std::byte>;

// A buffer handed back: the kernel no longer reads it and it may be reused.
struct send_completion {
  send_buffer buffer;
  std::size_t bytes_sent = 0;        // how much of it the socket accepted
  std::error_code error;             // why not all of it (empty when bytes_sent == buffer.size())
  std::uint32_t zerocopy_sends = 0;  // sends of this buffer made with zero copy requested
  std::uint32_t copied_sends = 0;    // of those, sends the kernel copied anyway
};

// Called once per buffer given to send().
using completion_callback = std::function<void(send_completion&&)>;

struct zerocopy_options {
  send_mode mode = send_mode::msg_zerocopy;
  // Buffers smaller than this go out with a plain send in the zero-copy modes. Measured with
  // `zcopy bench --paths memory-socket` on loopback (2 vCPUs, Linux 6.18): the fixed cost of a
  // zero-copy send (pinning, the notification) over a plain send was 0.61 CPU s/GiB at 4 KiB and
  // 0.45 at 8 KiB, more than a whole copy costs (write: 0.51 and 0.74 s/GiB), and fell to about
  // 0.13 at 64 KiB; 16 KiB is where it drops below the copy a NIC saves (the kernel's guidance
  // is ~10 KB). Details in docs/DESIGN.md, "Zero-copy sends".
  std::size_t threshold = std::size_t{16} << 10;
  // How long the destructor waits for the kernel to release buffers still in flight.
  std::chrono::milliseconds drain_timeout{5000};
};

struct zerocopy_stats {
  std::uint64_t sends = 0;           // send calls (sendmsg, send, SEND_ZC submissions)
  std::uint64_t bytes = 0;           // bytes the socket accepted
  std::uint64_t zerocopy_sends = 0;  // sends made with zero copy requested
  std::uint64_t copied_sends = 0;    // of those, sends the kernel reported it copied anyway
  std::uint64_t small_sends = 0;     // plain sends because the buffer was below the threshold
  std::uint64_t completions = 0;     // notifications reaped (error-queue ranges, NOTIF CQEs)
  std::uint64_t buffers_returned = 0;
};

// What one send/resume call did.
struct send_progress {
  std::uint64_t bytes = 0;   // bytes the socket accepted during this call
  bool would_block = false;  // a non-blocking socket is full: queued bytes wait for resume()
  std::error_code error;     // the socket failed; every buffer is (or will be) handed back
};

namespace detail {
class zerocopy_engine;
}

class zerocopy_sender {
 public:
  // `fd` is a connected stream socket (blocking or O_NONBLOCK), borrowed. The requested mode
  // falls back where this kernel or socket cannot do it (see `mode()` and `fallback_reason()`).
  static std::expected<zerocopy_sender, std::error_code> create(int fd,
                                                                completion_callback on_complete,
                                                                zerocopy_options options = {});

  zerocopy_sender(zerocopy_sender&&) noexcept;
  zerocopy_sender& operator=(zerocopy_sender&&) noexcept;
  zerocopy_sender(const zerocopy_sender&) = delete;
  zerocopy_sender& operator=(const zerocopy_sender&) = delete;
  // Sends what is still queued where the socket blocks, then waits at most
  // `options.drain_timeout` for the kernel to release the buffers in flight and hands them back.
  // A buffer the kernel still holds after that is handed back with error `timed_out` and an
  // empty `buffer`: its memory is deliberately leaked, never freed or reused under the kernel.
  ~zerocopy_sender();

  // Takes `buffer` and sends it after what is queued. On a blocking socket everything is sent
  // before it returns; on a non-blocking one what does not fit stays queued (would_block) until
  // resume(). Completions that are ready are reaped on the way.
  send_progress send(send_buffer buffer);
  // Continues queued sends (call when the socket is writable again).
  send_progress resume();
  // Reaps completions ready now, without waiting; returns how many buffers were handed back.
  std::expected<std::size_t, std::error_code> poll();
  // Waits at most `timeout` until at least one buffer is handed back (sending what is queued on
  // the way); returns how many were. 0 when the time ran out or nothing is held.
  std::expected<std::size_t, std::error_code> wait(std::chrono::milliseconds timeout);
  // Sends everything queued and waits until every buffer is handed back, at most `timeout`
  // (timed_out then). A non-blocking socket is waited on with poll(2).
  std::error_code flush(std::chrono::milliseconds timeout = std::chrono::milliseconds{30000});

  std::size_t buffers_held() const noexcept;    // given to send() and not yet handed back
  std::uint64_t queued_bytes() const noexcept;  // accepted by send() but not yet by the socket
  send_mode requested_mode() const noexcept;
  send_mode mode() const noexcept;  // the mode in use
  // Why mode() differs from the requested mode (empty when it does not): EOPNOTSUPP-like refusals
  // of SO_ZEROCOPY, the io_uring setup error, or method_unavailable when the probe lacks SEND_ZC.
  std::error_code fallback_reason() const noexcept;
  const zerocopy_stats& stats() const noexcept;

 private:
  explicit zerocopy_sender(std::unique_ptr<detail::zerocopy_engine> engine) noexcept;
  std::unique_ptr<detail::zerocopy_engine> engine_;
};

}  // namespace zcopy
