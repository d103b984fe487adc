// The UDF process: forked by init, it arranges exactly the documented descriptors, leaves the
// session and every privilege behind, installs the seccomp policy and execs the runner.
#include "sandbox/udf_process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "sandbox/sandbox_spec.h"
#include "sandboxd/fd_passing.h"

namespace sandboxd {
namespace {

// Reports a failure to init over the setup channel and ends the child.
[[noreturn]] void Die(int channel, const std::string& what) {
  const std::string text = what + ": " + std::strerror(errno);
  (void)::send(channel, text.data(), text.size(), MSG_NOSIGNAL);
  ::_exit(127);
}

void SendListener(int channel, int listener) {
  char byte = 'L';
  const iovec iov{&byte, 1};
  if (SendWithFds(channel, std::span<const iovec>(&iov, 1), std::span<const int>(&listener, 1),
                  MSG_NOSIGNAL) != 1)
    Die(channel, "send the seccomp listener");
  ::close(listener);
}

bool WriteSelf(const char* path, const std::string& text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

}  // namespace

void RunUdfProcess(const internal::LaunchRequest& request, const SandboxFds& fds, int channel,
                   int limits_doorbell, UdfStart start) {
  // No controlling terminal can be reached (TIOCSTI class).
  if (::setsid() < 0) Die(channel, "setsid");

  // Move every descriptor out of the way, then put each at its documented number.
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) Die(channel, "open /dev/null");
  struct Placement {
    int from;
    int to;
  };
  const Placement placements[] = {
      {null_fd, 0},           {fds.fd[kStdoutFd], 1},
      {fds.fd[kStderrFd], 2}, {fds.fd[kControlFd], 3},
      {fds.fd[kInputFd], 4},  {fds.fd[kOutputFd], 5},
      {fds.fd[kEventsFd], 6}, {channel, 7},
      {limits_doorbell, 8},  // the runner closes it before the script runs
  };
  int high[std::size(placements)];
  for (std::size_t i = 0; i < std::size(placements); ++i) {
    high[i] = ::fcntl(placements[i].from, F_DUPFD_CLOEXEC, 64);
    if (high[i] < 0) Die(channel, "dup a sandbox descriptor");
  }
  for (std::size_t i = 0; i < std::size(placements); ++i) {
    // dup3 without O_CLOEXEC: these survive exec. The setup channel (7) must not.
    const int flags = placements[i].to == 7 ? O_CLOEXEC : 0;
    if (::dup3(high[i], placements[i].to, flags) < 0) Die(channel, "place a sandbox descriptor");
  }
  channel = 7;
  if (::syscall(SYS_close_range, 9U, ~0U, 0U) != 0) Die(channel, "close inherited descriptors");

  // Leave the sandbox's root for the UDF's own uid; with uid 0 mapped this also empties the
  // capability sets.
  if (::setresgid(kSandboxGid, kSandboxGid, kSandboxGid) != 0) Die(channel, "setresgid");
  if (::setresuid(kSandboxUid, kSandboxUid, kSandboxUid) != 0) Die(channel, "setresuid");
  // init is non-dumpable (its descriptors are private); the UDF is an ordinary process that must
  // reach its own /proc/self files, the id maps first of all.
  if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) Die(channel, "set dumpable");

  // A nested user namespace owning a fresh mount namespace: every mount init made becomes
  // locked (MNT_LOCKED), so nothing can be unmounted to reveal what lies beneath, or remounted
  // writable, even by a process that regained capabilities here (Sandbox2 does the same).
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) Die(channel, "nested user namespace");
  const std::string id_map =
      std::to_string(kSandboxUid) + " " + std::to_string(kSandboxUid) + " 1\n";
  if (!WriteSelf("/proc/self/setgroups", "deny") || !WriteSelf("/proc/self/uid_map", id_map) ||
      !WriteSelf("/proc/self/gid_map", id_map))
    Die(channel, "map the nested user namespace");

  // The new namespace handed back every capability; drop them all for good: bounding and
  // ambient first, while CAP_SETPCAP still allows it, then every other set.
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      Die(channel, "drop a bounding capability");
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    Die(channel, "clear ambient capabilities");
  cap_t empty = ::cap_init();
  if (empty == nullptr || ::cap_set_proc(empty) != 0) Die(channel, "drop capabilities");
  ::cap_free(empty);

  const rlimit core{0, 0};
  const rlimit nofile{request.max_open_files(), request.max_open_files()};
  const rlimit fsize{request.max_file_bytes(), request.max_file_bytes()};
  if (::setrlimit(RLIMIT_CORE, &core) != 0 || ::setrlimit(RLIMIT_NOFILE, &nofile) != 0 ||
      ::setrlimit(RLIMIT_FSIZE, &fsize) != 0)
    Die(channel, "setrlimit");

  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Die(channel, "no_new_privs");

  std::vector<char*> argv;
  for (const auto& arg : request.argv()) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& var : request.env()) envp.push_back(const_cast<char*>(var.c_str()));
  envp.push_back(nullptr);

  // The filter goes on last: from here to execve only sendmsg, close and execve run, all allowed.
  const std::string& program = request.seccomp_program();
  if (!program.empty()) {
    if (program.size() % sizeof(sock_filter) != 0) {
      errno = EINVAL;
      Die(channel, "malformed seccomp program");
    }
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program.size() / sizeof(sock_filter));
    prog.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(program.data()));
    const long listener =
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (listener < 0) Die(channel, "install the seccomp policy");
    SendListener(channel, static_cast<int>(listener));
  }

  if (start == UdfStart::kReturn) {
    // The zygote's interpreter goes on as the UDF; init reads EOF on the setup channel as
    // "started", as it does at execve (the channel is close-on-exec).
    ::close(channel);
    return;
  }
  ::execve(argv[0], argv.data(), envp.data());
  Die(channel, std::string("execve ") + argv[0]);
}

}  // namespace sandboxd
