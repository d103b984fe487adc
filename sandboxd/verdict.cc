#include "verdict.h"

#include <signal.h>

#include <cstring>

#include "sandboxd/quote.h"
#include "seccomp_policy.h"
#include "text.h"

namespace sandboxd {

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  const char* desc = sigdescr_np(sig);
  std::string name =
      abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
  if (desc != nullptr) name += std::string(" (") + desc + ")";
  return name;
}

std::optional<Verdict> Judge(const RunFacts& facts) {
  const auto& report = facts.report;
  const auto& cgroup = facts.cgroup;
  const FinalEvent& final = facts.final_event;
  auto fail = [](ErrorCode code, std::string message) {
    return std::optional<Verdict>(Verdict{code, std::move(message)});
  };

  // The order matters: what the daemon saw itself outranks what the sandbox says.
  if (cgroup && cgroup->oom_killed)
    return fail(ErrorCode::kMemoryLimit, "the script used more than its memory limit of " +
                                             FormatBytes(facts.memory_limit_bytes) +
                                             " and was killed");
  if (facts.kill_reason) return fail(*facts.kill_reason, facts.kill_message);
  if (!report) {
    if (facts.sealed_at_done && final.kind == "done") return std::nullopt;
    if (facts.report_bytes > 0)
      return fail(ErrorCode::kInternal, "the sandbox sent a malformed status report (" +
                                            std::to_string(facts.report_bytes) + " bytes)");
    return fail(ErrorCode::kInternal, "the sandbox ended without a status report");
  }
  switch (report->kind) {
    case InitReport::kSetupFailed:
      return fail(ErrorCode::kInternal, std::string("sandbox setup failed: ") + report->message);
    case InitReport::kPolicyViolation:
      return fail(ErrorCode::kPolicyViolation,
                  "the script made a system call the sandbox forbids: " +
                      SeccompPolicy::SyscallName(report->value, report->arch) +
                      "; the sandbox was stopped");
    case InitReport::kSignaled:
      if (report->value == SIGSYS)
        return fail(ErrorCode::kPolicyViolation,
                    "the script made a system call through a forbidden ABI (i386 or x32); the "
                    "sandbox was stopped");
      if (report->value == SIGKILL && cgroup && cgroup->oom_killed)
        return fail(ErrorCode::kMemoryLimit, "the script ran out of memory");
      return fail(ErrorCode::kScriptError,
                  "the script's process was killed by " + SignalName(report->value));
    case InitReport::kExited:
      break;
    default:
      return fail(ErrorCode::kInternal, "the sandbox sent a malformed status report");
  }
  // A script that failed on a full work folder hit a limit, not a bug of its own.
  if ((report->flags & InitReport::kWorkFolderFull) != 0 &&
      (final.kind != "done" || report->value != 0))
    return fail(
        ErrorCode::kOutputLimit,
        "the work folder reached its limit of " + FormatBytes(facts.work_limit_bytes) +
            (final.message.empty() ? std::string() : "; the script failed with: " + final.message));
  if (final.kind == "error") {
    if (final.code == "SCHEMA_MISMATCH" || final.code == "OUTPUT_LIMIT") {
      // One line about the result's columns, whose names the sandbox chose: whatever a runner
      // writes there reaches a terminal or a log spelled out, never as control sequences.
      return fail(
          final.code == "SCHEMA_MISMATCH" ? ErrorCode::kSchemaMismatch : ErrorCode::kOutputLimit,
          EscapeForMessage(final.message.empty() ? "the script failed" : final.message));
    }
    return fail(ErrorCode::kScriptError,
                final.message.empty() ? "the script failed" : final.message);
  }
  if (final.kind != "done" || report->value != 0)
    return fail(ErrorCode::kScriptError, "the script ended (exit code " +
                                             std::to_string(report->value) +
                                             ") without producing a result; see its stderr");
  return std::nullopt;
}

}  // namespace sandboxd
