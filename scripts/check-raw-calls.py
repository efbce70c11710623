#!/usr/bin/env python3
"""Fails when code outside src/sys calls the kernel directly.

Every system call goes through src/sys (sys::read, sys::openat, ...): the one layer that retries
EINTR, counts calls and lets the tests inject failures. A raw call elsewhere escapes all three.
This scans src/ and tools/ (tests/ set up their fixtures with raw calls on purpose) for calls of
the names below written as raw calls: `::name(` (the global function, never a member or a
namespace's), and for the names that nothing else in the tree is called, `name(` too.

An exception is allowed only in ALLOWED below, by file and name, with the reason; an entry that
no longer matches anything is reported too, so the list never outlives its reasons.

  python3 scripts/check-raw-calls.py          # from the repository root; exit 1 on a finding
"""
import os
import re
import sys

# Called as ::name( anywhere outside src/sys: a raw call.
QUALIFIED = """
open openat openat2 creat read write pread pwrite readv writev preadv pwritev close stat lstat
fstat fstatat statx statfs fstatfs mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2
link linkat symlink symlinkat readlink readlinkat chmod fchmod fchmodat chown fchown lchown
fchownat utimensat futimens utimes truncate ftruncate fallocate fsync fdatasync posix_fadvise
sendfile splice tee vmsplice copy_file_range ioctl mmap munmap mremap msync madvise mincore
mlock munlock lseek socket bind listen accept accept4 connect send sendto sendmsg recv recvfrom
recvmsg setsockopt getsockopt shutdown getsockname getpeername socketpair poll ppoll select
epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait eventfd pipe pipe2 fcntl dup dup2
dup3 umask getxattr fgetxattr lgetxattr setxattr fsetxattr lsetxattr listxattr flistxattr
llistxattr removexattr fremovexattr mknod mknodat getdents64 sigaction signal sigprocmask
pthread_sigmask sigwait sigtimedwait kill raise syscall isatty getrusage prctl setrlimit getrlimit
io_uring_setup io_uring_enter io_uring_register
""".split()

# Names no function of ours shares: a raw call even without the leading ::.
BARE = """
posix_fadvise copy_file_range epoll_create epoll_create1 epoll_ctl epoll_wait
epoll_pwait eventfd pipe2 umask lchown fchownat utimensat futimens mknodat sigaction sigprocmask
pthread_sigmask sigwait sigtimedwait isatty getrusage prctl setrlimit getrlimit io_uring_setup
io_uring_enter io_uring_register fsetxattr fgetxattr flistxattr lgetxattr llistxattr
""".split()

# (file, name): why the call may stay raw.
ALLOWED = {
    ("src/core/sigbus_guard.cpp", "mmap"):
        "runs inside the SIGBUS handler: only async-signal-safe calls, no hook table or counter",
    ("src/core/sigbus_guard.cpp", "sigaction"):
        "installs and chains the SIGBUS handler; the fallback runs inside the handler itself",
    ("src/core/sigbus_guard.cpp", "raise"):
        "re-raises an unhandled SIGBUS from inside the handler",
    ("src/bench/runner.cpp", "getrusage"):
        "the bench's own clock: counting it as a system call would change what it measures",
    ("src/transfer/stream_peer.cpp", "getrusage"):
        "a helper's CPU clock for the bench: counting it as a system call would change what the "
        "bench measures",
}

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCANNED = ("src", "tools")
EXTENSIONS = (".cpp", ".hpp", ".h", ".cu")

qualified = re.compile(r"(?<![\w:])::(" + "|".join(QUALIFIED) + r")\s*\(")
bare = re.compile(r"(?<![\w.>:])(" + "|".join(BARE) + r")\s*\(")
string_literal = re.compile(r'"(?:\\.|[^"\\])*"')


def code_of(line, in_comment):
    """The line without comments and string literals; whether a /* */ comment is still open."""
    out = ""
    i = 0
    while i < len(line):
        if in_comment:
            end = line.find("*/", i)
            if end < 0:
                return out, True
            i = end + 2
            in_comment = False
            continue
        start = line.find("/*", i)
        chunk = line[i:] if start < 0 else line[i:start]
        out += chunk
        if start < 0:
            break
        i = start + 2
        in_comment = True
    out = string_literal.sub('""', out)
    return out.split("//")[0], in_comment


def main():
    findings = []
    used = set()
    for top in SCANNED:
        for directory, _, files in os.walk(os.path.join(ROOT, top)):
            for name in sorted(files):
                if not name.endswith(EXTENSIONS):
                    continue
                path = os.path.relpath(os.path.join(directory, name), ROOT)
                if path.startswith("src/sys/"):
                    continue
                in_comment = False
                with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        code, in_comment = code_of(line, in_comment)
                        calls = {m.group(1) for m in qualified.finditer(code)}
                        calls |= {m.group(1) for m in bare.finditer(code)}
                        for call in sorted(calls):
                            if (path, call) in ALLOWED:
                                used.add((path, call))
                                continue
                            findings.append(f"{path}:{number}: raw {call}(): {line.strip()}")
    for entry in sorted(set(ALLOWED) - used):
        findings.append(f"{entry[0]}: allowed raw {entry[1]}() is not called any more: "
                        "remove it from ALLOWED in scripts/check-raw-calls.py")
    for finding in findings:
        print(finding)
    if findings:
        print(f"check-raw-calls: {len(findings)} finding(s): call the kernel through src/sys "
              "(sys::...), or add the file and call to ALLOWED with the reason", file=sys.stderr)
        return 1
    print("check-raw-calls: every system call outside src/sys goes through sys::")
    return 0


if __name__ == "__main__":
    sys.exit(main())
