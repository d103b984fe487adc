// Group F (resource exhaustion: each ends with a typed status while the daemon carries on) and
// group G (the daemon reads sandbox output: hostile result tables and events). Host controls of F
// run a bounded version of the same workload, showing the limit is the sandbox's, not the host's.
#include "suite.h"

namespace sandboxd::security {
namespace {

// Helpers of the G probes: a UDF that writes its own result table (SBXT, proto/TABLE_FORMAT.md)
// to fd 5 and its own events to fd 6, then leaves without the runner's help.
constexpr const char* kHostileWriter = R"py(
def sbxt(columns, rows, total=None, column_count=None):
    """SBXT bytes; columns are (name, type code, values bytes, data bytes or None)."""
    header = 32 + 64 * len(columns)
    blobs = bytearray()
    def put(data):
        offset = header + len(blobs)
        blobs.extend(data)
        blobs.extend(b"\0" * (-len(blobs) % 8))
        return offset
    entries = []
    for name, code, values, data in columns:
        name_offset = put(name.encode())
        values_offset = put(values)
        data_offset = put(data) if data else 0
        entries.append(struct.pack("<QIB3xQQQQQQ", name_offset, len(name.encode()), code, 0, 0,
                                   values_offset, len(values), data_offset, len(data or b"")))
    size = header + len(blobs)
    head = struct.pack("<8sQIIQ", b"SBXTBL01", rows,
                       len(columns) if column_count is None else column_count, 0,
                       size if total is None else total)
    return head + b"".join(entries) + bytes(blobs)
def text_column(name, cells):
    offsets, data = [0], b""
    for cell in cells:
        data += cell
        offsets.append(len(data))
    return (name, 6, struct.pack(f"<{len(offsets)}Q", *offsets), data)
def observation_table(check=b"g", observed=b"ok"):
    return sbxt([text_column("check", [check]), text_column("observed", [observed])], 1)
def deliver(buffer, done=True, size=None):
    os.ftruncate(5, 0)
    os.pwrite(5, buffer, 0)
    if size is not None:
        os.ftruncate(5, size)
    if done:
        os.write(6, json.dumps({"kind": "done", "result_bytes": len(buffer)}).encode() + b"\n")
    os._exit(0)
)py";

Probe Hostile(std::string id, std::string title, std::string code, std::string outcome) {
  return {
      .id = std::move(id),
      .title = std::move(title),
      .code = std::string(kHostileWriter) + code,
      .outcome = std::move(outcome),
      .no_host = "the result and event channels exist only in a sandbox",
      .then_serves = true,
  };
}

}  // namespace

std::vector<Probe> LimitProbes() {
  std::vector<Probe> probes;
  const std::string no_deadline = "the host has no deadline: its run would never end";

  probes.push_back({
      .id = "F1",
      .title = "while True: pass",
      .code = "while True:\n    pass\n",
      .outcome = "TIMEOUT: .*",
      .no_host = no_deadline,
      .timeout_ms = 2000,
      .then_serves = true,
  });
  probes.push_back({
      .id = "F2a",
      .title = "block forever in time.sleep",
      .code = "time.sleep(1e6)\n",
      .outcome = "TIMEOUT: .*",
      .no_host = no_deadline,
      .timeout_ms = 2000,
  });
  probes.push_back({
      .id = "F2b",
      .title = "block forever in read() of a pipe nobody writes",
      .code = "r, w = os.pipe()\nos.read(r, 1)\n",
      .outcome = "TIMEOUT: .*",
      .no_host = no_deadline,
      .timeout_ms = 2000,
  });
  probes.push_back({
      .id = "F3",
      .title = "multithreaded CPU burn (numpy matmul and Python threads)",
      .code = R"py(
import threading
def burn():
    while True:
        pass
for _ in range(4):
    threading.Thread(target=burn, daemon=True).start()
a = np.random.rand(600, 600)
while True:
    a = (a @ a) % 1.0
)py",
      .outcome = "TIMEOUT: .*",
      .no_host = no_deadline,
      .timeout_ms = 3000,
      .then_serves = true,
  });
  probes.push_back({
      .id = "F4a",
      .title = "memory bomb: bytearray(64 GiB)",
      .code = "x = bytearray(64 << 30)\nx[::4096] = b'\\x01' * len(range(0, 64 << 30, 4096))\n",
      .outcome = "(MEMORY_LIMIT: .*|SCRIPT_ERROR: MemoryError.*)",
      .no_host = "64 GiB is more than the host has",
      .memory_mb = 256,
      .timeout_ms = 30000,
      .then_serves = true,
  });
  probes.push_back({
      .id = "F4b",
      .title = "memory bomb: 400 MiB touched at once, memory_mb 256",
      .code = "x = b'\\x01' * (400 << 20)\nobs('allocated', len(x) >> 20)\n",
      .outcome = "MEMORY_LIMIT: .*",
      .memory_mb = 256,
      .timeout_ms = 30000,
      .then_serves = true,
  });
  probes.push_back({
      .id = "F5",
      .title = "gradual growth: 1 MiB list appends, memory_mb 256",
      .code = R"py(
grow = []
for i in range(400):
    grow.append(bytes([i % 251]) * (1 << 20))
obs("grew to MiB", len(grow))
)py",
      .outcome = "MEMORY_LIMIT: .*",
      .memory_mb = 256,
      .timeout_ms = 30000,
      .then_serves = true,
  });
  probes.push_back({
      .id = "F6",
      .title = "fill /tmp and /dev/shm (tmpfs size limits)",
      .code = R"py(
def fill(directory, cap_mib):
    chunk = b"\x01" * (1 << 20)
    path = os.path.join(directory, f"sbx-fill-{os.getpid()}")
    written = 0
    try:
        with open(path, "wb", buffering=0) as f:
            while written < cap_mib:
                f.write(chunk)
                written += 1
        return f"no limit up to {cap_mib} MiB"
    except OSError as error:
        return f"{errname(error.errno)} at {written} MiB"
    finally:
        if os.path.exists(path):
            os.unlink(path)
obs("fill /tmp", fill("/tmp" if IN_SANDBOX else SCRATCH, 320))
obs("fill /dev/shm", fill("/dev/shm", 96))
)py",
      .checks = {{"fill /tmp", "(ENOSPC|EFBIG) at \\d+ MiB"},
                 {"fill /dev/shm", "(ENOSPC|EFBIG) at \\d+ MiB"}},
  });
  probes.push_back({
      .id = "F6w",
      .title = "fill the work folder, then fail on it",
      .code = R"py(
chunk = b"\x01" * (1 << 20)
for i in range(1000):
    with open(f"fill-{i}", "wb") as f:
        f.write(chunk)
)py",
      .outcome = "OUTPUT_LIMIT: .*",
      .no_host = "the work folder exists only in a sandbox",
      .then_serves = true,
  });
  probes.push_back({
      .id = "F7",
      .title = "mmap(MAP_NORESERVE) 64 GiB, then touch 400 MiB, memory_mb 256",
      .code = R"py(
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
address = libc.mmap(None, 64 << 30, 3, 0x22 | 0x4000, -1, 0)  # RW, PRIVATE|ANONYMOUS|NORESERVE
obs("mmap", "OK" if address not in (None, ctypes.c_void_p(-1).value) else errname(ctypes.get_errno()))
for i in range(400):
    ctypes.memset(address + (i << 20), 1, 1 << 20)
obs("touched MiB", 400)
)py",
      .outcome = "MEMORY_LIMIT: .*",
      .memory_mb = 256,
      .timeout_ms = 30000,
      .then_serves = true,
  });
  probes.push_back({
      .id = "F8",
      .title = "fork bomb: EAGAIN at pids.max, then the UDF carries on",
      .code = R"py(
children = []
outcome = "no limit up to 300"
for i in range(300):
    try:
        pid = os.fork()
    except OSError as error:
        outcome = f"{errname(error.errno)} after {len(children)} children"
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
obs("fork loop", outcome)
)py",
      .checks = {{"fork loop", "EAGAIN after \\d+ children"}},
      .timeout_ms = 60000,
  });
  probes.push_back({
      .id = "F9",
      .title = "thread bomb: EAGAIN at pids.max (threads count)",
      .code = R"py(
import threading
threading.stack_size(64 << 10)
stop = threading.Event()
threads = []
outcome = "no limit up to 300"
for i in range(300):
    t = threading.Thread(target=stop.wait)
    try:
        t.start()
    except RuntimeError as error:
        outcome = f"RuntimeError ({error}) after {len(threads)} threads"
        break
    threads.append(t)
stop.set()
for t in threads:
    t.join()
obs("thread loop", outcome)
)py",
      .checks = {{"thread loop", "RuntimeError \\(can't start new thread\\) after \\d+ threads"}},
  });
  probes.push_back({
      .id = "F10",
      .title = "descriptor exhaustion: open() and socketpair() loops",
      .code = R"py(
import resource
obs("raise RLIMIT_NOFILE to 4096", attempt(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))))
def exhaust(make, cap):
    held = []
    try:
        while len(held) < cap:
            held.extend(make())
        return f"no limit up to {cap}"
    except OSError as error:
        return f"{errname(error.errno)} after {len(held)}"
    finally:
        for fd in held:
            os.close(fd)
obs("open(/dev/null) loop", exhaust(lambda: [os.open("/dev/null", os.O_RDONLY)], 2000))
obs("socketpair loop", exhaust(lambda: [s.detach() for s in socket.socketpair()], 2000))
)py",
      .checks = {{"raise RLIMIT_NOFILE to 4096", "ValueError: .*|EPERM"},
                 {"open(/dev/null) loop", "EMFILE after \\d+"},
                 {"socketpair loop", "EMFILE after \\d+"}},
  });
  probes.push_back({
      .id = "F11",
      .title = "inode exhaustion: empty files in /tmp",
      .code = R"py(
directory = ("/tmp" if IN_SANDBOX else SCRATCH) + "/inodes"
os.makedirs(directory, exist_ok=True)
count, outcome = 0, "no limit up to 20000"
try:
    while count < 20000:
        os.close(os.open(f"{directory}/{count}", os.O_CREAT | os.O_WRONLY, 0o600))
        count += 1
except OSError as error:
    outcome = f"{errname(error.errno)} after {count} files"
obs("create empty files", outcome)
)py",
      .checks = {{"create empty files", "ENOSPC after \\d+ files"}},
  });
  probes.push_back({
      .id = "F12",
      .title = "IPC inside the sandbox's own IPC namespace: SysV shm and POSIX mq",
      .code = R"py(
libc.shmget.restype = ctypes.c_int
ids, outcome = [], "no limit up to 5000"
for i in range(5000):
    shmid = libc.shmget(0, 4096, 0o1000 | 0o600)  # IPC_PRIVATE, IPC_CREAT
    if shmid < 0:
        outcome = f"{errname(ctypes.get_errno())} after {len(ids)} segments"
        break
    ids.append(shmid)
for shmid in ids:
    libc.shmctl(shmid, 0, None)  # IPC_RMID
obs("shmget loop", outcome)
libc.mq_open.restype = ctypes.c_int
queues, outcome = [], "no limit up to 300"
for i in range(300):
    name = f"/sbx-probe-{os.getpid()}-{i}".encode()
    q = libc.mq_open(name, os.O_CREAT | os.O_RDWR, 0o600, None)
    if q < 0:
        outcome = f"{errname(ctypes.get_errno())} after {len(queues)} queues"
        break
    queues.append(name)
for name in queues:
    libc.mq_unlink(name)
obs("mq_open loop", outcome)
)py",
      .checks = {{"shmget loop", "(ENOSPC|ENOMEM) after \\d+ segments"},
                 {"mq_open loop", "(EMFILE|ENOSPC|ENOMEM) after \\d+ queues"}},
      .no_host = "it would fill the host's own IPC namespace; F12h checks the host-global "
                 "budgets",
  });
  probes.push_back({
      .id = "F13a",
      .title = "output flood on stdout",
      .code = "while True:\n    print('x' * 1000000)\n",
      .outcome = "OUTPUT_LIMIT: .*",
      .no_host = "the log cap is the daemon's",
      .then_serves = true,
  });
  probes.push_back({
      .id = "F13b",
      .title = "output flood on stderr",
      .code = "while True:\n    sys.stderr.write('x' * 1000000)\n",
      .outcome = "OUTPUT_LIMIT: .*",
      .no_host = "the log cap is the daemon's",
      .then_serves = true,
  });
  probes.push_back({
      .id = "F13c",
      .title = "log flood written straight to the events pipe (past the runner's caps)",
      .code = R"py(
line = json.dumps({"kind": "log", "level": "INFO", "logger": "flood", "message": "x" * 60000}).encode() + b"\n"
while True:
    os.write(6, line)
)py",
      .outcome = "OUTPUT_LIMIT: .*",
      .no_host = "the log cap is the daemon's",
      .then_serves = true,
  });
  probes.push_back({
      .id = "F14a",
      .title = "result bomb: 2e6 rows, max_result_bytes 1 MiB",
      .code = "result = pd.DataFrame({'check': ['x'] * 2000000, 'observed': ['y'] * 2000000})\n",
      .outcome = "OUTPUT_LIMIT: .*",
      .no_host = "the result cap is the daemon's",
      .own_result = true,
      .max_result_bytes = 1 << 20,
      .then_serves = true,
  });
  probes.push_back({
      .id = "F14b",
      .title = "result bomb: one 50 MB string, max_result_bytes 1 MiB",
      .code = "result = pd.DataFrame({'check': ['x' * (50 << 20)], 'observed': ['y']})\n",
      .outcome = "OUTPUT_LIMIT: .*",
      .no_host = "the result cap is the daemon's",
      .own_result = true,
      .max_result_bytes = 1 << 20,
      .then_serves = true,
  });
  probes.push_back({
      .id = "F14c",
      .title = "result bomb: a dynamic value nested 100000 deep",
      .code = R"py(
deep = []
for _ in range(100000):
    deep = [deep]
result = pd.DataFrame({"d": [deep]})
)py",
      .outcome = "(SCHEMA_MISMATCH|OUTPUT_LIMIT|SCRIPT_ERROR): .*",
      .no_host = "the result channel exists only in a sandbox",
      .schema = "typeof(d:dynamic)",
      .then_serves = true,
  });

  // ---- G: the sandbox is the attacker of the daemon's readers -------------------------------
  probes.push_back(Hostile("G0", "control: a hand-written valid result table is accepted",
                           "deliver(observation_table())\n", "OK"));
  probes.push_back(Hostile("G1a", "result: garbage bytes", "deliver(b'\\xff' * 4096)\n",
                           "SCRIPT_ERROR: .*malformed.*"));
  probes.push_back(Hostile("G1b", "result: header claims 1 TiB",
                           "t = observation_table()\n"
                           "deliver(t[:24] + struct.pack('<Q', 1 << 40) + t[32:])\n",
                           "SCRIPT_ERROR: .*malformed.*"));
  probes.push_back(Hostile("G1c", "result: row count 2^62 over tiny columns",
                           "t = observation_table()\n"
                           "deliver(t[:8] + struct.pack('<Q', 1 << 62) + t[16:])\n",
                           "SCRIPT_ERROR: .*malformed.*"));
  probes.push_back(Hostile("G1d", "result: 2^31 columns announced",
                           "deliver(observation_table()[:16] + struct.pack('<I', 1 << 31) + "
                           "observation_table()[20:])\n",
                           "SCRIPT_ERROR: .*malformed.*"));
  probes.push_back(Hostile("G1e", "result: a values offset far past the end",
                           "t = bytearray(observation_table())\n"
                           "t[32 + 32:32 + 40] = struct.pack('<Q', 1 << 60)\n"
                           "deliver(bytes(t))\n",
                           "SCRIPT_ERROR: .*malformed.*"));
  probes.push_back(Hostile("G1f", "result: string offsets that decrease",
                           "c = ('check', 6, struct.pack('<QQ', 8, 0), b'abcdefgh')\n"
                           "deliver(sbxt([c, text_column('observed', [b'x'])], 1))\n",
                           "SCRIPT_ERROR: .*malformed.*"));
  probes.push_back(Hostile("G1g", "result: invalid UTF-8 in a string cell",
                           "deliver(observation_table(observed=b'\\xff\\xfe\\xc0\\x80'))\n",
                           "SCRIPT_ERROR: .*malformed.*"));
  probes.push_back(Hostile("G1h", "result: a 10 MiB memfd, max_result_bytes 1 MiB",
                           "deliver(observation_table(), size=10 << 20)\n", "OUTPUT_LIMIT: .*"));
  probes.back().max_result_bytes = 1 << 20;
  probes.push_back(Hostile("G1i", "result: a valid table of other types than the schema",
                           "deliver(sbxt([('check', 3, struct.pack('<q', 1), None), "
                           "('observed', 3, struct.pack('<q', 2), None)], 1))\n",
                           "SCHEMA_MISMATCH: .*"));
  probes.push_back(Hostile("G1j", "result: 'done' with an empty result memfd",
                           "os.ftruncate(5, 0)\n"
                           "os.write(6, b'{\"kind\":\"done\",\"result_bytes\":4096}\\n')\n"
                           "os._exit(0)\n",
                           "SCRIPT_ERROR: .*malformed.*"));
  probes.push_back(
      Hostile("G1k", "result: a dynamic cell of 1 MB nested brackets",
              "depth = 500000\n"
              "cell = b'[' * depth + b']' * depth\n"
              "deliver(sbxt([('d', 10, struct.pack('<QQ', 0, len(cell)), cell)], 1))\n",
              "OK|(SCRIPT_ERROR|OUTPUT_LIMIT): .*"));
  probes.back().schema = "typeof(d:dynamic)";
  probes.push_back(Hostile("G1m", "events: a forged final 'error' event before the runner's own",
                           "os.write(6, json.dumps({'kind': 'error', 'code': 'BAD_REQUEST', "
                           "'message': 'forged by the sandbox'}).encode() + b'\\n')\n"
                           "obs('x', 'y')\n",
                           "SCRIPT_ERROR: forged by the sandbox"));
  probes.push_back(Hostile("G4a", "slow-loris: the events pipe at 1 byte per second, never closed",
                           "while True:\n"
                           "    os.write(6, b'{')\n"
                           "    time.sleep(1)\n",
                           "TIMEOUT: .*"));
  probes.back().timeout_ms = 2500;
  probes.push_back(Hostile("G4b",
                           "slow-loris: a child keeps stdout and the events pipe open, 1 byte/s",
                           "if os.fork() == 0:\n"
                           "    os.setsid()\n"
                           "    while True:\n"
                           "        os.write(1, b'.')\n"
                           "        os.write(6, b' ')\n"
                           "        time.sleep(1)\n"
                           "obs('parent', 'done')\n",
                           "OK"));
  return probes;
}

}  // namespace sandboxd::security
