// Admission control: at most `slots` sandboxes run at once (each slot is one unprivileged host
// uid), at most `max_queue` requests wait; past that a request is answered OVERLOADED.
#pragma once

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

  // Runs `start` with a free slot now, or queues it; false when the queue is full.
  bool Submit(Start start, Abort abort = {});
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
  };
  std::deque<Waiting> queue_;
  unsigned slots_;
  unsigned max_queue_;
};

}  // namespace sandboxd
