// Issue 23: client connections are capped in all and per peer uid; a place is held while its
// token lives, even past the ConnectionLimits itself.
#include "connection_limits.h"

#include <gtest/gtest.h>

#include <vector>

namespace sandboxd {
namespace {

using Verdict = ConnectionLimits::Verdict;

TEST(ConnectionLimits, CapsEachUid) {
  ConnectionLimits limits(10, 2);
  auto a = limits.Admit(1000);
  auto b = limits.Admit(1000);
  ASSERT_EQ(a.verdict, Verdict::kAdmitted);
  ASSERT_EQ(b.verdict, Verdict::kAdmitted);
  EXPECT_NE(a.place, nullptr);
  const auto third = limits.Admit(1000);
  EXPECT_EQ(third.verdict, Verdict::kUidFull);
  EXPECT_EQ(third.place, nullptr);
  // Another uid is not held back by the first one's connections.
  EXPECT_EQ(limits.Admit(1001).verdict, Verdict::kAdmitted);
  EXPECT_EQ(limits.of_uid(1000), 2U);
}

TEST(ConnectionLimits, CapsTheTotal) {
  ConnectionLimits limits(3, 2);
  std::vector<ConnectionLimits::Admitted> held;
  held.push_back(limits.Admit(1));
  held.push_back(limits.Admit(2));
  held.push_back(limits.Admit(3));
  for (const auto& h : held) ASSERT_EQ(h.verdict, Verdict::kAdmitted);
  EXPECT_EQ(limits.Admit(4).verdict, Verdict::kTotalFull);
  EXPECT_EQ(limits.total(), 3U);
  // A refused connection holds nothing: the count stays, and no uid entry is left behind.
  EXPECT_EQ(limits.of_uid(4), 0U);
}

TEST(ConnectionLimits, AClosedConnectionGivesItsPlaceBack) {
  ConnectionLimits limits(2, 1);
  auto a = limits.Admit(7);
  ASSERT_EQ(a.verdict, Verdict::kAdmitted);
  EXPECT_EQ(limits.Admit(7).verdict, Verdict::kUidFull);
  a.place.reset();
  EXPECT_EQ(limits.total(), 0U);
  EXPECT_EQ(limits.of_uid(7), 0U);
  EXPECT_EQ(limits.Admit(7).verdict, Verdict::kAdmitted);
}

TEST(ConnectionLimits, APlaceMayOutliveTheLimits) {
  std::shared_ptr<const void> place;
  {
    ConnectionLimits limits(1, 1);
    place = limits.Admit(5).place;
    ASSERT_NE(place, nullptr);
  }
  place.reset();  // must not touch freed memory (the sanitizer build checks)
}

}  // namespace
}  // namespace sandboxd
