// End-to-end: client -> daemon -> launcher -> sandbox -> runner -> daemon -> client, on the real
// image, with real namespaces.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <thread>

#include "daemon_fixture.h"
#include "sandboxd.pb.h"
#include "sandboxd/framing.h"
#include "test_paths.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

class ExecuteTest : public DaemonTest {};

TEST_F(ExecuteTest, SineExampleOfTheSeed) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(*, fx:double)";
  request.script =
      "result = df\n"
      "n = df.shape[0]\n"
      "g = kargs[\"gain\"]\n"
      "f = kargs[\"cycles\"]\n"
      "result[\"fx\"] = g * np.sin(df[\"x\"]/n*2*np.pi*f)\n";
  request.script_parameters_json = R"({"gain": 100, "cycles": 4})";
  request.input = RangeTable("x", 1, 360);
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& t = outcome.result().table.view();
  ASSERT_EQ(t.row_count(), 360U);
  ASSERT_EQ(t.column_count(), 2U);
  EXPECT_EQ(t.column(0), (ColumnSpec{"x", ColumnType::kLong}));
  EXPECT_EQ(t.column(1), (ColumnSpec{"fx", ColumnType::kReal}));
  for (std::uint64_t i = 0; i < 360; ++i) {
    const double x = static_cast<double>(i + 1);
    EXPECT_EQ(t.GetLong(0, i), static_cast<std::int64_t>(i + 1));
    EXPECT_NEAR(t.GetReal(1, i), 100 * std::sin(x / 360 * 2 * M_PI * 4), 1e-9) << "row " << i;
  }
  EXPECT_GT(outcome.result().stats.wall_seconds, 0);
}

TEST_F(ExecuteTest, EveryTypeRoundTripsWithAndWithoutNulls) {
  const std::vector<ColumnSpec> columns = {
      {"b", ColumnType::kBool},       {"i", ColumnType::kInt},        {"l", ColumnType::kLong},
      {"r", ColumnType::kReal},       {"d", ColumnType::kDecimal},    {"s", ColumnType::kString},
      {"t", ColumnType::kDateTime},   {"ts", ColumnType::kTimeSpan},  {"g", ColumnType::kGuid},
      {"dyn", ColumnType::kDynamic},  {"bn", ColumnType::kBool},      {"in", ColumnType::kInt},
      {"ln", ColumnType::kLong},      {"rn", ColumnType::kReal},      {"dn", ColumnType::kDecimal},
      {"tn", ColumnType::kDateTime},  {"tsn", ColumnType::kTimeSpan}, {"gn", ColumnType::kGuid},
      {"dynn", ColumnType::kDynamic}, {"tfar", ColumnType::kDateTime}};
  TableBuilder builder(columns);
  // Row 0: ordinary values; row 1: extremes; row 2: the null row of the *n columns.
  const std::int64_t min_dt = kMinDateTimeTicks, max_dt = kMaxDateTimeTicks;
  for (int row = 0; row < 3; ++row) {
    const bool extreme = row == 1;
    for (std::size_t c : {std::size_t{0}, std::size_t{10}}) builder.AppendBool(c, row != 1);
    for (std::size_t c : {std::size_t{1}, std::size_t{11}})
      builder.AppendInt(c, extreme ? INT32_MIN : 42);
    for (std::size_t c : {std::size_t{2}, std::size_t{12}})
      builder.AppendLong(c, extreme ? 9223372036854775707LL : -7);
    for (std::size_t c : {std::size_t{3}, std::size_t{13}})
      builder.AppendReal(c, extreme ? 1e308 : 0.1);
    for (std::size_t c : {std::size_t{4}, std::size_t{14}})
      builder.AppendText(c, extreme ? "-12345678901234567890.123456789" : "3.14");
    builder.AppendText(5, extreme ? "" : "héllo, \"world\"\n");
    for (std::size_t c : {std::size_t{6}, std::size_t{15}})
      builder.AppendTicks(c, extreme ? 17041536000000000LL + 1234567 : 0);
    for (std::size_t c : {std::size_t{7}, std::size_t{16}})
      builder.AppendTicks(c, extreme ? -36000000000LL - 1 : 864000000000LL);
    for (std::size_t c : {std::size_t{8}, std::size_t{17}})
      builder.AppendText(c, "0f8fad5b-d9cb-469f-a165-70867728950e");
    for (std::size_t c : {std::size_t{9}, std::size_t{18}})
      builder.AppendText(
          c, extreme ? R"({"a":[1,2.5,"x",null,true],"b":{"c":-9007199254740993}})" : "[]");
    builder.AppendTicks(19, row == 0 ? min_dt : row == 1 ? max_dt : 0);
  }
  auto input = builder.FinishTable();
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  // Null out row 2 of the *n columns by rebuilding them with nulls.
  TableBuilder with_nulls(columns);
  const TableView& v = input->view();
  for (std::uint64_t row = 0; row < 3; ++row) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      if (row == 2 && c >= 10 && c <= 18) {
        with_nulls.AppendNull(c);
        continue;
      }
      ASSERT_TRUE(with_nulls.AppendParsed(c, v.FormatCell(c, row)).ok()) << columns[c].name;
    }
  }
  auto table = with_nulls.FinishTable();
  ASSERT_TRUE(table.ok()) << table.status().ToString();

  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(*)";
  request.script = "result = df\n";
  request.input = std::move(*table);
  const std::string expected_bytes = request.input.buffer();
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& got = outcome.result().table.view();
  const TableView& want = request.input.view();
  ASSERT_EQ(got.column_count(), want.column_count());
  ASSERT_EQ(got.row_count(), want.row_count());
  for (std::size_t c = 0; c < want.column_count(); ++c) {
    EXPECT_EQ(got.column(c), want.column(c));
    for (std::uint64_t row = 0; row < want.row_count(); ++row) {
      EXPECT_EQ(got.IsNull(c, row), want.IsNull(c, row)) << want.column(c).name << " row " << row;
      EXPECT_EQ(got.FormatCell(c, row), want.FormatCell(c, row))
          << want.column(c).name << " row " << row;
    }
  }
}

TEST_F(ExecuteTest, SeedX2X3Example) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(*, x2:long, x3:long)";
  request.script = "result = df\nresult[\"x2\"] = df[\"x\"] * 2\nresult[\"x3\"] = df[\"x\"] * 3\n";
  request.input = RangeTable("x", 1, 100);
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& t = outcome.result().table.view();
  ASSERT_EQ(t.row_count(), 100U);
  for (std::uint64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(t.GetLong(1, i), 2 * t.GetLong(0, i));
    EXPECT_EQ(t.GetLong(2, i), 3 * t.GetLong(0, i));
  }
}

TEST_F(ExecuteTest, SeedHourlyResampleExample) {
  TableBuilder builder({{"Timestamp", ColumnType::kDateTime}, {"Value", ColumnType::kReal}});
  // Six hours of 10-minute readings starting 2024-01-01T00:00Z.
  const std::int64_t start = 17040672000000000LL;
  for (int i = 0; i < 36; ++i) {
    builder.AppendTicks(0, start + static_cast<std::int64_t>(i) * 6000000000LL);
    builder.AppendReal(1, i);
  }
  auto input = builder.FinishTable();
  ASSERT_TRUE(input.ok());
  Client client = daemon_->Connect();
  Request request;
  request.output_schema =
      "typeof(Timestamp:datetime, Value_mean:real, Value_min:real, Value_max:real, "
      "Value_count:long)";
  request.script =
      "import pandas as pd\n"
      "import numpy as np\n"
      "df['Timestamp'] = pd.to_datetime(df['Timestamp'])\n"
      "df = df.set_index('Timestamp')\n"
      "hourly = df.resample('1H').agg({'Value': ['mean', 'min', 'max', 'count']})\n"
      "hourly.columns = ['_'.join(col).strip() for col in hourly.columns.values]\n"
      "result = hourly.reset_index()\n";
  request.input = std::move(*input);
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& t = outcome.result().table.view();
  ASSERT_EQ(t.row_count(), 6U);
  for (std::uint64_t h = 0; h < 6; ++h) {
    EXPECT_EQ(t.GetTicks(0, h), start + static_cast<std::int64_t>(h) * 36000000000LL);
    EXPECT_DOUBLE_EQ(t.GetReal(1, h), 6.0 * h + 2.5);
    EXPECT_DOUBLE_EQ(t.GetReal(2, h), 6.0 * h);
    EXPECT_DOUBLE_EQ(t.GetReal(3, h), 6.0 * h + 5);
    EXPECT_EQ(t.GetLong(4, h), 6);
  }
}

TEST_F(ExecuteTest, SchemaMismatchNamesColumnAndBothTypes) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(name:long)";
  request.script = "result = pd.DataFrame({'name': ['not a number']})\n";
  auto outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kSchemaMismatch) << outcome.error().ToString();
  EXPECT_NE(outcome.error().message.find("name"), std::string::npos) << outcome.error().message;
  EXPECT_NE(outcome.error().message.find("long"), std::string::npos) << outcome.error().message;
  EXPECT_NE(outcome.error().message.find("str"), std::string::npos) << outcome.error().message;

  request.output_schema = "typeof(a:long, b:string)";
  request.script = "result = pd.DataFrame({'a': [1]})\n";
  outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kSchemaMismatch);
  EXPECT_NE(outcome.error().message.find("'b'"), std::string::npos) << outcome.error().message;
}

// Column names with terminal escapes, from the runner's check and from a hostile runner alike,
// reach the client spelled out (issue 10).
TEST_F(ExecuteTest, SchemaMismatchSpellsOutTerminalEscapesInNames) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script =
      "result = pd.DataFrame({'\\x1b]0;owned\\x07\\x1b[2J': [1], "
      "type('\\x1b[31mRed', (), {})().__class__.__name__: [2]})\n";
  auto outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kSchemaMismatch) << outcome.error().ToString();
  EXPECT_NE(outcome.error().message.find("\\x1b]0;owned\\x07\\x1b[2J"), std::string::npos)
      << outcome.error().message;
  EXPECT_EQ(outcome.error().message.find('\x1b'), std::string::npos) << outcome.error().message;

  // The UDF speaks for the runner: it writes its own closing event with raw escapes and exits.
  request.script =
      "import json, os\n"
      "os.write(6, (json.dumps({'kind': 'error', 'code': 'SCHEMA_MISMATCH', "
      "'message': 'column \\x1b[2J\\x1b]0;owned\\x07 is wrong'}, ensure_ascii=False) + "
      "'\\n').encode())\n"
      "os._exit(1)\n";
  outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kSchemaMismatch) << outcome.error().ToString();
  EXPECT_NE(outcome.error().message.find("column \\x1b[2J\\x1b]0;owned\\x07 is wrong"),
            std::string::npos)
      << outcome.error().message;
  EXPECT_EQ(outcome.error().message.find('\x1b'), std::string::npos) << outcome.error().ToString();
  EXPECT_EQ(outcome.error().message.find('\x07'), std::string::npos) << outcome.error().ToString();
}

TEST_F(ExecuteTest, BadSchemaIsBadRequest) {
  Client client = daemon_->Connect();
  Request request;
  request.script = "result = df\n";
  for (const char* schema :
       {"typeof(x:float128)", "typeof(x long)", "x:long", "typeof(*, *)", ""}) {
    request.output_schema = schema;
    auto outcome = client.Execute(request);
    ASSERT_FALSE(outcome.ok()) << schema;
    EXPECT_EQ(outcome.error().code, ErrorCode::kBadRequest)
        << schema << ": " << outcome.error().ToString();
  }
}

TEST_F(ExecuteTest, ScriptErrorCarriesTracebackIntoTheScript) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script = "import math\nprint('before the error')\ny = 1 / 0\nresult = df\n";
  auto outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  const Error& error = outcome.error();
  EXPECT_EQ(error.code, ErrorCode::kScriptError) << error.ToString();
  EXPECT_NE(error.message.find("ZeroDivisionError"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("line 3"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("script.py"), std::string::npos) << error.message;
  EXPECT_EQ(error.message.find("runner.py"), std::string::npos) << error.message;
  bool saw_stdout = false;
  for (const auto& log : error.logs)
    saw_stdout |= log.stream == LogRecord::Stream::kStdout &&
                  log.message.find("before the error") != std::string::npos;
  EXPECT_TRUE(saw_stdout);
}

TEST_F(ExecuteTest, StdoutStderrAndLoggingComeBack) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script =
      "import logging, sys\n"
      "print('to stdout')\n"
      "print('to stderr', file=sys.stderr)\n"
      "logging.getLogger('udf').warning('careful: %d', 7)\n"
      "result = pd.DataFrame({'x': [1]})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  bool out = false, err = false, log = false;
  for (const auto& r : outcome.result().logs) {
    out |=
        r.stream == LogRecord::Stream::kStdout && r.message.find("to stdout") != std::string::npos;
    err |=
        r.stream == LogRecord::Stream::kStderr && r.message.find("to stderr") != std::string::npos;
    log |= r.stream == LogRecord::Stream::kLogging && r.message == "careful: 7" &&
           r.logger == "udf" && r.level == "WARNING" && r.line == 4 && r.file == "script.py";
  }
  EXPECT_TRUE(out);
  EXPECT_TRUE(err);
  EXPECT_TRUE(log);
}

TEST_F(ExecuteTest, EveryLinePrintedBeforeTheResultComesBack) {
  // The answer goes out at the runner's "done", before the sandbox has exited: what the script
  // printed last must be in it whole, stdout and stderr both.
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script =
      "import sys\n"
      "for i in range(2000):\n"
      "    print(f'line {i} ' + 'x' * 40)\n"
      "    print(f'err {i}', file=sys.stderr)\n"
      "result = pd.DataFrame({'x': [1]})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  std::string out, err;
  for (const auto& r : outcome.result().logs) {
    if (r.stream == LogRecord::Stream::kStdout) out += r.message;
    if (r.stream == LogRecord::Stream::kStderr) err += r.message;
  }
  EXPECT_NE(out.find("line 1999 "), std::string::npos) << out.size() << " bytes of stdout";
  EXPECT_NE(err.find("err 1999"), std::string::npos) << err.size() << " bytes of stderr";
  EXPECT_FALSE(outcome.result().logs_truncated);
}

TEST_F(ExecuteTest, AnOutputMappedWritableIsStillAnsweredWhole) {
  // The seal at "done" fails while the sandbox maps its output memfd shared and writable; the
  // answer then waits for the sandbox's exit, as it did before, and is the same.
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script =
      "import mmap, os\n"
      "os.ftruncate(5, 4096)\n"
      "keep = mmap.mmap(5, 4096)\n"
      "result = pd.DataFrame({'x': [41, 42]})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& t = outcome.result().table.view();
  ASSERT_EQ(t.row_count(), 2U);
  EXPECT_EQ(t.GetLong(0, 1), 42);
}

TEST_F(ExecuteTest, CpuFiguresAreTheRequestsOwn) {
  // A ready sandbox was set up before its request; the CPU it reports is the script's.
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script =
      "import time\n"
      "end = time.process_time() + 0.3\n"
      "while time.process_time() < end: pass\n"
      "result = pd.DataFrame({'x': [1]})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const auto& stats = outcome.result().stats;
  EXPECT_GE(stats.cpu_user_seconds + stats.cpu_system_seconds, 0.29);
  // CPU of one thread cannot exceed the time the run took.
  EXPECT_LE(stats.cpu_user_seconds + stats.cpu_system_seconds, stats.run_seconds + 0.05);
}

TEST_F(ExecuteTest, WallClockLimitEndsWithTimeout) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script = "while True:\n    pass\n";
  request.timeout_ms = 1500;
  auto outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kTimeout) << outcome.error().ToString();
}

TEST_F(ExecuteTest, UnknownImageIsImageNotFound) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script = "result = df\n";
  request.image = "python2.7";
  auto outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kImageNotFound);
  EXPECT_NE(outcome.error().message.find("python3.11"), std::string::npos)
      << outcome.error().message;
  auto images = client.ListImages();
  ASSERT_TRUE(images.ok());
  ASSERT_FALSE(images->images.empty());
  EXPECT_EQ(images->default_image, "python3.11");
}

TEST_F(ExecuteTest, SixteenConcurrentClients) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      Client client = daemon_->Connect();
      Request request;
      request.output_schema = "typeof(*, y:long)";
      request.script = "result = df\nresult['y'] = df['x'] * kargs['k']\n";
      request.script_parameters_json = "{\"k\": " + std::to_string(i) + "}";
      request.input = RangeTable("x", 1, 1000);
      auto outcome = client.Execute(request);
      if (outcome.ok() && outcome.result().table.view().GetLong(1, 999) == 1000 * i)
        ++ok;
      else if (!outcome.ok())
        ADD_FAILURE() << outcome.error().ToString();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 16);
}

TEST_F(ExecuteTest, LargeTablesTravelInMemfds) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(*)";
  request.script = "result = df\n";
  request.input = RangeTable("x", 1, 200000);  // 1.6 MB: over the inline limit both ways
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().row_count(), 200000U);
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 199999), 200000);
}

TEST_F(ExecuteTest, ClientThatDisconnectsMidRequestLeavesDaemonServing) {
  const std::string beacon = BeaconName("gone-");
  {
    UniqueFd raw = daemon_->RawConnect();
    ASSERT_TRUE(raw.valid());
    proto::ClientMessage message;
    message.set_version(proto::PROTOCOL_VERSION_1);
    auto* execute = message.mutable_execute();
    execute->set_request_id("gone");
    execute->set_output_schema("typeof(x:long)");
    execute->set_script(BeaconPython(beacon) + "import time\ntime.sleep(60)\n");
    std::string payload;
    message.SerializeToString(&payload);
    ASSERT_TRUE(SendFrame(raw.get(), payload).ok());
    // Mid-request: its script is running.
    ASSERT_TRUE(WaitUntil([&] { return !ProcessesNamed(beacon).empty(); }, std::chrono::minutes(2)))
        << "the request's script did not start within 2 minutes";
  }  // closed mid-request
  // The daemon stops the sandbox of a request whose client went away.
  EXPECT_TRUE(WaitUntil([&] { return ProcessesNamed(beacon).empty(); }, std::chrono::minutes(1)))
      << "the script of a request whose client hung up still runs a minute later";
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script = "result = pd.DataFrame({'x': [5]})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 5);
  EXPECT_TRUE(daemon_->alive());
}

TEST_F(ExecuteTest, MalformedAndOversizedFramesAreBadRequest) {
  auto read_error = [](int fd) {
    FrameReader reader;
    auto frame = reader.ReadOne(fd);
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    proto::DaemonMessage reply;
    EXPECT_TRUE(frame.ok() && reply.ParseFromString(frame->payload));
    return reply;
  };
  {  // Not a protobuf: answered, and the same connection keeps working.
    UniqueFd raw = daemon_->RawConnect();
    ASSERT_TRUE(SendFrame(raw.get(), std::string("\xff\xff\xff garbage", 11)).ok());
    auto reply = read_error(raw.get());
    ASSERT_TRUE(reply.has_error());
    EXPECT_EQ(reply.error().code(), proto::BAD_REQUEST);
    proto::ClientMessage list;
    list.set_version(proto::PROTOCOL_VERSION_1);
    list.mutable_list_images();
    std::string payload;
    list.SerializeToString(&payload);
    ASSERT_TRUE(SendFrame(raw.get(), payload).ok());
    EXPECT_TRUE(read_error(raw.get()).has_images());
  }
  {  // Wrong version.
    UniqueFd raw = daemon_->RawConnect();
    proto::ClientMessage message;
    message.set_version(static_cast<proto::ProtocolVersion>(7));
    message.mutable_list_images();
    std::string payload;
    message.SerializeToString(&payload);
    ASSERT_TRUE(SendFrame(raw.get(), payload).ok());
    auto reply = read_error(raw.get());
    EXPECT_EQ(reply.error().code(), proto::BAD_REQUEST);
  }
  {  // A length prefix of 4 GiB - 1: refused before any of it is read.
    UniqueFd raw = daemon_->RawConnect();
    const char prefix[4] = {'\xff', '\xff', '\xff', '\xff'};
    ASSERT_EQ(::write(raw.get(), prefix, 4), 4);
    auto reply = read_error(raw.get());
    ASSERT_TRUE(reply.has_error());
    EXPECT_EQ(reply.error().code(), proto::BAD_REQUEST);
    EXPECT_NE(reply.error().message().find("exceeds"), std::string::npos);
  }
  {  // A truncated frame followed by a hang-up.
    UniqueFd raw = daemon_->RawConnect();
    const char partial[6] = {10, 0, 0, 0, 1, 2};
    ASSERT_EQ(::write(raw.get(), partial, 6), 6);
  }
  // The daemon is still serving.
  Client client = daemon_->Connect();
  auto images = client.ListImages();
  EXPECT_TRUE(images.ok());
  EXPECT_TRUE(daemon_->alive());
}

TEST_F(ExecuteTest, DebugModeRunsNothingAndReturnsAReproScript) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(*, y:long)";
  request.script = "raise SystemExit('must not run')\n";
  request.script_parameters_json = R"({"k": 3})";
  request.input = RangeTable("x", 1, 3);
  request.debug = true;
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().row_count(), 3U);
  EXPECT_NE(outcome.result().debug_script.find("must not run"), std::string::npos);
  EXPECT_NE(outcome.result().debug_script.find("\"k\":3"), std::string::npos);
}

}  // namespace
}  // namespace sandboxd::testing

namespace sandboxd::testing {
namespace {

// SIGHUP recompiles the seccomp policy file; a file that does not compile leaves the old policy.
TEST(PolicyReload, SighupSwapsThePolicyAndKeepsTheOldOneOnErrors) {
  if (!DefaultImageBuilt()) GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir();
  const std::string stem = ::testing::TempDir() + "/reload-" + std::to_string(::getpid());
  const std::string policy = stem + ".seccomp";
  std::filesystem::copy_file(::sandboxd::test_paths::kSeccompPolicySource, policy,
                             std::filesystem::copy_options::overwrite_existing);
  DaemonOptions options;
  options.extra_args = {"--seccomp-policy", policy};
  options.log_path = stem + ".log";  // a SIGHUP is handled when its lines are logged
  options.log_level = "info";
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);
  Client client = daemon->Connect();
  Request request;
  request.output_schema = "typeof(cwd:string)";
  request.script = "import os\nresult = pd.DataFrame({'cwd': [os.getcwd()]})\n";
  auto run = [&] { return client.Execute(request); };
  // Writes the policy file and sends SIGHUP; `logged` is what the daemon then says about it. The
  // reload is done once the zygotes are restarted, its last step.
  std::size_t reloads = 0;
  auto reload = [&](const std::string& text, const std::string& logged) {
    std::ofstream(policy) << text;
    ::kill(daemon->pid(), SIGHUP);
    ++reloads;
    const bool handled = WaitUntil(
        [&] { return CountInFile(options.log_path, "SIGHUP: zygotes restarted") >= reloads; },
        std::chrono::minutes(1));
    ASSERT_TRUE(handled) << "SIGHUP " << reloads << " not handled within a minute; the log:\n"
                         << ReadWholeFile(options.log_path);
    EXPECT_EQ(CountInFile(options.log_path, logged), 1U) << ReadWholeFile(options.log_path);
  };
  ASSERT_TRUE(run().ok());

  // Without getcwd on the allow-list it falls to the default action: the sandbox is stopped.
  std::ifstream in(::sandboxd::test_paths::kSeccompPolicySource);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string allowed = " getcwd chdir";
  ASSERT_NE(text.find(allowed), std::string::npos);
  const std::string strict = text.replace(text.find(allowed), allowed.size(), " chdir");
  ASSERT_NO_FATAL_FAILURE(reload(strict, "SIGHUP: seccomp policy " + policy + " reloaded"));
  auto outcome = run();
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kPolicyViolation) << outcome.error().ToString();
  EXPECT_NE(outcome.error().message.find("getcwd"), std::string::npos) << outcome.error().message;

  // A broken file is refused; the strict policy stays in force and the daemon keeps serving.
  ASSERT_NO_FATAL_FAILURE(
      reload("this is not a policy\n", "SIGHUP: seccomp policy not reloaded, the old one stays"));
  outcome = run();
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kPolicyViolation);
  EXPECT_TRUE(daemon->alive());
  std::filesystem::remove(policy);
  std::filesystem::remove(options.log_path);
}

}  // namespace
}  // namespace sandboxd::testing
