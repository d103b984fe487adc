// A sandboxd for the artifact tests: tests/sandboxd/daemon_fixture.h's DaemonProcess with its own
// config (state folder, callout policy, the test CA, small limits) and its stderr kept in a file,
// so the tests can look for tokens in everything it wrote.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "daemon_fixture.h"

namespace sandboxd::testing {

inline std::string ArtifactImagesDir() { return ImagesDir(); }

class ArtifactDaemon {
 public:
  // `dir` must exist; the daemon's files go there. `artifacts` is the config's "artifacts" object;
  // `extra_args` are more sandboxd flags (--no-zygotes); a second daemon of the same test process
  // needs a `second` of its own cgroup group and host uids.
  static std::unique_ptr<ArtifactDaemon> Start(const std::string& dir, const std::string& artifacts,
                                               std::vector<std::string> extra_args = {},
                                               bool second = false) {
    std::filesystem::create_directories(dir + "/state");
    ::chmod(dir.c_str(), 0755);
    ::chmod((dir + "/state").c_str(), 0755);
    DaemonOptions options;
    options.dir = dir;
    options.log_path = dir + "/daemon.log";
    options.log_level = "debug";
    options.config_json =
        "{\"state_dir\": \"" + dir + "/state\", \"artifacts\": " + artifacts + "}";
    options.cgroup_group_prefix = second ? "sandboxd-art2-" : "sandboxd-art-";
    options.uid_base_start = second ? 1'760'000'000U : 1'700'000'000U;
    options.extra_args = std::move(extra_args);
    auto process = DaemonProcess::Start(std::move(options));
    if (process == nullptr) return nullptr;
    auto daemon = std::unique_ptr<ArtifactDaemon>(new ArtifactDaemon);
    daemon->process_ = std::move(process);
    daemon->log_ = dir + "/daemon.log";
    return daemon;
  }

  Client Connect() const { return process_->Connect(); }
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
  std::unique_ptr<DaemonProcess> process_;
  std::string log_;
};

}  // namespace sandboxd::testing
