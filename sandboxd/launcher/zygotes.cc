#include "launcher/zygotes.h"

#include <fcntl.h>
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
#include <utility>
#include <vector>

#include "sandbox/descriptors.h"
#include "sandbox/limits_view.h"
#include "sandbox/sandbox_spec.h"
#include "sandbox_host.h"

namespace sandboxd {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string KeyOf(const internal::LaunchRequest& request) {
  std::string key =
      request.rootfs() + '\n' + request.runtime_dir() + '\n' + request.zygote_module_dir();
  for (const auto& arg : request.argv()) key += '\n' + arg;
  return key;
}

int MsUntil(Zygotes::Clock::time_point deadline, Zygotes::Clock::time_point now) {
  if (deadline <= now) return 0;
  // Rounded up: a round that wakes a moment early would find nothing expired and spin.
  return static_cast<int>(
             std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count()) +
         1;
}

void Lower(int& timeout_ms, int candidate) {
  if (timeout_ms < 0 || candidate < timeout_ms) timeout_ms = candidate;
}

// The zygote's process, from the launcher's clone to its exec: `socket` becomes its fd 3.
[[noreturn]] void ExecZygote(int socket, const internal::LaunchRequest& request) {
  CloseAllExcept({socket, 2});  // stderr: the daemon's log
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
  if (::dup2(socket, 3) != 3) ::_exit(1);  // dup2 leaves fd 3 open across exec
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

}  // namespace

void Zygotes::Fork(const internal::LaunchRequest& request, std::vector<UniqueFd> fds) {
  const std::uint64_t id = next_id_++;
  Launch& launch = launches_[id];
  launch.request = request;
  launch.key = KeyOf(request);
  launch.fds = std::move(fds);
  Enqueue(id);
}

void Zygotes::Enqueue(std::uint64_t id) {
  Launch& launch = launches_.at(id);
  launch.step = Step::kQueued;
  launch.sync.reset();  // a child forked for an earlier attempt reads EOF and ends
  // A copy: Pump may end this launch (and so its key) and then still need the key.
  const std::string key = launch.key;
  auto it = zygotes_.find(key);
  if (it != zygotes_.end() && Clock::now() - it->second.started > kMaxAge) {
    Stop(key, "aged", /*retry_all=*/true);
    it = zygotes_.find(key);
  }
  if (it == zygotes_.end()) {
    if (Status started = Start(key, launch.request); !started.ok())
      return Fail(id, started.message(), /*zygote_failed=*/true);
    it = zygotes_.find(key);
  }
  it->second.queued.push_back(id);
  Pump(it->second, key);
}

Status Zygotes::Start(const std::string& key, const internal::LaunchRequest& request) {
  const auto fail = [&](const std::string& why) {
    return Status(ErrorCode::kInternal, "the zygote of " + request.rootfs() + " " + why);
  };
  if (request.argv().empty()) return fail("has no command");
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    return fail(Errno("could not start: socketpair"));
  // Host root still (it gives each child its mounts and slot uid), but in namespaces of its own:
  // its tree is the image, it has no network, and it never runs request code.
  const long pid =
      ::syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
                nullptr, nullptr, nullptr, 0);
  if (pid == 0) ExecZygote(pair[1], request);
  ::close(pair[1]);
  if (pid < 0) {
    ::close(pair[0]);
    return fail(Errno("could not start: clone"));
  }
  Zygote& zygote = zygotes_[key];
  zygote.pid = static_cast<pid_t>(pid);
  zygote.socket.reset(pair[0]);
  // Read without blocking: a zygote found dead is drained of what it said (Reaped), and a child
  // it forked may hold the socket for a moment, so EOF cannot be waited for.
  ::fcntl(zygote.socket.get(), F_SETFL, ::fcntl(zygote.socket.get(), F_GETFL) | O_NONBLOCK);
  zygote.started = Clock::now();
  // It says it is ready once everything is imported; launches wait in its queue until then.
  zygote.ready_deadline = zygote.started + kStartBound;
  zygote.rootfs = request.rootfs();
  if (auto ended = ended_.find(key); ended != ended_.end()) {
    zygote.restarted = std::move(ended->second);
    ended_.erase(ended);
  }
  return Status::Ok();
}

void Zygotes::Pump(Zygote& zygote, const std::string& key) {
  while (zygote.ready && !zygote.queued.empty() && zygote.forking.size() < kForksInFlight) {
    const std::uint64_t id = zygote.queued.front();
    zygote.queued.pop_front();
    if (!launches_.contains(id)) continue;
    std::string error;
    switch (SendFork(zygote, launches_.at(id), error)) {
      case Sent::kOk:
        zygote.forking.push_back(id);
        break;
      case Sent::kLaunchFailed:
        Fail(id, error);
        break;
      case Sent::kZygoteGone:
        // The launch retries with the others on a fresh zygote.
        zygote.forking.push_back(id);
        Stop(key, "died", /*retry_all=*/false);
        return;
    }
  }
}

Zygotes::Sent Zygotes::SendFork(Zygote& zygote, Launch& launch, std::string& error) {
  int sync_pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync_pair) != 0) {
    error = Errno("socketpair for a sandbox");
    return Sent::kLaunchFailed;
  }
  UniqueFd ours(sync_pair[0]);
  UniqueFd theirs(sync_pair[1]);
  internal::LaunchRequest forwarded = launch.request;
  internal::ForkDescriptors& named = *forwarded.mutable_fork_descriptors();
  std::vector<int> sent;
  const auto add = [&sent](int fd) {
    sent.push_back(fd);
    return static_cast<std::uint32_t>(sent.size());  // its position plus one
  };
  named.set_control(add(launch.fds[kControlFd].get()));
  named.set_input(add(launch.fds[kInputFd].get()));
  named.set_output(add(launch.fds[kOutputFd].get()));
  named.set_stdout_pipe(add(launch.fds[kStdoutFd].get()));
  named.set_stderr_pipe(add(launch.fds[kStderrFd].get()));
  named.set_events_pipe(add(launch.fds[kEventsFd].get()));
  named.set_status_pipe(add(launch.fds[kStatusFd].get()));
  named.set_sync(add(theirs.get()));
  // The request's folders, as detached copies of their mount trees: the child's mount namespace
  // (a copy of the zygote's, whose root is the image) cannot name host paths.
  std::vector<UniqueFd> trees;
  for (const std::string* dir : {&launch.request.artifacts_dir(), &launch.request.site_dir()}) {
    if (dir->empty()) continue;
    trees.emplace_back(
        ::open_tree(AT_FDCWD, dir->c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (!trees.back()) {
      error = Errno("open_tree " + *dir);
      return Sent::kLaunchFailed;
    }
    const std::uint32_t position = add(trees.back().get());
    if (dir == &launch.request.artifacts_dir()) {
      named.set_artifacts_tree(position);
    } else {
      named.set_site_tree(position);
    }
  }
  // The limits view's memory cgroup files: the child cannot see the cgroupfs from inside the
  // zygote's tree. All three or none ride with the frame.
  const MemoryCgroupFds opened = OpenMemoryCgroupFiles(launch.request);
  const UniqueFd limit(opened.limit), usage(opened.usage), stat(opened.stat);
  if (limit && usage && stat) {
    named.set_memory_limit(add(limit.get()));
    named.set_memory_usage(add(usage.get()));
    named.set_memory_stat(add(stat.get()));
    forwarded.set_memory_cgroup_v2(opened.v2);
  }
  std::string payload;
  forwarded.SerializeToString(&payload);
  if (!SendFrame(zygote.socket.get(), payload, sent).ok()) return Sent::kZygoteGone;
  launch.sync = std::move(ours);
  launch.step = Step::kForking;
  launch.deadline = Clock::now() + kStepBound;
  return Sent::kOk;
}

void Zygotes::Watch(PollSet& set, int& timeout_ms) {
  const Clock::time_point now = Clock::now();
  for (auto& [key, zygote] : zygotes_) {
    set.Add(zygote.socket.get(), POLLIN,
            [this, key = key, pid = zygote.pid](short) { OnZygoteReadable(key, pid); });
    if (!zygote.ready) Lower(timeout_ms, MsUntil(zygote.ready_deadline, now));
  }
  for (auto& [id, launch] : launches_) {
    if (launch.step == Step::kForking) Lower(timeout_ms, MsUntil(launch.deadline, now));
    if (launch.step != Step::kAwaitingUserNamespace) continue;
    set.Add(launch.sync.get(), POLLIN, [this, id = id](short) { OnSandboxByte(id); });
    Lower(timeout_ms, MsUntil(launch.deadline, now));
  }
}

void Zygotes::Expire(Clock::time_point now) {
  std::vector<std::string> not_ready, unresponsive;
  for (auto& [key, zygote] : zygotes_) {
    if (!zygote.ready && zygote.ready_deadline <= now) not_ready.push_back(key);
    if (zygote.ready && !zygote.forking.empty()) {
      auto front = launches_.find(zygote.forking.front());
      if (front != launches_.end() && front->second.deadline <= now) unresponsive.push_back(key);
    }
  }
  for (const auto& key : not_ready)
    StartFailed(key, "was not ready within " + std::to_string(kStartBound.count()) + " s");
  for (const auto& key : unresponsive) Stop(key, "unresponsive", /*retry_all=*/false);
  std::vector<std::uint64_t> wedged;
  for (auto& [id, launch] : launches_) {
    if (launch.step == Step::kAwaitingUserNamespace && launch.deadline <= now) wedged.push_back(id);
  }
  for (std::uint64_t id : wedged) {
    Fail(id, "the sandbox's setup did not reach its user namespace within " +
                 std::to_string(kStepBound.count()) + " s");
  }
}

void Zygotes::OnZygoteReadable(const std::string& key, pid_t pid) {
  auto it = zygotes_.find(key);
  if (it == zygotes_.end() || it->second.pid != pid) return;  // ended earlier in this round
  Zygote& zygote = it->second;
  auto state = zygote.reader.ReadFrom(zygote.socket.get());
  if (!state.ok() || *state == FrameReader::ReadState::kClosed) return Ended(key);
  while (zygote.reader.HasFrame()) {
    Frame frame = zygote.reader.Next();
    if (!zygote.ready) {
      internal::LaunchReply ready;
      if (!ready.ParseFromString(frame.payload) || !ready.ok())
        return StartFailed(key, "did not start: " + ready.error());
      zygote.ready = true;
      continue;
    }
    if (zygote.forking.empty()) return Stop(key, "unresponsive", /*retry_all=*/false);
    const std::uint64_t id = zygote.forking.front();
    zygote.forking.pop_front();
    if (launches_.contains(id)) OnForked(zygote, id, std::move(frame));
  }
  Pump(zygote, key);
}

void Zygotes::OnForked(Zygote& zygote, std::uint64_t id, Frame frame) {
  Launch& launch = launches_.at(id);
  internal::LaunchReply reply;
  if (!reply.ParseFromString(frame.payload) || reply.sandbox_id() != launch.request.sandbox_id())
    return Fail(id, "the zygote answered with a malformed reply");
  if (!reply.ok()) return Fail(id, "forking the sandbox failed: " + reply.error());
  if (frame.fds.size() != 1 || reply.pid() <= 0) return Fail(id, "the zygote sent no pidfd");
  launch.sandbox.pid = reply.pid();
  launch.sandbox.pidfd = std::move(frame.fds[0]);
  launch.sandbox.zygote_restarted = std::exchange(zygote.restarted, {});
  // The child waits for its cgroups ('C'), creates its user namespace ('U'), and waits for its
  // id maps ('G', OnSandboxByte); then it is on its own.
  if (Status s = EnterCgroups(launch.sandbox.pid, launch.request); !s.ok())
    return Fail(id, s.message());
  if (::write(launch.sync.get(), "C", 1) != 1) return Fail(id, Errno("start the sandbox"));
  launch.step = Step::kAwaitingUserNamespace;
  launch.deadline = Clock::now() + kStepBound;
}

void Zygotes::OnSandboxByte(std::uint64_t id) {
  auto it = launches_.find(id);
  if (it == launches_.end() || it->second.step != Step::kAwaitingUserNamespace) return;
  Launch& launch = it->second;
  char got = 0;
  if (::read(launch.sync.get(), &got, 1) != 1 || got != 'U')
    return Fail(id, "the sandbox's setup failed before its user namespace (see its status report)");
  if (Status s = MapSandboxIds(launch.sandbox.pid, launch.request); !s.ok())
    return Fail(id, s.message());
  if (::write(launch.sync.get(), "G", 1) != 1) return Fail(id, Errno("start the sandbox"));
  Finish(id, std::move(launch.sandbox));
}

void Zygotes::StartFailed(const std::string& key, const std::string& why) {
  auto it = zygotes_.find(key);
  if (it == zygotes_.end()) return;
  ::kill(it->second.pid, SIGKILL);  // reaped by the launcher's loop
  const std::string message = "the zygote of " + it->second.rootfs + " " + why;
  std::vector<std::uint64_t> waiting(it->second.queued.begin(), it->second.queued.end());
  waiting.insert(waiting.end(), it->second.forking.begin(), it->second.forking.end());
  zygotes_.erase(it);
  for (std::uint64_t id : waiting) Fail(id, message, /*zygote_failed=*/true);
}

void Zygotes::Stop(const std::string& key, const std::string& why, bool retry_all) {
  auto it = zygotes_.find(key);
  if (it == zygotes_.end()) return;
  // Reaped by the launcher's loop; its children are the launcher's and run on.
  ::kill(it->second.pid, SIGKILL);
  std::vector<std::uint64_t> forking(it->second.forking.begin(), it->second.forking.end());
  std::vector<std::uint64_t> queued(it->second.queued.begin(), it->second.queued.end());
  ended_[key] = why;  // before the erase: `key` may be the erased entry's own
  const std::string unanswered =
      why == "unresponsive" ? "the zygote did not answer" : "the zygote ended: " + why;
  zygotes_.erase(it);
  // A fork the zygote left unanswered is tried once more on a fresh zygote; twice, and it fails.
  for (std::uint64_t id : forking) {
    auto launch = launches_.find(id);
    if (launch == launches_.end()) continue;
    if (!retry_all && ++launch->second.failed_zygotes >= 2) {
      Fail(id, unanswered);
      continue;
    }
    queued.push_back(id);
  }
  for (std::uint64_t id : queued) {
    if (launches_.contains(id)) Enqueue(id);
  }
}

void Zygotes::StopAll() {
  // Keys first: the launches of each go to a fresh zygote of the same key, which stays.
  std::vector<std::string> keys;
  for (const auto& entry : zygotes_) keys.push_back(entry.first);
  for (const auto& key : keys) Stop(key, "reload", /*retry_all=*/true);
}

void Zygotes::Reaped(pid_t pid) {
  std::string key;
  for (const auto& [k, zygote] : zygotes_) {
    if (zygote.pid == pid) key = k;
  }
  if (key.empty()) return;
  // What it wrote before it died comes first (its error when it could not start, answers to
  // forks it made): the reaping may be handled before its socket in the same round.
  const auto alive = [&] {
    auto it = zygotes_.find(key);
    return it != zygotes_.end() && it->second.pid == pid;
  };
  for (int reads = 0; reads < 64 && alive(); ++reads) OnZygoteReadable(key, pid);
  if (alive()) Ended(key);
}

void Zygotes::Ended(const std::string& key) {
  auto it = zygotes_.find(key);
  if (it == zygotes_.end()) return;
  if (!it->second.ready) {
    StartFailed(key, "ended before it was ready (its error is in the log above)");
  } else {
    Stop(key, "died", /*retry_all=*/false);
  }
}

void Zygotes::Fail(std::uint64_t id, const std::string& why, bool zygote_failed) {
  auto it = launches_.find(id);
  if (it == launches_.end()) return;
  if (it->second.sandbox.pidfd)  // a child that was forked ends here (its sync EOF would too)
    ::syscall(SYS_pidfd_send_signal, it->second.sandbox.pidfd.get(), SIGKILL, nullptr, 0);
  Finish(id, Status(ErrorCode::kInternal, why), zygote_failed);
}

void Zygotes::Finish(std::uint64_t id, StatusOr<LaunchedSandbox> sandbox, bool zygote_failed) {
  auto it = launches_.find(id);
  if (it == launches_.end()) return;
  ZygoteLaunchOutcome outcome;
  outcome.sandbox_id = it->second.request.sandbox_id();
  outcome.zygote_failed = zygote_failed;
  if (sandbox.ok()) outcome.liveness = std::move(it->second.sync);
  outcome.sandbox = std::move(sandbox);
  launches_.erase(it);
  done_(std::move(outcome));
}

}  // namespace sandboxd
