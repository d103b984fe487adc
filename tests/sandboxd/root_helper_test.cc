// The root helper's check of a kill (root_helper.h): it signals only processes whose every uid
// is a sandbox slot's, never root's; a malformed /proc status is refused. The helper's serving
// (launchers, kills as the slot's uid, the socket's removal) runs in user_test.cc through a real
// daemon that dropped to its user.
#include "root_helper.h"

#include <gtest/gtest.h>

#include <string>

namespace sandboxd {
namespace {

std::string StatusWithUids(const std::string& uids) {
  return "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nPid:\t42\nUid:\t" + uids +
         "\nGid:\t100\t100\t100\t100\n";
}

TEST(RootHelperTest, OnlyProcessesWithNothingButSlotUidsMayBeKilled) {
  uid_t as = 0;
  EXPECT_TRUE(SlotOwnedProcess(StatusWithUids("1000\t1000\t1000\t1000"), 1000, 32, &as));
  EXPECT_EQ(as, 1000U);
  EXPECT_TRUE(SlotOwnedProcess(StatusWithUids("1031\t1030\t1031\t1031"), 1000, 32, &as));
  EXPECT_EQ(as, 1031U);  // signalled as its real uid
  // Root, the daemon's user, a uid just past the range, one id of four outside.
  EXPECT_FALSE(SlotOwnedProcess(StatusWithUids("0\t0\t0\t0"), 1000, 32, &as));
  EXPECT_FALSE(SlotOwnedProcess(StatusWithUids("999\t999\t999\t999"), 1000, 32, &as));
  EXPECT_FALSE(SlotOwnedProcess(StatusWithUids("1032\t1032\t1032\t1032"), 1000, 32, &as));
  EXPECT_FALSE(SlotOwnedProcess(StatusWithUids("1000\t1000\t0\t1000"), 1000, 32, &as));
  EXPECT_FALSE(SlotOwnedProcess(StatusWithUids("1000\t1000\t1000\t0"), 1000, 32, &as));
  // A range that would hold 0 holds nothing of root's.
  EXPECT_FALSE(SlotOwnedProcess(StatusWithUids("0\t0\t0\t0"), 0, 32, &as));
  // Malformed: no Uid line, too few ids, not numbers.
  EXPECT_FALSE(SlotOwnedProcess("Name:\tx\n", 1000, 32, &as));
  EXPECT_FALSE(SlotOwnedProcess(StatusWithUids("1000\t1000"), 1000, 32, &as));
  EXPECT_FALSE(SlotOwnedProcess(StatusWithUids("a\tb\tc\td"), 1000, 32, &as));
}

}  // namespace
}  // namespace sandboxd
