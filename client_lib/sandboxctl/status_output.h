// `sandboxctl status` and `sandboxctl policy show` as an operator reads them (aligned text) and as
// a machine reads them (--json).
#pragma once

#include <ostream>
#include <string>

#include "sandboxd/client.h"

namespace sandboxctl {

void WriteStatusText(const sandboxd::DaemonStatus& status, std::ostream& out);
std::string StatusJson(const sandboxd::DaemonStatus& status);

void WritePolicyText(const sandboxd::PolicyReport& report, std::ostream& out);
std::string PolicyJson(const sandboxd::PolicyReport& report);

// "1 GiB", "256 MiB", "41.3 MiB", "512 bytes".
std::string FormatBytes(std::uint64_t bytes);
// "850 ms", "3.2 s", "2 min 03 s", "1 h 02 min".
std::string FormatDuration(std::uint64_t ms);

}  // namespace sandboxctl
