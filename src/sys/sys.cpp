#include "sys/sys.hpp"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/time_types.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/xattr.h>

#include <array>
#include <cstdarg>

#ifdef ZCOPY_WITH_URING
#include <liburing.h>
#endif

namespace zcopy::sys {
namespace {

thread_local std::array<std::uint64_t, syscall_kind_count> tls_counts{};

hook_table make_real_hooks() noexcept {
  hook_table t{};
  t.read = ::read;
  t.write = ::write;
  t.pread = ::pread;
  t.pwrite = ::pwrite;
  t.readv = ::readv;
  t.writev = ::writev;
  t.sendfile = ::sendfile;
  t.splice = ::splice;
  t.tee = ::tee;
  t.vmsplice = ::vmsplice;
  t.copy_file_range = ::copy_file_range;
  t.ioctl = [](int fd, unsigned long req, void* arg) { return ::ioctl(fd, req, arg); };
  t.mmap = ::mmap;
  t.munmap = ::munmap;
  t.msync = ::msync;
  t.madvise = ::madvise;
  t.mincore = ::mincore;
  t.lseek = ::lseek;
  t.fstat = ::fstat;
  t.fstatfs = ::fstatfs;
  t.statx = ::statx;
  t.openat = [](int dirfd, const char* path, int flags, mode_t mode) {
    return ::openat(dirfd, path, flags, mode);
  };
  t.openat2 = [](int dirfd, const char* path, open_how* how, size_t size) {
    return ::syscall(SYS_openat2, dirfd, path, how, size);
  };
  t.close = ::close;
  t.pipe2 = ::pipe2;
  t.fcntl = [](int fd, int cmd, long arg) { return ::fcntl(fd, cmd, arg); };
  t.ftruncate = ::ftruncate;
  t.fallocate = ::fallocate;
  t.fsync = ::fsync;
  t.fdatasync = ::fdatasync;
  t.fadvise = ::posix_fadvise;
  t.poll = ::poll;
  t.readlink = ::readlink;
  t.socket = ::socket;
  t.bind = ::bind;
  t.listen = ::listen;
  t.accept4 = ::accept4;
  t.connect = ::connect;
  t.getsockname = ::getsockname;
  t.getpeername = ::getpeername;
  t.getsockopt = ::getsockopt;
  t.setsockopt = ::setsockopt;
  t.shutdown = ::shutdown;
  t.send = ::send;
  t.recv = ::recv;
  t.sendmsg = ::sendmsg;
  t.recvmsg = ::recvmsg;
  t.epoll_create1 = ::epoll_create1;
  t.sigaction = ::sigaction;
  t.eventfd = ::eventfd;
  t.epoll_ctl = ::epoll_ctl;
  t.epoll_wait = ::epoll_wait;
  t.fstatat = ::fstatat;
  t.mkdirat = ::mkdirat;
  t.unlinkat = ::unlinkat;
  t.renameat2 = ::renameat2;
  t.symlinkat = ::symlinkat;
  t.readlinkat = ::readlinkat;
  t.linkat = ::linkat;
  t.mknodat = ::mknodat;
  t.fchmod = ::fchmod;
  t.fchmodat = ::fchmodat;
  t.fchown = ::fchown;
  t.fchownat = ::fchownat;
  // glibc's utimensat refuses a null path (EINVAL); the kernel takes it as "the descriptor
  // itself", which is what futimens needs.
  t.utimensat = [](int dirfd, const char* path, const timespec* times, int flags) -> int {
    return static_cast<int>(::syscall(SYS_utimensat, dirfd, path, times, flags));
  };
#ifdef ZCOPY_WITH_URING
  t.io_uring_queue_init_params = ::io_uring_queue_init_params;
  t.io_uring_submit_and_wait = ::io_uring_submit_and_wait;
  t.io_uring_submit_and_wait_timeout = ::io_uring_submit_and_wait_timeout;
  t.io_uring_register_buffers = ::io_uring_register_buffers;
  t.io_uring_register_files = ::io_uring_register_files;
  t.io_uring_register_files_update = ::io_uring_register_files_update;
#else
  t.io_uring_queue_init_params = [](unsigned, io_uring*, io_uring_params*) { return -ENOSYS; };
  t.io_uring_submit_and_wait = [](io_uring*, unsigned) { return -ENOSYS; };
  t.io_uring_submit_and_wait_timeout = [](io_uring*, io_uring_cqe**, unsigned, __kernel_timespec*,
                                          sigset_t*) { return -ENOSYS; };
  t.io_uring_register_buffers = [](io_uring*, const iovec*, unsigned) { return -ENOSYS; };
  t.io_uring_register_files = [](io_uring*, const int*, unsigned) { return -ENOSYS; };
  t.io_uring_register_files_update = [](io_uring*, unsigned, const int*, unsigned) {
    return -ENOSYS;
  };
#endif
  t.listxattr = ::listxattr;
  t.getxattr = ::getxattr;
  t.fsetxattr = ::fsetxattr;
  t.getdents64 = [](int fd, void* buf, size_t size) -> ssize_t {
    return ::syscall(SYS_getdents64, fd, buf, size);
  };
  return t;
}

const hook_table real_table = make_real_hooks();
hook_table live_table = real_table;

// Calls `f` until it does not fail with EINTR, counting every attempt.
template <class F>
auto retry(syscall_kind kind, F f) {
  for (;;) {
    count(kind);
    auto r = f();
    if (r == -1 && errno == EINTR) continue;
    return r;
  }
}

template <class T>
result<size_t> size_result(T r) {
  if (r < 0) return fail(errno);
  return static_cast<size_t>(r);
}

result<void> void_result(int r) {
  if (r < 0) return fail(errno);
  return {};
}

}  // namespace

hook_table& hooks() noexcept {
  return live_table;
}
const hook_table& real_hooks() noexcept {
  return real_table;
}
void restore_hooks() noexcept {
  live_table = real_table;
}

void count(syscall_kind kind) noexcept {
  ++tls_counts[static_cast<std::size_t>(kind)];
}

#define ZCOPY_SIZE_CALL(name, ...) \
  size_result(retry(syscall_kind::name, [&] { return live_table.name(__VA_ARGS__); }))
#define ZCOPY_VOID_CALL(name, ...) \
  void_result(retry(syscall_kind::name, [&] { return live_table.name(__VA_ARGS__); }))

result<size_t> read(int fd, void* buf, size_t n) {
  return ZCOPY_SIZE_CALL(read, fd, buf, n);
}
result<size_t> write(int fd, const void* buf, size_t n) {
  return ZCOPY_SIZE_CALL(write, fd, buf, n);
}
result<size_t> pread(int fd, void* buf, size_t n, off_t offset) {
  return ZCOPY_SIZE_CALL(pread, fd, buf, n, offset);
}
result<size_t> pwrite(int fd, const void* buf, size_t n, off_t offset) {
  return ZCOPY_SIZE_CALL(pwrite, fd, buf, n, offset);
}
result<size_t> readv(int fd, const iovec* iov, int count) {
  return ZCOPY_SIZE_CALL(readv, fd, iov, count);
}
result<size_t> writev(int fd, const iovec* iov, int count) {
  return ZCOPY_SIZE_CALL(writev, fd, iov, count);
}
result<size_t> sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  return ZCOPY_SIZE_CALL(sendfile, out_fd, in_fd, offset, count);
}
result<size_t> splice(int fd_in, loff_t* off_in, int fd_out, loff_t* off_out, size_t len,
                      unsigned flags) {
  return ZCOPY_SIZE_CALL(splice, fd_in, off_in, fd_out, off_out, len, flags);
}
result<size_t> tee(int fd_in, int fd_out, size_t len, unsigned flags) {
  return ZCOPY_SIZE_CALL(tee, fd_in, fd_out, len, flags);
}
result<size_t> vmsplice(int fd, const iovec* iov, size_t count, unsigned flags) {
  return ZCOPY_SIZE_CALL(vmsplice, fd, iov, count, flags);
}
result<size_t> copy_file_range(int fd_in, loff_t* off_in, int fd_out, loff_t* off_out, size_t len,
                               unsigned flags) {
  return ZCOPY_SIZE_CALL(copy_file_range, fd_in, off_in, fd_out, off_out, len, flags);
}
result<int> ioctl(int fd, unsigned long request, void* arg) {
  int r = retry(syscall_kind::ioctl, [&] { return live_table.ioctl(fd, request, arg); });
  if (r < 0) return fail(errno);
  return r;
}
result<void*> mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  for (;;) {
    count(syscall_kind::mmap);
    void* p = live_table.mmap(addr, length, prot, flags, fd, offset);
    if (p != MAP_FAILED) return p;
    if (errno != EINTR) return fail(errno);
  }
}
result<void> munmap(void* addr, size_t length) {
  return ZCOPY_VOID_CALL(munmap, addr, length);
}
result<void> msync(void* addr, size_t length, int flags) {
  return ZCOPY_VOID_CALL(msync, addr, length, flags);
}
result<void> madvise(void* addr, size_t length, int advice) {
  return ZCOPY_VOID_CALL(madvise, addr, length, advice);
}
result<void> mincore(void* addr, size_t length, unsigned char* vec) {
  return ZCOPY_VOID_CALL(mincore, addr, length, vec);
}
result<off_t> lseek(int fd, off_t offset, int whence) {
  off_t r = retry(syscall_kind::lseek, [&] { return live_table.lseek(fd, offset, whence); });
  if (r < 0) return fail(errno);
  return r;
}
result<struct stat> fstat(int fd) {
  struct stat st {};
  if (int r = retry(syscall_kind::fstat, [&] { return live_table.fstat(fd, &st); }); r < 0) {
    return fail(errno);
  }
  return st;
}
result<struct statfs> fstatfs(int fd) {
  struct statfs st {};
  if (int r = retry(syscall_kind::fstatfs, [&] { return live_table.fstatfs(fd, &st); }); r < 0) {
    return fail(errno);
  }
  return st;
}
result<void> statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* out) {
  return ZCOPY_VOID_CALL(statx, dirfd, path, flags, mask, out);
}
result<int> openat(int dirfd, const char* path, int flags, mode_t mode) {
  int r = retry(syscall_kind::openat,
                [&] { return live_table.openat(dirfd, path, flags | O_CLOEXEC, mode); });
  if (r < 0) return fail(errno);
  return r;
}
result<int> openat2(int dirfd, const char* path, open_how how) {
  how.flags |= O_CLOEXEC;
  for (int attempt = 0;; ++attempt) {
    const long r = retry(syscall_kind::openat,
                         [&] { return live_table.openat2(dirfd, path, &how, sizeof how); });
    if (r >= 0) return static_cast<int>(r);
    if (errno == EAGAIN && attempt < 8) continue;
    return fail(errno);
  }
}
result<int> open(const char* path, int flags, mode_t mode) {
  return openat(AT_FDCWD, path, flags, mode);
}
result<void> close(int fd) {
  count(syscall_kind::close);
  // Linux frees the descriptor even when close fails with EINTR: never retry (see the header).
  if (live_table.close(fd) < 0 && errno != EINTR) return fail(errno);
  return {};
}
result<void> pipe2(int fds[2], int flags) {
  return ZCOPY_VOID_CALL(pipe2, fds, flags | O_CLOEXEC);
}
result<int> fcntl(int fd, int cmd, long arg) {
  int r = retry(syscall_kind::fcntl, [&] { return live_table.fcntl(fd, cmd, arg); });
  if (r < 0) return fail(errno);
  return r;
}
result<void> ftruncate(int fd, off_t length) {
  return ZCOPY_VOID_CALL(ftruncate, fd, length);
}
result<void> fallocate(int fd, int mode, off_t offset, off_t length) {
  return ZCOPY_VOID_CALL(fallocate, fd, mode, offset, length);
}
result<void> fsync(int fd) {
  return ZCOPY_VOID_CALL(fsync, fd);
}
result<void> fdatasync(int fd) {
  return ZCOPY_VOID_CALL(fdatasync, fd);
}
result<void> fadvise(int fd, off_t offset, off_t length, int advice) {
  for (;;) {
    count(syscall_kind::fadvise);
    int e = live_table.fadvise(fd, offset, length, advice);
    if (e == EINTR) continue;
    if (e != 0) return fail(e);
    return {};
  }
}
result<int> poll(pollfd* fds, nfds_t n, int timeout_ms) {
  int r = retry(syscall_kind::poll, [&] { return live_table.poll(fds, n, timeout_ms); });
  if (r < 0) return fail(errno);
  return r;
}
result<size_t> readlink(const char* path, char* buf, size_t size) {
  return ZCOPY_SIZE_CALL(readlink, path, buf, size);
}
result<int> socket(int domain, int type, int protocol) {
  int r = retry(syscall_kind::socket,
                [&] { return live_table.socket(domain, type | SOCK_CLOEXEC, protocol); });
  if (r < 0) return fail(errno);
  return r;
}
result<void> bind(int fd, const sockaddr* addr, socklen_t len) {
  return ZCOPY_VOID_CALL(bind, fd, addr, len);
}
result<void> listen(int fd, int backlog) {
  return ZCOPY_VOID_CALL(listen, fd, backlog);
}
result<int> accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  int r = retry(syscall_kind::accept4,
                [&] { return live_table.accept4(fd, addr, len, flags | SOCK_CLOEXEC); });
  if (r < 0) return fail(errno);
  return r;
}
result<void> connect(int fd, const sockaddr* addr, socklen_t len) {
  // A connect interrupted by a signal continues in the background; retrying it would report
  // EALREADY. Wait for the outcome instead, as the man page prescribes.
  count(syscall_kind::connect);
  if (live_table.connect(fd, addr, len) == 0) return {};
  if (errno != EINTR) return fail(errno);
  if (auto w = wait_ready(fd, POLLOUT); !w) return w;
  int err = 0;
  socklen_t err_len = sizeof err;
  if (auto g = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len); !g) return g;
  if (err != 0) return fail(err);
  return {};
}
result<void> getsockname(int fd, sockaddr* addr, socklen_t* len) {
  return ZCOPY_VOID_CALL(getsockname, fd, addr, len);
}

result<void> getpeername(int fd, sockaddr* addr, socklen_t* len) {
  return ZCOPY_VOID_CALL(getpeername, fd, addr, len);
}
result<void> getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
  return ZCOPY_VOID_CALL(getsockopt, fd, level, name, value, len);
}
result<void> setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
  return ZCOPY_VOID_CALL(setsockopt, fd, level, name, value, len);
}
result<void> shutdown(int fd, int how) {
  return ZCOPY_VOID_CALL(shutdown, fd, how);
}
result<size_t> send(int fd, const void* buf, size_t n, int flags) {
  return ZCOPY_SIZE_CALL(send, fd, buf, n, flags);
}
result<size_t> recv(int fd, void* buf, size_t n, int flags) {
  return ZCOPY_SIZE_CALL(recv, fd, buf, n, flags);
}
result<size_t> sendmsg(int fd, const msghdr* msg, int flags) {
  return ZCOPY_SIZE_CALL(sendmsg, fd, msg, flags);
}
result<size_t> recvmsg(int fd, msghdr* msg, int flags) {
  return ZCOPY_SIZE_CALL(recvmsg, fd, msg, flags);
}

result<utsname> uname() {
  count(syscall_kind::other);
  utsname u{};
  if (::uname(&u) != 0) return fail(errno);
  return u;
}

result<void> syncfs(int fd) {
  count(syscall_kind::other);
  if (::syncfs(fd) != 0) return fail(errno);
  return {};
}

result<void> sigaction(int signal, const struct sigaction* action, struct sigaction* old) {
  return ZCOPY_VOID_CALL(sigaction, signal, action, old);
}

result<int> eventfd(unsigned initial, int flags) {
  int r = retry(syscall_kind::eventfd, [&] { return live_table.eventfd(initial, flags); });
  if (r < 0) return fail(errno);
  return r;
}

result<int> epoll_create1(int flags) {
  int r = retry(syscall_kind::epoll_create1,
                [&] { return live_table.epoll_create1(flags | EPOLL_CLOEXEC); });
  if (r < 0) return fail(errno);
  return r;
}
result<void> epoll_ctl(int epfd, int op, int fd, epoll_event* event) {
  return ZCOPY_VOID_CALL(epoll_ctl, epfd, op, fd, event);
}
result<int> epoll_wait(int epfd, epoll_event* events, int max_events, int timeout_ms) {
  // EINTR returns 0 events rather than retrying with the full timeout again: the caller's loop
  // recomputes its timers.
  count(syscall_kind::epoll_wait);
  int r = live_table.epoll_wait(epfd, events, max_events, timeout_ms);
  if (r < 0) return errno == EINTR ? 0 : result<int>(fail(errno));
  return r;
}

result<void> uring_setup(unsigned entries, io_uring* ring, io_uring_params* params) {
  count(syscall_kind::io_uring_setup);
  if (int r = live_table.io_uring_queue_init_params(entries, ring, params); r < 0) return fail(-r);
  return {};
}

result<unsigned> uring_submit(io_uring* ring, unsigned wait_nr) {
  for (;;) {
    count(syscall_kind::io_uring_enter);
    int r = live_table.io_uring_submit_and_wait(ring, wait_nr);
    if (r == -EINTR) continue;
    if (r < 0) return fail(-r);
    return static_cast<unsigned>(r);
  }
}

result<void> uring_submit_wait(io_uring* ring, unsigned wait_nr, int timeout_ms) {
  count(syscall_kind::io_uring_enter);
  __kernel_timespec ts{};
  ts.tv_sec = timeout_ms / 1000;
  ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
  io_uring_cqe* cqe = nullptr;
  int r = live_table.io_uring_submit_and_wait_timeout(ring, &cqe, wait_nr, &ts, nullptr);
  // ETIME: the time ran out; EINTR: a signal. Both leave the caller's loop to look at its timers.
  if (r < 0 && r != -ETIME && r != -EINTR) return fail(-r);
  return {};
}

namespace {
// liburing's register calls return -errno; EINTR is retried like every other call here.
template <class F>
result<void> uring_register(F&& call) {
  for (;;) {
    count(syscall_kind::io_uring_register);
    int r = call();
    if (r == -EINTR) continue;
    if (r < 0) return fail(-r);
    return {};
  }
}
}  // namespace

result<void> uring_register_buffers(io_uring* ring, const iovec* iovecs, unsigned count) {
  return uring_register([&] { return live_table.io_uring_register_buffers(ring, iovecs, count); });
}

result<void> uring_register_files(io_uring* ring, const int* fds, unsigned count) {
  return uring_register([&] { return live_table.io_uring_register_files(ring, fds, count); });
}

result<void> uring_register_files_update(io_uring* ring, unsigned offset, const int* fds,
                                         unsigned count) {
  // liburing returns the number of slots updated; only a negative value is an error.
  return uring_register([&] {
    int r = live_table.io_uring_register_files_update(ring, offset, fds, count);
    return r < 0 ? r : 0;
  });
}

result<struct stat> fstatat(int dirfd, const char* path, int flags) {
  struct stat st {};
  if (int r =
          retry(syscall_kind::fstatat, [&] { return live_table.fstatat(dirfd, path, &st, flags); });
      r < 0) {
    return fail(errno);
  }
  return st;
}
result<void> mkdirat(int dirfd, const char* path, mode_t mode) {
  return ZCOPY_VOID_CALL(mkdirat, dirfd, path, mode);
}
result<void> unlinkat(int dirfd, const char* path, int flags) {
  return ZCOPY_VOID_CALL(unlinkat, dirfd, path, flags);
}
result<void> renameat2(int old_dirfd, const char* old_path, int new_dirfd, const char* new_path,
                       unsigned flags) {
  return ZCOPY_VOID_CALL(renameat2, old_dirfd, old_path, new_dirfd, new_path, flags);
}
result<void> symlinkat(const char* target, int dirfd, const char* path) {
  return ZCOPY_VOID_CALL(symlinkat, target, dirfd, path);
}
result<size_t> readlinkat(int dirfd, const char* path, char* buf, size_t size) {
  return ZCOPY_SIZE_CALL(readlinkat, dirfd, path, buf, size);
}
result<void> linkat(int old_dirfd, const char* old_path, int new_dirfd, const char* new_path,
                    int flags) {
  return ZCOPY_VOID_CALL(linkat, old_dirfd, old_path, new_dirfd, new_path, flags);
}
result<void> mknodat(int dirfd, const char* path, mode_t mode, dev_t device) {
  return ZCOPY_VOID_CALL(mknodat, dirfd, path, mode, device);
}
result<void> fchmod(int fd, mode_t mode) {
  return ZCOPY_VOID_CALL(fchmod, fd, mode);
}
result<void> fchmodat(int dirfd, const char* path, mode_t mode, int flags) {
  return ZCOPY_VOID_CALL(fchmodat, dirfd, path, mode, flags);
}
result<void> fchown(int fd, uid_t uid, gid_t gid) {
  return ZCOPY_VOID_CALL(fchown, fd, uid, gid);
}
result<void> fchownat(int dirfd, const char* path, uid_t uid, gid_t gid, int flags) {
  return ZCOPY_VOID_CALL(fchownat, dirfd, path, uid, gid, flags);
}
result<void> utimensat(int dirfd, const char* path, const timespec times[2], int flags) {
  return ZCOPY_VOID_CALL(utimensat, dirfd, path, times, flags);
}
result<void> futimens(int fd, const timespec times[2]) {
  return ZCOPY_VOID_CALL(utimensat, fd, nullptr, times, 0);
}
result<size_t> getdents64(int fd, void* buf, size_t size) {
  return ZCOPY_SIZE_CALL(getdents64, fd, buf, size);
}
result<size_t> listxattr(const char* path, char* list, size_t size) {
  return ZCOPY_SIZE_CALL(listxattr, path, list, size);
}
result<size_t> getxattr(const char* path, const char* name, void* value, size_t size) {
  return ZCOPY_SIZE_CALL(getxattr, path, name, value, size);
}
result<void> fsetxattr(int fd, const char* name, const void* value, size_t size, int flags) {
  return ZCOPY_VOID_CALL(fsetxattr, fd, name, value, size, flags);
}
mode_t umask(mode_t mask) noexcept {
  count(syscall_kind::other);
  return ::umask(mask);
}

result<void> pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  count(syscall_kind::other);
  if (int e = ::pthread_sigmask(how, set, old); e != 0) return fail(e);
  return {};
}

result<int> sigwait(const sigset_t& set) {
  for (;;) {
    count(syscall_kind::other);
    int signo = 0;
    const int e = ::sigwait(&set, &signo);
    if (e == EINTR) continue;
    if (e != 0) return fail(e);
    return signo;
  }
}

result<void> ignore_sigpipe() {
  struct sigaction current {};
  if (auto r = sys::sigaction(SIGPIPE, nullptr, &current); !r) return r;
  if (current.sa_handler != SIG_DFL) return {};
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  return sys::sigaction(SIGPIPE, &ignore, nullptr);
}

bool isatty(int fd) noexcept {
  count(syscall_kind::other);
  return ::isatty(fd) == 1;
}

result<struct statfs> statfs(const char* path) {
  for (;;) {
    count(syscall_kind::other);
    struct statfs st {};
    if (::statfs(path, &st) == 0) return st;
    if (errno != EINTR) return fail(errno);
  }
}

#undef ZCOPY_SIZE_CALL
#undef ZCOPY_VOID_CALL

result<void> write_all(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const std::byte*>(buf);
  while (n > 0) {
    auto w = write(fd, p, n);
    if (!w) {
      if (w.error() == std::errc::resource_unavailable_try_again) {
        if (auto r = wait_ready(fd, POLLOUT); !r) return r;
        continue;
      }
      return std::unexpected(w.error());
    }
    p += *w;
    n -= *w;
  }
  return {};
}

result<size_t> read_full(int fd, void* buf, size_t n) {
  auto* p = static_cast<std::byte*>(buf);
  size_t got = 0;
  while (got < n) {
    auto r = read(fd, p + got, n - got);
    if (!r) {
      if (r.error() == std::errc::resource_unavailable_try_again) {
        if (auto w = wait_ready(fd, POLLIN); !w) return std::unexpected(w.error());
        continue;
      }
      return std::unexpected(r.error());
    }
    if (*r == 0) break;
    got += *r;
  }
  return got;
}

result<void> wait_ready(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  auto r = sys::poll(&p, nfds_t{1}, timeout_ms);
  if (!r) return std::unexpected(r.error());
  if (*r == 0) return fail(ETIMEDOUT);
  // POLLERR/POLLHUP: the next call on the descriptor reports what happened.
  return {};
}

}  // namespace zcopy::sys

namespace zcopy {

std::string_view syscall_name(syscall_kind kind) noexcept {
  static constexpr std::array<std::string_view, syscall_kind_count> names = {
      "read",           "write",           "pread",
      "pwrite",         "readv",           "writev",
      "sendfile",       "splice",          "tee",
      "vmsplice",       "copy_file_range", "ioctl",
      "mmap",           "munmap",          "msync",
      "madvise",        "lseek",           "fstat",
      "fstatfs",        "statx",           "openat",
      "close",          "pipe2",           "fcntl",
      "ftruncate",      "fallocate",       "fsync",
      "fdatasync",      "fadvise",         "poll",
      "readlink",       "socket",          "bind",
      "listen",         "accept4",         "connect",
      "getsockname",    "getpeername",     "getsockopt",
      "setsockopt",     "shutdown",        "send",
      "recv",           "sendmsg",         "recvmsg",
      "io_uring_setup", "io_uring_enter",  "io_uring_register",
      "epoll_create1",  "epoll_ctl",       "epoll_wait",
      "fstatat",        "mkdirat",         "unlinkat",
      "renameat2",      "symlinkat",       "readlinkat",
      "linkat",         "mknodat",         "fchmod",
      "fchmodat",       "fchown",          "fchownat",
      "utimensat",      "getdents64",      "mincore",
      "listxattr",      "getxattr",        "fsetxattr",
      "rt_sigaction",   "eventfd2",        "other"};
  auto i = static_cast<std::size_t>(kind);
  return i < names.size() ? names[i] : std::string_view("?");
}

std::uint64_t syscall_counts::total() const noexcept {
  std::uint64_t sum = 0;
  for (auto c : calls) sum += c;
  return sum;
}

syscall_counts operator-(const syscall_counts& a, const syscall_counts& b) noexcept {
  syscall_counts d;
  for (std::size_t i = 0; i < syscall_kind_count; ++i) d.calls[i] = a.calls[i] - b.calls[i];
  return d;
}

syscall_counts thread_syscall_counts() noexcept {
  syscall_counts c;
  c.calls = sys::tls_counts;
  return c;
}

}  // namespace zcopy
