// spill_to_disk end to end: a real daemon stages the input in a file on disk and the sandbox maps
// that file, not a memfd; the answer is the same table either way.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include <cmath>
#include <string>

#include "daemon_fixture.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

// The script reports where its input came from. The runner closes fd 4 once `df` is built, but
// the mapping stays: /proc/self/maps names it, "/memfd:sandboxd-input (deleted)" for a memfd and
// "<spill_dir>/#<inode> (deleted)" for an O_TMPFILE file on disk.
constexpr const char* kScript =
    "maps = [line.split(None, 5) for line in open('/proc/self/maps')]\n"
    "names = sorted({m[5].strip() for m in maps if len(m) == 6 and 'deleted' in m[5]})\n"
    "result = df\n"
    "result['source'] = ';'.join(names)\n";

constexpr std::uint64_t kRows = 5000;  // ~250 KB: over the inline limit, so it travels in a memfd

// Every third cell of each nullable column is null.
Table MixedTable() {
  TableBuilder builder({{"l", ColumnType::kLong},
                        {"r", ColumnType::kReal},
                        {"s", ColumnType::kString},
                        {"b", ColumnType::kBool},
                        {"t", ColumnType::kDateTime}});
  for (std::uint64_t i = 0; i < kRows; ++i) {
    const bool null = i % 3 == 2;
    const auto v = static_cast<std::int64_t>(i);
    null ? builder.AppendNull(0) : builder.AppendLong(0, v * 1'000'000'007LL);
    null ? builder.AppendNull(1) : builder.AppendReal(1, static_cast<double>(v) / 8);
    builder.AppendText(2, i % 5 == 0 ? "" : "row " + std::to_string(i) + " é");
    null ? builder.AppendNull(3) : builder.AppendBool(3, i % 2 == 0);
    null ? builder.AppendNull(4)
         : builder.AppendTicks(4, 17'000'000'000'000'000LL + v * 10'000'000);
  }
  auto table = builder.FinishTable();
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  return std::move(table.value());
}

void ExpectSameTable(const TableView& t) {
  ASSERT_EQ(t.row_count(), kRows);
  ASSERT_EQ(t.column_count(), 6U);
  EXPECT_EQ(t.column(0), (ColumnSpec{"l", ColumnType::kLong}));
  EXPECT_EQ(t.column(1), (ColumnSpec{"r", ColumnType::kReal}));
  EXPECT_EQ(t.column(2), (ColumnSpec{"s", ColumnType::kString}));
  EXPECT_EQ(t.column(3), (ColumnSpec{"b", ColumnType::kBool}));
  EXPECT_EQ(t.column(4), (ColumnSpec{"t", ColumnType::kDateTime}));
  for (std::uint64_t i = 0; i < kRows; ++i) {
    const bool null = i % 3 == 2;
    const auto v = static_cast<std::int64_t>(i);
    SCOPED_TRACE("row " + std::to_string(i));
    EXPECT_EQ(t.IsNull(0, i), null);
    EXPECT_EQ(t.IsNull(3, i), null);
    EXPECT_EQ(t.IsNull(4, i), null);
    if (null) {
      EXPECT_TRUE(t.IsNull(1, i) || std::isnan(t.GetReal(1, i)));
    } else {
      EXPECT_EQ(t.GetLong(0, i), v * 1'000'000'007LL);
      EXPECT_EQ(t.GetReal(1, i), static_cast<double>(v) / 8);
      EXPECT_EQ(t.GetBool(3, i), i % 2 == 0);
      EXPECT_EQ(t.GetTicks(4, i), 17'000'000'000'000'000LL + v * 10'000'000);
    }
    EXPECT_FALSE(t.IsNull(2, i));
    EXPECT_EQ(t.GetText(2, i), i % 5 == 0 ? "" : "row " + std::to_string(i) + " é");
    if (::testing::Test::HasFailure()) return;
  }
}

// The folder the test daemon spills into: its default, state_dir/spill.
bool SpillDirOnDisk() {
  struct statfs fs {};
  if (::statfs("/var/lib/sandboxd", &fs) != 0) return true;  // created by the daemon
  return fs.f_type != TMPFS_MAGIC && fs.f_type != RAMFS_MAGIC;
}

// A warm sandbox would map a memfd the daemon copied the input into: one that is ready must be
// passed over. The suite's daemon keeps two; a request takes one, and its replacement is launched
// once the request's sandbox is gone. With no request running, each live sandbox of the daemon is
// a warm one, launched (its init exists once the launcher started it).
void WaitForWarmPool(const DaemonProcess& daemon, Client& client) {
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script = "result = pd.DataFrame({'x': [1]})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  constexpr std::size_t kWarmSandboxes = 2;  // the daemon's default warm_sandboxes
  ASSERT_TRUE(WaitUntil([&] { return LiveSandboxInitsOf(daemon.pid()).size() == kWarmSandboxes; },
                        std::chrono::minutes(2)))
      << "the warm pool did not refill to " << kWarmSandboxes << " sandboxes within 2 minutes ("
      << LiveSandboxInitsOf(daemon.pid()).size() << " live)";
}

class SpillTest : public DaemonTest {};

TEST_F(SpillTest, SpilledInputIsAFileOnDiskAndTheResultIsTheSame) {
  if (!SpillDirOnDisk()) GTEST_SKIP() << "/var/lib/sandboxd is on tmpfs: nothing to spill to";
  Client client = daemon_->Connect();
  ASSERT_NO_FATAL_FAILURE(WaitForWarmPool(
      *daemon_, client));  // a spilled request must start cold even when warm sandboxes wait
  Request request;
  request.output_schema = "typeof(*, source:string)";
  request.script = kScript;
  request.input = MixedTable();
  request.spill_to_disk = true;
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& t = outcome.result().table.view();
  ExpectSameTable(t);
  const std::string source(t.GetText(5, 0));
  EXPECT_EQ(source.find("memfd:sandboxd-input"), std::string::npos) << source;
  EXPECT_NE(source.find("/var/lib/sandboxd/spill/"), std::string::npos) << source;
}

TEST_F(SpillTest, WithoutSpillTheInputIsAMemfd) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(*, source:string)";
  request.script = kScript;
  request.input = MixedTable();
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& t = outcome.result().table.view();
  ExpectSameTable(t);
  const std::string source(t.GetText(5, 0));
  EXPECT_NE(source.find("/memfd:sandboxd-input"), std::string::npos) << source;
  EXPECT_EQ(source.find("/spill/"), std::string::npos) << source;
}

TEST_F(SpillTest, SpilledRequestsOneAfterAnotherReuseTheBudget) {
  if (!SpillDirOnDisk()) GTEST_SKIP() << "/var/lib/sandboxd is on tmpfs: nothing to spill to";
  // The default budget is 16 GiB; what matters here is that each request's file is gone (and
  // its bytes returned) when it is answered, so a run of them never fills anything.
  Client client = daemon_->Connect();
  for (int i = 0; i < 3; ++i) {
    Request request;
    request.output_schema = "typeof(n:long)";
    request.script = "result = pd.DataFrame({'n': [len(df)]})\n";
    request.input = MixedTable();
    request.spill_to_disk = true;
    auto outcome = client.Execute(request);
    ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
    EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), static_cast<std::int64_t>(kRows));
  }
}

TEST(SpillLimitTest, AnInputOverTheNodesSpillLimitIsRefusedClearly) {
  if (!DefaultImageBuilt()) GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir();
  DaemonOptions options;
  options.config_json = R"({"max_spill_mb": 1, "warm_sandboxes": 0})";
  options.uid_base_start = 1'700'000'000U;  // not the suite daemon's range
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr) << "sandboxd did not start";
  Client client = daemon->Connect();
  Request request;
  request.output_schema = "typeof(n:long)";
  request.script = "result = pd.DataFrame({'n': [len(df)]})\n";
  TableBuilder builder({{"x", ColumnType::kLong}});
  for (std::int64_t i = 0; i < 200'000; ++i) builder.AppendLong(0, i);  // 1.6 MB
  request.input = std::move(builder.FinishTable().value());
  request.spill_to_disk = true;
  auto refused = client.Execute(request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kBadRequest);
  EXPECT_NE(refused.error().message.find("max_spill_mb"), std::string::npos)
      << refused.error().message;
  // The same table without the hint runs.
  request.spill_to_disk = false;
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 200'000);
}

}  // namespace
}  // namespace sandboxd::testing
