// What a test starts dies with it, however the test ends (issue 22): a test binary that aborts
// on an ASSERT, or that CTest kills at its TIMEOUT with SIGKILL, runs no destructor, so nothing
// in the test process itself can clean up. Two pieces do instead:
//  - DieWithParent: a daemon or Azurite forked by a test gets SIGKILL when the test's thread that
//    forked it ends. The daemon's launcher, zygotes and sandboxes already die with the daemon
//    (their own PR_SET_PDEATHSIG), so the whole tree goes.
//  - LeftoverGuard: a small process outside the test (its own session, no CTest pipe) that
//    waits for the test to let go of it, then removes what outlives processes: the daemon's
//    cgroup group in every hierarchy, mounts under its folder, and the folder.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sandboxd::testing {

// For a forked child, before exec (async-signal-safe). PR_SET_PDEATHSIG follows the forking
// *thread*: fork daemons from a thread that lives as long as they should (the test's main
// thread). `parent` is the forking process's pid, read before fork: if it is already gone, the
// signal was missed and the child must not start at all.
inline void DieWithParent(pid_t parent) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::getppid() != parent) ::_exit(127);
}

// Test binaries die with the CTest that runs them (a nested ctest killed at its TIMEOUT, say),
// and with them their daemons. Included by every test that starts a daemon.
inline const bool kTestDiesWithItsRunner = [] {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  return true;
}();

// The guard's program: /bin/sh, so that nothing of the (multithreaded) test runs in the fork.
// $1 the daemon's pid, $2 its cgroup group name (a directory in each hierarchy), $3 a folder to
// remove ("" for none). Standard input is the pipe the test holds: EOF means the test is gone
// or done; "stopped" on it means the test has already stopped and reaped the daemon; "abandon"
// that the daemon never ran (refused at start: its group may be another live daemon's).
inline constexpr const char* kLeftoverGuardScript = R"sh(
pid=$1 group=$2 dir=$3
said=$(cat)
[ "$said" = abandon ] && exit 0
if [ "$said" != stopped ]; then
  # The daemon dies with the test (DieWithParent); a zombie nobody reaps has exited too.
  i=0
  while [ $i -lt 600 ]; do
    state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' /proc/$pid/status 2>/dev/null)
    if [ -z "$state" ] || [ "$state" = Z ]; then break; fi
    sleep 0.1; i=$((i+1))
  done
fi
# The group is this test's own: whatever still runs in it is a sandbox of the dead daemon.
if [ -n "$group" ]; then
  for g in /sys/fs/cgroup/*/"$group" /sys/fs/cgroup/"$group"; do
    [ -d "$g" ] || continue
    i=0
    while [ -d "$g" ] && [ $i -lt 300 ]; do
      find "$g" -depth -type d 2>/dev/null | while read -r d; do
        for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        rmdir "$d" 2>/dev/null
      done
      [ -d "$g" ] && sleep 0.1
      i=$((i+1))
    done
  done
fi
if [ -n "$dir" ] && [ -d "$dir" ]; then
  awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$dir"
fi
)sh";

class LeftoverGuard {
 public:
  LeftoverGuard() = default;
  // Starts the guard of the daemon `pid`, its cgroup group and `dir` (empty: keep the folder).
  LeftoverGuard(pid_t pid, const std::string& cgroup_group, const std::string& dir) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    std::vector<std::string> args = {
        "/bin/sh",    "-c", kLeftoverGuardScript, "leftover-guard", std::to_string(pid),
        cgroup_group, dir};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    guard_ = ::fork();
    if (guard_ == 0) {
      // Its own session: no terminal signal, no process-group kill of the test reaches it.
      ::setsid();
      ::dup2(fds[0], 0);
      const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      ::dup2(null, 1);  // never CTest's output pipe, which CTest would wait on
      ::dup2(null, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[0]);
    if (guard_ < 0) {
      ::close(fds[1]);
      return;
    }
    pipe_ = fds[1];
  }
  LeftoverGuard(const LeftoverGuard&) = delete;
  LeftoverGuard& operator=(const LeftoverGuard&) = delete;
  LeftoverGuard(LeftoverGuard&& other) noexcept { *this = std::move(other); }
  LeftoverGuard& operator=(LeftoverGuard&& other) noexcept {
    std::swap(guard_, other.guard_);
    std::swap(pipe_, other.pipe_);
    return *this;
  }

  enum class Ending {
    kDaemonStopped,   // the test stopped and reaped it: clean up at once
    kDaemonNeverRan,  // it exited at start (e.g. refused as a second daemon): touch nothing
    kDaemonDies,      // the test is letting go: wait for it to die, then clean up
  };
  // Hands the guard its ending and reaps it (it has cleaned up by then).
  void Finish(Ending ending) {
    if (pipe_ >= 0) {
      const std::string_view said = ending == Ending::kDaemonStopped    ? "stopped"
                                    : ending == Ending::kDaemonNeverRan ? "abandon"
                                                                        : "";
      if (!said.empty()) (void)!::write(pipe_, said.data(), said.size());
      ::close(pipe_);
      pipe_ = -1;
    }
    if (guard_ > 0) {
      int status = 0;
      while (::waitpid(guard_, &status, 0) < 0 && errno == EINTR) {
      }
      guard_ = -1;
    }
  }
  ~LeftoverGuard() { Finish(Ending::kDaemonDies); }

  pid_t pid() const { return guard_; }

 private:
  pid_t guard_ = -1;
  int pipe_ = -1;
};

}  // namespace sandboxd::testing
