// The descriptors a sandbox is started with, in the order the launcher receives them.
#pragma once

#include "launcher.pb.h"

namespace sandboxd {

class LimitsView;

// Indices of the descriptors that ride with a LaunchRequest frame.
enum SandboxFdIndex : int {
  kControlFd = 0,  // control document memfd        -> fd 3 of the UDF
  kInputFd = 1,    // input table: sealed memfd, or read-only spill file -> fd 4
  kOutputFd = 2,   // output table memfd             -> fd 5
  kStdoutFd = 3,   // stdout pipe, write end         -> fd 1
  kStderrFd = 4,   // stderr pipe, write end         -> fd 2
  kEventsFd = 5,   // events pipe, write end         -> fd 6
  kStatusFd = 6,   // init's report pipe, write end  (init only, never the UDF)
  // Not from the launcher: init's end of the limits doorbell is fd 8 of the UDF, which the
  // runner closes before the script runs (sandboxd_runtime/limits.py).
  kSandboxFdCount = 7,
};

// Inside-the-sandbox identity of the UDF; mapped to the slot's unprivileged host uid.
constexpr unsigned kSandboxUid = 1000;
constexpr unsigned kSandboxGid = 1000;

struct SandboxFds {
  int fd[kSandboxFdCount];
};

// Runs as PID 1 of the new namespaces: builds the mount tree, starts the UDF, reaps, reports.
// `launcher_alive` is the read end of a pipe the launcher holds open while it lives.
[[noreturn]] void RunSandboxInit(const internal::LaunchRequest& request, const SandboxFds& fds,
                                 int launcher_alive);

// One file per isolation concern (nsjail's layout); each returns an error text or "".
// `limits` is set up inside it: the sandbox's /proc/meminfo, /proc/stat and /proc/cpuinfo.
std::string SetUpMountNamespace(const internal::LaunchRequest& request, LimitsView& limits);
std::string SetUpNetworkNamespace();
std::string SetUpUtsNamespace(const std::string& hostname);

}  // namespace sandboxd
