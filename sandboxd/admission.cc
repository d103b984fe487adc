#include "admission.h"

namespace sandboxd {

Admission::Admission(unsigned slots, unsigned max_queue) : slots_(slots), max_queue_(max_queue) {
  for (unsigned i = slots; i > 0; --i) free_slots_.push_back(i - 1);
}

Admission::Submitted Admission::Submit(Start start, Abort abort) {
  unsigned slot;
  {
    std::lock_guard lock(mu_);
    if (free_slots_.empty()) {
      if (queue_.size() >= max_queue_) return {Outcome::kRefused};
      const std::uint64_t ticket = ++last_ticket_;
      queue_.push_back({std::move(start), std::move(abort), ticket});
      return {Outcome::kQueued, ticket};
    }
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  start(slot);
  return {Outcome::kStarted};
}

bool Admission::Withdraw(std::uint64_t ticket) {
  Waiting withdrawn;  // destroyed outside the lock: it may hold the last reference to a request
  std::lock_guard lock(mu_);
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->ticket != ticket) continue;
    withdrawn = std::move(*it);
    queue_.erase(it);
    return true;
  }
  return false;
}

std::optional<unsigned> Admission::TryAcquire() {
  std::lock_guard lock(mu_);
  if (free_slots_.empty() || !queue_.empty()) return std::nullopt;
  const unsigned slot = free_slots_.back();
  free_slots_.pop_back();
  return slot;
}

void Admission::Release(unsigned slot) {
  Start next;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) {
      free_slots_.push_back(slot);
      return;
    }
    next = std::move(queue_.front().start);
    queue_.pop_front();
  }
  next(slot);
}

unsigned Admission::AbortQueued() {
  std::deque<Waiting> aborted;
  {
    std::lock_guard lock(mu_);
    aborted.swap(queue_);
  }
  for (auto& waiting : aborted) {
    if (waiting.abort) waiting.abort();
  }
  return static_cast<unsigned>(aborted.size());
}

unsigned Admission::running() const {
  std::lock_guard lock(mu_);
  return slots_ - static_cast<unsigned>(free_slots_.size());
}

unsigned Admission::queued() const {
  std::lock_guard lock(mu_);
  return static_cast<unsigned>(queue_.size());
}

}  // namespace sandboxd
