// Issue 23: an image whose zygote could not start is launched without one for a backoff period
// that doubles with each failure in a row, up to a cap; a success or SIGHUP (Reset) clears it.
#include "zygote_health.h"

#include <gtest/gtest.h>

namespace sandboxd {
namespace {

using Clock = ZygoteHealth::Clock;

TEST(ZygoteHealth, AFailedImageSkipsItsZygoteForTheBackoffThenTriesAgain) {
  ZygoteHealth health;
  const Clock::time_point t0{};
  EXPECT_TRUE(health.UseZygote("broken", t0));
  EXPECT_EQ(health.RecordFailure("broken", "cannot load", t0), ZygoteHealth::kFirstBackoff);
  EXPECT_FALSE(health.UseZygote("broken", t0));
  EXPECT_FALSE(
      health.UseZygote("broken", t0 + ZygoteHealth::kFirstBackoff - std::chrono::seconds(1)));
  EXPECT_TRUE(health.UseZygote("other", t0)) << "one image's trouble is its own";
  EXPECT_TRUE(health.UseZygote("broken", t0 + ZygoteHealth::kFirstBackoff));
}

TEST(ZygoteHealth, TheBackoffDoublesUpToItsCapAndASuccessClearsIt) {
  ZygoteHealth health;
  Clock::time_point now{};
  std::chrono::seconds expected = ZygoteHealth::kFirstBackoff;
  for (int i = 0; i < 10; ++i) {
    const auto backoff = health.RecordFailure("broken", "cannot load", now);
    ASSERT_TRUE(backoff.has_value());
    EXPECT_EQ(*backoff, expected);
    now += *backoff;
    expected = std::min(expected * 2, ZygoteHealth::kMaxBackoff);
  }
  EXPECT_EQ(health.RecordFailure("broken", "x", now), ZygoteHealth::kMaxBackoff);
  health.RecordSuccess("broken");
  EXPECT_TRUE(health.UseZygote("broken", now));
  EXPECT_EQ(health.RecordFailure("broken", "x", now), ZygoteHealth::kFirstBackoff);
  health.Reset();
  EXPECT_TRUE(health.UseZygote("broken", now));
}

// Issue 24: launches overlap, so several may have been told to use the zygote before the first
// of them failed. Their failures, within the period the first one set, are the same one: the
// period is not lengthened and the warning not said again.
TEST(ZygoteHealth, FailuresOfOverlappingLaunchesCountOnce) {
  ZygoteHealth health;
  const Clock::time_point t0{};
  EXPECT_EQ(health.RecordFailure("broken", "cannot load", t0), ZygoteHealth::kFirstBackoff);
  EXPECT_EQ(health.RecordFailure("broken", "cannot load", t0 + std::chrono::seconds(1)),
            std::nullopt);
  EXPECT_TRUE(health.UseZygote("broken", t0 + ZygoteHealth::kFirstBackoff));
  // The next period's failure doubles it, as before.
  EXPECT_EQ(health.RecordFailure("broken", "cannot load", t0 + ZygoteHealth::kFirstBackoff),
            2 * ZygoteHealth::kFirstBackoff);
}

}  // namespace
}  // namespace sandboxd

namespace sandboxd {
namespace {

// What `sandboxctl status` says of an image's zygote.
TEST(ZygoteHealth, DescribeSaysNotStartedInUseOrBackingOff) {
  ZygoteHealth health;
  const Clock::time_point t0{};
  using State = ZygoteHealth::View::State;
  EXPECT_EQ(health.Describe("img", t0).state, State::kNotStarted);
  health.RecordSuccess("img");
  EXPECT_EQ(health.Describe("img", t0).state, State::kInUse);
  health.RecordFailure("img", "cannot load", t0);
  const auto failing = health.Describe("img", t0 + std::chrono::seconds(10));
  EXPECT_EQ(failing.state, State::kBackingOff);
  EXPECT_EQ(failing.retry_in, ZygoteHealth::kFirstBackoff - std::chrono::seconds(10));
  EXPECT_EQ(failing.cause, "cannot load");
  health.Reset();  // SIGHUP: every zygote starts afresh when next needed
  EXPECT_EQ(health.Describe("img", t0).state, State::kNotStarted);
}

// Issue 12: restarts are counted by image and by why the zygote before ended; a first start
// and a fork from a running zygote are not restarts.
TEST(ZygoteHealth, RestartsAreCountedByImageAndCause) {
  ZygoteHealth health;
  health.RecordSuccess("img");
  health.RecordSuccess("img", "died");
  health.RecordSuccess("img", "died");
  health.RecordSuccess("img", "reload");
  health.RecordSuccess("other", "aged");
  health.Reset();  // SIGHUP forgets backoffs, not what was counted
  const auto restarts = health.Restarts();
  EXPECT_EQ(restarts.size(), 3U);
  EXPECT_EQ(restarts.at({"img", "died"}), 2U);
  EXPECT_EQ(restarts.at({"img", "reload"}), 1U);
  EXPECT_EQ(restarts.at({"other", "aged"}), 1U);
}

}  // namespace
}  // namespace sandboxd
