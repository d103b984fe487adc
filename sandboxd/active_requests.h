// The requests the daemon has accepted and not yet answered, with where each one is now (its
// phase) and which sandbox serves it: what `sandboxctl status` lists. Each request holds its entry
// from acceptance until its answer goes out; the entry leaves the list when it is dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sandboxd {

// In the order a request passes through them (proto RequestPhase has the same numbers).
enum class RequestPhase {
  kAccepted = 1,    // validated; on its way to a sandbox
  kSpilling = 2,    // spill_to_disk: its input is being copied to a file
  kFetching = 3,    // its external artifacts are being fetched
  kQueued = 4,      // waiting for a free slot
  kLaunching = 5,   // its sandbox is being started
  kRunning = 6,     // its script runs
  kValidating = 7,  // its result table is being checked
};

// "queued", "running", ...
std::string_view RequestPhaseName(RequestPhase phase);

class ActiveRequests {
 public:
  using Clock = std::chrono::steady_clock;

  struct Snapshot {
    std::string request_id;
    std::string image;
    RequestPhase phase = RequestPhase::kAccepted;
    Clock::time_point received;
    std::string sandbox_id;  // empty until a sandbox is assigned
  };

  // One request's place in the list; thread-safe. Dropping it takes the request off the list.
  class Entry {
   public:
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    void set_phase(RequestPhase phase);
    void set_sandbox(const std::string& sandbox_id);

   private:
    friend class ActiveRequests;
    struct Shared;
    Entry(std::shared_ptr<Shared> shared, std::uint64_t key)
        : shared_(std::move(shared)), key_(key) {}
    std::shared_ptr<Shared> shared_;  // shared: an entry may outlive the list at exit
    std::uint64_t key_;
  };

  ActiveRequests();
  std::shared_ptr<Entry> Add(std::string request_id, std::string image, Clock::time_point received);
  // Every listed request, in the order they were accepted.
  std::vector<Snapshot> List() const;

 private:
  std::shared_ptr<Entry::Shared> shared_;
};

}  // namespace sandboxd
