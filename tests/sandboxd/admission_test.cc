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

TEST(Admission, AbortQueuedAnswersEveryWaitingRequestOnce) {
  Admission admission(1, 3);
  std::vector<unsigned> started;
  int aborted = 0;
  auto start = [&](unsigned slot) { started.push_back(slot); };
  auto abort = [&] { ++aborted; };
  EXPECT_TRUE(admission.Submit(start, abort));  // runs
  EXPECT_TRUE(admission.Submit(start, abort));  // queued
  EXPECT_TRUE(admission.Submit(start, abort));  // queued
  EXPECT_EQ(admission.AbortQueued(), 2U);
  EXPECT_EQ(aborted, 2);
  EXPECT_EQ(admission.queued(), 0U);
  admission.Release(started[0]);  // nothing left to start
  EXPECT_EQ(started.size(), 1U);
  EXPECT_EQ(admission.running(), 0U);
  EXPECT_EQ(admission.AbortQueued(), 0U);
  EXPECT_EQ(aborted, 2);
}

}  // namespace
}  // namespace sandboxd
