// What the daemon's parts share with every request and every execution: the node's config, the
// launcher, the cgroups, the syscall policy in force (replaced on SIGHUP), the images and the
// zygotes' health. Made once in main.cc; read from every thread.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "config.h"
#include "images.h"
#include "zygote_health.h"

namespace sandboxd {

class LauncherClient;
class CgroupManager;
class SeccompPolicy;

// What the daemon's parts share with every execution.
struct Services {
  NodeConfig config;
  LauncherClient* launcher = nullptr;
  CgroupManager* cgroups = nullptr;  // null: no cgroup limits (tests of the plain path)
  // The compiled syscall policy, replaced on SIGHUP; each execution takes the one current when it
  // starts. Null: no syscall filter (development only).
  std::shared_ptr<const SeccompPolicy> seccomp() const {
    std::lock_guard lock(*policy_mu);
    return seccomp_policy.policy;
  }
  // The policy in force with its generation (1 at start, one more for each one compiled on
  // SIGHUP) and when it was put in force: what `sandboxctl policy show` reports.
  struct SeccompInForce {
    std::shared_ptr<const SeccompPolicy> policy;
    unsigned generation = 0;
    std::chrono::steady_clock::time_point loaded;
  };
  SeccompInForce seccomp_in_force() const {
    std::lock_guard lock(*policy_mu);
    return seccomp_policy;
  }
  void set_seccomp(std::shared_ptr<const SeccompPolicy> policy) {
    std::lock_guard lock(*policy_mu);
    if (policy) ++seccomp_policy.generation;
    seccomp_policy.policy = std::move(policy);
    seccomp_policy.loaded = std::chrono::steady_clock::now();
  }
  SeccompInForce seccomp_policy;
  std::unique_ptr<std::mutex> policy_mu = std::make_unique<std::mutex>();
  // The kernel features the policy is compiled for (KernelFeatures::Describe()).
  std::string seccomp_features;
  ImageRegistry* images = nullptr;
  // Images whose zygote could not start lately: launched without one for a while.
  std::shared_ptr<ZygoteHealth> zygote_health = std::make_shared<ZygoteHealth>();
};

}  // namespace sandboxd
