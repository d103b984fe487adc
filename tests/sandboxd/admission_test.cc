#include "admission.h"

#include <gtest/gtest.h>

#include <set>

namespace sandboxd {
namespace {

TEST(Admission, RunsUpToSlotsQueuesThenRefuses) {
  Admission admission(2, 1);
  std::vector<unsigned> started;
  auto start = [&](unsigned slot) { started.push_back(slot); };
  using Outcome = Admission::Outcome;
  EXPECT_EQ(admission.Submit(start).outcome, Outcome::kStarted);
  EXPECT_EQ(admission.Submit(start).outcome, Outcome::kStarted);
  EXPECT_EQ(started.size(), 2U);
  EXPECT_EQ(std::set<unsigned>(started.begin(), started.end()).size(), 2U);  // distinct uids
  EXPECT_EQ(admission.Submit(start).outcome, Outcome::kQueued);
  EXPECT_EQ(admission.Submit(start).outcome, Outcome::kRefused);  // queue full: OVERLOADED
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
  using Outcome = Admission::Outcome;
  EXPECT_EQ(admission.Submit(start, abort).outcome, Outcome::kStarted);
  EXPECT_EQ(admission.Submit(start, abort).outcome, Outcome::kQueued);
  EXPECT_EQ(admission.Submit(start, abort).outcome, Outcome::kQueued);
  EXPECT_EQ(admission.AbortQueued(), 2U);
  EXPECT_EQ(aborted, 2);
  EXPECT_EQ(admission.queued(), 0U);
  admission.Release(started[0]);  // nothing left to start
  EXPECT_EQ(started.size(), 1U);
  EXPECT_EQ(admission.running(), 0U);
  EXPECT_EQ(admission.AbortQueued(), 0U);
  EXPECT_EQ(aborted, 2);
}

TEST(Admission, AWithdrawnRequestNeverStartsNorAborts) {
  Admission admission(1, 4);
  std::vector<int> started;
  int aborted = 0;
  const auto first = admission.Submit([&](unsigned) { started.push_back(1); });
  const auto second = admission.Submit([&](unsigned) { started.push_back(2); }, [&] { ++aborted; });
  const auto third = admission.Submit([&](unsigned) { started.push_back(3); });
  ASSERT_EQ(second.outcome, Admission::Outcome::kQueued);
  EXPECT_TRUE(admission.Withdraw(second.ticket));   // its deadline passed while it waited
  EXPECT_FALSE(admission.Withdraw(second.ticket));  // once only
  EXPECT_FALSE(admission.Withdraw(first.ticket));   // started: nothing to withdraw
  admission.Release(0);                             // the slot goes to the third
  EXPECT_EQ(started, (std::vector<int>{1, 3}));
  EXPECT_FALSE(admission.Withdraw(third.ticket));
  EXPECT_EQ(aborted, 0);
  EXPECT_EQ(admission.AbortQueued(), 0U);
}

}  // namespace
}  // namespace sandboxd
