#include "frame_writer.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "sandboxd/fd_passing.h"
#include "sandboxd/framing.h"

namespace sandboxd {

Status FrameWriter::Push(std::string_view payload, std::vector<UniqueFd> fds) {
  if (payload.size() > UINT32_MAX) return {ErrorCode::kInternal, "frame too large to send"};
  if (fds.size() > kMaxFdsPerFrame)
    return {ErrorCode::kInternal, "too many descriptors for one frame"};
  const std::size_t size = 4 + payload.size();
  // An empty queue takes any frame, so an answer is never refused for its own size; the bound is
  // on what piles up behind a peer that does not read.
  if (!frames_.empty() && (frames_.size() >= max_frames_ || queued_bytes_ + size > max_bytes_))
    return {ErrorCode::kOverloaded, "the client's unread answers exceed " +
                                        std::to_string(max_bytes_) + " bytes or " +
                                        std::to_string(max_frames_) + " frames"};
  Pending pending;
  pending.bytes.resize(size);
  const auto length = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) pending.bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  std::memcpy(pending.bytes.data() + 4, payload.data(), payload.size());
  pending.fds = std::move(fds);
  queued_bytes_ += size;
  frames_.push_back(std::move(pending));
  return Status::Ok();
}

Status FrameWriter::WriteSome(int socket_fd, bool& progressed) {
  progressed = false;
  while (!frames_.empty()) {
    Pending& front = frames_.front();
    // One frame per sendmsg: the descriptors are tied to the first byte written with them, so a
    // sendmsg that also carried the previous frame's tail would hand them over mid-frame.
    const iovec iov{front.bytes.data() + front.sent, front.bytes.size() - front.sent};
    std::array<int, kMaxFdsPerFrame> fds{};
    const std::size_t fd_count = front.sent == 0 ? front.fds.size() : 0;
    for (std::size_t i = 0; i < fd_count; ++i) fds[i] = front.fds[i].get();
    const ssize_t n =
        SendWithFds(socket_fd, std::span<const iovec>(&iov, 1),
                    std::span<const int>(fds.data(), fd_count), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::Ok();
      return {ErrorCode::kInternal, std::string("sendmsg: ") + std::strerror(errno)};
    }
    if (n == 0) return Status::Ok();
    progressed = true;
    // The kernel holds its own references now; ours go, so they are never sent twice.
    front.fds.clear();
    front.sent += static_cast<std::size_t>(n);
    queued_bytes_ -= static_cast<std::size_t>(n);
    if (front.sent == front.bytes.size()) frames_.pop_front();
  }
  return Status::Ok();
}

void FrameWriter::Clear() {
  frames_.clear();
  queued_bytes_ = 0;
}

}  // namespace sandboxd
