// The JSON depth check that runs before any DOM is built (kargs, dynamic cells), held against
// nlohmann's parser: what the check calls valid, nlohmann parses; what nlohmann refuses, the
// check does not call valid.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "sandboxd/json_limits.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (int depth : {1, 3, sandboxd::kMaxJsonDepth}) {
    const sandboxd::JsonCheck check = sandboxd::CheckJson(text, depth);
    if (check != sandboxd::JsonCheck::kValid) continue;
    // Within the bound nlohmann's recursion is shallow: parse and dump must both work.
    const auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) std::abort();
    (void)parsed.dump();
  }
  return 0;
}
