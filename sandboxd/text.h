// Text helpers for messages built from hostile bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sandboxd {

// Valid UTF-8: invalid sequences become U+FFFD (protobuf strings must be valid UTF-8, and a
// sandbox's output is anything but).
std::string SanitizeUtf8(std::string_view bytes);
std::string FormatMillis(std::uint64_t ms);    // "1.5 s", "250 ms"
std::string FormatBytes(std::uint64_t bytes);  // "1 GiB", "64 MiB", "512 bytes"

}  // namespace sandboxd
