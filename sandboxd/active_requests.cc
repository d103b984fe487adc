#include "active_requests.h"

namespace sandboxd {

struct ActiveRequests::Entry::Shared {
  std::mutex mu;
  std::uint64_t last_key = 0;
  std::map<std::uint64_t, Snapshot> entries;  // keys grow with acceptance: oldest first
};

std::string_view RequestPhaseName(RequestPhase phase) {
  switch (phase) {
    case RequestPhase::kAccepted:
      return "accepted";
    case RequestPhase::kSpilling:
      return "spilling";
    case RequestPhase::kFetching:
      return "fetching";
    case RequestPhase::kQueued:
      return "queued";
    case RequestPhase::kLaunching:
      return "launching";
    case RequestPhase::kRunning:
      return "running";
    case RequestPhase::kValidating:
      return "validating";
  }
  return "unknown";
}

ActiveRequests::ActiveRequests() : shared_(std::make_shared<Entry::Shared>()) {}

std::shared_ptr<ActiveRequests::Entry> ActiveRequests::Add(std::string request_id,
                                                           std::string image,
                                                           Clock::time_point received) {
  std::lock_guard lock(shared_->mu);
  const std::uint64_t key = ++shared_->last_key;
  Snapshot& snapshot = shared_->entries[key];
  snapshot.request_id = std::move(request_id);
  snapshot.image = std::move(image);
  snapshot.received = received;
  return std::shared_ptr<Entry>(new Entry(shared_, key));
}

std::vector<ActiveRequests::Snapshot> ActiveRequests::List() const {
  std::lock_guard lock(shared_->mu);
  std::vector<Snapshot> list;
  list.reserve(shared_->entries.size());
  for (const auto& [key, snapshot] : shared_->entries) list.push_back(snapshot);
  return list;
}

ActiveRequests::Entry::~Entry() {
  std::lock_guard lock(shared_->mu);
  shared_->entries.erase(key_);
}

void ActiveRequests::Entry::set_phase(RequestPhase phase) {
  std::lock_guard lock(shared_->mu);
  if (auto it = shared_->entries.find(key_); it != shared_->entries.end()) it->second.phase = phase;
}

void ActiveRequests::Entry::set_sandbox(const std::string& sandbox_id) {
  std::lock_guard lock(shared_->mu);
  if (auto it = shared_->entries.find(key_); it != shared_->entries.end())
    it->second.sandbox_id = sandbox_id;
}

}  // namespace sandboxd
