// A sandbox that writes a hostile result or hostile events must cost the daemon no more than the
// bytes it wrote, and only within its own request's deadline (issue 8, item 2; the JSON depth
// bound of item 1 for the events pipe). The UDFs below skip the runner: they write raw SBXT to
// fd 5 and their own events to fd 6, as the security probes G0-G1m do.
#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

// `kargs['columns']` string columns of one row whose data regions are all the same
// `kargs['region_mb']` MiB of 'a': valid in every other respect, and once a minute of
// validation per 1000 columns (one column: a well-formed table). With `kargs['beacon']`, the
// script first names itself so (wait_for.h) and waits for SIGUSR1 (at most a minute).
constexpr const char* kOverlappingResult = R"py(
import json, os, signal, struct
if kargs.get('beacon'):
    import ctypes
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    ctypes.CDLL(None).prctl(15, kargs['beacon'].encode(), 0, 0, 0)
    signal.sigtimedwait({signal.SIGUSR1}, 60)
n = kargs['columns']
length = kargs['region_mb'] << 20
header = 32 + 64 * n
blobs = bytearray()
def put(data):
    offset = header + len(blobs)
    blobs.extend(data)
    blobs.extend(b'\0' * (-len(blobs) % 8))
    return offset
names = [b'c%d' % c for c in range(n)]
places = [(put(name), put(struct.pack('<QQ', 0, length))) for name in names]
data_offset = header + len(blobs)
entries = b''.join(struct.pack('<QIB3xQQQQQQ', name_offset, len(name), 6, 0, 0, values_offset, 16,
                               data_offset, length)
                   for name, (name_offset, values_offset) in zip(names, places))
size = data_offset + length
head = struct.pack('<8sQIIQ', b'SBXTBL01', 1, n, 0, size)
os.ftruncate(5, 0)
os.pwrite(5, head + entries + bytes(blobs), 0)
os.pwrite(5, b'a' * length, data_offset)
os.write(6, json.dumps({'kind': 'done', 'result_bytes': size}).encode() + b'\n')
os._exit(0)
)py";

std::string StringSchema(int columns) {
  std::string schema = "typeof(";
  for (int c = 0; c < columns; ++c)
    schema += (c == 0 ? "c" : ", c") + std::to_string(c) + ":string";
  return schema + ")";
}

// The CPU time process `pid` has used so far, all its threads (those gone too) together.
double CpuSeconds(pid_t pid) {
  clockid_t clock{};
  timespec now{};
  if (::clock_getcpuclockid(pid, &clock) != 0 || ::clock_gettime(clock, &now) != 0) return -1;
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

Request OverlappingRequest(int columns, const std::string& beacon) {
  Request request;
  request.output_schema = StringSchema(columns);
  request.script = kOverlappingResult;
  request.script_parameters_json = R"({"columns": )" + std::to_string(columns) +
                                   R"(, "region_mb": 30, "beacon": ")" + beacon + R"("})";
  request.timeout_ms = 120'000;
  return request;
}

class HostileResultTest : public DaemonTest {};

// Each of four results names one 30 MiB region 300 times. A check that reads each column's data
// would read 9 GiB per result, a check in O(the buffer) 30 MiB: the daemon's CPU time for the four
// (and a neighbour) is compared with its CPU time for one well-formed result of the same 30 MiB,
// measured on the same build and machine, so the bound holds whatever the machine's speed.
TEST_F(HostileResultTest, FourOverlappingResultsCostTheirBytesAndANeighbourIsServed) {
  constexpr int kColumns = 300;
  const pid_t daemon_pid = daemon_->pid();
  Client client = daemon_->Connect();

  // What one well-formed result of the region costs the daemon: a request, a check and a copy.
  const double before_one = CpuSeconds(daemon_pid);
  ASSERT_GE(before_one, 0) << "cannot read the daemon's CPU clock";
  auto one = client.Execute(OverlappingRequest(1, ""));
  const double one_seconds = CpuSeconds(daemon_pid) - before_one;
  ASSERT_TRUE(one.ok()) << one.error().ToString();
  ASSERT_EQ(one.result().table.view().row_count(), 1U);
  EXPECT_EQ(one.result().table.view().GetText(0, 0).size(), 30U << 20);

  // The four hostile scripts wait at their start until all four run, then write at once.
  const std::string beacon = BeaconName("hostile-");
  const double before_hostile = CpuSeconds(daemon_pid);
  std::vector<std::optional<ExecuteOutcome>> hostile(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      Client own = daemon_->Connect();
      hostile[i].emplace(own.Execute(OverlappingRequest(kColumns, beacon)));
    });
  }
  const bool all_run =
      WaitUntil([&] { return ProcessesNamed(beacon).size() == 4; }, std::chrono::minutes(2));
  EXPECT_TRUE(all_run) << ProcessesNamed(beacon).size()
                       << " of the 4 hostile scripts run after 2 minutes";
  for (pid_t pid : ProcessesNamed(beacon)) Release(pid);
  // The neighbour is sent while the hostile results are being written and checked.
  Request plain;
  plain.output_schema = "typeof(x:long)";
  plain.script = "result = pd.DataFrame({'x': [1, 2, 3]})\n";
  auto outcome = client.Execute(plain);
  for (auto& t : threads) t.join();
  const double hostile_seconds = CpuSeconds(daemon_pid) - before_hostile;

  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.row_count(), 3U);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(hostile[i].has_value());
    ASSERT_FALSE(hostile[i]->ok()) << "an overlapping result was accepted";
    const auto& error = hostile[i]->error();
    EXPECT_EQ(error.code, ErrorCode::kScriptError) << error.ToString();
    EXPECT_NE(error.message.find("malformed result table"), std::string::npos) << error.message;
    EXPECT_NE(error.message.find("regions must not share bytes"), std::string::npos)
        << error.message;
  }
  // Five requests, each at most a few times the well-formed one (whose check reads all 30 MiB
  // and whose answer copies them); reading every column would cost a hundred times more.
  std::printf(
      "daemon CPU: %.3f s for one well-formed 30 MiB result, %.3f s for the four "
      "overlapping ones and the neighbour\n",
      one_seconds, hostile_seconds);
  EXPECT_LE(hostile_seconds, 20 * one_seconds)
      << "checking four overlapping results cost the daemon " << hostile_seconds
      << " s of CPU, one well-formed result of the same bytes " << one_seconds << " s";
  EXPECT_TRUE(daemon_->alive());
}

TEST_F(HostileResultTest, AnEventLineNestedAHundredThousandDeepIsDropped) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  // Under kMaxEventLine (256 KiB), so the daemon reads it whole and parses it.
  request.script = R"py(
import json, os
deep = '[' * 100000 + ']' * 100000
os.write(6, ('{"kind": "log", "level": "INFO", "message": "deep-one", "x": ' + deep + '}\n').encode())
os.write(6, ('[' * 100000 + '\n').encode())
os.write(6, (json.dumps({'kind': 'log', 'level': 'INFO', 'message': 'shallow-one'}) + '\n').encode())
result = pd.DataFrame({'x': [7]})
)py";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 7);
  bool deep = false, shallow = false;
  for (const auto& record : outcome.result().logs) {
    if (record.message.find("deep-one") != std::string::npos) deep = true;
    if (record.message.find("shallow-one") != std::string::npos) shallow = true;
  }
  EXPECT_FALSE(deep) << "an event nested past kMaxJsonDepth was parsed and kept";
  EXPECT_TRUE(shallow) << "the well-formed event after the deep one was lost";
  EXPECT_TRUE(daemon_->alive());

  // And the daemon still serves.
  Request plain;
  plain.output_schema = "typeof(x:long)";
  plain.script = "result = pd.DataFrame({'x': [1]})\n";
  auto again = client.Execute(plain);
  EXPECT_TRUE(again.ok()) << again.error().ToString();
}

TEST_F(HostileResultTest, ADynamicCellNestedPastTheLimitIsAMalformedResult) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(d:dynamic)";
  request.script = R"py(
import json, os, struct
cell = b'[' * 65 + b']' * 65
header = 32 + 64
name_offset = header
values_offset = header + 8
data_offset = values_offset + 16
size = data_offset + (len(cell) + 7) // 8 * 8
entry = struct.pack('<QIB3xQQQQQQ', name_offset, 1, 10, 0, 0, values_offset, 16, data_offset,
                    len(cell))
body = b'd' + b'\0' * 7 + struct.pack('<QQ', 0, len(cell)) + cell
body += b'\0' * (size - header - len(body))
os.ftruncate(5, 0)
os.pwrite(5, struct.pack('<8sQIIQ', b'SBXTBL01', 1, 1, 0, size) + entry + body, 0)
os.write(6, json.dumps({'kind': 'done', 'result_bytes': size}).encode() + b'\n')
os._exit(0)
)py";
  auto outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kScriptError) << outcome.error().ToString();
  EXPECT_NE(outcome.error().message.find("column 0 ('d')"), std::string::npos)
      << outcome.error().message;
  EXPECT_NE(outcome.error().message.find("row 0"), std::string::npos) << outcome.error().message;
  EXPECT_NE(outcome.error().message.find("deeper than the limit of 64 levels"), std::string::npos)
      << outcome.error().message;
}

}  // namespace
}  // namespace sandboxd::testing
