// A sandbox that writes a hostile result or hostile events must cost the daemon no more than the
// bytes it wrote, and only within its own request's deadline (issue 8, item 2; the JSON depth
// bound of item 1 for the events pipe). The UDFs below skip the runner: they write raw SBXT to
// fd 5 and their own events to fd 6, as the security probes G0-G1m do.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"

namespace sandboxd::testing {
namespace {

// `kargs['columns']` string columns of one row whose data regions are all the same
// `kargs['region_mb']` MiB of 'a': valid in every other respect, and once a minute of
// validation per 1000 columns.
constexpr const char* kOverlappingResult = R"py(
import json, os, struct
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

class HostileResultTest : public DaemonTest {};

TEST_F(HostileResultTest, FourOverlappingResultsEndInTimeAndANeighbourIsServed) {
  constexpr int kColumns = 300;
  std::vector<std::optional<ExecuteOutcome>> hostile(4);
  std::vector<double> seconds(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      Client client = daemon_->Connect();
      Request request;
      request.output_schema = StringSchema(kColumns);
      request.script = kOverlappingResult;
      request.script_parameters_json =
          R"({"columns": )" + std::to_string(kColumns) + R"(, "region_mb": 30})";
      request.timeout_ms = 5000;
      const auto start = std::chrono::steady_clock::now();
      hostile[i].emplace(client.Execute(request));
      seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
  }
  // The neighbour starts while the hostile results are being written and checked.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Client client = daemon_->Connect();
  Request plain;
  plain.output_schema = "typeof(x:long)";
  plain.script = "result = pd.DataFrame({'x': [1, 2, 3]})\n";
  const auto start = std::chrono::steady_clock::now();
  auto outcome = client.Execute(plain);
  const double plain_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& t : threads) t.join();

  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.row_count(), 3U);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(hostile[i].has_value());
    ASSERT_FALSE(hostile[i]->ok()) << "an overlapping result was accepted";
    const auto& error = hostile[i]->error();
    // Refused for sharing bytes (the usual case), or cut off by its own deadline: either way a
    // message the user can act on, and never the neighbour's problem.
    if (error.code == ErrorCode::kScriptError) {
      EXPECT_NE(error.message.find("malformed result table"), std::string::npos) << error.message;
      EXPECT_NE(error.message.find("regions must not share bytes"), std::string::npos)
          << error.message;
    } else {
      EXPECT_EQ(error.code, ErrorCode::kTimeout) << error.ToString();
    }
    std::printf("hostile request %d: %s after %.2f s\n", i, error.ToString().substr(0, 160).c_str(),
                seconds[i]);
  }
  std::printf("plain neighbour answered in %.2f s\n", plain_seconds);
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
