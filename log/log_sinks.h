// Where the daemon's log lines go and in what form (--log-format, config key log_format):
//   text      "<level> [req <id>] <message>" on stderr (with a timestamp in --foreground)
//   json      one JSON object per line on stderr: time, level, message and the line's fields
//   journald  the journal's native protocol: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and
//             SANDBOXD_REQUEST_ID, SANDBOXD_IMAGE, ... (the fields of log.h)
// The default is journald when systemd connected stderr to the journal, else text.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sandboxd {

enum class LogFormat { kText, kJson, kJournald };

// "text", "json" or "journald"; nullopt for anything else.
std::optional<LogFormat> ParseLogFormat(std::string_view name);

// Whether `fd` is the stream systemd connected to the journal: as systemd documents
// (systemd.exec(5), $JOURNAL_STREAM), `journal_stream` ("<device>:<inode>", decimal) names that
// stream, and a process whose stderr is still it may log natively instead. Null: not set.
bool IsJournalStream(const char* journal_stream, int fd);

// journald when stderr is the journal's stream (JOURNAL_STREAM), text otherwise.
LogFormat DefaultLogFormat();

// A logger named "sandboxd" that writes `format` to `fd` (journald: to the journal, and to `fd`
// as text only when the journal cannot be reached). Text lines carry a timestamp when
// `timestamps`; JSON lines and the journal always do.
std::shared_ptr<spdlog::logger> MakeLogger(LogFormat format, int fd, bool timestamps);

}  // namespace sandboxd
