#include "status_pipe.h"

#include <algorithm>
#include <cstring>

namespace sandboxd {

void StatusPipeReader::Feed(std::span<const std::byte> bytes) {
  bytes_read_ += bytes.size();
  const std::size_t take = std::min(bytes.size(), raw_.size() - kept_);
  std::memcpy(raw_.data() + kept_, bytes.data(), take);
  kept_ += take;
}

std::optional<InitReport> StatusPipeReader::report() const {
  if (bytes_read_ != sizeof(InitReport)) return std::nullopt;
  return ParseInitReport(std::span(raw_.data(), kept_));
}

}  // namespace sandboxd
