// The daemon's non-blocking answer queue on a socketpair: frames arrive whole and in order, each
// with its own descriptors exactly once, however the writes are cut; the bound holds.
#include "frame_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "sandboxd/framing.h"

namespace sandboxd {
namespace {

struct Pair {
  UniqueFd daemon, client;
};

Pair SocketPair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// A pipe's read end; its inode tells the descriptors apart on the other side.
UniqueFd PipeEnd(ino_t& inode) {
  int p[2];
  EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
  ::close(p[1]);
  struct stat st {};
  ::fstat(p[0], &st);
  inode = st.st_ino;
  return UniqueFd(p[0]);
}

ino_t Inode(const UniqueFd& fd) {
  struct stat st {};
  ::fstat(fd.get(), &st);
  return st.st_ino;
}

TEST(FrameWriterTest, PartialWritesKeepFramesAndTheirDescriptorsTogether) {
  Pair pair = SocketPair();
  FrameWriter writer(64U << 20, 16);
  const std::string big(3U << 20, 'b');  // far beyond the socket's buffer
  ino_t a = 0, b = 0, c = 0;
  std::vector<UniqueFd> first;
  first.push_back(PipeEnd(a));
  ASSERT_TRUE(writer.Push(big, std::move(first)).ok());
  std::vector<UniqueFd> second;
  second.push_back(PipeEnd(b));
  second.push_back(PipeEnd(c));
  ASSERT_TRUE(writer.Push("second", std::move(second)).ok());
  ASSERT_TRUE(writer.Push("third", {}).ok());

  FrameReader reader(64U << 20);
  std::vector<Frame> got;
  int rounds = 0;
  while (got.size() < 3) {
    ASSERT_LT(++rounds, 100000);
    bool progressed = false;
    ASSERT_TRUE(writer.WriteSome(pair.daemon.get(), progressed).ok());
    auto state = reader.ReadFrom(pair.client.get());
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    while (reader.HasFrame()) got.push_back(reader.Next());
  }
  EXPECT_TRUE(writer.empty());
  EXPECT_EQ(writer.queued_bytes(), 0U);
  ASSERT_EQ(got[0].payload, big);
  ASSERT_EQ(got[0].fds.size(), 1U);
  EXPECT_EQ(Inode(got[0].fds[0]), a);
  EXPECT_EQ(got[1].payload, "second");
  ASSERT_EQ(got[1].fds.size(), 2U);
  EXPECT_EQ(Inode(got[1].fds[0]), b);
  EXPECT_EQ(Inode(got[1].fds[1]), c);
  EXPECT_EQ(got[2].payload, "third");
  EXPECT_TRUE(got[2].fds.empty());
}

TEST(FrameWriterTest, AFullSocketIsNotAnErrorAndNothingIsLost) {
  Pair pair = SocketPair();
  FrameWriter writer(64U << 20, 16);
  ASSERT_TRUE(writer.Push(std::string(2U << 20, 'x'), {}).ok());
  bool progressed = false;
  ASSERT_TRUE(writer.WriteSome(pair.daemon.get(), progressed).ok());
  EXPECT_TRUE(progressed);
  EXPECT_FALSE(writer.empty());  // the peer has not read: the rest waits
  const std::size_t left = writer.queued_bytes();
  EXPECT_GT(left, 0U);
  ASSERT_TRUE(writer.WriteSome(pair.daemon.get(), progressed).ok());
  EXPECT_FALSE(progressed);
  EXPECT_EQ(writer.queued_bytes(), left);
}

TEST(FrameWriterTest, TheBoundRefusesWhatPilesUpButNeverALoneFrame) {
  FrameWriter writer(1000, 3);
  EXPECT_TRUE(writer.Push(std::string(5000, 'x'), {}).ok());  // alone: accepted
  const Status over = writer.Push("y", {});
  EXPECT_EQ(over.code(), ErrorCode::kOverloaded);
  EXPECT_EQ(writer.queued_frames(), 1U);
  writer.Clear();
  EXPECT_TRUE(writer.empty());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(writer.Push("z", {}).ok());
  EXPECT_EQ(writer.Push("z", {}).code(), ErrorCode::kOverloaded);  // the frame count
}

TEST(FrameWriterTest, APeerThatIsGoneIsAnError) {
  Pair pair = SocketPair();
  pair.client.reset();
  FrameWriter writer(1000, 3);
  ASSERT_TRUE(writer.Push("hello", {}).ok());
  bool progressed = false;
  EXPECT_FALSE(writer.WriteSome(pair.daemon.get(), progressed).ok());
  EXPECT_FALSE(progressed);
}

}  // namespace
}  // namespace sandboxd
