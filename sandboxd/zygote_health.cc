#include "zygote_health.h"

#include <algorithm>

namespace sandboxd {

bool ZygoteHealth::UseZygote(const std::string& image, Clock::time_point now) const {
  std::lock_guard lock(mu_);
  const auto it = failing_.find(image);
  return it == failing_.end() || now >= it->second.retry_at;
}

std::optional<std::chrono::seconds> ZygoteHealth::RecordFailure(const std::string& image,
                                                                const std::string& cause,
                                                                Clock::time_point now) {
  std::lock_guard lock(mu_);
  Failing& failing = failing_[image];
  if (failing.backoff.count() != 0 && now < failing.retry_at) return std::nullopt;
  failing.backoff =
      failing.backoff.count() == 0 ? kFirstBackoff : std::min(failing.backoff * 2, kMaxBackoff);
  failing.retry_at = now + failing.backoff;
  failing.cause = cause;
  return failing.backoff;
}

void ZygoteHealth::RecordSuccess(const std::string& image, const std::string& restarted) {
  std::lock_guard lock(mu_);
  failing_.erase(image);
  forked_.insert(image);
  if (!restarted.empty()) ++restarts_[{image, restarted}];
}

std::map<std::pair<std::string, std::string>, std::uint64_t> ZygoteHealth::Restarts() const {
  std::lock_guard lock(mu_);
  return restarts_;
}

void ZygoteHealth::Reset() {
  std::lock_guard lock(mu_);
  failing_.clear();
  forked_.clear();
}

ZygoteHealth::View ZygoteHealth::Describe(const std::string& image, Clock::time_point now) const {
  std::lock_guard lock(mu_);
  View view;
  if (const auto it = failing_.find(image); it != failing_.end() && now < it->second.retry_at) {
    view.state = View::State::kBackingOff;
    view.retry_in =
        std::chrono::duration_cast<std::chrono::milliseconds>(it->second.retry_at - now);
    view.cause = it->second.cause;
  } else if (forked_.contains(image)) {
    view.state = View::State::kInUse;
  }
  return view;
}

}  // namespace sandboxd
