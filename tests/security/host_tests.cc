// Probes that need a view from the host or more than one sandbox: host uids (C4), listening
// sockets (D5), orphans and stopped children at the deadline (E2, E3), a daemon crash (E5), two
// sandboxes side by side (E7), cgroup limits (F5), host-global per-uid budgets (F12), hostile
// events and pickles (G), state across requests (I4), and hostile neighbours (N1).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "suite.h"

namespace sandboxd::security {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TheSuite().setup_error.empty()) GTEST_FAIL() << TheSuite().setup_error;
  }
};

Probe Udf(std::string id, std::string code, std::uint64_t timeout_ms = 60000) {
  return {.id = std::move(id), .title = "", .code = std::move(code), .timeout_ms = timeout_ms};
}

std::future<RunResult> Launch(Probe probe, std::string kargs = "{}", TestDaemon* daemon = nullptr) {
  return std::async(std::launch::async, [probe = std::move(probe), kargs = std::move(kargs),
                                         daemon] { return RunInSandbox(probe, kargs, daemon); });
}

pid_t BeaconPid(const std::string& name, milliseconds timeout = milliseconds(30000)) {
  const auto found = WaitForBeacon(name, timeout);
  return found.empty() ? -1 : found.front();
}

// Lets a UDF that waits in probelib's hold() go on: SIGUSR1 to its thread (a signal to the
// process could go to another thread of it, whose default action is to end the process).
void Release(pid_t udf) {
  if (udf > 0) ::syscall(SYS_tgkill, udf, udf, SIGUSR1);
}

std::string ProcField(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream words(line.substr(key.size() + 1));
      std::string first;
      words >> first;
      return first;
    }
  }
  return "";
}

pid_t ParentOf(pid_t pid) {
  const std::string field = ProcField(pid, "PPid");
  return field.empty() ? -1 : static_cast<pid_t>(std::stol(field));
}

// Waits until no process's command line holds `needle`; true when they are all gone.
bool WaitGone(const std::string& needle, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (FindProcessesByCmdline(needle).empty()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

bool WaitSeen(const std::string& needle, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!FindProcessesByCmdline(needle).empty()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

std::string Marker(const std::string& what) {
  // A `sleep` argument no other process has: sleep accepts fractions.
  static int counter = 0;
  return std::to_string(900000 + ::getpid() % 1000) + "." + std::to_string(++counter) + what;
}

std::string OneOf(const RunResult& run, const std::string& key) {
  auto it = run.observed.find(key);
  return it == run.observed.end() ? "(not observed: " + run.outcome + ")" : it->second;
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string ConnectTcp(const std::string& ip, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  ::close(fd);
  if (rc == 0) return "OK";
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : std::to_string(err);
}

std::string HostKarg(const std::string& key) {
  const auto kargs = nlohmann::json::parse(TheSuite().kargs_json);
  return kargs.at(key).is_string() ? kargs.at(key).get<std::string>() : kargs.at(key).dump();
}

// ---- C4: the host uids sandbox processes run as ---------------------------------------------

TEST_F(HostTest, C4HostUidsAreUnprivileged) {
  Record(
      {"## C4h host view: the host uids of a running sandbox (init and the UDF)", "", "", "", ""});
  auto run = Launch(Udf("C4h", "hold('sbx-c4h')\n"));
  const pid_t udf = BeaconPid("sbx-c4h");
  std::string udf_uid = "(not seen)", init_uid = "(not seen)";
  if (udf > 0) {
    udf_uid = ProcField(udf, "Uid");
    init_uid = ProcField(ParentOf(udf), "Uid");
  }
  Release(udf);
  run.get();
  const std::uint64_t base = TheSuite().daemon->uid_base();
  auto unprivileged = [&](const std::string& uid) {
    return !uid.empty() && uid != "0" && std::isdigit(static_cast<unsigned char>(uid[0])) != 0 &&
           std::stoull(uid) >= base;
  };
  const std::string control = "host: this test runs as uid " + std::to_string(::getuid());
  RecordCheck("C4h the UDF's host uid", ">= uid base " + std::to_string(base), udf_uid,
              unprivileged(udf_uid), control);
  RecordCheck("C4h init's host uid (the sandbox's root)", ">= uid base " + std::to_string(base),
              init_uid, unprivileged(init_uid), control);
}

// ---- D5: a listening socket inside is not reachable from the host -----------------------------

TEST_F(HostTest, D5ListenInsideIsNotReachable) {
  Record({"## D5 listen() inside the sandbox, connect from the host", "", "", "", ""});
  const int port = FreePort();
  auto run = Launch(Udf("D5", R"py(
port = KARGS["port"]
servers = []
for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        s.bind((address, port))
        s.listen(16)
        servers.append(s)
    except OSError:
        pass
obs("listening sockets", len(servers))
hold("sbx-d5")
)py"),
                    "{\"port\": " + std::to_string(port) + "}");
  const pid_t udf = BeaconPid("sbx-d5");
  const bool seen = udf > 0;
  const std::string loopback = seen ? ConnectTcp("127.0.0.1", port) : "(sandbox not seen)";
  const std::string lan = seen ? ConnectTcp(HostKarg("lan_ip"), port) : "(sandbox not seen)";
  Release(udf);
  const RunResult result = run.get();
  // The control: the same port is reachable from the host when the host listens on it.
  std::string control = "host: cannot listen";
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 && ::listen(fd, 4) == 0)
      control = "host: a host listener is reachable: " + ConnectTcp("127.0.0.1", port);
    ::close(fd);
  }
  RecordCheck("D5 the sandbox listened", "2", OneOf(result, "listening sockets"),
              OneOf(result, "listening sockets") == "2");
  RecordCheck("D5 connect 127.0.0.1:<port> from the host", "ECONNREFUSED", loopback,
              loopback == "ECONNREFUSED", control);
  RecordCheck("D5 connect <host LAN address>:<port> from the host", "ECONNREFUSED", lan,
              lan == "ECONNREFUSED", control);
}

// ---- E2, E3: orphans, daemons and stopped children die with the sandbox -----------------------

constexpr const char* kOrphanCode = R"py(
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.execv("/bin/sleep", ["sleep", KARGS["marker"]])
    os._exit(0)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    if any(b"sleep\0" + KARGS["marker"].encode() in open(f"/proc/{p}/cmdline", "rb").read()
           for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}/cmdline")):
        break
    time.sleep(0.05)
hold(KARGS["beacon"])  # until the host has seen the orphan
if KARGS["hang"]:
    time.sleep(1e6)
)py";

void OrphanTest(const std::string& id, bool hang) {
  Record({"## " + id + " double fork, setsid, SIGTERM/SIGHUP ignored, sleep; UDF " +
              (hang ? "hangs to the deadline" : "returns"),
          "", "", "", ""});
  const std::string marker = Marker("");
  Probe probe = Udf(id, kOrphanCode, hang ? 3000 : 60000);
  const std::string beacon = "sbx-" + id;
  auto run =
      Launch(probe, nlohmann::json{{"marker", marker}, {"hang", hang}, {"beacon", beacon}}.dump());
  const bool seen = WaitSeen("sleep " + marker, seconds(30));
  if (seen && !hang) Release(BeaconPid(beacon));  // a hanging UDF ends at its deadline
  const RunResult result = run.get();
  const bool gone = WaitGone("sleep " + marker, seconds(10));
  if (!gone) {
    for (pid_t pid : FindProcessesByCmdline("sleep " + marker)) ::kill(pid, SIGKILL);
  }
  const std::string expected = hang ? "TIMEOUT: .*" : "OK";
  RecordCheck(id + " outcome", expected, result.outcome, Matches(result.outcome, expected));
  RecordCheck(id + " the orphan was alive in the sandbox (control)", "seen",
              seen ? "seen" : "not seen", seen);
  RecordCheck(id + " orphans left on the host afterwards", "none", gone ? "none" : "left behind",
              gone, "host: the same double fork outside a sandbox outlives its parent");
}

TEST_F(HostTest, E2OrphansDieAtTheDeadline) { OrphanTest("E2a", true); }
TEST_F(HostTest, E2OrphansDieWhenTheUdfReturns) { OrphanTest("E2b", false); }

TEST_F(HostTest, E3StoppedChildIsKilledAtTheDeadline) {
  Record({"## E3 a child in SIGSTOP: still killed at the deadline", "", "", "", ""});
  const std::string marker = Marker("");
  auto run = Launch(Udf("E3", R"py(
child = os.fork()
if child == 0:
    os.execv("/bin/sleep", ["sleep", KARGS["marker"]])
# Stop the child only once it is `sleep`, and tell the host only once it is stopped, so the
# control does not depend on how loaded the machine is.
while b"sleep" not in open(f"/proc/{child}/cmdline", "rb").read():
    time.sleep(0.01)
os.kill(child, signal.SIGSTOP)
while open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] != "T":
    time.sleep(0.01)
beacon("sbx-e3")
time.sleep(1e6)
)py",
                        3000),
                    nlohmann::json{{"marker", marker}}.dump());
  std::string state = "(not seen)";
  if (BeaconPid("sbx-e3") > 0) {
    for (pid_t pid : FindProcessesByCmdline("sleep " + marker)) state = ProcField(pid, "State");
  }
  const RunResult result = run.get();
  const bool gone = WaitGone("sleep " + marker, seconds(10));
  RecordCheck("E3 the child's state seen from the host (control)", "T", state, state == "T");
  RecordCheck("E3 outcome", "TIMEOUT: .*", result.outcome, Matches(result.outcome, "TIMEOUT: .*"));
  RecordCheck("E3 the stopped child is gone afterwards", "gone", gone ? "gone" : "left behind",
              gone);
}

// ---- E5: the daemon crashes while a sandbox runs ---------------------------------------------

bool Alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  const std::string state = ProcField(pid, "State");
  return !state.empty() && state != "Z" && state != "X";
}

bool WaitDead(pid_t pid, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Alive(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return true;
}

TEST_F(HostTest, E5DaemonCrashKillsItsSandboxes) {
  Record({"## E5 the daemon is SIGKILLed while a sandbox runs", "", "", "", ""});
  auto daemon = TestDaemon::Start("e5", 1);
  ASSERT_NE(daemon, nullptr) << "a second sandboxd did not start";
  const std::string marker = Marker("");
  auto run = Launch(Udf("E5", R"py(
if os.fork() == 0:
    os.setsid()
    os.execv("/bin/sleep", ["sleep", KARGS["marker"]])
beacon("sbx-e5")
time.sleep(1e6)
)py"),
                    nlohmann::json{{"marker", marker}}.dump(), daemon.get());
  const pid_t udf = BeaconPid("sbx-e5");
  const pid_t init = udf > 0 ? ParentOf(udf) : -1;
  const pid_t launcher = init > 0 ? ParentOf(init) : -1;
  const pid_t helper = launcher > 0 ? ParentOf(launcher) : -1;  // the root helper (issue 10)
  const bool seen =
      udf > 0 && WaitSeen("sleep " + marker, seconds(10)) && ParentOf(helper) == daemon->pid();
  daemon->Crash();
  const RunResult result = run.get();
  const bool launcher_gone = WaitDead(launcher, seconds(10));
  const bool helper_gone = WaitDead(helper, seconds(5));
  const bool init_gone = WaitDead(init, seconds(5));
  const bool udf_gone = WaitDead(udf, seconds(1));
  const bool orphan_gone = WaitGone("sleep " + marker, seconds(1));
  // Whatever is left is killed now, so later tests start clean.
  for (pid_t pid : {udf, init, launcher, helper}) {
    if (Alive(pid)) ::kill(pid, SIGKILL);
  }
  for (pid_t pid : FindProcessesByCmdline("sleep " + marker)) ::kill(pid, SIGKILL);
  RecordCheck("E5 daemon -> root helper -> launcher -> init -> UDF seen before the crash (control)",
              "seen", seen ? "seen" : "not seen", seen);
  RecordCheck("E5 the client's answer", "UNAVAILABLE: .*", result.outcome,
              Matches(result.outcome, "UNAVAILABLE: .*"));
  RecordCheck("E5 the launcher after the crash", "gone", launcher_gone ? "gone" : "alive",
              launcher_gone);
  RecordCheck("E5 the root helper after the crash", "gone", helper_gone ? "gone" : "alive",
              helper_gone);
  RecordCheck("E5 the sandbox's init after the crash", "gone", init_gone ? "gone" : "alive",
              init_gone);
  RecordCheck("E5 the UDF after the crash", "gone", udf_gone ? "gone" : "alive", udf_gone);
  RecordCheck("E5 the UDF's setsid child after the crash", "gone", orphan_gone ? "gone" : "alive",
              orphan_gone);
}

// ---- E7: two sandboxes at once cannot see or touch each other --------------------------------

constexpr const char* kNeighbourCode = R"py(
me, other = KARGS["role"], KARGS["other"]
base = KARGS["marker"]
mine, theirs = f"{base}-{me}", f"{base}-{other}"
libc.shmget.restype = ctypes.c_int
libc.mq_open.restype = ctypes.c_int
for directory in ("/tmp", "/dev/shm"):
    with open(f"{directory}/{mine}", "w") as f:
        f.write(me)
shmid = libc.shmget(KARGS["keys"][me], 4096, 0o1000 | 0o666)
mq = libc.mq_open(f"/{mine}".encode(), os.O_CREAT | os.O_RDWR, 0o666, None)
unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unix.bind("\0" + mine)
unix.listen(4)
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", KARGS["ports"][me]))
tcp.listen(4)
obs("set up", f"shm={shmid >= 0} mq={mq >= 0}")
beacon(f"sbx-e7-{me}")
seen = {}
def look():
    seen.setdefault("/tmp file", os.path.exists(f"/tmp/{theirs}") or None)
    seen.setdefault("/dev/shm file", os.path.exists(f"/dev/shm/{theirs}") or None)
    seen.setdefault("SysV shm segment", libc.shmget(KARGS["keys"][other], 0, 0) >= 0 or None)
    q = libc.mq_open(f"/{theirs}".encode(), os.O_RDONLY, 0, None)
    if q >= 0:
        os.close(q)
    seen.setdefault("POSIX message queue", q >= 0 or None)
    seen.setdefault("abstract socket", connect_unix("\0" + theirs) == "OK" or None)
    seen.setdefault("TCP listener on 127.0.0.1", connect_tcp("127.0.0.1", KARGS["ports"][other], 0.2) == "OK" or None)
    for key in [k for k, v in seen.items() if v is None]:
        del seen[key]
deadline = time.monotonic() + KARGS["window"]
while time.monotonic() < deadline:
    look()
    time.sleep(0.1)
for thing in ["/tmp file", "/dev/shm file", "SysV shm segment", "POSIX message queue",
              "abstract socket", "TCP listener on 127.0.0.1"]:
    obs(f"sees the other's {thing}", "yes" if seen.get(thing) else "no")
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
obs("sees other processes in /proc", "yes" if (others if IN_SANDBOX else True) else "no")
if IN_SANDBOX:
    own = {int(t) for t in os.listdir("/proc/self/task")}  # kill() reaches own threads by tid
    signalled = [p for p in range(2, 4096) if p not in own and sysc("kill", p, 0) == "OK"]
    obs("processes it can signal", " ".join(map(str, signalled)) or "none")
    obs("kill(-1, SIGKILL)", sysc("kill", -1, 9))
for directory in ("/tmp", "/dev/shm"):
    os.unlink(f"{directory}/{mine}")
libc.shmctl(shmid, 0, None)
libc.mq_unlink(f"/{mine}".encode())
)py";

TEST_F(HostTest, E7TwoSandboxesCannotSeeOrTouchEachOther) {
  Record({"## E7 two sandboxes at once: /tmp, /dev/shm, SysV shm, POSIX mq, sockets, signals", "",
          "", "", ""});
  const std::string marker = "sbx-e7-" + std::to_string(::getpid());
  const int pa = FreePort(), pb = pa == 65535 ? pa - 1 : pa + 1;
  const int key_base = 0x5bd00000 + (::getpid() % 4096) * 4;
  auto kargs = [&](const char* me, const char* other, int window) {
    return nlohmann::json{{"role", me},
                          {"other", other},
                          {"marker", marker},
                          {"window", window},
                          {"keys", {{"a", key_base}, {"b", key_base + 1}}},
                          {"ports", {{"a", pa}, {"b", pb}}}}
        .dump();
  };
  // In the sandboxes.
  auto a = Launch(Udf("E7", kNeighbourCode), kargs("a", "b", 6));
  const pid_t pid_a = BeaconPid("sbx-e7-a");
  auto b = Launch(Udf("E7", kNeighbourCode), kargs("b", "a", 4));
  const pid_t pid_b = BeaconPid("sbx-e7-b");
  const bool overlapped = pid_a > 0 && pid_b > 0 && ::kill(pid_a, 0) == 0;
  const std::string uid_a = pid_a > 0 ? ProcField(pid_a, "Uid") : "?";
  const std::string uid_b = pid_b > 0 ? ProcField(pid_b, "Uid") : "?";
  const RunResult ra = a.get(), rb = b.get();
  // On the host: the same two programs see each other.
  Probe host_probe = Udf("E7", kNeighbourCode);
  auto ha =
      std::async(std::launch::async, [&] { return RunOnHost(host_probe, kargs("a", "b", 3)); });
  std::this_thread::sleep_for(milliseconds(300));
  const RunResult hb = RunOnHost(host_probe, kargs("b", "a", 2));
  const RunResult hra = ha.get();

  RecordCheck("E7 both sandboxes ran at the same time (control)", "yes", overlapped ? "yes" : "no",
              overlapped);
  RecordCheck("E7 distinct host uids per sandbox", "distinct", uid_a + " vs " + uid_b,
              uid_a != uid_b && uid_a != "?" && uid_b != "?");
  for (const char* role : {"a", "b"}) {
    const RunResult& run = role[0] == 'a' ? ra : rb;
    const RunResult& host = role[0] == 'a' ? hra : hb;
    RecordCheck(std::string("E7 ") + role + " outcome", "OK", run.outcome, run.outcome == "OK");
    for (const char* thing :
         {"/tmp file", "/dev/shm file", "SysV shm segment", "POSIX message queue",
          "abstract socket", "TCP listener on 127.0.0.1", "other processes in /proc"}) {
      const std::string key = std::string("sees the other's ") + thing;
      const std::string alt = std::string("sees ") + thing;
      const std::string name = run.observed.count(key) ? key : alt;
      const std::string observed = OneOf(run, name);
      const std::string host_value = host.observed.count(name) ? host.observed.at(name) : "?";
      Record({std::string("E7 ") + role + " " + name, "no", observed, "host: " + host_value,
              observed != "no"      ? "FAIL"
              : host_value == "yes" ? "PASS"
                                    : "SKIP: the host run does not show the capability"});
      if (observed != "no") ADD_FAILURE() << "E7 " << role << " " << name << ": " << observed;
    }
    const std::string signalled = OneOf(run, "processes it can signal");
    RecordCheck(std::string("E7 ") + role + " processes it can signal (pids 2..4095)", "none",
                signalled, signalled == "none");
  }
  RecordCheck("E7 a's kill(-1, SIGKILL) while b runs: b's outcome", "OK", rb.outcome,
              rb.outcome == "OK");
}

// ---- F5: the cgroup limits of a running sandbox, read from the host ---------------------------

TEST_F(HostTest, F5CgroupLimitsSeenFromTheHost) {
  Record({"## F5h host view: the cgroup of a running sandbox (memory_mb 256, swap off, pids)", "",
          "", "", ""});
  Probe probe = Udf("F5h", "hold('sbx-f5h')\n");
  probe.memory_mb = 256;
  auto run = Launch(probe);
  const pid_t pid = BeaconPid("sbx-f5h");
  std::map<std::string, std::string> paths;  // controller -> path
  {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    for (std::string line; std::getline(in, line);) {
      const auto first = line.find(':'), second = line.find(':', first + 1);
      if (first == std::string::npos || second == std::string::npos) continue;
      std::istringstream controllers(line.substr(first + 1, second - first - 1));
      for (std::string c; std::getline(controllers, c, ',');)
        paths[c.empty() ? "unified" : c] = line.substr(second + 1);
    }
  }
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::string value;
    if (!(in >> value)) return std::string("(absent)");
    return value;
  };
  std::string memory, swap, pids;
  if (paths.count("memory") != 0) {
    const std::string dir = "/sys/fs/cgroup/memory" + paths["memory"];
    memory = read(dir + "/memory.limit_in_bytes");
    const std::string memsw = read(dir + "/memory.memsw.limit_in_bytes");
    swap = memsw == "(absent)"
               ? "no swap accounting; swappiness " + read(dir + "/memory.swappiness")
               : (memsw == memory ? "memsw = memory (no swap)" : "memsw " + memsw);
    pids = read("/sys/fs/cgroup/pids" + paths["pids"] + "/pids.max");
  } else if (paths.count("unified") != 0) {
    const std::string dir = "/sys/fs/cgroup" + paths["unified"];
    memory = read(dir + "/memory.max");
    swap = "memory.swap.max " + read(dir + "/memory.swap.max");
    pids = read(dir + "/pids.max");
  }
  Release(pid);
  run.get();
  std::string host_swap;
  {
    std::ifstream in("/proc/meminfo");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("SwapTotal:", 0) == 0) host_swap = line.substr(10);
    }
  }
  std::string own_limit = "(unknown)";
  {
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);) {
      const auto at = line.find(":memory:");
      if (at != std::string::npos)
        own_limit = read("/sys/fs/cgroup/memory" + line.substr(at + 8) + "/memory.limit_in_bytes");
    }
  }
  RecordCheck("F5h memory limit", "268435456", memory, memory == "268435456",
              "host: this test's own limit " + own_limit);
  const bool no_swap = swap == "memsw = memory (no swap)" || swap == "memory.swap.max 0" ||
                       (swap.rfind("no swap accounting; swappiness 0", 0) == 0);
  RecordCheck("F5h swap", "none (memsw = memory, swap.max 0, or swappiness 0)", swap, no_swap,
              "host: SwapTotal " + host_swap);
  RecordCheck("F5h pids.max", "256", pids, pids == "256");
}

// ---- F12: host-global per-uid budgets (inotify, mqueue) ---------------------------------------

TEST_F(HostTest, F12HostGlobalBudgetsAreNotShared) {
  Record({"## F12h one sandbox exhausts its inotify and mqueue budgets and holds them", "", "", "",
          ""});
  auto hog = Launch(Udf("F12h", R"py(
held = []
while len(held) < 100000:
    fd = libc.inotify_init1(0)
    if fd < 0:
        break
    held.append(fd)
obs("inotify instances until EMFILE", f"{errname(ctypes.get_errno())} after {len(held)}")
libc.mq_open.restype = ctypes.c_int
queues = 0
while queues < 1000:
    if libc.mq_open(f"/sbx-f12-{queues}".encode(), os.O_CREAT | os.O_RDWR, 0o600, None) < 0:
        break
    queues += 1
obs("message queues until failure", f"{errname(ctypes.get_errno())} after {queues}")
hold("sbx-f12-hog")  # until the host has looked (had it failed, host root was starved meanwhile)
)py"));
  const pid_t hog_pid = BeaconPid("sbx-f12-hog");
  const bool holding = hog_pid > 0;
  // While it holds them: the host's root, another host uid, and a neighbour sandbox.
  std::string root_inotify = "(hog not seen)", nobody_inotify = "(hog not seen)",
              root_mq = "(hog not seen)";
  RunResult neighbour;
  if (holding) {
    const int fd = ::inotify_init1(IN_CLOEXEC);
    root_inotify = fd >= 0 ? "OK" : strerrorname_np(errno);
    if (fd >= 0) ::close(fd);
    const std::string name = "sbx-f12-root-" + std::to_string(::getpid());
    const long q =
        ::syscall(SYS_mq_open, name.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600, nullptr);
    root_mq = q >= 0 ? "OK" : strerrorname_np(errno);
    if (q >= 0) {
      ::close(static_cast<int>(q));
      ::syscall(SYS_mq_unlink, name.c_str());
    }
    int pipe_fds[2];
    if (::pipe(pipe_fds) == 0) {
      const pid_t child = ::fork();
      if (child == 0) {
        if (::setresuid(65534, 65534, 65534) != 0) ::_exit(2);
        const int nfd = ::inotify_init1(IN_CLOEXEC);
        const char result = nfd >= 0 ? 'Y' : 'N';
        (void)::write(pipe_fds[1], &result, 1);
        ::_exit(0);
      }
      ::close(pipe_fds[1]);
      char result = '?';
      (void)::read(pipe_fds[0], &result, 1);
      ::close(pipe_fds[0]);
      ::waitpid(child, nullptr, 0);
      nobody_inotify = result == 'Y' ? "OK" : "EMFILE";
    }
    neighbour = RunInSandbox(Udf("F12h-n", R"py(
fd = libc.inotify_init1(0)
obs("inotify_init1", "OK" if fd >= 0 else errname(ctypes.get_errno()))
libc.mq_open.restype = ctypes.c_int
q = libc.mq_open(b"/sbx-f12-neighbour", os.O_CREAT | os.O_RDWR, 0o600, None)
obs("mq_open", "OK" if q >= 0 else errname(ctypes.get_errno()))
)py"));
  }
  Release(hog_pid);
  const RunResult held = hog.get();
  RecordCheck("F12h the hog's inotify instances (control: a budget exists)", "EMFILE after \\d+",
              OneOf(held, "inotify instances until EMFILE"),
              Matches(OneOf(held, "inotify instances until EMFILE"), "EMFILE after \\d+"));
  RecordCheck(
      "F12h the hog's message queues (control: a budget exists)",
      "(EMFILE|ENOSPC|ENOMEM) after \\d+", OneOf(held, "message queues until failure"),
      Matches(OneOf(held, "message queues until failure"), "(EMFILE|ENOSPC|ENOMEM) after \\d+"));
  const std::string control = "host uid 65534 meanwhile: " + nobody_inotify;
  RecordCheck("F12h host root's inotify_init1 meanwhile", "OK", root_inotify, root_inotify == "OK",
              control);
  RecordCheck("F12h host root's mq_open meanwhile", "OK", root_mq, root_mq == "OK");
  RecordCheck("F12h a neighbour sandbox's inotify_init1 meanwhile", "OK",
              OneOf(neighbour, "inotify_init1"), OneOf(neighbour, "inotify_init1") == "OK");
  RecordCheck("F12h a neighbour sandbox's mq_open meanwhile", "OK", OneOf(neighbour, "mq_open"),
              OneOf(neighbour, "mq_open") == "OK");
}

// ---- G: hostile events, and a pickle for a result ------------------------------------------

bool ValidUtf8(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + static_cast<std::size_t>(n) > text.size()) return false;
    for (int k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]) >> 6) != 2)
        return false;
    }
    i += static_cast<std::size_t>(n);
  }
  return true;
}

TEST_F(HostTest, G1lHostileEventsAreDroppedAndSanitized) {
  Record({"## G1l events: non-JSON, invalid UTF-8, wrong types, a 300 KB line, then a real log", "",
          "", "", ""});
  const RunResult run = RunInSandbox(Udf("G1l", R"py(
for line in [b"not json at all\n", b"\xff\xfe\xfd invalid utf-8\n", b"[1, 2, 3]\n", b'{"kind": 7}\n',
             b'{"kind": "log", "message": "\xff\xfe bad utf-8 inside", "line": -5, "time": "x", "level": 3}\n',
             b'{"kind": "log", "message": "' + b"y" * 300000 + b'"}\n', b"\n\n{{{{\n",
             b'{"kind": "log", "level": "INFO", "logger": "g", "message": "after the garbage"}\n']:
    os.write(6, line)
obs("wrote", "garbage")
)py"));
  bool after = false, utf8 = true;
  std::size_t records = 0;
  if (run.result) {
    for (const auto& log : run.result->logs) {
      ++records;
      after |= log.message == "after the garbage";
      utf8 &= ValidUtf8(log.message) && ValidUtf8(log.logger) && ValidUtf8(log.level);
    }
  }
  RecordCheck("G1l outcome", "OK", run.outcome, run.outcome == "OK");
  RecordCheck("G1l the log record after the garbage is kept", "kept", after ? "kept" : "lost",
              after);
  RecordCheck("G1l every returned log record is valid UTF-8", "valid",
              std::to_string(records) + " records, " + (utf8 ? "valid" : "INVALID"), utf8);
  auto client = ConnectClient();
  const bool serves = client.ok() && SimpleResultOk(client->Execute(SimpleRequest(3)), 3);
  RecordCheck("G1l then a simple request succeeds", "OK", serves ? "OK" : "failed", serves);
}

TEST_F(HostTest, G3APickleIsNeverUnpickled) {
  Record({"## G3 the result is a pickle whose __reduce__ runs a command", "", "", "", ""});
  const std::string pwned = TheSuite().daemon->dir() + "/pwned-by-a-pickle";
  const RunResult run = RunInSandbox(Udf("G3", R"py(
import pickle
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + KARGS["pwned"],))
payload = pickle.dumps(Evil())
os.ftruncate(5, 0)
os.pwrite(5, payload, 0)
os.write(6, json.dumps({"kind": "done", "result_bytes": len(payload)}).encode() + b"\n")
os._exit(0)
)py"),
                                     nlohmann::json{{"pwned", pwned}}.dump());
  RecordCheck("G3 outcome", "SCRIPT_ERROR: .*malformed.*", run.outcome,
              Matches(run.outcome, "SCRIPT_ERROR: .*malformed.*"));
  const bool exists = std::filesystem::exists(pwned);
  RecordCheck("G3 the pickle's command ran on the host", "no", exists ? "yes" : "no", !exists);
}

// ---- I4: nothing crosses from one request to the next (children of one zygote) -------------

constexpr const char* kStateCode = R"py(
import random, tempfile, uuid
import numpy as np
import pandas as pd
marker = KARGS["marker"]
libc.shmget.restype = ctypes.c_int
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
layout = {"heap (id(object()))": id(object()), "libc printf": ctypes.cast(libc.printf, ctypes.c_void_p).value,
          "mmap": libc.mmap(None, 4096, 3, 0x22, -1, 0)}
draws = {"random": random.random(), "numpy.random": float(np.random.rand()), "uuid4": str(uuid.uuid4()),
         "tempfile name": next(tempfile._get_candidate_names())}
obs("draws", json.dumps(draws))
obs("layout", json.dumps(layout))
if KARGS["phase"] == "write":
    for path in (f"/tmp/{marker}", f"/dev/shm/{marker}", f"{os.getcwd()}/{marker}"):
        with open(path, "w") as f:
            f.write("left behind")
    libc.shmget(KARGS["key"], 4096, 0o1000 | 0o666)
    import builtins
    builtins.SBX_LEFT_BEHIND = True
    pd.SBX_LEFT_BEHIND = True
    os.environ["SBX_LEFT_BEHIND"] = "1"
else:
    found = [p for p in (f"/tmp/{marker}", f"/dev/shm/{marker}", f"{os.getcwd()}/{marker}") if os.path.exists(p)]
    if libc.shmget(KARGS["key"], 0, 0) >= 0:
        found.append("SysV shm")
    import builtins
    if hasattr(builtins, "SBX_LEFT_BEHIND"):
        found.append("a module global")
    if hasattr(pd, "SBX_LEFT_BEHIND"):
        found.append("an imported module's attribute")
    if "SBX_LEFT_BEHIND" in os.environ:
        found.append("an environment variable")
    obs("state left by the previous request", ", ".join(found) or "none")
    before = json.loads(KARGS["draws"])
    obs("draws equal to the previous request's", ", ".join(k for k in draws if draws[k] == before[k]) or "none")
    before = json.loads(KARGS["layout"])
    obs("addresses equal to the previous request's", ", ".join(k for k in layout if layout[k] == before[k]) or "none")
    if not IN_SANDBOX:
        for p in found:
            if p.startswith("/"):
                os.unlink(p)
        shmid = libc.shmget(KARGS["key"], 0, 0)
        if shmid >= 0:
            libc.shmctl(shmid, 0, None)
)py";

TEST_F(HostTest, I4NothingCrossesBetweenRequests) {
  Record({"## I4 state left by one request, looked for by the next (two children of one zygote)",
          "", "", "", ""});
  // A daemon of its own, without a warm pool: both requests are forked from one zygote, which
  // the SIGHUP below restarts.
  auto daemon = TestDaemon::Start("i4", 3, {"--warm-sandboxes", "0"});
  ASSERT_NE(daemon, nullptr) << "a sandboxd for I4 did not start";
  const std::string marker = "sbx-i4-" + std::to_string(::getpid());
  const int key = 0x5bd10000 + ::getpid() % 4096;
  auto kargs = [&](const char* phase, const std::string& draws, const std::string& layout) {
    return nlohmann::json{
        {"marker", marker}, {"key", key}, {"phase", phase}, {"draws", draws}, {"layout", layout}}
        .dump();
  };
  const Probe probe = Udf("I4", kStateCode);
  const RunResult first = RunInSandbox(probe, kargs("write", "{}", "{}"), daemon.get());
  const RunResult second = RunInSandbox(
      probe, kargs("read", OneOf(first, "draws"), OneOf(first, "layout")), daemon.get());
  const RunResult host_first = RunOnHost(probe, kargs("write", "{}", "{}"));
  const RunResult host_second =
      RunOnHost(probe, kargs("read", OneOf(host_first, "draws"), OneOf(host_first, "layout")));
  const std::string left = OneOf(second, "state left by the previous request");
  RecordCheck("I4 state left by the previous request", "none", left, left == "none",
              "host: " + OneOf(host_second, "state left by the previous request"));
  const std::string draws = OneOf(second, "draws equal to the previous request's");
  RecordCheck("I4 random, numpy.random, uuid4, tempfile draws equal to the previous request's",
              "none", draws, draws == "none",
              "host: " + OneOf(host_second, "draws equal to the previous request's"));
  // Children of one zygote share its address layout (an accepted risk, SECURITY.md); a restart
  // of the zygote (SIGHUP, or its hourly one) renews it.
  const std::string same = OneOf(second, "addresses equal to the previous request's");
  Record({"I4 addresses equal to the previous request's (one zygote)", "shared: accepted risk",
          same, "host: " + OneOf(host_second, "addresses equal to the previous request's"),
          "ACCEPTED: SECURITY.md"});
  ::kill(daemon->pid(), SIGHUP);
  std::string after_restart;
  // The reload is asynchronous: once a request sees a new layout the zygote was restarted.
  for (int attempt = 0; attempt < 20; ++attempt) {
    const RunResult third = RunInSandbox(
        probe, kargs("read", OneOf(first, "draws"), OneOf(first, "layout")), daemon.get());
    after_restart = OneOf(third, "addresses equal to the previous request's");
    if (after_restart.find("heap") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  RecordCheck("I4 heap address equal to the first request's after SIGHUP restarted the zygote",
              "(no heap)", after_restart, after_restart.find("heap") == std::string::npos,
              "host: " + OneOf(host_second, "addresses equal to the previous request's"));
}

// ---- N1: hostile neighbours and 16 well-behaved requests at once -----------------------------

// A17 on the Linux 6.1 path (no MFD_NOEXEC_SEAL): a daemon told to compile its policy as for a
// kernel without the flag. The suite's own daemon covers the path of this host's kernel.
TEST_F(HostTest, A17OnTheLinux61Path) {
  auto daemon = TestDaemon::Start("k61", 2, {"--memfd-noexec-seal", "off"});
  ASSERT_NE(daemon, nullptr) << "a sandboxd with --memfd-noexec-seal off did not start";
  RunProbe(ExecutableMemoryProbe(false), daemon.get());
}

TEST_F(HostTest, N1HostileNeighboursAndSixteenWellBehavedRequests) {
  Record({"## N1 six hostile sandboxes, then 16 well-behaved requests at once", "", "", "", ""});
  struct Hostile {
    std::string name, code, expected;
    std::uint64_t memory_mb, timeout_ms;
  };
  const std::vector<Hostile> hostile = {
      {"memory bomb", "x = b'\\x01' * (600 << 20)\n", "MEMORY_LIMIT: .*", 256, 60000},
      {"fork bomb", R"py(
children = []
outcome = "no limit up to 400"
for i in range(400):
    try:
        pid = os.fork()
    except OSError as error:
        outcome = f"{errname(error.errno)} after {len(children)} children"
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children.append(pid)
obs("fork", outcome)
time.sleep(2)
)py",
       "OK", 0, 60000},
      {"infinite loop", "while True:\n    pass\n", "TIMEOUT: .*", 0, 8000},
      {"CPU burn (threads and numpy)", R"py(
import threading
def burn():
    while True:
        pass
for _ in range(4):
    threading.Thread(target=burn, daemon=True).start()
a = np.random.rand(500, 500)
while True:
    a = (a @ a) % 1.0
)py",
       "TIMEOUT: .*", 0, 8000},
      {"output flood", "while True:\n    print('x' * 100000)\n", "OUTPUT_LIMIT: .*", 0, 60000},
      {"forbidden syscall (kcmp)", "sysc('kcmp', os.getpid(), os.getpid(), 0, 0, 0)\n",
       "POLICY_VIOLATION: .*\\bkcmp\\b.*", 0, 60000},
  };
  std::vector<std::future<RunResult>> runs;
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    Probe probe =
        Udf("N1-" + std::to_string(i),
            "beacon('sbx-n1-" + std::to_string(i) + "')\ntime.sleep(4)\n" + hostile[i].code,
            hostile[i].timeout_ms);
    probe.memory_mb = hostile[i].memory_mb;
    runs.push_back(Launch(probe));
  }
  // Watched all at once: a hostile sandbox lives a few seconds after its beacon, so waiting for
  // one at a time could miss a later one that started and ended while an earlier one was slow.
  std::vector<std::future<pid_t>> beacons;
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    beacons.push_back(std::async(std::launch::async, [i] {
      return BeaconPid("sbx-n1-" + std::to_string(i), milliseconds(60000));
    }));
  }
  int started = 0;
  for (auto& b : beacons) started += b.get() > 0 ? 1 : 0;
  // Each well-behaved request's outcome: "OK", or what went wrong, printed when it fails.
  std::vector<std::future<std::string>> simple;
  for (int k = 1; k <= 16; ++k) {
    simple.push_back(std::async(std::launch::async, [k]() -> std::string {
      auto client = ConnectClient();
      if (!client.ok()) return "cannot connect: " + client.status().message();
      const ExecuteOutcome outcome = client->Execute(SimpleRequest(k));
      if (!outcome.ok()) return OutcomeText(outcome);
      return SimpleResultOk(outcome, k) ? "OK" : "a result with the wrong values";
    }));
  }
  int ok = 0;
  for (int k = 1; k <= 16; ++k) {
    const std::string outcome = simple[static_cast<std::size_t>(k - 1)].get();
    if (outcome == "OK") {
      ++ok;
    } else {
      RecordCheck("N1 well-behaved request " + std::to_string(k), "OK", outcome, false);
    }
  }
  RecordCheck("N1 hostile sandboxes running when the 16 start (control)",
              std::to_string(hostile.size()), std::to_string(started),
              started == static_cast<int>(hostile.size()));
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    const RunResult run = runs[i].get();
    RecordCheck("N1 " + hostile[i].name, hostile[i].expected, run.outcome,
                Matches(run.outcome, hostile[i].expected));
    if (hostile[i].name == "fork bomb") {
      RecordCheck("N1 fork bomb: fork", "EAGAIN after \\d+ children", OneOf(run, "fork"),
                  Matches(OneOf(run, "fork"), "EAGAIN after \\d+ children"));
    }
  }
  RecordCheck("N1 well-behaved requests that succeeded", "16", std::to_string(ok), ok == 16);
  RecordCheck("N1 the daemon is alive", "alive", TheSuite().daemon->alive() ? "alive" : "dead",
              TheSuite().daemon->alive());
}

}  // namespace
}  // namespace sandboxd::security
