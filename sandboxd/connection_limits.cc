#include "connection_limits.h"

namespace sandboxd {

ConnectionLimits::ConnectionLimits(unsigned max_total, unsigned max_per_uid)
    : max_total_(max_total), max_per_uid_(max_per_uid) {}

ConnectionLimits::Admitted ConnectionLimits::Admit(uid_t uid) {
  std::lock_guard lock(counts_->mu);
  if (counts_->total >= max_total_) return {Verdict::kTotalFull, nullptr};
  unsigned& of_uid = counts_->per_uid[uid];
  if (of_uid >= max_per_uid_) {
    if (of_uid == 0) counts_->per_uid.erase(uid);  // max_per_uid 0: keep the map small
    return {Verdict::kUidFull, nullptr};
  }
  ++of_uid;
  ++counts_->total;
  // The place goes back when its connection's last holder lets go.
  return {Verdict::kAdmitted,
          std::shared_ptr<const void>(counts_.get(), [counts = counts_, uid](const void*) {
            std::lock_guard released(counts->mu);
            --counts->total;
            if (auto it = counts->per_uid.find(uid);
                it != counts->per_uid.end() && --it->second == 0)
              counts->per_uid.erase(it);
          })};
}

unsigned ConnectionLimits::total() const {
  std::lock_guard lock(counts_->mu);
  return counts_->total;
}

unsigned ConnectionLimits::of_uid(uid_t uid) const {
  std::lock_guard lock(counts_->mu);
  const auto it = counts_->per_uid.find(uid);
  return it == counts_->per_uid.end() ? 0 : it->second;
}

}  // namespace sandboxd
