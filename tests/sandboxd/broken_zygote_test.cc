// Issue 23 item 1: an image whose zygote cannot start must not stop the node. The image here is
// the default one with the library the zygote's extension links (libprotobuf-lite.so.32)
// whited out in an overlay; the runner itself does not need it. More requests than slots go to
// it, then requests of the default image: each is answered, within its deadline, with its
// result (the broken image's sandboxes start without the zygote), and the daemon warns once,
// naming the cause.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {
namespace fs = std::filesystem;

constexpr std::uint64_t kDeadlineMs = 90'000;
constexpr const char* kBrokenImage = "python3.11-nozygote";

Request Small(const std::string& image, std::int64_t value) {
  Request request;
  request.image = image;
  request.timeout_ms = kDeadlineMs;
  request.output_schema = "typeof(x:long)";
  request.script = "result = pd.DataFrame({'x': [" + std::to_string(value) + "]})\n";
  return request;
}

// An images folder with the default image (a link) and copies of it, as overlays, that tests
// change. The test runs in a mount namespace of its own, which its daemon inherits: the overlays
// end with them, whatever way the test ends.
class BrokenZygoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DefaultImageBuilt()) GTEST_SKIP() << "image python3.11 is not built in " << ImagesDir();
    ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << std::strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
        << std::strerror(errno);
    char tmpl[] = "/tmp/sandboxd-broken-zygote-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // A sandbox launched without a zygote mounts its image as its slot's root uid, which must be
    // able to reach it.
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    fs::create_directories(dir_ / "images");
    fs::create_directory_symlink(fs::path(ImagesDir()) / "python3.11", dir_ / "images/python3.11");
    ::setenv("SANDBOXD_TEST_IMAGES_DIR", (dir_ / "images").c_str(), 1);
  }
  void TearDown() override {
    if (dir_.empty()) return;
    for (const auto& rootfs : overlays_) ::umount2(rootfs.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A copy of the default image named `name`, writable through the returned rootfs path.
  fs::path AddOverlayImage(const std::string& name) {
    const fs::path real = fs::path(ImagesDir()) / "python3.11";
    const fs::path image = dir_ / "images" / name;
    fs::create_directories(image / "rootfs");
    fs::create_directories(dir_ / (name + ".upper"));
    fs::create_directories(dir_ / (name + ".work"));
    for (const char* file : {"manifest", "manifest.sha256", "packages.lock"})
      fs::copy_file(real / file, image / file);
    const std::string options = "lowerdir=" + (real / "rootfs").string() +
                                ",upperdir=" + (dir_ / (name + ".upper")).string() +
                                ",workdir=" + (dir_ / (name + ".work")).string();
    EXPECT_EQ(::mount("overlay", (image / "rootfs").c_str(), "overlay", 0, options.c_str()), 0)
        << std::strerror(errno);
    overlays_.push_back(image / "rootfs");
    return image / "rootfs";
  }
  fs::path dir_;
  std::vector<fs::path> overlays_;
};

TEST_F(BrokenZygoteTest, MoreRequestsThanSlotsForItThenTheDefaultImageAreAllAnswered) {
  const fs::path rootfs = AddOverlayImage(kBrokenImage);
  unsigned removed = 0;
  for (const auto& entry : fs::directory_iterator(rootfs / "usr/lib/x86_64-linux-gnu")) {
    if (entry.path().filename().string().starts_with("libprotobuf-lite.so.32")) {
      fs::remove(entry.path());
      ++removed;
    }
  }
  ASSERT_GT(removed, 0U) << "the default image has no libprotobuf-lite.so.32 to take away";
  DaemonOptions options;
  options.extra_args = {"--max-sandboxes", "4", "--max-queue", "4", "--warm-sandboxes", "0"};
  options.log_path = (dir_ / "daemon.log").string();
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);

  // max_sandboxes + 1 for the broken image, then two of the default image, each on its own
  // connection. A client waits for its answer as long as the request's deadline and a margin: a
  // request held past its deadline fails as UNAVAILABLE.
  struct Sent {
    std::string image;
    std::int64_t value;
    std::optional<ExecuteOutcome> outcome;
  };
  std::vector<Sent> sent;
  for (std::int64_t i = 0; i < 5; ++i) sent.push_back({kBrokenImage, i, {}});
  for (std::int64_t i = 5; i < 7; ++i) sent.push_back({"", i, {}});
  std::vector<std::thread> clients;
  for (auto& one : sent) {
    clients.emplace_back([&daemon, &one] {
      Client client = daemon->Connect(std::chrono::milliseconds(kDeadlineMs + 10'000));
      one.outcome = client.Execute(Small(one.image, one.value));
    });
    // The broken image's requests first, as the issue sent them.
    if (one.value == 4) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& client : clients) client.join();

  for (const auto& one : sent) {
    SCOPED_TRACE("request " + std::to_string(one.value) + " for image '" + one.image + "'");
    ASSERT_TRUE(one.outcome.has_value());
    ASSERT_TRUE(one.outcome->ok()) << one.outcome->error().ToString();
    const Table& table = one.outcome->result().table;
    ASSERT_EQ(table.row_count(), 1U);
    EXPECT_EQ(table.view().GetLong(0, 0), one.value);
  }
  EXPECT_TRUE(daemon->alive());
  daemon.reset();  // its log is whole once it is gone

  std::ifstream in(dir_ / "daemon.log");
  std::string line;
  unsigned warnings = 0;
  while (std::getline(in, line)) {
    if (line.find("its zygote cannot start") == std::string::npos) continue;
    ++warnings;
    EXPECT_NE(line.find(kBrokenImage), std::string::npos) << line;
    EXPECT_NE(line.find("libprotobuf-lite.so.32"), std::string::npos) << line;
  }
  EXPECT_EQ(warnings, 1U) << "one warning per backoff period, naming the cause";
}

// Issue 24, launches overlap: an image whose zygote takes long to start (here its interpreter
// waits, in sitecustomize, for a gate the test opens) delays only its own requests. The default
// image's requests, sent while it starts, are launched and answered first; then the gate opens
// and the slow image's request is answered too.
TEST_F(BrokenZygoteTest, AZygoteThatIsSlowToStartDelaysOnlyItsOwnImage) {
  constexpr const char* kSlowImage = "python3.11-slowzygote";
  const fs::path rootfs = AddOverlayImage(kSlowImage);
  const fs::path site = rootfs / "etc/python3.11/sitecustomize.py";
  fs::remove(site);
  {
    // Only the zygote waits (sys.argv names zygote.py); a sandbox started without one does not.
    std::ofstream out(site);
    out << "import os, sys, time\n"
           "if any(a.endswith('zygote.py') for a in sys.argv):\n"
           "    while not os.path.exists('/etc/gate-open'):\n"
           "        time.sleep(0.05)\n";
  }
  DaemonOptions options;
  options.extra_args = {"--max-sandboxes", "4", "--warm-sandboxes", "0"};
  options.log_path = (dir_ / "daemon.log").string();
  options.log_level = "debug";
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);

  const auto open_gate = [&] { std::ofstream gate(rootfs / "etc/gate-open"); };
  std::optional<ExecuteOutcome> slow;
  std::atomic<bool> slow_answered{false};
  std::thread slow_client([&] {
    Client client = daemon->Connect(std::chrono::milliseconds(kDeadlineMs + 10'000));
    slow = client.Execute(Small(kSlowImage, 1));
    slow_answered = true;
  });
  // Whatever way the test ends, the slow request is let through and its client joined.
  struct Finally {
    std::function<void()> run;
    ~Finally() { run(); }
  } let_through{[&] {
    open_gate();
    if (slow_client.joinable()) slow_client.join();
  }};
  // Its launch is under way once the daemon has logged it (debug lines are on in tests).
  ASSERT_TRUE(
      WaitUntil([&] { return CountInFile(options.log_path, "from its image's zygote") >= 1; },
                std::chrono::seconds(60)));
  for (std::int64_t i = 2; i < 5; ++i) {
    Client client = daemon->Connect(std::chrono::milliseconds(kDeadlineMs + 10'000));
    auto outcome = client.Execute(Small("", i));
    ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
    EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), i);
    EXPECT_FALSE(slow_answered) << "the slow image's request was answered before its zygote was";
  }
  { std::ofstream gate(rootfs / "etc/gate-open"); }
  slow_client.join();
  ASSERT_TRUE(slow.has_value());
  ASSERT_TRUE(slow->ok()) << slow->error().ToString();
  EXPECT_EQ(slow->result().table.view().GetLong(0, 0), 1);
  EXPECT_TRUE(daemon->alive());
}

// Issue 11: a sandbox started without a zygote mounts the project's extension folder at
// /sandbox/lib (images built by build-image have the mount point; here an overlay adds it), so
// its runner converts text cells in C as a zygote's child does.
TEST_F(BrokenZygoteTest, ALaunchedSandboxConvertsTextCellsWithTheRunnersCLoops) {
  constexpr const char* kImage = "python3.11-withlib";
  const fs::path rootfs = AddOverlayImage(kImage);
  fs::create_directories(rootfs / "sandbox/lib");
  // The build's extension folder may lie below a private folder (a fresh clone in mktemp -d),
  // out of the reach of a launched sandbox's root: a searchable copy of it.
  const fs::path lib = dir_ / "lib";
  fs::create_directories(lib);
  fs::path built = fs::path(test_paths::kBinaryDir) / "zygote";
  // The sanitizer tree has no extension folder of its own: it uses the normal tree's
  // (scripts/sanitize.sh).
  if (!fs::exists(built)) built = fs::path(test_paths::kSourceDir) / "build/zygote";
  for (const auto& entry : fs::directory_iterator(built))
    fs::copy_file(entry.path(), lib / entry.path().filename());
  DaemonOptions options;
  options.config_json = R"({"zygote_module_dir": ")" + lib.string() + R"("})";
  options.extra_args = {"--warm-sandboxes", "0", "--no-zygotes"};
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);
  Client client = daemon->Connect();
  Request request = Small(kImage, 0);
  request.output_schema = "typeof(native:bool, lib:string)";
  request.script =
      "import os\n"
      "import sandboxd_runtime.frames as frames\n"
      "result = pd.DataFrame({'native': [frames._columns is not None],\n"
      "                       'lib': [' '.join(sorted(os.listdir('/sandbox/lib')))]})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_TRUE(outcome.result().table.view().GetBool(0, 0))
      << "/sandbox/lib holds: " << outcome.result().table.view().GetText(1, 0);
}

}  // namespace
}  // namespace sandboxd::testing
