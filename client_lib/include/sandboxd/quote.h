// Text from a client or a sandbox (column names above all) quoted for an error message, so that
// what a person reads in a terminal or a log is what the bytes were: control characters,
// terminal escapes and bidirectional overrides are spelled out, never interpreted.
#pragma once

#include <string>
#include <string_view>

namespace sandboxd {

// The text with every byte that could act on a terminal or reorder what is shown written as an
// escape: C0 controls and DEL as \n, \t, \r or \xNN, C1 controls (U+0080..U+009F) and the
// bidirectional and invisible formatting marks (U+200B..U+200F, U+202A..U+202E,
// U+2066..U+2069, U+FEFF) as \u{NNNN}, bytes that are not UTF-8 as \xNN. Everything else, other
// scripts and the backslash included, is kept as it is, so a message escaped once already (the
// runner quotes names as Python's repr() does) reads the same.
std::string EscapeForMessage(std::string_view text);

// A name between single quotes, escaped as above and unambiguous too: a backslash is written
// \\ and a quote \'.
std::string QuoteForMessage(std::string_view text);

}  // namespace sandboxd
