// A UDF sees its own limits (sandboxd/sandbox/limits_view.cc): /proc/meminfo from the memory
// cgroup, the CPU count from the CPU limit, under two node configurations and two request
// limits, through warm and cold sandboxes of real daemons.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon_fixture.h"

namespace sandboxd::testing {
namespace {

// What the UDF reports, as one JSON string cell.
constexpr char kReport[] = R"py(
import json, os, time
def meminfo():
    fields = {}
    for line in open("/proc/meminfo"):
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])
    return fields
before = meminfo()
if kargs.get("allocate_mb"):
    block = bytearray(kargs["allocate_mb"] << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    # init refreshes the file four times a second: wait (a minute at most) until it shows the
    # block, less 10 MiB (the test's margin).
    shown = before["MemFree"] - ((kargs["allocate_mb"] - 10) << 10)
    deadline = time.monotonic() + 60
    while meminfo()["MemFree"] > shown and time.monotonic() < deadline:
        time.sleep(0.05)
after = meminfo()
stat_cpus = sum(1 for line in open("/proc/stat") if line[:3] == "cpu" and line[3].isdigit())
cpuinfo_cpus = sum(1 for line in open("/proc/cpuinfo") if line.startswith("processor"))
import joblib
result = pd.DataFrame({"report": [json.dumps({
    "MemTotal": before["MemTotal"], "MemFree": before["MemFree"],
    "MemAvailable": before["MemAvailable"], "MemFreeAfter": after["MemFree"],
    "SwapTotal": before["SwapTotal"], "cpu_count": os.cpu_count(), "stat_cpus": stat_cpus,
    "cpuinfo_cpus": cpuinfo_cpus, "omp": os.environ.get("OMP_NUM_THREADS"),
    "joblib": joblib.cpu_count()})]})
)py";

nlohmann::json Report(DaemonProcess& daemon, std::uint64_t memory_mb, int allocate_mb = 0) {
  Client client = daemon.Connect();
  Request request;
  request.output_schema = "typeof(report:string)";
  request.script = kReport;
  request.memory_mb = memory_mb;
  request.script_parameters_json = nlohmann::json{{"allocate_mb", allocate_mb}}.dump();
  auto outcome = client.Execute(request);
  if (!outcome.ok()) {
    ADD_FAILURE() << outcome.error().ToString();
    return {};
  }
  return nlohmann::json::parse(std::string(outcome.result().table.view().GetText(0, 0)));
}

unsigned HostCpus() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1U;
}

class LimitsViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DefaultImageBuilt()) GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir();
  }
};

TEST_F(LimitsViewTest, OneCpuAndTheRequestsMemoryLimit) {
  DaemonOptions options;
  options.config_json = R"({"limits": {"cpu_percent": 100, "memory_mb": 1024}})";
  options.cgroup_group_prefix = "sandboxd-limits-a-";
  options.uid_base_start = 1'620'000'000U;
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);
  // The first requests are likely served by warm sandboxes (launched with the node's 1 GiB and
  // lowered when the request arrives), later ones by cold ones: both must tell the truth.
  for (std::uint64_t memory_mb : {512U, 300U, 512U, 300U}) {
    const nlohmann::json r = Report(*daemon, memory_mb);
    ASSERT_FALSE(r.is_null());
    EXPECT_EQ(r["MemTotal"], memory_mb * 1024) << r.dump();
    EXPECT_LE(r["MemFree"], r["MemTotal"]) << r.dump();
    EXPECT_GT(r["MemFree"], 0) << r.dump();
    EXPECT_LE(r["MemAvailable"], r["MemTotal"]) << r.dump();
    EXPECT_GE(r["MemAvailable"], r["MemFree"]) << r.dump();
    EXPECT_EQ(r["SwapTotal"], 0) << r.dump();
    EXPECT_EQ(r["cpu_count"], 1) << r.dump();
    EXPECT_EQ(r["stat_cpus"], 1) << r.dump();
    EXPECT_EQ(r["cpuinfo_cpus"], 1) << r.dump();
    EXPECT_EQ(r["omp"], "1") << r.dump();
    EXPECT_EQ(r["joblib"], 1) << r.dump();
  }
  // MemFree follows what the sandbox uses.
  const nlohmann::json used = Report(*daemon, 512, 150);
  ASSERT_FALSE(used.is_null());
  EXPECT_LE(used["MemFreeAfter"].get<std::int64_t>(),
            used["MemFree"].get<std::int64_t>() - 140 * 1024)
      << used.dump();
}

TEST_F(LimitsViewTest, TwoCpusAndTheNodesMemoryLimit) {
  DaemonOptions options;
  options.config_json = R"({"limits": {"cpu_percent": 200, "memory_mb": 768}})";
  options.cgroup_group_prefix = "sandboxd-limits-b-";
  options.uid_base_start = 1'630'000'000U;
  options.extra_args = {"--warm-sandboxes", "0"};
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);
  const nlohmann::json r = Report(*daemon, 0);
  ASSERT_FALSE(r.is_null());
  const unsigned cpus = std::min(2U, HostCpus());
  EXPECT_EQ(r["MemTotal"], 768 * 1024) << r.dump();
  EXPECT_EQ(r["cpu_count"], cpus) << r.dump();
  EXPECT_EQ(r["stat_cpus"], cpus) << r.dump();
  EXPECT_EQ(r["cpuinfo_cpus"], cpus) << r.dump();
  EXPECT_EQ(r["omp"], std::to_string(cpus)) << r.dump();
}

}  // namespace
}  // namespace sandboxd::testing
