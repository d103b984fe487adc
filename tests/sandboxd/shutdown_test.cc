// Issue 8 item 6: SIGTERM drains for at most drain_timeout_s, then stops what is still running
// or queued and answers each request OVERLOADED; a second signal stops at once. Each test speaks
// raw frames on one connection, so that a ListImages answer proves the requests sent before it
// were accepted (one connection's frames are handled in order) before the signal is sent.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "sandboxd.pb.h"
#include "sandboxd/framing.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DefaultImageBuilt()) GTEST_SKIP() << "image python3.11 is not built in " << ImagesDir();
  }

  void StartDaemon(const std::string& drain_timeout_s, const std::string& max_sandboxes = "4") {
    daemon_ = DaemonProcess::Start({"--warm-sandboxes", "0", "--max-sandboxes", max_sandboxes,
                                    "--drain-timeout-s", drain_timeout_s});
    ASSERT_NE(daemon_, nullptr) << "sandboxd did not start";
    raw_ = daemon_->RawConnect();
    ASSERT_TRUE(raw_.valid());
  }

  void Send(const proto::ClientMessage& message) {
    std::string payload;
    ASSERT_TRUE(message.SerializeToString(&payload));
    ASSERT_TRUE(SendFrame(raw_.get(), payload).ok());
  }

  void SendExecute(const std::string& id, const std::string& script) {
    proto::ClientMessage message;
    message.set_version(proto::PROTOCOL_VERSION_1);
    auto* execute = message.mutable_execute();
    execute->set_request_id(id);
    execute->set_output_schema("typeof(x:long)");
    execute->set_script(script);
    Send(message);
  }

  // Sends ListImages and waits for its answer: everything sent before it has been accepted.
  void SendListImagesAndWait() {
    proto::ClientMessage message;
    message.set_version(proto::PROTOCOL_VERSION_1);
    message.mutable_list_images();
    Send(message);
    auto reply = Read();
    ASSERT_TRUE(reply.has_value());
    ASSERT_TRUE(reply->has_images()) << reply->DebugString();
  }

  // The next answer; nullopt if none comes within `limit` (a hang is a failure, not a wait).
  std::optional<proto::DaemonMessage> Read(int limit_ms = 120'000) {
    pollfd pfd{raw_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, limit_ms) != 1) {
      ADD_FAILURE() << "no answer within " << limit_ms << " ms";
      return std::nullopt;
    }
    auto frame = reader_.ReadOne(raw_.get());
    if (!frame.ok()) {
      ADD_FAILURE() << "no answer: " << frame.status().ToString();
      return std::nullopt;
    }
    proto::DaemonMessage reply;
    EXPECT_TRUE(reply.ParseFromString(frame->payload));
    return reply;
  }

  // The drain has begun once the daemon no longer accepts connections.
  void WaitUntilDraining() {
    for (int i = 0; i < 3000 && daemon_->RawConnect().valid(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_FALSE(daemon_->RawConnect().valid()) << "still accepting connections after SIGTERM";
  }

  void ExpectStoppedAnswer(const proto::DaemonMessage& reply, const std::string& why) {
    ASSERT_TRUE(reply.has_error()) << reply.DebugString();
    EXPECT_EQ(reply.error().code(), proto::OVERLOADED) << reply.error().message();
    EXPECT_EQ(reply.error().retry_after_ms(), 1000U);
    EXPECT_NE(reply.error().message().find(why), std::string::npos) << reply.error().message();
    EXPECT_NE(reply.error().message().find("retry it"), std::string::npos)
        << reply.error().message();
  }

  void ExpectCleanExit() {
    const auto status = daemon_->WaitExit(std::chrono::seconds(120));
    ASSERT_TRUE(status.has_value()) << "sandboxd did not exit";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
    // Every sandbox cgroup of the daemon's group went with its request.
    const std::string group = "/sys/fs/cgroup/memory/sandboxd-test-" + std::to_string(::getpid());
    std::error_code ec;
    if (!std::filesystem::is_directory(group, ec)) return;  // cgroup v2 or no memory controller
    for (const auto& entry : std::filesystem::directory_iterator(group, ec))
      EXPECT_FALSE(entry.is_directory()) << "sandbox cgroup left behind: " << entry.path();
  }

  std::unique_ptr<DaemonProcess> daemon_;
  UniqueFd raw_;
  FrameReader reader_;
};

constexpr const char* kForever =
    "import time\ntime.sleep(600)\nresult = pd.DataFrame({'x': [1]})\n";

TEST_F(ShutdownTest, DrainLetsAcceptedRequestsFinishAndRefusesNewOnes) {
  StartDaemon("600");
  SendExecute("slow", "import time\ntime.sleep(4)\nresult = pd.DataFrame({'x': [1]})\n");
  SendListImagesAndWait();
  daemon_->Signal(SIGTERM);
  WaitUntilDraining();
  SendExecute("late", "result = pd.DataFrame({'x': [2]})\n");

  auto late = Read();
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->request_id(), "late");
  ASSERT_TRUE(late->has_error()) << late->DebugString();
  EXPECT_EQ(late->error().code(), proto::OVERLOADED);
  EXPECT_NE(late->error().message().find("shutting down"), std::string::npos)
      << late->error().message();

  auto slow = Read();
  ASSERT_TRUE(slow.has_value());
  EXPECT_EQ(slow->request_id(), "slow");
  EXPECT_TRUE(slow->has_result()) << slow->DebugString();
  ExpectCleanExit();
}

TEST_F(ShutdownTest, DrainTimeoutStopsRunningAndQueuedRequestsWithAnAnswerEach) {
  StartDaemon("1", /*max_sandboxes=*/"1");
  SendExecute("running", kForever);
  SendExecute("queued", kForever);  // the one slot is taken: this one waits in the queue
  SendListImagesAndWait();
  daemon_->Signal(SIGTERM);

  std::set<std::string> answered;
  for (int i = 0; i < 2; ++i) {
    auto reply = Read();
    ASSERT_TRUE(reply.has_value());
    answered.insert(reply->request_id());
    ExpectStoppedAnswer(*reply, "after the drain timeout of 1 s");
  }
  EXPECT_EQ(answered, (std::set<std::string>{"running", "queued"}));
  ExpectCleanExit();
}

TEST_F(ShutdownTest, SecondSignalStopsAtOnce) {
  StartDaemon("600");
  SendExecute("running", kForever);
  SendListImagesAndWait();
  daemon_->Signal(SIGTERM);
  WaitUntilDraining();
  daemon_->Signal(SIGTERM);

  auto reply = Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->request_id(), "running");
  ExpectStoppedAnswer(*reply, "a second signal");
  ExpectCleanExit();  // long before the 600 s drain
}

TEST_F(ShutdownTest, ExitsCleanlyWithItsWarmPoolRefillingUnderLoad) {
  // At exit the event loop still holds sessions and executions whose destructors use the
  // server's parts (slot leases, counters): they must go first, or the daemon dies of a
  // corrupted heap (it did, about every other run, with a refilling pool of 16).
  daemon_ = DaemonProcess::Start({"--warm-sandboxes", "16", "--drain-timeout-s", "0"});
  ASSERT_NE(daemon_, nullptr);
  std::atomic<int> served{0};
  std::atomic<int> stopped{0};  // clients that are done
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&] {
      Client client = daemon_->Connect();
      for (int i = 0; i < 40; ++i) {
        Request request;
        request.output_schema = "typeof(x:long)";
        request.script = "result = pd.DataFrame({'x': [1]})\n";
        if (!client.Execute(request).ok()) break;  // the daemon is stopping
        ++served;
      }
      ++stopped;
    });
  }
  // Under load: the clients have been served 4 requests, each of which took a warm sandbox and
  // started a refill, and go on sending more.
  WaitUntil([&] { return served >= 4 || stopped == 2; }, std::chrono::minutes(2));
  EXPECT_GE(served.load(), 4) << "the clients stopped, or were served only " << served
                              << " requests in 2 minutes";
  daemon_->Signal(SIGTERM);
  for (auto& t : clients) t.join();
  ExpectCleanExit();
}

}  // namespace
}  // namespace sandboxd::testing
