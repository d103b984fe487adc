// One round of the launcher's poll loop: the descriptors it waits on, each with what to do when
// it is ready. Rebuilt each round from what is in progress (a handful of descriptors), so a
// handler may end or start anything: later handlers look up their own state again by key.
#pragma once

#include <poll.h>

#include <cerrno>
#include <functional>
#include <utility>
#include <vector>

namespace sandboxd {

class PollSet {
 public:
  using Handler = std::function<void(short revents)>;

  void Add(int fd, short events, Handler handler) {
    fds_.push_back(pollfd{fd, events, 0});
    handlers_.push_back(std::move(handler));
  }

  // Waits up to `timeout_ms` (-1: no bound) and runs the handler of every ready descriptor, in
  // the order they were added. False when poll failed for another reason than a signal.
  bool PollAndDispatch(int timeout_ms) {
    if (::poll(fds_.data(), fds_.size(), timeout_ms) < 0) return errno == EINTR;
    for (std::size_t i = 0; i < fds_.size(); ++i) {
      if (fds_[i].revents != 0) handlers_[i](fds_[i].revents);
    }
    return true;
  }

 private:
  std::vector<pollfd> fds_;
  std::vector<Handler> handlers_;
};

}  // namespace sandboxd
