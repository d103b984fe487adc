// Result tables as sandboxctl prints them besides CSV: JSON and aligned text.
#pragma once

#include <ostream>

#include "sandboxd/table.h"

namespace sandboxctl {

// A JSON array with one object per row, keys in column order. Nulls are null; bool, int, long and
// finite reals are JSON literals; NaN and infinities, decimal, datetime, timespan, guid and string
// are JSON strings (decimal as text so no digit is lost); dynamic is its JSON value, verbatim.
void WriteJsonTable(const sandboxd::TableView& table, std::ostream& out);

// Columns padded to a common width under a header line of names and a rule; numbers
// right-aligned. Control characters in cells are shown escaped so a row stays on one line.
void WriteTextTable(const sandboxd::TableView& table, std::ostream& out);

}  // namespace sandboxctl
