#include "root_helper.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <vector>

#include "launcher/launcher_main.h"
#include "sandboxd/fd_passing.h"

namespace sandboxd {
namespace {

// The messages: a 4-byte operation, with one descriptor for kKill. The helper answers
// kStartLauncher with a pid and an errno, and the launcher's socket and pidfd; kRemoveFiles with
// its 4 bytes back once the files are gone (the daemon exits only then, so a successor that binds
// the same socket path cannot lose its socket to a late removal).
enum Op : std::uint32_t { kStartLauncher = 1, kKill = 2, kRemoveFiles = 3 };
struct StartReply {
  std::int32_t pid;
  std::int32_t error;  // errno of the step that failed; 0: ok
};
// A launcher start is a fork: this only bounds a helper that is gone or wedged.
constexpr int kReplyTimeoutS = 30;

std::atomic<RootHelper*> g_helper{nullptr};

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Sends `size` bytes with up to two descriptors as one SOCK_SEQPACKET message.
bool SendMessage(int socket, const void* data, std::size_t size, std::span<const int> fds) {
  const iovec iov{const_cast<void*>(data), size};
  return SendWithFds(socket, std::span<const iovec>(&iov, 1), fds, MSG_NOSIGNAL) ==
         static_cast<ssize_t>(size);
}

// One message into `data` (its size is returned; 0 at EOF, -1 on error or a truncated message);
// the descriptors that came with it go to `fds`, all of them, so none leaks.
ssize_t ReceiveMessage(int socket, void* data, std::size_t size, std::vector<UniqueFd>& fds) {
  int message_flags = 0;
  const ssize_t got = ReceiveWithFds(socket, data, size, fds, &message_flags);
  if (got < 0) return -1;
  if ((message_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    errno = EMSGSIZE;
    return -1;
  }
  return got;
}

// The number after `key` (e.g. "\nPid:") in a /proc text, or nullopt.
std::optional<long> NumberAfter(const std::string& text, const std::string& key) {
  const auto at = text.find(key);
  if (at == std::string::npos) return std::nullopt;
  const char* start = text.c_str() + at + key.size();
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(start, &end, 10);
  if (end == start || errno != 0) return std::nullopt;
  return value;
}

// The whole of a small /proc file, "" if it cannot be read (a process that is exiting gives
// ESRCH). Plain read(2): a stream would throw on that error, and the helper must not stop.
std::string ReadText(const std::string& path) {
  std::string text;
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0 ? text : std::string();
    text.append(buf, static_cast<std::size_t>(n));
  }
}

// The pid a pidfd refers to (-1: it has exited), or nullopt when `fd` is no pidfd.
std::optional<pid_t> PidOfPidfd(int fd) {
  const auto pid = NumberAfter(ReadText("/proc/self/fdinfo/" + std::to_string(fd)), "\nPid:");
  if (!pid) return std::nullopt;
  return static_cast<pid_t>(*pid);
}

void Log(const std::string& line) {
  std::fprintf(stderr, "sandboxd root helper: %s\n", line.c_str());
}

class Helper {
 public:
  Helper(int socket, const RootHelper::Bounds& bounds) : socket_(socket), bounds_(bounds) {}

  void Reap() {
    for (pid_t reaped; (reaped = ::waitpid(-1, nullptr, WNOHANG)) > 0;) launchers_.erase(reaped);
  }

  // At the daemon's exit: its launchers go too, reaped here (no one else would reap them).
  void EndLaunchers() {
    for (pid_t pid : launchers_) ::kill(pid, SIGKILL);
    for (pid_t pid : launchers_) {
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    launchers_.clear();
  }

  // false: the daemon is gone (EOF) or the socket failed: the helper exits.
  bool Serve() {
    std::uint32_t op = 0;
    std::vector<UniqueFd> fds;
    const ssize_t got = ReceiveMessage(socket_, &op, sizeof op, fds);
    if (got == 0) return false;
    if (got < 0) return errno == EAGAIN || errno == EMSGSIZE;  // a truncated one is dropped
    if (got != sizeof op) return true;                         // malformed: dropped
    if (op == kStartLauncher && fds.empty()) return StartLauncher();
    if (op == kKill && fds.size() == 1) {
      Kill(fds[0].get());
      return true;
    }
    if (op == kRemoveFiles && fds.empty()) {
      Remove(bounds_.socket_path, S_IFSOCK);
      Remove(bounds_.claim_path, S_IFREG);
      return SendMessage(socket_, &op, sizeof op, {});
    }
    Log("dropped a malformed message (operation " + std::to_string(op) + ")");
    return true;
  }

 private:
  bool StartLauncher() {
    StartReply reply{-1, 0};
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      reply.error = errno;
      return SendMessage(socket_, &reply, sizeof reply, {});
    }
    UniqueFd ours(pair[0]), theirs(pair[1]);
    const std::string parent = std::to_string(::getpid());
    const char* argv[] = {"sandboxd-launcher", kLauncherModeFlag, parent.c_str(), nullptr};
    const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
    const pid_t pid = ::fork();
    if (pid < 0) {
      reply.error = errno;
      return SendMessage(socket_, &reply, sizeof reply, {});
    }
    if (pid == 0) {
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) ::_exit(127);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      if (::dup2(theirs.get(), 3) != 3) ::_exit(127);
      ::syscall(SYS_close_range, 4U, ~0U, 0U);
      ::execve("/proc/self/exe", const_cast<char**>(argv), const_cast<char**>(envp));
      ::_exit(127);
    }
    theirs.reset();
    launchers_.insert(pid);
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) {
      reply.error = errno;
      ::kill(pid, SIGKILL);
      return SendMessage(socket_, &reply, sizeof reply, {});
    }
    reply.pid = pid;
    const int fds[] = {ours.get(), pidfd.get()};
    return SendMessage(socket_, &reply, sizeof reply, fds);
  }

  void Kill(int pidfd) {
    const auto pid = PidOfPidfd(pidfd);
    if (!pid) return Log("refused a kill: the descriptor is not a pidfd");
    if (*pid <= 0) return;  // it has exited already
    // (Were the pid reused since, what is read below is another process's, but the signal still
    // goes only to the pidfd's own process, which has exited then: ESRCH.)
    if (DescendsFromALauncher(*pid)) {
      // A launcher, a sandbox's init (also while it still holds the launcher's ids, before it
      // took its slot's), a zygote or a zygote's child.
      if (::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) != 0 && errno != ESRCH)
        Log(Errno("kill pid " + std::to_string(*pid)));
      return;
    }
    uid_t as = 0;
    const std::string status = ReadText("/proc/" + std::to_string(*pid) + "/status");
    if (status.empty()) return;  // it is exiting, or gone
    if (!SlotOwnedProcess(status, bounds_.uid_first, bounds_.uid_count, &as)) {
      const auto uids = status.find("\nUid:");
      return Log(
          "refused to kill pid " + std::to_string(*pid) +
          ": it does not descend from a launcher and does not run as a sandbox slot's uid (" +
          (uids == std::string::npos
               ? std::string("no Uid line")
               : status.substr(uids + 1, status.find('\n', uids + 1) - uids - 1)) +
          ")");
    }
    // A sandbox process whose parent is gone (reparented away from its launcher): as the slot's
    // uid, so the kernel's own permission check holds too.
    if (::setresuid(-1, as, -1) != 0) return Log(Errno("become uid " + std::to_string(as)));
    const int sent = static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0));
    const int err = errno;
    // Without root again the helper could start no launcher: better to stop than limp on.
    if (::setresuid(-1, 0, -1) != 0) ::_exit(1);
    if (sent != 0 && err != ESRCH)
      Log("kill pid " + std::to_string(*pid) + " as uid " + std::to_string(as) + ": " +
          std::strerror(err));
  }

  // Whether `pid` is one of this helper's launchers or below one (host pids, by PPid).
  bool DescendsFromALauncher(pid_t pid) const {
    for (int depth = 0; depth < 64 && pid > 1; ++depth) {
      if (launchers_.contains(pid)) return true;
      const auto parent =
          NumberAfter(ReadText("/proc/" + std::to_string(pid) + "/status"), "\nPPid:");
      if (!parent) return false;
      pid = static_cast<pid_t>(*parent);
    }
    return false;
  }

  // Unlinks `path` if it is of `type` (S_IFSOCK, S_IFREG): a symlink or a folder put there
  // instead is left alone.
  static void Remove(const std::string& path, mode_t type) {
    struct stat st {};
    if (path.empty() || ::lstat(path.c_str(), &st) != 0 || (st.st_mode & S_IFMT) != type) return;
    if (::unlink(path.c_str()) != 0) Log(Errno("remove " + path));
  }

  const int socket_;
  const RootHelper::Bounds bounds_;
  std::set<pid_t> launchers_;
};

}  // namespace

bool SlotOwnedProcess(const std::string& status_text, std::uint32_t uid_first,
                      std::uint32_t uid_count, uid_t* as_uid) {
  const auto at = status_text.find("\nUid:");
  if (at == std::string::npos) return false;
  std::istringstream line(status_text.substr(at + 5, status_text.find('\n', at + 1) - at - 5));
  std::uint64_t uid = 0;
  int n = 0;
  for (; n < 4 && (line >> uid); ++n) {
    if (uid == 0 || uid < uid_first || uid - uid_first >= uid_count) return false;
    if (n == 0) *as_uid = static_cast<uid_t>(uid);
  }
  return n == 4;
}

StatusOr<std::unique_ptr<RootHelper>> RootHelper::Start(const Bounds& bounds) {
  if (bounds.uid_first == 0 || bounds.uid_count == 0 || bounds.socket_path.empty() ||
      bounds.claim_path.empty())
    return Status(ErrorCode::kInternal,
                  "the root helper needs the slots' uid range, the socket and the claim");
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return Status(ErrorCode::kInternal, Errno("socketpair for the root helper"));
  const std::string daemon_pid = std::to_string(::getpid());
  const std::string first = std::to_string(bounds.uid_first);
  const std::string count = std::to_string(bounds.uid_count);
  const char* argv[] = {
      "sandboxd-helper", kRootHelperModeFlag,        daemon_pid.c_str(),        first.c_str(),
      count.c_str(),     bounds.socket_path.c_str(), bounds.claim_path.c_str(), nullptr};
  const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
  const pid_t pid = ::fork();
  if (pid < 0) {
    const std::string err = Errno("fork the root helper");
    ::close(pair[0]);
    ::close(pair[1]);
    return Status(ErrorCode::kInternal, err);
  }
  if (pid == 0) {
    // Dies with the daemon's main thread, which forks it at start and lives until the end.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) ::_exit(127);
    if (::dup2(pair[1], 3) < 0) ::_exit(127);
    ::syscall(SYS_close_range, 4U, ~0U, 0U);
    ::execve("/proc/self/exe", const_cast<char**>(argv), const_cast<char**>(envp));
    ::_exit(127);
  }
  ::close(pair[1]);
  auto helper = std::unique_ptr<RootHelper>(new RootHelper);
  helper->socket_.reset(pair[0]);
  helper->pid_ = pid;
  timeval timeout{kReplyTimeoutS, 0};
  if (::setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
      ::setsockopt(pair[0], SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) != 0)
    return Status(ErrorCode::kInternal, Errno("set the root helper's socket timeouts"));
  return helper;
}

// Without its helper a daemon that dropped root can neither replace a launcher (its own went
// with the helper: PR_SET_PDEATHSIG) nor stop a sandbox: it ends at once, with a failure status,
// so that its service manager starts a whole new one (Restart=on-failure).
namespace {
[[noreturn]] void HelperLost(const std::string& why) {
  spdlog::critical(
      "the root helper is gone ({}): the daemon cannot launch or stop sandboxes "
      "without it and exits",
      why);
  spdlog::default_logger()->flush();
  std::_Exit(1);
}
}  // namespace

Status RootHelper::Send(std::uint32_t op, int fd) {
  if (!socket_) return Status(ErrorCode::kInternal, "the root helper is gone");
  const int fds[] = {fd};
  if (!SendMessage(socket_.get(), &op, sizeof op,
                   fd >= 0 ? std::span<const int>(fds) : std::span<const int>())) {
    if (errno == EPIPE || errno == ECONNRESET) HelperLost(Errno("write"));
    return Status(ErrorCode::kInternal, Errno("write to the root helper"));
  }
  return Status::Ok();
}

StatusOr<RootHelper::Launcher> RootHelper::StartLauncher() {
  std::lock_guard lock(mu_);
  if (Status s = Send(kStartLauncher, -1); !s.ok()) return s;
  StartReply reply{};
  std::vector<UniqueFd> fds;
  const ssize_t got = ReceiveMessage(socket_.get(), &reply, sizeof reply, fds);
  if (got == 0) HelperLost("it closed its socket");
  if (got != sizeof reply)
    return Status(ErrorCode::kInternal, got == 0 ? std::string("the root helper is gone")
                                                 : Errno("read the root helper's answer"));
  if (reply.error != 0)
    return Status(
        ErrorCode::kInternal,
        std::string("the root helper could not start a launcher: ") + std::strerror(reply.error));
  if (fds.size() != 2 || reply.pid <= 0)
    return Status(ErrorCode::kInternal, "the root helper's answer is malformed");
  Launcher launcher;
  launcher.socket = std::move(fds[0]);
  launcher.pid = reply.pid;
  launcher.pidfd = std::move(fds[1]);
  return launcher;
}

void RootHelper::Kill(int pidfd) {
  std::lock_guard lock(mu_);
  if (Status s = Send(kKill, pidfd); !s.ok()) spdlog::error("kill through {}", s.message());
}

void RootHelper::RemoveFiles() {
  std::lock_guard lock(mu_);
  std::uint32_t done = 0;
  std::vector<UniqueFd> fds;
  if (Status s = Send(kRemoveFiles, -1); !s.ok())
    spdlog::error("removing the socket and claim through {}", s.message());
  else if (ReceiveMessage(socket_.get(), &done, sizeof done, fds) != sizeof done)
    spdlog::error("the root helper did not confirm the removal of the socket and claim");
}

RootHelper::~RootHelper() {
  socket_.reset();
  if (pid_ > 0) {
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

void SetRootHelper(RootHelper* helper) { g_helper = helper; }

void KillByPidfd(int pidfd) {
  if (pidfd < 0) return;
  if (::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0 || errno != EPERM) return;
  if (RootHelper* helper = g_helper.load(); helper != nullptr) helper->Kill(pidfd);
}

void KillByPid(pid_t pid) {
  if (pid <= 0) return;
  if (::kill(pid, SIGKILL) == 0 || errno != EPERM || g_helper.load() == nullptr) return;
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd) KillByPidfd(pidfd.get());
}

int RunRootHelper(int socket_fd, pid_t daemon_pid, const RootHelper::Bounds& bounds) {
  if (::prctl(PR_SET_NAME, "sandboxd-helper", 0, 0, 0) != 0) return 1;
  if (::getppid() != daemon_pid) return 1;  // the daemon died before PDEATHSIG was set
  if (bounds.uid_first == 0 || bounds.uid_count == 0 || bounds.socket_path.empty() ||
      bounds.claim_path.empty())
    return 1;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (::sigprocmask(SIG_BLOCK, &chld, nullptr) != 0) return 1;
  const UniqueFd sigfd(::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd) return 1;
  Helper helper(socket_fd, bounds);
  for (;;) {
    pollfd pfds[2] = {{socket_fd, POLLIN, 0}, {sigfd.get(), POLLIN, 0}};
    if (::poll(pfds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if ((pfds[1].revents & POLLIN) != 0) {
      signalfd_siginfo info;
      while (::read(sigfd.get(), &info, sizeof info) > 0) {
      }
      helper.Reap();
    }
    if ((pfds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !helper.Serve()) {
      helper.EndLaunchers();
      return 0;
    }
  }
}

}  // namespace sandboxd
