// The Execute pipeline (pipeline.h) without a daemon, launcher or sandbox: a real Server's parts
// and a real Session over a socketpair, the test as the client. Every step that can refuse does
// so with exactly one answer, its code and message the ones the integration tests see through a
// daemon: a bad typeof (Check), an artifact the callout policy does not allow
// (CheckCalloutPolicy), a full node (Admit), a queued request at its deadline and at the
// shutdown (Admit's queue), a spill over the node's budget (StageInput), and debug mode. After
// each, a ListImages request is answered next: nothing else came for the refused request.
#include "pipeline.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "sandbox_dirs.h"
#include "sandboxd/framing.h"
#include "server.h"
#include "session.h"
#include "wait_for.h"

namespace sandboxd {
namespace {

namespace asio = boost::asio;
using asio::local::stream_protocol;

using testing::ImagesDir;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(ImagesDir() + "/python3.11/manifest"))
      GTEST_SKIP() << "image python3.11 is not built in " << ImagesDir();
    dir_ = std::filesystem::temp_directory_path() /
           ("sandboxd_pipeline_test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    // The callout policy allows one host only.
    std::ofstream(dir_ / "callout.json")
        << R"([{"CalloutType": "sandbox_artifacts", "CalloutUriRegex": "^https://allowed\\.example/", "CanCall": true}])";
    services_.config.images_dir = ImagesDir();
    services_.config.state_dir = dir_.string();
    services_.config.default_image = "python3.11";
    services_.config.artifacts.policy_file = (dir_ / "callout.json").string();
    services_.config.max_sandboxes = 1;
    services_.config.max_queue = 1;
    services_.config.max_spill_bytes = 1;
    registry_ = std::make_unique<ImageRegistry>(services_.config.images_dir);
    services_.images = registry_.get();
  }

  // The server and the io thread, once the test has set the config.
  void StartServer() {
    server_ = std::make_unique<Server>(io_, services_);
    io_thread_ = std::thread([this] { io_.run(); });
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client_ = UniqueFd(fds[1]);
    // A missing answer fails the test instead of hanging it.
    timeval bound{.tv_sec = 60, .tv_usec = 0};
    ASSERT_EQ(::setsockopt(client_.get(), SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound)), 0);
    stream_protocol::socket socket(asio::make_strand(io_));
    socket.assign(stream_protocol(), fds[0]);
    std::make_shared<Session>(*server_, std::move(socket))->Start();
  }

  void TearDown() override {
    client_.reset();
    work_.reset();
    if (io_thread_.joinable()) {
      io_.stop();
      io_thread_.join();
    }
    server_.reset();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  // A request that passes every check: no input, one long column out.
  static proto::ClientMessage Execute(const std::string& id) {
    proto::ClientMessage message;
    message.set_version(proto::PROTOCOL_VERSION_1);
    auto* execute = message.mutable_execute();
    execute->set_request_id(id);
    execute->set_script("result = pd.DataFrame({'x': [1]})\n");
    execute->set_output_schema("typeof(x:long)");
    return message;
  }

  void Send(const proto::ClientMessage& message) {
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

  // The one answer to `message`: an error with `code`, for `id`.
  proto::Error RefusedWith(const proto::ClientMessage& message, proto::ErrorCode code) {
    Send(message);
    auto answer = ReadAnswer();
    EXPECT_TRUE(answer.has_value());
    if (!answer) return {};
    EXPECT_EQ(answer->request_id(), message.execute().request_id());
    EXPECT_TRUE(answer->has_error()) << answer->DebugString();
    EXPECT_EQ(answer->error().code(), code) << answer->DebugString();
    return answer->error();
  }

  // The next answer is the one to a ListImages sent now: the refused request got one answer.
  void ExpectNoOtherAnswer() {
    proto::ClientMessage list;
    list.set_version(proto::PROTOCOL_VERSION_1);
    list.mutable_list_images();
    Send(list);
    auto answer = ReadAnswer();
    ASSERT_TRUE(answer.has_value());
    EXPECT_TRUE(answer->has_images()) << answer->DebugString();
    // Every accepted request was answered and every answer went out.
    EXPECT_TRUE(testing::WaitUntil([&] { return server_->Idle(); }, std::chrono::seconds(60)));
  }

  // Takes the node's one slot, as a running sandbox would, until the test ends.
  void FillTheNode() {
    const auto taken = server_->admission().Submit([this](unsigned slot) { held_slot_ = slot; });
    ASSERT_EQ(taken.outcome, Admission::Outcome::kStarted);
  }
  void FreeTheNode() {
    if (held_slot_) server_->admission().Release(*held_slot_);
    held_slot_.reset();
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
  std::optional<unsigned> held_slot_;
};

TEST_F(PipelineTest, ABadTypeofIsOneBadRequestWithTheParsersMessage) {
  StartServer();
  auto message = Execute("bad-typeof");
  message.mutable_execute()->set_output_schema("typeof(x long)");
  const proto::Error error = RefusedWith(message, proto::BAD_REQUEST);
  EXPECT_EQ(error.message().rfind("invalid output schema at position ", 0), 0U) << error.message();
  EXPECT_EQ(server_->unanswered(), 0U);
  ExpectNoOtherAnswer();
}

TEST_F(PipelineTest, AnArtifactThePolicyDoesNotAllowIsRefusedBeforeAnyConnection) {
  StartServer();
  auto message = Execute("denied");
  (*message.mutable_execute()->mutable_external_artifacts())["model.txt"] =
      "https://elsewhere.example/model.txt";
  const proto::Error error = RefusedWith(message, proto::ARTIFACT_DENIED);
  EXPECT_NE(error.message().find("model.txt"), std::string::npos) << error.message();
  ExpectNoOtherAnswer();
}

TEST_F(PipelineTest, ARequestOnAFullNodeWithAFullQueueIsOverloaded) {
  services_.config.max_queue = 0;
  StartServer();
  FillTheNode();
  const proto::Error error = RefusedWith(Execute("full"), proto::OVERLOADED);
  EXPECT_EQ(error.message(), "this node is running 1 sandboxes and its queue is full; retry later");
  EXPECT_EQ(error.retry_after_ms(), kOverloadRetryMs);
  FreeTheNode();
  ExpectNoOtherAnswer();
}

TEST_F(PipelineTest, AQueuedRequestEndsAtItsDeadline) {
  StartServer();
  FillTheNode();
  auto message = Execute("queued");
  message.mutable_execute()->mutable_limits()->set_timeout_ms(200);
  const proto::Error error = RefusedWith(message, proto::TIMEOUT);
  EXPECT_EQ(error.message().rfind("the request waited ", 0), 0U) << error.message();
  EXPECT_NE(error.message().find("for a free sandbox: this node is busy"), std::string::npos);
  EXPECT_EQ(server_->admission().queued(), 0U);  // withdrawn from the queue
  FreeTheNode();
  ExpectNoOtherAnswer();
}

TEST_F(PipelineTest, AQueuedRequestIsAnsweredOnceAtTheShutdown) {
  StartServer();
  FillTheNode();
  Send(Execute("stopped"));
  ASSERT_TRUE(testing::WaitUntil([&] { return server_->admission().queued() == 1; },
                                 std::chrono::seconds(60)));
  server_->AbortAll("sandboxd is stopping");
  auto answer = ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->request_id(), "stopped");
  EXPECT_EQ(answer->error().code(), proto::OVERLOADED);
  EXPECT_EQ(answer->error().message(), "sandboxd is stopping");
  FreeTheNode();
  ExpectNoOtherAnswer();
}

TEST_F(PipelineTest, AnInputOverTheSpillBudgetIsRefusedAtStageInput) {
  StartServer();
  auto message = Execute("spill");
  message.mutable_execute()->set_spill_to_disk(true);
  // Even an empty table's header is more than the 1-byte budget.
  RefusedWith(message, proto::BAD_REQUEST);
  ExpectNoOtherAnswer();
}

TEST_F(PipelineTest, DebugModeAnswersWithTheReproAndRunsNothing) {
  services_.config.max_queue = 0;
  StartServer();
  FillTheNode();  // a request that wanted a sandbox would be OVERLOADED
  auto message = Execute("debug");
  message.mutable_execute()->set_debug(true);
  Send(message);
  auto answer = ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->request_id(), "debug");
  EXPECT_TRUE(answer->has_result()) << answer->DebugString();
  FreeTheNode();
  ExpectNoOtherAnswer();
}

}  // namespace
}  // namespace sandboxd
