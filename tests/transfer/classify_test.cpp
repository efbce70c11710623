// Endpoint classification (classify) and the plan it leads to (plan_for, applicable).
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "support/test_support.hpp"
#include "zcopy/endpoint.hpp"
#include "zcopy/error.hpp"
#include "zcopy/net.hpp"
#include "zcopy/transfer.hpp"

namespace zcopy {
namespace {

using test::random_bytes;
using test::temp_dir;
using test::test_seed;

endpoint_info classify_or_die(int fd) {
  auto info = classify(fd);
  if (!info) throw std::system_error(info.error(), "classify");
  return *info;
}

unique_fd make_memfd(std::span<const std::byte> data) {
  unique_fd fd(::memfd_create("zcopy-classify", MFD_CLOEXEC));
  if (!fd) throw std::system_error(errno, std::system_category(), "memfd_create");
  if (!data.empty() &&
      ::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    throw std::system_error(errno, std::system_category(), "write memfd");
  }
  return fd;
}

struct pipe_fds {
  unique_fd read;
  unique_fd write;
};

pipe_fds make_pipe(int flags = 0) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | flags) != 0) {
    throw std::system_error(errno, std::system_category(), "pipe2");
  }
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

socket_pair tcp_pair() {
  auto pair = loopback_tcp_pair();
  if (!pair) throw std::system_error(pair.error(), "loopback_tcp_pair");
  return std::move(*pair);
}

std::vector<method> chain(std::initializer_list<method> m) {
  return m;
}

// --- classify -------------------------------------------------------------------------------

// A regular file reports its size and its allocation; fully written, it has no holes.
TEST(Classify, RegularFileReportsSizeAndAllocation) {
  temp_dir dir;
  auto data = random_bytes(10000, test_seed() + 1);
  unique_fd fd = test::write_file(dir / "f", data);
  ASSERT_EQ(::fsync(fd.get()), 0);
  endpoint_info info = classify_or_die(fd.get());
  EXPECT_EQ(info.kind, endpoint_kind::regular_file);
  EXPECT_EQ(info.fd, fd.get());
  EXPECT_EQ(info.size, 10000u);
  EXPECT_GE(info.allocated_bytes, 10000u);
  EXPECT_GT(info.block_size, 0);
  EXPECT_NE(info.inode, 0u);
  EXPECT_FALSE(info.may_have_holes());
  EXPECT_TRUE(info.is_file_like());
  EXPECT_TRUE(info.is_seekable());
  EXPECT_FALSE(info.is_stream());
  EXPECT_EQ(info.status_flags & O_ACCMODE, O_RDONLY);
}

// A file with a large hole has fewer allocated bytes than its size: it may have holes.
TEST(Classify, SparseFileMayHaveHoles) {
  temp_dir dir;
  unique_fd fd = test::open_or_die(dir / "sparse", O_RDWR | O_CREAT | O_TRUNC);
  auto data = random_bytes(4096, test_seed() + 2);
  ASSERT_EQ(::pwrite(fd.get(), data.data(), data.size(), 0), 4096);
  ASSERT_EQ(::ftruncate(fd.get(), 64 << 20), 0);
  endpoint_info info = classify_or_die(fd.get());
  EXPECT_EQ(info.kind, endpoint_kind::regular_file);
  EXPECT_EQ(info.size, std::uint64_t{64} << 20);
  EXPECT_LT(info.allocated_bytes, info.size);
  EXPECT_TRUE(info.may_have_holes());
}

// Two files in one directory share a device; their inodes differ.
TEST(Classify, FilesOfOneFilesystemShareTheDevice) {
  temp_dir dir;
  unique_fd a = test::write_file(dir / "a", random_bytes(100, test_seed() + 3));
  unique_fd b = test::write_file(dir / "b", random_bytes(100, test_seed() + 4));
  endpoint_info ia = classify_or_die(a.get());
  endpoint_info ib = classify_or_die(b.get());
  EXPECT_EQ(ia.device, ib.device);
  EXPECT_NE(ia.inode, ib.inode);
  EXPECT_TRUE(same_filesystem(ia, ib));
}

// A memfd is classified as memfd (a regular file in memory) with its size.
TEST(Classify, MemfdIsMemfd) {
  unique_fd fd = make_memfd(random_bytes(5000, test_seed() + 5));
  endpoint_info info = classify_or_die(fd.get());
  EXPECT_EQ(info.kind, endpoint_kind::memfd);
  EXPECT_EQ(info.size, 5000u);
  EXPECT_TRUE(info.is_file_like());
  EXPECT_TRUE(info.is_seekable());
}

// Both ends of a pipe are pipes, streams, not seekable, with their access modes.
TEST(Classify, PipeEndsArePipes) {
  pipe_fds p = make_pipe();
  endpoint_info r = classify_or_die(p.read.get());
  endpoint_info w = classify_or_die(p.write.get());
  EXPECT_EQ(r.kind, endpoint_kind::pipe);
  EXPECT_EQ(w.kind, endpoint_kind::pipe);
  EXPECT_TRUE(r.is_stream());
  EXPECT_FALSE(r.is_seekable());
  EXPECT_EQ(r.size, 0u);
  EXPECT_EQ(r.status_flags & O_ACCMODE, O_RDONLY);
  EXPECT_EQ(w.status_flags & O_ACCMODE, O_WRONLY);
}

// Both ends of a loopback TCP connection are stream sockets.
TEST(Classify, TcpSocketIsStreamSocket) {
  socket_pair s = tcp_pair();
  endpoint_info a = classify_or_die(s.first.get());
  endpoint_info b = classify_or_die(s.second.get());
  EXPECT_EQ(a.kind, endpoint_kind::socket);
  EXPECT_EQ(b.kind, endpoint_kind::socket);
  EXPECT_TRUE(a.is_stream());
  EXPECT_FALSE(a.is_file_like());
}

// A UDP socket is a datagram socket, not a stream.
TEST(Classify, UdpSocketIsDatagramSocket) {
  unique_fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd) << std::strerror(errno);
  endpoint_info info = classify_or_die(fd.get());
  EXPECT_EQ(info.kind, endpoint_kind::datagram_socket);
  EXPECT_FALSE(info.is_stream());
}

// A Unix stream socket is a stream socket too.
TEST(Classify, UnixStreamSocketIsStreamSocket) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  unique_fd a(fds[0]), b(fds[1]);
  EXPECT_EQ(classify_or_die(a.get()).kind, endpoint_kind::socket);
}

// /dev/null is a character device.
TEST(Classify, DevNullIsCharDevice) {
  unique_fd fd = test::open_or_die("/dev/null", O_WRONLY);
  endpoint_info info = classify_or_die(fd.get());
  EXPECT_EQ(info.kind, endpoint_kind::char_device);
  EXPECT_FALSE(info.is_file_like());
  EXPECT_FALSE(info.is_stream());
}

// O_APPEND is reported as append_only.
TEST(Classify, AppendFlagIsReflected) {
  temp_dir dir;
  unique_fd plain = test::open_or_die(dir / "p", O_WRONLY | O_CREAT);
  unique_fd append = test::open_or_die(dir / "a", O_WRONLY | O_CREAT | O_APPEND);
  EXPECT_FALSE(classify_or_die(plain.get()).append_only());
  EXPECT_TRUE(classify_or_die(append.get()).append_only());
}

// O_NONBLOCK is reported as nonblocking, and follows a later set_nonblocking.
TEST(Classify, NonblockFlagIsReflected) {
  pipe_fds p = make_pipe(O_NONBLOCK);
  EXPECT_TRUE(classify_or_die(p.read.get()).nonblocking());
  socket_pair s = tcp_pair();
  EXPECT_FALSE(classify_or_die(s.first.get()).nonblocking());
  ASSERT_TRUE(set_nonblocking(s.first.get(), true));
  EXPECT_TRUE(classify_or_die(s.first.get()).nonblocking());
}

// O_DIRECT is reported as direct_io.
TEST(Classify, DirectFlagIsReflected) {
  temp_dir dir;
  test::write_file(dir / "d", random_bytes(4096, test_seed() + 6));
  int raw = ::open((dir / "d").c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (raw < 0 && errno == EINVAL) {
    GTEST_SKIP() << "the filesystem of " << dir.path() << " refuses O_DIRECT";
  }
  ASSERT_GE(raw, 0) << std::strerror(errno);
  unique_fd fd(raw);
  EXPECT_TRUE(classify_or_die(fd.get()).direct_io());
  unique_fd plain = test::open_or_die(dir / "d", O_RDONLY);
  EXPECT_FALSE(classify_or_die(plain.get()).direct_io());
}

// A descriptor that is not open fails with EBADF.
TEST(Classify, BadDescriptorIsEbadf) {
  auto info = classify(-1);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error(), std::errc::bad_file_descriptor);

  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  ::close(fds[1]);
  ::close(fds[0]);
  auto closed = classify(fds[0]);
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error(), std::errc::bad_file_descriptor);
}

// --- describe -------------------------------------------------------------------------------

struct stat stat_with_mode(mode_t mode) {
  struct stat st {};
  st.st_mode = mode | 0644;
  st.st_dev = 0x0803;
  st.st_ino = 424242;
  st.st_blksize = 4096;
  return st;
}

// describe() takes everything from the caller's stat and flags: not a single system call.
TEST(Describe, MakesNoSystemCall) {
  struct stat st = stat_with_mode(S_IFREG);
  st.st_size = 123'456;
  st.st_blocks = 200;
  const auto before = thread_syscall_counts();
  endpoint_info info = describe(7, st, O_RDONLY | O_NONBLOCK);
  const auto delta = thread_syscall_counts() - before;
  EXPECT_EQ(delta.total(), 0u);
  EXPECT_EQ(info.fd, 7);
  EXPECT_EQ(info.kind, endpoint_kind::regular_file);
  EXPECT_EQ(info.size, 123'456u);
  EXPECT_EQ(info.allocated_bytes, 200u * 512);
  EXPECT_EQ(info.device, st.st_dev);
  EXPECT_EQ(info.inode, st.st_ino);
  EXPECT_EQ(info.block_size, 4096);
  EXPECT_EQ(info.status_flags, O_RDONLY | O_NONBLOCK);
  EXPECT_TRUE(info.nonblocking());
  EXPECT_TRUE(info.may_have_holes());  // fewer blocks than bytes
}

// The file type in st_mode picks the kind; only regular files get a size.
TEST(Describe, KindFollowsTheFileType) {
  struct case_ {
    mode_t type;
    endpoint_kind kind;
  };
  const case_ cases[] = {
      {S_IFREG, endpoint_kind::regular_file}, {S_IFSOCK, endpoint_kind::socket},
      {S_IFIFO, endpoint_kind::pipe},         {S_IFCHR, endpoint_kind::char_device},
      {S_IFBLK, endpoint_kind::block_device}, {S_IFDIR, endpoint_kind::other},
      {S_IFLNK, endpoint_kind::other},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(to_string(c.kind));
    struct stat st = stat_with_mode(c.type);
    st.st_size = 999;
    const auto before = thread_syscall_counts().total();
    endpoint_info info = describe(3, st, O_RDWR);
    EXPECT_EQ(thread_syscall_counts().total(), before);
    EXPECT_EQ(info.kind, c.kind);
    EXPECT_EQ(info.size, c.type == S_IFREG ? 999u : 0u);
  }
}

// A stream socket described from an accept (S_IFSOCK, O_RDWR | O_NONBLOCK) is what the event
// loop hands the engine: a non-blocking stream, not seekable.
TEST(Describe, AcceptedSocketIsANonblockingStream) {
  struct stat st {};
  st.st_mode = S_IFSOCK;
  endpoint_info info = describe(5, st, O_RDWR | O_NONBLOCK);
  EXPECT_EQ(info.kind, endpoint_kind::socket);
  EXPECT_TRUE(info.is_stream());
  EXPECT_FALSE(info.is_seekable());
  EXPECT_TRUE(info.nonblocking());
  EXPECT_FALSE(info.append_only());
}

// On real descriptors describe() agrees with classify() for the kinds it covers.
TEST(Describe, AgreesWithClassify) {
  temp_dir dir;
  unique_fd file = test::write_file(dir / "f", random_bytes(20'000, test_seed() + 7));
  pipe_fds p = make_pipe(O_NONBLOCK);
  socket_pair s = tcp_pair();
  for (int fd : {file.get(), p.read.get(), p.write.get(), s.first.get()}) {
    SCOPED_TRACE(fd);
    endpoint_info want = classify_or_die(fd);
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    const int flags = ::fcntl(fd, F_GETFL);
    ASSERT_NE(flags, -1);
    endpoint_info got = describe(fd, st, flags);
    EXPECT_EQ(got.fd, want.fd);
    EXPECT_EQ(got.kind, want.kind);
    EXPECT_EQ(got.size, want.size);
    EXPECT_EQ(got.device, want.device);
    EXPECT_EQ(got.inode, want.inode);
    EXPECT_EQ(got.block_size, want.block_size);
    EXPECT_EQ(got.allocated_bytes, want.allocated_bytes);
    EXPECT_EQ(got.status_flags, want.status_flags);
  }
}

// --- plan_for -------------------------------------------------------------------------------

class PlanFor : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = random_bytes(8192, test_seed() + 10);
    src_ = test::write_file(dir_ / "src", data_);
    dst_ = test::open_or_die(dir_ / "dst", O_WRONLY | O_CREAT | O_TRUNC);
  }
  endpoint_info src() { return classify_or_die(src_.get()); }
  endpoint_info dst() { return classify_or_die(dst_.get()); }

  temp_dir dir_;
  std::vector<std::byte> data_;
  unique_fd src_;
  unique_fd dst_;
};

// file → file on one filesystem: reflink first, then copy_file_range, ending in read_write.
TEST_F(PlanFor, FileToFileSameFilesystemStartsWithReflink) {
  std::vector<method> plan = plan_for(src(), dst());
  ASSERT_GE(plan.size(), 3u);
  EXPECT_EQ(plan[0], method::reflink);
  EXPECT_EQ(plan[1], method::copy_file_range);
  EXPECT_EQ(plan.back(), method::read_write);
  EXPECT_EQ(plan, chain({method::reflink, method::copy_file_range, method::sendfile,
                         method::read_write}));
}

// file → file on two filesystems (ext4 → memfd): no reflink, copy_file_range first.
TEST_F(PlanFor, FileToFileAcrossFilesystemsSkipsReflink) {
  unique_fd mem = make_memfd({});
  std::vector<method> plan = plan_for(src(), classify_or_die(mem.get()));
  EXPECT_EQ(plan, chain({method::copy_file_range, method::sendfile, method::read_write}));
}

// file → socket: sendfile, then splice, then read_write.
TEST_F(PlanFor, FileToSocketIsSendfileSpliceReadWrite) {
  socket_pair s = tcp_pair();
  EXPECT_EQ(plan_for(src(), classify_or_die(s.first.get())),
            chain({method::sendfile, method::splice, method::read_write}));
}

// file → pipe: splice first (one call, no intermediate pipe).
TEST_F(PlanFor, FileToPipeStartsWithSplice) {
  pipe_fds p = make_pipe();
  std::vector<method> plan = plan_for(src(), classify_or_die(p.write.get()));
  ASSERT_FALSE(plan.empty());
  EXPECT_EQ(plan[0], method::splice);
  EXPECT_EQ(plan.back(), method::read_write);
}

// socket → file: splice, then read_write.
TEST_F(PlanFor, SocketToFileIsSpliceReadWrite) {
  socket_pair s = tcp_pair();
  EXPECT_EQ(plan_for(classify_or_die(s.second.get()), dst()),
            chain({method::splice, method::read_write}));
}

// pipe → socket: splice, then read_write.
TEST_F(PlanFor, PipeToSocketIsSpliceReadWrite) {
  pipe_fds p = make_pipe();
  socket_pair s = tcp_pair();
  EXPECT_EQ(plan_for(classify_or_die(p.read.get()), classify_or_die(s.first.get())),
            chain({method::splice, method::read_write}));
}

// A datagram socket on either end: only read_write keeps datagram boundaries.
TEST_F(PlanFor, DatagramSocketIsReadWriteOnly) {
  unique_fd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(udp);
  EXPECT_EQ(plan_for(classify_or_die(udp.get()), dst()), chain({method::read_write}));
}

// An O_APPEND sink: only read_write (the kernel methods refuse or ignore O_APPEND).
TEST_F(PlanFor, AppendSinkIsReadWriteOnly) {
  unique_fd append = test::open_or_die(dir_ / "append", O_WRONLY | O_CREAT | O_APPEND);
  EXPECT_EQ(plan_for(src(), classify_or_die(append.get())), chain({method::read_write}));
  socket_pair s = tcp_pair();
  EXPECT_EQ(plan_for(classify_or_die(s.second.get()), classify_or_die(append.get())),
            chain({method::read_write}));
}

// A file that reports size 0 (procfs) is read with read_write only.
TEST_F(PlanFor, SizeZeroFileIsReadWriteOnly) {
  unique_fd status = test::open_or_die("/proc/self/status", O_RDONLY);
  endpoint_info info = classify_or_die(status.get());
  ASSERT_EQ(info.kind, endpoint_kind::regular_file);
  ASSERT_EQ(info.size, 0u);
  EXPECT_EQ(plan_for(info, dst()), chain({method::read_write}));
}

// A forced method without allow_fallback is a chain of one.
TEST_F(PlanFor, ForcedMethodWithoutFallbackIsAlone) {
  for (method m : all_methods()) {
    SCOPED_TRACE(to_string(m));
    transfer_options o;
    o.use = m;
    EXPECT_EQ(plan_for(src(), dst(), o), chain({m}));
  }
}

// A forced method with allow_fallback comes first, then the automatic chain without it, ending
// in read_write.
TEST_F(PlanFor, ForcedMethodWithFallbackLeadsTheAutomaticChain) {
  transfer_options o;
  o.use = method::splice;
  o.allow_fallback = true;
  EXPECT_EQ(plan_for(src(), dst(), o),
            chain({method::splice, method::reflink, method::copy_file_range, method::sendfile,
                   method::read_write}));

  socket_pair s = tcp_pair();
  o.use = method::mmap_write;
  EXPECT_EQ(plan_for(src(), classify_or_die(s.first.get()), o),
            chain({method::mmap_write, method::sendfile, method::splice, method::read_write}));

  // A forced method that does not apply still leads; the chain still ends in read_write.
  o.use = method::copy_file_range;
  std::vector<method> plan = plan_for(classify_or_die(s.second.get()), dst(), o);
  ASSERT_FALSE(plan.empty());
  EXPECT_EQ(plan.front(), method::copy_file_range);
  EXPECT_EQ(plan.back(), method::read_write);
}

// An O_DIRECT end chooses direct I/O, after a reflink where one is possible.
TEST_F(PlanFor, DirectIoEndsChooseDirectIo) {
  unique_fd direct = test::open_or_die(dir_ / "src", O_RDONLY | O_DIRECT);
  EXPECT_EQ(plan_for(classify_or_die(direct.get()), dst()),
            chain({method::reflink, method::direct_io, method::read_write}));
  socket_pair s = tcp_pair();
  EXPECT_EQ(plan_for(classify_or_die(direct.get()), classify_or_die(s.first.get())),
            chain({method::direct_io, method::read_write}));
}

// read_write never refuses a pair, so forcing it with fallback is still a chain of one.
TEST_F(PlanFor, ReadWriteWithFallbackIsAlone) {
  transfer_options o;
  o.use = method::read_write;
  o.allow_fallback = true;
  EXPECT_EQ(plan_for(src(), dst(), o), chain({method::read_write}));
}

// Every forced-with-fallback chain for file → file starts with the forced method and ends in
// read_write.
TEST_F(PlanFor, EveryForcedChainWithFallbackEndsInReadWrite) {
  for (method m : all_methods()) {
    SCOPED_TRACE(to_string(m));
    transfer_options o;
    o.use = m;
    o.allow_fallback = true;
    std::vector<method> plan = plan_for(src(), dst(), o);
    ASSERT_FALSE(plan.empty());
    EXPECT_EQ(plan.front(), m);
    EXPECT_EQ(plan.back(), method::read_write);
  }
}

// transfer_job::plan() is the chain plan_for gives for the same pair.
TEST_F(PlanFor, JobPlanMatchesPlanFor) {
  auto job = transfer_job::create(src_.get(), dst_.get());
  ASSERT_TRUE(job) << job.error().message();
  std::vector<method> from_job(job->plan().begin(), job->plan().end());
  EXPECT_EQ(from_job, plan_for(src(), dst()));
  EXPECT_EQ(job->source().kind, endpoint_kind::regular_file);
  EXPECT_EQ(job->sink().kind, endpoint_kind::regular_file);
}

// --- applicable -----------------------------------------------------------------------------

// sendfile, mmap_write and direct_io need a file source; any sink but O_APPEND will do.
TEST_F(PlanFor, FileSourceMethodsNeedAFileSource) {
  socket_pair s = tcp_pair();
  pipe_fds p = make_pipe();
  endpoint_info sock_in = classify_or_die(s.second.get());
  endpoint_info sock_out = classify_or_die(s.first.get());
  endpoint_info pipe_in = classify_or_die(p.read.get());
  for (method m : {method::sendfile, method::mmap_write, method::direct_io}) {
    SCOPED_TRACE(to_string(m));
    EXPECT_TRUE(applicable(m, src(), dst()));
    EXPECT_TRUE(applicable(m, src(), sock_out));
    EXPECT_FALSE(applicable(m, sock_in, dst()));
    EXPECT_FALSE(applicable(m, pipe_in, sock_out));
  }
}

// copy_file_range needs two regular files (memfds count); not a socket or a pipe on either end.
TEST_F(PlanFor, CopyFileRangeNeedsTwoRegularFiles) {
  socket_pair s = tcp_pair();
  unique_fd mem = make_memfd(data_);
  endpoint_info memfd = classify_or_die(mem.get());
  EXPECT_TRUE(applicable(method::copy_file_range, src(), dst()));
  EXPECT_TRUE(applicable(method::copy_file_range, memfd, dst()));
  EXPECT_TRUE(applicable(method::copy_file_range, src(), memfd));
  EXPECT_FALSE(applicable(method::copy_file_range, src(), classify_or_die(s.first.get())));
  EXPECT_FALSE(applicable(method::copy_file_range, classify_or_die(s.second.get()), dst()));
  unique_fd null = test::open_or_die("/dev/null", O_WRONLY);
  EXPECT_FALSE(applicable(method::copy_file_range, src(), classify_or_die(null.get())));
}

// reflink needs two regular files on one device.
TEST_F(PlanFor, ReflinkNeedsOneDevice) {
  EXPECT_TRUE(applicable(method::reflink, src(), dst()));
  unique_fd mem = make_memfd({});
  EXPECT_FALSE(applicable(method::reflink, src(), classify_or_die(mem.get())));
  endpoint_info elsewhere = dst();
  elsewhere.device = src().device + 1;
  EXPECT_FALSE(applicable(method::reflink, src(), elsewhere));
  socket_pair s = tcp_pair();
  EXPECT_FALSE(applicable(method::reflink, src(), classify_or_die(s.first.get())));
}

// An O_APPEND sink rules out every positional kernel method; read_write still applies.
TEST_F(PlanFor, AppendSinkRulesOutKernelMethods) {
  unique_fd append = test::open_or_die(dir_ / "append", O_WRONLY | O_CREAT | O_APPEND);
  endpoint_info a = classify_or_die(append.get());
  EXPECT_TRUE(applicable(method::read_write, src(), a));
  EXPECT_FALSE(applicable(method::sendfile, src(), a));
  EXPECT_FALSE(applicable(method::splice, src(), a));
  EXPECT_FALSE(applicable(method::copy_file_range, src(), a));
  EXPECT_FALSE(applicable(method::reflink, src(), a));
}

// read_write and splice apply to every pair of streams.
TEST_F(PlanFor, ReadWriteAndSpliceApplyToStreams) {
  socket_pair s = tcp_pair();
  pipe_fds p = make_pipe();
  endpoint_info sock_in = classify_or_die(s.second.get());
  endpoint_info pipe_out = classify_or_die(p.write.get());
  for (method m : {method::read_write, method::splice}) {
    SCOPED_TRACE(to_string(m));
    EXPECT_TRUE(applicable(m, sock_in, pipe_out));
    EXPECT_TRUE(applicable(m, sock_in, dst()));
  }
}

// A forced method that cannot serve the pair is refused when the job is made.
TEST_F(PlanFor, ForcedInapplicableMethodIsRefusedAtCreate) {
  socket_pair s = tcp_pair();
  transfer_options o;
  o.use = method::copy_file_range;
  auto job = transfer_job::create(src_.get(), s.first.get(), o);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.error(), errc::method_not_applicable);
}

// A read-only sink or a write-only source is a bad descriptor for the transfer.
TEST_F(PlanFor, WrongAccessModesAreEbadf) {
  auto job = transfer_job::create(dst_.get(), src_.get());
  ASSERT_FALSE(job);
  EXPECT_EQ(job.error(), std::errc::bad_file_descriptor);
}

}  // namespace
}  // namespace zcopy
