#include "sandbox/init_report.h"

#include <cstring>

namespace sandboxd {

std::optional<InitReport> ParseInitReport(std::span<const std::byte> bytes) {
  if (bytes.size() != sizeof(InitReport)) return std::nullopt;
  InitReport report;
  std::memcpy(&report, bytes.data(), sizeof(report));
  if (report.magic != InitReport::kMagic) return std::nullopt;
  if (report.kind < InitReport::kExited || report.kind > InitReport::kSetupFailed)
    return std::nullopt;
  if (report.kind == InitReport::kExited && (report.value < 0 || report.value > 255))
    return std::nullopt;
  if (report.kind == InitReport::kSignaled && (report.value <= 0 || report.value >= 65))
    return std::nullopt;
  if ((report.flags & ~InitReport::kWorkFolderFull) != 0 || report.reserved != 0)
    return std::nullopt;
  report.message[sizeof(report.message) - 1] = '\0';
  return report;
}

}  // namespace sandboxd
