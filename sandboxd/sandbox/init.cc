// PID 1 of a sandbox. It builds the namespaces' contents, forks the UDF (which is never PID 1),
// reaps every process, ends the sandbox the moment the UDF ends or the seccomp policy is hit,
// and reports status and rusage on a pipe that only it holds.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "sandbox/descriptors.h"
#include "sandbox/init_report.h"
#include "sandbox/limits_view.h"
#include "sandbox/sandbox_spec.h"
#include "sandbox/udf_process.h"
#include "sandboxd/fd_passing.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {
namespace {

void WriteReport(int fd, InitReport report) {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  report.user_usec = static_cast<std::uint64_t>(usage.ru_utime.tv_sec) * 1000000U +
                     static_cast<std::uint64_t>(usage.ru_utime.tv_usec);
  report.system_usec = static_cast<std::uint64_t>(usage.ru_stime.tv_sec) * 1000000U +
                       static_cast<std::uint64_t>(usage.ru_stime.tv_usec);
  report.max_rss_kib = static_cast<std::uint64_t>(usage.ru_maxrss);
  const char* p = reinterpret_cast<const char*>(&report);
  std::size_t left = sizeof(report);
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

[[noreturn]] void FailSetup(int status_fd, const std::string& message) {
  InitReport report;
  report.kind = InitReport::kSetupFailed;
  std::strncpy(report.message, message.c_str(), sizeof(report.message) - 1);
  WriteReport(status_fd, report);
  ::_exit(1);
}

std::int64_t MonotonicMs() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// Kills every other process of the namespace and reaps them all.
void EndEverything() {
  ::kill(-1, SIGKILL);
  while (::waitpid(-1, nullptr, __WALL) > 0 || errno == EINTR) {
  }
}

}  // namespace

namespace {

// Takes uid and gid 0 of the user namespace (the slot's unprivileged root uid outside), sets the
// parent-death signal again (changing credentials cleared it), makes sure the launcher did not
// die in between (its end of `launcher_alive` would be closed), and closes that descriptor.
// Nothing in the sandbox may open init's descriptors through /proc/1/fd afterwards.
void BecomeSandboxRoot(int status_fd, int launcher_alive) {
  if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0)
    FailSetup(status_fd, std::string("become the sandbox's root: ") + std::strerror(errno));
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  pollfd alive{launcher_alive, POLLIN, 0};
  if (::poll(&alive, 1, 0) != 0) ::_exit(1);
  ::close(launcher_alive);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace

[[noreturn]] void RunSandboxInit(const internal::LaunchRequest& request, const SandboxFds& fds,
                                 int launcher_alive) {
  const int status_fd = fds.fd[kStatusFd];
  // Become the namespace's root (an unprivileged host uid) rather than staying host root.
  BecomeSandboxRoot(status_fd, launcher_alive);

  LimitsView limits;
  if (auto err = SetUpMountNamespace(request, limits, MountLayout::kPivotIntoImage); !err.empty())
    FailSetup(status_fd, err);
  if (auto err = SetUpNetworkNamespace(); !err.empty()) FailSetup(status_fd, err);
  if (auto err = SetUpUtsNamespace(request.hostname()); !err.empty()) FailSetup(status_fd, err);
  SuperviseSandbox(request, fds, limits, UdfStart::kExec);
  ::_exit(1);  // not reached: with kExec the UDF execs or exits
}

namespace {

// The classic signals (real-time ones are glibc's or nobody's).
constexpr int kSignalCount = 32;

// One byte from the launcher on the sync socket; false on EOF (the launcher gave up or died).
bool AwaitLauncher(int sync, char expected) {
  char got = 0;
  for (;;) {
    const ssize_t n = ::read(sync, &got, 1);
    if (n < 0 && errno == EINTR) continue;
    return n == 1 && got == expected;
  }
}

}  // namespace

bool RunZygoteSandboxInit(const internal::LaunchRequest& request, const SandboxFds& fds, int sync,
                          const MemoryCgroupFds& memory, const HostTrees& trees) {
  const int status_fd = fds.fd[kStatusFd];
  // The zygote's interpreter set dispositions of its own (SIGINT's handler, SIGPIPE and SIGXFSZ
  // ignored): init runs with the defaults, and the UDF gets the interpreter's back.
  std::array<struct sigaction, kSignalCount> interpreter{};
  for (int sig = 1; sig < kSignalCount; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (::sigaction(sig, nullptr, &interpreter[static_cast<std::size_t>(sig)]) == 0)
      ::signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // The launcher is the parent (CLONE_PARENT): die with it, not with the zygote, which may be
  // restarted while its children run.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  ::prctl(PR_SET_NAME, "sandbox-init", 0, 0, 0);
  // Nothing of the zygote's survives: only the sandbox's descriptors, the sync socket and the
  // memory cgroup's files.
  std::vector<int> keep(fds.fd, fds.fd + kSandboxFdCount);
  keep.push_back(sync);
  for (int fd : {memory.limit, memory.usage, memory.stat, trees.artifacts, trees.site}) {
    if (fd >= 0) keep.push_back(fd);
  }
  CloseAllExcept(keep);

  // 'C': the launcher moved this process into the sandbox's cgroups.
  if (!AwaitLauncher(sync, 'C')) ::_exit(1);
  // Still host root, in a mount namespace of its own (a copy of the zygote's) and PID 1 of a new
  // pid namespace: the per-sandbox mounts go on now. The user namespace that comes next locks
  // them all (they come from a more privileged namespace), as the UDF's nested one does today.
  LimitsView limits;
  limits.AdoptCgroupFiles(memory);
  if (auto err = SetUpMountNamespace(request, limits, MountLayout::kInZygoteRoot, trees);
      !err.empty())
    FailSetup(status_fd, err);

  // The slot's own user namespace, owned by its unprivileged root uid (F12), as a launched
  // sandbox's is; the launcher writes its id maps ('U' asks, 'G' says they are written).
  if (::setresgid(request.outside_root_gid(), request.outside_root_gid(),
                  request.outside_root_gid()) != 0 ||
      ::setresuid(request.outside_root_uid(), request.outside_root_uid(),
                  request.outside_root_uid()) != 0)
    FailSetup(status_fd, std::string("become the slot's root uid: ") + std::strerror(errno));
  if (::unshare(CLONE_NEWUSER) != 0)
    FailSetup(status_fd, std::string("create the user namespace: ") + std::strerror(errno));
  if (::write(sync, "U", 1) != 1 || !AwaitLauncher(sync, 'G')) ::_exit(1);
  BecomeSandboxRoot(status_fd, sync);

  // The rest of the namespaces belong to the slot's user namespace, as a launched sandbox's do.
  if (::unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) != 0)
    FailSetup(status_fd, std::string("unshare the sandbox's namespaces: ") + std::strerror(errno));
  if (auto err = SetUpNetworkNamespace(); !err.empty()) FailSetup(status_fd, err);
  if (auto err = SetUpUtsNamespace(request.hostname()); !err.empty()) FailSetup(status_fd, err);
  const bool udf = SuperviseSandbox(request, fds, limits, UdfStart::kReturn);
  for (int sig = 1; sig < kSignalCount; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP)
      ::sigaction(sig, &interpreter[static_cast<std::size_t>(sig)], nullptr);
  }
  return udf;
}

bool SuperviseSandbox(const internal::LaunchRequest& request, const SandboxFds& fds,
                      LimitsView& limits, UdfStart start) {
  const int status_fd = fds.fd[kStatusFd];
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  const int sigfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) FailSetup(status_fd, std::string("signalfd: ") + std::strerror(errno));

  int channel[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0)
    FailSetup(status_fd, std::string("socketpair: ") + std::strerror(errno));
  // The runner rings this once its request is in (a warm sandbox's memory limit was lowered
  // then), and init answers after refreshing /proc/meminfo.
  int doorbell[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, doorbell) != 0)
    FailSetup(status_fd, std::string("socketpair: ") + std::strerror(errno));

  const pid_t udf = ::fork();
  if (udf < 0) FailSetup(status_fd, std::string("fork the UDF: ") + std::strerror(errno));
  if (udf == 0) {
    ::close(channel[0]);
    ::close(doorbell[0]);
    ::close(sigfd);
    ::close(status_fd);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    RunUdfProcess(request, fds, channel[1], doorbell[1], start);
    // Only with kReturn: this is the UDF, confined, with its descriptors in place; init's
    // descriptors that the placement closed must not be closed again by their owners.
    limits.Forget();
    return true;
  }
  ::close(channel[1]);
  ::close(doorbell[1]);
  int bell = doorbell[0];
  for (int i = 0; i < kSandboxFdCount; ++i) {
    if (i != kStatusFd) ::close(fds.fd[i]);
  }

  // The setup channel yields the seccomp listener, or an error text, then EOF at execve.
  int listener = -1;
  for (;;) {
    char buf[512];
    std::vector<UniqueFd> passed;
    const ssize_t n = ReceiveWithFds(channel[0], buf, sizeof(buf) - 1, passed);
    if (n <= 0) break;
    if (!passed.empty()) {
      if (listener < 0) listener = passed.front().release();
      continue;
    }
    buf[n] = '\0';
    EndEverything();
    FailSetup(status_fd, std::string("starting the UDF: ") + buf);
  }
  ::close(channel[0]);

  InitReport report;
  bool udf_done = false;
  // MemFree follows the cgroup's usage this often; the doorbell refreshes at once.
  constexpr int kRefreshMs = 250;
  std::int64_t refreshed_ms = MonotonicMs();
  while (!udf_done) {
    // Slot 1 is ignored while there is no listener (fd -1), slot 2 once the runner hung up.
    pollfd pfds[3] = {{sigfd, POLLIN, 0}, {listener, POLLIN, 0}, {bell, POLLIN, 0}};
    const int ready = ::poll(pfds, 3, kRefreshMs);
    if (ready < 0 && errno != EINTR) {
      // Never seen; but a report without a kind would read as no report at all (issue 23).
      report.kind = InitReport::kSetupFailed;
      std::snprintf(report.message, sizeof(report.message), "init's poll failed: %s",
                    std::strerror(errno));
      break;
    }
    if (const std::int64_t now = MonotonicMs(); now - refreshed_ms >= kRefreshMs) {
      limits.Refresh();
      refreshed_ms = now;
    }
    if (bell >= 0 && pfds[2].revents != 0) {
      char ring = 0;
      if ((pfds[2].revents & POLLIN) != 0 && ::recv(bell, &ring, 1, MSG_DONTWAIT) == 1) {
        limits.Refresh();
        ::send(bell, "k", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
      } else {
        ::close(bell);
        bell = -1;
      }
    }
    if (listener >= 0 && (pfds[1].revents & POLLIN) != 0) {
      // The policy's "anything else" action: note the call, then end the whole sandbox.
      seccomp_notif notif{};
      if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif) == 0) {
        report.kind = InitReport::kPolicyViolation;
        report.value = notif.data.nr;
        report.arch = notif.data.arch;
        EndEverything();
        break;
      }
    }
    if (listener >= 0 && (pfds[1].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0 &&
        (pfds[1].revents & POLLIN) == 0) {
      // Every process under the filter is gone; only SIGCHLD is left to wait for.
      ::close(listener);
      listener = -1;
    }
    if ((pfds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info;
      while (::read(sigfd, &info, sizeof(info)) > 0) {
      }
      int status = 0;
      pid_t pid;
      while ((pid = ::waitpid(-1, &status, WNOHANG | __WALL)) > 0) {
        if (pid != udf) continue;
        if (WIFEXITED(status)) {
          report.kind = InitReport::kExited;
          report.value = WEXITSTATUS(status);
        } else {
          report.kind = InitReport::kSignaled;
          report.value = WTERMSIG(status);
        }
        udf_done = true;
      }
    }
  }
  // Whatever the UDF left behind (daemons, zombies, stopped children) ends with it.
  EndEverything();
  struct statfs work {};
  if (::statfs("/sandbox/work", &work) == 0 && (work.f_bavail == 0 || work.f_ffree == 0))
    report.flags |= InitReport::kWorkFolderFull;
  WriteReport(status_fd, report);
  ::_exit(0);
}

}  // namespace sandboxd
