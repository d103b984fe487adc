#include "launcher/launcher_main.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "launch_bounds.h"
#include "launched_sandbox.h"
#include "launcher.pb.h"
#include "poll_set.h"
#include "sandbox/descriptors.h"
#include "sandbox/sandbox_spec.h"
#include "sandbox_host.h"
#include "sandboxd/framing.h"
#include "zygotes.h"

namespace sandboxd {
namespace {

// The launcher's command line (it names the daemon's host pid). A sandbox's init is a clone of
// the launcher and would show it as its own /proc/1/cmdline, so init blanks it (C1).
char* g_argv_start = nullptr;
std::size_t g_argv_length = 0;

// The write end of each live sandbox's sync pipe, held until its init is reaped: init reads its
// EOF as "the launcher is gone" in the window where PDEATHSIG cannot help.
std::map<pid_t, UniqueFd> g_liveness_pipes;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

constexpr unsigned long kNamespaceFlags =
    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;

// Clones one sandbox init; returns its pid and pidfd, or an error for the daemon.
StatusOr<LaunchedSandbox> CloneSandbox(const internal::LaunchRequest& request,
                                       const SandboxFds& fds, int launcher_socket, int sigfd) {
  int sync[2];
  if (::pipe2(sync, O_CLOEXEC) != 0) return Status(ErrorCode::kInternal, Errno("pipe2"));
  int pidfd = -1;
  // The new user namespace is owned by the slot's unprivileged root uid, not by host root: the
  // kernel charges per-user budgets of everything inside (inotify instances, mqueues, keys) to
  // the namespace's owner, so sandboxes must not share one owner, least of all root (F12). The
  // other namespaces need no privilege once the user namespace exists.
  if (::setresgid(-1, request.outside_root_gid(), -1) != 0 ||
      ::setresuid(-1, request.outside_root_uid(), -1) != 0) {
    const std::string err = Errno("become the slot's uid to create its namespaces");
    ::setresuid(-1, 0, -1);
    ::setresgid(-1, 0, -1);
    ::close(sync[0]);
    ::close(sync[1]);
    return Status(ErrorCode::kInternal, err);
  }
  // A raw clone behaves like fork here (this process is single-threaded) and hands back a pidfd
  // with no window in which the pid could be reused.
  const long pid =
      ::syscall(SYS_clone, kNamespaceFlags | CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, 0);
  // Without root again the launcher could map ids for no one: better to stop than limp on.
  if (pid != 0 && (::setresuid(-1, 0, -1) != 0 || ::setresgid(-1, 0, -1) != 0)) ::_exit(1);
  if (pid < 0) {
    const std::string err = Errno("clone the sandbox namespaces");
    ::close(sync[0]);
    ::close(sync[1]);
    return Status(ErrorCode::kInternal, err);
  }
  if (pid == 0) {
    (void)launcher_socket;
    (void)sigfd;
    // Keep only the sandbox's descriptors and the sync pipe: nothing else of the launcher's.
    std::vector<int> keep(fds.fd, fds.fd + kSandboxFdCount);
    keep.push_back(sync[0]);
    CloseAllExcept(keep);
    // Die with the launcher; the sync pipe catches a launcher that died before this line.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) ::_exit(1);
    if (g_argv_start != nullptr) {
      std::memset(g_argv_start, 0, g_argv_length);
      std::strncpy(g_argv_start, "sandbox-init", g_argv_length - 1);
    }
    ::prctl(PR_SET_NAME, "sandbox-init", 0, 0, 0);
    char go = 0;
    if (::read(sync[0], &go, 1) != 1 || go != 'G') ::_exit(1);
    // Entered only now, so the namespace's root is the sandbox's own cgroup. Without it the
    // sandbox would see the host's cgroup paths: no sandbox then.
    if (!request.cgroup_procs().empty() && ::unshare(CLONE_NEWCGROUP) != 0) ::_exit(1);
    RunSandboxInit(request, fds, sync[0]);
  }
  ::close(sync[0]);
  UniqueFd go_pipe(sync[1]);
  LaunchedSandbox launched;
  launched.pid = static_cast<pid_t>(pid);
  launched.pidfd.reset(pidfd);

  Status status = MapSandboxIds(static_cast<pid_t>(pid), request);
  if (status.ok()) status = EnterCgroups(static_cast<pid_t>(pid), request);
  if (!status.ok()) {
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    return status;
  }
  if (::write(go_pipe.get(), "G", 1) != 1) {
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    return Status(ErrorCode::kInternal, Errno("start the sandbox"));
  }
  g_liveness_pipes[static_cast<pid_t>(pid)] = std::move(go_pipe);
  return launched;
}

}  // namespace

void RememberLauncherArgv(int argc, char** argv) {
  if (argc < 1) return;
  g_argv_start = argv[0];
  g_argv_length = static_cast<std::size_t>(argv[argc - 1] + std::strlen(argv[argc - 1]) - argv[0]);
}

int RunLauncher(int socket_fd, pid_t parent_pid) {
  if (::prctl(PR_SET_NAME, "sandboxd-launch", 0, 0, 0) != 0) return 1;
  if (::getppid() != parent_pid) return 1;  // the helper died before it set PDEATHSIG
  // Sandboxes must not inherit root's supplementary groups (they would show as nobody).
  if (::setgroups(0, nullptr) != 0) return 1;

  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (::sigprocmask(SIG_BLOCK, &chld, nullptr) != 0) return 1;
  const int sigfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) return 1;

  FrameReader reader(16 << 20, kSandboxFdCount);
  // The bounds first, from a daemon that has read nothing hostile yet (launch_bounds.h).
  internal::LaunchBounds bounds;
  {
    auto first = reader.ReadOne(socket_fd);
    if (!first.ok() || !first->fds.empty() || !bounds.ParseFromString(first->payload) ||
        !CheckLaunchBounds(bounds).ok())
      return 1;
  }
  // Every answer goes out through here, as soon as its launch is done (in any order: the daemon
  // matches answers to requests by sandbox id).
  bool daemon_gone = false;
  const auto answer = [&](internal::LaunchReply& reply, UniqueFd pidfd) {
    std::string payload;
    reply.SerializeToString(&payload);
    const int pidfd_raw = pidfd.get();
    const Status sent = pidfd ? SendFrame(socket_fd, payload, std::span<const int>(&pidfd_raw, 1))
                              : SendFrame(socket_fd, payload);
    if (!sent.ok()) daemon_gone = true;
  };
  Zygotes zygotes([&](ZygoteLaunchOutcome outcome) {
    internal::LaunchReply reply;
    reply.set_sandbox_id(outcome.sandbox_id);
    reply.set_zygote_failed(!outcome.sandbox.ok() && outcome.zygote_failed);
    if (!outcome.sandbox.ok()) {
      reply.set_error(outcome.sandbox.status().message());
      return answer(reply, UniqueFd());
    }
    if (outcome.liveness) g_liveness_pipes[outcome.sandbox->pid] = std::move(outcome.liveness);
    reply.set_ok(true);
    reply.set_pid(outcome.sandbox->pid);
    reply.set_zygote_restarted(outcome.sandbox->zygote_restarted);
    answer(reply, std::move(outcome.sandbox->pidfd));
  });
  bool daemon_closed = false;
  while (!daemon_gone) {
    PollSet set;
    set.Add(sigfd, POLLIN, [&](short) {
      signalfd_siginfo info;
      while (::read(sigfd, &info, sizeof(info)) > 0) {
      }
      for (pid_t reaped; (reaped = ::waitpid(-1, nullptr, WNOHANG | __WALL)) > 0;) {
        g_liveness_pipes.erase(reaped);
        zygotes.Reaped(reaped);
      }
    });
    set.Add(socket_fd, POLLIN, [&](short) {
      auto state = reader.ReadFrom(socket_fd);
      if (!state.ok() || *state == FrameReader::ReadState::kClosed) daemon_closed = true;
    });
    // A frame read together with the bounds (or an earlier one) waits in the reader: no sleep.
    int timeout_ms = reader.HasFrame() ? 0 : -1;
    zygotes.Watch(set, timeout_ms);
    if (!set.PollAndDispatch(timeout_ms)) return 1;
    if (daemon_closed) return 0;
    zygotes.Expire(Zygotes::Clock::now());
    while (reader.HasFrame() && !daemon_gone) {
      Frame frame = reader.Next();
      internal::LaunchRequest request;
      internal::LaunchReply reply;
      if (!request.ParseFromString(frame.payload)) {
        reply.set_error("malformed launch request");
      } else if (request.restart_zygotes()) {
        reply.set_sandbox_id(request.sandbox_id());
        zygotes.StopAll();
        reply.set_ok(true);
      } else if (frame.fds.size() != kSandboxFdCount) {
        reply.set_sandbox_id(request.sandbox_id());
        reply.set_error("malformed launch request");
      } else if (Status allowed = CheckLaunchRequest(bounds, request); !allowed.ok()) {
        reply.set_sandbox_id(request.sandbox_id());
        reply.set_error(allowed.message());
      } else if (request.from_zygote()) {
        zygotes.Fork(request, std::move(frame.fds));  // answered when done
        continue;
      } else {
        reply.set_sandbox_id(request.sandbox_id());
        SandboxFds fds{};
        for (int i = 0; i < kSandboxFdCount; ++i)
          fds.fd[i] = frame.fds[static_cast<std::size_t>(i)].get();
        // A clone without a zygote takes no step that waits for the child: answered at once.
        auto launched = CloneSandbox(request, fds, socket_fd, sigfd);
        if (launched.ok()) {
          reply.set_ok(true);
          reply.set_pid(launched->pid);
          answer(reply, std::move(launched->pidfd));
          continue;
        }
        reply.set_error(launched.status().message());
      }
      answer(reply, UniqueFd());
    }
  }
  return 1;
}

}  // namespace sandboxd
