// The UDF process of a sandbox (forked by its init).
#pragma once

#include "sandbox/sandbox_spec.h"

namespace sandboxd {

// Confines the UDF, then execs the runner (kExec) or returns into the interpreter (kReturn,
// with the setup channel closed); on failure it reports the failing step on `channel` and exits
// 127. `channel` is a SOCK_SEQPACKET socket to init; it also carries the seccomp listener
// descriptor. `limits_doorbell` becomes fd 8: the runner asks init through it to refresh
// /proc/meminfo.
void RunUdfProcess(const internal::LaunchRequest& request, const SandboxFds& fds, int channel,
                   int limits_doorbell, UdfStart start);

}  // namespace sandboxd
