#include "sandboxd/quote.h"

#include <cstdint>
#include <cstdio>

namespace sandboxd {
namespace {

// The length of the UTF-8 sequence at `text[i]` and its code point, or 0 when it is not one
// (truncated, overlong, a surrogate, past U+10FFFF).
std::size_t DecodeUtf8(std::string_view text, std::size_t i, std::uint32_t& cp) {
  const auto lead = static_cast<unsigned char>(text[i]);
  std::size_t len = 0;
  if (lead < 0x80) {
    cp = lead;
    return 1;
  }
  if ((lead & 0xE0) == 0xC0) {
    len = 2;
    cp = lead & 0x1FU;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3;
    cp = lead & 0x0FU;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4;
    cp = lead & 0x07U;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto next = static_cast<unsigned char>(text[i + k]);
    if ((next & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (next & 0x3FU);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
  return len;
}

bool ActsOnTheDisplay(std::uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

// `quoted`: the text goes between single quotes, so the backslash and the quote are escaped too.
void AppendEscaped(std::string_view text, bool quoted, std::string& out) {
  char buf[16];
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = DecodeUtf8(text, i, cp);
    if (len == 0) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(text[i]));
      out += buf;
      ++i;
      continue;
    }
    if (quoted && (cp == '\\' || cp == '\'')) {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7F) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(cp));
      out += buf;
    } else if (ActsOnTheDisplay(cp)) {
      std::snprintf(buf, sizeof(buf), "\\u{%04x}", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
}

}  // namespace

std::string EscapeForMessage(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendEscaped(text, false, out);
  return out;
}

std::string QuoteForMessage(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  AppendEscaped(text, true, out);
  out += '\'';
  return out;
}

}  // namespace sandboxd
