// The sandbox's syscall policy: a readable text file (policy/sandbox.seccomp) compiled with
// libseccomp when the daemon starts (and on SIGHUP) into a BPF program that the UDF process
// installs right before it execs the runner.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sandboxd/status.h"

namespace sandboxd {

// What the running kernel offers that a policy may depend on: a line that starts with
// `when FEATURE` applies only where the kernel has it, `unless FEATURE` only where it lacks it.
struct KernelFeatures {
  // memfd_create(MFD_NOEXEC_SEAL), Linux 6.3+ (Debian 12's own kernel, 6.1, lacks it).
  bool memfd_noexec_seal = false;

  // Asks the running kernel (one memfd_create call per feature).
  static KernelFeatures Probe();
  // "memfd_noexec_seal" for the features that hold, "none" when none does: for the log.
  std::string Describe() const;
};

class SeccompPolicy {
 public:
  // Reads and compiles a policy file for a kernel with `features`; errors name the file, line and
  // problem. A line gated on a feature is checked whether or not it applies.
  static StatusOr<SeccompPolicy> LoadFile(const std::string& path, const KernelFeatures& features);
  static StatusOr<SeccompPolicy> Compile(std::string_view text, const std::string& origin,
                                         const KernelFeatures& features);

  // The compiled program: an array of struct sock_filter, as seccomp(SECCOMP_SET_MODE_FILTER)
  // takes it. Installed with SECCOMP_FILTER_FLAG_NEW_LISTENER: the policy's default action is
  // SCMP_ACT_NOTIFY, and the sandbox's init, holding the listener, records the call and ends
  // the sandbox (so the daemon can name the syscall in POLICY_VIOLATION).
  const std::string& program() const { return program_; }
  // Human-readable name of a syscall ("ptrace", or "syscall 1234 (arch 0x...)").
  static std::string SyscallName(int number, std::uint32_t audit_arch);

 private:
  std::string program_;
};

}  // namespace sandboxd
