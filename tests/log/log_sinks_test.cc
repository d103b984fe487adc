// The log formats on their own (log_sinks.h): JSON lines with the fields of log.h, the text
// lines' "[req <id>]", JOURNAL_STREAM's dev:ino, and the journald sink's datagrams as the journal's
// socket receives them.
#include "log_sinks.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "log.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {
namespace {

// An unlinked file that a logger writes to; its lines are read back.
class LogFile {
 public:
  LogFile() : fd_(::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) {}
  int fd() const { return fd_.get(); }
  std::vector<std::string> Lines() const {
    std::string text;
    char buffer[4096];
    for (off_t at = 0;;) {
      const ssize_t n = ::pread(fd_.get(), buffer, sizeof(buffer), at);
      if (n <= 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
      at += n;
    }
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  UniqueFd fd_;
};

LogFields RequestFields(const std::string& id) {
  LogFields fields;
  fields.request_id = id;
  fields.image = "python3.11";
  fields.sandbox = "s1-2-3";
  fields.code = "OK";
  fields.peer_uid = 1000;
  fields.peer_pid = 4242;
  return fields;
}

// Logs through `logger` as the daemon's default logger, then puts the previous one back.
template <typename Body>
void WithLogger(std::shared_ptr<spdlog::logger> logger, Body body) {
  auto previous = spdlog::default_logger();
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(std::move(logger));
  body();
  spdlog::set_default_logger(std::move(previous));
}

TEST(LogFormat, Names) {
  EXPECT_EQ(ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogFormat("journald"), LogFormat::kJournald);
  EXPECT_EQ(ParseLogFormat("JSON"), std::nullopt);
  EXPECT_EQ(ParseLogFormat(""), std::nullopt);
}

TEST(LogFormat, JournalStreamIsStderrsDeviceAndInode) {
  LogFile file;
  struct stat st {};
  ASSERT_EQ(::fstat(file.fd(), &st), 0);
  const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  EXPECT_TRUE(IsJournalStream(mine.c_str(), file.fd()));
  const std::string other = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  EXPECT_FALSE(IsJournalStream(other.c_str(), file.fd()));  // stderr was redirected since
  EXPECT_FALSE(IsJournalStream(nullptr, file.fd()));
  EXPECT_FALSE(IsJournalStream("", file.fd()));
  EXPECT_FALSE(IsJournalStream((mine + "x").c_str(), file.fd()));
  EXPECT_FALSE(IsJournalStream(std::to_string(st.st_dev).c_str(), file.fd()));
}

TEST(LogFormat, JsonLinesCarryTimeLevelMessageAndFields) {
  LogFile file;
  WithLogger(MakeLogger(LogFormat::kJson, file.fd(), false), [] {
    LogWith(RequestFields("req-7"), spdlog::level::warn, "sandbox {}: {}", "s1-2-3", "gone");
    spdlog::info("no request here");
    // A script's bytes may reach a message: invalid UTF-8 and a newline stay inside one line.
    LogFields odd;
    odd.request_id = "a\nb";
    LogWith(odd, spdlog::level::debug, "bytes \xff\xfe and\na newline");
  });
  const auto lines = file.Lines();
  ASSERT_EQ(lines.size(), 3U);
  std::vector<nlohmann::json> parsed;
  for (const auto& line : lines) {
    parsed.push_back(nlohmann::json::parse(line, nullptr, false));
    ASSERT_FALSE(parsed.back().is_discarded()) << line;
    EXPECT_TRUE(parsed.back().contains("time")) << line;
  }
  EXPECT_EQ(parsed[0]["level"], "warning");
  EXPECT_EQ(parsed[0]["message"], "sandbox s1-2-3: gone");
  EXPECT_EQ(parsed[0]["request_id"], "req-7");
  EXPECT_EQ(parsed[0]["image"], "python3.11");
  EXPECT_EQ(parsed[0]["sandbox"], "s1-2-3");
  EXPECT_EQ(parsed[0]["code"], "OK");
  EXPECT_EQ(parsed[0]["peer_uid"], 1000);
  EXPECT_EQ(parsed[0]["peer_pid"], 4242);
  EXPECT_EQ(parsed[1]["message"], "no request here");
  EXPECT_FALSE(parsed[1].contains("request_id"));
  EXPECT_EQ(parsed[2]["request_id"], "a\nb");
  EXPECT_EQ(parsed[2]["level"], "debug");
  // 2024-01-02T03:04:05.678Z
  const std::string time = parsed[0]["time"];
  EXPECT_EQ(time.size(), 24U) << time;
  EXPECT_EQ(time.back(), 'Z') << time;
}

TEST(LogFormat, TextLinesBeginWithTheirRequest) {
  LogFile file;
  WithLogger(MakeLogger(LogFormat::kText, file.fd(), false), [] {
    LogWith(RequestFields("req-8"), spdlog::level::info, "answered {}", "OK");
    spdlog::warn("about no request");
    LogFields forged;
    forged.request_id = "x]\nerror forged line";  // a client's id cannot start a line of its own
    LogWith(forged, spdlog::level::info, "answered");
  });
  const auto lines = file.Lines();
  ASSERT_EQ(lines.size(), 3U);
  EXPECT_EQ(lines[0], "info [req req-8] answered OK");
  EXPECT_EQ(lines[1], "warning about no request");
  EXPECT_EQ(lines[2], "info [req x]\\x0aerror forged line] answered");
}

// The journal's native protocol, received where journald would: a socket at
// /run/systemd/journal/socket in a mount namespace of a child process (root only), so the test
// sees the datagram libsystemd sends, field by field.
TEST(LogFormat, JournaldSinkSendsTheFieldsToTheJournalSocket) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (a mount namespace for the journal's socket)";
  int result[2];
  ASSERT_EQ(::pipe2(result, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(result[0]);
    auto report = [&](const std::string& text) {
      (void)::write(result[1], text.data(), text.size());
      ::_exit(0);
    };
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0)
      report("setup: cannot mount a tmpfs on /run");
    std::error_code ec;
    std::filesystem::create_directories("/run/systemd/journal", ec);
    UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "/run/systemd/journal/socket");
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      report("setup: cannot bind the journal's socket");
    LogFile fallback;
    WithLogger(MakeLogger(LogFormat::kJournald, fallback.fd(), false),
               [] { LogWith(RequestFields("req-9"), spdlog::level::warn, "answered {}", "OK"); });
    std::string datagram(65536, '\0');
    const ssize_t n = ::recv(sock.get(), datagram.data(), datagram.size(), MSG_DONTWAIT);
    if (n <= 0) report("no datagram; fallback got " + std::to_string(fallback.Lines().size()));
    datagram.resize(static_cast<std::size_t>(n));
    report(datagram);
  }
  ::close(result[1]);
  std::string received;
  char buffer[4096];
  for (ssize_t n; (n = ::read(result[0], buffer, sizeof(buffer))) > 0;)
    received.append(buffer, static_cast<std::size_t>(n));
  ::close(result[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (received.rfind("setup: ", 0) == 0) GTEST_SKIP() << received;
  for (const char* field :
       {"MESSAGE=answered OK\n", "PRIORITY=4\n", "SYSLOG_IDENTIFIER=sandboxd\n",
        "SANDBOXD_REQUEST_ID=req-9\n", "SANDBOXD_IMAGE=python3.11\n", "SANDBOXD_SANDBOX=s1-2-3\n",
        "SANDBOXD_CODE=OK\n", "SANDBOXD_PEER_UID=1000\n", "SANDBOXD_PEER_PID=4242\n"})
    EXPECT_NE(received.find(field), std::string::npos) << field << " not in: " << received;
}

TEST(LogFormat, JournaldSinkWritesTextWhereNoJournalListens) {
  if (std::filesystem::exists("/run/systemd/journal/socket"))
    GTEST_SKIP() << "a journal listens here";
  LogFile fallback;
  WithLogger(MakeLogger(LogFormat::kJournald, fallback.fd(), false),
             [] { LogWith(RequestFields("req-10"), spdlog::level::info, "answered {}", "OK"); });
  const auto lines = fallback.Lines();
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0], "info [req req-10] answered OK");
}

}  // namespace
}  // namespace sandboxd
