// The launcher's check of each launch request. The launcher runs as root and the daemon parses
// client protobuf, sandbox output and HTTPS: a daemon that was taken over must not be able to
// make the launcher map host uid 0 into a sandbox, mount a host folder outside the roots it was
// started with, or write a pid into an arbitrary file. The bounds come from the daemon once, at
// start, before it has read anything hostile (launcher_client.h); every request is held against
// them.
#pragma once

#include "launcher.pb.h"
#include "sandboxd/status.h"

namespace sandboxd {

// Ok, or kInternal naming the first field that is out of bounds and why. Paths must be
// absolute and normalized (no "." or ".." components, no "//") and lie under their root; the
// request folders, which the daemon writes itself, must also resolve (symlinks followed) under
// the root's own resolution; cgroup.procs files must be those of a sandbox cgroup in one of the
// daemon's cgroup folders, one per hierarchy (and the launcher checks, when it writes one, that
// it is on a cgroup filesystem); sizes may not exceed the node's limits.
Status CheckLaunchRequest(const internal::LaunchBounds& bounds,
                          const internal::LaunchRequest& request);

// Ok when the bounds themselves make sense (the daemon's own start-up check).
Status CheckLaunchBounds(const internal::LaunchBounds& bounds);

}  // namespace sandboxd
