// The security regression suite (SECURITY_PROBES.md, groups A to I): probes as data, each run in a
// sandbox through a real sandboxd and, as a positive control, on the host outside any sandbox;
// every observation becomes a row of the table printed at the end.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "leftover_guard.h"
#include "sandboxd/client.h"

namespace sandboxd::security {

// One observation a probe makes, and what it must be.
struct Check {
  // `control` says how the host run (root, outside any sandbox) proves the probe can see what it
  // looks for:
  //   ""        the host's observation must NOT match `expected` (the capability exists there);
  //   "=REGEX"  the host's observation must match REGEX (the workload itself is sound);
  //   "-REASON" no host control for this check, REASON is printed.
  Check(std::string name_in, std::string expected_in, std::string control_in = "")
      : name(std::move(name_in)),
        expected(std::move(expected_in)),
        control(std::move(control_in)) {}
  std::string name;      // the key the probe passes to obs()
  std::string expected;  // ECMAScript regex the whole sandbox observation must match
  std::string control;
};

// The output schema of table probes.
inline constexpr const char* kObservationSchema = "typeof(check:string, observed:string)";

struct Probe {
  std::string id{};     // "A1"
  std::string title{};  // what is attacked
  std::string code{};   // Python after probelib.py; records with obs(check, value)
  std::vector<Check> checks{};
  // The run's outcome, "OK" or "CODE: message", must match this regex. When it is not "OK", the
  // outcome gets a row of its own, controlled by `host_outcome` (same convention as
  // Check::control, against the host run's outcome: "OK", "EXIT(n): ...", "SIGNALED(SIGx)").
  std::string outcome = "OK";
  std::string host_outcome{};
  // E-or-V probes: a POLICY_VIOLATION whose message matches this regex passes every check.
  std::string violation{};
  // Non-empty: no host control at all, for this reason.
  std::string no_host{};
  std::string schema = kObservationSchema;
  bool own_result = false;   // the code sets `result` itself (no observation table appended)
  std::string kargs = "{}";  // merged over the suite's kargs (host facts)
  std::uint64_t memory_mb = 0;
  std::uint64_t timeout_ms = 60000;
  std::uint64_t max_log_bytes = 0;
  std::uint64_t max_result_bytes = 0;
  bool then_serves = false;  // afterwards, a simple request must still succeed
  int host_timeout_s = 60;
};

// GoogleTest prints a probe by its id.
inline void PrintTo(const Probe& probe, std::ostream* os) { *os << probe.id; }

// The groups' probe lists (probes_*.cc).
std::vector<Probe> KernelProbes();      // A, I1
std::vector<Probe> FilesystemProbes();  // B, C
std::vector<Probe> ProcessProbes();     // D, E, I
std::vector<Probe> LimitProbes();       // F, G
std::vector<Probe> AllProbes();
// A17 as a daemon on a kernel with MFD_NOEXEC_SEAL (6.3+) must hold it, or on one without (6.1,
// or a daemon configured with --memfd-noexec-seal off).
Probe ExecutableMemoryProbe(bool memfd_noexec_seal);
// Whether this host's kernel has MFD_NOEXEC_SEAL (what a daemon with "auto" uses).
bool HostHasMemfdNoexecSeal();

// What one run (sandbox or host) produced.
struct RunResult {
  std::string outcome;  // "OK" or "CODE: message" (sandbox); "OK", "EXIT(n): ...", ... (host)
  std::map<std::string, std::string> observed;
  std::optional<Error> error;    // sandbox runs that failed
  std::optional<Result> result;  // sandbox runs that succeeded
};

// A daemon under test: the built sandboxd on a private socket, with its own cgroup group and
// range of host uids, the source tree's seccomp policy and runner.
class TestDaemon {
 public:
  // `name` tells daemons of one test process apart (cgroup group, uid range, folder).
  // `extra_args` are more sandboxd flags (e.g. --memfd-noexec-seal off).
  static std::unique_ptr<TestDaemon> Start(const std::string& name, unsigned uid_slot,
                                           const std::vector<std::string>& extra_args = {});
  ~TestDaemon();
  TestDaemon(const TestDaemon&) = delete;
  TestDaemon& operator=(const TestDaemon&) = delete;

  const std::string& socket_path() const { return socket_; }
  const std::string& dir() const { return dir_; }
  const std::string& config_path() const { return config_; }
  std::uint32_t uid_base() const { return uid_base_; }
  pid_t pid() const { return pid_; }
  bool alive() const;
  // SIGKILL, as a crash would; the object then only cleans up.
  void Crash();
  std::string LogTail() const;

 private:
  TestDaemon() = default;
  std::string dir_, socket_, config_, group_;
  std::uint32_t uid_base_ = 0;
  pid_t pid_ = -1;
  sandboxd::testing::LeftoverGuard guard_;  // clears group and folder if the test dies first
};

// The suite's shared state: the daemon, the host facts every probe gets as kargs.
struct Suite {
  std::unique_ptr<TestDaemon> daemon;
  std::string kargs_json;  // host facts (a JSON object)
  std::string probelib;    // probelib.py
  std::string work_dir;    // the suite's own folder on the host
  std::string setup_error;
};
Suite& TheSuite();

// A client of `daemon` (the suite's by default) with a reply timeout of 3 minutes, longer than
// any probe's deadline: a lost answer fails the probe instead of hanging the suite.
StatusOr<Client> ConnectClient(const TestDaemon* daemon = nullptr);

// Runs `code` (after probelib.py) as a UDF on `daemon` (the suite's by default).
RunResult RunInSandbox(const Probe& probe, const std::string& extra_kargs = "{}",
                       TestDaemon* daemon = nullptr);
// Runs the same code on the host as root with /usr/bin/python3 -I, in a scratch folder that is
// removed (mounts included) afterwards.
RunResult RunOnHost(const Probe& probe, const std::string& extra_kargs = "{}");
// Runs the probe both ways, records its rows, and reports failures to GoogleTest; in a sandbox
// of `daemon` (the suite's by default).
void RunProbe(const Probe& probe, TestDaemon* daemon = nullptr);

// Whether `observed` matches the whole regex `pattern`.
bool Matches(const std::string& observed, const std::string& pattern);

// The printed table.
struct Row {
  std::string probe;  // "A1 ptrace: PTRACE_TRACEME"
  std::string expected;
  std::string observed;
  std::string control;  // what the host run showed
  std::string result;   // PASS, FAIL, SKIP (reason), N/A (reason)
};
void Record(Row row);
// Records a row judged by the caller and reports a FAIL to GoogleTest.
void RecordCheck(const std::string& probe, const std::string& expected, const std::string& observed,
                 bool pass, const std::string& control = "-");
void RecordNotApplicable(const std::string& probe, const std::string& reason);
void PrintTable();

// Host-side helpers for the tests that watch sandboxes from outside.
std::vector<pid_t> FindProcessesByComm(const std::string& comm);
std::vector<pid_t> FindProcessesByCmdline(const std::string& needle);
// Polls FindProcessesByComm until one shows up or `timeout` passes.
std::vector<pid_t> WaitForBeacon(const std::string& comm, std::chrono::milliseconds timeout);
std::string OutcomeText(const ExecuteOutcome& outcome);
Request MakeRequest(const Probe& probe, const std::string& extra_kargs = "{}");
// The script a probe runs as in a sandbox (probelib + code + epilogue).
std::string SandboxScript(const Probe& probe);
// A request the daemon must answer with a result: the neighbours' "simple request".
Request SimpleRequest(int k);
bool SimpleResultOk(const ExecuteOutcome& outcome, int k);

}  // namespace sandboxd::security
