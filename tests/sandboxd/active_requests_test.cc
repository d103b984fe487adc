// The list `sandboxctl status` reads its requests from: an entry is listed from Add until it is
// dropped, with the phase and sandbox last set, oldest first; an entry may outlive the list.
#include "active_requests.h"

#include <gtest/gtest.h>

namespace sandboxd {
namespace {

TEST(ActiveRequests, ListsEachEntryWithItsPhaseUntilItIsDropped) {
  ActiveRequests list;
  const auto t0 = ActiveRequests::Clock::now();
  auto first = list.Add("a", "python3.11", t0);
  auto second = list.Add("b", "ml", t0);
  first->set_phase(RequestPhase::kRunning);
  first->set_sandbox("s1-1-1");
  second->set_phase(RequestPhase::kQueued);
  auto listed = list.List();
  ASSERT_EQ(listed.size(), 2U);
  EXPECT_EQ(listed[0].request_id, "a");
  EXPECT_EQ(listed[0].image, "python3.11");
  EXPECT_EQ(listed[0].phase, RequestPhase::kRunning);
  EXPECT_EQ(listed[0].sandbox_id, "s1-1-1");
  EXPECT_EQ(listed[1].request_id, "b");
  EXPECT_EQ(listed[1].phase, RequestPhase::kQueued);
  EXPECT_TRUE(listed[1].sandbox_id.empty());
  first.reset();
  listed = list.List();
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0].request_id, "b");
}

TEST(ActiveRequests, AnEntryMayOutliveItsList) {
  std::shared_ptr<ActiveRequests::Entry> entry;
  {
    ActiveRequests list;
    entry = list.Add("a", "python3.11", ActiveRequests::Clock::now());
  }
  entry->set_phase(RequestPhase::kValidating);  // an execution answering at exit
  entry.reset();
}

TEST(ActiveRequests, PhasesHaveTheirNames) {
  EXPECT_EQ(RequestPhaseName(RequestPhase::kAccepted), "accepted");
  EXPECT_EQ(RequestPhaseName(RequestPhase::kQueued), "queued");
  EXPECT_EQ(RequestPhaseName(RequestPhase::kLaunching), "launching");
  EXPECT_EQ(RequestPhaseName(RequestPhase::kRunning), "running");
  EXPECT_EQ(RequestPhaseName(RequestPhase::kValidating), "validating");
}

}  // namespace
}  // namespace sandboxd
