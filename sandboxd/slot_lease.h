// A sandbox slot (its two unprivileged host uids) held by one sandbox for as long as any of its
// processes may run: the slot goes back to admission, and to the next queued request, only when
// the lease is destroyed with the sandbox's Execution. An answer sent early (a deadline that
// passed during the launch) therefore never lets two sandboxes share a slot's uids.
#pragma once

#include <functional>
#include <memory>

#include "admission.h"

namespace sandboxd {

class SlotLease {
 public:
  // `released` runs after the slot is back (the warm pool refills from it).
  SlotLease(std::shared_ptr<Admission> admission, unsigned slot,
            std::function<void()> released = {})
      : admission_(std::move(admission)), slot_(slot), released_(std::move(released)) {}
  ~SlotLease() {
    admission_->Release(slot_);
    if (released_) released_();
  }
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;

  unsigned slot() const { return slot_; }

 private:
  std::shared_ptr<Admission> admission_;  // shared: a lease may outlive the Server at exit
  unsigned slot_;
  std::function<void()> released_;
};

}  // namespace sandboxd
