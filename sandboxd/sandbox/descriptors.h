// Closing every descriptor but a few: what each process of a sandbox's start does first, so that
// nothing of its parent's (the launcher's, a zygote's interpreter's) leaks into it.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace sandboxd {

inline void CloseAllExcept(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned next = 0;
  for (int fd : keep) {
    if (fd < 0) continue;
    if (static_cast<unsigned>(fd) > next)
      ::syscall(SYS_close_range, next, static_cast<unsigned>(fd) - 1, 0U);
    next = static_cast<unsigned>(fd) + 1;
  }
  ::syscall(SYS_close_range, next, ~0U, 0U);
}

}  // namespace sandboxd
