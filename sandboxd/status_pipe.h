// A sandbox's status pipe as the daemon reads it. init writes one InitReport into it just before
// it exits, and holds its only write end: the pipe's EOF is init's end, so only at EOF is "no
// report" a fact. Before it (the answer at the runner's "done", while init still runs) the
// report may simply not be written yet. The daemon judges a run that ended only once the pipe
// is at EOF (issue 23 item 2: a report read once, non-blocking, could be missed).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>

#include "sandbox/init_report.h"

namespace sandboxd {

class StatusPipeReader {
 public:
  // Bytes read from the pipe, in order. More than a report's size is kept to one byte over
  // (what follows cannot make the report valid again) but counted.
  void Feed(std::span<const std::byte> bytes);
  // The pipe reached EOF (or cannot be read): nothing more will come.
  void Ended() { ended_ = true; }
  bool ended() const { return ended_; }
  std::size_t bytes_read() const { return bytes_read_; }
  // The report, when exactly one valid report was read.
  std::optional<InitReport> report() const;

 private:
  std::array<std::byte, sizeof(InitReport) + 1> raw_{};
  std::size_t kept_ = 0;
  std::size_t bytes_read_ = 0;
  bool ended_ = false;
};

}  // namespace sandboxd
