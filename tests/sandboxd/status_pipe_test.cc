// Issue 23 item 2: "the sandbox ended without a status report" for a run that ended well. The
// daemon judged a run once init had exited and the output streams were at EOF, reading the
// status pipe once, without waiting; a report not in the pipe at that moment was lost. Now the
// pipe is read as bytes come and the run is judged at its EOF (init holds the only write end),
// whatever order those events come in. These tests replay the orders on a real pipe, with the
// verdict the daemon gives, and a malformed report is told apart from none.
#include "status_pipe.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>

#include "verdict.h"

namespace sandboxd {
namespace {

struct Pipe {
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    read_end = fds[0];
    write_end = fds[1];
  }
  ~Pipe() {
    ::close(read_end);
    if (write_end >= 0) ::close(write_end);
  }
  // init's last acts: its report, then its exit (the only write end closes).
  void Write(std::span<const std::byte> bytes) const {
    ASSERT_EQ(::write(write_end, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  void InitExits() {
    ::close(write_end);
    write_end = -1;
  }
  // What the daemon's reader does with what the pipe holds now; false at EOF.
  bool ReadInto(StatusPipeReader& reader) const {
    std::array<std::byte, 512> buffer{};
    for (;;) {
      const ssize_t n = ::read(read_end, buffer.data(), buffer.size());
      if (n == 0) {
        reader.Ended();
        return false;
      }
      if (n < 0) return true;  // EAGAIN: nothing yet
      reader.Feed(std::span(buffer.data(), static_cast<std::size_t>(n)));
    }
  }
  int read_end = -1;
  int write_end = -1;
};

InitReport ExitedWell() {
  InitReport report;
  report.kind = InitReport::kExited;
  report.value = 0;
  return report;
}

std::span<const std::byte> Bytes(const InitReport& report) {
  return std::as_bytes(std::span(&report, 1));
}

RunFacts Facts(const StatusPipeReader& reader, bool sealed_at_done) {
  RunFacts facts;
  facts.report = reader.report();
  facts.report_bytes = reader.bytes_read();
  facts.cgroup = CgroupOutcome{};
  facts.final_event.kind = "done";
  facts.sealed_at_done = sealed_at_done;
  return facts;
}

TEST(StatusPipe, AReportThatComesAfterTheExitWasSeenIsWaitedFor) {
  Pipe pipe;
  StatusPipeReader reader;
  // The order the first candidate names: the run is answered after its exit (no answer
  // at "done"), the daemon has seen init's exit and every output stream at EOF, and reads the
  // status pipe once, before the report is in it.
  EXPECT_TRUE(pipe.ReadInto(reader));
  EXPECT_EQ(reader.bytes_read(), 0U);
  // Judged then, the run was INTERNAL: the old reading.
  const auto old_verdict = Judge(Facts(reader, false));
  ASSERT_TRUE(old_verdict.has_value());
  EXPECT_EQ(old_verdict->code, ErrorCode::kInternal);
  EXPECT_NE(old_verdict->message.find("without a status report"), std::string::npos);
  // Now the pipe is not at EOF, so the run is not judged yet (Execution::MaybeFinish waits).
  EXPECT_FALSE(reader.ended());
  // init's report and its end arrive.
  const InitReport report = ExitedWell();
  pipe.Write(Bytes(report));
  pipe.InitExits();
  EXPECT_FALSE(pipe.ReadInto(reader));
  ASSERT_TRUE(reader.ended());
  EXPECT_EQ(reader.bytes_read(), sizeof(InitReport));
  ASSERT_TRUE(reader.report().has_value());
  EXPECT_FALSE(Judge(Facts(reader, false)).has_value()) << "the result is checked: OK";
}

TEST(StatusPipe, AReportInPiecesIsWhole) {
  Pipe pipe;
  StatusPipeReader reader;
  const InitReport report = ExitedWell();
  const auto bytes = Bytes(report);
  pipe.Write(bytes.first(100));
  EXPECT_TRUE(pipe.ReadInto(reader));
  EXPECT_FALSE(reader.report().has_value());
  pipe.Write(bytes.subspan(100));
  pipe.InitExits();
  EXPECT_FALSE(pipe.ReadInto(reader));
  EXPECT_TRUE(reader.report().has_value());
}

TEST(StatusPipe, AtTheRunnersDoneNoReportYetIsFine) {
  Pipe pipe;
  StatusPipeReader reader;
  EXPECT_TRUE(pipe.ReadInto(reader));  // Execution::DrainStatus: init still runs
  EXPECT_FALSE(Judge(Facts(reader, true)).has_value());
}

TEST(StatusPipe, InitThatEndedWithoutAReportIsInternal) {
  Pipe pipe;
  StatusPipeReader reader;
  pipe.InitExits();
  EXPECT_FALSE(pipe.ReadInto(reader));
  const auto verdict = Judge(Facts(reader, false));
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kInternal);
}

TEST(StatusPipe, MoreThanOneReportIsNoReport) {
  Pipe pipe;
  StatusPipeReader reader;
  const InitReport report = ExitedWell();
  pipe.Write(Bytes(report));
  pipe.Write(Bytes(report));
  pipe.InitExits();
  EXPECT_FALSE(pipe.ReadInto(reader));
  EXPECT_EQ(reader.bytes_read(), 2 * sizeof(InitReport));
  EXPECT_FALSE(reader.report().has_value());
  const auto verdict = Judge(Facts(reader, false));
  ASSERT_TRUE(verdict.has_value());
  EXPECT_NE(verdict->message.find("malformed status report (576 bytes)"), std::string::npos)
      << verdict->message << ": told apart from no report at all";
}

}  // namespace
}  // namespace sandboxd
