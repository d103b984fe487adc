#include "unpack_confinement.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sandboxd {
namespace {

std::string Failed(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string WriteFile(const char* path, const std::string& text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Failed(std::string("cannot open ") + path);
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (n != static_cast<ssize_t>(text.size())) return Failed(std::string("cannot write ") + path);
  return "";
}

std::string SetLimit(int resource, std::uint64_t value) {
  const rlimit limit{value, value};
  if (::setrlimit(resource, &limit) != 0) return Failed("cannot set a resource limit");
  return "";
}

// No capability in any set, none to regain (bounding and ambient sets emptied): the worker has
// them in its own user namespace after the unshare, and needs none of them.
std::string DropCapabilities() {
  for (int cap = 0; cap <= 63; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      return Failed("cannot empty the capability bounding set");
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    return Failed("cannot clear the ambient capabilities");
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capset, &header, data) != 0) return Failed("cannot drop the capabilities");
  return "";
}

// Landlock: the archive is already open, so the only file-system access left is beneath the
// output folder. This also stops `..` from the output folder's descriptor, which the pivot into
// an empty root does not (that descriptor still points into the host's tree).
std::string RestrictFilesystem(int output_fd) {
  const long abi =
      ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) return Failed("Landlock is not available (the unpack helper needs it)");
  constexpr std::uint64_t kTruncate = 1ULL << 14;                    // ABI 3
  constexpr std::uint64_t kIoctlDev = 1ULL << 15;                    // ABI 5
  std::uint64_t handled = (LANDLOCK_ACCESS_FS_MAKE_BLOCK << 1) - 1;  // ABI 1: bits 0..12
  if (abi >= 2) handled |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) handled |= kTruncate;
  if (abi >= 5) handled |= kIoctlDev;
  const std::uint64_t beneath_output =
      handled & (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                 LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |
                 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER | kTruncate);
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = handled;
  const int ruleset =
      static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0));
  if (ruleset < 0) return Failed("cannot create a Landlock ruleset");
  landlock_path_beneath_attr rule{};
  rule.allowed_access = beneath_output;
  rule.parent_fd = output_fd;
  std::string error;
  if (::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0)
    error = Failed("cannot allow the output folder in Landlock");
  else if (::syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
    error = Failed("cannot enforce Landlock");
  ::close(ruleset);
  return error;
}

// What libzip, zlib, the C++ runtime and ExtractBundle call once the archive and the output
// folder are open (measured with strace on every bundle of tests/artifacts/make_bundles.py),
// and nothing else. Anything outside the list kills the process (SIGSYS).
std::string InstallSeccomp() {
  scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (ctx == nullptr) return "cannot create a seccomp filter";
  static const int kAllowed[] = {
      // Descriptors the worker already has, and files beneath the output folder.
      SCMP_SYS(read), SCMP_SYS(pread64), SCMP_SYS(readv), SCMP_SYS(write), SCMP_SYS(pwrite64),
      SCMP_SYS(writev), SCMP_SYS(lseek), SCMP_SYS(close), SCMP_SYS(dup), SCMP_SYS(dup3),
      SCMP_SYS(fcntl), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(getdents64),
      SCMP_SYS(fchmod), SCMP_SYS(mkdirat), SCMP_SYS(unlinkat), SCMP_SYS(linkat), SCMP_SYS(renameat),
      SCMP_SYS(ftruncate), SCMP_SYS(fsync), SCMP_SYS(umask),
      // Memory (malloc, libzip's buffers) within RLIMIT_AS.
      SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
      SCMP_SYS(madvise),
      // The runtime: time, randomness, futexes, signals to itself (abort), ending.
      SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(clock_nanosleep),
      SCMP_SYS(getrandom), SCMP_SYS(futex), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(tgkill),
      SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigreturn),
      SCMP_SYS(sched_yield), SCMP_SYS(exit), SCMP_SYS(exit_group),
      // Read-only views of itself.
      SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(capget),
      SCMP_SYS(prlimit64), SCMP_SYS(getrlimit)};
  int rc = 0;
  for (const int nr : kAllowed) {
    if (rc == 0) rc = ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
  }
  // openat only relative to a descriptor (the output folder); by path from the root or the
  // working directory it fails with EACCES (libzip asks for /etc/localtime and copes).
  // What SCMP_A0_32 spells, without its compound literal (a C99 feature clang refuses in C++).
  const auto dirfd_is = [](scmp_compare op) {
    return scmp_arg_cmp{
        .arg = 0, .op = op, .datum_a = static_cast<std::uint32_t>(AT_FDCWD), .datum_b = 0};
  };
  if (rc == 0)
    rc = ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, dirfd_is(SCMP_CMP_NE));
  if (rc == 0)
    rc =
        ::seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1, dirfd_is(SCMP_CMP_EQ));
  // Harmless errnos rather than a kill for what a library may try and do without: new
  // processes and sockets (a fork also fails on RLIMIT_NPROC, a connection on the empty network
  // namespace).
  for (const int nr : {SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(fork), SCMP_SYS(vfork)}) {
    if (rc == 0) rc = ::seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
  }
  for (const int nr : {SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect)}) {
    if (rc == 0) rc = ::seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), nr, 0);
  }
  if (rc == 0) rc = ::seccomp_load(ctx);
  ::seccomp_release(ctx);
  if (rc != 0) return std::string("cannot install the seccomp filter: ") + std::strerror(-rc);
  return "";
}

}  // namespace

std::string EnterUnpackNamespaces(uid_t uid, gid_t gid) {
  if (::geteuid() == 0 || ::getuid() == 0) {
    if (uid == 0 || gid == 0) return "refusing to unpack as root: --uid and --gid must not be 0";
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0)
      return Failed("cannot drop privileges");
    if (::setuid(0) == 0 || ::getuid() != uid || ::geteuid() != uid || ::getegid() != gid)
      return "privileges were not dropped";
  }
  const uid_t self_uid = ::geteuid();
  const gid_t self_gid = ::getegid();
  // The id maps are written through /proc/self, which a process that changed its ids cannot
  // open unless it is dumpable again; the worker turns that off.
  if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return Failed("cannot set dumpable");
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                CLONE_NEWPID) != 0)
    return Failed("cannot enter new namespaces (user namespaces must be allowed)");
  // Inside, the helper keeps its own ids: nothing else is mapped, so nothing else is reachable.
  if (auto e = WriteFile("/proc/self/setgroups", "deny"); !e.empty()) return e;
  if (auto e = WriteFile("/proc/self/uid_map",
                         std::to_string(self_uid) + " " + std::to_string(self_uid) + " 1");
      !e.empty())
    return e;
  if (auto e = WriteFile("/proc/self/gid_map",
                         std::to_string(self_gid) + " " + std::to_string(self_gid) + " 1");
      !e.empty())
    return e;
  // The root becomes an empty read-only tmpfs; the host's tree is detached (only the descriptors
  // the daemon passed stay open).
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return Failed("cannot make the mounts private");
  if (::mount("none", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
              "size=4k,nr_inodes=4,mode=0555") != 0)
    return Failed("cannot mount the empty root");
  if (::chdir("/tmp") != 0 || ::syscall(SYS_pivot_root, ".", ".") != 0)
    return Failed("cannot pivot into the empty root");
  if (::umount2(".", MNT_DETACH) != 0 || ::chdir("/") != 0)
    return Failed("cannot detach the host's tree");
  return "";
}

std::string ConfineUnpackWorker(int output_fd, const UnpackWorkerLimits& limits) {
  if (auto e = DropCapabilities(); !e.empty()) return e;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Failed("cannot set no_new_privs");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return Failed("cannot clear dumpable");
  ::umask(022);
  for (const auto& [resource, value] :
       {std::pair<int, std::uint64_t>{RLIMIT_CORE, 0},
        {RLIMIT_NOFILE, limits.open_files},
        {RLIMIT_FSIZE, limits.file_bytes},
        {RLIMIT_CPU, limits.cpu_seconds},
        {RLIMIT_AS, limits.address_space_bytes},
        // No new process (the seccomp filter refuses clone too): the worker is alone in its pid
        // namespace, and a fork bomb has nowhere to go.
        {RLIMIT_NPROC, 1}}) {
    if (auto e = SetLimit(resource, value); !e.empty()) return e;
  }
  if (auto e = RestrictFilesystem(output_fd); !e.empty()) return e;
  return InstallSeccomp();
}

int SuperviseUnpackWorker(pid_t worker, std::uint64_t timeout_s) {
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  sigset_t wanted;
  sigemptyset(&wanted);
  sigaddset(&wanted, SIGCHLD);
  sigaddset(&wanted, SIGTERM);
  bool kill_it = false;
  int status = 0;
  while (true) {
    const pid_t done = ::waitpid(worker, &status, kill_it ? 0 : WNOHANG);
    if (done == worker) break;
    if (done < 0 && errno != EINTR) return 1;
    if (kill_it) continue;
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const long long left_ms =
        static_cast<long long>(timeout_s) * 1000 -
        ((now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1'000'000);
    if (left_ms <= 0) {
      ::kill(worker, SIGKILL);
      kill_it = true;
      continue;
    }
    const timespec wait{left_ms / 1000, (left_ms % 1000) * 1'000'000};
    const int sig = ::sigtimedwait(&wanted, nullptr, &wait);
    if (sig == SIGTERM) {
      ::kill(worker, SIGKILL);  // the pid namespace's init: everything in it goes too
      kill_it = true;
    }
  }
  if (kill_it) return kUnpackTimedOut;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace sandboxd
