// A session's outgoing frames: a bounded queue written to a non-blocking socket a little at a
// time, so that a client that does not read holds its own memory and nothing else (no io thread,
// no lock, no other session).
//
// Frames go out as framing.h defines them (4-byte little-endian length, payload; descriptors as
// SCM_RIGHTS). Asio has no SCM_RIGHTS, so the writer calls sendmsg itself on the native handle;
// the caller waits for writability (socket.async_wait) between calls. Not thread-safe: the
// session uses it on its strand only.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

class FrameWriter {
 public:
  FrameWriter(std::size_t max_bytes, std::size_t max_frames)
      : max_bytes_(max_bytes), max_frames_(max_frames) {}

  // Queues one frame. OVERLOADED (nothing queued) when it would take the queue over its bound of
  // bytes or frames: the caller closes the connection, since its peer is not keeping up.
  Status Push(std::string_view payload, std::vector<UniqueFd> fds);

  // Writes what the socket takes now, without blocking. `progressed` says whether any byte
  // went out. An error (the peer is gone, or a socket fault) leaves the queue as it was.
  Status WriteSome(int socket_fd, bool& progressed);

  bool empty() const { return frames_.empty(); }
  std::size_t queued_bytes() const { return queued_bytes_; }
  std::size_t queued_frames() const { return frames_.size(); }
  // Drops every queued frame (and closes its descriptors).
  void Clear();

 private:
  struct Pending {
    std::string bytes;  // length prefix + payload
    std::vector<UniqueFd> fds;
    std::size_t sent = 0;  // descriptors went with the first byte when sent > 0
  };
  std::size_t max_bytes_;
  std::size_t max_frames_;
  std::deque<Pending> frames_;
  std::size_t queued_bytes_ = 0;  // not yet sent
};

}  // namespace sandboxd
