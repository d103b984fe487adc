#include "log_sinks.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "log.h"

namespace sandboxd {
namespace {

// A request id is the client's: in a text line its control bytes are escaped, so that no id can
// end a line and forge the next one.
void AppendPrintable(std::string_view text, spdlog::memory_buf_t& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out.push_back(c);
    } else {
      const char escaped[] = {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]};
      out.append(escaped, escaped + sizeof(escaped));
    }
  }
}

// One write per line: lines of several threads never interleave.
void WriteAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// The pattern flag %* of text lines: "[req <id>] " for a line about a request, else nothing.
class RequestPrefixFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const LogFields* fields = CurrentLogFields();
    if (fields == nullptr || fields->request_id.empty()) return;
    dest.append(std::string_view("[req "));
    AppendPrintable(fields->request_id, dest);
    dest.append(std::string_view("] "));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<RequestPrefixFlag>();
  }
};

// Text lines, formatted by the logger's pattern.
class TextSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit TextSink(int fd) : fd_(fd) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    WriteAll(fd_, line.data(), line.size());
  }
  void flush_() override {}

 private:
  int fd_;
};

std::string Iso8601Utc(spdlog::log_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03}Z", std::string_view(text, n), millis);
}

// One JSON object per line; keys in a fixed order, invalid UTF-8 replaced (a script's bytes may
// reach a message).
class JsonSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JsonSink(int fd) : fd_(fd) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    nlohmann::ordered_json line;
    line["time"] = Iso8601Utc(msg.time);
    const auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string(level.data(), level.size());
    line["message"] = std::string(msg.payload.data(), msg.payload.size());
    if (const LogFields* f = CurrentLogFields()) {
      if (!f->request_id.empty()) line["request_id"] = f->request_id;
      if (!f->image.empty()) line["image"] = f->image;
      if (!f->sandbox.empty()) line["sandbox"] = f->sandbox;
      if (!f->code.empty()) line["code"] = f->code;
      if (f->peer_uid) line["peer_uid"] = *f->peer_uid;
      if (f->peer_pid) line["peer_pid"] = *f->peer_pid;
    }
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text += '\n';
    WriteAll(fd_, text.data(), text.size());
  }
  void flush_() override {}

 private:
  int fd_;
};

// The journal's native protocol (sd_journal_sendv): each field of the line is a journal field,
// so `journalctl SANDBOXD_REQUEST_ID=<id>` finds a request's lines. Where no journal listens
// (sd_journal_sendv then drops lines silently) or a line is refused, it is written to
// `fallback_fd` as text instead of being lost.
class JournaldSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JournaldSink(int fallback_fd)
      : fallback_fd_(fallback_fd),
        journal_listens_(::access("/run/systemd/journal/socket", W_OK) == 0) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::vector<std::string> fields;
    fields.push_back("MESSAGE=" + std::string(msg.payload.data(), msg.payload.size()));
    fields.push_back("PRIORITY=" + std::to_string(Priority(msg.level)));
    fields.emplace_back("SYSLOG_IDENTIFIER=sandboxd");
    if (const LogFields* f = CurrentLogFields()) {
      if (!f->request_id.empty()) fields.push_back("SANDBOXD_REQUEST_ID=" + f->request_id);
      if (!f->image.empty()) fields.push_back("SANDBOXD_IMAGE=" + f->image);
      if (!f->sandbox.empty()) fields.push_back("SANDBOXD_SANDBOX=" + f->sandbox);
      if (!f->code.empty()) fields.push_back("SANDBOXD_CODE=" + f->code);
      if (f->peer_uid) fields.push_back("SANDBOXD_PEER_UID=" + std::to_string(*f->peer_uid));
      if (f->peer_pid) fields.push_back("SANDBOXD_PEER_PID=" + std::to_string(*f->peer_pid));
    }
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (auto& field : fields) iov.push_back({field.data(), field.size()});
    if (journal_listens_ && sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0) return;
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    WriteAll(fallback_fd_, line.data(), line.size());
  }
  void flush_() override {}

 private:
  static int Priority(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::critical:
        return 2;  // LOG_CRIT
      case spdlog::level::err:
        return 3;  // LOG_ERR
      case spdlog::level::warn:
        return 4;  // LOG_WARNING
      case spdlog::level::info:
        return 6;  // LOG_INFO
      default:
        return 7;  // LOG_DEBUG
    }
  }
  int fallback_fd_;
  const bool journal_listens_;
};

}  // namespace

std::optional<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  if (name == "journald") return LogFormat::kJournald;
  return std::nullopt;
}

bool IsJournalStream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return false;
  const std::string_view text(journal_stream);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  std::uint64_t device = 0, inode = 0;
  const char* end = text.data() + text.size();
  const auto dev_parsed = std::from_chars(text.data(), text.data() + colon, device);
  const auto ino_parsed = std::from_chars(text.data() + colon + 1, end, inode);
  if (dev_parsed.ec != std::errc() || dev_parsed.ptr != text.data() + colon ||
      ino_parsed.ec != std::errc() || ino_parsed.ptr != end)
    return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<std::uint64_t>(st.st_dev) == device &&
         static_cast<std::uint64_t>(st.st_ino) == inode;
}

LogFormat DefaultLogFormat() {
  return IsJournalStream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO) ? LogFormat::kJournald
                                                                       : LogFormat::kText;
}

std::shared_ptr<spdlog::logger> MakeLogger(LogFormat format, int fd, bool timestamps) {
  spdlog::sink_ptr sink;
  switch (format) {
    case LogFormat::kText:
      sink = std::make_shared<TextSink>(fd);
      break;
    case LogFormat::kJson:
      sink = std::make_shared<JsonSink>(fd);
      break;
    case LogFormat::kJournald:
      sink = std::make_shared<JournaldSink>(fd);
      break;
  }
  auto logger = std::make_shared<spdlog::logger>("sandboxd", std::move(sink));
  // The text lines' pattern (and the journald sink's fallback).
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<RequestPrefixFlag>('*').set_pattern(
      timestamps ? "%Y-%m-%dT%H:%M:%S.%e %l %*%v" : "%l %*%v");
  logger->set_formatter(std::move(formatter));
  return logger;
}

}  // namespace sandboxd
