// security_probes: starts one sandboxd for the whole suite, runs every probe (probe_test.cc) and
// host-side test (host_tests.cc), and prints the table "probe | expected | observed | host
// control | result" once, at the end.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "daemon_fixture.h"
#include "suite.h"
#include "test_paths.h"

namespace sandboxd::security {
namespace {

std::string FirstLanAddress() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "192.0.2.1";
  std::string found = "192.0.2.1";  // TEST-NET-1 when the host has none
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, text,
                sizeof(text));
    found = text;
    break;
  }
  ::freeifaddrs(list);
  return found;
}

std::string FirstNameserver() {
  std::ifstream in("/etc/resolv.conf");
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key == "nameserver" && value.find(':') == std::string::npos)
      return value;
  }
  return "192.0.2.53";
}

// The policy's unconditional errno(E) rules, as [name, number, "E"], for the I1 sweep.
nlohmann::json ErrnoRules(const std::string& policy_path) {
  nlohmann::json rules = nlohmann::json::array();
  std::ifstream in(policy_path);
  for (std::string line; std::getline(in, line);) {
    line = line.substr(0, line.find('#'));
    for (char& c : line) {
      if (c == ',') c = ' ';
    }
    std::istringstream words(line);
    std::string action;
    if (!(words >> action) || action.rfind("errno(", 0) != 0 || action.back() != ')') continue;
    if (line.find(" if ") != std::string::npos || line.find("otherwise") != std::string::npos)
      continue;
    const std::string err = action.substr(6, action.size() - 7);
    for (std::string name; words >> name;) {
      const int nr = ::seccomp_syscall_resolve_name(name.c_str());
      if (nr >= 0) rules.push_back({name, nr, err});
    }
  }
  return rules;
}

// An abstract AF_UNIX socket the host listens on (D3): a sandbox must not reach it.
int ListenAbstract(const std::string& name) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, 64) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class SuiteEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    Suite& suite = TheSuite();
    if (!sandboxd::testing::DefaultImageBuilt()) {
      suite.setup_error = "image python3.11 is not built in " + sandboxd::testing::ImagesDir() +
                          "; run runtime_images/build-image python3.11";
      return;
    }
    std::ifstream lib(std::string(::sandboxd::test_paths::kSecurityProbesDir) + "/probelib.py");
    std::stringstream text;
    text << lib.rdbuf();
    suite.probelib = text.str();
    if (suite.probelib.empty()) {
      suite.setup_error =
          std::string("cannot read ") + ::sandboxd::test_paths::kSecurityProbesDir + "/probelib.py";
      return;
    }
    std::string tmpl = "/tmp/sandboxd-sec-work-XXXXXX";
    suite.work_dir = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "/tmp";

    // Secrets in the daemon's environment: none may reach a sandbox (C2).
    ::setenv("SANDBOXD_PROBE_SECRET", "sbx-probe-secret-value", 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", "sbx-probe-aws-secret", 1);
    ::setenv("PYTHONPATH", "/sbx-probe-injected", 1);
    suite.daemon = TestDaemon::Start("main", 0);
    if (!suite.daemon) {
      suite.setup_error = "sandboxd did not start";
      return;
    }
    // A host secret beside the daemon's config (B1).
    const std::string secret = suite.daemon->dir() + "/secret.key";
    std::ofstream(secret) << "sbx-probe-host-secret\n";
    abstract_name_ = "sandboxd-sec-probe-" + std::to_string(::getpid());
    abstract_fd_ = ListenAbstract(abstract_name_);
    char hostname[256] = {};
    ::gethostname(hostname, sizeof(hostname) - 1);
    struct stat shadow {};
    ::stat("/etc/shadow", &shadow);

    nlohmann::json kargs;
    kargs["daemon_pid"] = suite.daemon->pid();
    kargs["daemon_socket"] = suite.daemon->socket_path();
    kargs["daemon_config"] = suite.daemon->config_path();
    kargs["daemon_dir"] = suite.daemon->dir();
    kargs["secret_file"] = secret;
    kargs["host_hostname"] = hostname;
    kargs["lan_ip"] = FirstLanAddress();
    kargs["nameserver"] = FirstNameserver();
    kargs["abstract_name"] = abstract_name_;
    kargs["images_dir"] =
        std::filesystem::weakly_canonical(sandboxd::testing::ImagesDir()).string();
    kargs["runtime_dir"] =
        std::filesystem::weakly_canonical(::sandboxd::test_paths::kRuntimeSource).string();
    kargs["source_dir"] =
        std::filesystem::weakly_canonical(::sandboxd::test_paths::kSourceDir).string();
    kargs["host_shadow"] = {static_cast<std::uint64_t>(shadow.st_dev),
                            static_cast<std::uint64_t>(shadow.st_ino)};
    kargs["errno_rules"] = ErrnoRules(::sandboxd::test_paths::kSeccompPolicySource);
    suite.kargs_json = kargs.dump();
  }

  void TearDown() override {
    TheSuite().daemon.reset();
    if (abstract_fd_ >= 0) ::close(abstract_fd_);
    std::error_code ec;
    if (TheSuite().work_dir.rfind("/tmp/sandboxd-sec-work-", 0) == 0)
      std::filesystem::remove_all(TheSuite().work_dir, ec);
  }

 private:
  std::string abstract_name_;
  int abstract_fd_ = -1;
};

}  // namespace
}  // namespace sandboxd::security

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new sandboxd::security::SuiteEnvironment);
  const int rc = RUN_ALL_TESTS();
  sandboxd::security::PrintTable();
  return rc;
}
