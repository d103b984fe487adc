// The launch specification's builder on its own: every setter fills its fields, every wrong
// value is collected with the field's name, Build() answers the first, and the slot's host ids
// stay within 32 bits and away from root.
#include "launch_spec_builder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sandboxd {
namespace {

// A builder with everything a launch needs, every value a valid one.
LaunchSpecBuilder Complete() {
  SandboxLimits limits;
  limits.tmp_bytes = 11;
  limits.work_bytes = 22;
  limits.shm_bytes = 33;
  limits.max_inodes = 44;
  limits.max_open_files = 55;
  LaunchSpecBuilder spec;
  spec.SandboxId("s1-2-3")
      .Rootfs("/images/python3.11/rootfs")
      .RuntimeDir("/usr/lib/sandboxd/runtime")
      .ArtifactsDir("/state/requests/r1/Temp")
      .SiteDir("/state/requests/r1/site")
      .Slot(100000, 3)
      .Limits(limits)
      .Hostname("sandbox")
      .Command(true, "/usr/lib/sandboxd/zygote", {"sklearn", "scipy"})
      .Env("HOME=/sandbox/work")
      .VisibleResources(2, 1ULL << 30)
      .SeccompProgram("bpf");
  return spec;
}

TEST(LaunchSpecBuilderTest, EverySetterFillsItsFields) {
  auto built = Complete().Build();
  ASSERT_TRUE(built.ok()) << built.status().message();
  const internal::LaunchRequest& spec = *built;
  EXPECT_EQ(spec.sandbox_id(), "s1-2-3");
  EXPECT_EQ(spec.rootfs(), "/images/python3.11/rootfs");
  EXPECT_EQ(spec.runtime_dir(), "/usr/lib/sandboxd/runtime");
  EXPECT_EQ(spec.artifacts_dir(), "/state/requests/r1/Temp");
  EXPECT_EQ(spec.site_dir(), "/state/requests/r1/site");
  // Slot 3 from 100000: the UDF is 100006, the sandbox's root the next id.
  EXPECT_EQ(spec.outside_uid(), 100006U);
  EXPECT_EQ(spec.outside_gid(), 100006U);
  EXPECT_EQ(spec.outside_root_uid(), 100007U);
  EXPECT_EQ(spec.outside_root_gid(), 100007U);
  EXPECT_EQ(spec.tmp_bytes(), 11U);
  EXPECT_EQ(spec.work_bytes(), 22U);
  EXPECT_EQ(spec.shm_bytes(), 33U);
  EXPECT_EQ(spec.max_inodes(), 44U);
  EXPECT_EQ(spec.max_open_files(), 55U);
  EXPECT_EQ(spec.max_file_bytes(), 22U);  // the work folder's size
  EXPECT_EQ(spec.hostname(), "sandbox");
  EXPECT_TRUE(spec.from_zygote());
  EXPECT_EQ(spec.zygote_module_dir(), "/usr/lib/sandboxd/zygote");
  const std::vector<std::string> argv(spec.argv().begin(), spec.argv().end());
  EXPECT_EQ(argv,
            (std::vector<std::string>{"/usr/bin/python3", "-I", "-B", "/sandbox/runtime/zygote.py",
                                      "--preload=sklearn", "--preload=scipy"}));
  const std::vector<std::string> env(spec.env().begin(), spec.env().end());
  EXPECT_EQ(env, (std::vector<std::string>{"HOME=/sandbox/work", "OMP_NUM_THREADS=2"}));
  EXPECT_EQ(spec.cpu_count(), 2U);
  EXPECT_EQ(spec.memory_bytes(), 1ULL << 30);
  EXPECT_EQ(spec.seccomp_program(), "bpf");
  EXPECT_TRUE(Complete().errors().empty());
}

TEST(LaunchSpecBuilderTest, WithoutAZygoteTheSandboxStartsItsOwnInterpreter) {
  auto built = Complete().Command(false, "/usr/lib/sandboxd/zygote", {}).Build();
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_FALSE(built->from_zygote());
  // Its runner mounts the extension folder for its C loops (/sandbox/lib).
  EXPECT_EQ(built->zygote_module_dir(), "/usr/lib/sandboxd/zygote");
  EXPECT_FALSE(Complete().Command(false, "relative", {}).Build().ok());
  EXPECT_TRUE(Complete().Command(false, "", {}).Build().ok());
  ASSERT_EQ(built->argv_size(), 4);
  EXPECT_EQ(built->argv(3), "/sandbox/runtime/runner.py");
  // And the fallback a launch takes when the image's zygote cannot start, on a built spec.
  internal::LaunchRequest spec = *Complete().Build();
  SetSandboxCommand(spec, false, "", {"sklearn"});
  EXPECT_FALSE(spec.from_zygote());
  ASSERT_EQ(spec.argv_size(), 5);
  EXPECT_EQ(spec.argv(3), "/sandbox/runtime/runner.py");
  EXPECT_EQ(spec.argv(4), "--preload=sklearn");
}

TEST(LaunchSpecBuilderTest, ErrorsAreCollectedAndTheFirstWins) {
  LaunchSpecBuilder spec = Complete();
  spec.Rootfs("images/relative").Env("NOEQUALS").Hostname("");
  ASSERT_EQ(spec.errors().size(), 3U);
  EXPECT_NE(spec.errors()[1].message().find("'NOEQUALS' is not NAME=value"), std::string::npos);
  EXPECT_NE(spec.errors()[2].message().find("hostname is empty"), std::string::npos);
  auto built = spec.Build();
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), ErrorCode::kInternal);
  EXPECT_EQ(built.status().message(),
            "the sandbox's launch specification: rootfs 'images/relative' is not an absolute path");
}

TEST(LaunchSpecBuilderTest, RequiredFieldsThatWereNeverSetAreErrors) {
  auto built = LaunchSpecBuilder().Build();
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().message(), "the sandbox's launch specification: sandbox_id is not set");

  LaunchSpecBuilder no_command;
  no_command.SandboxId("s").Rootfs("/r").RuntimeDir("/rt").Slot(1000, 0);
  built = no_command.Build();
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().message(), "the sandbox's launch specification: no command is set");
}

TEST(LaunchSpecBuilderTest, PathsMustBeAbsoluteAndOptionalOnesMayBeEmpty) {
  EXPECT_TRUE(Complete().ArtifactsDir("").SiteDir("").Build().ok());
  EXPECT_FALSE(Complete().ArtifactsDir("Temp").Build().ok());
  EXPECT_FALSE(Complete().SiteDir("site").Build().ok());
  EXPECT_FALSE(Complete().RuntimeDir("").Build().ok());
  EXPECT_FALSE(Complete().Command(true, "", {}).Build().ok());
  EXPECT_FALSE(Complete().Env("=value").Build().ok());
}

TEST(LaunchSpecBuilderTest, TheSlotsHostIdsStayWithinBounds) {
  constexpr std::uint32_t kMax = std::numeric_limits<std::uint32_t>::max();
  // The last slot whose root id still fits: base + 2 * slot + 1 == 2^32 - 1.
  auto last = Complete().Slot(kMax - 9, 4).Build();
  ASSERT_TRUE(last.ok()) << last.status().message();
  EXPECT_EQ(last->outside_uid(), kMax - 1);
  EXPECT_EQ(last->outside_root_uid(), kMax);
  // One slot further would wrap around to root's ids.
  auto past = Complete().Slot(kMax - 9, 5).Build();
  ASSERT_FALSE(past.ok());
  EXPECT_NE(past.status().message().find("past the largest host uid"), std::string::npos);
  auto root = Complete().Slot(0, 0).Build();
  ASSERT_FALSE(root.ok());
  EXPECT_NE(root.status().message().find("start at 0 (root)"), std::string::npos);
}

TEST(LaunchSpecBuilderTest, TheVisibleCpusFollowTheCap) {
  EXPECT_EQ(VisibleCpus(0, 8), 8U);     // no cap: the host's
  EXPECT_EQ(VisibleCpus(100, 8), 1U);   // one CPU's worth
  EXPECT_EQ(VisibleCpus(150, 8), 2U);   // rounded up
  EXPECT_EQ(VisibleCpus(1600, 8), 8U);  // never more than the host has
  EXPECT_EQ(VisibleCpus(50, 0), 1U);    // at least one
  EXPECT_FALSE(Complete().VisibleResources(0, 1).Build().ok());
}

}  // namespace
}  // namespace sandboxd
