// The SBXT rules the builder, the validator and the view share (proto/TABLE_FORMAT.md): the
// layout's constants, little-endian access, and the checks a variable-width value must pass, so
// that whatever the builder emits the validator accepts. Internal to the client library.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "sandboxd/types.h"

namespace sandboxd::sbxt {

inline constexpr char kMagic[8] = {'S', 'B', 'X', 'T', 'B', 'L', '0', '1'};
inline constexpr std::uint64_t kHeaderBytes = 32;
inline constexpr std::uint64_t kDirectoryEntryBytes = 64;
inline constexpr std::uint64_t kMaxNameBytes = 1024;
inline constexpr std::uint64_t kMaxDecimalBytes = 64;

// SBXT is little-endian whatever the host; these keep the code honest on a big-endian host.
template <typename T>
inline T LoadLe(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    T swapped = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      swapped = static_cast<T>((swapped << 8) | ((value >> (8 * i)) & 0xFF));
    }
    value = swapped;
  }
  return value;
}

template <typename T>
inline void StoreLe(char* p, T value) {
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      p[i] = static_cast<char>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xFF);
    }
  } else {
    std::memcpy(p, &value, sizeof(T));
  }
}

template <typename T>
inline void AppendLe(std::string& out, T value) {
  char bytes[sizeof(T)];
  StoreLe(bytes, value);
  out.append(bytes, sizeof(T));
}

inline std::uint64_t AlignUp8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }

inline bool IsVariable(ColumnType type) { return FixedWidth(type) == 0; }

// Why a dynamic value is refused (not JSON, or nested deeper than kMaxJsonDepth), or empty.
std::string CheckDynamicJson(std::string_view text);

// Why a non-null variable-width value breaks the format, or empty.
std::string CheckVariableValue(ColumnType type, std::string_view value);

}  // namespace sandboxd::sbxt
