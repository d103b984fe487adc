// `sandboxctl status` and `sandboxctl policy show` against a real daemon (issue 12, "What an
// operator looks at"): a request whose script blocks until the test releases it is listed with
// its id, image, phase and peak memory, by the client call and by the built sandboxctl, and is
// gone once answered; `policy show` reports the limits the daemon was started with, the seccomp
// generation it compiled (a SIGHUP makes the next) and the callout rules it holds (a broken edit
// of the file leaves them in force, and says so); a malformed status request is answered
// BAD_REQUEST and the daemon goes on serving.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../sandboxd/daemon_fixture.h"
#include "../sandboxd/wait_for.h"
#include "sandboxd.pb.h"
#include "sandboxd/framing.h"
#include "test_paths.h"

namespace sandboxd::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::minutes;

constexpr char kCalloutRules[] = R"([
  {"CalloutType": "sandbox_artifacts", "CalloutUriRegex": "^https://artifacts\\.example\\.net/python/",
   "CanCall": true},
  {"CalloutType": "sandbox_artifacts", "CalloutUriRegex": "\\.blob\\.core\\.windows\\.net/",
   "CanCall": false}
])";

struct CtlRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class SandboxctlStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DefaultImageBuilt())
      GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir()
                   << "; run runtime_images/build-image python3.11";
    char tmpl[] = "/tmp/sandboxctl-status-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    callout_path_ = dir_ + "/callout.json";
    std::ofstream(callout_path_) << kCalloutRules;
    DaemonOptions options;
    options.cgroup_group_prefix = "sandboxd-status-";
    options.uid_base_start = 1'660'000'000U;
    options.config_json = R"({"limits": {"memory_mb": 768, "timeout_s": 120, "cpu_percent": 150},
                              "artifacts": {"policy_file": ")" +
                          callout_path_ + R"("}})";
    // The policy the daemon compiles is named, and compiled as for a kernel without
    // MFD_NOEXEC_SEAL, so the generation's file and features are known whatever the kernel.
    options.extra_args = {"--max-sandboxes",     "3",
                          "--max-queue",         "7",
                          "--warm-sandboxes",    "1",
                          "--seccomp-policy",    ::sandboxd::test_paths::kSeccompPolicySource,
                          "--memfd-noexec-seal", "off"};
    daemon_ = DaemonProcess::Start(options);
    ASSERT_NE(daemon_, nullptr) << "sandboxd did not start";
  }

  void TearDown() override {
    daemon_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs the built sandboxctl with `args`, its stdout and stderr in files; bounded, so a
  // sandboxctl that hangs fails the test instead of holding it until CTest's TIMEOUT.
  CtlRun Sandboxctl(std::vector<std::string> args) {
    const std::string out_path = dir_ + "/stdout";
    const std::string err_path = dir_ + "/stderr";
    args.insert(args.begin(), ::sandboxd::test_paths::kSandboxctlBinary);
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    CtlRun run;
    int status = 0;
    const bool exited =
        WaitUntil([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, minutes(2));
    if (!exited) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "sandboxctl did not exit within 2 minutes";
    }
    run.exit_code = exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = ReadWholeFile(out_path);
    run.err = ReadWholeFile(err_path);
    return run;
  }

  nlohmann::json SandboxctlJson(std::vector<std::string> args) {
    args.push_back("--socket");
    args.push_back(daemon_->socket_path());
    args.push_back("--json");
    const CtlRun run = Sandboxctl(args);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    const auto json = nlohmann::json::parse(run.out, nullptr, false);
    EXPECT_FALSE(json.is_discarded()) << run.out;
    return json;
  }

  std::string dir_;
  std::string callout_path_;
  std::unique_ptr<DaemonProcess> daemon_;
};

const RequestInFlight* FindRequest(const DaemonStatus& status, const std::string& id) {
  for (const auto& request : status.requests) {
    if (request.request_id == id) return &request;
  }
  return nullptr;
}

const nlohmann::json* FindRequest(const nlohmann::json& status, const std::string& id) {
  for (const auto& request : status["requests"]) {
    if (request["id"] == id) return &request;
  }
  return nullptr;
}

TEST_F(SandboxctlStatusTest, ShowsARunningRequestUntilItIsAnswered) {
  // The script touches 32 MiB (its cgroup's peak is at least that), names itself (a beacon) and
  // waits for the test's SIGUSR1.
  const std::string beacon = BeaconName("status-");
  const std::string id = "status-test-" + std::to_string(::getpid());
  auto running = std::async(std::launch::async, [this, &beacon, &id] {
    Client client = daemon_->Connect();
    Request request;
    request.request_id = id;
    request.output_schema = "typeof(released:bool)";
    request.script =
        "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
        "block = b'x' * (32 << 20)\n" +
        BeaconPython(beacon) +
        "released = signal.sigtimedwait({signal.SIGUSR1}, 120) is not None\n"
        "result = pd.DataFrame({'released': [released]})\n";
    return client.Execute(request);
  });
  ASSERT_TRUE(WaitUntil([&] { return !ProcessesNamed(beacon).empty(); }, minutes(2)))
      << "the request's script did not start within 2 minutes";

  // The client call.
  Client client = daemon_->Connect();
  auto status = client.GetStatus();
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_FALSE(status->version.empty());
  EXPECT_EQ(status->default_image, "python3.11");
  EXPECT_EQ(status->limits.max_sandboxes, 3U);
  EXPECT_EQ(status->limits.max_queue, 7U);
  EXPECT_EQ(status->limits.memory_bytes, 768ULL << 20);
  ASSERT_EQ(status->images.size(), status->pools.size());
  bool default_listed = false;
  for (std::size_t i = 0; i < status->images.size(); ++i) {
    if (status->images[i].name != "python3.11") continue;
    default_listed = true;
    EXPECT_EQ(status->pools[i].image, "python3.11");
    EXPECT_GE(status->pools[i].running, 1U);
    EXPECT_TRUE(status->pools[i].zygote == "in use" || status->pools[i].zygote == "not started")
        << status->pools[i].zygote;
  }
  EXPECT_TRUE(default_listed);
  EXPECT_GE(status->sandboxes_in_use, 1U);
  const RequestInFlight* request = FindRequest(*status, id);
  ASSERT_NE(request, nullptr) << "the running request is not listed";
  EXPECT_EQ(request->image, "python3.11");
  EXPECT_EQ(request->phase, "running");
  EXPECT_GE(request->peak_memory_bytes, 32ULL << 20);
  const std::uint64_t first_age = request->age_ms;

  // The built sandboxctl, as JSON and as text.
  const nlohmann::json json = SandboxctlJson({"status"});
  const nlohmann::json* listed = FindRequest(json, id);
  ASSERT_NE(listed, nullptr) << json.dump(2);
  EXPECT_EQ((*listed)["image"], "python3.11");
  EXPECT_EQ((*listed)["phase"], "running");
  ASSERT_TRUE((*listed)["age_ms"].is_number_unsigned()) << json.dump(2);
  EXPECT_GE((*listed)["age_ms"].get<std::uint64_t>(), first_age);  // the same request, older
  EXPECT_GT((*listed)["peak_memory_bytes"].get<std::uint64_t>(), 0U);
  EXPECT_EQ(json["limits"]["max_sandboxes"], 3);
  EXPECT_EQ(json["version"], status->version);
  // Nothing of the request but its id, image, phase, age and peak memory.
  EXPECT_EQ(listed->size(), 5U) << listed->dump();
  EXPECT_EQ(json.dump().find("sigtimedwait"), std::string::npos);

  const CtlRun text = Sandboxctl({"status", "--socket", daemon_->socket_path()});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("sandboxd " + status->version), std::string::npos) << text.out;
  const auto line_start = text.out.find(id);
  ASSERT_NE(line_start, std::string::npos) << text.out;
  const std::string line =
      text.out.substr(line_start, text.out.find('\n', line_start) - line_start);
  EXPECT_NE(line.find("python3.11"), std::string::npos) << line;
  EXPECT_NE(line.find("running"), std::string::npos) << line;
  EXPECT_NE(line.find("MiB"), std::string::npos) << line;  // its peak memory

  // Released and answered: it leaves the list.
  for (pid_t pid : ProcessesNamed(beacon)) Release(pid);
  auto outcome = running.get();
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_TRUE(outcome.result().table.view().GetBool(0, 0)) << "the script was not released";
  const bool gone = WaitUntil(
      [&] {
        auto now = client.GetStatus();
        return now.ok() && FindRequest(*now, id) == nullptr;
      },
      minutes(1), milliseconds(50));
  EXPECT_TRUE(gone) << "the answered request is still listed";
  const nlohmann::json after = SandboxctlJson({"status"});
  EXPECT_EQ(FindRequest(after, id), nullptr) << after.dump(2);
}

TEST_F(SandboxctlStatusTest, PolicyShowPrintsTheLimitsSeccompGenerationAndCalloutRules) {
  nlohmann::json json = SandboxctlJson({"policy", "show"});
  const auto& limits = json["limits"];
  EXPECT_EQ(limits["max_sandboxes"], 3);
  EXPECT_EQ(limits["max_queue"], 7);
  EXPECT_EQ(limits["warm_sandboxes"], 1);
  EXPECT_EQ(limits["memory_bytes"], 768ULL << 20);
  EXPECT_EQ(limits["timeout_ms"], 120'000);
  EXPECT_EQ(limits["cpu_percent"], 150);
  const auto& seccomp = json["seccomp"];
  EXPECT_EQ(seccomp["enabled"], true);
  EXPECT_EQ(seccomp["generation"], 1);
  EXPECT_EQ(seccomp["path"], ::sandboxd::test_paths::kSeccompPolicySource);
  EXPECT_EQ(seccomp["kernel_features"], "none");
  EXPECT_EQ(seccomp["memfd_noexec_seal"], "off");
  EXPECT_GT(seccomp["instructions"].get<unsigned>(), 0U);
  EXPECT_EQ(seccomp["program_sha256"].get<std::string>().size(), 64U);
  const auto& callout = json["callout"];
  EXPECT_EQ(callout["path"], callout_path_);
  EXPECT_EQ(callout["error"], "");
  ASSERT_EQ(callout["rules"].size(), 2U) << callout.dump(2);
  EXPECT_EQ(callout["rules"][0]["CalloutType"], "sandbox_artifacts");
  EXPECT_EQ(callout["rules"][0]["CalloutUriRegex"], "^https://artifacts\\.example\\.net/python/");
  EXPECT_EQ(callout["rules"][0]["CanCall"], true);
  EXPECT_EQ(callout["rules"][1]["CalloutUriRegex"], "\\.blob\\.core\\.windows\\.net/");
  EXPECT_EQ(callout["rules"][1]["CanCall"], false);

  const CtlRun text = Sandboxctl({"policy", "show", "--socket", daemon_->socket_path()});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  for (const char* expected : {"memory 768 MiB", "time 2 min 00 s", "cpu 150%", "(max_sandboxes)",
                               "generation 1", "kernel features: none", "BPF instructions",
                               "^https://artifacts\\.example\\.net/python/", "allow", "deny"}) {
    EXPECT_NE(text.out.find(expected), std::string::npos) << expected << " in\n" << text.out;
  }
  EXPECT_NE(text.out.find(::sandboxd::test_paths::kSeccompPolicySource), std::string::npos);

  // SIGHUP compiles the policy again: the next generation is in force.
  daemon_->Signal(SIGHUP);
  Client client = daemon_->Connect();
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto report = client.GetPolicy();
        return report.ok() && report->seccomp.generation == 2;
      },
      minutes(1), milliseconds(50)))
      << "the seccomp generation did not move to 2 after SIGHUP";

  // What the daemon holds, not what the file says: a broken edit leaves the rules in force, and
  // the report says why the edit was not taken.
  std::ofstream(callout_path_) << "[{\"CalloutType\": ";
  PolicyReport report;
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto now = client.GetPolicy();
        if (now.ok()) report = *now;
        return now.ok() && !now->callout_error.empty();
      },
      minutes(1), milliseconds(100)))
      << "the broken callout file was never reported";
  EXPECT_EQ(report.callout_rules.size(), 2U);
  EXPECT_NE(report.callout_error.find("not valid JSON"), std::string::npos) << report.callout_error;
}

TEST_F(SandboxctlStatusTest, AMalformedStatusRequestIsBadRequestAndTheDaemonServesOn) {
  UniqueFd raw = daemon_->RawConnect();
  ASSERT_TRUE(raw.valid());
  const timeval bound{60, 0};  // a daemon that never answers fails the test, not hangs it
  ASSERT_EQ(::setsockopt(raw.get(), SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound)), 0);
  FrameReader reader;
  auto ask = [&](const std::string& payload) -> proto::DaemonMessage {
    proto::DaemonMessage answer;
    EXPECT_TRUE(SendFrame(raw.get(), payload).ok());
    auto frame = reader.ReadOne(raw.get());
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    if (frame.ok()) {
      EXPECT_TRUE(answer.ParseFromString(frame->payload));
    }
    return answer;
  };

  // version 1, then field 5 (status) holding a field of wire type 7, which does not exist.
  const std::string broken("\x08\x01\x2a\x02\x0f\x00", 6);
  proto::DaemonMessage answer = ask(broken);
  ASSERT_EQ(answer.body_case(), proto::DaemonMessage::kError) << answer.DebugString();
  EXPECT_EQ(answer.error().code(), proto::BAD_REQUEST);
  EXPECT_NE(answer.error().message().find("not a valid ClientMessage"), std::string::npos)
      << answer.error().message();

  // A status request of a protocol version the daemon does not speak.
  proto::ClientMessage unversioned;
  unversioned.mutable_status();
  answer = ask(unversioned.SerializeAsString());
  ASSERT_EQ(answer.body_case(), proto::DaemonMessage::kError) << answer.DebugString();
  EXPECT_EQ(answer.error().code(), proto::BAD_REQUEST);
  EXPECT_NE(answer.error().message().find("unsupported protocol version 0"), std::string::npos)
      << answer.error().message();

  // The same connection, then a new one, are served.
  proto::ClientMessage good;
  good.set_version(proto::PROTOCOL_VERSION_1);
  good.mutable_status();
  answer = ask(good.SerializeAsString());
  ASSERT_EQ(answer.body_case(), proto::DaemonMessage::kStatus) << answer.DebugString();
  EXPECT_EQ(answer.status().default_image(), "python3.11");
  Client client = daemon_->Connect();
  auto status = client.GetStatus();
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  Request plain;
  plain.output_schema = "typeof(x:long)";
  plain.script = "result = pd.DataFrame({'x': [1]})\n";
  auto served = client.Execute(plain);
  EXPECT_TRUE(served.ok()) << served.error().ToString();
  EXPECT_TRUE(daemon_->alive());
}

}  // namespace
}  // namespace sandboxd::testing
