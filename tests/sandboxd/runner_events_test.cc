// The runner's events pipe is the sandbox's: its closing event's CPU figures are taken only when
// they are plausible numbers, and only the first closing event counts.
#include "runner_events.h"

#include <gtest/gtest.h>

namespace sandboxd {
namespace {

TEST(RunnerEvents, DoneCarriesTheRequestsCpuFigures) {
  RunnerEvents events;
  RunLog log;
  events.Feed(R"({"kind": "done", "result_bytes": 10, "cpu_user_seconds": 0.25,)"
              R"( "cpu_system_seconds": 0.5})"
              "\n",
              log);
  EXPECT_EQ(events.final_event().kind, "done");
  EXPECT_DOUBLE_EQ(events.final_event().cpu_user_seconds, 0.25);
  EXPECT_DOUBLE_EQ(events.final_event().cpu_system_seconds, 0.5);
}

TEST(RunnerEvents, ImplausibleCpuFiguresAreDropped) {
  RunnerEvents events;
  RunLog log;
  events.Feed(R"({"kind": "done", "cpu_user_seconds": -1, "cpu_system_seconds": 1e300})"
              "\n"
              R"({"kind": "done", "cpu_user_seconds": 2, "cpu_system_seconds": 2})"
              "\n",
              log);
  EXPECT_EQ(events.final_event().cpu_user_seconds, -1);
  EXPECT_EQ(events.final_event().cpu_system_seconds, -1);
}

TEST(RunnerEvents, AStringIsNoCpuFigure) {
  RunnerEvents events;
  RunLog log;
  events.Feed(R"({"kind": "done", "cpu_user_seconds": "1"})"
              "\n",
              log);
  EXPECT_EQ(events.final_event().kind, "done");
  EXPECT_EQ(events.final_event().cpu_user_seconds, -1);
}

}  // namespace
}  // namespace sandboxd
