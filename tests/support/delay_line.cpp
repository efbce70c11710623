// zcopy_delay_line: a long network path for tests and benchmarks on kernels without netem.
//
// Two network namespaces each hold a TUN device (made beforehand with `ip tuntap add`); this
// program attaches to both and forwards every IP packet from one to the other after a fixed
// delay, at a fixed line rate, as netem's `delay D rate R` does: a packet leaves the line
// `size / rate` after the one before it has left (or after it arrived, if the line was idle),
// and reaches the other side `delay` later. TCP runs end to end through it, so one connection is
// held to window / RTT exactly as on a long path; nothing is terminated or acknowledged here.
// Packets beyond the queue limit are dropped, as a router's full queue drops them.
//
//   zcopy_delay_line NS_A DEV_A NS_B DEV_B DELAY_MS RATE_MBIT [QUEUE_BYTES]
//
// Prints "ready" on stdout once both devices are attached; runs until SIGTERM or SIGINT and then
// prints what it forwarded and dropped. RATE_MBIT 0 means no rate limit. Needs root.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

using nanos = std::int64_t;

nanos now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return nanos(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "zcopy_delay_line: %s\n", what.c_str());
  std::exit(1);
}

std::uint64_t number(std::string_view text, const char* what) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    die(std::string("bad ") + what + ": '" + std::string(text) + "'");
  }
  return v;
}

// Opens DEV, a TUN device inside namespace NS, from this (root namespace) process: the fd stays
// bound to the device after the thread returns to its own namespace.
int attach(const std::string& ns, const std::string& dev, int home) {
  const int nsfd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die("no network namespace " + ns + ": " + std::strerror(errno));
  if (::setns(nsfd, CLONE_NEWNET) != 0) die("setns " + ns + ": " + std::strerror(errno));
  ::close(nsfd);
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die(std::string("/dev/net/tun: ") + std::strerror(errno));
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (dev.size() >= IFNAMSIZ) die("device name too long: " + dev);
  std::memcpy(ifr.ifr_name, dev.c_str(), dev.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    die("attach " + dev + " in " + ns + ": " + std::strerror(errno));
  }
  if (::setns(home, CLONE_NEWNET) != 0) die(std::string("setns back: ") + std::strerror(errno));
  return fd;
}

struct packet {
  nanos due;  // when it reaches the far side
  std::vector<char> bytes;
};

// One direction of the path: packets read from `in`, written to `out` when due.
struct direction {
  int in = -1, out = -1;
  std::deque<packet> queue;
  std::size_t queued_bytes = 0;
  nanos line_free = 0;  // when the line has finished sending what is queued
  std::uint64_t forwarded = 0, dropped = 0;
};

volatile sig_atomic_t stop_requested = 0;
void on_signal(int) {
  stop_requested = 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7 && argc != 8) {
    std::fprintf(stderr,
                 "usage: zcopy_delay_line NS_A DEV_A NS_B DEV_B DELAY_MS RATE_MBIT "
                 "[QUEUE_BYTES]\n");
    return 2;
  }
  const nanos delay = nanos(number(argv[5], "delay")) * 1'000'000;
  const std::uint64_t rate_bits = number(argv[6], "rate") * 1'000'000;
  const std::size_t limit = argc == 8 ? number(argv[7], "queue limit") : std::size_t(32) << 20;

  // The kernel's default 50 us slack would add to every packet's delay.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);

  const int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) die(std::string("/proc/self/ns/net: ") + std::strerror(errno));
  const int a = attach(argv[1], argv[2], home);
  const int b = attach(argv[3], argv[4], home);
  direction dirs[2];
  dirs[0].in = a, dirs[0].out = b;
  dirs[1].in = b, dirs[1].out = a;
  std::printf("ready\n");
  std::fflush(stdout);

  std::vector<char> buffer(65536);
  while (!stop_requested) {
    // Sleep until a packet arrives or the next queued one is due.
    nanos next = -1;
    for (const direction& d : dirs) {
      if (!d.queue.empty() && (next < 0 || d.queue.front().due < next)) next = d.queue.front().due;
    }
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    timespec wait{};
    if (next >= 0) {
      const nanos left = std::max<nanos>(0, next - now());
      wait.tv_sec = left / 1'000'000'000;
      wait.tv_nsec = left % 1'000'000'000;
    }
    if (::ppoll(fds, 2, next >= 0 ? &wait : nullptr, nullptr) < 0 && errno != EINTR) {
      die(std::string("ppoll: ") + std::strerror(errno));
    }
    for (std::size_t i = 0; i < 2; ++i) {
      direction& d = dirs[i];
      // A device that is gone (its namespace deleted) would make every ppoll return at once.
      if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) die("a device went away");
      // A bounded batch per wake-up, so one busy direction cannot starve the other.
      for (int n = 0; n < 256 && (fds[i].revents & POLLIN); ++n) {
        const ssize_t got = ::read(d.in, buffer.data(), buffer.size());
        if (got < 0) {
          if (errno == EAGAIN || errno == EINTR) break;
          die(std::string("read: ") + std::strerror(errno));
        }
        if (got == 0) break;
        if (d.queued_bytes + std::size_t(got) > limit) {
          ++d.dropped;
          continue;
        }
        const nanos t = now();
        nanos sent = std::max(t, d.line_free);
        if (rate_bits > 0) sent += nanos(std::uint64_t(got) * 8 * 1'000'000'000 / rate_bits);
        d.line_free = sent;
        d.queue.push_back({sent + delay, std::vector<char>(buffer.data(), buffer.data() + got)});
        d.queued_bytes += std::size_t(got);
      }
    }
    const nanos t = now();
    for (direction& d : dirs) {
      while (!d.queue.empty() && d.queue.front().due <= t) {
        const packet& p = d.queue.front();
        // A TUN write hands the packet to the far namespace's stack; it does not wait for room.
        if (::write(d.out, p.bytes.data(), p.bytes.size()) < 0 && errno != EINVAL) {
          if (errno == EAGAIN || errno == EINTR) break;
          die(std::string("write: ") + std::strerror(errno));
        }
        d.queued_bytes -= p.bytes.size();
        ++d.forwarded;
        d.queue.pop_front();
      }
    }
  }
  std::printf("forwarded %llu/%llu packets, dropped %llu/%llu\n",
              static_cast<unsigned long long>(dirs[0].forwarded),
              static_cast<unsigned long long>(dirs[1].forwarded),
              static_cast<unsigned long long>(dirs[0].dropped),
              static_cast<unsigned long long>(dirs[1].dropped));
  return 0;
}
