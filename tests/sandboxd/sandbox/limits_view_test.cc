// The sandbox's view of its limits: the files' contents (the mounts are covered by the
// integration tests, which read them from a UDF).
#include "sandbox/limits_view.h"

#include <gtest/gtest.h>

#include <string>

namespace sandboxd {
namespace {

constexpr std::uint64_t kMiB = 1ULL << 20;

TEST(LimitsView, MeminfoTellsTheLimitAndWhatIsLeft) {
  MemoryFigures m;
  m.total = 512 * kMiB;
  m.used = 200 * kMiB;
  m.cache = 50 * kMiB;
  m.shmem = 10 * kMiB;
  const auto values = ParseKeyValues(FormatMeminfo(m));
  EXPECT_EQ(values.at("MemTotal:"), 512 * 1024U);
  EXPECT_EQ(values.at("MemFree:"), 312 * 1024U);
  // Page cache is reclaimable, shared memory is not (swap is off).
  EXPECT_EQ(values.at("MemAvailable:"), 352 * 1024U);
  EXPECT_EQ(values.at("SwapTotal:"), 0U);
  EXPECT_EQ(values.at("Shmem:"), 10 * 1024U);
}

TEST(LimitsView, MeminfoKeepsItsLengthAndNeverGoesNegative) {
  MemoryFigures small, large;
  small.total = 64 * kMiB;
  large.total = 900ULL << 30;
  large.used = 1000ULL << 30;  // over the limit for a moment: free is 0, not a wrapped number
  large.cache = 5ULL << 30;
  const std::string a = FormatMeminfo(small), b = FormatMeminfo(large);
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(ParseKeyValues(b).at("MemFree:"), 0U);
  EXPECT_EQ(ParseKeyValues(b).at("MemAvailable:"), 5U << 20);
}

TEST(LimitsView, CgroupStatisticsParse) {
  const auto v = ParseKeyValues("cache 4096\nrss 8192\ntotal_shmem 12\nbad\n");
  EXPECT_EQ(v.at("cache"), 4096U);
  EXPECT_EQ(v.at("rss"), 8192U);
  EXPECT_EQ(v.at("total_shmem"), 12U);
  EXPECT_EQ(v.count("bad"), 0U);
}

TEST(LimitsView, StatListsTheFirstCpusRenumbered) {
  const std::string host =
      "cpu  10 0 20 300 0 0 0 0 0 0\n"
      "cpu0 5 0 10 150 0 0 0 0 0 0\n"
      "cpu1 5 0 10 150 0 0 0 0 0 0\n"
      "cpu2 1 0 1 1 0 0 0 0 0 0\n"
      "intr 12345\nctxt 99\nbtime 1700000000\nprocesses 42\n";
  const std::string one = CpuStatView(host, 1);
  EXPECT_EQ(one,
            "cpu  10 0 20 300 0 0 0 0 0 0\n"
            "cpu0 5 0 10 150 0 0 0 0 0 0\n"
            "intr 12345\nctxt 99\nbtime 1700000000\nprocesses 42\n");
  const std::string two = CpuStatView(host, 2);
  EXPECT_NE(two.find("cpu1 "), std::string::npos);
  EXPECT_EQ(two.find("cpu2 "), std::string::npos);
  // Asking for more than the host has lists what it has.
  EXPECT_EQ(CpuStatView(host, 8), host);
}

TEST(LimitsView, CpuinfoKeepsTheFirstProcessors) {
  const std::string host =
      "processor\t: 0\nmodel name\t: X\nsiblings\t: 4\ncpu cores\t: 4\n\n"
      "processor\t: 1\nmodel name\t: X\nsiblings\t: 4\ncpu cores\t: 4\n\n"
      "processor\t: 2\nmodel name\t: X\nsiblings\t: 4\ncpu cores\t: 4\n\n";
  const std::string view = CpuinfoView(host, 2);
  EXPECT_EQ(view,
            "processor\t: 0\nmodel name\t: X\nsiblings\t: 2\ncpu cores\t: 2\n\n"
            "processor\t: 1\nmodel name\t: X\nsiblings\t: 2\ncpu cores\t: 2\n\n");
}

}  // namespace
}  // namespace sandboxd
