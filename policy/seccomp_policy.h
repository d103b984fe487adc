// The sandbox's syscall policy: a readable text file (policy/sandbox.seccomp) compiled with
// libseccomp when the daemon starts (and on SIGHUP) into a BPF program that the UDF process
// installs right before it execs the runner.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sandboxd/status.h"

namespace sandboxd {

class SeccompPolicy {
 public:
  // Reads and compiles a policy file; errors name the file, line and problem.
  static StatusOr<SeccompPolicy> LoadFile(const std::string& path);
  static StatusOr<SeccompPolicy> Compile(std::string_view text, const std::string& origin);

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
