// What the launcher writes from the host for each new sandbox, however it was started (cloned
// by the launcher, or forked from a zygote): its user namespace's id maps and its cgroups.
#pragma once

#include <sys/types.h>

#include <string>

#include "launcher.pb.h"
#include "sandboxd/status.h"

namespace sandboxd {

Status WriteProcFile(const std::string& path, const std::string& text);

// Two unprivileged host ids per slot: one for the sandbox's root (init, which owns the mounts)
// and one for the UDF. Host uid 0 is never mapped. `pid` has just created the user namespace.
Status MapSandboxIds(pid_t pid, const internal::LaunchRequest& request);

// Moves `pid` into each of the request's cgroup.procs files, each checked to be on a cgroup
// filesystem.
Status EnterCgroups(pid_t pid, const internal::LaunchRequest& request);

// `fd` is a file of a cgroup filesystem (v1 or v2).
bool OnCgroupFilesystem(int fd);

}  // namespace sandboxd
