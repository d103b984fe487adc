// The runner's events pipe (fd 6): JSON lines of log records and one closing event ("done" or
// "error"). Every byte is the sandbox's, so nothing here is trusted: a line nested past the JSON
// depth bound or longer than kMaxLine is dropped, records past kMaxRecords only mark the log
// truncated, and only the first closing event counts.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "sandboxd.pb.h"

namespace sandboxd {

// The log of one run: stdout, stderr and the runner's log records, in arrival order, capped.
struct RunLog {
  static constexpr std::size_t kMaxRecords = 10000;
  std::vector<proto::LogRecord> records;
  bool truncated = false;
  // A chunk of stdout or stderr: appended to the stream's last record while that has no line end.
  void AppendStream(proto::LogRecord::Stream stream, std::string_view chunk);
  // False (and the log marked truncated) once it holds kMaxRecords.
  bool Add(proto::LogRecord record);
};

// The runner's closing event.
struct FinalEvent {
  std::string kind;     // "done", "error", or empty: none came
  std::string code;     // the runner's error code (SCHEMA_MISMATCH, OUTPUT_LIMIT, ...)
  std::string message;  // with the traceback, if any, after a line break
  // "done" only: the runner's own CPU count (getrusage) as it sent the event; -1: none given.
  // The sandbox's word, shown in an answer sent at "done", before init could report.
  double cpu_user_seconds = -1;
  double cpu_system_seconds = -1;
};

class RunnerEvents {
 public:
  static constexpr std::size_t kMaxLine = 256 * 1024;
  static constexpr double kMaxCpuSeconds = 1e7;  // larger (or negative) counts are dropped
  // Parses the complete lines of `chunk` (the rest waits for the next one) into `log`.
  void Feed(std::string_view chunk, RunLog& log);
  const FinalEvent& final_event() const { return final_; }

 private:
  std::string partial_;
  FinalEvent final_;
};

}  // namespace sandboxd
