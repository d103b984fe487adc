#include "suite.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "daemon_fixture.h"
#include "sandboxd/table.h"
#include "test_paths.h"

namespace sandboxd::security {
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string MakeTempDir(const std::string& prefix) {
  std::string path = prefix + "XXXXXX";
  if (::mkdtemp(path.data()) == nullptr) return "";
  return path;
}

bool CanConnect(const std::string& socket_path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path.c_str());
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// Removes the cgroups a crashed daemon left in its group of every hierarchy, retrying while
// their last processes are still on their way out.
void RemoveCgroupGroup(const std::string& group) {
  for (int attempt = 0; attempt < 40; ++attempt) {
    bool left = false;
    std::error_code ec;
    for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      const fs::path dir = hierarchy.path() / group;
      if (!fs::is_directory(dir, ec)) continue;
      for (const auto& child : fs::directory_iterator(dir, ec)) {
        if (child.is_directory(ec)) ::rmdir(child.path().c_str());
      }
      if (::rmdir(dir.c_str()) != 0) left = true;
    }
    if (!left) return;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

// Unmounts whatever a host control mounted under `dir`, deepest first.
void DetachMountsUnder(const std::string& dir) {
  std::vector<std::string> points;
  std::istringstream mountinfo(ReadFileText("/proc/self/mountinfo"));
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    fields >> id >> parent >> devno >> root >> point;
    if (point.rfind(dir + "/", 0) == 0) points.push_back(point);
  }
  std::sort(points.begin(), points.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& point : points) ::umount2(point.c_str(), MNT_DETACH);
}

std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

std::string Clip(const std::string& text, std::size_t width) {
  if (text.size() <= width) return text;
  return text.substr(0, width - 3) + "...";
}

std::mutex rows_mutex;
std::vector<Row>& Rows() {
  static std::vector<Row> rows;
  return rows;
}

}  // namespace

Suite& TheSuite() {
  static Suite suite;
  return suite;
}

bool Matches(const std::string& observed, const std::string& pattern) {
  try {
    return std::regex_match(observed, std::regex(pattern));
  } catch (const std::regex_error&) {
    ADD_FAILURE() << "bad expectation regex: " << pattern;
    return false;
  }
}

// ---- the daemon -----------------------------------------------------------------------------

std::unique_ptr<TestDaemon> TestDaemon::Start(const std::string& name, unsigned uid_slot,
                                              const std::vector<std::string>& extra_args) {
  auto daemon = std::unique_ptr<TestDaemon>(new TestDaemon);
  daemon->dir_ = MakeTempDir("/tmp/sandboxd-sec-" + name + "-");
  if (daemon->dir_.empty()) return nullptr;
  daemon->socket_ = daemon->dir_ + "/sandboxd.sock";
  daemon->config_ = daemon->dir_ + "/sandboxd.conf";
  std::ofstream(daemon->config_) << "{}\n";
  // Far from the integration tests' range (1.6e9) and the default (1.5e9): test daemons may run
  // side by side.
  daemon->uid_base_ =
      1'750'000'000U + ((static_cast<unsigned>(::getpid()) % 2048U) * 4U + uid_slot) * 64U;
  daemon->group_ = "sandboxd-sec-" + std::to_string(::getpid()) + "-" + name;
  std::vector<std::string> args = {::sandboxd::test_paths::kSandboxdBinary,
                                   "--foreground",
                                   "--config",
                                   daemon->config_,
                                   "--socket",
                                   daemon->socket_,
                                   "--images-dir",
                                   sandboxd::testing::ImagesDir(),
                                   "--runtime-dir",
                                   ::sandboxd::test_paths::kRuntimeSource,
                                   "--seccomp-policy",
                                   ::sandboxd::test_paths::kSeccompPolicySource,
                                   "--log-level",
                                   "warn",
                                   "--cgroup-v1-group",
                                   daemon->group_,
                                   "--uid-base",
                                   std::to_string(daemon->uid_base_)};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  const std::string log = daemon->dir_ + "/daemon.log";
  const pid_t test_pid = ::getpid();
  daemon->pid_ = ::fork();
  if (daemon->pid_ == 0) {
    sandboxd::testing::DieWithParent(test_pid);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (daemon->pid_ > 0)
    daemon->guard_ = sandboxd::testing::LeftoverGuard(daemon->pid_, daemon->group_, daemon->dir_);
  for (int i = 0; i < 400; ++i) {
    if (CanConnect(daemon->socket_)) return daemon;
    int status;
    if (::waitpid(daemon->pid_, &status, WNOHANG) == daemon->pid_) {
      daemon->pid_ = -1;
      std::cerr << "sandboxd exited at start:\n" << daemon->LogTail() << "\n";
      return nullptr;
    }
    std::this_thread::sleep_for(milliseconds(25));
  }
  std::cerr << "sandboxd did not listen within 10 s:\n" << daemon->LogTail() << "\n";
  return nullptr;
}

TestDaemon::~TestDaemon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status;
    for (int i = 0; i < 400 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(milliseconds(25));
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  // The group and folder are this daemon's own (its name is in both): the guard clears them.
  guard_.Finish(sandboxd::testing::LeftoverGuard::Ending::kDaemonStopped);
  RemoveCgroupGroup(group_);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

bool TestDaemon::alive() const {
  if (pid_ <= 0) return false;
  int status;
  return ::waitpid(pid_, &status, WNOHANG) == 0;
}

void TestDaemon::Crash() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string TestDaemon::LogTail() const {
  const std::string log = ReadFileText(dir_ + "/daemon.log");
  return log.size() > 4000 ? log.substr(log.size() - 4000) : log;
}

// ---- requests -------------------------------------------------------------------------------

std::string SandboxScript(const Probe& probe) {
  std::string script = "IN_SANDBOX = True\n" + TheSuite().probelib;
  script += "\n# ---- probe " + probe.id + ": " + probe.title + "\n" + probe.code + "\n";
  if (probe.schema == kObservationSchema && !probe.own_result) {
    script +=
        "\nresult = pd.DataFrame({'check': pd.Series(list(OBSERVATIONS), dtype=object),\n"
        "                       'observed': pd.Series(list(OBSERVATIONS.values()), "
        "dtype=object)})\n";
  }
  return script;
}

Request MakeRequest(const Probe& probe, const std::string& extra_kargs) {
  nlohmann::json kargs = nlohmann::json::parse(TheSuite().kargs_json);
  kargs.merge_patch(nlohmann::json::parse(probe.kargs));
  kargs.merge_patch(nlohmann::json::parse(extra_kargs));
  Request request;
  request.request_id = "probe-" + probe.id;
  request.output_schema = probe.schema;
  request.script = SandboxScript(probe);
  request.script_parameters_json = kargs.dump();
  request.memory_mb = probe.memory_mb;
  request.timeout_ms = probe.timeout_ms;
  request.max_log_bytes = probe.max_log_bytes;
  request.max_result_bytes = probe.max_result_bytes;
  return request;
}

std::string OutcomeText(const ExecuteOutcome& outcome) {
  if (outcome.ok()) return "OK";
  const Error& error = outcome.error();
  return std::string(ErrorCodeName(error.code)) + ": " + OneLine(error.message);
}

StatusOr<Client> ConnectClient(const TestDaemon* daemon) {
  if (daemon == nullptr) daemon = TheSuite().daemon.get();
  if (daemon == nullptr) return Status(ErrorCode::kInternal, "no daemon");
  ClientOptions options;
  options.reply_timeout = std::chrono::minutes(3);
  return Client::Connect(daemon->socket_path(), options);
}

RunResult RunInSandbox(const Probe& probe, const std::string& extra_kargs, TestDaemon* daemon) {
  if (daemon == nullptr) daemon = TheSuite().daemon.get();
  RunResult run;
  if (daemon == nullptr) {
    run.outcome = "INTERNAL: no daemon";
    return run;
  }
  auto client = ConnectClient(daemon);
  if (!client.ok()) {
    run.outcome = "INTERNAL: connect: " + client.status().message();
    return run;
  }
  ExecuteOutcome outcome = client->Execute(MakeRequest(probe, extra_kargs));
  run.outcome = OutcomeText(outcome);
  if (!outcome.ok()) {
    run.error = std::move(outcome).error();
    return run;
  }
  Result result = std::move(outcome).result();
  const TableView& table = result.table.view();
  if (probe.schema == kObservationSchema && table.column_count() == 2) {
    for (std::uint64_t row = 0; row < table.row_count(); ++row)
      run.observed[std::string(table.GetText(0, row))] = std::string(table.GetText(1, row));
  }
  run.result = std::move(result);
  return run;
}

RunResult RunOnHost(const Probe& probe, const std::string& extra_kargs) {
  RunResult run;
  const std::string scratch = MakeTempDir(TheSuite().work_dir + "/host-" + probe.id + "-");
  if (scratch.empty()) {
    run.outcome = "HOST SETUP: mkdtemp failed";
    return run;
  }
  const std::string script_path = scratch + ".py";
  const std::string out_path = scratch + ".json";
  const std::string err_path = scratch + ".stderr";
  {
    std::ofstream script(script_path);
    script << "IN_SANDBOX = False\n"
           << TheSuite().probelib << "\n# ---- probe " << probe.id << "\n"
           << probe.code << "\n"
           << "\nwith open(os.environ['PROBE_OUT'], 'w') as _f:\n"
              "    json.dump(OBSERVATIONS, _f)\n";
  }
  nlohmann::json kargs = nlohmann::json::parse(TheSuite().kargs_json);
  kargs.merge_patch(nlohmann::json::parse(probe.kargs));
  kargs.merge_patch(nlohmann::json::parse(extra_kargs));
  const std::string kargs_text = kargs.dump();

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    const int out_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    ::setenv("PROBE_KARGS", kargs_text.c_str(), 1);
    ::setenv("PROBE_OUT", out_path.c_str(), 1);
    ::setenv("PROBE_SCRATCH", scratch.c_str(), 1);
    if (::chdir(scratch.c_str()) != 0) ::_exit(126);
    ::execl("/usr/bin/python3", "python3", "-I", script_path.c_str(), nullptr);
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  int status = 0;
  bool timed_out = true;
  const auto deadline = steady_clock::now() + std::chrono::seconds(probe.host_timeout_s);
  while (steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      timed_out = false;
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  ::kill(-pid, SIGKILL);  // the probe's children (fork and thread bombs' controls) go too
  if (timed_out) ::waitpid(pid, &status, 0);

  if (timed_out) {
    run.outcome = "HOST TIMEOUT";
  } else if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    run.outcome = std::string("SIGNALED(SIG") + (abbrev ? abbrev : "?") + ")";
  } else if (WEXITSTATUS(status) != 0) {
    std::string err = ReadFileText(err_path);
    while (!err.empty() && err.back() == '\n') err.pop_back();
    const auto last = err.rfind('\n');
    run.outcome = "EXIT(" + std::to_string(WEXITSTATUS(status)) +
                  "): " + (last == std::string::npos ? err : err.substr(last + 1));
  } else {
    run.outcome = "OK";
  }
  const auto observed = nlohmann::json::parse(ReadFileText(out_path), nullptr, false);
  if (observed.is_object()) {
    for (const auto& [key, value] : observed.items())
      run.observed[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  DetachMountsUnder(scratch);
  std::error_code ec;
  fs::remove_all(scratch, ec);
  fs::remove(script_path, ec);
  fs::remove(out_path, ec);
  fs::remove(err_path, ec);
  return run;
}

Request SimpleRequest(int k) {
  TableBuilder builder({{"x", ColumnType::kLong}});
  for (std::int64_t v = 1; v <= 100; ++v) builder.AppendLong(0, v);
  auto table = builder.FinishTable();
  Request request;
  request.request_id = "simple-" + std::to_string(k);
  request.output_schema = "typeof(*, y:long)";
  request.script = "result = df\nresult['y'] = df['x'] * kargs['k']\n";
  request.script_parameters_json = "{\"k\": " + std::to_string(k) + "}";
  if (table.ok()) request.input = std::move(*table);
  return request;
}

bool SimpleResultOk(const ExecuteOutcome& outcome, int k) {
  if (!outcome.ok()) return false;
  const TableView& t = outcome.result().table.view();
  return t.row_count() == 100 && t.column_count() == 2 && t.GetLong(1, 99) == 100LL * k;
}

// ---- judging --------------------------------------------------------------------------------

namespace {

struct Verdict {
  std::string control;  // the table's control cell
  std::string result;
  bool failed = false;
};

// `pass`: the sandbox observation met its expectation. `host`: the host's observation (nullopt
// when the host run did not produce it).
Verdict Judge(bool pass, const std::string& expected, const std::string& control,
              const std::string& no_host, const std::optional<std::string>& host) {
  Verdict v;
  if (!no_host.empty()) {
    v.control = "n/a: " + no_host;
  } else if (!control.empty() && control[0] == '-') {
    v.control = "n/a: " + control.substr(1);
  } else if (!host) {
    v.control = "host: (not observed)";
  } else {
    v.control = "host: " + OneLine(*host);
  }
  if (!pass) {
    v.result = "FAIL";
    v.failed = true;
    return v;
  }
  if (!no_host.empty() || (!control.empty() && control[0] == '-')) {
    v.result = "PASS";
    return v;
  }
  bool proven = false;
  if (host) {
    proven = control.empty() ? !Matches(OneLine(*host), expected)
                             : Matches(OneLine(*host), control.substr(1));
  }
  v.result = proven ? "PASS" : "SKIP: the host lacks it too";
  return v;
}

}  // namespace

bool HostHasMemfdNoexecSeal() {
  const int fd = ::memfd_create("probe", MFD_CLOEXEC | 0x8U /* MFD_NOEXEC_SEAL */);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

void RunProbe(const Probe& probe, TestDaemon* daemon) {
  SCOPED_TRACE(probe.id + " " + probe.title);
  RunResult sandbox = RunInSandbox(probe, "{}", daemon);
  std::optional<RunResult> host;
  if (probe.no_host.empty()) host = RunOnHost(probe);

  const bool violation = !probe.violation.empty() &&
                         sandbox.outcome.rfind("POLICY_VIOLATION: ", 0) == 0 &&
                         std::regex_search(sandbox.outcome, std::regex(probe.violation));
  const std::string label = probe.id + " " + probe.title;
  Record({"## " + label, "", "", "", ""});

  if (probe.outcome != "OK" || probe.checks.empty() ||
      (!violation && !Matches(sandbox.outcome, "OK"))) {
    const bool pass = violation || Matches(sandbox.outcome, probe.outcome);
    std::optional<std::string> host_outcome;
    if (host) host_outcome = host->outcome;
    Verdict v = Judge(pass, probe.outcome, probe.host_outcome, probe.no_host, host_outcome);
    Record({probe.id + " outcome", probe.outcome, sandbox.outcome, v.control, v.result});
    if (v.failed) {
      ADD_FAILURE() << probe.id << " outcome: expected /" << probe.outcome << "/, observed "
                    << sandbox.outcome;
    }
  }
  for (const Check& check : probe.checks) {
    std::string observed;
    bool pass = false;
    if (violation) {
      observed = "V: " + sandbox.outcome.substr(18);
      pass = true;
    } else if (auto it = sandbox.observed.find(check.name); it != sandbox.observed.end()) {
      observed = it->second;
      pass = Matches(OneLine(observed), check.expected);
    } else {
      observed = sandbox.outcome == "OK" ? "(not observed)" : "(no table: " + sandbox.outcome + ")";
    }
    std::optional<std::string> host_value;
    if (host) {
      if (auto it = host->observed.find(check.name); it != host->observed.end()) {
        host_value = it->second;
      } else {
        host_value = "(not observed; host run: " + host->outcome + ")";
      }
    }
    Verdict v = Judge(pass, check.expected, check.control, probe.no_host, host_value);
    Record({probe.id + " " + check.name, check.expected, OneLine(observed), v.control, v.result});
    if (v.failed) {
      ADD_FAILURE() << probe.id << " " << check.name << ": expected /" << check.expected
                    << "/, observed " << observed;
    }
  }
  if (probe.then_serves) {
    auto client = ConnectClient();
    const bool ok = client.ok() && SimpleResultOk(client->Execute(SimpleRequest(7)), 7);
    RecordCheck(probe.id + " then a simple request succeeds", "OK", ok ? "OK" : "failed", ok);
  }
  if (!TheSuite().daemon->alive()) {
    RecordCheck(probe.id + " the daemon is alive afterwards", "alive", "dead", false);
    std::cerr << TheSuite().daemon->LogTail() << "\n";
  }
}

// ---- the table ------------------------------------------------------------------------------

void Record(Row row) {
  std::lock_guard lock(rows_mutex);
  Rows().push_back(std::move(row));
}

void RecordCheck(const std::string& probe, const std::string& expected, const std::string& observed,
                 bool pass, const std::string& control) {
  Record({probe, expected, OneLine(observed), control, pass ? "PASS" : "FAIL"});
  if (!pass) ADD_FAILURE() << probe << ": expected " << expected << ", observed " << observed;
}

void RecordNotApplicable(const std::string& probe, const std::string& reason) {
  Record({probe, "-", "-", "-", "N/A: " + reason});
}

namespace {

// Orders rows by probe id (A1 < A2 < A10 < B1 ...; N last), keeping each probe's rows together
// in the order they were recorded.
std::tuple<int, int, std::string> SortKey(const Row& row) {
  std::string id = row.probe.rfind("## ", 0) == 0 ? row.probe.substr(3) : row.probe;
  id = id.substr(0, id.find(' '));
  const int group = id.empty() ? 99 : (id[0] == 'N' ? 50 : id[0] - 'A');
  std::size_t i = 1;
  int number = 0;
  while (i < id.size() && std::isdigit(static_cast<unsigned char>(id[i])) != 0)
    number = number * 10 + (id[i++] - '0');
  return {group, number, id.substr(std::min(i, id.size()))};
}

}  // namespace

void PrintTable() {
  std::vector<Row> rows;
  {
    std::lock_guard lock(rows_mutex);
    rows = Rows();
  }
  if (rows.empty()) return;
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return SortKey(a) < SortKey(b); });
  const std::size_t widths[] = {58, 34, 90, 44};
  std::ostringstream out;
  // '|' separates the cells: inside one, a regex alternative reads "or", anything else "/".
  auto cell = [&](const std::string& text, std::size_t width, const char* bar = "/") {
    std::string plain;
    for (char c : text) plain += c == '|' ? std::string(bar) : std::string(1, c);
    const std::string clipped = Clip(plain, width);
    out << clipped << std::string(width - clipped.size(), ' ') << " | ";
  };
  const std::string rule(58 + 34 + 90 + 44 + 4 * 3 + 10, '-');
  out << "\nSECURITY PROBES (SECURITY_PROBES.md groups A-I; tests/security/SECURITY.md)\n"
      << rule << "\n";
  cell("probe", widths[0]);
  cell("expected", widths[1]);
  cell("observed", widths[2]);
  cell("host control", widths[3]);
  out << "result\n" << rule << "\n";
  int pass = 0, fail = 0, skip = 0, na = 0, accepted = 0;
  for (const Row& row : rows) {
    if (row.probe.rfind("## ", 0) == 0) {
      out << row.probe << "\n";
      continue;
    }
    cell(row.probe, widths[0]);
    cell(row.expected, widths[1], " or ");
    cell(row.observed, widths[2]);
    cell(row.control, widths[3]);
    out << row.result << "\n";
    if (row.result == "PASS")
      ++pass;
    else if (row.result == "FAIL")
      ++fail;
    else if (row.result.rfind("SKIP", 0) == 0)
      ++skip;
    else if (row.result.rfind("ACCEPTED", 0) == 0)
      ++accepted;
    else
      ++na;
  }
  out << rule << "\n"
      << pass << " passed, " << fail << " failed, " << skip << " skipped (no host control), " << na
      << " not applicable, " << accepted << " accepted risks (SECURITY.md)\n";
  if (fail > 0) {
    out << "\nFAILED:\n";
    for (const Row& row : rows) {
      if (row.result == "FAIL")
        out << "  " << row.probe << "\n      expected: " << row.expected
            << "\n      observed: " << row.observed << "\n";
    }
  }
  std::cout << out.str() << std::flush;
  std::ofstream("security_probes_table.txt") << out.str();
}

// ---- watching from the host ------------------------------------------------------------------

std::vector<pid_t> FindProcessesByComm(const std::string& comm) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) == 0) continue;
    std::string text = ReadFileText(entry.path().string() + "/comm");
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (text == comm) found.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return found;
}

std::vector<pid_t> FindProcessesByCmdline(const std::string& needle) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) == 0) continue;
    std::string text = ReadFileText(entry.path().string() + "/cmdline");
    std::replace(text.begin(), text.end(), '\0', ' ');
    if (text.find(needle) != std::string::npos)
      found.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return found;
}

std::vector<pid_t> WaitForBeacon(const std::string& comm, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    auto found = FindProcessesByComm(comm);
    if (!found.empty() || steady_clock::now() >= deadline) return found;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

}  // namespace sandboxd::security
