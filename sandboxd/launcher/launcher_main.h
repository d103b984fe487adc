// The launcher process (docs/ARCHITECTURE.md, "Processes"): a single-threaded fork server,
// exec'd fresh by the root helper (root_helper.h) before any thread exists, that clones each
// sandbox into its namespaces or has its image's zygote fork it (zygotes.h). It checks every
// request against the bounds the daemon sent first (launch_bounds.h). The daemon talks to it
// through LauncherClient (launcher_client.h) over a socketpair with framed protobuf
// (launcher.proto).
#pragma once

#include <sys/types.h>

namespace sandboxd {

// The argv[1] that puts the sandboxd binary in launcher mode.
inline constexpr const char* kLauncherModeFlag = "--internal-launcher";

// Notes where the launcher's command line lives, so sandbox inits can blank it.
void RememberLauncherArgv(int argc, char** argv);

// Launcher main loop on `socket_fd`; `parent_pid` is the root helper that started it. Returns
// the process exit code.
int RunLauncher(int socket_fd, pid_t parent_pid);

}  // namespace sandboxd
