// Groups D (network), E (processes, signals, lifecycle) and I (Python-specific). The probes that
// need two sandboxes or a view from the host are in host_tests.cc.
#include "suite.h"

namespace sandboxd::security {

std::vector<Probe> ProcessProbes() {
  std::vector<Probe> probes;

  probes.push_back({
      .id = "D1",
      .title = "TCP/UDP to a public address, cloud metadata, the host's LAN address",
      .code = R"py(
obs("TCP 1.1.1.1:443", connect_tcp("1.1.1.1", 443))
obs("TCP 169.254.169.254:80 (cloud metadata)", connect_tcp("169.254.169.254", 80))
obs("TCP host LAN address:22", connect_tcp(KARGS["lan_ip"], 22))
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"x", ("8.8.8.8", 53))
    finally:
        s.close()
obs("UDP 8.8.8.8:53", attempt(udp))
obs("TCP [2001:4860:4860::8888]:443", connect_tcp("2001:4860:4860::8888", 443, family=socket.AF_INET6))
# if_nameindex() needs AF_NETLINK, which the policy refuses; /proc/net/dev lists the netns's.
obs("network interfaces", " ".join(sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:])))
obs("TCP 127.0.0.1 (own loopback, nothing listening)", connect_tcp("127.0.0.1", 9))
)py",
      .checks = {{"TCP 1.1.1.1:443", "ENETUNREACH"},
                 {"TCP 169.254.169.254:80 (cloud metadata)", "ENETUNREACH"},
                 {"TCP host LAN address:22", "ENETUNREACH"},
                 {"UDP 8.8.8.8:53", "ENETUNREACH"},
                 {"TCP [2001:4860:4860::8888]:443", "ENETUNREACH|EADDRNOTAVAIL"},
                 {"network interfaces", "lo"},
                 {"TCP 127.0.0.1 (own loopback, nothing listening)", "ECONNREFUSED",
                  "=ECONNREFUSED|OK"}},
  });

  probes.push_back({
      .id = "D2",
      .title = "DNS: getaddrinfo fails, no resolver reachable",
      .code = R"py(
start = time.monotonic()
try:
    socket.getaddrinfo("example.com", 443)
    outcome = "resolved"
except socket.gaierror as error:
    outcome = "EAI error"
obs("getaddrinfo(example.com)", f"{outcome} after {time.monotonic() - start:.2f} s")
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"x", (KARGS["nameserver"], 53))
    finally:
        s.close()
obs("UDP to the host's resolver", attempt(udp))
)py",
      .checks = {{"getaddrinfo(example.com)", "EAI error after .*"},
                 {"UDP to the host's resolver", "ENETUNREACH"}},
  });

  probes.push_back({
      .id = "D3",
      .title = "abstract AF_UNIX sockets of the host (containerd-shim class)",
      .code = R"py(
obs("connect @<an abstract socket the host listens on>", connect_unix("\0" + KARGS["abstract_name"]))
obs("connect @/tmp/.X11-unix/X0", connect_unix("\0/tmp/.X11-unix/X0"))
obs("connect @/containerd-shim/sandboxd.sock", connect_unix("\0/containerd-shim/sandboxd.sock"))
)py",
      .checks = {{"connect @<an abstract socket the host listens on>", "ECONNREFUSED"},
                 {"connect @/tmp/.X11-unix/X0", "ECONNREFUSED"},
                 {"connect @/containerd-shim/sandboxd.sock", "ECONNREFUSED"}},
  });

  probes.push_back({
      .id = "D4",
      .title = "socket families: packet, netlink, vsock, alg, bluetooth, raw IP",
      .code = R"py(
def sock(family, kind, proto=0):
    return attempt(lambda: socket.socket(family, kind, proto).close())
obs("AF_PACKET", sock(17, socket.SOCK_RAW, 0))
obs("AF_NETLINK (route)", sock(16, socket.SOCK_RAW, 0))
obs("AF_VSOCK", sock(40, socket.SOCK_STREAM))
obs("AF_ALG", sock(38, socket.SOCK_SEQPACKET))
obs("AF_BLUETOOTH", sock(31, socket.SOCK_RAW, 1))
obs("AF_KEY", sock(15, socket.SOCK_RAW, 2))
obs("AF_INET SOCK_RAW (ICMP)", sock(2, socket.SOCK_RAW, 1))
obs("AF_INET6 SOCK_RAW (ICMPv6)", sock(10, socket.SOCK_RAW, 58))
obs("AF_UNIX", sock(1, socket.SOCK_STREAM))
obs("AF_INET SOCK_STREAM", sock(2, socket.SOCK_STREAM))
)py",
      .checks = {{"AF_PACKET", "EAFNOSUPPORT"},
                 {"AF_NETLINK (route)", "EAFNOSUPPORT"},
                 {"AF_VSOCK", "EAFNOSUPPORT"},
                 {"AF_ALG", "EAFNOSUPPORT"},
                 {"AF_BLUETOOTH", "EAFNOSUPPORT"},
                 {"AF_KEY", "EAFNOSUPPORT"},
                 // Raw IP is refused by the policy (A21) before the kernel's CAP_NET_RAW check.
                 {"AF_INET SOCK_RAW (ICMP)", "EAFNOSUPPORT"},
                 {"AF_INET6 SOCK_RAW (ICMPv6)", "EAFNOSUPPORT"},
                 {"AF_UNIX", "OK", "=OK"},
                 {"AF_INET SOCK_STREAM", "OK", "=OK"}},
  });

  probes.push_back({
      .id = "D6",
      .title = "network through io_uring (IORING_OP_SOCKET/CONNECT)",
      .code = R"py(
params = ctypes.create_string_buffer(120)
obs("io_uring_setup (no ring, no IORING_OP_SOCKET)", sysc("io_uring_setup", 8, params))
)py",
      .checks = {{"io_uring_setup (no ring, no IORING_OP_SOCKET)", "ENOSYS|EPERM"}},
  });

  probes.push_back({
      .id = "E1",
      .title = "signals outside the sandbox: kill(daemon), kill(-1), kill(init)",
      .code = R"py(
obs("kill(daemon pid, 0)", sysc("kill", KARGS["daemon_pid"], 0))
obs("kill(-1, 0): any process to signal", sysc("kill", -1, 0))
if IN_SANDBOX:
    obs("kill(1, SIGKILL) (init)", sysc("kill", 1, 9))
)py",
      .checks = {{"kill(daemon pid, 0)", "ESRCH"},
                 {"kill(-1, 0): any process to signal", "ESRCH"},
                 {"kill(1, SIGKILL) (init)", "EPERM", "-it would kill the host's init"}},
  });

  probes.push_back({
      .id = "E4a",
      .title = "os.abort(): reported as a signal",
      .code = "os.abort()\n",
      .outcome = "SCRIPT_ERROR: .*SIGABRT.*",
  });

  probes.push_back({
      .id = "E4b",
      .title = "SIGTERM to itself: reported as a signal",
      .code = "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(5)\n",
      .outcome = "SCRIPT_ERROR: .*SIGTERM.*",
  });

  probes.push_back({
      .id = "E4c",
      .title = "200 zombies and orphaned zombies: init reaps, the run succeeds",
      .code = R"py(
for _ in range(200):
    if os.fork() == 0:
        os._exit(0)
child = os.fork()
if child == 0:
    for _ in range(50):
        if os.fork() == 0:
            os._exit(0)
    os._exit(0)
os.waitpid(child, 0)
def zombies(exclude_parent):
    count = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) != exclude_parent:
            count += 1
    return count
# Up to 10 s: on a loaded machine init may not run for a while (the loop ends at the first 0).
for _ in range(200):
    if zombies(os.getpid()) == 0:
        break
    time.sleep(0.05)
obs("orphaned zombies left (init reaps them)", zombies(os.getpid()))
obs("own unreaped zombies", "many" if zombies(-1) >= 150 else zombies(-1))
)py",
      .checks = {{"orphaned zombies left (init reaps them)", "0", "-the host reaps orphans too"},
                 {"own unreaped zombies", "many", "=many"}},
  });

  probes.push_back({
      .id = "E6a",
      .title = "segfault with a large RSS: SIGSEGV reported",
      .code = R"py(
big = b"\x01" * (100 << 20)
ctypes.string_at(0)
)py",
      .outcome = "SCRIPT_ERROR: .*SIGSEGV.*",
  });

  probes.push_back({
      .id = "E6b",
      .title = "no core dumps: RLIMIT_CORE",
      .code = R"py(
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
obs("RLIMIT_CORE soft/hard", f"{soft}/{hard}")
obs("raise RLIMIT_CORE", attempt(lambda: resource.setrlimit(resource.RLIMIT_CORE, (1 << 20, 1 << 20))))
)py",
      .checks = {{"RLIMIT_CORE soft/hard", "0/0"}, {"raise RLIMIT_CORE", "ValueError: .*|EPERM"}},
  });

  probes.push_back({
      .id = "I2",
      .title = "multiprocessing.Pool, concurrent.futures, shared_memory",
      .code = R"py(
import concurrent.futures
import multiprocessing
import multiprocessing.shared_memory
def square(x):
    return x * x
def pool():
    with multiprocessing.Pool(4) as p:
        return "OK" if p.map(square, range(16)) == [x * x for x in range(16)] else "wrong"
obs("multiprocessing.Pool(4).map", attempt(pool))
def processes():
    with concurrent.futures.ProcessPoolExecutor(2) as ex:
        return "OK" if list(ex.map(square, range(8))) == [x * x for x in range(8)] else "wrong"
obs("ProcessPoolExecutor(2)", attempt(processes))
def threads():
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        return "OK" if list(ex.map(square, range(8))) == [x * x for x in range(8)] else "wrong"
obs("ThreadPoolExecutor(4)", attempt(threads))
def shm():
    block = multiprocessing.shared_memory.SharedMemory(create=True, size=1 << 20)
    block.buf[0] = 7
    block.close()
    block.unlink()
obs("shared_memory (1 MiB in /dev/shm)", attempt(shm))
)py",
      .checks = {{"multiprocessing.Pool(4).map", "OK", "=OK"},
                 {"ProcessPoolExecutor(2)", "OK", "=OK"},
                 {"ThreadPoolExecutor(4)", "OK", "=OK"},
                 {"shared_memory (1 MiB in /dev/shm)", "OK", "=OK"}},
  });

  probes.push_back({
      .id = "I3",
      .title = "code from writable folders: .py imports yes, native .so no (noexec)",
      .code = R"py(
import glob
import shutil
mods = SCRATCH + "/mods"
os.makedirs(mods, exist_ok=True)
with open(mods + "/sbx_probe_mod.py", "w") as f:
    f.write("VALUE = 42\n")
sys.path.insert(0, mods)
def load_py():
    import sbx_probe_mod
    return "OK" if sbx_probe_mod.VALUE == 42 else "wrong"
obs("import a .py module from /tmp", attempt(load_py))
libm = sorted(glob.glob("/lib/x86_64-linux-gnu/libm.so.6") + glob.glob("/usr/lib/x86_64-linux-gnu/libm.so.6"))[0]
shutil.copy(libm, mods + "/libsbxprobe.so")
def load_so():
    ctypes.CDLL(mods + "/libsbxprobe.so")
    return "OK"
obs("ctypes.CDLL(a .so copied to /tmp)", attempt(load_so))
)py",
      .checks = {{"import a .py module from /tmp", "OK", "=OK"},
                 {"ctypes.CDLL(a .so copied to /tmp)",
                  "OSError: .*(failed to map|not permitted).*"}},
  });

  return probes;
}

}  // namespace sandboxd::security
