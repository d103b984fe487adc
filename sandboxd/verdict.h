// The verdict of one run: what ended it, decided in one place from what the daemon saw and what
// the sandbox reported. The order is fixed and the first that applies wins, what the daemon saw
// itself outranking what the sandbox says: the memory cgroup's OOM kill, the daemon's own kill
// (deadline, output cap, a client gone, a stop), init's report (setup failure, the seccomp
// policy, a signal), a full work folder, then the runner's closing event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "cgroups.h"
#include "runner_events.h"
#include "sandbox/init_report.h"
#include "sandboxd/status.h"

namespace sandboxd {

struct RunFacts {
  std::optional<InitReport> report;      // none: init ended without one, or it was malformed
  std::size_t report_bytes = 0;          // what the status pipe held: 0 is no report at all
  std::optional<CgroupOutcome> cgroup;   // none: no cgroups on this node
  std::optional<ErrorCode> kill_reason;  // why the daemon killed the sandbox, if it did
  std::string kill_message;
  FinalEvent final_event;
  // The runner's "done" came while the sandbox ran and its output memfd took the write seals
  // then: the answer goes out without waiting for init's report of the exit.
  bool sealed_at_done = false;
  std::uint64_t memory_limit_bytes = 0;
  std::uint64_t work_limit_bytes = 0;
};

struct Verdict {
  ErrorCode code;
  std::string message;
};

// The error the run ends with, or none: the script ended well and its result is checked next.
std::optional<Verdict> Judge(const RunFacts& facts);

// "SIGSEGV (Segmentation fault)".
std::string SignalName(int sig);

}  // namespace sandboxd
