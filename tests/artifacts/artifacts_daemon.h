// A sandboxd for the artifact tests: the built binary, started with its own config file (state
// folder, callout policy, the test CA, small limits), its stderr kept in a file so the tests can
// look for tokens in everything it wrote. The approach of tests/sandboxd/daemon_fixture.h.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sandboxd/client.h"

namespace sandboxd::testing {

inline std::string ArtifactImagesDir() {
  const char* env = std::getenv("SANDBOXD_TEST_IMAGES_DIR");
  return env != nullptr ? env : "/var/lib/sandboxd/images";
}

class ArtifactDaemon {
 public:
  // `dir` must exist; the daemon's files go there. `artifacts` is the config's "artifacts" object.
  static std::unique_ptr<ArtifactDaemon> Start(const std::string& dir,
                                               const std::string& artifacts) {
    auto daemon = std::unique_ptr<ArtifactDaemon>(new ArtifactDaemon);
    daemon->dir_ = dir;
    daemon->socket_ = dir + "/sandboxd.sock";
    daemon->log_ = dir + "/daemon.log";
    std::filesystem::create_directories(dir + "/state");
    ::chmod(dir.c_str(), 0755);
    ::chmod((dir + "/state").c_str(), 0755);
    std::ofstream(dir + "/sandboxd.conf")
        << "{\"state_dir\": \"" << dir << "/state\", \"artifacts\": " << artifacts << "}\n";
    const std::vector<std::string> args = {
        SANDBOXD_BINARY,     "--foreground",
        "--config",          dir + "/sandboxd.conf",
        "--socket",          daemon->socket_,
        "--images-dir",      ArtifactImagesDir(),
        "--runtime-dir",     SANDBOXD_RUNTIME_SOURCE,
        "--log-level",       "debug",
        "--cgroup-v1-group", "sandboxd-art-" + std::to_string(::getpid()),
        "--uid-base",        std::to_string(1'700'000'000U + (::getpid() % 4096) * 64U)};
    daemon->pid_ = ::fork();
    if (daemon->pid_ == 0) {
      std::freopen(daemon->log_.c_str(), "w", stderr);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (Client::Connect(daemon->socket_).ok()) return daemon;
      int status;
      if (::waitpid(daemon->pid_, &status, WNOHANG) == daemon->pid_) {
        daemon->pid_ = -1;
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return nullptr;
  }

  ~ArtifactDaemon() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status;
      for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }

  Client Connect() const { return std::move(Client::Connect(socket_).value()); }
  // Everything the daemon has written to stderr so far.
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  const std::string& log_path() const { return log_; }

 private:
  ArtifactDaemon() = default;
  std::string dir_, socket_, log_;
  pid_t pid_ = -1;
};

}  // namespace sandboxd::testing
