// CSV as sandboxctl reads and writes it: RFC 4180 quoting, a header row of `name:type` cells, and
// cells in Kusto's text forms (empty is null, except in a string column).
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "sandboxd/status.h"
#include "sandboxd/table.h"

namespace sandboxctl {

// Splits RFC 4180 text into records of fields. Lines may end in LF or CRLF, the last one may have
// no line end, and a UTF-8 byte-order mark at the start is skipped. Quoted fields may hold commas,
// doubled quotes and line breaks. Errors name the line.
sandboxd::StatusOr<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text);

// One field as RFC 4180 writes it: quoted when it holds a comma, a quote, CR or LF, or has
// leading or trailing spaces.
std::string CsvField(std::string_view value);

// A table from CSV whose first row is `name:type` cells (`x:long,['my name']:string`). Empty
// lines are skipped unless the table has a single column (where an empty line is a null cell).
sandboxd::StatusOr<sandboxd::Table> ReadCsvTable(std::string_view text,
                                                 const sandboxd::TableLimits& limits = {});

// The table as CSV with the same header convention; each line ends in "\n".
void WriteCsvTable(const sandboxd::TableView& table, std::ostream& out);

}  // namespace sandboxctl
