// sandboxd-unpack: checks and unpacks one zip or wheel bundle for the daemon, as an unprivileged
// user in a sandbox of its own. The daemon spawns it (posix_spawn) with:
//
//   fd 0  the archive, read-only
//   fd 1  a pipe: one JSON line back, {"ok": true, "manifest": {...}} or
//         {"ok": false, "error": "..."}
//   fd 2  /dev/null
//   fd 3  the empty output folder (owned by --uid), where the tree is written
//
//   sandboxd-unpack --uid U --gid G --name NAME --python 3.11 --glibc 2.36 --arch x86_64
//                   [--max-entries N] [--max-bytes N] [--max-entry-bytes N] [--max-ratio N]
//                   [--timeout-s N]
//
// Before a byte of the archive is read it drops to U:G (never 0; when started as root), enters
// new namespaces with an empty root and forks the worker, which confines itself (no
// capabilities, no_new_privs, limits, Landlock, seccomp) and only then unpacks: see
// unpack_confinement.h. The process the daemon spawned stays outside as the worker's keeper; it
// ends with the worker's status (re-raising the signal that killed it), or 124 on a timeout.
//
// Test-only modes (tests/artifacts/bundle_test.cc), after the same confinement: --self-check 1
// answers with what the worker can still do instead of unpacking; --self-check ptrace then calls
// a syscall outside the allow-list; --test-hang 1 sleeps instead of unpacking.
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "bundle.h"
#include "unpack_confinement.h"

namespace {

void Reply(const nlohmann::json& doc) {
  const std::string text = doc.dump() + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(1, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

[[noreturn]] void Fail(const std::string& message) {
  Reply({{"ok", false}, {"error", message}});
  ::_exit(1);
}

std::uint64_t Number(const std::map<std::string, std::string>& args, const std::string& key,
                     std::uint64_t fallback) {
  auto it = args.find(key);
  if (it == args.end()) return fallback;
  std::uint64_t value = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  if (ec != std::errc() || p != it->second.data() + it->second.size()) Fail("bad value for " + key);
  return value;
}

bool ParseVersion(const std::string& text, int& major, int& minor) {
  const auto dot = text.find('.');
  if (dot == std::string::npos) return false;
  auto a = std::from_chars(text.data(), text.data() + dot, major);
  auto b = std::from_chars(text.data() + dot + 1, text.data() + text.size(), minor);
  return a.ec == std::errc() && b.ec == std::errc() && b.ptr == text.data() + text.size();
}

// What the confined worker can still do, each as the errno of an attempt (0: it worked).
nlohmann::json SelfCheck() {
  const auto attempt = [](int result) { return result >= 0 ? 0 : errno; };
  nlohmann::json doc;
  doc["open_etc_passwd"] = attempt(::open("/etc/passwd", O_RDONLY | O_CLOEXEC));
  doc["openat_absolute"] = attempt(::openat(3, "/etc/passwd", O_RDONLY | O_CLOEXEC));
  doc["openat_dotdot"] =
      attempt(::openat(3, "../../../../../../../../../../etc/passwd", O_RDONLY | O_CLOEXEC));
  doc["socket"] = attempt(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  doc["socket_unix"] = attempt(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  doc["fork"] = child > 0 ? 0 : errno;
  const int made = ::openat(3, "probe.txt", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  doc["create_in_output"] = made >= 0 ? 0 : errno;
  if (made >= 0) ::close(made);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) == 0) {
    doc["capabilities"] = (std::uint64_t{data[1].effective} << 32 | data[0].effective) |
                          (std::uint64_t{data[1].permitted} << 32 | data[0].permitted);
  }
  doc["pid"] = ::getpid();
  rlimit as{}, nproc{};
  ::getrlimit(RLIMIT_AS, &as);
  ::getrlimit(RLIMIT_NPROC, &nproc);
  doc["rlimit_as"] = as.rlim_max;
  doc["rlimit_nproc"] = nproc.rlim_max;
  return doc;
}

// The worker: pid 1 of the new pid namespace. It dies with the keeper (PR_SET_PDEATHSIG), which
// holds the write end of `keeper_alive` until it ends.
[[noreturn]] void RunWorker(std::map<std::string, std::string>& args, int keeper_alive) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) Fail("cannot set the parent-death signal");
  pollfd keeper{keeper_alive, POLLIN, 0};
  if (::poll(&keeper, 1, 0) != 0) ::_exit(1);  // the keeper is already gone
  ::close(keeper_alive);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  sandboxd::BundleLimits limits;
  limits.max_entries = Number(args, "max-entries", limits.max_entries);
  limits.max_unpacked_bytes = Number(args, "max-bytes", limits.max_unpacked_bytes);
  limits.max_entry_bytes = Number(args, "max-entry-bytes", limits.max_entry_bytes);
  limits.max_ratio = Number(args, "max-ratio", limits.max_ratio);
  sandboxd::WheelTarget target;
  if (!ParseVersion(args.count("python") ? args["python"] : "3.11", target.python_major,
                    target.python_minor))
    Fail("bad --python");
  if (!ParseVersion(args.count("glibc") ? args["glibc"] : "2.36", target.glibc_major,
                    target.glibc_minor))
    Fail("bad --glibc");
  if (args.count("arch")) target.arch = args["arch"];
  struct stat out {};
  if (::fstat(3, &out) != 0 || !S_ISDIR(out.st_mode)) Fail("fd 3 is not the output folder");

  sandboxd::UnpackWorkerLimits worker;
  worker.file_bytes = limits.max_entry_bytes + (1 << 20);
  worker.cpu_seconds = Number(args, "timeout-s", 120);
  // Entries stream through a small buffer and the entry count is bounded before libzip reads
  // the central directory: a helper that needs more than this is being attacked.
  worker.address_space_bytes = std::uint64_t{1} << 30;
  if (auto e = sandboxd::ConfineUnpackWorker(3, worker); !e.empty()) Fail(e);

  if (args.count("self-check")) {
    Reply({{"ok", true}, {"self_check", SelfCheck()}});
    if (args["self-check"] == "ptrace") ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    ::_exit(0);
  }
  if (args.count("test-hang")) {
    while (true) {
      const timespec second{1, 0};
      ::clock_nanosleep(CLOCK_MONOTONIC, 0, &second, nullptr);
    }
  }
  auto manifest = sandboxd::ExtractBundle(0, args.count("name") ? args["name"] : "bundle.zip", 3,
                                          limits, target);
  if (!manifest.ok()) Fail(manifest.status().message());
  Reply({{"ok", true}, {"manifest", nlohmann::json::parse(manifest->ToJson())}});
  ::_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strncmp(argv[i], "--", 2) != 0) Fail(std::string("unexpected argument ") + argv[i]);
    args[argv[i] + 2] = argv[i + 1];
  }
  if (argc % 2 != 1) Fail("arguments come in --key value pairs");
  if (::syscall(SYS_close_range, 4U, ~0U, 0U) != 0) Fail("cannot close inherited descriptors");

  const auto uid = static_cast<uid_t>(Number(args, "uid", 0));
  const auto gid = static_cast<gid_t>(Number(args, "gid", 0));
  const std::uint64_t timeout_s = Number(args, "timeout-s", 120);
  if (auto e = sandboxd::EnterUnpackNamespaces(uid, gid); !e.empty()) Fail(e);
  const rlimit no_core{0, 0};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::setrlimit(RLIMIT_CORE, &no_core) != 0)
    Fail("cannot set no_new_privs");

  // SIGTERM and SIGCHLD wait for the keeper's sigtimedwait; the worker unblocks them.
  sigset_t keeper_signals;
  sigemptyset(&keeper_signals);
  sigaddset(&keeper_signals, SIGCHLD);
  sigaddset(&keeper_signals, SIGTERM);
  if (::sigprocmask(SIG_BLOCK, &keeper_signals, nullptr) != 0) Fail("cannot block signals");
  int alive[2];
  if (::pipe2(alive, O_CLOEXEC) != 0) Fail("cannot create a pipe");
  const pid_t worker = ::fork();
  if (worker < 0) Fail(std::string("cannot start the worker: ") + std::strerror(errno));
  if (worker == 0) {
    ::close(alive[1]);
    RunWorker(args, alive[0]);
  }
  // The keeper gives the archive, the reply pipe and the output folder up to the worker: the
  // daemon's end of the reply pipe reads EOF only when the worker is gone.
  ::close(alive[0]);
  for (int fd : {0, 1, 3}) ::close(fd);
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) ::_exit(1);
  const int status = sandboxd::SuperviseUnpackWorker(worker, timeout_s);
  if (status > 128) {
    ::signal(status - 128, SIG_DFL);
    ::sigprocmask(SIG_UNBLOCK, &keeper_signals, nullptr);
    ::raise(status - 128);
  }
  return status;
}
