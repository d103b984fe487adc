// The verdict's order (sandboxd/verdict.h): the first fact that applies decides, and what the
// daemon saw itself outranks what the sandbox says about itself.
#include "verdict.h"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <signal.h>
#include <sys/syscall.h>

namespace sandboxd {
namespace {

RunFacts Exited(int code, const std::string& final_kind) {
  RunFacts facts;
  InitReport report;
  report.kind = InitReport::kExited;
  report.value = code;
  facts.report = report;
  facts.cgroup = CgroupOutcome{};
  facts.final_event.kind = final_kind;
  facts.memory_limit_bytes = 256ULL << 20;
  facts.work_limit_bytes = 64ULL << 20;
  return facts;
}

TEST(Verdict, AScriptThatEndedWellHasItsResultChecked) {
  EXPECT_FALSE(Judge(Exited(0, "done")).has_value());
}

TEST(Verdict, TheMemoryCgroupsKillOutranksEverything) {
  RunFacts facts = Exited(0, "done");
  facts.cgroup->oom_killed = true;
  facts.kill_reason = ErrorCode::kTimeout;  // the deadline passed as it was dying
  const auto verdict = Judge(facts);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kMemoryLimit);
  EXPECT_NE(verdict->message.find("256 MiB"), std::string::npos) << verdict->message;
}

TEST(Verdict, TheDaemonsKillOutranksWhatTheRunnerSaid) {
  RunFacts facts = Exited(0, "done");
  facts.kill_reason = ErrorCode::kOutputLimit;
  facts.kill_message = "too much output";
  const auto verdict = Judge(facts);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kOutputLimit);
  EXPECT_EQ(verdict->message, "too much output");
}

TEST(Verdict, NoReportIsTheDaemonsFault) {
  RunFacts facts = Exited(0, "done");
  facts.report.reset();
  const auto verdict = Judge(facts);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kInternal);
}

TEST(Verdict, AResultSealedAtDoneNeedsNoReport) {
  RunFacts facts = Exited(0, "done");
  facts.report.reset();
  facts.sealed_at_done = true;
  EXPECT_FALSE(Judge(facts).has_value());
}

TEST(Verdict, ASealAtDoneStillYieldsToTheMemoryCgroupAndTheDaemonsKill) {
  RunFacts facts = Exited(0, "done");
  facts.report.reset();
  facts.sealed_at_done = true;
  facts.cgroup->oom_killed = true;
  ASSERT_TRUE(Judge(facts).has_value());
  EXPECT_EQ(Judge(facts)->code, ErrorCode::kMemoryLimit);
  facts.cgroup->oom_killed = false;
  facts.kill_reason = ErrorCode::kTimeout;
  ASSERT_TRUE(Judge(facts).has_value());
  EXPECT_EQ(Judge(facts)->code, ErrorCode::kTimeout);
}

TEST(Verdict, APolicyViolationNamesTheCall) {
  RunFacts facts = Exited(0, "");
  facts.report->kind = InitReport::kPolicyViolation;
  facts.report->value = SYS_kcmp;
  facts.report->arch = AUDIT_ARCH_X86_64;
  const auto verdict = Judge(facts);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kPolicyViolation);
  EXPECT_NE(verdict->message.find("kcmp"), std::string::npos) << verdict->message;
}

TEST(Verdict, ACrashNamesItsSignal) {
  RunFacts facts = Exited(0, "");
  facts.report->kind = InitReport::kSignaled;
  facts.report->value = SIGSEGV;
  const auto verdict = Judge(facts);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kScriptError);
  EXPECT_NE(verdict->message.find("SIGSEGV"), std::string::npos) << verdict->message;
}

TEST(Verdict, AFullWorkFolderIsALimitNotTheScriptsBug) {
  RunFacts facts = Exited(1, "error");
  facts.report->flags = InitReport::kWorkFolderFull;
  facts.final_event.message = "OSError: No space left on device";
  const auto verdict = Judge(facts);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kOutputLimit);
  EXPECT_NE(verdict->message.find("No space left"), std::string::npos) << verdict->message;
}

TEST(Verdict, TheRunnersCodesAreKept) {
  RunFacts facts = Exited(1, "error");
  facts.final_event.code = "SCHEMA_MISMATCH";
  facts.final_event.message = "column 'x': expected long";
  auto verdict = Judge(facts);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kSchemaMismatch);
  facts.final_event.code = "SCRIPT_ERROR";
  verdict = Judge(facts);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kScriptError);
}

// The runner may be the UDF itself: a schema message is one line whose names it chose.
TEST(Verdict, ARunnersSchemaMessageReachesTheClientSpelledOut) {
  RunFacts facts = Exited(1, "error");
  facts.final_event.code = "SCHEMA_MISMATCH";
  facts.final_event.message = "column '\x1b[2J\x1b]0;owned\x07': expected long\nforged: line";
  auto verdict = Judge(facts);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kSchemaMismatch);
  EXPECT_EQ(verdict->message, "column '\\x1b[2J\\x1b]0;owned\\x07': expected long\\nforged: line");
  facts.final_event.code = "OUTPUT_LIMIT";
  verdict = Judge(facts);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kOutputLimit);
  EXPECT_EQ(verdict->message.find('\x1b'), std::string::npos) << verdict->message;
}

TEST(Verdict, AnExitWithoutAClosingEventIsAScriptError) {
  const auto verdict = Judge(Exited(3, ""));
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->code, ErrorCode::kScriptError);
  EXPECT_NE(verdict->message.find("exit code 3"), std::string::npos) << verdict->message;
}

}  // namespace
}  // namespace sandboxd
