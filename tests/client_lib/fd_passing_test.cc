// Descriptor passing (sandboxd/fd_passing.h), the one SCM_RIGHTS code of every process.
#include "sandboxd/fd_passing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <span>
#include <string>
#include <vector>

namespace sandboxd {
namespace {

struct Pair {
  UniqueFd ends[2];
  explicit Pair(int type) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds), 0);
    ends[0].reset(fds[0]);
    ends[1].reset(fds[1]);
  }
};

ino_t InodeOf(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

TEST(FdPassing, BytesAndDescriptorsArriveTogetherOwnedAndCloseOnExec) {
  Pair pair(SOCK_STREAM);
  std::array<int, 3> sent{};
  for (int& fd : sent) fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const char text[] = "abc";
  const iovec iov{const_cast<char*>(text), 3};
  ASSERT_EQ(SendWithFds(pair.ends[0].get(), std::span<const iovec>(&iov, 1), sent, MSG_NOSIGNAL),
            3);
  char got[8] = {};
  std::vector<UniqueFd> fds;
  int flags = -1;
  ASSERT_EQ(ReceiveWithFds(pair.ends[1].get(), got, sizeof got, fds, &flags), 3);
  EXPECT_EQ(std::string(got, 3), "abc");
  EXPECT_EQ(flags & (MSG_TRUNC | MSG_CTRUNC), 0);
  ASSERT_EQ(fds.size(), 3U);
  for (std::size_t i = 0; i < fds.size(); ++i) {
    EXPECT_EQ(InodeOf(fds[i].get()), InodeOf(sent[i]));
    EXPECT_NE(::fcntl(fds[i].get(), F_GETFD) & FD_CLOEXEC, 0);
    ::close(sent[i]);
  }
}

TEST(FdPassing, MoreThanAMessageMayCarryIsRefusedBeforeSending) {
  Pair pair(SOCK_STREAM);
  std::vector<int> many(kMaxFdsPerMessage + 1, 0);
  char byte = 'x';
  const iovec iov{&byte, 1};
  errno = 0;
  EXPECT_EQ(SendWithFds(pair.ends[0].get(), std::span<const iovec>(&iov, 1), many, 0), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(FdPassing, ATruncatedDatagramIsReportedAndItsDescriptorsAreStillOwned) {
  Pair pair(SOCK_SEQPACKET);
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const char text[] = "longer than the buffer";
  const iovec iov{const_cast<char*>(text), sizeof text};
  ASSERT_GT(SendWithFds(pair.ends[0].get(), std::span<const iovec>(&iov, 1),
                        std::span<const int>(&fd, 1), MSG_NOSIGNAL),
            0);
  ::close(fd);
  char got[4];
  std::vector<UniqueFd> fds;
  int flags = 0;
  EXPECT_EQ(ReceiveWithFds(pair.ends[1].get(), got, sizeof got, fds, &flags), 4);
  EXPECT_NE(flags & MSG_TRUNC, 0);
  EXPECT_EQ(fds.size(), 1U);
}

TEST(FdPassing, EndOfStreamIsZeroWithNoDescriptor) {
  Pair pair(SOCK_STREAM);
  pair.ends[0].reset();
  char got[4];
  std::vector<UniqueFd> fds;
  EXPECT_EQ(ReceiveWithFds(pair.ends[1].get(), got, sizeof got, fds), 0);
  EXPECT_TRUE(fds.empty());
}

}  // namespace
}  // namespace sandboxd
