// The callout policy (the operator's JSON) and its decision on a client's artifact URL: the
// input is split at its first NUL byte into the policy and the URL.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "callout_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::size_t split = text.find('\0');
  const std::string_view json = text.substr(0, split);
  const std::string_view url = split == std::string_view::npos ? "" : text.substr(split + 1);
  auto rules = sandboxd::CalloutRules::Parse(json, "fuzz.json");
  if (!rules.ok()) return 0;
  (void)rules->Check(url, "sandbox_artifacts");
  return 0;
}
