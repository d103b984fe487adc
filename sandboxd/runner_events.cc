#include "runner_events.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "sandboxd/json_limits.h"
#include "text.h"

namespace sandboxd {

void RunLog::AppendStream(proto::LogRecord::Stream stream, std::string_view chunk) {
  if (records.empty() || records.back().stream() != stream ||
      (!records.back().message().empty() && records.back().message().back() == '\n')) {
    proto::LogRecord record;
    record.set_stream(stream);
    record.set_time(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    if (!Add(std::move(record))) return;
  }
  records.back().mutable_message()->append(chunk);
}

bool RunLog::Add(proto::LogRecord record) {
  if (records.size() >= kMaxRecords) {
    truncated = true;
    return false;
  }
  records.push_back(std::move(record));
  return true;
}

void RunnerEvents::Feed(std::string_view chunk, RunLog& log) {
  partial_.append(chunk);
  std::size_t start = 0;
  for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    const std::string_view line(partial_.data() + start, nl - start);
    // A line nested past the bound is dropped unparsed, like any other broken line: a tree of
    // 100 000 levels would cost a recursion per level to destroy or print.
    if (CheckJson(line) == JsonCheck::kTooDeep) continue;
    const auto event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!event.is_object()) continue;  // hostile or broken lines are dropped, never trusted
    const auto text = [&](const char* key) {
      auto it = event.find(key);
      return it != event.end() && it->is_string() ? SanitizeUtf8(it->get<std::string>())
                                                  : std::string();
    };
    const std::string kind = text("kind");
    if (kind == "log") {
      proto::LogRecord record;
      record.set_stream(proto::LogRecord::LOGGING);
      if (auto it = event.find("time"); it != event.end() && it->is_number())
        record.set_time(it->get<double>());
      if (auto it = event.find("line"); it != event.end() && it->is_number_unsigned())
        record.set_line(static_cast<std::uint32_t>(
            std::min<std::uint64_t>(it->get<std::uint64_t>(), UINT32_MAX)));
      record.set_level(text("level"));
      record.set_logger(text("logger"));
      record.set_message(text("message"));
      record.set_file(text("file"));
      log.Add(std::move(record));
    } else if ((kind == "done" || kind == "error") && final_.kind.empty()) {
      final_.kind = kind;
      final_.code = text("code");
      final_.message = text("message");
      const std::string traceback = text("traceback");
      if (!traceback.empty()) final_.message += "\n" + traceback;
      const auto seconds = [&](const char* key) {
        auto it = event.find(key);
        if (it == event.end() || !it->is_number()) return -1.0;
        const double value = it->get<double>();
        return value >= 0 && value <= kMaxCpuSeconds ? value : -1.0;  // NaN fails both
      };
      final_.cpu_user_seconds = seconds("cpu_user_seconds");
      final_.cpu_system_seconds = seconds("cpu_system_seconds");
    }
  }
  partial_.erase(0, start);
  if (partial_.size() > kMaxLine) {
    log.truncated = true;
    partial_.clear();
  }
}

}  // namespace sandboxd
