// Issue 8, item 5: sandboxctl, when sandboxd cannot be reached or hangs up, prints UNAVAILABLE
// with the retry hint and exits 3 (its transport status), never INTERNAL or 1.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sandboxd/framing.h"
#include "sandboxd/unique_fd.h"
#include "test_paths.h"

namespace sandboxd {
namespace {

struct CtlRun {
  int exit_code = -1;
  std::string err;
};

class SandboxctlUnavailableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sandboxctl-unavailable-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  CtlRun Sandboxctl(std::vector<std::string> args) {
    const std::string err_path = dir_ + "/stderr";
    args.insert(args.begin(), ::sandboxd::test_paths::kSandboxctlBinary);
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int null = ::open("/dev/null", O_WRONLY);
      if (err < 0 || null < 0 || ::dup2(err, 2) < 0 || ::dup2(null, 1) < 0) ::_exit(126);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    CtlRun run;
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_path);
    std::ostringstream text;
    text << in.rdbuf();
    run.err = text.str();
    return run;
  }

  // A socket that accepts one connection, reads one request and hangs up without a reply.
  std::thread HangUpServer(const std::string& path) {
    listener_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(listener_.get(), 1), 0);
    return std::thread([this] {
      UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection) return;
      FrameReader reader;
      EXPECT_TRUE(reader.ReadOne(connection.get()).ok());
    });
  }

  std::string dir_;
  UniqueFd listener_;
};

TEST_F(SandboxctlUnavailableTest, NobodyListeningIsUnavailableAndExit3) {
  const std::string socket = dir_ + "/nobody.sock";
  CtlRun run = Sandboxctl({"run", "--socket", socket, "--schema", "typeof(x:long)", "--script-text",
                           "result = pd.DataFrame({'x': [1]})"});
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_EQ(run.err.rfind("UNAVAILABLE: cannot connect to sandboxd at " + socket, 0), 0U)
      << run.err;
  EXPECT_NE(run.err.find("may be retried"), std::string::npos) << run.err;

  CtlRun images = Sandboxctl({"images", "--socket", socket});
  EXPECT_EQ(images.exit_code, 3) << images.err;
  EXPECT_EQ(images.err.rfind("UNAVAILABLE: ", 0), 0U) << images.err;
}

TEST_F(SandboxctlUnavailableTest, DaemonThatHangsUpIsUnavailableAndExit3) {
  const std::string socket = dir_ + "/hangup.sock";
  std::thread server = HangUpServer(socket);
  CtlRun run = Sandboxctl({"run", "--socket", socket, "--schema", "typeof(x:long)", "--script-text",
                           "result = pd.DataFrame({'x': [1]})"});
  server.join();
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_EQ(run.err.rfind("UNAVAILABLE: sandboxd closed the connection before replying", 0), 0U)
      << run.err;
  EXPECT_NE(run.err.find("it was sent and may have run"), std::string::npos) << run.err;
}

TEST_F(SandboxctlUnavailableTest, ImagesFromADaemonThatHangsUpExit3) {
  const std::string socket = dir_ + "/hangup.sock";
  std::thread server = HangUpServer(socket);
  CtlRun run = Sandboxctl({"images", "--socket", socket});
  server.join();
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_EQ(run.err.rfind("UNAVAILABLE: ", 0), 0U) << run.err;
}

}  // namespace
}  // namespace sandboxd
