// A Session on its own, over a socketpair, with a real Server's parts behind it and no daemon,
// launcher or sandbox: what it answers to frames it cannot use, to a request while the server
// drains, and to a frame over the limit (answered, then the connection closed), and that every
// answer leaves the server's count of unsent answers.
#include "session.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "sandboxd/framing.h"
#include "server.h"
#include "wait_for.h"

namespace sandboxd {
namespace {

namespace asio = boost::asio;
using asio::local::stream_protocol;

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sandboxd_session_test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "images");
    services_.config.images_dir = (dir_ / "images").string();
    services_.config.state_dir = dir_.string();
    services_.config.default_image = "python3.11";
    services_.config.max_frame_bytes = 4096;
    registry_ = std::make_unique<ImageRegistry>(services_.config.images_dir);
    services_.images = registry_.get();
    server_ = std::make_unique<Server>(io_, services_);
    io_thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    client_.reset();
    work_.reset();
    io_.stop();
    io_thread_.join();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // A session on one end of a socketpair; the test is the client on the other.
  void Connect() {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client_ = UniqueFd(fds[1]);
    // A missing answer fails the test instead of hanging it.
    timeval bound{.tv_sec = 60, .tv_usec = 0};
    ASSERT_EQ(::setsockopt(client_.get(), SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound)), 0);
    stream_protocol::socket socket(asio::make_strand(io_));
    socket.assign(stream_protocol(), fds[0]);
    auto session = std::make_shared<Session>(*server_, std::move(socket));
    session->Start();
  }

  void SendMessage(const proto::ClientMessage& message) {
    std::string payload;
    message.SerializeToString(&payload);
    ASSERT_TRUE(SendFrame(client_.get(), payload).ok());
  }

  std::optional<proto::DaemonMessage> ReadAnswer() {
    auto frame = reader_.ReadOne(client_.get());
    if (!frame.ok()) return std::nullopt;
    proto::DaemonMessage message;
    if (!message.ParseFromString(frame->payload)) return std::nullopt;
    return message;
  }

  static proto::ClientMessage Versioned() {
    proto::ClientMessage message;
    message.set_version(proto::PROTOCOL_VERSION_1);
    return message;
  }

  std::filesystem::path dir_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  Services services_;
  std::unique_ptr<ImageRegistry> registry_;
  std::unique_ptr<Server> server_;
  std::thread io_thread_;
  UniqueFd client_;
  FrameReader reader_{1U << 20, 4};
};

TEST_F(SessionTest, UnusableFramesAreAnsweredAndTheConnectionStaysOpen) {
  Connect();
  // Field 1 (version) announced as 5 bytes long, with 2 there: no protobuf parser takes it.
  ASSERT_TRUE(SendFrame(client_.get(), std::string("\x0a\x05"
                                                   "ab",
                                                   4))
                  .ok());
  auto answer = ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->error().code(), proto::BAD_REQUEST);
  EXPECT_EQ(answer->error().message(), "the frame is not a valid ClientMessage");

  proto::ClientMessage old_version = Versioned();
  old_version.set_version(static_cast<proto::ProtocolVersion>(7));
  old_version.mutable_list_images();
  SendMessage(old_version);
  answer = ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->error().code(), proto::BAD_REQUEST);
  EXPECT_EQ(answer->error().message(), "unsupported protocol version 7 (this daemon speaks 1)");

  SendMessage(Versioned());
  answer = ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->error().message(), "the message has no request in it");

  // Still open: a request it can use is served.
  proto::ClientMessage list = Versioned();
  list.mutable_list_images();
  SendMessage(list);
  answer = ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(answer->has_images()) << answer->DebugString();
  EXPECT_EQ(answer->images().default_image(), "python3.11");
  EXPECT_EQ(answer->images().images_size(), 0);
  EXPECT_TRUE(testing::WaitUntil([&] { return server_->Idle(); }, std::chrono::seconds(60)));
}

TEST_F(SessionTest, ExecuteDuringTheDrainIsOverloadedWithItsRequestId) {
  server_->BeginDrain();
  Connect();
  proto::ClientMessage execute = Versioned();
  execute.mutable_execute()->set_request_id("drained-1");
  SendMessage(execute);
  auto answer = ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->request_id(), "drained-1");
  EXPECT_EQ(answer->error().code(), proto::OVERLOADED);
  EXPECT_EQ(answer->error().retry_after_ms(), kOverloadRetryMs);
  EXPECT_NE(answer->error().message().find("shutting down"), std::string::npos);
  EXPECT_EQ(server_->unanswered(), 0U);  // refused before it was accepted
  EXPECT_TRUE(testing::WaitUntil([&] { return server_->Idle(); }, std::chrono::seconds(60)));
}

TEST_F(SessionTest, AFrameOverTheLimitIsAnsweredThenTheConnectionCloses) {
  Connect();
  // A length prefix far past max_frame_bytes (4096): nothing after it can be framed.
  const std::string prefix("\x00\x00\x10\x00", 4);
  ASSERT_EQ(::send(client_.get(), prefix.data(), prefix.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(prefix.size()));
  auto answer = ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->error().code(), proto::BAD_REQUEST);
  // Then EOF: the session hung up after delivering it.
  char byte = 0;
  EXPECT_EQ(::recv(client_.get(), &byte, 1, 0), 0);
  EXPECT_TRUE(testing::WaitUntil([&] { return server_->Idle(); }, std::chrono::seconds(60)));
}

}  // namespace
}  // namespace sandboxd
