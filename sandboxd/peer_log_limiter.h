// Rate-limits the log lines that one peer (a client uid) can cause, so that a client opening
// and dropping thousands of connections writes a few lines, not thousands. Each peer has a
// bucket: a burst of lines, then a steady rate; the first line that gets through after some were
// dropped says how many.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace sandboxd {

class PeerLogLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // `burst` lines at once, then one per `interval`.
  PeerLogLimiter(unsigned burst, Clock::duration interval);

  // Whether a line caused by `peer` may be written at `now`: nullopt drops it; otherwise how
  // many of this peer's lines were dropped since the last one written.
  std::optional<std::uint64_t> Admit(uid_t peer, Clock::time_point now = Clock::now());

  // How many peers have a bucket (bounded: full buckets with nothing dropped are forgotten).
  std::size_t peers() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point refilled;
    std::uint64_t dropped = 0;
  };
  void ForgetRestedPeers(Clock::time_point now);  // under mu_

  const double burst_;
  const Clock::duration interval_;
  mutable std::mutex mu_;
  std::unordered_map<uid_t, Bucket> buckets_;
  std::size_t forget_at_ = 64;  // the next size at which rested buckets are dropped
};

// " (N earlier lines caused by uid U were suppressed)", or "" when none were.
std::string SuppressedNote(std::uint64_t suppressed, uid_t peer);

}  // namespace sandboxd
