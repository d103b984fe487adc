#include "peer_log_limiter.h"

#include <algorithm>

namespace sandboxd {

PeerLogLimiter::PeerLogLimiter(unsigned burst, Clock::duration interval)
    : burst_(std::max(1U, burst)), interval_(std::max(interval, Clock::duration(1))) {}

std::optional<std::uint64_t> PeerLogLimiter::Admit(uid_t peer, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(peer, Bucket{burst_, now});
  Bucket& bucket = it->second;
  if (now > bucket.refilled) {
    const double earned = std::chrono::duration<double>(now - bucket.refilled) /
                          std::chrono::duration<double>(interval_);
    bucket.tokens = std::min(burst_, bucket.tokens + earned);
    bucket.refilled = now;
  }
  if (bucket.tokens < 1) {
    ++bucket.dropped;
    return std::nullopt;
  }
  bucket.tokens -= 1;
  const std::uint64_t dropped = bucket.dropped;
  bucket.dropped = 0;
  if (inserted && buckets_.size() >= forget_at_) ForgetRestedPeers(now);
  return dropped;
}

// Amortized: runs when the map has doubled since the last time, so each Admit stays O(1).
void PeerLogLimiter::ForgetRestedPeers(Clock::time_point now) {
  std::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& b = entry.second;
    const double earned =
        std::chrono::duration<double>(now - b.refilled) / std::chrono::duration<double>(interval_);
    return b.dropped == 0 && b.tokens + earned >= burst_;
  });
  forget_at_ = std::max<std::size_t>(64, 2 * buckets_.size());
}

std::size_t PeerLogLimiter::peers() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

std::string SuppressedNote(std::uint64_t suppressed, uid_t peer) {
  if (suppressed == 0) return "";
  return " (" + std::to_string(suppressed) + " earlier lines caused by uid " +
         std::to_string(peer) + " were suppressed)";
}

}  // namespace sandboxd
