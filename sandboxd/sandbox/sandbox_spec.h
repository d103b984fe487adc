// The descriptors a sandbox is started with, in the order the launcher receives them. What each
// one carries, as the runner sees it, is the runner's contract: runtime_images/RUNNER.md.
#pragma once

#include "launcher.pb.h"
#include "sandbox/limits_view.h"

namespace sandboxd {

// Indices of the descriptors that ride with a LaunchRequest frame.
enum SandboxFdIndex : int {
  kControlFd = 0,  // control document pipe, read end -> fd 3 of the UDF
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

// The host folders a zygote's child mounts (the request's artifacts and its installed bundles),
// which its mount namespace cannot name: detached copies of their trees (open_tree), made by the
// launcher. -1: none.
struct HostTrees {
  int artifacts = -1;
  int site = -1;
};

// A sandbox forked from a zygote (the zygote's extension calls it in the child of its clone):
// PID 1 of a new pid namespace, in a copy of the zygote's mount namespace, still host root. It
// sets up the per-sandbox mounts, takes the slot's user namespace (the launcher maps it, over
// `sync`), unshares the other namespaces, then supervises as init. Returns (true) only in the
// UDF, confined, which goes on in the zygote's interpreter; false never (init exits).
bool RunZygoteSandboxInit(const internal::LaunchRequest& request, const SandboxFds& fds, int sync,
                          const MemoryCgroupFds& memory, const HostTrees& trees);

// How the UDF starts once it is confined: by exec'ing the request's argv (a sandbox cloned by the
// launcher), or by returning into the interpreter it was forked from (a zygote's child).
enum class UdfStart { kExec, kReturn };

// After the namespaces are set up, as PID 1: forks the UDF, then reaps, watches the seccomp
// listener and the limits doorbell, ends everything when the UDF ends, reports and exits. Returns
// (true) only in the UDF, and only with kReturn.
bool SuperviseSandbox(const internal::LaunchRequest& request, const SandboxFds& fds,
                      LimitsView& limits, UdfStart start);

// Where the sandbox's tree is built. kPivotIntoImage: init starts in the host's mount tree, binds
// the image read-only and pivots into it. kInZygoteRoot: the process already lives in a copy of
// a zygote's tree (the image and the runner, read-only); only the per-sandbox mounts are added.
enum class MountLayout { kPivotIntoImage, kInZygoteRoot };

// One file per isolation concern (nsjail's layout); each returns an error text or "".
// `limits` is set up inside it: the sandbox's /proc/meminfo, /proc/stat and /proc/cpuinfo.
std::string SetUpMountNamespace(const internal::LaunchRequest& request, LimitsView& limits,
                                MountLayout layout, const HostTrees& trees = {});
// A zygote's tree, in its own mount namespace: `rootfs` read-only as /, `runtime_dir` at
// /sandbox/runtime, and `module_dir` at /sandbox/work until the zygote has loaded its extension
// from it (it detaches it then).
std::string SetUpZygoteMountNamespace(const std::string& rootfs, const std::string& runtime_dir,
                                      const std::string& module_dir);
std::string SetUpNetworkNamespace();
std::string SetUpUtsNamespace(const std::string& hostname);

}  // namespace sandboxd
