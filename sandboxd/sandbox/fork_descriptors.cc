#include "sandbox/fork_descriptors.h"

#include <vector>

namespace sandboxd {

bool PlaceForkDescriptors(const internal::LaunchRequest& request, const Frame& frame,
                          SandboxFds& fds, int& sync, HostTrees& trees, MemoryCgroupFds& memory) {
  const internal::ForkDescriptors& named = request.fork_descriptors();
  std::vector<bool> used(frame.fds.size(), false);
  bool ok = true;
  // The descriptor at `position` (its index plus one), or -1 when it was not sent.
  const auto take = [&](std::uint32_t position) {
    if (position == 0) return -1;
    if (position > frame.fds.size() || used[position - 1]) {
      ok = false;
      return -1;
    }
    used[position - 1] = true;
    return frame.fds[position - 1].get();
  };
  fds.fd[kControlFd] = take(named.control());
  fds.fd[kInputFd] = take(named.input());
  fds.fd[kOutputFd] = take(named.output());
  fds.fd[kStdoutFd] = take(named.stdout_pipe());
  fds.fd[kStderrFd] = take(named.stderr_pipe());
  fds.fd[kEventsFd] = take(named.events_pipe());
  fds.fd[kStatusFd] = take(named.status_pipe());
  sync = take(named.sync());
  trees.artifacts = take(named.artifacts_tree());
  trees.site = take(named.site_tree());
  memory.limit = take(named.memory_limit());
  memory.usage = take(named.memory_usage());
  memory.stat = take(named.memory_stat());
  memory.v2 = request.memory_cgroup_v2();
  for (int fd : fds.fd) ok = ok && fd >= 0;
  for (bool named_one : used) ok = ok && named_one;  // nothing rides along unnamed
  const int memory_files = (memory.limit >= 0) + (memory.usage >= 0) + (memory.stat >= 0);
  return ok && sync >= 0 && (trees.artifacts >= 0) == !request.artifacts_dir().empty() &&
         (trees.site >= 0) == !request.site_dir().empty() &&
         (memory_files == 0 || memory_files == 3);
}

}  // namespace sandboxd
