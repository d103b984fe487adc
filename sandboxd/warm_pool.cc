#include "warm_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sandboxd {

WarmPool::WarmPool(boost::asio::io_context& io, const Services& services,
                   std::shared_ptr<Admission> admission, ImageInfo image, unsigned target)
    : io_(io),
      services_(services),
      admission_(std::move(admission)),
      image_(std::move(image)),
      target_(target) {}

void WarmPool::Fill() {
  for (;;) {
    std::unique_lock lock(mu_);
    if (draining_ || paused_ || ready_.size() + starting_ >= target_) return;
    const auto slot = admission_->TryAcquire();
    if (!slot) return;
    ++starting_;
    lock.unlock();
    std::weak_ptr<WarmPool> weak = weak_from_this();
    auto execution = std::make_shared<Execution>(
        io_, services_, image_, std::make_unique<SlotLease>(admission_, *slot, [weak] {
          if (auto pool = weak.lock()) pool->Fill();
        }));
    Execution* raw = execution.get();
    execution->Prelaunch(
        [weak, execution](const Status& status) {
          if (auto pool = weak.lock()) pool->OnLaunched(execution, status);
        },
        [weak, raw] {
          if (auto pool = weak.lock()) pool->OnIdleExit(raw);
        });
  }
}

void WarmPool::OnLaunched(const std::shared_ptr<Execution>& execution, const Status& status) {
  {
    std::lock_guard lock(mu_);
    --starting_;
    // A request queued while this one started (of another image, or it would have waited for
    // none) gets the slot instead.
    if (status.ok() && !draining_ && admission_->queued() == 0) {
      ready_.push_back(execution);
      return;
    }
  }
  if (!status.ok()) {
    spdlog::warn("warm sandbox not started: {}", status.message());
    // A launch that fails would fail again at once: no refill until the next Take.
    std::lock_guard lock(mu_);
    paused_ = true;
  }
  execution->Cancel();  // its slot comes back when it is gone (SlotLease)
}

void WarmPool::OnIdleExit(Execution* execution) {
  std::shared_ptr<Execution> gone;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(ready_.begin(), ready_.end(),
                           [execution](const auto& e) { return e.get() == execution; });
    if (it == ready_.end()) return;  // taken just now; its Run answers for it
    gone = std::move(*it);
    ready_.erase(it);
  }
  spdlog::warn("a warm sandbox ended while idle; replacing it");  // when its slot is back
}

std::shared_ptr<Execution> WarmPool::Take(const std::string& image) {
  if (image != image_.name) return nullptr;
  std::vector<std::shared_ptr<Execution>> dead;
  std::shared_ptr<Execution> execution;
  {
    std::lock_guard lock(mu_);
    paused_ = false;
    // A ready sandbox that died while idle (its exit not handled yet) would answer its request
    // INTERNAL: it is dropped, and the request takes the next one or starts cold.
    while (!ready_.empty() && execution == nullptr) {
      auto candidate = std::move(ready_.back());
      ready_.pop_back();
      if (candidate->SandboxExited()) {
        dead.push_back(std::move(candidate));
      } else {
        execution = std::move(candidate);
      }
    }
  }
  for (auto& gone : dead) gone->Cancel();  // each frees its slot when gone
  if (!dead.empty())
    spdlog::warn("{} warm sandboxes ended while idle; replacing them", dead.size());
  return execution;
}

void WarmPool::DropIdle(bool for_good) {
  std::vector<std::shared_ptr<Execution>> idle;
  {
    std::lock_guard lock(mu_);
    draining_ = draining_ || for_good;
    idle.swap(ready_);
  }
  for (auto& execution : idle) execution->Cancel();  // each frees its slot when gone
}

void WarmPool::Recycle() {
  DropIdle(false);
  Fill();
}

void WarmPool::Drain() { DropIdle(true); }

void WarmPool::YieldIdle(unsigned count) {
  std::vector<std::shared_ptr<Execution>> yielded;
  {
    std::lock_guard lock(mu_);
    while (count-- > 0 && !ready_.empty()) {
      yielded.push_back(std::move(ready_.back()));
      ready_.pop_back();
    }
  }
  for (auto& execution : yielded) execution->Cancel();  // each frees its slot when gone
}

const std::string& WarmPool::image() const { return image_.name; }

unsigned WarmPool::ready() {
  std::lock_guard lock(mu_);
  return static_cast<unsigned>(ready_.size());
}

}  // namespace sandboxd
