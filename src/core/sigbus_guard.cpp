// The SIGBUS guard: a lock-free table of guarded ranges and the handler that reads it.
//
// Life of a slot: free → claimed (normal code fills it in) → live (the handler may use it) →
// retiring (normal code waits until no handler is inside it) → free. The handler announces itself
// in `users` before it checks `state`, and unregistration publishes `retiring` before it checks
// `users`; with sequentially consistent atomics one of the two always sees the other, so a range
// is never unmapped while a handler is mapping a zero page into it.
//
// Everything the handler touches is a lock-free atomic or data written before the handler was
// installed, and it calls only raw async-signal-safe system calls (mmap, sigaction, raise); the
// syscall layer's counters are thread-local and may allocate on first use, so the handler leaves
// them alone.
#include "core/sigbus_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>

#include "sys/sys.hpp"
#include "zcopy/mapping.hpp"

namespace zcopy::detail {
namespace {

enum slot_state : int { free_slot, claimed, live, retiring };

struct guard_slot {
  std::atomic<int> state{free_slot};
  std::atomic<int> users{0};  // handlers working on this slot right now
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
  std::atomic<int> prot{0};
  std::atomic<bool> truncated{false};
};

static_assert(std::atomic<int>::is_always_lock_free);
static_assert(std::atomic<bool>::is_always_lock_free);
static_assert(std::atomic<std::uintptr_t>::is_always_lock_free);

std::array<guard_slot, max_guarded_mappings> slots;
// Written once, before the handler is installed; read only by the handler.
struct sigaction previous_action;
std::uintptr_t page_size = 4096;

// Maps a zero page over the faulting page when `address` lies in a live slot.
bool absorb(std::uintptr_t address) noexcept {
  for (guard_slot& slot : slots) {
    if (slot.state.load(std::memory_order_acquire) != live) continue;
    slot.users.fetch_add(1);
    bool absorbed = false;
    bool inside = false;
    if (slot.state.load() == live) {
      inside = address >= slot.begin.load(std::memory_order_relaxed) &&
               address < slot.end.load(std::memory_order_relaxed);
      if (inside) {
        void* page = reinterpret_cast<void*>(address & ~(page_size - 1));
        // A private anonymous page: reads see zeros, writes stay in this process and never reach
        // the (now shorter) file.
        void* zero = ::mmap(page, page_size, slot.prot.load(std::memory_order_relaxed),
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (zero != MAP_FAILED) {
          slot.truncated.store(true, std::memory_order_release);
          absorbed = true;
        }
      }
    }
    slot.users.fetch_sub(1);
    // Live ranges never overlap: the first one that holds the address is the only one.
    if (inside) return absorbed;
  }
  return false;
}

// What would have happened without us: the previous handler, or the default action.
void forward(int signo, siginfo_t* info, void* context) noexcept {
  const struct sigaction& previous = previous_action;
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(signo, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signo);
    return;
  }
  const bool fault = info != nullptr && info->si_code > 0;
  // Ignoring a SIGBUS that kill(2) sent is fine; ignoring a fault would re-run the faulting
  // instruction forever, so the kernel never ignores one and neither do we.
  if (previous.sa_handler == SIG_IGN && !fault) return;
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  ::sigaction(signo, &fallback, nullptr);
  // A fault re-raises itself when the instruction re-runs; a sent signal has to be sent again.
  if (!fault) ::raise(signo);
}

void handle_sigbus(int signo, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  // si_code > 0: raised by the kernel for a memory access, so si_addr is the faulting address.
  const bool absorbed = info != nullptr && info->si_code > 0 &&
                        absorb(reinterpret_cast<std::uintptr_t>(info->si_addr));
  errno = saved_errno;
  if (!absorbed) forward(signo, info, context);
}

bool install_handler() noexcept {
  static const bool installed = [] {
    page_size = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    // sigaction has no wrapper in src/sys (nothing else needs it); it is counted as "other".
    // Asking for the old action first means a fault racing with the installation never sees a
    // half-written `previous_action`.
    sys::count(syscall_kind::other);
    if (::sigaction(SIGBUS, nullptr, &previous_action) != 0) return false;
    struct sigaction action {};
    action.sa_sigaction = handle_sigbus;
    sigemptyset(&action.sa_mask);
    // SA_ONSTACK: runs on a thread's alternate stack when it has one. SA_NODEFER: a chained
    // handler that longjmps out (JITs and fuzzers do) would otherwise leave SIGBUS blocked, and
    // the next fault on a blocked SIGBUS kills the process outright.
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sys::count(syscall_kind::other);
    return ::sigaction(SIGBUS, &action, nullptr) == 0;
  }();
  return installed;
}

}  // namespace

int sigbus_guard_register(void* begin, std::size_t length, int prot) noexcept {
  if (begin == nullptr || length == 0 || !install_handler()) return -1;
  const auto first = reinterpret_cast<std::uintptr_t>(begin);
  for (std::size_t i = 0; i < max_guarded_mappings; ++i) {
    guard_slot& slot = slots[i];
    int expected = free_slot;
    if (!slot.state.compare_exchange_strong(expected, claimed, std::memory_order_acquire)) {
      continue;
    }
    slot.begin.store(first, std::memory_order_relaxed);
    slot.end.store(first + length, std::memory_order_relaxed);
    slot.prot.store(prot, std::memory_order_relaxed);
    slot.truncated.store(false, std::memory_order_relaxed);
    slot.state.store(live, std::memory_order_release);
    return static_cast<int>(i);
  }
  return -1;
}

void sigbus_guard_unregister(int slot_index) noexcept {
  if (slot_index < 0 || static_cast<std::size_t>(slot_index) >= max_guarded_mappings) return;
  guard_slot& slot = slots[slot_index];
  slot.state.store(retiring);
  // A handler inside the slot is one mmap away from leaving; spinning beats a system call here.
  while (slot.users.load() != 0) {
  }
  slot.begin.store(0, std::memory_order_relaxed);
  slot.end.store(0, std::memory_order_relaxed);
  slot.state.store(free_slot, std::memory_order_release);
}

bool sigbus_guard_truncated(int slot_index) noexcept {
  if (slot_index < 0 || static_cast<std::size_t>(slot_index) >= max_guarded_mappings) return false;
  return slots[slot_index].truncated.load(std::memory_order_acquire);
}

}  // namespace zcopy::detail
