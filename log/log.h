// Log lines with fields: the request a line is about, its image, sandbox, outcome and peer. The
// text format puts the request first ("[req <id>] ..."); JSON lines and the journal carry every
// field as a key of its own (log_sinks.h). A line about a request is written with that request's
// fields, which travel with the request through the daemon (a LogFields value), never guessed
// from the thread that happens to write the line.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace sandboxd {

struct LogFields {
  std::string request_id;  // the client's id of the request (empty: a line about no request)
  std::string image;
  std::string sandbox;
  std::string code;  // an answer's outcome: "OK" or its error code's name
  std::optional<std::uint32_t> peer_uid;
  std::optional<std::int32_t> peer_pid;
};

namespace internal {
// The fields of the line being written, for the sinks. LogWith sets it around its one call into
// spdlog: the daemon's logger is synchronous, so its sinks run inside that call, on this thread.
inline thread_local const LogFields* current_log_fields = nullptr;
}  // namespace internal

// The fields of the line a sink is writing now; null for a line written without fields.
inline const LogFields* CurrentLogFields() { return internal::current_log_fields; }

// Writes one line with `fields`, formatted like spdlog::log.
template <typename... Args>
void LogWith(const LogFields& fields, spdlog::level::level_enum level,
             fmt::format_string<Args...> format, Args&&... args) {
  if (!spdlog::should_log(level)) return;
  const std::string text = fmt::format(format, std::forward<Args>(args)...);
  struct Scope {
    const LogFields* outer;
    ~Scope() { internal::current_log_fields = outer; }
  } scope{std::exchange(internal::current_log_fields, &fields)};
  spdlog::log(level, "{}", text);
}

}  // namespace sandboxd
