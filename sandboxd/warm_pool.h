// The warm pool: sandboxes of the default image launched before requests arrive, their runner
// already past `import numpy, pandas` and waiting on its control pipe. A request takes one and
// skips interpreter start-up; each is used once and the pool launches a replacement. Requests
// with external artifacts start cold (their files are mounted at launch).
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <mutex>
#include <vector>

#include "admission.h"
#include "execution.h"

namespace sandboxd {

class WarmPool : public std::enable_shared_from_this<WarmPool> {
 public:
  // Keeps `target` sandboxes of `image` ready, using slots only when no request waits for one.
  WarmPool(boost::asio::io_context& io, const Services& services,
           std::shared_ptr<Admission> admission, ImageInfo image, unsigned target);

  // Launches sandboxes until `target` are ready or starting, as free slots allow.
  void Fill();
  // A ready sandbox of `image`, or null.
  std::shared_ptr<Execution> Take(const std::string& image);
  // Drops every idle sandbox and launches fresh ones (a new policy must reach every sandbox
  // that has not started its request).
  void Recycle();
  // Drops every idle sandbox for good (shutdown).
  void Drain();
  // Drops up to `count` idle sandboxes and frees their slots (a request of another image waits
  // for one); the pool refills when slots are free again and nothing waits.
  void YieldIdle(unsigned count);
  // The image it keeps ready, and how many of its sandboxes are ready now (metrics).
  const std::string& image() const;
  unsigned ready();

 private:
  void OnLaunched(const std::shared_ptr<Execution>& execution, const Status& status);
  void OnIdleExit(Execution* execution);
  void DropIdle(bool for_good);

  boost::asio::io_context& io_;
  const Services& services_;
  std::shared_ptr<Admission> admission_;
  ImageInfo image_;
  unsigned target_;
  std::mutex mu_;
  bool draining_ = false;
  bool paused_ = false;  // a launch failed: no refill until the next Take
  unsigned starting_ = 0;
  std::vector<std::shared_ptr<Execution>> ready_;
};

}  // namespace sandboxd
