// Caps the daemon's client connections, in total and per peer uid, so that one client (or a
// flood of connections) cannot take the descriptors the daemon needs to answer the others, log
// and launch sandboxes. A connection past a cap is answered OVERLOADED and closed (server.cc).
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <unordered_map>

namespace sandboxd {

class ConnectionLimits {
 public:
  ConnectionLimits(unsigned max_total, unsigned max_per_uid);

  enum class Verdict { kAdmitted, kTotalFull, kUidFull };
  struct Admitted {
    Verdict verdict = Verdict::kAdmitted;
    // Holds the connection's place while it lives; null when refused. It may outlive the
    // ConnectionLimits (sessions that handlers still hold at exit).
    std::shared_ptr<const void> place;
  };
  // A place for one more connection of `uid`, or the cap it would pass.
  Admitted Admit(uid_t uid);

  unsigned total() const;
  unsigned of_uid(uid_t uid) const;
  unsigned max_total() const { return max_total_; }
  unsigned max_per_uid() const { return max_per_uid_; }

 private:
  struct Counts {
    mutable std::mutex mu;
    unsigned total = 0;
    std::unordered_map<uid_t, unsigned> per_uid;  // only uids with open connections
  };
  const unsigned max_total_;
  const unsigned max_per_uid_;
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
};

}  // namespace sandboxd
