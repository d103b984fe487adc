// Issue 13: the `sandboxd` PostgreSQL extension in a real PostgreSQL 15 cluster of the test's own
// (pg_cluster.h) against a real sandboxd (daemon_fixture.h), called as an ordinary role granted
// EXECUTE: the seed's examples as SQL, every type both ways with nulls, the declared columns
// checked against the typeof, errors as PostgreSQL errors (SQLSTATE, traceback in DETAIL),
// the limits and their superuser caps, and a cancelled statement ending its sandbox at once.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>

#include "daemon_fixture.h"
#include "leftover_guard.h"
#include "pg_cluster.h"
#include "pg_sandboxd_env.h"
#include "test_paths.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

class PostgresExtensionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!DefaultImageBuilt()) return;
    char tmpl[] = "/tmp/sandboxd-pg-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    // Everything below the folder goes when the test does, however it ends.
    guard_ = new LeftoverGuard(::getpid(), "", tmpl);
    env_ = PgSandboxd::Start(tmpl, "", setup_error_).release();
    if (env_ != nullptr) {
      daemon_ = &env_->daemon();
      cluster_ = &env_->cluster();
    }
  }

  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
    daemon_ = nullptr;
    cluster_ = nullptr;
    if (guard_ != nullptr) guard_->Finish(LeftoverGuard::Ending::kDaemonStopped);
    delete guard_;
    guard_ = nullptr;
  }

  void SetUp() override {
    if (!DefaultImageBuilt())
      GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir()
                   << "; run runtime_images/build-image python3.11";
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_NE(cluster_, nullptr);
    alice_ = std::make_unique<PgSession>(cluster_->Conninfo("alice"));
    ASSERT_TRUE(alice_->ok()) << alice_->error();
  }

  // The requests the daemon has accepted and not answered, and its sandboxes serving one.
  static bool DaemonIdle() {
    auto status = daemon_->Connect().GetStatus();
    if (!status.ok()) return false;
    for (const auto& pool : status->pools)
      if (pool.running != 0) return false;
    return status->requests.empty();
  }
  static bool DaemonRunsAScript() {
    auto status = daemon_->Connect().GetStatus();
    if (!status.ok()) return false;
    for (const auto& request : status->requests)
      if (request.phase == "running") return true;
    return false;
  }

  static std::string setup_error_;
  static LeftoverGuard* guard_;
  static PgSandboxd* env_;
  static DaemonProcess* daemon_;
  static PgCluster* cluster_;
  std::unique_ptr<PgSession> alice_;
};
std::string PostgresExtensionTest::setup_error_;
LeftoverGuard* PostgresExtensionTest::guard_ = nullptr;
PgSandboxd* PostgresExtensionTest::env_ = nullptr;
DaemonProcess* PostgresExtensionTest::daemon_ = nullptr;
PgCluster* PostgresExtensionTest::cluster_ = nullptr;

// Rows as text, for failure messages.
std::string RowsText(const PgResult& result) {
  std::string text;
  for (const auto& row : result.rows) {
    text += "\n ";
    for (const auto& cell : row) text += " | " + cell.value_or("NULL");
  }
  return text;
}

// A script that waits far longer than any test: only a cancel or a limit ends it.
constexpr const char* kSleepForever =
    "SELECT * FROM sandboxd.python('typeof(*)', 'import time\ntime.sleep(600)\nresult = df', "
    "'SELECT 1 AS x') AS t(x int)";

TEST_F(PostgresExtensionTest, TheSeedSineExampleRunsAsSql) {
  const PgResult result = alice_->Exec(R"sql(
    SELECT x, fx FROM sandboxd.python('typeof(*, fx:real)', $$
result = df
result['fx'] = 100*np.sin(df['x']/len(df)*2*np.pi*4)
$$, 'SELECT x FROM generate_series(1, 360) x') AS t(x bigint, fx float8) ORDER BY x)sql");
  ASSERT_TRUE(result.ok) << result.message;
  ASSERT_EQ(result.rows.size(), 360U);
  for (const auto& row : result.rows) {
    const double x = std::stod(*row[0]);
    EXPECT_NEAR(std::stod(*row[1]), 100 * std::sin(x / 360 * 2 * M_PI * 4), 1e-9) << x;
  }
}

TEST_F(PostgresExtensionTest, TheSeedSquareAndCubeExampleRunsAsSql) {
  const PgResult result = alice_->Exec(R"sql(
    SELECT * FROM sandboxd.python('typeof(*, x2:long, x3:long)', $$
result = df
result['x2'] = df['x'] ** 2
result['x3'] = df['x'] ** 3
$$, 'SELECT x::bigint AS x FROM generate_series(1, 4) x') AS t(x bigint, x2 bigint, x3 bigint))sql");
  ASSERT_TRUE(result.ok) << result.message;
  ASSERT_EQ(result.rows.size(), 4U);
  for (int x = 1; x <= 4; ++x) {
    EXPECT_EQ(*result.rows[x - 1][0], std::to_string(x));
    EXPECT_EQ(*result.rows[x - 1][1], std::to_string(x * x));
    EXPECT_EQ(*result.rows[x - 1][2], std::to_string(x * x * x));
  }
}

TEST_F(PostgresExtensionTest, AnHourlyResampleOverATimestamptzColumn) {
  // 150 minutes of readings, value = the minute: three hours of 60, 60 and 30 readings.
  const PgResult result = alice_->Exec(R"sql(
    SELECT * FROM sandboxd.python('typeof(ts:datetime, n:long, total:long)', $$
hourly = df.set_index('ts').resample('1h')['v']
result = pd.DataFrame({'n': hourly.size(), 'total': hourly.sum()}).reset_index()
$$, $q$SELECT '2024-03-01 00:00+00'::timestamptz + g * interval '1 minute' AS ts, g::bigint AS v
        FROM generate_series(0, 149) g$q$) AS t(ts timestamptz, n bigint, total bigint)
    ORDER BY ts)sql");
  ASSERT_TRUE(result.ok) << result.message;
  ASSERT_EQ(result.rows.size(), 3U);
  EXPECT_EQ(*result.rows[0][0], "2024-03-01 00:00:00+00");
  EXPECT_EQ(*result.rows[1][0], "2024-03-01 01:00:00+00");
  EXPECT_EQ(*result.rows[2][0], "2024-03-01 02:00:00+00");
  EXPECT_EQ(*result.rows[0][1], "60");
  EXPECT_EQ(*result.rows[1][1], "60");
  EXPECT_EQ(*result.rows[2][1], "30");
  EXPECT_EQ(*result.rows[0][2], std::to_string(59 * 60 / 2));
  EXPECT_EQ(*result.rows[2][2], std::to_string((120 + 149) * 30 / 2));
}

TEST_F(PostgresExtensionTest, EveryTypeRoundTripsWithNulls) {
  // One row of values, one of nulls, through `result = df` and back. Two differences are
  // Kusto's: a string has no null (a NULL text comes back ''), and dynamic is a JSON value (json
  // comes back with the same value, not the same spacing; compared as jsonb). An interval comes
  // back as days and time (no months), equal to the one sent.
  const std::string columns =
      "b bool, i2 int, i4 int, i8 bigint, f4 float4, f8 float8, n numeric, t text, vc varchar, "
      "ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb";
  ASSERT_TRUE(alice_
                  ->Exec(R"sql(CREATE TEMP TABLE typed AS SELECT * FROM (VALUES
      (true, 1::int2, -2::int4, 9007199254740993::int8, 1.5::float4, -2.25e-300::float8,
       -12345678901234567890.123456789::numeric, 'héllo, ✓'::text, 'v'::varchar,
       '1999-12-31 23:59:59.123456'::timestamp, '2024-01-31 12:00:00.5+00'::timestamptz,
       '-1 day 02:03:04.000005'::interval, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid,
       '{"a": [1, 2.5, "x"]}'::json, '{"b": null, "c": {"d": true}}'::jsonb),
      (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL)) v(b, i2, i4, i8, f4, f8, n, t, vc, ts, tstz, iv, u, j, jb))sql")
                  .ok);
  const std::string back =
      "(SELECT b, i2, i4, i8, f4, f8, n, t, vc, ts, tstz, iv, u, j::jsonb, jb "
      "FROM sandboxd.python('typeof(*)', 'result = df', "
      "'SELECT * FROM typed') AS t(" +
      columns + "))";
  const std::string sent =
      "(SELECT b, i2, i4, i8, f4, f8, n, coalesce(t, ''), coalesce(vc, ''), ts, tstz, iv, u, "
      "j::jsonb, jb FROM typed)";
  const PgResult count = alice_->Exec("SELECT count(*) FROM " + back + " r");
  ASSERT_TRUE(count.ok) << count.message;
  EXPECT_EQ(*count.rows[0][0], "2");
  const PgResult lost = alice_->Exec(sent + " EXCEPT " + back);
  ASSERT_TRUE(lost.ok) << lost.message;
  EXPECT_TRUE(lost.rows.empty()) << "a row did not come back unchanged: " << RowsText(lost);
  const PgResult gained = alice_->Exec(back + " EXCEPT " + sent);
  ASSERT_TRUE(gained.ok) << gained.message;
  EXPECT_TRUE(gained.rows.empty()) << "a row came back changed: " << RowsText(gained);

  // What the script sees: the Kusto types of the input columns.
  const PgResult kinds = alice_->Exec(R"sql(
    SELECT * FROM sandboxd.python('typeof(name:string, kind:string)', $$
result = pd.DataFrame({'name': list(df.columns), 'kind': [str(df[c].dtype) for c in df.columns]})
$$, 'SELECT b, i4, i8, f8, ts FROM typed') AS t(name text, kind text))sql");
  ASSERT_TRUE(kinds.ok) << kinds.message;
  ASSERT_EQ(kinds.rows.size(), 5U);
  EXPECT_EQ(*kinds.rows[0][0], "b");
  EXPECT_EQ(*kinds.rows[4][0], "ts");
}

TEST_F(PostgresExtensionTest, ManyRowsTravelBothWays) {
  // 200 000 rows: the input and the result are far past what travels inside a frame (memfds).
  const PgResult result = alice_->Exec(R"sql(
    SELECT count(*), sum(y), min(s), max(s) FROM sandboxd.python('typeof(*, y:long, s:string)', $$
result = df
result['y'] = df['x'] * 2
result['s'] = 'row ' + df['x'].astype(str)
$$, 'SELECT x::bigint AS x FROM generate_series(1, 200000) x') AS t(x bigint, y bigint, s text))sql");
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_EQ(*result.rows[0][0], "200000");
  EXPECT_EQ(*result.rows[0][1], std::to_string(200000LL * 200001LL));
  EXPECT_EQ(*result.rows[0][2], "row 1");
  EXPECT_EQ(*result.rows[0][3], "row 99999");
}

TEST_F(PostgresExtensionTest, AnImageNotBuiltIsAnUndefinedObject) {
  const PgResult result = alice_->Exec(
      "SELECT * FROM sandboxd.python('typeof(*)', 'result = df', 'SELECT 1 AS x', '{}', '{}', "
      "'no-such-image') AS t(x int)");
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "42704");
  EXPECT_NE(result.message.find("sandboxd IMAGE_NOT_FOUND"), std::string::npos) << result.message;
}

TEST_F(PostgresExtensionTest, ParamsThatAreNoObjectAreAnInvalidParameter) {
  const PgResult result = alice_->Exec(
      "SELECT * FROM sandboxd.python('typeof(*)', 'result = df', 'SELECT 1 AS x', '[1, 2]') "
      "AS t(x int)");
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "22023");
  EXPECT_NE(result.message.find("sandboxd BAD_REQUEST"), std::string::npos) << result.message;
}

TEST_F(PostgresExtensionTest, AnInputQueryThatWritesIsRefused) {
  // The input query runs read-only: a data-modifying statement is an error, not a side effect.
  ASSERT_TRUE(alice_->Exec("CREATE TEMP TABLE kept (x int)").ok);
  const PgResult result = alice_->Exec(
      "SELECT * FROM sandboxd.python('typeof(*)', 'result = df', "
      "'WITH w AS (INSERT INTO kept VALUES (1) RETURNING x) SELECT x FROM w') AS t(x int)");
  ASSERT_FALSE(result.ok);
  const PgResult count = alice_->Exec("SELECT count(*) FROM kept");
  ASSERT_TRUE(count.ok) << count.message;
  EXPECT_EQ(*count.rows[0][0], "0");
}

TEST_F(PostgresExtensionTest, ValuesKustoCannotHoldAreErrorsNamingTheColumn) {
  // (A numeric NaN is a Kusto decimal: it travels.)
  const PgResult nan = alice_->Exec(
      "SELECT * FROM sandboxd.python('typeof(*)', 'result = df', "
      "'SELECT ''NaN''::numeric AS amount') AS t(amount numeric)");
  ASSERT_TRUE(nan.ok) << nan.message;
  EXPECT_EQ(*nan.rows[0][0], "NaN");
  const PgResult infinite = alice_->Exec(
      "SELECT * FROM sandboxd.python('typeof(*)', 'result = df', "
      "'SELECT ''infinity''::timestamptz AS at') AS t(at timestamptz)");
  ASSERT_FALSE(infinite.ok);
  EXPECT_EQ(infinite.sqlstate, "22008");
  EXPECT_NE(infinite.message.find("\"at\""), std::string::npos) << infinite.message;
}

TEST_F(PostgresExtensionTest, AnUnsupportedInputTypeIsAnErrorNamingIt) {
  const PgResult result = alice_->Exec(
      "SELECT * FROM sandboxd.python('typeof(*)', 'result = df', "
      "'SELECT 1 AS x, point(1, 2) AS where_at') AS t(x int, where_at text)");
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "0A000");
  EXPECT_NE(result.message.find("\"where_at\""), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("point"), std::string::npos) << result.message;
}

TEST_F(PostgresExtensionTest, TheDeclaredColumnsMustAgreeWithTheTypeof) {
  const std::string call =
      "SELECT * FROM sandboxd.python('typeof(*, fx:real)', 'result = df', 'SELECT 1 AS x') ";
  const PgResult type = alice_->Exec(call + "AS t(x int, fx text)");
  ASSERT_FALSE(type.ok);
  EXPECT_EQ(type.sqlstate, "42804");
  EXPECT_NE(type.message.find("\"fx\""), std::string::npos) << type.message;
  EXPECT_NE(type.message.find("real"), std::string::npos) << type.message;

  const PgResult name = alice_->Exec(call + "AS t(x int, y float8)");
  ASSERT_FALSE(name.ok);
  EXPECT_EQ(name.sqlstate, "42804");
  EXPECT_NE(name.message.find("\"fx\""), std::string::npos) << name.message;

  const PgResult count = alice_->Exec(call + "AS t(x int)");
  ASSERT_FALSE(count.ok);
  EXPECT_EQ(count.sqlstate, "42804");
  EXPECT_NE(count.detail.find("fx:real"), std::string::npos) << count.detail;
  // None of these ran a sandbox: the check comes before the request.
}

TEST_F(PostgresExtensionTest, ABadTypeofIsAnInvalidParameter) {
  const PgResult result = alice_->Exec(
      "SELECT * FROM sandboxd.python('typeof(x:nosuchtype)', 'result = df', 'SELECT 1 AS x') "
      "AS t(x int)");
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "22023");
  EXPECT_NE(result.message.find("sandboxd BAD_REQUEST"), std::string::npos) << result.message;
}

TEST_F(PostgresExtensionTest, AScriptErrorCarriesItsTracebackInDetail) {
  const PgResult result = alice_->Exec(R"sql(
    SELECT * FROM sandboxd.python('typeof(*, y:long)', $$
def f():
    return 1 / 0
result = df
result['y'] = f()
$$, 'SELECT 1 AS x') AS t(x int, y bigint))sql");
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "38000");
  EXPECT_EQ(result.message, "sandboxd SCRIPT_ERROR: ZeroDivisionError: division by zero");
  EXPECT_NE(result.detail.find("Traceback (most recent call last)"), std::string::npos)
      << result.detail;
  EXPECT_NE(result.detail.find("line 3, in f"), std::string::npos) << result.detail;
}

TEST_F(PostgresExtensionTest, ParamsBecomeKargs) {
  const PgResult result = alice_->Exec(R"sql(
    SELECT * FROM sandboxd.python('typeof(*, y:long)', $$
result = df
result['y'] = df['x'] * kargs['factor']
$$, 'SELECT 6 AS x', '{"factor": 7}') AS t(x int, y bigint))sql");
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_EQ(*result.rows[0][1], "42");
}

TEST_F(PostgresExtensionTest, ATimeoutIsQueryCanceled) {
  ASSERT_TRUE(alice_->Exec("SET sandboxd.timeout_ms = 1500").ok);
  const PgResult result = alice_->Exec(kSleepForever);
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "57014");
  EXPECT_NE(result.message.find("sandboxd TIMEOUT"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("1.500 s"), std::string::npos) << result.message;
}

TEST_F(PostgresExtensionTest, AMemoryBombIsOutOfMemory) {
  ASSERT_TRUE(alice_->Exec("SET sandboxd.memory_mb = 200").ok);
  const PgResult result = alice_->Exec(R"sql(
    SELECT * FROM sandboxd.python('typeof(*)', $$
hog = []
while True:
    hog.append(bytearray(16 << 20))
$$, 'SELECT 1 AS x') AS t(x int))sql");
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "53200");
  EXPECT_NE(result.message.find("sandboxd MEMORY_LIMIT"), std::string::npos) << result.message;
}

TEST_F(PostgresExtensionTest, ASuperuserCapsTheLimitsAndTheSocket) {
  PgSession admin(cluster_->Conninfo("admin"));
  ASSERT_TRUE(admin.ok()) << admin.error();
  ASSERT_TRUE(admin.Exec("ALTER ROLE alice SET sandboxd.max_timeout_ms = 1000").ok);
  PgSession capped(cluster_->Conninfo("alice"));
  ASSERT_TRUE(admin.Exec("ALTER ROLE alice RESET sandboxd.max_timeout_ms").ok);
  ASSERT_TRUE(capped.ok()) << capped.error();
  // The session asks for more; the cap wins.
  ASSERT_TRUE(capped.Exec("SET sandboxd.timeout_ms = 600000").ok);
  const PgResult result = capped.Exec(kSleepForever);
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "57014");
  EXPECT_NE(result.message.find("limit of 1 s"), std::string::npos) << result.message;
  // An ordinary role may not lift the caps nor point the extension at another socket.
  for (const char* sql : {"SET sandboxd.max_timeout_ms = 0", "SET sandboxd.max_memory_mb = 0",
                          "SET sandboxd.socket = '/tmp/elsewhere.sock'"}) {
    const PgResult refused = capped.Exec(sql);
    EXPECT_FALSE(refused.ok) << sql;
    EXPECT_EQ(refused.sqlstate, "42501") << sql << ": " << refused.message;
  }
}

TEST_F(PostgresExtensionTest, ARoleNotGrantedExecuteIsRefused) {
  PgSession bob(cluster_->Conninfo("bob"));
  ASSERT_TRUE(bob.ok()) << bob.error();
  const PgResult result = bob.Exec(
      "SELECT * FROM sandboxd.python('typeof(*)', 'result = df', 'SELECT 1 AS x') AS t(x int)");
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "42501") << result.message;
}

TEST_F(PostgresExtensionTest, TheScriptReachesNothingOfTheServer) {
  // The cluster's files and its socket, as the server's uid sees them, from inside the sandbox.
  const std::string params = "{\"data\": \"" + cluster_->data_dir() + "/PG_VERSION\", " +
                             "\"socket\": \"" + cluster_->socket_dir() + "/.s.PGSQL.5432\"}";
  const PgResult result = alice_->Exec(R"sql(
    SELECT * FROM sandboxd.python('typeof(data:bool, socket:bool, connected:bool)', $$
import os, socket
connected = False
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(kargs['socket'])
    connected = True
except OSError:
    pass
result = pd.DataFrame({'data': [os.path.exists(kargs['data'])],
                       'socket': [os.path.exists(kargs['socket'])], 'connected': [connected]})
$$, 'SELECT 1 AS x', ')sql" + params + R"sql(') AS t(data bool, socket bool, connected bool))sql");
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_EQ(*result.rows[0][0], "f");
  EXPECT_EQ(*result.rows[0][1], "f");
  EXPECT_EQ(*result.rows[0][2], "f");
}

TEST_F(PostgresExtensionTest, PgCancelBackendEndsTheSandboxAtOnce) {
  ASSERT_TRUE(WaitUntil([] { return DaemonIdle(); }, std::chrono::seconds(60)));
  ASSERT_TRUE(alice_->Send(kSleepForever));
  ASSERT_TRUE(WaitUntil([] { return DaemonRunsAScript(); }, std::chrono::seconds(120),
                        std::chrono::milliseconds(50)))
      << "the script never ran";
  // A second session of the same role may cancel it.
  PgSession other(cluster_->Conninfo("alice"));
  ASSERT_TRUE(other.ok()) << other.error();
  const PgResult cancel =
      other.Exec("SELECT pg_cancel_backend(" + std::to_string(alice_->backend_pid()) + ")");
  ASSERT_TRUE(cancel.ok) << cancel.message;
  EXPECT_EQ(*cancel.rows[0][0], "t");
  const PgResult result = alice_->Wait();
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "57014");
  EXPECT_NE(result.message.find("user request"), std::string::npos) << result.message;
  // The daemon has dropped the request and its sandbox (not left to sleep its 600 s); the bound
  // is only for a loaded machine.
  EXPECT_TRUE(WaitUntil([] { return DaemonIdle(); }, std::chrono::seconds(30),
                        std::chrono::milliseconds(50)));
  // The session is usable again.
  const PgResult again = alice_->Exec("SELECT 1");
  EXPECT_TRUE(again.ok) << again.message;
}

TEST_F(PostgresExtensionTest, AStatementTimeoutEndsTheSandboxAtOnce) {
  ASSERT_TRUE(WaitUntil([] { return DaemonIdle(); }, std::chrono::seconds(60)));
  ASSERT_TRUE(alice_->Exec("SET statement_timeout = '3s'").ok);
  const PgResult result = alice_->Exec(kSleepForever);
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "57014");
  EXPECT_NE(result.message.find("statement timeout"), std::string::npos) << result.message;
  EXPECT_TRUE(WaitUntil([] { return DaemonIdle(); }, std::chrono::seconds(30),
                        std::chrono::milliseconds(50)));
}

}  // namespace
}  // namespace sandboxd::testing
