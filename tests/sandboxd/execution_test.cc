// An Execution without a daemon: a real root helper and launcher (this binary is both, as the
// daemon is: internal_modes.h) clone real sandboxes of the python3.11 image, with no cgroups and
// no syscall filter (the plain path). A request comes in one way, Execution::Run, to a sandbox
// launched for it or to a warm one launched before it (Prelaunch), and gets exactly one answer
// either way: its result, or the error of the step that failed (a launch the launcher refuses, a
// launch specification that cannot be built, a script past its deadline).
#include "execution.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "admission.h"
#include "internal_modes.h"
#include "launcher_client.h"
#include "request.h"
#include "root_helper.h"
#include "sandbox_dirs.h"
#include "test_paths.h"
#include "wait_for.h"

namespace sandboxd {
namespace {

namespace asio = boost::asio;

using testing::ImagesDir;

std::string Normal(const std::string& path) {
  std::string normal = std::filesystem::absolute(path).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

// The answers one request got, from whichever thread gave them.
struct Answers {
  std::mutex mu;
  std::vector<Answer> got;
  AnswerCallback Callback() {
    return [this](Answer answer) {
      std::lock_guard lock(mu);
      got.push_back(std::move(answer));
    };
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return got.size();
  }
};

class ExecutionTest : public ::testing::Test {
 protected:
  static constexpr unsigned kSlots = 4;

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the launcher needs root";
    if (!std::filesystem::exists(ImagesDir() + "/python3.11/rootfs/bin/sleep"))
      GTEST_SKIP() << "image python3.11 is not built in " << ImagesDir();
    // Slot uids of this process's own, apart from the daemons other tests start.
    const std::uint32_t uid_first =
        1'800'000'000U + static_cast<std::uint32_t>(::getpid() % 4096) * 64U;
    dir_ = ::testing::TempDir() + "execution_test_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_ + "/artifacts/requests");
    RootHelper::Bounds helper_bounds;
    helper_bounds.uid_first = uid_first;
    helper_bounds.uid_count = 2 * kSlots;
    helper_bounds.socket_path = dir_ + "/never.sock";
    helper_bounds.claim_path = dir_ + "/never.claim";
    auto helper = RootHelper::Start(helper_bounds);
    ASSERT_TRUE(helper.ok()) << helper.status().message();
    helper_ = std::move(*helper);

    NodeConfig& config = services_.config;
    config.images_dir = Normal(ImagesDir());
    config.runtime_dir = Normal(sandboxd::testing::RuntimeDirForSandboxes());
    config.zygotes = false;  // each sandbox starts its own interpreter: no zygote to wait for
    config.sandbox_uid_base = uid_first;
    config.max_sandboxes = kSlots;
    config.default_image = "python3.11";
    internal::LaunchBounds bounds;
    bounds.set_uid_first(uid_first);
    bounds.set_uid_count(2 * kSlots);
    bounds.set_images_dir(config.images_dir);
    bounds.set_runtime_dir(config.runtime_dir);
    bounds.set_zygote_module_dir(Normal(std::string(test_paths::kBinaryDir) + "/zygote"));
    bounds.set_artifacts_dir(Normal(dir_ + "/artifacts"));
    bounds.set_allow_no_seccomp(true);
    auto launcher = LauncherClient::Start(bounds, helper_.get());
    ASSERT_TRUE(launcher.ok()) << launcher.status().message();
    launcher_ = std::move(*launcher);
    services_.launcher = launcher_.get();
    registry_ = std::make_unique<ImageRegistry>(config.images_dir);
    services_.images = registry_.get();
    io_thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    work_.reset();
    if (io_thread_.joinable()) io_thread_.join();  // once every execution's handlers are done
    launcher_.reset();
    helper_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // A request as the pipeline hands it on, checked by request.cc against this node.
  PreparedRequest Prepared(const std::string& id, const std::string& script,
                           std::uint64_t timeout_ms = 0) {
    proto::ExecuteRequest request;
    request.set_request_id(id);
    request.set_script(script);
    request.set_output_schema("typeof(x:long)");
    request.mutable_limits()->set_timeout_ms(timeout_ms);
    std::vector<UniqueFd> fds;
    auto prepared = PrepareRequest(request, fds, services_);
    EXPECT_TRUE(prepared.ok()) << prepared.status().message();
    return prepared.ok() ? std::move(*prepared) : PreparedRequest{};
  }

  std::shared_ptr<Execution> NewExecution(const ImageInfo& image) {
    auto slot = admission_->TryAcquire();
    EXPECT_TRUE(slot.has_value());
    return std::make_shared<Execution>(io_, services_, image,
                                       std::make_unique<SlotLease>(admission_, slot.value_or(0)));
  }

  ImageInfo Image() {
    auto image = registry_->Find("python3.11");
    EXPECT_TRUE(image.ok()) << image.status().message();
    return image.ok() ? *image : ImageInfo{};
  }

  // Waits for the execution to be gone (its sandbox ended, its slot back), then for its answers:
  // exactly one, which is returned.
  Answer OnlyAnswer(std::weak_ptr<Execution> execution, Answers& answers) {
    EXPECT_TRUE(
        testing::WaitUntil([&] { return answers.count() >= 1; }, std::chrono::seconds(120)));
    EXPECT_TRUE(testing::WaitUntil([&] { return execution.expired(); }, std::chrono::seconds(120)));
    EXPECT_TRUE(
        testing::WaitUntil([&] { return admission_->running() == 0; }, std::chrono::seconds(120)));
    std::lock_guard lock(answers.mu);
    EXPECT_EQ(answers.got.size(), 1U);
    if (answers.got.empty()) return Answer{};
    return std::move(answers.got.front());
  }

  std::string dir_;
  std::unique_ptr<RootHelper> helper_;
  std::unique_ptr<LauncherClient> launcher_;
  Services services_;
  std::unique_ptr<ImageRegistry> registry_;
  std::shared_ptr<Admission> admission_ = std::make_shared<Admission>(kSlots, 0);
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::thread io_thread_;
};

TEST_F(ExecutionTest, ARequestInASandboxLaunchedForItIsAnsweredOnceWithItsResult) {
  Answers answers;
  std::weak_ptr<Execution> weak;
  {
    auto execution = NewExecution(Image());
    weak = execution;
    execution->Run(Prepared("cold-1", "result = pd.DataFrame({'x': [1, 2, 3]})\n"),
                   answers.Callback());
  }
  const Answer answer = OnlyAnswer(weak, answers);
  ASSERT_TRUE(answer.message.has_result()) << answer.message.DebugString();
  EXPECT_EQ(answer.message.request_id(), "cold-1");
  EXPECT_GT(answer.message.result().table().size(), 0U);
  EXPECT_GT(answer.message.result().stats().setup_seconds(), 0.0);  // it was launched for it
}

TEST_F(ExecutionTest, AWarmSandboxRunsTheRequestItIsGivenLater) {
  Answers answers;
  std::weak_ptr<Execution> weak;
  {
    auto execution = NewExecution(Image());
    weak = execution;
    std::atomic<int> launched = 0;  // 1: ok, -1: failed
    std::atomic<bool> idle_exit = false;
    execution->Prelaunch([&](const Status& s) { launched = s.ok() ? 1 : -1; },
                         [&] { idle_exit = true; });
    ASSERT_TRUE(testing::WaitUntil([&] { return launched != 0; }, std::chrono::seconds(120)));
    ASSERT_EQ(launched, 1);
    EXPECT_FALSE(execution->SandboxExited());
    // The request arrives after its sandbox was ready: its input is copied in at Run.
    execution->Run(Prepared("warm-1", "result = pd.DataFrame({'x': [7]})\n"), answers.Callback());
    EXPECT_FALSE(idle_exit);
  }
  const Answer answer = OnlyAnswer(weak, answers);
  ASSERT_TRUE(answer.message.has_result()) << answer.message.DebugString();
  EXPECT_EQ(answer.message.request_id(), "warm-1");
  EXPECT_EQ(answer.message.result().stats().setup_seconds(), 0.0);  // set up before it came
}

TEST_F(ExecutionTest, ALaunchTheLauncherRefusesIsOneInternalAnswer) {
  // A root outside the launcher's images folder: the launcher's bounds refuse it.
  ImageInfo image = Image();
  image.rootfs = Normal(dir_) + "/elsewhere/rootfs";
  Answers answers;
  std::weak_ptr<Execution> weak;
  {
    auto execution = NewExecution(image);
    weak = execution;
    execution->Run(Prepared("refused-1", "result = pd.DataFrame({'x': [1]})\n"),
                   answers.Callback());
  }
  const Answer answer = OnlyAnswer(weak, answers);
  ASSERT_TRUE(answer.message.has_error()) << answer.message.DebugString();
  EXPECT_EQ(answer.message.request_id(), "refused-1");
  EXPECT_EQ(answer.message.error().code(), proto::INTERNAL);
}

TEST_F(ExecutionTest, ALaunchSpecificationThatCannotBeBuiltIsOneInternalAnswer) {
  services_.config.runtime_dir = "runtime";  // not absolute: the builder refuses it
  Answers answers;
  std::weak_ptr<Execution> weak;
  {
    auto execution = NewExecution(Image());
    weak = execution;
    execution->Run(Prepared("spec-1", "result = pd.DataFrame({'x': [1]})\n"), answers.Callback());
  }
  const Answer answer = OnlyAnswer(weak, answers);
  ASSERT_TRUE(answer.message.has_error()) << answer.message.DebugString();
  EXPECT_EQ(answer.message.error().code(), proto::INTERNAL);
  EXPECT_EQ(answer.message.error().message(),
            "the sandbox's launch specification: runtime_dir 'runtime' is not an absolute path");
}

TEST_F(ExecutionTest, AScriptPastItsDeadlineIsOneTimeoutAnswer) {
  Answers answers;
  std::weak_ptr<Execution> weak;
  {
    auto execution = NewExecution(Image());
    weak = execution;
    // The deadline counts from the request's arrival and covers the launch; a launch slower
    // than that is answered TIMEOUT as well (with its own message).
    execution->Run(Prepared("late-1", "import time\ntime.sleep(600)\n", 3000), answers.Callback());
  }
  const Answer answer = OnlyAnswer(weak, answers);
  ASSERT_TRUE(answer.message.has_error()) << answer.message.DebugString();
  EXPECT_EQ(answer.message.error().code(), proto::TIMEOUT) << answer.message.DebugString();
}

}  // namespace
}  // namespace sandboxd

int main(int argc, char** argv) {
  if (auto code = sandboxd::RunInternalMode(argc, argv)) return *code;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
