// Every probe of probes_*.cc as one test: run in a sandbox and on the host, judged, recorded.
#include <gtest/gtest.h>

#include "suite.h"

namespace sandboxd::security {
namespace {

class ProbeTest : public ::testing::TestWithParam<Probe> {
 protected:
  void SetUp() override {
    if (!TheSuite().setup_error.empty()) GTEST_FAIL() << TheSuite().setup_error;
  }
};

TEST_P(ProbeTest, Holds) { RunProbe(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Probes, ProbeTest, ::testing::ValuesIn(AllProbes()),
                         [](const ::testing::TestParamInfo<Probe>& param_info) {
                           std::string name = param_info.param.id;
                           for (char& c : name) {
                             if (std::isalnum(static_cast<unsigned char>(c)) == 0) c = '_';
                           }
                           return name;
                         });

// B11, B12 (output paths), G1 (protobuf frames from a sandbox) and G2 (descriptors and
// credentials sent to the daemon) do not apply to this design: a sandbox reaches the daemon only
// through the result memfd the daemon created (fd 5), the events pipe (fd 6) and its stdout and
// stderr pipes, and holds no socket. The probe checks exactly that; the rows say what follows.
// (H1-H5 are probed by tests/artifacts, BundleTest.H*; I4 by
// HostTest.I4NothingCrossesBetweenRequests.)
TEST(NotApplicable, ASandboxReachesTheDaemonThroughItsMemfdAndPipesOnly) {
  if (!TheSuite().setup_error.empty()) GTEST_FAIL() << TheSuite().setup_error;
  RunProbe({
      .id = "G2c",
      .title = "the descriptors a UDF starts with: its channels to the daemon",
      .code = R"py(
import stat
if not IN_SANDBOX:
    held = socket.socketpair()  # the control: descriptors that could carry SCM_RIGHTS
def describe(fd):
    try:
        kind = "regular" if stat.S_ISREG(os.fstat(fd).st_mode) else "not regular"
        return kind + " " + os.readlink(f"/proc/self/fd/{fd}")
    except OSError as e:
        return errno.errorcode[e.errno]
described = {int(name): describe(int(name)) for name in os.listdir("/proc/self/fd")}
sockets = [f"{fd}: {d}" for fd, d in sorted(described.items()) if "socket:" in d]
obs("sockets", "; ".join(sockets) or "none")
obs("fd 5 (the result)", described.get(5, "EBADF"))
obs("fd 6 (the events)", described.get(6, "EBADF"))
obs("stdout, stderr", described.get(1, "EBADF") + "; " + described.get(2, "EBADF"))
)py",
      .checks = {{"sockets", "none"},
                 {"fd 5 (the result)", "regular /memfd:sandboxd-result \\(deleted\\)",
                  "-the host run has no daemon's result"},
                 {"fd 6 (the events)", "not regular pipe:\\[\\d+\\]",
                  "-the host run has no daemon's events pipe"},
                 {"stdout, stderr", "not regular pipe:\\[\\d+\\]; not regular pipe:\\[\\d+\\]",
                  "-the host run's are the suite's"}},
  });
  if (::testing::Test::HasFailure()) return;  // the rows below would not hold
  RecordNotApplicable("B11 output artifact is a symlink or hardlink",
                      "the result is the memfd the daemon created, fd 5 (G2c); the daemon opens "
                      "no path a sandbox wrote");
  RecordNotApplicable("B12 output path is a FIFO, device or socket",
                      "fd 5 is the daemon's own memfd (G2c); a sandbox can only resize it (B12 "
                      "probe)");
  RecordNotApplicable("G1 control channel frames (protobuf)",
                      "a sandbox holds no socket to the daemon (G2c); its result and event "
                      "channels are probed by the G1 probes");
  RecordNotApplicable("G2 SCM_RIGHTS / SCM_CREDENTIALS to the daemon",
                      "a sandbox's channels are pipes and a memfd, and it holds no socket (G2c): "
                      "nothing can carry descriptors or credentials to the daemon");
}

}  // namespace
}  // namespace sandboxd::security
