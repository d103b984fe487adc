#include "launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "launch_bounds.h"
#include "sandbox/descriptors.h"
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

StatusOr<std::unique_ptr<LauncherClient>> LauncherClient::Start(
    const internal::LaunchBounds& bounds, RootHelper* helper,
    std::chrono::milliseconds call_timeout) {
  if (Status s = CheckLaunchBounds(bounds); !s.ok()) return s;
  if (helper == nullptr) return Status(ErrorCode::kInternal, "the launcher needs the root helper");
  auto client = std::unique_ptr<LauncherClient>(new LauncherClient(bounds, helper, call_timeout));
  std::lock_guard lock(client->mu_);
  if (Status s = client->Spawn(); !s.ok()) return s;
  return client;
}

Status LauncherClient::Spawn() {
  auto started = helper_->StartLauncher();
  if (!started.ok()) return started.status();
  socket_ = std::move(started->socket);
  pid_ = started->pid;
  pidfd_ = std::move(started->pidfd);
  // A send to a launcher that stopped reading fails after the call timeout instead of blocking.
  const auto ms = call_timeout_.count();
  timeval send_timeout{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
  if (::setsockopt(socket_.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout) != 0)
    return Status(ErrorCode::kInternal, Errno("set the launcher socket's send timeout"));
  // The first frame, and the only one the launcher takes without checking it.
  std::string payload;
  bounds_.SerializeToString(&payload);
  if (Status s = SendFrame(socket_.get(), payload); !s.ok())
    return Status(ErrorCode::kInternal, "the launcher did not take its bounds: " + s.message());
  return Status::Ok();
}

void LauncherClient::Stop() {
  socket_.reset();  // a healthy launcher exits on EOF
  if (!pidfd_) return;
  const auto exited = [&](int timeout_ms) {
    pollfd pfd{pidfd_.get(), POLLIN, 0};
    for (;;) {
      const int n = ::poll(&pfd, 1, timeout_ms);
      if (n < 0 && errno == EINTR) continue;
      return n != 0;  // an error too: there is nothing left to wait for
    }
  };
  // A wedged (or stopped) one does not: it gets a few seconds, then SIGKILL.
  if (!exited(5000)) {
    KillByPidfd(pidfd_.get());
    exited(-1);
  }
  pidfd_.reset();
  pid_ = -1;
}

void LauncherClient::Replace(const std::string& why) {
  spdlog::error("the launcher (pid {}) {}: restarting it; its sandboxes and zygotes end with it",
                pid_, why);
  // SIGKILL at once: a launcher that missed its bound gets no more time.
  if (pidfd_) KillByPidfd(pidfd_.get());
  Stop();
  ++restarts_;
  if (Status s = Spawn(); !s.ok()) {
    // The next call tries again.
    spdlog::error("the launcher could not be restarted: {}", s.message());
    socket_.reset();
  }
}

unsigned LauncherClient::restarts() const {
  std::lock_guard lock(mu_);
  return restarts_;
}

LauncherClient::~LauncherClient() {
  std::lock_guard lock(mu_);
  Stop();
}

StatusOr<LauncherClient::Reply> LauncherClient::Call(const internal::LaunchRequest& request,
                                                     std::span<const int> fds) {
  std::lock_guard lock(mu_);
  if (!socket_) {
    Replace("was lost at its last restart");
    if (!socket_) return Status(ErrorCode::kInternal, "no launcher is running");
  }
  std::string payload;
  request.SerializeToString(&payload);
  if (Status s = SendFrame(socket_.get(), payload, fds); !s.ok()) {
    Replace("did not take a request (" + s.message() + ")");
    return Status(ErrorCode::kInternal, "launcher unreachable: " + s.message());
  }
  const auto deadline = std::chrono::steady_clock::now() + call_timeout_;
  FrameReader reader(1 << 20, 1);
  while (!reader.HasFrame()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{socket_.get(), POLLIN, 0};
    const int ready = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      Replace("did not answer within " + std::to_string(call_timeout_.count()) + " ms");
      return Status(ErrorCode::kInternal,
                    "the launcher did not answer in time and was restarted; retry the request");
    }
    auto state = ready > 0 ? reader.ReadFrom(socket_.get())
                           : StatusOr<FrameReader::ReadState>(
                                 Status(ErrorCode::kInternal, Errno("poll the launcher")));
    if (!state.ok() || *state == FrameReader::ReadState::kClosed) {
      const std::string what = state.ok() ? "closed its socket" : state.status().message();
      Replace("is gone (" + what + ")");
      return Status(ErrorCode::kInternal, "the launcher ended and was restarted: " + what);
    }
  }
  Frame frame = reader.Next();
  Reply reply;
  if (!reply.reply.ParseFromString(frame.payload) ||
      reply.reply.sandbox_id() != request.sandbox_id()) {
    Replace("answered with a malformed reply");
    return Status(ErrorCode::kInternal, "launcher answered with a malformed reply");
  }
  reply.fds = std::move(frame.fds);
  return reply;
}

StatusOr<LaunchedSandbox> LauncherClient::Launch(const internal::LaunchRequest& request,
                                                 const SandboxFds& fds, bool* zygote_failed) {
  if (zygote_failed != nullptr) *zygote_failed = false;
  auto reply = Call(request, std::span<const int>(fds.fd, kSandboxFdCount));
  if (!reply.ok()) return reply.status();
  if (!reply->reply.ok()) {
    if (zygote_failed != nullptr) *zygote_failed = reply->reply.zygote_failed();
    return Status(ErrorCode::kInternal, "launching the sandbox failed: " + reply->reply.error());
  }
  if (reply->fds.size() != 1) return Status(ErrorCode::kInternal, "launcher sent no pidfd");
  LaunchedSandbox launched;
  launched.pid = reply->reply.pid();
  launched.pidfd = std::move(reply->fds[0]);
  launched.zygote_restarted = reply->reply.zygote_restarted();
  return launched;
}

Status LauncherClient::RestartZygotes() {
  internal::LaunchRequest request;
  request.set_restart_zygotes(true);
  auto reply = Call(request, {});
  if (!reply.ok() || !reply->reply.ok())
    return {ErrorCode::kInternal, "the launcher did not restart its zygotes"};
  return Status::Ok();
}

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
  Zygotes zygotes;
  for (;;) {
    pollfd pfds[2] = {{socket_fd, POLLIN, 0}, {sigfd, POLLIN, 0}};
    // A frame read together with the bounds (or an earlier one) waits in the reader: no sleep.
    if (::poll(pfds, 2, reader.HasFrame() ? 0 : -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if ((pfds[1].revents & POLLIN) != 0) {
      signalfd_siginfo info;
      while (::read(sigfd, &info, sizeof(info)) > 0) {
      }
      for (pid_t reaped; (reaped = ::waitpid(-1, nullptr, WNOHANG | __WALL)) > 0;) {
        g_liveness_pipes.erase(reaped);
        zygotes.Reaped(reaped);
      }
    }
    if ((pfds[0].revents & (POLLIN | POLLHUP)) != 0) {
      auto state = reader.ReadFrom(socket_fd);
      if (!state.ok() || *state == FrameReader::ReadState::kClosed) return 0;
    }
    while (reader.HasFrame()) {
      Frame frame = reader.Next();
      internal::LaunchRequest request;
      internal::LaunchReply reply;
      UniqueFd pidfd;
      if (!request.ParseFromString(frame.payload)) {
        reply.set_error("malformed launch request");
      } else if (request.restart_zygotes()) {
        zygotes.StopAll();
        reply.set_ok(true);
      } else if (frame.fds.size() != kSandboxFdCount) {
        reply.set_error("malformed launch request");
      } else if (Status allowed = CheckLaunchRequest(bounds, request); !allowed.ok()) {
        reply.set_sandbox_id(request.sandbox_id());
        reply.set_error(allowed.message());
      } else {
        reply.set_sandbox_id(request.sandbox_id());
        SandboxFds fds{};
        for (int i = 0; i < kSandboxFdCount; ++i)
          fds.fd[i] = frame.fds[static_cast<std::size_t>(i)].get();
        UniqueFd liveness;
        bool zygote_failed = false;
        auto launched = request.from_zygote() ? zygotes.Fork(request, fds, liveness, zygote_failed)
                                              : CloneSandbox(request, fds, socket_fd, sigfd);
        reply.set_zygote_failed(!launched.ok() && zygote_failed);
        if (launched.ok() && liveness) g_liveness_pipes[launched->pid] = std::move(liveness);
        if (launched.ok()) {
          reply.set_ok(true);
          reply.set_pid(launched->pid);
          reply.set_zygote_restarted(launched->zygote_restarted);
          pidfd = std::move(launched->pidfd);
        } else {
          reply.set_error(launched.status().message());
        }
      }
      std::string payload;
      reply.SerializeToString(&payload);
      const int pidfd_raw = pidfd.get();
      const Status sent = pidfd ? SendFrame(socket_fd, payload, std::span<const int>(&pidfd_raw, 1))
                                : SendFrame(socket_fd, payload);
      if (!sent.ok()) return 1;
    }
  }
}

}  // namespace sandboxd
