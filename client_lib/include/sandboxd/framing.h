// Length-prefixed frames with descriptors on a Unix stream socket (proto/sandboxd.proto).
//
// A frame is a 4-byte little-endian length and that many payload bytes; descriptors ride as
// SCM_RIGHTS on the sendmsg that carries the length prefix. FrameReader is incremental so the
// daemon can drive it from an event loop and the client from blocking reads alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

constexpr std::uint32_t kDefaultMaxFrameBytes = 64U << 20;
constexpr std::size_t kMaxFdsPerFrame = 8;
// What any frame may carry at all (the launcher's frames to a zygote carry 11); a reader still
// takes no more than its own max_fds.
constexpr std::size_t kMaxFdsAnyFrame = 16;

struct Frame {
  std::string payload;
  std::vector<UniqueFd> fds;
};

// Sends one frame; blocks until it is written (retrying on EINTR and short writes).
Status SendFrame(int socket_fd, std::string_view payload, std::span<const int> fds = {});

class FrameReader {
 public:
  explicit FrameReader(std::uint32_t max_frame_bytes = kDefaultMaxFrameBytes,
                       std::size_t max_fds = kMaxFdsPerFrame)
      : max_frame_bytes_(max_frame_bytes), max_fds_(max_fds) {}

  enum class ReadState { kOpen, kClosed };

  // Reads what the socket has (one recvmsg; blocks only if the socket is blocking). Complete
  // frames are queued for Next(). Errors: a length over the maximum or more descriptors than
  // allowed (BAD_REQUEST; the extra descriptors are closed), truncated control data, or a socket
  // error (INTERNAL). Returns kClosed on orderly EOF; a frame cut short by EOF is BAD_REQUEST.
  StatusOr<ReadState> ReadFrom(int socket_fd);

  bool HasFrame() const { return !frames_.empty(); }
  // Part of a frame has been read and the rest has not (the daemon bounds how long that lasts).
  bool InFrame() const { return !buffer_.empty() || !pending_fds_.empty(); }
  Frame Next();

  // Blocking convenience: reads until one whole frame is there.
  StatusOr<Frame> ReadOne(int socket_fd);

 private:
  std::uint32_t max_frame_bytes_;
  std::size_t max_fds_;
  std::string buffer_;
  std::vector<UniqueFd> pending_fds_;
  std::deque<Frame> frames_;
};

}  // namespace sandboxd
