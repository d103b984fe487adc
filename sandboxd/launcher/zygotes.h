// The launcher's zygotes (DESIGN.md, "Warm pool: a zygote per image"). A zygote is the image's
// Python with numpy, pandas, the runner and the manifest's preloads imported, single-threaded,
// started by the launcher in mount, network, IPC and UTS namespaces of its own whose root is the
// image (read-only, with the runner), holding no request data. A sandbox is a clone of it
// (CLONE_PARENT: the launcher's child, so it dies with the launcher and outlives a zygote's
// restart) that builds its own namespaces and confinement exactly as a launched sandbox does
// (sandbox/init.cc, RunZygoteSandboxInit) while the launcher writes its cgroups and id maps. A
// fresh sandbox then costs a fork instead of an interpreter start and ~0.4 s of imports.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>

#include "launched_sandbox.h"
#include "launcher.pb.h"
#include "sandbox/sandbox_spec.h"
#include "sandboxd/status.h"

namespace sandboxd {

class Zygotes {
 public:
  // Forks a sandbox from the zygote of the request's image (rootfs, runtime folder and argv, the
  // zygote's command line), starting that zygote first when there is none. `liveness` gets the
  // launcher's end of the sandbox's sync socket: hold it until the sandbox is reaped (its init
  // reads EOF as "the launcher is gone" where PDEATHSIG cannot help). `start_failed` is set when
  // the error is that the image's zygote could not be started (the daemon then launches the
  // image's sandboxes without one for a while: zygote_health.h). A sandbox whose launch started
  // the zygote again says why the one before ended (LaunchedSandbox::zygote_restarted).
  StatusOr<LaunchedSandbox> Fork(const internal::LaunchRequest& request, const SandboxFds& fds,
                                 UniqueFd& liveness, bool& start_failed);
  // A child of the launcher was reaped: a zygote that died is started afresh when next needed.
  void Reaped(pid_t pid);
  // Stops every zygote (SIGHUP); their sandboxes run on.
  void StopAll();
  // Zygotes are restarted after this long (the address layout and hash seed they share with
  // every child are renewed).
  static constexpr std::chrono::minutes kMaxAge{60};

 private:
  struct Zygote {
    pid_t pid = -1;
    UniqueFd socket;
    std::chrono::steady_clock::time_point started;
  };
  // The request's zygote, started first when there is none; `restarted` is then set to why the
  // one before it ended (empty for a first start).
  StatusOr<Zygote*> Get(const internal::LaunchRequest& request, std::string& restarted);
  static StatusOr<Zygote> Start(const internal::LaunchRequest& request);
  void Stop(const std::string& key, const char* why);
  StatusOr<LaunchedSandbox> ForkFrom(Zygote& zygote, const internal::LaunchRequest& request,
                                     const SandboxFds& fds, UniqueFd& liveness,
                                     bool& zygote_failed);

  std::map<std::string, Zygote> zygotes_;
  // Why the zygote of a key ended, until the next one of that key starts (launcher.proto's
  // LaunchReply.zygote_restarted: the daemon counts restarts by cause).
  std::map<std::string, std::string> ended_;
};

}  // namespace sandboxd
