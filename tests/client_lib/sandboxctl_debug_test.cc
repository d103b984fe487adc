// `sandboxctl run --debug DIR` reproduces a call: a script sees the same df (dtypes, values,
// nulls, index) and kargs in DIR/run.py on the host's Python as in a real sandbox behind a real
// daemon, for every Kusto type, nulls included. Both sides run the same describing script, whose
// one-cell result is compared; a naive pd.read_csv of the same input must not pass, so the
// comparison is known to tell the difference.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../sandboxd/daemon_fixture.h"
#include "csv.h"
#include "test_paths.h"

namespace sandboxd::testing {
namespace {

namespace fs = std::filesystem;

// Debian's Python, with the python3-numpy and python3-pandas the image has too (the python3 first
// on PATH may be another build).
constexpr const char* kHostPython = "/usr/bin/python3";

// Every Kusto type, each row a different case; row 1 is null wherever a type has nulls. `far`
// and `long_span` lie outside pandas' nanosecond range (object columns of Kusto values).
constexpr const char* kInputCsv =
    "b:bool,bn:bool,i:int,in:int,l:long,ln:long,r:real,d:decimal,s:string,dt:datetime,"
    "ts:timespan,g:guid,dy:dynamic,far:datetime,long_span:timespan\n"
    "true,true,1,-2147483648,9223372036854775807,5,1.5,1.50,\"h\xc3\xa9llo, \"\"q\"\"\","
    "2024-01-31T12:00:00.1234567Z,1.02:03:04.5,0f8fad5b-d9cb-469f-a165-70867728950e,"
    "\"{\"\"a\"\":[1,2.5,null,\"\"x\"\"],\"\"b\"\":{\"\"c\"\":true}}\",1600-01-01T00:00:00Z,"
    "200000.00:00:00\n"
    "false,,0,,-9223372036854775808,,,,,,,,,,\n"
    "true,false,2147483647,7,0,-1,-2.5e-300,-12345678901234567890.123456789,\"line1\nline2\","
    "1969-12-31T23:59:59.9999999Z,-00:00:00.0000001,7c9e6679-7425-40de-944b-e07fc1f90ae7,"
    "\"[1,\"\"two\"\",{\"\"three\"\":3}]\",9999-12-31T23:59:59.9999999Z,-200000.00:00:00\n"
    "false,true,-1,0,1,2,0,0,x,1970-01-01T00:00:00Z,00:00:00,"
    "00000000-0000-0000-0000-000000000000,\"\"\"just text\"\"\",0001-01-01T00:00:00Z,"
    "00:00:01\n";

constexpr const char* kParams =
    R"({"gain": 100, "ratio": 0.25, "big": 12345678901234567890123, "name": "caf\u00e9 '''",
        "flag": true, "none": null, "list": [1, "two", [3.5], {"k": false}],
        "nested": {"a": {"b": [null]}}})";

// Describes df and kargs as one JSON string cell. The comment's ''' and \ are there for the
// daemon's debug_script, which carries the script inside a Python literal.
constexpr const char* kDescribeScript = R"PY(# describes df and kargs: ''' "\" é
import json

def cell(v):
    return [f"{type(v).__module__}.{type(v).__qualname__}", repr(v)]

def null(v):
    if isinstance(v, (list, dict, str)):
        return False
    answer = pd.isna(v)
    return bool(answer) if isinstance(answer, (bool, np.bool_)) else False

def walk(v):
    if isinstance(v, dict):
        return {"dict": {k: walk(x) for k, x in v.items()}}
    if isinstance(v, list):
        return {"list": [walk(x) for x in v]}
    return cell(v)

rows = range(len(df))
info = {
    "index": [type(df.index).__name__, repr(df.index), list(df.index)],
    "columns": list(df.columns),
    "dtypes": {c: str(t) for c, t in df.dtypes.items()},
    "blocks": len(df._mgr.blocks),
    "values": {c: [cell(df[c].iloc[i]) for i in rows] for c in df.columns},
    "nulls": {c: [i for i in rows if null(df[c].iloc[i])] for c in df.columns},
    "isna": {c: df[c].isna().tolist() for c in df.columns},
    "text": df.to_string(),
    "kargs": walk(kargs),
}
result = pd.DataFrame({"describe": [json.dumps(info, sort_keys=True)]})
)PY";

struct Process {
  int status = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteAll(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// Runs argv to its end (in `cwd` when given), stdout and stderr captured through files.
Process Execute(const std::vector<std::string>& argv, const fs::path& scratch,
                const std::string& cwd = {}) {
  const fs::path out = scratch / "stdout.txt";
  const fs::path err = scratch / "stderr.txt";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0 || err_fd < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(126);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  Process run;
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid)
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = ReadAll(out);
  run.err = ReadAll(err);
  return run;
}

// The one cell of a one-column CSV (sandboxctl's `name:type` header or pandas' plain one).
std::string OnlyCell(const std::string& csv) {
  auto records = sandboxctl::ParseCsv(csv);
  EXPECT_TRUE(records.ok()) << records.status().ToString() << "\n" << csv;
  if (!records.ok() || records->size() != 2 || (*records)[1].size() != 1) {
    ADD_FAILURE() << "expected a header and one cell, got:\n" << csv;
    return {};
  }
  return (*records)[1][0];
}

std::string Describe(const Process& run) {
  EXPECT_EQ(run.status, 0) << run.err;
  return OnlyCell(run.out);
}

class SandboxctlDebugTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    char tmpl[] = "/tmp/sandboxctl-debug-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    scratch_ = tmpl;
    WriteAll(scratch_ / "input.csv", kInputCsv);
    WriteAll(scratch_ / "describe.py", kDescribeScript);
  }
  void TearDown() override {
    std::error_code ec;
    if (!scratch_.empty()) fs::remove_all(scratch_, ec);
  }

  // sandboxctl run over the input with `extra` flags.
  Process Sandboxctl(const std::string& schema, const std::string& script,
                     std::vector<std::string> extra) {
    std::vector<std::string> argv = {::sandboxd::test_paths::kSandboxctlBinary,
                                     "run",
                                     "--socket",
                                     daemon_->socket_path(),
                                     "--schema",
                                     schema,
                                     "--script",
                                     (scratch_ / script).string(),
                                     "--input",
                                     (scratch_ / "input.csv").string(),
                                     "--params",
                                     kParams};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Execute(argv, scratch_);
  }

  fs::path scratch_;
};

TEST_F(SandboxctlDebugTest, ReproductionSeesTheSandboxsDfAndKargs) {
  // In a sandbox.
  const Process sandboxed =
      Sandboxctl("typeof(describe:string)", "describe.py", {"--format", "csv"});
  const std::string in_sandbox = Describe(sandboxed);
  ASSERT_FALSE(in_sandbox.empty());

  // The reproduction folder, run on the host from elsewhere (run.py finds its files itself).
  const fs::path dir = scratch_ / "repro";
  const Process debug = Sandboxctl(
      "typeof(describe:string)", "describe.py",
      {"--debug", dir.string(), "--runtime-dir", ::sandboxd::test_paths::kRuntimeSource});
  ASSERT_EQ(debug.status, 0) << debug.err;
  EXPECT_TRUE(debug.out.empty()) << debug.out;
  for (const char* name : {"input.sbxt", "input.csv", "kargs.json", "script.py", "schema.json",
                           "run.py", "sandboxd_runtime/frames.py", "sandbox_utils/zipackage.py"})
    EXPECT_TRUE(fs::exists(dir / name)) << name;
  EXPECT_EQ(ReadAll(dir / "script.py"), kDescribeScript);
  const std::string reproduced =
      Describe(Execute({kHostPython, (dir / "run.py").string(), "--csv"}, scratch_, "/"));
  EXPECT_EQ(reproduced, in_sandbox);

  // A field-by-field view of the same comparison, so a failure says where they differ.
  const auto sandbox_json = nlohmann::json::parse(in_sandbox, nullptr, false);
  const auto repro_json = nlohmann::json::parse(reproduced, nullptr, false);
  ASSERT_TRUE(sandbox_json.is_object());
  ASSERT_TRUE(repro_json.is_object());
  for (const auto& [key, value] : sandbox_json.items())
    EXPECT_EQ(repro_json.value(key, nlohmann::json()), value) << key;

  // What the sandbox gave is docs/ARCHITECTURE.md's type table ("Types"), so the two did not agree
  // on something else.
  const nlohmann::json expected_dtypes = {{"b", "bool"},
                                          {"bn", "boolean"},
                                          {"i", "int32"},
                                          {"in", "Int32"},
                                          {"l", "int64"},
                                          {"ln", "Int64"},
                                          {"r", "float64"},
                                          {"d", "object"},
                                          {"s", "object"},
                                          {"dt", "datetime64[ns]"},
                                          {"ts", "timedelta64[ns]"},
                                          {"g", "object"},
                                          {"dy", "object"},
                                          {"far", "object"},
                                          {"long_span", "object"}};
  EXPECT_EQ(sandbox_json["dtypes"], expected_dtypes);
  EXPECT_EQ(sandbox_json["index"][0], "RangeIndex");
  EXPECT_EQ(sandbox_json["values"]["d"][0],
            nlohmann::json::array({"decimal.Decimal", "Decimal('1.50')"}));
  EXPECT_EQ(sandbox_json["values"]["dy"][0][0], "builtins.dict");
  EXPECT_EQ(sandbox_json["values"]["far"][0][0], "sandboxd_runtime.kusto_values.KustoDateTime");
  EXPECT_EQ(sandbox_json["kargs"]["dict"]["big"][0], "builtins.float");
  for (const char* column : {"bn", "in", "ln", "r", "d", "dt", "ts", "g", "dy", "far", "long_span"})
    EXPECT_EQ(sandbox_json["nulls"][column], nlohmann::json::array({1})) << column;
  EXPECT_EQ(sandbox_json["nulls"]["s"], nlohmann::json::array()) << "an empty string is a value";

  // The control: the same script over a plain pd.read_csv of the same table (what --debug used
  // to hand out) sees something else, so the comparison above can fail.
  const char* naive =
      "import json, sys\nimport numpy as np\nimport pandas as pd\n"
      "df = pd.read_csv(sys.argv[1] + '/input.csv')\n"
      "df.columns = [c.split(':')[0] for c in df.columns]\n"
      "kargs = json.load(open(sys.argv[1] + '/kargs.json'))\n"
      "exec(open(sys.argv[1] + '/script.py').read())\n"
      "result.to_csv(sys.stdout, index=False)\n";
  const std::string read_csv =
      Describe(Execute({kHostPython, "-c", naive, dir.string()}, scratch_));
  ASSERT_FALSE(read_csv.empty());
  EXPECT_NE(nlohmann::json::parse(read_csv)["dtypes"], sandbox_json["dtypes"]);
}

TEST_F(SandboxctlDebugTest, DaemonsDebugScriptReproducesTheSameCall) {
  // `--debug` without DIR: the input table on stdout, the daemon's script in a file.
  const fs::path dir = scratch_ / "script_only";
  fs::create_directories(dir);
  const Process debug =
      Sandboxctl("typeof(describe:string)", "describe.py",
                 {"--debug", "--format", "csv", "--debug-script-out", (dir / "repro.py").string()});
  ASSERT_EQ(debug.status, 0) << debug.err;
  EXPECT_EQ(debug.out.substr(0, debug.out.find('\n')),
            "b:bool,bn:bool,i:int,in:int,l:long,"
            "ln:long,r:real,d:decimal,s:string,"
            "dt:datetime,ts:timespan,g:guid,"
            "dy:dynamic,far:datetime,long_span:timespan");
  // What it needs beside it: the input's SBXT bytes and the runner's modules (taken here from a
  // folder --debug DIR wrote).
  const fs::path full = scratch_ / "full";
  ASSERT_EQ(Sandboxctl(
                "typeof(describe:string)", "describe.py",
                {"--debug", full.string(), "--runtime-dir", ::sandboxd::test_paths::kRuntimeSource})
                .status,
            0);
  for (const char* name : {"input.sbxt", "sandboxd_runtime", "sandbox_utils"})
    fs::copy(full / name, dir / name, fs::copy_options::recursive);

  const std::string from_script =
      Describe(Execute({kHostPython, (dir / "repro.py").string(), "--csv"}, scratch_, "/"));
  const std::string from_folder =
      Describe(Execute({kHostPython, (full / "run.py").string(), "--csv"}, scratch_, "/"));
  EXPECT_FALSE(from_folder.empty());
  EXPECT_EQ(from_script, from_folder);
}

TEST_F(SandboxctlDebugTest, ReproductionFailsAsTheSandboxDoes) {
  WriteAll(scratch_ / "rename.py", "result = df.rename(columns={'l': 'long_one'})\n");
  const Process sandboxed = Sandboxctl("typeof(*)", "rename.py", {});
  EXPECT_EQ(sandboxed.status, 1);
  ASSERT_EQ(sandboxed.err.rfind("SCHEMA_MISMATCH: ", 0), 0U) << sandboxed.err;

  const fs::path dir = scratch_ / "repro";
  ASSERT_EQ(
      Sandboxctl("typeof(*)", "rename.py",
                 {"--debug", dir.string(), "--runtime-dir", ::sandboxd::test_paths::kRuntimeSource})
          .status,
      0);
  const Process reproduced = Execute({kHostPython, (dir / "run.py").string()}, scratch_);
  EXPECT_EQ(reproduced.status, 1);
  const std::string first_line = sandboxed.err.substr(0, sandboxed.err.find('\n') + 1);
  EXPECT_NE(reproduced.err.find(first_line), std::string::npos)
      << "sandbox: " << sandboxed.err << "reproduction: " << reproduced.err;

  // The folder is there to be edited: a fixed script.py runs.
  WriteAll(dir / "script.py", "result = df\n");
  const Process fixed = Execute({kHostPython, (dir / "run.py").string(), "--csv"}, scratch_);
  EXPECT_EQ(fixed.status, 0) << fixed.err;
  EXPECT_EQ(fixed.out.substr(0, fixed.out.find('\n')),
            "b,bn,i,in,l,ln,r,d,s,dt,ts,g,dy,far,long_span");
}

TEST_F(SandboxctlDebugTest, LargeInputComesBackWhole) {
  // 200 000 rows of long: 1.6 MB, past the inline size, so the debug answer carries the input
  // in the request's sealed memfd.
  WriteAll(scratch_ / "sum.py",
           "result = pd.DataFrame({'n': [len(df)], 's': [int(df['x'].sum())], "
           "'index': [str(type(df.index).__name__)]})\n");
  const fs::path dir = scratch_ / "large";
  const Process debug =
      Execute({::sandboxd::test_paths::kSandboxctlBinary, "run", "--socket", daemon_->socket_path(),
               "--schema", "typeof(n:long, s:long, index:string)", "--script",
               (scratch_ / "sum.py").string(), "--range", "x from 1 to 200000 step 1", "--debug",
               dir.string(), "--runtime-dir", ::sandboxd::test_paths::kRuntimeSource},
              scratch_);
  ASSERT_EQ(debug.status, 0) << debug.err;
  EXPECT_GT(fs::file_size(dir / "input.sbxt"), 1'600'000U);
  const Process reproduced = Execute({kHostPython, (dir / "run.py").string(), "--csv"}, scratch_);
  EXPECT_EQ(reproduced.status, 0) << reproduced.err;
  EXPECT_EQ(reproduced.out, "n,s,index\n200000,20000100000,RangeIndex\n");
}

TEST_F(SandboxctlDebugTest, WrongRuntimeFolderIsAUsageError) {
  const Process debug =
      Sandboxctl("typeof(*)", "describe.py",
                 {"--debug", (scratch_ / "repro").string(), "--runtime-dir", scratch_.string()});
  EXPECT_EQ(debug.status, 2);
  EXPECT_NE(debug.err.find("--runtime-dir"), std::string::npos) << debug.err;
}

}  // namespace
}  // namespace sandboxd::testing
