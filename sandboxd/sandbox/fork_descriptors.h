// A zygote's fork frame names its descriptors (launcher.proto, ForkDescriptors: each by its
// position in the frame plus one); the zygote places them by those names, never by counting.
#pragma once

#include "launcher.pb.h"
#include "sandbox/limits_view.h"
#include "sandbox/sandbox_spec.h"
#include "sandboxd/framing.h"

namespace sandboxd {

// Where a fork frame's descriptors go; false when the frame does not hold what its names say (a
// position out of range or used twice, one sent but not named, a required one missing, a tree sent
// without its folder or the other way round, part of the memory files). The descriptors stay the
// frame's.
bool PlaceForkDescriptors(const internal::LaunchRequest& request, const Frame& frame,
                          SandboxFds& fds, int& sync, HostTrees& trees, MemoryCgroupFds& memory);

}  // namespace sandboxd
