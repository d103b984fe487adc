// Names and messages from hostile bytes reach a terminal spelled out (sandboxd/quote.h).
#include "sandboxd/quote.h"

#include <gtest/gtest.h>

#include <string>

namespace sandboxd {
namespace {

// No byte of `text` would act on a terminal: no C0 control, DEL or C1 control.
bool HarmlessOnATerminal(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xA0)
      return false;
  }
  return true;
}

TEST(QuoteForMessage, PlainNamesAreOnlyQuoted) {
  EXPECT_EQ(QuoteForMessage("fx"), "'fx'");
  EXPECT_EQ(QuoteForMessage(""), "''");
  EXPECT_EQ(QuoteForMessage("größe 温度"), "'größe 温度'");  // other scripts stay as they are
}

TEST(QuoteForMessage, ControlsAndTerminalEscapesAreSpelledOut) {
  EXPECT_EQ(QuoteForMessage("\x1b[2J\x1b]0;pwned\x07x"), "'\\x1b[2J\\x1b]0;pwned\\x07x'");
  EXPECT_EQ(QuoteForMessage("a\nb\tc\rd"), "'a\\nb\\tc\\rd'");
  EXPECT_EQ(QuoteForMessage(std::string("nul\0byte", 8)), "'nul\\x00byte'");
  EXPECT_EQ(QuoteForMessage("del\x7f"), "'del\\x7f'");
  EXPECT_EQ(QuoteForMessage("c1\xc2\x9b"
                            "31m"),
            "'c1\\u{009b}31m'");  // CSI as one code point
}

TEST(QuoteForMessage, BidirectionalOverridesAndInvisibleMarksAreSpelledOut) {
  // "Trojan Source": U+202E reverses what follows on screen.
  EXPECT_EQ(QuoteForMessage("user\u202Egnp.exe"), "'user\\u{202e}gnp.exe'");
  EXPECT_EQ(QuoteForMessage("a\u2066b\u2069"), "'a\\u{2066}b\\u{2069}'");
  EXPECT_EQ(QuoteForMessage("zero\u200Bwidth\uFEFF"), "'zero\\u{200b}width\\u{feff}'");
}

TEST(QuoteForMessage, QuotesBackslashesAndBadBytesAreUnambiguous) {
  EXPECT_EQ(QuoteForMessage("it's"), "'it\\'s'");
  EXPECT_EQ(QuoteForMessage("a\\x1b"), "'a\\\\x1b'");  // a literal backslash is not an escape
  EXPECT_EQ(QuoteForMessage("\xff\xfe"), "'\\xff\\xfe'");
  EXPECT_EQ(QuoteForMessage("\xe2\x82"), "'\\xe2\\x82'");           // truncated sequence
  EXPECT_EQ(QuoteForMessage("\xc0\x9b"), "'\\xc0\\x9b'");           // overlong ESC
  EXPECT_EQ(QuoteForMessage("\xed\xa0\x80"), "'\\xed\\xa0\\x80'");  // a surrogate
}

TEST(EscapeForMessage, KeepsTextAndBackslashesEscapesControls) {
  // A runner's message quotes names as Python's repr() does: it reads the same.
  EXPECT_EQ(EscapeForMessage("column '\\x1b[2J': expected long"),
            "column '\\x1b[2J': expected long");
  EXPECT_EQ(EscapeForMessage("column '\x1b[2J': expected long"),
            "column '\\x1b[2J': expected long");
  EXPECT_EQ(EscapeForMessage("it's"), "it's");
}

TEST(EscapeForMessage, EveryByteValueComesOutHarmless) {
  for (int first = 0; first < 256; ++first) {
    for (int second : {0x00, 0x1b, 0x41, 0x80, 0x9b, 0xbf, 0xc2, 0xff}) {
      const std::string text{static_cast<char>(first), static_cast<char>(second)};
      EXPECT_TRUE(HarmlessOnATerminal(EscapeForMessage(text))) << first << " " << second;
      EXPECT_TRUE(HarmlessOnATerminal(QuoteForMessage(text))) << first << " " << second;
    }
  }
}

}  // namespace
}  // namespace sandboxd
