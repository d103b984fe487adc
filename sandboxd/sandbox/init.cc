// PID 1 of a sandbox. It builds the namespaces' contents, forks the UDF (which is never PID 1),
// reaps every process, ends the sandbox the moment the UDF ends or the seccomp policy is hit,
// and reports status and rusage on a pipe that only it holds.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <poll.h>
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

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>

#include "sandbox/init_report.h"
#include "sandbox/limits_view.h"
#include "sandbox/sandbox_spec.h"
#include "sandbox/udf_process.h"

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

[[noreturn]] void RunSandboxInit(const internal::LaunchRequest& request, const SandboxFds& fds,
                                 int launcher_alive) {
  const int status_fd = fds.fd[kStatusFd];
  // Become the namespace's root (an unprivileged host uid) rather than staying host root.
  if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0)
    FailSetup(status_fd, std::string("become the sandbox's root: ") + std::strerror(errno));
  // Changing credentials cleared the parent-death signal: set it again, then make sure the
  // launcher did not die in between (its end of the pipe would be closed).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  pollfd alive{launcher_alive, POLLIN, 0};
  if (::poll(&alive, 1, 0) != 0) ::_exit(1);
  ::close(launcher_alive);
  // Nothing in the sandbox may open init's descriptors through /proc/1/fd.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  LimitsView limits;
  if (auto err = SetUpMountNamespace(request, limits); !err.empty()) FailSetup(status_fd, err);
  if (auto err = SetUpNetworkNamespace(); !err.empty()) FailSetup(status_fd, err);
  if (auto err = SetUpUtsNamespace(request.hostname()); !err.empty()) FailSetup(status_fd, err);

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
    RunUdfProcess(request, fds, channel[1], doorbell[1]);
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
    iovec iov{buf, sizeof(buf) - 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(channel[0], &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    if (cmsg != nullptr && cmsg->cmsg_type == SCM_RIGHTS) {
      std::memcpy(&listener, CMSG_DATA(cmsg), sizeof(int));
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
    if (ready < 0 && errno != EINTR) break;
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
