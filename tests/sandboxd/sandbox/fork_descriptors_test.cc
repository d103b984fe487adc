#include "sandbox/fork_descriptors.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

namespace sandboxd {
namespace {

// A frame of `count` open descriptors (of /dev/null) and the request that names them.
struct ForkFrame {
  explicit ForkFrame(int count) {
    for (int i = 0; i < count; ++i) frame.fds.emplace_back(::open("/dev/null", O_RDONLY));
  }
  Frame frame;
  internal::LaunchRequest request;
  int Fd(std::uint32_t position) const { return frame.fds[position - 1].get(); }
};

// The sandbox's seven and the sync socket at positions 1..8, in a shuffled order.
void NameRequired(internal::ForkDescriptors& named) {
  named.set_status_pipe(1);
  named.set_control(2);
  named.set_events_pipe(3);
  named.set_input(4);
  named.set_sync(5);
  named.set_output(6);
  named.set_stderr_pipe(7);
  named.set_stdout_pipe(8);
}

TEST(ForkDescriptors, EachGoesWhereItsNameSaysWhateverTheOrder) {
  ForkFrame f(13);
  internal::ForkDescriptors& named = *f.request.mutable_fork_descriptors();
  NameRequired(named);
  f.request.set_artifacts_dir("/a");
  f.request.set_site_dir("/s");
  named.set_site_tree(9);
  named.set_artifacts_tree(10);
  named.set_memory_stat(11);
  named.set_memory_limit(12);
  named.set_memory_usage(13);
  f.request.set_memory_cgroup_v2(true);
  SandboxFds fds{};
  int sync = -1;
  HostTrees trees;
  MemoryCgroupFds memory;
  ASSERT_TRUE(PlaceForkDescriptors(f.request, f.frame, fds, sync, trees, memory));
  EXPECT_EQ(fds.fd[kStatusFd], f.Fd(1));
  EXPECT_EQ(fds.fd[kControlFd], f.Fd(2));
  EXPECT_EQ(fds.fd[kEventsFd], f.Fd(3));
  EXPECT_EQ(fds.fd[kInputFd], f.Fd(4));
  EXPECT_EQ(sync, f.Fd(5));
  EXPECT_EQ(fds.fd[kOutputFd], f.Fd(6));
  EXPECT_EQ(fds.fd[kStderrFd], f.Fd(7));
  EXPECT_EQ(fds.fd[kStdoutFd], f.Fd(8));
  EXPECT_EQ(trees.site, f.Fd(9));
  EXPECT_EQ(trees.artifacts, f.Fd(10));
  EXPECT_EQ(memory.stat, f.Fd(11));
  EXPECT_EQ(memory.limit, f.Fd(12));
  EXPECT_EQ(memory.usage, f.Fd(13));
  EXPECT_TRUE(memory.v2);
}

TEST(ForkDescriptors, OptionalOnesMayBeAbsent) {
  ForkFrame f(8);
  NameRequired(*f.request.mutable_fork_descriptors());
  SandboxFds fds{};
  int sync = -1;
  HostTrees trees;
  MemoryCgroupFds memory;
  ASSERT_TRUE(PlaceForkDescriptors(f.request, f.frame, fds, sync, trees, memory));
  EXPECT_EQ(trees.artifacts, -1);
  EXPECT_EQ(trees.site, -1);
  EXPECT_EQ(memory.limit, -1);
}

TEST(ForkDescriptors, AFrameThatDoesNotHoldWhatItsNamesSayIsRefused) {
  const auto placed = [](const ForkFrame& f) {
    SandboxFds fds{};
    int sync = -1;
    HostTrees trees;
    MemoryCgroupFds memory;
    return PlaceForkDescriptors(f.request, f.frame, fds, sync, trees, memory);
  };
  {  // a position past the frame's descriptors
    ForkFrame f(8);
    NameRequired(*f.request.mutable_fork_descriptors());
    f.request.mutable_fork_descriptors()->set_control(9);
    EXPECT_FALSE(placed(f));
  }
  {  // one descriptor named twice
    ForkFrame f(8);
    NameRequired(*f.request.mutable_fork_descriptors());
    f.request.mutable_fork_descriptors()->set_output(2);
    EXPECT_FALSE(placed(f));
  }
  {  // one sent but not named
    ForkFrame f(9);
    NameRequired(*f.request.mutable_fork_descriptors());
    EXPECT_FALSE(placed(f));
  }
  {  // a required one not sent
    ForkFrame f(8);
    NameRequired(*f.request.mutable_fork_descriptors());
    f.request.mutable_fork_descriptors()->set_sync(0);
    EXPECT_FALSE(placed(f));
  }
  {  // a folder named without its tree, and a tree without its folder
    ForkFrame f(8);
    NameRequired(*f.request.mutable_fork_descriptors());
    f.request.set_artifacts_dir("/a");
    EXPECT_FALSE(placed(f));
    ForkFrame g(9);
    NameRequired(*g.request.mutable_fork_descriptors());
    g.request.mutable_fork_descriptors()->set_site_tree(9);
    EXPECT_FALSE(placed(g));
  }
  {  // part of the memory files
    ForkFrame f(10);
    NameRequired(*f.request.mutable_fork_descriptors());
    f.request.mutable_fork_descriptors()->set_memory_limit(9);
    f.request.mutable_fork_descriptors()->set_memory_usage(10);
    EXPECT_FALSE(placed(f));
  }
}

}  // namespace
}  // namespace sandboxd
