// The nesting bound of every JSON text sandboxd parses: script parameters (kargs), dynamic cells
// of SBXT tables, the events a sandbox writes. A text nested deeper than this is refused before
// anything builds or prints a tree of it, because nlohmann's dump and destructors, and Python's
// json module, recurse once per level: 100 000 levels overflow a thread's stack.
#pragma once

#include <string_view>

namespace sandboxd {

// Levels of arrays and objects: `1` and `[]` are depth 0 and 1, `[[1]]` is 2. Kusto's own
// dynamic values rarely nest past a handful of levels; 64 leaves room for real documents.
inline constexpr int kMaxJsonDepth = 64;

enum class JsonCheck {
  kValid,    // RFC 8259 JSON within the depth bound
  kInvalid,  // not JSON
  kTooDeep,  // JSON (so far) but nested deeper than the bound; parsing stopped there
};

// Checks `text` with nlohmann's SAX parser, which keeps its own stack and never recurses, and
// stops at the first level past `max_depth`: O(text) time, O(max_depth) memory.
JsonCheck CheckJson(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace sandboxd
