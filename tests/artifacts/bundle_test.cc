// The bundle checks (SECURITY_PROBES.md group H), wheel tags, the callout policy and URL
// redaction, without a daemon or a network. Bundles come from make_bundles.py.
#include "bundle.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "callout_policy.h"
#include "fetch.h"
#include "sandboxd/unique_fd.h"
#include "test_paths.h"
#include "unpack_client.h"
#include "url.h"
#include "wheel.h"

namespace sandboxd {
namespace {
namespace fs = std::filesystem;

class BundleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/sandboxd-bundles-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    const std::string command =
        std::string("/usr/bin/python3 ") + ::sandboxd::test_paths::kMakeBundles + " " + dir_;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void SetUp() override {
    // Extraction goes three levels below a private root, so an entry that climbs out with `..`
    // still lands inside the root, where the test can see it.
    char tmpl[] = "/tmp/sandboxd-out-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    out_ = root_ + "/a/b/c";
    fs::create_directories(out_);
    limits_.max_entries = 2000;
    limits_.max_unpacked_bytes = 4 << 20;
    limits_.max_entry_bytes = 8 << 20;
    limits_.max_ratio = 100;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  StatusOr<BundleManifest> Extract(const std::string& name) {
    UniqueFd archive(::open((dir_ + "/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(archive.valid()) << name;
    UniqueFd out(::open(out_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return ExtractBundle(archive.get(), name, out.get(), limits_, WheelTarget{});
  }
  void ExpectRefused(const std::string& name, const std::string& words) {
    auto result = Extract(name);
    ASSERT_FALSE(result.ok()) << name << " was accepted";
    EXPECT_EQ(result.status().code(), ErrorCode::kArtifactFailed) << name;
    EXPECT_NE(result.status().message().find(words), std::string::npos)
        << name << ": " << result.status().message();
    std::cout << "  " << name << " -> " << result.status().message() << "\n";
    // Nothing escaped the output folder.
    for (const auto& entry : fs::recursive_directory_iterator(root_)) {
      const std::string path = entry.path().string();
      const bool on_the_way = path == root_ + "/a" || path == root_ + "/a/b";
      EXPECT_TRUE(on_the_way || path.starts_with(out_)) << name << " wrote " << path;
    }
    EXPECT_FALSE(fs::exists("/etc/x")) << name;
  }

  static std::string dir_;
  std::string root_;
  std::string out_;
  BundleLimits limits_;
};
std::string BundleTest::dir_;

TEST_F(BundleTest, FlatZipOfWheelsInstallsThePackage) {
  auto m = Extract("faker_wheels.zip");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->kind, "wheels");
  ASSERT_EQ(m->wheels.size(), 1U);
  EXPECT_EQ(m->wheels[0], "faker-0.1-py3-none-any.whl");
  EXPECT_TRUE(fs::is_regular_file(out_ + "/faker/__init__.py"));
  EXPECT_TRUE(fs::is_regular_file(out_ + "/faker-0.1.dist-info/WHEEL"));
  EXPECT_EQ(fs::status(out_ + "/faker/__init__.py").permissions() & fs::perms::all,
            fs::perms(0644));
}

TEST_F(BundleTest, BareWheelAndCompiledExtensionWheel) {
  auto bare = Extract("faker-0.1-py3-none-any.whl");
  ASSERT_TRUE(bare.ok()) << bare.status().message();
  EXPECT_EQ(bare->kind, "wheels");
  if (!fs::exists(dir_ + "/cext_wheels.zip")) GTEST_SKIP() << "no python3.11 headers";
  fs::remove_all(out_ + "/faker");
  fs::remove_all(out_ + "/faker-0.1.dist-info");
  auto cext = Extract("cext_wheels.zip");
  ASSERT_TRUE(cext.ok()) << cext.status().message();
  EXPECT_TRUE(fs::is_regular_file(out_ + "/fastsum.cpython-311-x86_64-linux-gnu.so"));
}

TEST_F(BundleTest, PackageFolderAndModelZipsAreUnpackedAsTheyAre) {
  auto pkg = Extract("pkgfolder.zip");
  ASSERT_TRUE(pkg.ok()) << pkg.status().message();
  EXPECT_EQ(pkg->kind, "files");
  EXPECT_TRUE(fs::is_regular_file(out_ + "/mypkg/util/__init__.py"));
  auto model = Extract("model.zip");
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ(model->files, 2U);
  EXPECT_TRUE(fs::is_regular_file(out_ + "/model/weights.txt"));
}

TEST_F(BundleTest, WheelsForAnotherPlatformOrPythonAreRefusedByName) {
  ExpectRefused("win_wheels.zip",
                "wheel 'faker-0.1-cp311-cp311-win_amd64.whl': cannot run in this image: it is "
                "built for Windows (win_amd64)");
  ExpectRefused("py36_wheels.zip", "built for CPython 3.6");
  ExpectRefused("mac_wheels.zip", "built for macOS");
  ExpectRefused("newglibc_wheels.zip", "needs glibc 2.99");
}

TEST_F(BundleTest, H1ZipSlip) {
  ExpectRefused("h1_dotdot.zip", "(zip-slip)");
  ExpectRefused("h1_inner_dotdot.zip", "(zip-slip)");
  ExpectRefused("h1_backslash.zip", "backslash");
  ExpectRefused("h1_absolute.zip", "absolute");
  ExpectRefused("h1_drive.zip", "drive letter");
}

TEST_F(BundleTest, H2Links) {
  ExpectRefused("h2_symlink_then_write.zip", "is a symbolic link");
  ExpectRefused("h2_symlink.zip", "is a symbolic link");
}

TEST_F(BundleTest, H2NoWriteThroughALinkPlantedBeforehand) {
  // Even if a link were there (a compromised extractor's leftovers), files are not written
  // through it: folders are opened O_NOFOLLOW.
  fs::create_directory_symlink("/tmp", out_ + "/mypkg");
  ExpectRefused("pkgfolder.zip", "links are not followed");
}

TEST_F(BundleTest, H3Bombs) {
  ExpectRefused("h3_ratio.zip", "zip bomb: ratio");
  ExpectRefused("h3_total.zip", "zip bomb: total size");
  ExpectRefused("h3_count.zip", "zip bomb: entry count");
  // Counted from the end-of-central-directory record (classic and zip64) before libzip parses.
  ExpectRefused("h3_declared_count.zip", "declares 60000 entries, more than 2000");
  ExpectRefused("h3_zip64_count.zip", "declares 70000 entries, more than 2000");
  ExpectRefused("h3_declared.zip", "zip bomb: entry size");
  ExpectRefused("h3_lying_sizes.zip", "");
  ExpectRefused("h3_overlap.zip", "");
}

TEST_F(BundleTest, H4Names) {
  ExpectRefused("h4_duplicate.zip", "duplicate");
  ExpectRefused("h4_case_twins.zip", "case twins");
  ExpectRefused("h4_control.zip", "control character");
  ExpectRefused("h4_slash_only.zip", "");
  ExpectRefused("h4_long.zip", "longer than 1024 bytes");
  ExpectRefused("h4_deep.zip", "nested deeper than 32");
  ExpectRefused("h4_unicode.zip", "non-ASCII");
}

TEST_F(BundleTest, H5TypesAndModes) {
  ExpectRefused("h5_fifo.zip", "is a FIFO");
  ExpectRefused("h5_device.zip", "is a character device");
  auto modes = Extract("h5_modes.zip");
  ASSERT_TRUE(modes.ok()) << modes.status().message();
  EXPECT_EQ(fs::status(out_ + "/suid").permissions() & fs::perms::mask, fs::perms(0755));
  EXPECT_EQ(fs::status(out_ + "/world").permissions() & fs::perms::mask, fs::perms(0644));
  EXPECT_EQ(fs::status(out_ + "/sticky").permissions() & fs::perms::mask, fs::perms(0755));
}

TEST_F(BundleTest, TheHelperDropsPrivilegesAndRefusesRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop privileges";
  ArtifactsConfig config;
  config.bundle = limits_;
  const std::string helper = ::sandboxd::test_paths::kUnpackHelper;
  auto ok = RunUnpackHelper(helper, config, dir_ + "/faker_wheels.zip", "faker.zip", WheelTarget{},
                            out_ + "/tree");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  struct stat st {};
  ASSERT_EQ(::stat((out_ + "/tree/faker/__init__.py").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0U);  // adopted by root after the unprivileged helper wrote it
  auto refused = RunUnpackHelper(helper, config, dir_ + "/h1_dotdot.zip", "evil.zip", WheelTarget{},
                                 out_ + "/tree2");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kArtifactFailed);
  EXPECT_NE(refused.status().message().find("artifact 'evil.zip' was refused: entry '../../x'"),
            std::string::npos)
      << refused.status().message();
  config.unpack_uid = 0;
  auto as_root = RunUnpackHelper(helper, config, dir_ + "/faker_wheels.zip", "faker.zip",
                                 WheelTarget{}, out_ + "/tree3");
  EXPECT_FALSE(as_root.ok());
}

// A helper that was taken over and leaves a process behind (outside its process group) holding
// a descriptor into its tree: what it writes later never reaches the tree requests get, since
// the daemon copies the helper's files into fresh inodes (issue 10).
TEST_F(BundleTest, AResidentWriterLeftByTheHelperNeverReachesTheTree) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the daemon's side takes over the tree)";
  const std::string fifo = root_ + "/go";
  const std::string started = root_ + "/started";
  const std::string done = root_ + "/written";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // The writer leaves the helper's process group (setsid) and says so before the helper exits,
  // then waits for the test's word on the FIFO.
  const std::string helper = root_ + "/fake-helper.sh";
  std::ofstream(helper) << "#!/bin/sh\n"
                           "echo good > /proc/self/fd/3/file.txt\n"
                           "exec 5>>/proc/self/fd/3/file.txt\n"
                           "setsid sh -c 'echo > "
                        << started << "; read x < " << fifo << "; echo EVIL >&5; echo yes > "
                        << done
                        << "' </dev/null >/dev/null 2>&1 &\n"
                           "while [ ! -e "
                        << started
                        << " ]; do sleep 0.01; done\n"
                           "printf '{\"ok\": true, \"manifest\": {\"kind\": \"files\", "
                           "\"wheels\": [], \"files\": 1, \"bytes\": 5}}'\n";
  ::chmod(helper.c_str(), 0755);
  ArtifactsConfig config;
  config.bundle = limits_;
  config.unpack_uid = 65534;
  config.unpack_gid = 65534;
  auto made = RunUnpackHelper(helper, config, dir_ + "/faker_wheels.zip", "model.zip",
                              WheelTarget{}, out_ + "/tree");
  ASSERT_TRUE(made.ok()) << made.status().message();
  // Now the resident writer writes, and says so (bounded: a writer that is gone fails the test).
  int go = -1;
  for (int i = 0; i < 1200 && go < 0; ++i) {
    go = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (go < 0) ::usleep(50'000);
  }
  ASSERT_GE(go, 0) << "the resident writer is not waiting";
  ASSERT_EQ(::write(go, "go\n", 3), 3);
  ::close(go);
  for (int i = 0; i < 1200 && !fs::exists(done); ++i) ::usleep(50'000);
  ASSERT_TRUE(fs::exists(done)) << "the resident writer never wrote";
  std::ifstream in(out_ + "/tree/file.txt");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "good\n");
  struct stat st {};
  ASSERT_EQ(::stat((out_ + "/tree/file.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0U);
  EXPECT_EQ(st.st_mode & 07777, 0644U);
  EXPECT_FALSE(fs::exists(out_ + "/tree.helper"));  // the helper's own folder is gone
}

// The helper under its confinement (namespaces, no capabilities, Landlock, seccomp) decides
// every seed bundle as ExtractBundle does in this process, and writes the same tree.
TEST_F(BundleTest, TheConfinedHelperDecidesEverySeedBundleAsInProcess) {
  ArtifactsConfig config;
  config.bundle = limits_;
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".zip") && !name.ends_with(".whl")) continue;
    SCOPED_TRACE(name);
    fs::remove_all(out_);
    fs::create_directories(out_);
    auto in_process = Extract(name);
    const std::string archive = (fs::path(dir_) / name).string();
    const std::string tree = (fs::path(root_) / ("helped-" + name)).string();
    auto helped = RunUnpackHelper(::sandboxd::test_paths::kUnpackHelper, config, archive, name,
                                  WheelTarget{}, tree);
    ASSERT_EQ(helped.ok(), in_process.ok())
        << (helped.ok() ? in_process.status().message() : helped.status().message());
    if (in_process.ok()) {
      EXPECT_EQ(helped->ToJson(), in_process->ToJson());
      EXPECT_EQ(helped->files, in_process->files);
    } else {
      EXPECT_EQ(helped.status().code(), ErrorCode::kArtifactFailed);
      EXPECT_NE(helped.status().message().find(in_process.status().message()), std::string::npos)
          << helped.status().message() << " vs " << in_process.status().message();
    }
    ++compared;
  }
  EXPECT_GE(compared, 30);
}

// Runs the helper's test-only --self-check mode (the same confinement, then probes instead of
// unpacking) and returns its report and wait status.
struct SelfCheck {
  nlohmann::json report;
  int status = 0;
};

SelfCheck RunSelfCheck(const std::string& archive, const std::string& out_dir,
                       const std::string& mode) {
  int reply[2];
  EXPECT_EQ(::pipe2(reply, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open(archive.c_str(), O_RDONLY);
    const int out = ::open(out_dir.c_str(), O_RDONLY | O_DIRECTORY);
    const int null = ::open("/dev/null", O_WRONLY);
    if (in < 0 || out < 0 || null < 0 || ::dup2(in, 0) < 0 || ::dup2(reply[1], 1) < 0 ||
        ::dup2(null, 2) < 0 || ::dup2(out, 3) < 0)
      ::_exit(120);
    ::execl(::sandboxd::test_paths::kUnpackHelper, "sandboxd-unpack", "--uid", "65534", "--gid",
            "65534", "--self-check", mode.c_str(), "--timeout-s", "60", nullptr);
    ::_exit(121);
  }
  ::close(reply[1]);
  std::string text;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(reply[0], buffer, sizeof(buffer))) > 0) text.append(buffer, n);
  ::close(reply[0]);
  SelfCheck result;
  EXPECT_EQ(::waitpid(pid, &result.status, 0), pid);
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  EXPECT_TRUE(doc.is_object() && doc.value("ok", false) && doc.contains("self_check")) << text;
  if (doc.is_object() && doc.contains("self_check")) result.report = doc["self_check"];
  std::cout << "  self-check (" << mode << "): " << text;
  return result;
}

class ConfinedHelperTest : public BundleTest {
 protected:
  void SetUp() override {
    BundleTest::SetUp();
    if (::geteuid() == 0) {
      ASSERT_EQ(::chown(out_.c_str(), 65534, 65534), 0);
    }
    check_ = RunSelfCheck(dir_ + "/model.zip", out_, "1");
    ASSERT_TRUE(WIFEXITED(check_.status) && WEXITSTATUS(check_.status) == 0) << check_.status;
  }
  int Probe(const char* name) { return check_.report.value(name, -1); }
  SelfCheck check_;
};

TEST_F(ConfinedHelperTest, ItStillWritesBeneathItsOutputFolderAndIsInitOfItsOwnPidNamespace) {
  EXPECT_EQ(Probe("create_in_output"), 0);
  EXPECT_TRUE(fs::exists(out_ + "/probe.txt"));
  EXPECT_EQ(Probe("pid"), 1);
  EXPECT_EQ(check_.report.value("rlimit_as", 0ULL), 1ULL << 30);
}

TEST_F(ConfinedHelperTest, ItCannotOpenTheHostsFiles) {
  EXPECT_EQ(Probe("open_etc_passwd"), EACCES);  // seccomp: no path from the root or the cwd
  EXPECT_EQ(Probe("openat_absolute"), ENOENT);  // its root is an empty tmpfs
  EXPECT_EQ(Probe("openat_dotdot"), EACCES);    // Landlock: nothing above the output folder
  // Controls: here, both paths reach the file.
  UniqueFd direct(::open("/etc/passwd", O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(direct.valid());
  UniqueFd out(::open(out_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd climbed(
      ::openat(out.get(), "../../../../../../../../../../etc/passwd", O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(climbed.valid());
}

TEST_F(ConfinedHelperTest, ItCannotOpenASocket) {
  EXPECT_EQ(Probe("socket"), EACCES);
  EXPECT_EQ(Probe("socket_unix"), EACCES);
  UniqueFd inet(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  UniqueFd unix_socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(inet.valid() && unix_socket.valid());
}

TEST_F(ConfinedHelperTest, ItCannotFork) {
  EXPECT_EQ(Probe("fork"), EPERM);
  EXPECT_EQ(Probe("rlimit_nproc"), 1);
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
}

TEST_F(ConfinedHelperTest, ItHasNoCapabilities) {
  EXPECT_EQ(Probe("capabilities"), 0);
  if (::geteuid() != 0) return;  // the control needs root
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  ASSERT_EQ(::syscall(SYS_capget, &header, data), 0);
  EXPECT_NE(data[0].effective, 0U);
}

TEST_F(ConfinedHelperTest, ASyscallOutsideTheAllowListKillsItWithSigsys) {
  auto killed = RunSelfCheck(dir_ + "/model.zip", out_, "ptrace");
  ASSERT_TRUE(WIFSIGNALED(killed.status)) << killed.status;
  EXPECT_EQ(WTERMSIG(killed.status), SIGSYS);
  // Control: the same call outside the helper works.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0 ? 0 : 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// A helper that hangs (the test-only --test-hang mode, after the same confinement) is ended at
// the timeout, and nothing of it is left: its keeper and its worker are both gone when
// RunUnpackHelper returns.
TEST_F(BundleTest, AHangingHelperIsEndedAtItsTimeoutAndLeavesNoProcess) {
  const std::string marker = "hang-" + std::to_string(::getpid()) + ".zip";
  const std::string helper = root_ + "/hanging-helper.sh";
  std::ofstream(helper) << "#!/bin/sh\nexec " << ::sandboxd::test_paths::kUnpackHelper
                        << " \"$@\" --test-hang 1\n";
  ::chmod(helper.c_str(), 0755);
  ArtifactsConfig config;
  config.bundle = limits_;
  config.unpack_timeout_s = 1;
  auto made =
      RunUnpackHelper(helper, config, dir_ + "/model.zip", marker, WheelTarget{}, out_ + "/tree");
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), ErrorCode::kArtifactFailed);
  EXPECT_NE(made.status().message().find("unpacking took longer than 1 s"), std::string::npos)
      << made.status().message();
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream cmdline(entry.path() / "cmdline");
    std::stringstream text;
    text << cmdline.rdbuf();
    EXPECT_EQ(text.str().find(marker), std::string::npos)
        << "left behind: pid " << entry.path().filename();
  }
}

TEST(WheelTags, Compatibility) {
  const WheelTarget t;
  WheelName w;
  ASSERT_TRUE(ParseWheelFilename(
      "numpy-1.26.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", w));
  EXPECT_EQ(WheelIncompatibility(w.tags, t), "");
  ASSERT_TRUE(ParseWheelFilename("six-1.16.0-py2.py3-none-any.whl", w));
  EXPECT_EQ(WheelIncompatibility(w.tags, t), "");
  ASSERT_TRUE(ParseWheelFilename("cryptography-41.0.0-cp37-abi3-manylinux_2_28_x86_64.whl", w));
  EXPECT_EQ(WheelIncompatibility(w.tags, t), "");
  ASSERT_TRUE(ParseWheelFilename("x-1-cp312-cp312-manylinux_2_17_x86_64.whl", w));
  EXPECT_NE(WheelIncompatibility(w.tags, t).find("3.12"), std::string::npos);
  ASSERT_TRUE(ParseWheelFilename("x-1-cp311-cp311-manylinux_2_17_aarch64.whl", w));
  EXPECT_NE(WheelIncompatibility(w.tags, t).find("another machine"), std::string::npos);
  ASSERT_TRUE(ParseWheelFilename("x-1-py3-none-musllinux_1_1_x86_64.whl", w));
  EXPECT_NE(WheelIncompatibility(w.tags, t).find("musl"), std::string::npos);
  EXPECT_FALSE(ParseWheelFilename("faker.zip", w));
}

TEST(CalloutPolicy, FirstMatchDecidesAndTheDefaultDenies) {
  auto rules = CalloutRules::Parse(R"([
    {"CalloutType": "sandbox_artifacts", "CalloutUriRegex": "^https://store\\.example\\.net/python/private/", "CanCall": false},
    {"CalloutType": "sandbox_artifacts", "CalloutUriRegex": "^https://store\\.example\\.net/python/", "CanCall": true},
    {"CalloutType": "sql", "CalloutUriRegex": ".*", "CanCall": true}])",
                                   "test.json");
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  EXPECT_TRUE(rules->Check("https://store.example.net/python/a.zip", "sandbox_artifacts").allowed);
  EXPECT_FALSE(
      rules->Check("https://store.example.net/python/private/a.zip", "sandbox_artifacts").allowed);
  EXPECT_EQ(rules->Check("https://store.example.net/python/private/a.zip", "sandbox_artifacts")
                .rule_index,
            1);
  EXPECT_FALSE(rules->Check("https://evil.example.com/python/a.zip", "sandbox_artifacts").allowed);
  EXPECT_EQ(rules->Check("https://evil.example.com/", "sandbox_artifacts").rule_index, -1);
  EXPECT_FALSE(
      CalloutRules::Parse(R"([{"CalloutType": "x", "CalloutUriRegex": "(", "CanCall": true}])", "t")
          .ok());
  EXPECT_FALSE(
      CalloutRules::Parse(R"([{"CalloutType": "x", "CalloutUriRegex": "a", "CanCal": true}])", "t")
          .ok());
}

// Found by tests/fuzz/callout_policy_fuzz: std::regex overflowed a signed long reading a huge
// repetition count (UBSan). Counts above 1000 are refused before compiling; escaped braces and
// braces in a class are literals.
TEST(CalloutPolicy, HugeRepetitionCountsAreRefusedBeforeCompiling) {
  const auto parse = [](const std::string& regex) {
    return CalloutRules::Parse(R"([{"CalloutType": "sandbox_artifacts", "CalloutUriRegex": ")" +
                                   regex + R"(", "CanCall": true}])",
                               "t.json");
  };
  for (const char* huge : {"^https://a{1111111111111111111111}", "x{2,11111111111111111111}",
                           "(ab){1001}", "c{0,1001}", "(a)\\\\1111111111111111111111111",
                           // unclosed: std::regex reads the number before it knows
                           "\\\\z{111111111111111111111101,222211s", "a{99999999999999999999"}) {
    auto rules = parse(huge);
    ASSERT_FALSE(rules.ok()) << huge;
    EXPECT_NE(rules.status().message().find("more than 1000 times"), std::string::npos)
        << rules.status().message();
  }
  // Quantified quantifiers made std::regex backtrack for ever (a fuzzer timeout).
  for (const char* stacked : {"^https://a++", ".++++++++;+++", "x*{9}", "b?+", "c???", "d+??"})
    EXPECT_FALSE(parse(stacked).ok()) << stacked;
  for (const char* fine :
       {"^https://a{3}\\\\.net/", "x{2,1000}", "\\\\{99999\\\\}", "[{]99999", "a+?b*?", "[+*]+"}) {
    EXPECT_TRUE(parse(fine).ok()) << fine << ": " << parse(fine).status().message();
  }
}

TEST(CalloutPolicy, ReloadsWhenTheFileChanges) {
  char tmpl[] = "/tmp/sandboxd-policy-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string path = dir + "/callout.json";
  std::ofstream(path) << "[]";
  CalloutPolicy policy(path);
  EXPECT_FALSE(policy.Check("https://a.example/x").allowed);
  std::ofstream(path)
      << R"([{"CalloutType": "sandbox_artifacts", "CalloutUriRegex": "^https://a\\.example/", "CanCall": true}])";
  EXPECT_TRUE(policy.Reload().ok());
  EXPECT_TRUE(policy.Check("https://a.example/x").allowed);
  std::ofstream(path) << "not json";
  EXPECT_FALSE(policy.Reload().ok());
  EXPECT_TRUE(policy.Check("https://a.example/x").allowed);  // the rules in force stay
  fs::remove_all(dir);
}

TEST(ArtifactUrl, TheQueryIsASecret) {
  auto url = ParseArtifactUrl(
      "https://Store.example.net/c/b.zip?sv=2021-08-06&sig=SECRETSIGNATURE%2Bxyz&se=2099", "a");
  ASSERT_TRUE(url.ok()) << url.status().message();
  EXPECT_EQ(url->base, "https://store.example.net/c/b.zip");
  EXPECT_EQ(url->redacted, "https://store.example.net/c/b.zip?<redacted>");
  const std::string message =
      RedactSecrets("failed: SECRETSIGNATURE+xyz and SECRETSIGNATURE%2Bxyz", url->secrets);
  EXPECT_EQ(message.find("SECRETSIGNATURE"), std::string::npos) << message;
  EXPECT_FALSE(ParseArtifactUrl("ftp://x/y", "a").ok());
  EXPECT_FALSE(ParseArtifactUrl("https://user:pw@x/y", "a").ok());
  EXPECT_FALSE(ParseArtifactUrl("not a url", "a").ok());
  auto loop = ParseArtifactUrl("http://127.0.0.1:8080/x", "a");
  ASSERT_TRUE(loop.ok());
  EXPECT_TRUE(loop->loopback);
}

// Redirects: followed by hand, each target checked against the policy, tokens of every hop
// redacted. A plain-HTTP loopback server (allowed only because the options say so).
TEST(Fetch, RedirectsAreRecheckedAgainstThePolicy) {
  char tmpl[] = "/tmp/sandboxd-redirect-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string script = dir + "/server.py";
  std::ofstream(script) << R"(import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith('/allowed/start'):
            self.send_response(302); self.send_header('Location', '/allowed/final?sig=HOPSECRETTOKEN2'); self.end_headers()
        elif self.path.startswith('/allowed/away'):
            self.send_response(302); self.send_header('Location', '/denied/x?sig=HOPSECRETTOKEN3'); self.end_headers()
        elif self.path.startswith('/allowed/loop'):
            self.send_response(302); self.send_header('Location', '/allowed/loop'); self.end_headers()
        elif self.path.startswith('/allowed/final'):
            body = b'final body'
            self.send_response(200); self.send_header('ETag', '"e1"'); self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
        else:
            self.send_response(404); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
)";
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::execl("/usr/bin/python3", "python3", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  FILE* pipe = ::fdopen(fds[0], "r");
  int port = 0;
  ASSERT_EQ(std::fscanf(pipe, "%d", &port), 1);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  std::ofstream(dir + "/callout.json")
      << R"([{"CalloutType": "sandbox_artifacts", "CalloutUriRegex": "^http://127\\.0\\.0\\.1:[0-9]+/allowed/", "CanCall": true}])";
  CalloutPolicy policy(dir + "/callout.json");
  FetchOptions options;
  options.allow_http_loopback = true;
  options.max_bytes = 1 << 20;
  options.max_bytes_what = "1 MiB";
  options.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  options.policy = &policy;
  auto fetch = [&](const std::string& path, std::string& message) {
    auto url = ParseArtifactUrl(base + path, "a");
    EXPECT_TRUE(url.ok());
    UniqueFd out(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    std::vector<std::string> secrets = url->secrets;
    auto result = FetchArtifact(*url, "a.bin", "", out.get(), options, secrets);
    message = result.ok() ? "" : result.status().message();
    EXPECT_EQ(message.find("HOPSECRETTOKEN"), std::string::npos) << message;
    return result;
  };
  std::string message;
  auto ok = fetch("/allowed/start?sig=HOPSECRETTOKEN1", message);
  ASSERT_TRUE(ok.ok()) << message;
  EXPECT_EQ(ok->bytes, 10U);
  EXPECT_EQ(ok->etag, "\"e1\"");
  auto away = fetch("/allowed/away?sig=HOPSECRETTOKEN1", message);
  ASSERT_FALSE(away.ok());
  EXPECT_EQ(away.status().code(), ErrorCode::kArtifactDenied);
  EXPECT_NE(message.find("redirects to " + base + "/denied/x?<redacted>"), std::string::npos)
      << message;
  auto loop = fetch("/allowed/loop", message);
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(message.find("more than 3 redirects"), std::string::npos) << message;
  options.allow_http_loopback = false;
  auto plain = fetch("/allowed/final", message);
  EXPECT_EQ(plain.status().code(), ErrorCode::kArtifactDenied) << message;
  std::fclose(pipe);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sandboxd
