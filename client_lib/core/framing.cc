#include "sandboxd/framing.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "sandboxd/fd_passing.h"

namespace sandboxd {
namespace {

constexpr std::size_t kPrefixBytes = 4;

std::string Errno(std::string_view what) { return std::string(what) + ": " + std::strerror(errno); }

void PutLe32(char* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint32_t GetLe32(const char* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

}  // namespace

Status SendFrame(int socket_fd, std::string_view payload, std::span<const int> fds) {
  if (payload.size() > UINT32_MAX) return {ErrorCode::kInternal, "frame too large to send"};
  if (fds.size() > kMaxFdsAnyFrame)
    return {ErrorCode::kInternal, "too many descriptors for one frame"};
  char prefix[kPrefixBytes];
  PutLe32(prefix, static_cast<std::uint32_t>(payload.size()));

  // The descriptors go with the first sendmsg, which always carries the prefix.
  std::size_t sent_total = 0;
  const std::size_t total = kPrefixBytes + payload.size();
  bool fds_sent = fds.empty();
  while (sent_total < total) {
    std::array<iovec, 2> iov{};
    int iov_count = 0;
    if (sent_total < kPrefixBytes) {
      iov[iov_count++] = {prefix + sent_total, kPrefixBytes - sent_total};
      iov[iov_count++] = {const_cast<char*>(payload.data()), payload.size()};
    } else {
      const std::size_t done = sent_total - kPrefixBytes;
      iov[iov_count++] = {const_cast<char*>(payload.data() + done), payload.size() - done};
    }
    const ssize_t n = SendWithFds(
        socket_fd, std::span<const iovec>(iov.data(), static_cast<std::size_t>(iov_count)),
        fds_sent ? std::span<const int>() : fds, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // A non-blocking socket whose buffer is full: wait until it drains.
        fd_set wfds;
        FD_ZERO(&wfds);
        FD_SET(socket_fd, &wfds);
        timeval tv{30, 0};
        if (::select(socket_fd + 1, nullptr, &wfds, nullptr, &tv) <= 0)
          return {ErrorCode::kInternal, "peer did not read its frame within 30 s"};
        continue;
      }
      return {ErrorCode::kInternal, Errno("sendmsg")};
    }
    fds_sent = true;
    sent_total += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

StatusOr<FrameReader::ReadState> FrameReader::ReadFrom(int socket_fd) {
  // Read no further than the end of the current prefix or payload: the kernel hands over a
  // message's descriptors with the first byte read from it, so exact reads tie descriptors to the
  // frame whose prefix carried them, even when the peer pipelines frames.
  const bool in_prefix = buffer_.size() < kPrefixBytes;
  std::size_t want = in_prefix ? kPrefixBytes - buffer_.size()
                               : kPrefixBytes + GetLe32(buffer_.data()) - buffer_.size();
  want = std::min<std::size_t>(want, 1U << 20);
  const std::size_t old_size = buffer_.size();
  buffer_.resize(old_size + want);

  // Every descriptor that came is owned at once, so none leaks whatever happens next.
  const std::size_t fds_before = pending_fds_.size();
  int message_flags = 0;
  const ssize_t n =
      ReceiveWithFds(socket_fd, buffer_.data() + old_size, want, pending_fds_, &message_flags);
  const std::size_t received_fds = pending_fds_.size() - fds_before;
  buffer_.resize(old_size + (n > 0 ? static_cast<std::size_t>(n) : 0));
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadState::kOpen;
    return Status(ErrorCode::kInternal, Errno("recvmsg"));
  }

  if ((message_flags & MSG_CTRUNC) != 0) {
    pending_fds_.clear();
    return Status(ErrorCode::kBadRequest,
                  "descriptors were truncated (too many sent with one frame)");
  }
  if (pending_fds_.size() > max_fds_) {
    pending_fds_.clear();
    return Status(ErrorCode::kBadRequest, "more descriptors sent than a frame may carry");
  }
  if (received_fds > 0 && !in_prefix) {
    pending_fds_.clear();
    return Status(ErrorCode::kBadRequest, "descriptors arrived in the middle of a frame");
  }
  if (n == 0) {
    if (!buffer_.empty() || !pending_fds_.empty()) {
      pending_fds_.clear();
      return Status(ErrorCode::kBadRequest, "connection closed in the middle of a frame");
    }
    return ReadState::kClosed;
  }

  if (buffer_.size() < kPrefixBytes) return ReadState::kOpen;
  const std::uint32_t length = GetLe32(buffer_.data());
  if (length > max_frame_bytes_) {
    pending_fds_.clear();
    return Status(ErrorCode::kBadRequest, "frame of " + std::to_string(length) +
                                              " bytes exceeds the maximum of " +
                                              std::to_string(max_frame_bytes_));
  }
  if (buffer_.size() == kPrefixBytes + length) {
    Frame frame;
    frame.payload.assign(buffer_, kPrefixBytes, length);
    frame.fds = std::move(pending_fds_);
    pending_fds_.clear();
    buffer_.clear();
    frames_.push_back(std::move(frame));
  }
  return ReadState::kOpen;
}

Frame FrameReader::Next() {
  Frame frame = std::move(frames_.front());
  frames_.pop_front();
  return frame;
}

StatusOr<Frame> FrameReader::ReadOne(int socket_fd) {
  while (!HasFrame()) {
    auto state = ReadFrom(socket_fd);
    if (!state.ok()) return state.status();
    if (*state == ReadState::kClosed)
      return Status(ErrorCode::kInternal, "connection closed by peer");
  }
  return Next();
}

}  // namespace sandboxd
