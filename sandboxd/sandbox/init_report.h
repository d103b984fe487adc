// What a sandbox's init tells the daemon when the UDF is gone: a fixed-size record on a pipe
// only init holds. The daemon validates every field: init runs inside the sandbox.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace sandboxd {

struct InitReport {
  static constexpr std::uint32_t kMagic = 0x49584253;  // "SBXI"
  enum Kind : std::uint32_t {
    kExited = 1,           // value = exit code
    kSignaled = 2,         // value = signal number
    kPolicyViolation = 3,  // value = syscall number the seccomp policy refused
    kSetupFailed = 4,      // message says what
  };
  // The work folder had no space or inodes left when the UDF ended.
  static constexpr std::uint32_t kWorkFolderFull = 1;
  std::uint32_t magic = kMagic;
  std::uint32_t kind = 0;
  std::int32_t value = 0;
  std::uint32_t arch = 0;   // audit arch of a policy violation
  std::uint32_t flags = 0;  // kWorkFolderFull, ...
  std::uint32_t reserved = 0;
  std::uint64_t user_usec = 0;
  std::uint64_t system_usec = 0;
  std::uint64_t max_rss_kib = 0;
  char message[240] = {};
};
static_assert(sizeof(InitReport) == 288);

// Parses exactly one report; nullopt for anything malformed.
std::optional<InitReport> ParseInitReport(std::span<const std::byte> bytes);

}  // namespace sandboxd
