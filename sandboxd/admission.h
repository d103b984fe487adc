// Admission control: at most `slots` sandboxes run at once (each slot is one unprivileged host
// uid), at most `max_queue` requests wait; past that a request is answered OVERLOADED.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace sandboxd {

class Admission {
 public:
  using Start = std::function<void(unsigned slot)>;
  // Answers a queued request that will never get a slot (the daemon is stopping).
  using Abort = std::function<void()>;
  Admission(unsigned slots, unsigned max_queue);

  enum class Outcome { kStarted, kQueued, kRefused };
  struct Submitted {
    Outcome outcome;
    std::uint64_t ticket = 0;  // names a queued request for Withdraw
    // True unless the queue was full (the request is answered OVERLOADED).
    explicit operator bool() const { return outcome != Outcome::kRefused; }
  };
  // Runs `start` with a free slot now, or queues it; kRefused when the queue is full.
  Submitted Submit(Start start, Abort abort = {});
  // Takes a queued request out of the queue (its deadline passed); false when it has started
  // (or was aborted) already. Neither its start nor its abort runs.
  bool Withdraw(std::uint64_t ticket);
  // Empties the queue, running each item's `abort` (outside the lock); returns how many.
  unsigned AbortQueued();
  // A free slot for background work (the warm pool), only when no request is waiting.
  std::optional<unsigned> TryAcquire();
  // Gives the slot to the next queued request, or frees it.
  void Release(unsigned slot);

  unsigned running() const;
  unsigned queued() const;

 private:
  mutable std::mutex mu_;
  std::vector<unsigned> free_slots_;
  struct Waiting {
    Start start;
    Abort abort;
    std::uint64_t ticket;
  };
  std::deque<Waiting> queue_;
  unsigned slots_;
  unsigned max_queue_;
  std::uint64_t last_ticket_ = 0;
};

}  // namespace sandboxd
