#include "sandboxd/status.h"

#include <array>
#include <string>
#include <string_view>

namespace sandboxd {
namespace {

// Indexed by the numeric code, which is also the wire code of proto/sandboxd.proto.
constexpr std::array<std::string_view, 14> kNames = {
    "OK",
    "BAD_REQUEST",
    "SCHEMA_MISMATCH",
    "SCRIPT_ERROR",
    "TIMEOUT",
    "MEMORY_LIMIT",
    "OUTPUT_LIMIT",
    "POLICY_VIOLATION",
    "ARTIFACT_DENIED",
    "ARTIFACT_FAILED",
    "IMAGE_NOT_FOUND",
    "OVERLOADED",
    "INTERNAL",
    "UNAVAILABLE",
};

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  const auto index = static_cast<std::size_t>(code);
  if (index < kNames.size()) return kNames[index];
  return "UNKNOWN";
}

std::optional<ErrorCode> ErrorCodeFromName(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<ErrorCode>(i);
  }
  return std::nullopt;
}

std::string Status::ToString() const {
  std::string out(ErrorCodeName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace sandboxd
