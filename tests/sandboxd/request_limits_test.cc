// Issue 8: requests that used to crash the daemon or blame the script, through a real daemon.
// script_parameters nested 100 000 deep overflowed the stack in nlohmann::json::dump (a segfault
// that took every sandbox of the node with it); a schema wider than a table may be ran the script
// and came back as SCRIPT_ERROR. Both are BAD_REQUEST up front, naming the limit.
#include <gtest/gtest.h>

#include <string>

#include "daemon_fixture.h"
#include "sandboxd.pb.h"
#include "sandboxd/framing.h"
#include "sandboxd/schema.h"

namespace sandboxd::testing {
namespace {

// {"deep": [[...]]} nesting `levels` levels in all, the object itself being level 1.
std::string NestedParameters(std::size_t levels) {
  const std::size_t arrays = levels - 1;
  return "{\"deep\": " + std::string(arrays, '[') + std::string(arrays, ']') + "}";
}

// The script reports how deep kargs nests, counted as the daemon counts.
constexpr const char* kDepthScript =
    "def depth(v):\n"
    "    if isinstance(v, dict):\n"
    "        return 1 + max([depth(x) for x in v.values()], default=0)\n"
    "    if isinstance(v, list):\n"
    "        return 1 + max([depth(x) for x in v], default=0)\n"
    "    return 0\n"
    "result = pd.DataFrame({'d': [depth(kargs)]})\n";

class RequestLimitsTest : public DaemonTest {
 protected:
  void ExpectPlainRequestServed() {
    ASSERT_TRUE(daemon_->alive()) << "sandboxd died";
    Client client = daemon_->Connect();
    Request request;
    request.output_schema = "typeof(x:long)";
    request.script = "result = pd.DataFrame({'x': [7]})\n";
    auto outcome = client.Execute(request);
    ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
    EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 7);
  }
};

TEST_F(RequestLimitsTest, ParametersNested100000DeepAreBadRequestAndTheDaemonSurvives) {
  const std::string params = NestedParameters(100000);
  ASSERT_GT(params.size(), 199000U);  // the 200 KB frame of the report
  UniqueFd raw = daemon_->RawConnect();
  ASSERT_TRUE(raw.valid());
  proto::ClientMessage message;
  message.set_version(proto::PROTOCOL_VERSION_1);
  auto* execute = message.mutable_execute();
  execute->set_request_id("deep");
  execute->set_output_schema("typeof(x:long)");
  execute->set_script("result = pd.DataFrame({'x': [1]})\n");
  execute->set_script_parameters_json(params);
  std::string payload;
  ASSERT_TRUE(message.SerializeToString(&payload));
  ASSERT_TRUE(SendFrame(raw.get(), payload).ok());

  FrameReader reader;
  auto frame = reader.ReadOne(raw.get());
  ASSERT_TRUE(frame.ok()) << "no reply (did sandboxd crash?): " << frame.status().ToString();
  proto::DaemonMessage reply;
  ASSERT_TRUE(reply.ParseFromString(frame->payload));
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.request_id(), "deep");
  EXPECT_EQ(reply.error().code(), proto::BAD_REQUEST) << reply.error().message();
  EXPECT_NE(reply.error().message().find("more than 64 levels"), std::string::npos)
      << reply.error().message();
  ExpectPlainRequestServed();
}

TEST_F(RequestLimitsTest, ParametersOneLevelPastTheLimitAreBadRequest) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(d:long)";
  request.script = kDepthScript;
  request.script_parameters_json = NestedParameters(65);
  auto outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_FALSE(outcome.error().local);
  EXPECT_EQ(outcome.error().code, ErrorCode::kBadRequest) << outcome.error().ToString();
  EXPECT_NE(outcome.error().message.find("64"), std::string::npos) << outcome.error().message;
  ExpectPlainRequestServed();
}

TEST_F(RequestLimitsTest, ParametersAtTheLimitReachTheScriptWhole) {
  Client client = daemon_->Connect();
  for (const std::size_t levels : {63U, 64U}) {
    SCOPED_TRACE(levels);
    Request request;
    request.output_schema = "typeof(d:long)";
    request.script = kDepthScript;
    request.script_parameters_json = NestedParameters(levels);
    auto outcome = client.Execute(request);
    ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
    EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), static_cast<std::int64_t>(levels));
  }
}

TEST_F(RequestLimitsTest, InvalidParametersSayWhy) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script = "result = pd.DataFrame({'x': [1]})\n";
  for (const char* params : {"{\"a\": [1, 2", "[1]", "{} trailing"}) {
    SCOPED_TRACE(params);
    request.script_parameters_json = params;
    auto outcome = client.Execute(request);
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.error().code, ErrorCode::kBadRequest) << outcome.error().ToString();
    EXPECT_NE(outcome.error().message.find("script_parameters must be a JSON object"),
              std::string::npos)
        << outcome.error().message;
  }
}

TEST_F(RequestLimitsTest, SchemaOfMoreColumnsThanATableMayHoldIsBadRequest) {
  std::string schema = "typeof(";
  for (std::size_t i = 0; i <= kMaxSchemaColumns; ++i) {
    if (i != 0) schema += ", ";
    schema += "c" + std::to_string(i) + ":long";
  }
  schema += ")";
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = schema;
  request.script = "result = pd.DataFrame({'c0': [1]})\n";
  auto outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kBadRequest) << outcome.error().ToString();
  EXPECT_NE(outcome.error().message.find("10001 columns"), std::string::npos)
      << outcome.error().message;
  EXPECT_NE(outcome.error().message.find("10000"), std::string::npos) << outcome.error().message;

  // With `*`: 2 input columns and 9 999 named ones are one too many as well.
  TableBuilder builder({{"a", ColumnType::kLong}, {"b", ColumnType::kLong}});
  builder.AppendLong(0, 1);
  builder.AppendLong(1, 2);
  auto input = builder.FinishTable();
  ASSERT_TRUE(input.ok());
  std::string star = "typeof(*";
  for (std::size_t i = 0; i + 1 < kMaxSchemaColumns; ++i)
    star += ", c" + std::to_string(i) + ":long";
  star += ")";
  request.output_schema = star;
  request.input = std::move(input.value());
  outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kBadRequest) << outcome.error().ToString();
  EXPECT_NE(outcome.error().message.find("10001 columns (2 from '*' and 9999 named)"),
            std::string::npos)
      << outcome.error().message;
  ExpectPlainRequestServed();
}

}  // namespace
}  // namespace sandboxd::testing
