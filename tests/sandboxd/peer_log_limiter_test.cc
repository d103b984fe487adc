// Issue 23 item 5: the log lines one peer causes are rate-limited, and the next line that gets
// through says how many were dropped. Time is passed in, so nothing here waits.
#include "peer_log_limiter.h"

#include <gtest/gtest.h>

namespace sandboxd {
namespace {

using namespace std::chrono_literals;
using Clock = PeerLogLimiter::Clock;

TEST(PeerLogLimiter, ABurstThenOneLinePerInterval) {
  PeerLogLimiter limiter(3, 1s);
  const auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Admit(1000, t0), 0U) << i;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.Admit(1000, t0).has_value()) << i;
  // Half an interval earns no whole line.
  EXPECT_FALSE(limiter.Admit(1000, t0 + 500ms).has_value());
  // The next line that gets through counts all 101 dropped.
  EXPECT_EQ(limiter.Admit(1000, t0 + 1s), 101U);
  EXPECT_FALSE(limiter.Admit(1000, t0 + 1s).has_value());
  EXPECT_EQ(limiter.Admit(1000, t0 + 2s), 1U);
}

TEST(PeerLogLimiter, PeersAreLimitedApart) {
  PeerLogLimiter limiter(1, 1s);
  const auto t0 = Clock::now();
  EXPECT_EQ(limiter.Admit(1, t0), 0U);
  EXPECT_FALSE(limiter.Admit(1, t0).has_value());
  // A flood from uid 1 does not silence uid 2.
  EXPECT_EQ(limiter.Admit(2, t0), 0U);
}

TEST(PeerLogLimiter, RefillsNoMoreThanTheBurst) {
  PeerLogLimiter limiter(2, 1s);
  const auto t0 = Clock::now();
  EXPECT_EQ(limiter.Admit(9, t0), 0U);
  // An hour of silence earns a burst of 2, not 3600 lines.
  const auto later = t0 + 1h;
  EXPECT_TRUE(limiter.Admit(9, later).has_value());
  EXPECT_TRUE(limiter.Admit(9, later).has_value());
  EXPECT_FALSE(limiter.Admit(9, later).has_value());
}

TEST(PeerLogLimiter, ForgetsRestedPeersSoTheMapStaysBounded) {
  PeerLogLimiter limiter(2, 1s);
  auto now = Clock::now();
  // 100,000 peers, each one line, far apart: rested buckets are dropped as the map grows.
  for (uid_t uid = 0; uid < 100'000; ++uid) {
    now += 10s;
    ASSERT_TRUE(limiter.Admit(uid, now).has_value());
  }
  EXPECT_LT(limiter.peers(), 200U);
}

TEST(PeerLogLimiter, KeepsCountsOfPeersWithDroppedLines) {
  PeerLogLimiter limiter(1, 1s);
  auto now = Clock::now();
  ASSERT_TRUE(limiter.Admit(42, now).has_value());
  ASSERT_FALSE(limiter.Admit(42, now).has_value());
  for (uid_t uid = 1000; uid < 2000; ++uid) (void)limiter.Admit(uid, now += 10s);
  // uid 42's dropped line is still counted when its next line gets through.
  EXPECT_EQ(limiter.Admit(42, now), 1U);
}

TEST(SuppressedNote, SaysHowManyAndWhose) {
  EXPECT_EQ(SuppressedNote(0, 1000), "");
  EXPECT_EQ(SuppressedNote(7, 1000), " (7 earlier lines caused by uid 1000 were suppressed)");
}

}  // namespace
}  // namespace sandboxd
