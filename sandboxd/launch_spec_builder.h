// The launch specification of one sandbox (launcher.proto's LaunchRequest: its root, its mounts,
// its slot's host ids, its limits, its command and environment, its syscall filter), built in
// the style of Sandbox2's PolicyBuilder: each setter checks what it is given and collects what is
// wrong, and Build() returns the specification or the first error. The launcher holds every
// request against its own bounds again (launcher/launch_bounds.h); this catches the daemon's own
// mistakes where they are made, with the field's name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "launcher.pb.h"
#include "sandboxd/status.h"

namespace sandboxd {

// The CPUs a sandbox with a `cpu_percent` cap can use at once: 150% is two, 0 (no cap) is all of
// the host's `host_cpus`.
unsigned VisibleCpus(std::uint32_t cpu_percent, unsigned host_cpus);

// The sandbox's command: its image's zygote forks it (the command line names the zygote; the
// UDF's environment is set after the fork), or it starts its own interpreter; either way the
// runner imports the image's `preload` modules before it waits for its request. Also what
// Execution falls back to when an image's zygote cannot start.
void SetSandboxCommand(internal::LaunchRequest& launch, bool from_zygote,
                       const std::string& zygote_module_dir,
                       const std::vector<std::string>& preload);

class LaunchSpecBuilder {
 public:
  LaunchSpecBuilder& SandboxId(const std::string& id);
  // The image's read-only root and the runtime (mounted at /sandbox/runtime): absolute paths.
  LaunchSpecBuilder& Rootfs(const std::string& path);
  LaunchSpecBuilder& RuntimeDir(const std::string& path);
  // The request's artifacts (/sandbox/work/Temp) and site packages (/sandbox/site): absolute
  // paths, or empty for an empty folder.
  LaunchSpecBuilder& ArtifactsDir(const std::string& path);
  LaunchSpecBuilder& SiteDir(const std::string& path);
  // Slot `slot` of the node's slots from `uid_base`: the UDF runs as host uid and gid
  // uid_base + 2 * slot, the sandbox's own root as the next one. Both must be host ids other
  // than 0 that fit in 32 bits.
  LaunchSpecBuilder& Slot(std::uint32_t uid_base, unsigned slot);
  // The sizes of its tmpfs folders, their inodes, its open files and the largest file it may
  // write (its work folder's size).
  LaunchSpecBuilder& Limits(const SandboxLimits& limits);
  // What the sandbox is told it has (its /proc/meminfo and CPU files), and the thread count
  // OpenMP and OpenBLAS start with (they size pools by affinity, which still lists the host's
  // CPUs): `cpus` at least 1.
  LaunchSpecBuilder& VisibleResources(unsigned cpus, std::uint64_t memory_bytes);
  LaunchSpecBuilder& Hostname(const std::string& name);
  LaunchSpecBuilder& Command(bool from_zygote, const std::string& zygote_module_dir,
                             const std::vector<std::string>& preload);
  // One NAME=value of the UDF's environment.
  LaunchSpecBuilder& Env(const std::string& variable);
  // The compiled syscall filter; none (development only) when never set.
  LaunchSpecBuilder& SeccompProgram(const std::string& program);

  // The specification, or the first error any setter (or a missing required field) found.
  StatusOr<internal::LaunchRequest> Build();

  // Every error collected so far, first first.
  const std::vector<Status>& errors() const { return errors_; }

 private:
  void Error(const std::string& message);

  internal::LaunchRequest spec_;
  std::vector<Status> errors_;
  bool has_slot_ = false;
};

}  // namespace sandboxd
