// Which images' zygotes to use: an image whose zygote could not start is launched without one
// (each sandbox starts its own interpreter, as with --no-zygotes) for a backoff period, so that a
// broken image costs one failed zygote start per period (and those of the launches already under
// way when it failed) instead of one per launch, and its requests are still served. Thread-safe:
// the launch threads (execution.cc) use it at once. The period doubles with each failure in a row
// (kFirstBackoff up to kMaxBackoff); a zygote that starts again clears it, and so does SIGHUP.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace sandboxd {

class ZygoteHealth {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kFirstBackoff{30};
  static constexpr std::chrono::seconds kMaxBackoff{600};

  // Whether a sandbox of `image` launched at `now` should be forked from its zygote.
  bool UseZygote(const std::string& image, Clock::time_point now) const;
  // The zygote of `image` could not start at `now` (`cause` says why): returns the period during
  // which its sandboxes start without one, so that the caller's warning is logged once per
  // period. UseZygote says no meanwhile, but launches that overlap may all have been told yes
  // before the first of them failed: a failure within the period in force is theirs, neither
  // lengthens it nor is said again (nullopt).
  std::optional<std::chrono::seconds> RecordFailure(const std::string& image,
                                                    const std::string& cause,
                                                    Clock::time_point now);
  // A sandbox of `image` was forked from its zygote: the backoff starts afresh next time.
  // `restarted`: the fork started the zygote again, and why the one before ended ("died",
  // "aged", "unresponsive", "reload"; LaunchReply.zygote_restarted), or empty.
  void RecordSuccess(const std::string& image, const std::string& restarted = "");
  // Every image tries its zygote again (SIGHUP: an operator may have rebuilt an image).
  void Reset();

  // What `sandboxctl status` says of an image's zygote at `now`.
  struct View {
    enum class State { kNotStarted, kInUse, kBackingOff } state = State::kNotStarted;
    std::chrono::milliseconds retry_in{0};  // kBackingOff
    std::string cause;                      // kBackingOff
  };
  View Describe(const std::string& image, Clock::time_point now) const;

  // Zygote restarts since the daemon started, by (image, why the one before ended); for
  // sandboxd_zygote_restarts_total. Zygotes that end with their launcher are counted as
  // launcher restarts, not here.
  std::map<std::pair<std::string, std::string>, std::uint64_t> Restarts() const;

 private:
  struct Failing {
    Clock::time_point retry_at;
    std::chrono::seconds backoff{0};
    std::string cause;
  };
  mutable std::mutex mu_;
  std::map<std::string, Failing> failing_;
  std::set<std::string> forked_;  // images with a sandbox forked since the start or Reset
  std::map<std::pair<std::string, std::string>, std::uint64_t> restarts_;
};

}  // namespace sandboxd
