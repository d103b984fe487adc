// The root helper: the one process besides the launcher that keeps root once the daemon has
// dropped to its user (privilege_drop.h). It is exec'd by the daemon at start, before any thread
// exists and before anything hostile has been read, and then does only what the unprivileged
// daemon cannot do itself, each held against what it was told at start:
//  - start a launcher (a wedged or lost one is replaced: launcher_client.h); the launchers are its
//    children, it reaps them;
//  - SIGKILL a process through a pidfd the daemon hands it, only if that process is one of its
//    launchers or descends from one (sandbox inits, zygotes and their children), or runs with
//    nothing but sandbox slot uids (a sandbox process reparented away; it signals it as the
//    slot's uid, so the kernel's own check confirms it). A sandbox's processes run as slot uids,
//    which the daemon's user may not signal;
//  - remove the daemon's socket and its instance claim (in folders the daemon's user may not
//    write) at its exit.
// It reads fixed-size messages only; a malformed one is dropped, never a crash. It dies with the
// daemon (PR_SET_PDEATHSIG), and its launchers with it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

// The argv[1] that puts the sandboxd binary in root-helper mode.
inline constexpr const char* kRootHelperModeFlag = "--internal-root-helper";

class RootHelper {
 public:
  struct Bounds {
    std::uint32_t uid_first = 0;  // the sandbox slots' host uids: [uid_first, +uid_count)
    std::uint32_t uid_count = 0;
    std::string socket_path;  // the daemon's listening socket, removed at its exit
    std::string claim_path;   // its instance claim (instance_lock.h), removed at its exit
  };
  // Forks and execs the helper. Call before any thread starts (like LauncherClient::Start).
  static StatusOr<std::unique_ptr<RootHelper>> Start(const Bounds& bounds);

  struct Launcher {
    UniqueFd socket;  // the daemon's end of the launcher's socketpair
    pid_t pid = -1;
    UniqueFd pidfd;  // readable once the launcher has exited (the helper reaps it)
  };
  // A fresh launcher, exec'd by the helper as root. Thread-safe.
  StatusOr<Launcher> StartLauncher();

  // SIGKILLs the process of `pidfd` if the helper allows it (see above); an error is only logged:
  // the callers' pidfd or cgroup tells them when the process is gone. Thread-safe.
  void Kill(int pidfd);

  // Removes the daemon's socket (only if it is a socket) and its claim (only if it is a regular
  // file), as the daemon's last act. Thread-safe.
  void RemoveFiles();

  pid_t pid() const { return pid_; }

  // Closes the helper's socket (it exits on EOF) and reaps it.
  ~RootHelper();

 private:
  RootHelper() = default;
  Status Send(std::uint32_t op, int fd);

  std::mutex mu_;
  UniqueFd socket_;
  pid_t pid_ = -1;
};

// SIGKILL to a sandbox's process (or a launcher) by pidfd: directly when this process may
// (it runs as root), else through the root helper set with SetRootHelper (it dropped to its user).
void KillByPidfd(int pidfd);
// The same by pid (a cgroup v1 kill reads pids from cgroup.procs).
void KillByPid(pid_t pid);
// The helper KillByPidfd and KillByPid fall back to; nullptr: none (the daemon stayed root).
void SetRootHelper(RootHelper* helper);

// Root-helper mode: serves the daemon on `socket_fd`; returns the process exit code.
int RunRootHelper(int socket_fd, pid_t daemon_pid, const RootHelper::Bounds& bounds);

// The helper's check of a kill: ok when every uid in the `Uid:` line of a /proc/<pid>/status
// text lies in [uid_first, uid_first + uid_count) and none is 0; its real uid, which the helper
// signals as, goes to `as_uid`. Exposed for its unit test.
bool SlotOwnedProcess(const std::string& status_text, std::uint32_t uid_first,
                      std::uint32_t uid_count, uid_t* as_uid);

}  // namespace sandboxd
