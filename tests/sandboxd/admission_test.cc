#include "admission.h"

#include <gtest/gtest.h>

#include <set>

namespace sandboxd {
namespace {

TEST(Admission, RunsUpToSlotsQueuesThenRefuses) {
  Admission admission(2, 1);
  std::vector<unsigned> started;
  auto start = [&](unsigned slot) { started.push_back(slot); };
  EXPECT_TRUE(admission.Submit(start));
  EXPECT_TRUE(admission.Submit(start));
  EXPECT_EQ(started.size(), 2U);
  EXPECT_EQ(std::set<unsigned>(started.begin(), started.end()).size(), 2U);  // distinct uids
  EXPECT_TRUE(admission.Submit(start));                                      // queued
  EXPECT_FALSE(admission.Submit(start));  // queue full: OVERLOADED
  EXPECT_EQ(admission.running(), 2U);
  EXPECT_EQ(admission.queued(), 1U);
  admission.Release(started[0]);  // the queued one takes the freed slot
  ASSERT_EQ(started.size(), 3U);
  EXPECT_EQ(started[2], started[0]);
  admission.Release(started[1]);
  admission.Release(started[2]);
  EXPECT_EQ(admission.running(), 0U);
}

}  // namespace
}  // namespace sandboxd
