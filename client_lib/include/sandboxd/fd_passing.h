// Descriptors over a Unix socket (SCM_RIGHTS), written once for every process that passes them:
// the frames of client, daemon and launcher (framing.h, the daemon's frame writer), the root
// helper's messages, and the seccomp listener a UDF hands its init. Both calls are async-signal-
// safe but for the vector ReceiveWithFds appends to, so a freshly forked child may send.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <vector>

#include "sandboxd/unique_fd.h"

namespace sandboxd {

// The most descriptors one message may carry either way (a reader that expects fewer still gets
// all of them, owned, so the extra ones close; what is beyond this is cut by the kernel and
// reported as MSG_CTRUNC).
inline constexpr std::size_t kMaxFdsPerMessage = 32;

// One sendmsg of `bytes` with `fds` as SCM_RIGHTS (none: no control data), retried on EINTR.
// Returns what sendmsg returns, errno as it left it (EINVAL: more than kMaxFdsPerMessage).
ssize_t SendWithFds(int socket, std::span<const iovec> bytes, std::span<const int> fds, int flags);

// One recvmsg (MSG_CMSG_CLOEXEC, retried on EINTR) into `buffer`: every descriptor that came
// with it is appended to `fds`, owned, before anything else is looked at. Returns what recvmsg
// returns (0 at EOF, -1 with errno); `message_flags` gets the message's flags (MSG_TRUNC,
// MSG_CTRUNC) when it is not null.
ssize_t ReceiveWithFds(int socket, void* buffer, std::size_t size, std::vector<UniqueFd>& fds,
                       int* message_flags = nullptr, int flags = 0);

}  // namespace sandboxd
