// Issue 8, item 5: a client that loses its daemon says UNAVAILABLE (with a hint that the request
// may be retried, and whether it may have run), not the daemon's INTERNAL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "sandboxd.pb.h"
#include "sandboxd/client.h"
#include "sandboxd/framing.h"
#include "sandboxd/status.h"

namespace sandboxd {
namespace {

constexpr const char* kSentHint = "it was sent and may have run";

// A client that gives up on a lost answer after a minute instead of hanging the test.
Client TestClient(UniqueFd socket) {
  ClientOptions options;
  options.reply_timeout = std::chrono::seconds(60);
  return Client::FromSocket(std::move(socket), options);
}

struct Pair {
  UniqueFd client;
  UniqueFd daemon;
};

Pair SocketPair() {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

void ExpectUnavailable(const Error& error, const std::string& says) {
  EXPECT_EQ(error.code, ErrorCode::kUnavailable) << error.ToString();
  EXPECT_TRUE(error.local);
  EXPECT_EQ(error.ToString().rfind("UNAVAILABLE: ", 0), 0U) << error.ToString();
  EXPECT_NE(error.message.find(says), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("may be retried"), std::string::npos) << error.message;
}

TEST(ClientUnavailableTest, CodeHasItsName) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kUnavailable), "UNAVAILABLE");
  EXPECT_EQ(ErrorCodeFromName("UNAVAILABLE"), ErrorCode::kUnavailable);
  EXPECT_EQ(static_cast<int>(ErrorCode::kUnavailable), static_cast<int>(proto::UNAVAILABLE));
}

TEST(ClientUnavailableTest, DaemonThatHangsUpAfterReadingTheRequest) {
  Pair pair = SocketPair();
  std::thread daemon([fd = std::move(pair.daemon)]() mutable {
    FrameReader reader;
    EXPECT_TRUE(reader.ReadOne(fd.get()).ok());
    fd.reset();  // read the whole request, then gone
  });
  Client client = TestClient(std::move(pair.client));
  ExecuteOutcome outcome = client.Execute(Request{});
  daemon.join();
  ASSERT_FALSE(outcome.ok());
  ExpectUnavailable(outcome.error(), "sandboxd closed the connection before replying");
  EXPECT_NE(outcome.error().message.find(kSentHint), std::string::npos);
}

TEST(ClientUnavailableTest, DaemonProcessKilledMidRequest) {
  Pair pair = SocketPair();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pair.client.reset();
    char byte;
    (void)::read(pair.daemon.get(), &byte, 1);  // the request has arrived
    ::kill(::getpid(), SIGKILL);
    ::_exit(0);
  }
  pair.daemon.reset();
  Client client = TestClient(std::move(pair.client));
  ExecuteOutcome outcome = client.Execute(Request{});
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  ASSERT_FALSE(outcome.ok());
  // A peer that dies with the request unread resets the connection; either way UNAVAILABLE.
  ExpectUnavailable(outcome.error(), "sandboxd");
  EXPECT_EQ(outcome.error().message.find("no reply from sandboxd within"), std::string::npos)
      << "the death went unnoticed: " << outcome.error().message;
  EXPECT_NE(outcome.error().message.find(kSentHint), std::string::npos) << outcome.error().message;
}

TEST(ClientUnavailableTest, ReplyCutOffMidFrame) {
  Pair pair = SocketPair();
  std::thread daemon([fd = std::move(pair.daemon)]() mutable {
    FrameReader reader;
    EXPECT_TRUE(reader.ReadOne(fd.get()).ok());
    const char partial[6] = {100, 0, 0, 0, 1, 2};  // 100 bytes promised, 2 sent
    EXPECT_EQ(::write(fd.get(), partial, sizeof(partial)), 6);
    fd.reset();
  });
  Client client = TestClient(std::move(pair.client));
  ExecuteOutcome outcome = client.Execute(Request{});
  daemon.join();
  ASSERT_FALSE(outcome.ok());
  ExpectUnavailable(outcome.error(), "in the middle of a frame");
}

TEST(ClientUnavailableTest, ListImagesFromAVanishedDaemon) {
  Pair pair = SocketPair();
  std::thread daemon([fd = std::move(pair.daemon)]() mutable {
    FrameReader reader;
    EXPECT_TRUE(reader.ReadOne(fd.get()).ok());
  });
  Client client = TestClient(std::move(pair.client));
  auto images = client.ListImages();
  daemon.join();
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.status().code(), ErrorCode::kUnavailable) << images.status().ToString();
  // Once the connection is gone, the next call is refused before anything is sent.
  auto again = client.ClearCache();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(again.status().message().find("not sent, so it may be retried"), std::string::npos)
      << again.status().message();
}

}  // namespace
}  // namespace sandboxd
