// Issue 9, the request path: a request that waits in the queue ends at its deadline (TIMEOUT),
// never later; an idle warm sandbox gives its slot up to a request of another image that waits.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>

#include "daemon_fixture.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

class QueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DefaultImageBuilt()) GTEST_SKIP() << "image python3.11 is not built in " << ImagesDir();
  }
};

Request Plain(std::int64_t value) {
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script = "result = pd.DataFrame({'x': [" + std::to_string(value) + "]})\n";
  return request;
}

TEST_F(QueueTest, AQueuedRequestEndsAtItsDeadline) {
  auto daemon = DaemonProcess::Start(
      {"--warm-sandboxes", "0", "--max-sandboxes", "1", "--drain-timeout-s", "0"});
  ASSERT_NE(daemon, nullptr);
  // The one slot is held by a request that runs until its client lets it go; it names its
  // process, so the test sends the waiting request only once the slot is taken (sent earlier,
  // it could get the slot and spend its 1 s on a launch instead of in the queue).
  const std::string beacon = BeaconName("sbxq");
  std::atomic<bool> holder_done{false};
  std::thread holder([&] {
    Client client = daemon->Connect();
    Request request = Plain(1);
    request.script = BeaconPython(beacon) + "import time\ntime.sleep(120)\n" + request.script;
    request.timeout_ms = 120'000;
    (void)client.Execute(request);
    holder_done = true;
  });
  const bool holding =
      WaitUntil([&] { return !ProcessesNamed(beacon).empty(); }, std::chrono::seconds(120));
  Client client = daemon->Connect();
  Request waiting = Plain(2);
  waiting.timeout_ms = 1000;
  ExecuteOutcome outcome = client.Execute(waiting);
  if (!holding) ADD_FAILURE() << "the holder's script never ran";
  ASSERT_FALSE(outcome.ok()) << "every request was served: the holder never took the slot";
  EXPECT_EQ(outcome.error().code, ErrorCode::kTimeout) << outcome.error().ToString();
  EXPECT_NE(outcome.error().message.find("waited"), std::string::npos) << outcome.error().message;
  EXPECT_FALSE(holder_done) << "the holder ended early: the queue was not what ended the request";
  EXPECT_TRUE(daemon->alive());
  daemon.reset();  // ends the holder's request (the daemon stops)
  holder.join();
}

TEST_F(QueueTest, AnIdleWarmSandboxGivesItsSlotToAnotherImage) {
  if (!std::filesystem::exists(ImagesDir() + "/python3.11-ml/packages.lock"))
    GTEST_SKIP() << "image python3.11-ml is not built";
  // One slot, taken by the default image's warm sandbox once it is ready.
  auto daemon = DaemonProcess::Start({"--warm-sandboxes", "1", "--max-sandboxes", "1"});
  ASSERT_NE(daemon, nullptr);
  Client client = daemon->Connect();
  ASSERT_TRUE(client.Execute(Plain(3)).ok());  // the pool is up (and refilled after this)
  Request request = Plain(4);
  request.image = "python3.11-ml";
  request.timeout_ms = 60'000;
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 4);
}

TEST_F(QueueTest, ARequestWhoseSandboxIsStillStartingEndsAtItsDeadline) {
  if (!std::filesystem::exists(ImagesDir() + "/python3.11-ml/packages.lock"))
    GTEST_SKIP() << "image python3.11-ml is not built";
  // The ML image's zygote takes far longer than 100 ms to import torch and the rest; the request
  // is answered at its deadline, not when the zygote is ready, and the node serves on.
  auto daemon = DaemonProcess::Start({"--warm-sandboxes", "0"});
  ASSERT_NE(daemon, nullptr);
  Client client = daemon->Connect();
  Request request = Plain(5);
  request.image = "python3.11-ml";
  request.timeout_ms = 100;
  auto outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kTimeout) << outcome.error().ToString();
  EXPECT_NE(outcome.error().message.find("could be started"), std::string::npos)
      << outcome.error().message;
  request.timeout_ms = 60'000;  // once the zygote is up, the image serves
  outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 5);
}

}  // namespace
}  // namespace sandboxd::testing
