#include "launcher/zygotes.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "sandbox/descriptors.h"
#include "sandbox_host.h"
#include "sandboxd/framing.h"

namespace sandboxd {
namespace {

// A zygote imports numpy, pandas and the image's preloads (torch, in the ML image) before it is
// ready; on a loaded 2-core machine that can take many seconds.
constexpr int kStartTimeoutMs = 120'000;
// A fork and the sandbox's own mounts take milliseconds; this only bounds a zygote or a child
// that hangs, so that the launcher (and every launch behind it) never waits for ever.
constexpr int kStepTimeoutMs = 20'000;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string KeyOf(const internal::LaunchRequest& request) {
  std::string key =
      request.rootfs() + '\n' + request.runtime_dir() + '\n' + request.zygote_module_dir();
  for (const auto& arg : request.argv()) key += '\n' + arg;
  return key;
}

// Waits for `fd` to be readable; false on timeout or error.
bool WaitReadable(int fd, int timeout_ms) {
  pollfd pfd{fd, POLLIN, 0};
  for (;;) {
    const int n = ::poll(&pfd, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    return n == 1;
  }
}

// One byte from the sandbox on the sync socket, within the step's time.
bool AwaitSandbox(int sync, char expected) {
  if (!WaitReadable(sync, kStepTimeoutMs)) return false;
  char got = 0;
  return ::read(sync, &got, 1) == 1 && got == expected;
}

// Whether the child `pid` exits within `timeout_ms`; it is left for the launcher's loop to reap.
// A zygote killed closes its socket (which fails the fork) a moment before it becomes a zombie,
// so a fork that found it gone waits that moment before calling it merely unresponsive.
bool ExitsWithin(pid_t pid, int timeout_ms) {
  const UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return true;  // no such process: reaped already
  return WaitReadable(pidfd.get(), timeout_ms);
}

}  // namespace

StatusOr<Zygotes::Zygote> Zygotes::Start(const internal::LaunchRequest& request) {
  if (request.argv().empty()) return Status(ErrorCode::kInternal, "the zygote has no command");
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    return Status(ErrorCode::kInternal, Errno("socketpair for a zygote"));
  UniqueFd ours(pair[0]);
  // Host root still (it gives each child its mounts and slot uid), but in namespaces of its own:
  // its tree is the image, it has no network, and it never runs request code.
  const long pid =
      ::syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
                nullptr, nullptr, nullptr, 0);
  if (pid < 0) {
    ::close(pair[1]);
    return Status(ErrorCode::kInternal, Errno("clone a zygote"));
  }
  if (pid == 0) {
    CloseAllExcept({pair[1], 2});  // stderr: the daemon's log
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    sigset_t none;  // the launcher blocks SIGCHLD for its signalfd
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setsid();
    if (auto err = SetUpZygoteMountNamespace(request.rootfs(), request.runtime_dir(),
                                             request.zygote_module_dir());
        !err.empty()) {
      std::fprintf(stderr, "sandboxd zygote: %s\n", err.c_str());
      ::_exit(1);
    }
    if (::dup2(pair[1], 3) != 3) ::_exit(1);  // dup2 leaves fd 3 open across exec
    // stdin and stdout exist (/dev/null), so the interpreter makes sys.stdin and sys.stdout: in
    // each UDF they are its own fds 0 and 1 (the output pipe), as in a launched runner. Opened
    // without O_CLOEXEC: with 0 and 1 closed it lands on 0 itself, and dup2(0, 0) would leave a
    // close-on-exec flag on it.
    const int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd < 0 || ::dup2(null_fd, 0) != 0 || ::dup2(null_fd, 1) != 1) ::_exit(1);
    if (null_fd > 1) ::close(null_fd);
    std::vector<char*> argv;
    for (const auto& arg : request.argv()) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    // Single-threaded while it forks: every math library's pool at one thread. Each child sets
    // its own from its CPU limit (sandboxd_runtime/zygote.py).
    const char* envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
                          "LANG=C.UTF-8",
                          "LC_ALL=C.UTF-8",
                          "HOME=/tmp",
                          "TMPDIR=/tmp",
                          "PYTHONDONTWRITEBYTECODE=1",
                          "MPLBACKEND=Agg",
                          "OMP_NUM_THREADS=1",
                          "OPENBLAS_NUM_THREADS=1",
                          "MKL_NUM_THREADS=1",
                          "NUMEXPR_NUM_THREADS=1",
                          nullptr};
    ::execve(argv[0], argv.data(), const_cast<char**>(envp));
    std::fprintf(stderr, "sandboxd zygote: execve %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pair[1]);
  Zygote zygote;
  zygote.pid = static_cast<pid_t>(pid);
  zygote.socket = std::move(ours);
  zygote.started = std::chrono::steady_clock::now();
  // It says it is ready once everything is imported.
  auto fail = [&](const std::string& why) {
    ::kill(zygote.pid, SIGKILL);
    return Status(ErrorCode::kInternal, "the zygote of " + request.rootfs() + " " + why);
  };
  if (!WaitReadable(zygote.socket.get(), kStartTimeoutMs))
    return fail("was not ready within " + std::to_string(kStartTimeoutMs / 1000) + " s");
  FrameReader reader(1 << 20, 0);
  auto frame = reader.ReadOne(zygote.socket.get());
  if (!frame.ok()) return fail("ended before it was ready (its error is in the log above)");
  internal::LaunchReply ready;
  if (!ready.ParseFromString(frame->payload) || !ready.ok())
    return fail("did not start: " + ready.error());
  return zygote;
}

StatusOr<Zygotes::Zygote*> Zygotes::Get(const internal::LaunchRequest& request,
                                        std::string& restarted) {
  const std::string key = KeyOf(request);
  auto it = zygotes_.find(key);
  if (it != zygotes_.end() && std::chrono::steady_clock::now() - it->second.started > kMaxAge) {
    Stop(key, "aged");
    it = zygotes_.end();
  }
  if (it == zygotes_.end()) {
    auto started = Start(request);
    if (!started.ok()) return started.status();
    it = zygotes_.emplace(key, std::move(*started)).first;
    if (auto ended = ended_.find(key); ended != ended_.end()) {
      restarted = std::move(ended->second);
      ended_.erase(ended);
    }
  }
  return &it->second;
}

void Zygotes::Stop(const std::string& key, const char* why) {
  auto it = zygotes_.find(key);
  if (it == zygotes_.end()) return;
  // Reaped by the launcher's loop; its children are the launcher's and run on.
  ::kill(it->second.pid, SIGKILL);
  ended_[key] = why;  // before the erase: `key` may be the erased entry's own
  zygotes_.erase(it);
}

void Zygotes::StopAll() {
  while (!zygotes_.empty()) Stop(zygotes_.begin()->first, "reload");
}

void Zygotes::Reaped(pid_t pid) {
  for (auto it = zygotes_.begin(); it != zygotes_.end(); ++it) {
    if (it->second.pid == pid) {
      ended_[it->first] = "died";
      zygotes_.erase(it);
      return;
    }
  }
}

StatusOr<LaunchedSandbox> Zygotes::Fork(const internal::LaunchRequest& request,
                                        const SandboxFds& fds, UniqueFd& liveness,
                                        bool& start_failed) {
  start_failed = false;
  // A zygote that died or stopped answering is replaced once; a second failure is the answer.
  std::string restarted;
  for (int attempt = 0;; ++attempt) {
    auto zygote = Get(request, restarted);
    if (!zygote.ok()) {
      start_failed = true;
      return zygote.status();
    }
    bool zygote_failed = false;
    auto forked = ForkFrom(**zygote, request, fds, liveness, zygote_failed);
    if (forked.ok()) forked->zygote_restarted = restarted;
    if (forked.ok() || !zygote_failed) return forked;
    // A zygote that died is often found so, by the fork, before the launcher's loop reaps it.
    Stop(KeyOf(request), ExitsWithin((*zygote)->pid, 1000) ? "died" : "unresponsive");
    if (attempt == 1) return forked;
  }
}

StatusOr<LaunchedSandbox> Zygotes::ForkFrom(Zygote& zygote, const internal::LaunchRequest& request,
                                            const SandboxFds& fds, UniqueFd& liveness,
                                            bool& zygote_failed) {
  int sync_pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync_pair) != 0)
    return Status(ErrorCode::kInternal, Errno("socketpair for a sandbox"));
  UniqueFd sync(sync_pair[0]);
  UniqueFd theirs(sync_pair[1]);
  internal::LaunchRequest forwarded = request;
  // The limits view's memory cgroup files: the child cannot see the cgroupfs from inside the
  // zygote's tree. All three or none ride with the frame.
  const MemoryCgroupFds opened = OpenMemoryCgroupFiles(request);
  std::vector<UniqueFd> memory;
  for (int fd : {opened.limit, opened.usage, opened.stat}) memory.emplace_back(fd);
  if (!memory[0] || !memory[1] || !memory[2]) memory.clear();
  forwarded.set_memory_cgroup_v2(opened.v2);
  std::vector<int> sent(fds.fd, fds.fd + kSandboxFdCount);
  sent.push_back(theirs.get());
  // The request's folders, as detached copies of their mount trees: the child's mount namespace
  // (a copy of the zygote's, whose root is the image) cannot name host paths.
  std::vector<UniqueFd> trees;
  for (const std::string* dir : {&request.artifacts_dir(), &request.site_dir()}) {
    if (dir->empty()) continue;
    trees.emplace_back(
        ::open_tree(AT_FDCWD, dir->c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (!trees.back()) return Status(ErrorCode::kInternal, Errno("open_tree " + *dir));
    sent.push_back(trees.back().get());
  }
  for (const auto& fd : memory) sent.push_back(fd.get());
  std::string payload;
  forwarded.SerializeToString(&payload);
  if (Status s = SendFrame(zygote.socket.get(), payload, sent); !s.ok()) {
    zygote_failed = true;
    return Status(ErrorCode::kInternal, "the zygote is unreachable: " + s.message());
  }
  theirs.reset();

  if (!WaitReadable(zygote.socket.get(), kStepTimeoutMs)) {
    zygote_failed = true;
    return Status(ErrorCode::kInternal, "the zygote did not answer");
  }
  FrameReader reader(1 << 20, 1);
  auto frame = reader.ReadOne(zygote.socket.get());
  if (!frame.ok()) {
    zygote_failed = true;
    return Status(ErrorCode::kInternal, "the zygote ended: " + frame.status().message());
  }
  internal::LaunchReply reply;
  if (!reply.ParseFromString(frame->payload) || reply.sandbox_id() != request.sandbox_id())
    return Status(ErrorCode::kInternal, "the zygote answered with a malformed reply");
  if (!reply.ok())
    return Status(ErrorCode::kInternal, "forking the sandbox failed: " + reply.error());
  if (frame->fds.size() != 1 || reply.pid() <= 0)
    return Status(ErrorCode::kInternal, "the zygote sent no pidfd");
  LaunchedSandbox launched;
  launched.pid = reply.pid();
  launched.pidfd = std::move(frame->fds[0]);

  auto fail = [&](Status status) {
    ::syscall(SYS_pidfd_send_signal, launched.pidfd.get(), SIGKILL, nullptr, 0);
    return status;
  };
  // The child waits for its cgroups ('C'), creates its user namespace ('U'), and waits for its
  // id maps ('G'); then it is on its own.
  if (Status s = EnterCgroups(launched.pid, request); !s.ok()) return fail(s);
  if (::write(sync.get(), "C", 1) != 1)
    return fail({ErrorCode::kInternal, Errno("start the sandbox")});
  if (!AwaitSandbox(sync.get(), 'U'))
    return fail({ErrorCode::kInternal,
                 "the sandbox's setup failed before its user namespace (see its status report)"});
  if (Status s = MapSandboxIds(launched.pid, request); !s.ok()) return fail(s);
  if (::write(sync.get(), "G", 1) != 1)
    return fail({ErrorCode::kInternal, Errno("start the sandbox")});
  liveness = std::move(sync);
  return launched;
}

}  // namespace sandboxd
