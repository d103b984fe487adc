// What a launch hands back: the sandbox's init, and what the launch did to its image's zygote.
// Shared by the launcher (which makes it) and the daemon's client of it (launcher_client.h).
#pragma once

#include <sys/types.h>

#include <string>

#include "sandboxd/unique_fd.h"

namespace sandboxd {

struct LaunchedSandbox {
  pid_t pid = -1;
  UniqueFd pidfd;  // of the sandbox's init; readable when it has exited
  // Non-empty when this launch started its image's zygote again: why the previous one ended
  // (LaunchReply.zygote_restarted).
  std::string zygote_restarted;
};

}  // namespace sandboxd
