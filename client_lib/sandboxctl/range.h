// Kusto's range operator, the usual way to make a small input table from the command line:
//   [range] NAME from START to STOP step STEP
#pragma once

#include <cstdint>
#include <string_view>

#include "sandboxd/status.h"
#include "sandboxd/table.h"

namespace sandboxctl {

// One column NAME holding START, START+STEP, ... while not past STOP (an empty table when STEP
// points away from STOP). Integers give a `long` column; a decimal point or exponent in any bound
// gives `real`; `datetime(...)` (or ISO dates) with a timespan step gives `datetime`; timespans
// (`1h`, `timespan(01:00:00)`) give `timespan`. STEP 0 and more than `max_rows` rows are errors.
sandboxd::StatusOr<sandboxd::Table> MakeRangeTable(std::string_view spec,
                                                   std::uint64_t max_rows = 100'000'000);

}  // namespace sandboxctl
