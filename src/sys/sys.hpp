// The only place in libzcopy that calls the kernel.
//
// One wrapper per system call. Each wrapper
//   - calls through `hooks()`, a table of plain function pointers that tests replace to inject any
//     errno or a short return at any call (production pays one indirect call, nothing else);
//   - counts the call in the calling thread's counters (include/zcopy/syscall_stats.hpp);
//   - retries EINTR (except close(2): Linux releases the descriptor even when close is
//     interrupted, so a retry could close a descriptor another thread just got);
//   - turns errno into std::error_code on the line after the call.
// Names follow the kernel's. Nothing outside src/sys includes <unistd.h>-style calls directly.
#pragma once

#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <system_error>

#include "zcopy/syscall_stats.hpp"

struct statx;
// liburing's types (src/core/uring.hpp includes <liburing.h>; nothing here needs their layout).
struct io_uring;
struct io_uring_params;
struct io_uring_cqe;
struct __kernel_timespec;

namespace zcopy::sys {

template <class T>
using result = std::expected<T, std::error_code>;

inline std::error_code errno_code(int e) noexcept {
  return {e, std::system_category()};
}
inline std::unexpected<std::error_code> fail(int e) noexcept {
  return std::unexpected(errno_code(e));
}

// The replaceable table. Signatures are the kernel's (glibc's) so a hook can forward to the real
// call. `ioctl` and `fcntl` take their third argument as an integer-sized value.
struct hook_table {
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*write)(int, const void*, size_t);
  ssize_t (*pread)(int, void*, size_t, off_t);
  ssize_t (*pwrite)(int, const void*, size_t, off_t);
  ssize_t (*readv)(int, const iovec*, int);
  ssize_t (*writev)(int, const iovec*, int);
  ssize_t (*sendfile)(int out_fd, int in_fd, off_t* offset, size_t count);
  ssize_t (*splice)(int, loff_t*, int, loff_t*, size_t, unsigned);
  ssize_t (*tee)(int, int, size_t, unsigned);
  ssize_t (*vmsplice)(int, const iovec*, size_t, unsigned);
  ssize_t (*copy_file_range)(int, loff_t*, int, loff_t*, size_t, unsigned);
  int (*ioctl)(int, unsigned long, void*);
  void* (*mmap)(void*, size_t, int, int, int, off_t);
  int (*munmap)(void*, size_t);
  int (*msync)(void*, size_t, int);
  int (*madvise)(void*, size_t, int);
  int (*mincore)(void*, size_t, unsigned char*);
  off_t (*lseek)(int, off_t, int);
  int (*fstat)(int, struct stat*);
  int (*fstatfs)(int, struct statfs*);
  int (*statx)(int, const char*, int, unsigned, struct statx*);
  int (*openat)(int, const char*, int, mode_t);
  long (*openat2)(int, const char*, open_how*, size_t);  // no glibc wrapper: syscall(2)
  int (*close)(int);
  int (*pipe2)(int*, int);
  int (*fcntl)(int, int, long);
  int (*ftruncate)(int, off_t);
  int (*fallocate)(int, int, off_t, off_t);
  int (*fsync)(int);
  int (*fdatasync)(int);
  int (*fadvise)(int, off_t, off_t, int);  // returns the error number, like posix_fadvise
  int (*poll)(pollfd*, nfds_t, int);
  ssize_t (*readlink)(const char*, char*, size_t);
  int (*socket)(int, int, int);
  int (*bind)(int, const sockaddr*, socklen_t);
  int (*listen)(int, int);
  int (*accept4)(int, sockaddr*, socklen_t*, int);
  int (*connect)(int, const sockaddr*, socklen_t);
  int (*getsockname)(int, sockaddr*, socklen_t*);
  int (*getpeername)(int, sockaddr*, socklen_t*);
  int (*getsockopt)(int, int, int, void*, socklen_t*);
  int (*setsockopt)(int, int, int, const void*, socklen_t);
  int (*shutdown)(int, int);
  ssize_t (*send)(int, const void*, size_t, int);
  ssize_t (*recv)(int, void*, size_t, int);
  ssize_t (*sendmsg)(int, const msghdr*, int);
  ssize_t (*recvmsg)(int, msghdr*, int);
  int (*epoll_create1)(int);
  int (*sigaction)(int, const struct sigaction*, struct sigaction*);
  int (*eventfd)(unsigned, int);
  int (*epoll_ctl)(int, int, int, epoll_event*);
  int (*epoll_wait)(int, epoll_event*, int, int);
  int (*fstatat)(int, const char*, struct stat*, int);
  int (*mkdirat)(int, const char*, mode_t);
  int (*unlinkat)(int, const char*, int);
  int (*renameat2)(int, const char*, int, const char*, unsigned);
  int (*symlinkat)(const char*, int, const char*);
  ssize_t (*readlinkat)(int, const char*, char*, size_t);
  int (*linkat)(int, const char*, int, const char*, int);
  int (*mknodat)(int, const char*, mode_t, dev_t);
  int (*fchmod)(int, mode_t);
  int (*fchmodat)(int, const char*, mode_t, int);
  int (*fchown)(int, uid_t, gid_t);
  int (*fchownat)(int, const char*, uid_t, gid_t, int);
  int (*utimensat)(int, const char*, const timespec*, int);  // futimens: path nullptr
  ssize_t (*getdents64)(int, void*, size_t);                 // glibc 2.30 has a wrapper
  ssize_t (*listxattr)(const char*, char*, size_t);
  ssize_t (*getxattr)(const char*, const char*, void*, size_t);
  int (*fsetxattr)(int, const char*, const void*, size_t, int);
  // io_uring through liburing, which returns -errno instead of setting errno. In a build without
  // liburing these answer -ENOSYS.
  int (*io_uring_queue_init_params)(unsigned entries, io_uring*, io_uring_params*);
  int (*io_uring_submit_and_wait)(io_uring*, unsigned wait_nr);
  int (*io_uring_submit_and_wait_timeout)(io_uring*, io_uring_cqe**, unsigned wait_nr,
                                          __kernel_timespec*, sigset_t*);
  int (*io_uring_register_buffers)(io_uring*, const iovec*, unsigned nr);
  int (*io_uring_register_files)(io_uring*, const int* fds, unsigned nr);
  int (*io_uring_register_files_update)(io_uring*, unsigned offset, const int* fds, unsigned nr);
};

// The live table. Tests assign entries (and restore them with `restore_hooks`).
hook_table& hooks() noexcept;
// The table of real system calls.
const hook_table& real_hooks() noexcept;
void restore_hooks() noexcept;

// Counts one call of `kind` on this thread. Wrappers call it; so does code that issues a call
// through a library (liburing) rather than through this table.
void count(syscall_kind kind) noexcept;

// --- wrappers -------------------------------------------------------------------------------

result<size_t> read(int fd, void* buf, size_t n);
result<size_t> write(int fd, const void* buf, size_t n);
result<size_t> pread(int fd, void* buf, size_t n, off_t offset);
result<size_t> pwrite(int fd, const void* buf, size_t n, off_t offset);
result<size_t> readv(int fd, const iovec* iov, int count);
result<size_t> writev(int fd, const iovec* iov, int count);
result<size_t> sendfile(int out_fd, int in_fd, off_t* offset, size_t count);
result<size_t> splice(int fd_in, loff_t* off_in, int fd_out, loff_t* off_out, size_t len,
                      unsigned flags);
result<size_t> tee(int fd_in, int fd_out, size_t len, unsigned flags);
result<size_t> vmsplice(int fd, const iovec* iov, size_t count, unsigned flags);
result<size_t> copy_file_range(int fd_in, loff_t* off_in, int fd_out, loff_t* off_out, size_t len,
                               unsigned flags);
result<int> ioctl(int fd, unsigned long request, void* arg);
result<void*> mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset);
result<void> munmap(void* addr, size_t length);
result<void> msync(void* addr, size_t length, int flags);
result<void> madvise(void* addr, size_t length, int advice);
// mincore(2): one byte per page of [addr, addr + length) (addr page-aligned); bit 0 set when the
// page is resident in memory (for a file mapping: in the page cache).
result<void> mincore(void* addr, size_t length, unsigned char* vec);
result<off_t> lseek(int fd, off_t offset, int whence);
result<struct stat> fstat(int fd);
result<struct statfs> fstatfs(int fd);
result<void> statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* out);
result<int> openat(int dirfd, const char* path, int flags, mode_t mode = 0);
result<int> open(const char* path, int flags, mode_t mode = 0);
// openat2(2) (Linux 5.6), counted as an openat. O_CLOEXEC is added to `how.flags`. EAGAIN from
// RESOLVE_BENEATH/RESOLVE_IN_ROOT (a lookup that raced with a rename) is retried a few times, as
// the man page asks, before it is returned.
result<int> openat2(int dirfd, const char* path, open_how how);
result<void> close(int fd);
result<void> pipe2(int fds[2], int flags);
result<int> fcntl(int fd, int cmd, long arg = 0);
result<void> ftruncate(int fd, off_t length);
result<void> fallocate(int fd, int mode, off_t offset, off_t length);
result<void> fsync(int fd);
result<void> fdatasync(int fd);
result<void> fadvise(int fd, off_t offset, off_t length, int advice);
result<int> poll(pollfd* fds, nfds_t count, int timeout_ms);
result<size_t> readlink(const char* path, char* buf, size_t size);
result<int> socket(int domain, int type, int protocol);
result<void> bind(int fd, const sockaddr* addr, socklen_t len);
result<void> listen(int fd, int backlog);
result<int> accept4(int fd, sockaddr* addr, socklen_t* len, int flags);
result<void> connect(int fd, const sockaddr* addr, socklen_t len);
result<void> getsockname(int fd, sockaddr* addr, socklen_t* len);
result<void> getpeername(int fd, sockaddr* addr, socklen_t* len);
result<void> getsockopt(int fd, int level, int name, void* value, socklen_t* len);
result<void> setsockopt(int fd, int level, int name, const void* value, socklen_t len);
result<void> shutdown(int fd, int how);
result<size_t> send(int fd, const void* buf, size_t n, int flags);
result<size_t> recv(int fd, void* buf, size_t n, int flags);
result<size_t> sendmsg(int fd, const msghdr* msg, int flags);
result<size_t> recvmsg(int fd, msghdr* msg, int flags);

// uname(2) and syncfs(2), counted as `other`; not hookable (nothing to inject there).
result<utsname> uname();
result<void> syncfs(int fd);

result<int> epoll_create1(int flags);
// SIGPIPE's disposition for the network services (src/net/worker.cpp), and the eventfd that wakes
// an event loop.
result<void> sigaction(int signal, const struct sigaction* action, struct sigaction* old);
result<int> eventfd(unsigned initial, int flags);
result<void> epoll_ctl(int epfd, int op, int fd, epoll_event* event);
// Returns the number of ready events; an interrupted wait returns 0.
result<int> epoll_wait(int epfd, epoll_event* events, int max_events, int timeout_ms);

// Files and directories by name, relative to a directory descriptor (AT_FDCWD: the working
// directory). renameat2 with flags 0 is renameat; RENAME_NOREPLACE fails with EEXIST instead of
// replacing (EINVAL on filesystems that cannot promise it).
result<struct stat> fstatat(int dirfd, const char* path, int flags);
result<void> mkdirat(int dirfd, const char* path, mode_t mode);
result<void> unlinkat(int dirfd, const char* path, int flags);
result<void> renameat2(int old_dirfd, const char* old_path, int new_dirfd, const char* new_path,
                       unsigned flags = 0);
result<void> symlinkat(const char* target, int dirfd, const char* path);
// Returns the length of the link's text (not NUL-terminated); a result equal to `size` may mean
// the text was cut: call again with a larger buffer.
result<size_t> readlinkat(int dirfd, const char* path, char* buf, size_t size);
result<void> linkat(int old_dirfd, const char* old_path, int new_dirfd, const char* new_path,
                    int flags);
result<void> mknodat(int dirfd, const char* path, mode_t mode, dev_t device);
result<void> fchmod(int fd, mode_t mode);
result<void> fchmodat(int dirfd, const char* path, mode_t mode, int flags);
result<void> fchown(int fd, uid_t uid, gid_t gid);
result<void> fchownat(int dirfd, const char* path, uid_t uid, gid_t gid, int flags);
result<void> utimensat(int dirfd, const char* path, const timespec times[2], int flags);
result<void> futimens(int fd, const timespec times[2]);
// Fills `buf` with linux_dirent64 records; 0 at the end of the directory.
result<size_t> getdents64(int fd, void* buf, size_t size);
// Extended attributes (ACLs are the system.posix_acl_* ones). Read by path, so that a file
// opened with O_PATH can be read through /proc/self/fd/N without the read permission an open
// for reading needs; written through a descriptor. With size 0 the list and get calls return
// the size they need; ERANGE means it grew since: ask again.
result<size_t> listxattr(const char* path, char* list, size_t size);
result<size_t> getxattr(const char* path, const char* name, void* value, size_t size);
result<void> fsetxattr(int fd, const char* name, const void* value, size_t size, int flags);
// umask(2), counted as `other`, not hookable: sets the mask and returns the previous one.
mode_t umask(mode_t mask) noexcept;

// Signals and the terminal, counted as `other`, not hookable (nothing to inject there).
// pthread_sigmask(3) on the calling thread; sigwait(3) returns the signal taken (it does not fail
// with EINTR).
result<void> pthread_sigmask(int how, const sigset_t* set, sigset_t* old);
result<int> sigwait(const sigset_t& set);
// SIGPIPE ignored when it still has its default action (a write to a closed socket or pipe then
// fails with EPIPE instead of killing the process); a handler the program installed is kept.
result<void> ignore_sigpipe();
// Whether `fd` is a terminal (isatty(3): an ioctl that fails on anything else).
bool isatty(int fd) noexcept;
// statfs(2) by path.
result<struct statfs> statfs(const char* path);

// io_uring (liburing), counted as io_uring_setup and io_uring_enter. `uring_submit` retries EINTR
// and returns how many entries were submitted; `uring_submit_wait` submits and waits at most
// `timeout_ms` for `wait_nr` completions (no error when the time ran out or a signal came: the
// caller looks at the completion queue and its timers either way).
result<void> uring_setup(unsigned entries, io_uring* ring, io_uring_params* params);
result<unsigned> uring_submit(io_uring* ring, unsigned wait_nr = 0);
result<void> uring_submit_wait(io_uring* ring, unsigned wait_nr, int timeout_ms);
// io_uring_register(2) through liburing, counted as io_uring_register: fixed buffers, a fixed-file
// table (-1 entries are empty slots, Linux 5.5), and an update of `fds.size()` slots at `offset`.
result<void> uring_register_buffers(io_uring* ring, const iovec* iovecs, unsigned count);
result<void> uring_register_files(io_uring* ring, const int* fds, unsigned count);
result<void> uring_register_files_update(io_uring* ring, unsigned offset, const int* fds,
                                         unsigned count);

// Writes all of `n` bytes to a blocking descriptor, looping over short writes.
result<void> write_all(int fd, const void* buf, size_t n);
// Reads until `n` bytes or end of file; returns how many were read.
result<size_t> read_full(int fd, void* buf, size_t n);

// Waits until `fd` is ready for `events` (POLLIN/POLLOUT); -1 waits forever.
result<void> wait_ready(int fd, short events, int timeout_ms = -1);

}  // namespace zcopy::sys
