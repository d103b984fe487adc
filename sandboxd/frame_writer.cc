#include "frame_writer.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>

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
    iovec iov{front.bytes.data() + front.sent, front.bytes.size() - front.sent};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(struct cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kMaxFdsPerFrame)> control{};
    if (front.sent == 0 && !front.fds.empty()) {
      msg.msg_control = control.data();
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * front.fds.size());
      cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(sizeof(int) * front.fds.size());
      for (std::size_t i = 0; i < front.fds.size(); ++i) {
        const int fd = front.fds[i].get();
        std::memcpy(CMSG_DATA(cmsg) + i * sizeof(int), &fd, sizeof(int));
      }
    }
    const ssize_t n = ::sendmsg(socket_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
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
