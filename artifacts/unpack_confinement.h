// The confinement of sandboxd-unpack (issue 10): libzip and zlib parse a tenant's bytes, so the
// process that runs them is a sandbox of its own, set up before the archive is read.
//
//   keeper  the process the daemon spawned: drops to the unpack uid, enters new user, mount, net,
//           ipc and uts namespaces (a new pid namespace for its child), swaps its root for an
//           empty read-only tmpfs, then forks the worker and supervises it (timeout, SIGTERM).
//   worker  pid 1 of the new pid namespace (killing it kills everything in it): no capabilities
//           anywhere, no_new_privs, resource limits, Landlock (only beneath the output folder),
//           a seccomp allow-list whose default kills the process. Only it reads the archive.
//
// Every call is checked; a failure is a message for the daemon (the helper fails closed).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace sandboxd {

struct UnpackWorkerLimits {
  std::uint64_t address_space_bytes = std::uint64_t{1} << 30;
  std::uint64_t file_bytes = 0;  // RLIMIT_FSIZE: the largest file the worker may write
  std::uint64_t cpu_seconds = 120;
  std::uint64_t open_files = 64;
};

// The keeper's part: namespaces and the empty root. `uid`/`gid` are used when started as root
// (never 0); otherwise the caller's own ids are kept. Returns "" or what failed.
std::string EnterUnpackNamespaces(uid_t uid, gid_t gid);

// The worker's part, right after the fork, before the archive is touched: `output_fd` is the
// only folder it may write beneath. Returns "" or what failed.
std::string ConfineUnpackWorker(int output_fd, const UnpackWorkerLimits& limits);

// The keeper after the fork: waits for the worker, kills it at `timeout_s` or on SIGTERM (the
// daemon's way to end it), reaps it, and returns the exit status to end with: the worker's exit
// code, or the signal that killed it as 128 + signal, or kUnpackTimedOut.
inline constexpr int kUnpackTimedOut = 124;
int SuperviseUnpackWorker(pid_t worker, std::uint64_t timeout_s);

}  // namespace sandboxd
