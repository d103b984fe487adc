// Groups B (filesystem isolation, host secrets) and C (/proc, identity, information leaks).
#include "suite.h"

namespace sandboxd::security {

std::vector<Probe> FilesystemProbes() {
  std::vector<Probe> probes;

  probes.push_back({
      .id = "B1",
      .title = "host secrets: shadow, /root, credentials, the daemon's files",
      .code = R"py(
def read(path):
    if os.path.isdir(path):
        os.listdir(path)
    else:
        with open(path, "rb") as f:
            f.read(1)
obs("read /etc/shadow", attempt(lambda: read("/etc/shadow")))
def same_as_host():
    st = os.stat("/etc/shadow")
    return "yes" if [st.st_dev, st.st_ino] == KARGS["host_shadow"] else "no"
obs("/etc/shadow is the host's file", attempt(same_as_host))
obs("list /root", attempt(lambda: read("/root")))
home = os.path.expanduser("~")
obs("~/.aws, ~/.ssh, /root/.ssh", ", ".join(attempt(lambda p=p: read(p)) for p in (home + "/.aws", home + "/.ssh", "/root/.ssh")))
obs("/var/run/secrets/kubernetes.io", attempt(lambda: read("/var/run/secrets/kubernetes.io")))
obs("the daemon's config file", attempt(lambda: read(KARGS["daemon_config"])))
obs("a secret beside the daemon's config", attempt(lambda: read(KARGS["secret_file"])))
obs("the image store", attempt(lambda: read(KARGS["images_dir"])))
obs("the source tree", attempt(lambda: read(KARGS["source_dir"] + "/CMakeLists.txt")))
obs("/proc/<parent>/root/etc", attempt(lambda: read(f"/proc/{os.getppid()}/root/etc")))
)py",
      .checks = {{"read /etc/shadow", "EACCES|ENOENT"},
                 {"/etc/shadow is the host's file", "no|ENOENT"},
                 {"list /root", "EACCES|ENOENT"},
                 {"~/.aws, ~/.ssh, /root/.ssh", "(ENOENT|EACCES)(, (ENOENT|EACCES))*"},
                 {"/var/run/secrets/kubernetes.io", "ENOENT"},
                 {"the daemon's config file", "ENOENT"},
                 {"a secret beside the daemon's config", "ENOENT"},
                 {"the image store", "ENOENT"},
                 {"the source tree", "ENOENT"},
                 {"/proc/<parent>/root/etc", "EACCES|ENOENT"}},
  });

  probes.push_back({
      .id = "B2",
      .title = "control sockets: docker, containerd, sandboxd",
      .code = R"py(
for path in ["/run/docker.sock", "/var/run/docker.sock", "/run/containerd/containerd.sock",
             "/run/sandboxd/sandboxd.sock"]:
    obs(f"connect {path}", connect_unix(path))
obs("connect the test daemon's socket", connect_unix(KARGS["daemon_socket"]))
)py",
      .checks = {{"connect /run/docker.sock", "ENOENT"},
                 {"connect /var/run/docker.sock", "ENOENT"},
                 {"connect /run/containerd/containerd.sock", "ENOENT"},
                 {"connect /run/sandboxd/sandboxd.sock", "ENOENT"},
                 {"connect the test daemon's socket", "ENOENT"}},
  });

  probes.push_back({
      .id = "B3",
      .title = "writes to the image, the runner, the interpreter, /proc/self/exe",
      .code = R"py(
def create(directory):
    path = os.path.join(directory, f".sbx-probe-{os.getpid()}")
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.unlink(path)
obs("create a file in /usr", attempt(lambda: create("/usr")))
obs("create a file in /etc", attempt(lambda: create("/etc")))
obs("create a file in site-packages", attempt(lambda: create("/usr/lib/python3/dist-packages")))
if IN_SANDBOX:
    obs("create a file in /sandbox/runtime", attempt(lambda: create("/sandbox/runtime")))
def read_only(path):
    return "yes" if os.statvfs(path).f_flag & os.ST_RDONLY else "no"
obs("/ is mounted read-only", read_only("/"))
obs("the runner's folder is mounted read-only", read_only("/sandbox/runtime" if IN_SANDBOX else KARGS["runtime_dir"]))
obs("open the interpreter for writing", attempt(lambda: open_for_write(os.path.realpath(sys.executable))))
obs("open /proc/self/exe for writing", attempt(lambda: open_for_write("/proc/self/exe")))
obs("create a file in /tmp", attempt(lambda: create("/tmp")))
)py",
      .checks = {{"create a file in /usr", "EROFS"},
                 {"create a file in /etc", "EROFS"},
                 {"create a file in site-packages", "EROFS"},
                 {"create a file in /sandbox/runtime", "EROFS",
                  "-the host's copy is the source tree; not written"},
                 {"/ is mounted read-only", "yes"},
                 {"the runner's folder is mounted read-only", "yes"},
                 // Root-owned files: the uid check (EACCES) comes before the mount's EROFS.
                 {"open the interpreter for writing", "EROFS|EACCES|ETXTBSY"},
                 {"open /proc/self/exe for writing", "EROFS|EACCES|ETXTBSY"},
                 {"create a file in /tmp", "OK", "=OK"}},
  });

  probes.push_back({
      .id = "B4",
      .title = "remount rw, bind mounts, unmount to reveal what is underneath",
      .code = R"py(
a, b = SCRATCH + "/b4a", SCRATCH + "/b4b"
os.makedirs(a, exist_ok=True)
os.makedirs(b, exist_ok=True)
MS_REMOUNT, MS_BIND, MNT_DETACH = 32, 4096, 2
obs("mount tmpfs", sysc("mount", "tmpfs", a, "tmpfs", 0, "size=1m"))
obs("mount --bind", sysc("mount", "/tmp" if IN_SANDBOX else a, b, None, MS_BIND, None))
obs("remount / read-write", sysc("mount", None, "/" if IN_SANDBOX else b, None, MS_REMOUNT | MS_BIND, None))
obs("umount2(/proc/kallsyms mask, MNT_DETACH)", sysc("umount2", "/proc/kallsyms" if IN_SANDBOX else b, MNT_DETACH))
obs("umount2(/dev/null bind, MNT_DETACH)", sysc("umount2", "/dev/null" if IN_SANDBOX else a, MNT_DETACH))
)py",
      .checks = {{"mount tmpfs", "EPERM"},
                 {"mount --bind", "EPERM"},
                 {"remount / read-write", "EPERM"},
                 {"umount2(/proc/kallsyms mask, MNT_DETACH)", "EPERM"},
                 {"umount2(/dev/null bind, MNT_DETACH)", "EPERM"}},
  });

  probes.push_back({
      .id = "B5",
      .title = "escape through cwd or an inherited directory descriptor",
      .code = R"py(
if not IN_SANDBOX:
    leaked = os.open("/", os.O_RDONLY)  # the control: a leaked host directory descriptor
obs("cwd", os.readlink("/proc/self/cwd"))
obs("root", os.readlink("/proc/self/root"))
found = []
for name in os.listdir("/proc/self/fd"):
    fd = int(name)
    try:
        if not os.path.isdir(f"/proc/self/fd/{fd}"):
            continue
        up = os.open("../../../../..", os.O_RDONLY, dir_fd=fd)
        found.append(f"fd {fd}: ../../../../.. = {os.readlink(f'/proc/self/fd/{up}')}")
        os.close(up)
    except OSError:
        continue
obs("inherited directory descriptors", "; ".join(found) or "none")
)py",
      .checks = {{"cwd", "/sandbox/work"},
                 {"root", "/", "-the host's root is / too"},
                 {"inherited directory descriptors", "none"}},
  });

  probes.push_back({
      .id = "B6",
      .title = "classic chroot escape: chroot(x); chdir(../..); chroot(.)",
      .code = R"py(
def escape():
    jail = SCRATCH + "/jail"
    os.makedirs(jail, exist_ok=True)
    os.chroot(jail)
    for _ in range(64):
        os.chdir("..")
    os.chroot(".")
    return "ESCAPED" if os.path.isdir(SCRATCH) else "contained"
obs("chroot escape", in_child(escape))
)py",
      .checks = {{"chroot escape", "EPERM"}},
  });

  probes.push_back({
      .id = "B7",
      .title = "setuid binaries in the image give no privilege",
      .code = R"py(
import subprocess
setuid = [p for p in ["/usr/bin/su", "/usr/bin/passwd", "/usr/bin/mount", "/usr/bin/newgrp", "/usr/bin/chsh"]
          if os.path.exists(p) and os.stat(p).st_mode & 0o4000]
obs("setuid-root binaries present", len(setuid))
obs("/ mounted nosuid", "yes" if os.statvfs("/").f_flag & os.ST_NOSUID else "no")
def run_su():
    if os.getuid() == 0:  # the host control runs as nobody, like the UDF runs unprivileged
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    p = subprocess.Popen(["/usr/bin/su"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Until the child is su (exec'd; setuid took effect or not) or has ended, 10 s at most.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = [l.split()[1] for l in open(f"/proc/{p.pid}/status") if l.startswith("State:")]
            if state == ["Z"] or open(f"/proc/{p.pid}/cmdline", "rb").read().startswith(b"/usr/bin/su\0"):
                break
            time.sleep(0.01)
        uids = [l.split()[1:] for l in open(f"/proc/{p.pid}/status") if l.startswith("Uid:")][0]
        return f"euid {uids[1]}"
    finally:
        p.kill()
        p.wait()
obs("exec su: its effective uid", in_child(run_su))
)py",
      .checks = {{"setuid-root binaries present", "\\d+", "-informational"},
                 {"/ mounted nosuid", "yes"},
                 {"exec su: its effective uid", "euid 1000"}},
  });

  probes.push_back({
      .id = "B8",
      .title = "/dev: only null, zero, full, random, urandom and a private shm; mknod",
      .code = R"py(
import stat
obs("/dev entries", " ".join(sorted(os.listdir("/dev"))))
for dev in ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/sda", "/dev/vda", "/dev/kmsg", "/dev/fuse",
            "/dev/tty", "/dev/console", "/dev/ptmx", "/dev/net/tun", "/dev/userfaultfd"]:
    obs(dev, attempt(lambda: os.stat(dev) and None))
node = SCRATCH + "/mem"
obs("mknod c 1:1 (/dev/mem)", attempt(lambda: os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(1, 1))))
if os.path.exists(node):
    os.unlink(node)
obs("mkfifo", attempt(lambda: os.mkfifo(SCRATCH + "/fifo")))
)py",
      .checks = {{"/dev entries", "fd full null random shm stderr stdin stdout urandom zero"},
                 {"/dev/mem", "ENOENT"},
                 {"/dev/kmem", "ENOENT"},
                 {"/dev/port", "ENOENT"},
                 {"/dev/sda", "ENOENT"},
                 {"/dev/vda", "ENOENT"},
                 {"/dev/kmsg", "ENOENT"},
                 {"/dev/fuse", "ENOENT"},
                 {"/dev/tty", "ENOENT"},
                 {"/dev/console", "ENOENT"},
                 {"/dev/ptmx", "ENOENT"},
                 {"/dev/net/tun", "ENOENT"},
                 {"/dev/userfaultfd", "ENOENT"},
                 {"mknod c 1:1 (/dev/mem)", "EPERM"},
                 {"mkfifo", "OK", "=OK"}},
  });

  probes.push_back({
      .id = "B9",
      .title = "/sys: absent, nothing writable",
      .code = R"py(
obs("/sys entries", attempt(lambda: len(os.listdir("/sys"))))
for path in ["/sys/kernel", "/sys/fs/cgroup", "/sys/class/net", "/sys/kernel/uevent_helper", "/sys/firmware"]:
    obs(path, attempt(lambda: os.stat(path) and None))
)py",
      .checks = {{"/sys entries", "0|ENOENT"},
                 {"/sys/kernel", "ENOENT"},
                 {"/sys/fs/cgroup", "ENOENT"},
                 {"/sys/class/net", "ENOENT"},
                 {"/sys/kernel/uevent_helper", "ENOENT"},
                 {"/sys/firmware", "ENOENT"}},
  });

  probes.push_back({
      .id = "B10",
      .title = "the sandbox's own cgroup: join a parent, raise memory.max, release_agent",
      .code = R"py(
paths = sorted({line.split(":", 2)[2] for line in open("/proc/self/cgroup").read().splitlines()})
obs("/proc/self/cgroup paths", " ".join(paths))
def writable():
    for path in ["/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/memory/cgroup.procs",
                 "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                 "/sys/fs/cgroup/memory/release_agent"]:
        if os.path.exists(path):
            open_for_write(path)
            return "writable: " + path
    raise FileNotFoundError(errno.ENOENT, "no cgroup file")
obs("open a cgroup control file for writing", attempt(writable))
os.makedirs(SCRATCH + "/cg", exist_ok=True)
r = sysc("mount", "none", SCRATCH + "/cg", "cgroup2", 1, None)
obs("mount cgroup2", r)
if r == "OK":
    sysc("umount2", SCRATCH + "/cg", 2)
)py",
      .checks = {{"/proc/self/cgroup paths", "/"},
                 {"open a cgroup control file for writing", "ENOENT|EACCES|EROFS"},
                 {"mount cgroup2", "EPERM"}},
  });

  probes.push_back({
      .id = "B12",
      .title = "grow the result memfd to a sparse 1 TiB",
      .code = R"py(
fd = 5 if IN_SANDBOX else os.memfd_create("probe-result", 0)
obs("ftruncate(result memfd, 1 TiB)", attempt(lambda: os.ftruncate(fd, 1 << 40)))
)py",
      .checks = {{"ftruncate(result memfd, 1 TiB)", "EFBIG"}},
  });

  probes.push_back({
      .id = "C1",
      .title = "/proc: other processes, init's environ, maps, cmdline",
      .code = R"py(
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
obs("visible processes", len(pids))
parent = os.getppid()  # in a sandbox: init, pid 1
obs("the parent's environ", attempt(lambda: open(f"/proc/{parent}/environ", "rb").read() and None))
obs("the parent's maps", attempt(lambda: open(f"/proc/{parent}/maps").read() and None))
obs("the parent's exe", attempt(lambda: os.readlink(f"/proc/{parent}/exe") and None))
cmdline = open("/proc/1/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
obs("/proc/1/cmdline names a host pid", "yes: " + cmdline.strip() if str(KARGS["daemon_pid"]) in cmdline.split() else "no")
)py",
      .checks = {{"visible processes", "2"},
                 {"the parent's environ", "EACCES"},
                 {"the parent's maps", "EACCES"},
                 {"the parent's exe", "EACCES"},
                 {"/proc/1/cmdline names a host pid", "no",
                  "-only the sandbox has the launcher as pid 1"}},
  });

  probes.push_back({
      .id = "C2",
      .title = "environment: the allow-list only, no daemon secrets or injection",
      .code = R"py(
obs("environment keys", " ".join(sorted(os.environ)))
obs("daemon secrets", ", ".join(k for k in ("SANDBOXD_PROBE_SECRET", "AWS_SECRET_ACCESS_KEY") if k in os.environ) or "absent")
obs("injection variables", ", ".join(k for k in os.environ if k.startswith(("LD_", "PYTHON")) and k != "PYTHONDONTWRITEBYTECODE") or "none")
)py",
      .checks =
          {{"environment keys",
            "HOME LANG LC_ALL MPLBACKEND OMP_NUM_THREADS PATH PYTHONDONTWRITEBYTECODE TMPDIR"},
           {"daemon secrets", "absent"},
           {"injection variables", "none"}},
  });

  probes.push_back({
      .id = "C3",
      .title = "capabilities, no_new_privs and seccomp in /proc/self/status",
      .code = R"py(
fields = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"]:
    obs(key, fields[key].strip())
)py",
      .checks = {{"CapInh", "0000000000000000", "-root's is empty too"},
                 {"CapPrm", "0000000000000000"},
                 {"CapEff", "0000000000000000"},
                 {"CapBnd", "0000000000000000"},
                 {"CapAmb", "0000000000000000", "-root's is empty too"},
                 {"NoNewPrivs", "1"},
                 {"Seccomp", "2"}},
  });

  probes.push_back({
      .id = "C4",
      .title = "identity: uid, groups, uid_map/gid_map outside ids",
      .code = R"py(
obs("uid/gid", f"{os.getuid()}/{os.getgid()}")
obs("supplementary groups", sorted(os.getgroups()))
def maps_zero():
    found = []
    for path in ["/proc/self/uid_map", "/proc/self/gid_map", "/proc/1/uid_map", "/proc/1/gid_map"]:
        for line in open(path).read().splitlines():
            inside, outside, count = line.split()
            if outside == "0":
                found.append(f"{path}: {inside} -> host 0")
    return "; ".join(found) or "no"
obs("an id map names outside id 0", attempt(maps_zero))
)py",
      .checks = {{"uid/gid", "1000/1000"},
                 {"supplementary groups", "\\[\\]", "-root has none here either"},
                 {"an id map names outside id 0", "no"}},
  });

  probes.push_back({
      .id = "C5",
      .title = "writes to core_pattern, sysrq-trigger, /proc/sys",
      .code = R"py(
for path in ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/proc/sys/kernel/hostname",
             "/proc/sys/vm/drop_caches", "/proc/sys/kernel/modprobe"]:
    obs(f"open {path} for writing", masked_or(path, open_for_write))
)py",
      .checks = {{"open /proc/sys/kernel/core_pattern for writing",
                  "EACCES|EROFS|EPERM|MASKED|ENOENT"},
                 {"open /proc/sysrq-trigger for writing", "EACCES|EROFS|EPERM|MASKED|ENOENT"},
                 {"open /proc/sys/kernel/hostname for writing", "EACCES|EROFS|EPERM|MASKED|ENOENT"},
                 {"open /proc/sys/vm/drop_caches for writing", "EACCES|EROFS|EPERM|MASKED|ENOENT"},
                 {"open /proc/sys/kernel/modprobe for writing",
                  "EACCES|EROFS|EPERM|MASKED|ENOENT"}},
  });

  probes.push_back({
      .id = "C6",
      .title = "kernel information: kcore, kallsyms, sched_debug, timer_list, mountinfo",
      .code = R"py(
def kallsyms(path):
    with open(path) as f:
        lines = [f.readline() for _ in range(200)]
    addresses = [int(l.split()[0], 16) for l in lines if l.strip()]
    if not addresses:
        return "EMPTY"
    return "ZEROED" if not any(addresses) else "LEAKS ADDRESSES"
obs("/proc/kallsyms", masked_or("/proc/kallsyms", kallsyms))
def readable(path):
    if path.endswith("kmsg"):
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))  # reading would consume the log
        return "READABLE"
    with open(path, "rb") as f:
        return "READABLE" if f.read(64) else "EMPTY"
for path in ["/proc/kcore", "/proc/sched_debug", "/proc/timer_list", "/proc/keys", "/proc/key-users",
             "/proc/vmallocinfo", "/proc/slabinfo", "/proc/kmsg", "/proc/latency_stats"]:
    obs(path, masked_or(path, readable))
roots = set()
for line in open("/proc/self/mountinfo"):
    root = line.split()[3]
    if root != "/" and root.count("/") > 1:
        roots.add(root)
allowed = (KARGS["images_dir"], KARGS["runtime_dir"])
obs("mountinfo: host paths besides the image and the runner", " ".join(sorted(r for r in roots if not r.startswith(allowed))) or "none")
obs("mountinfo: host paths shown (documented)", " ".join(sorted(roots)) or "none")
)py",
      .checks = {{"/proc/kallsyms", "ENOENT|MASKED|ZEROED|EMPTY|EACCES"},
                 {"/proc/kcore", "ENOENT|MASKED|EMPTY|EACCES|EPERM"},
                 {"/proc/sched_debug", "ENOENT|MASKED|EMPTY|EACCES|EPERM"},
                 {"/proc/timer_list", "ENOENT|MASKED|EMPTY|EACCES|EPERM"},
                 {"/proc/keys", "ENOENT|MASKED|EMPTY|EACCES|EPERM"},
                 {"/proc/key-users", "ENOENT|MASKED|EMPTY|EACCES|EPERM"},
                 {"/proc/vmallocinfo", "ENOENT|MASKED|EMPTY|EACCES|EPERM"},
                 {"/proc/slabinfo", "ENOENT|MASKED|EMPTY|EACCES|EPERM"},
                 {"/proc/kmsg", "ENOENT|MASKED|EMPTY|EACCES|EPERM"},
                 {"/proc/latency_stats", "ENOENT|MASKED|EMPTY|EACCES|EPERM"},
                 {"mountinfo: host paths besides the image and the runner", "none",
                  "-the host's mounts are its own"},
                 {"mountinfo: host paths shown (documented)", ".*", "-informational"}},
  });

  probes.push_back({
      .id = "C7",
      .title = "host name: uname, /etc/hostname, /etc/hosts, /etc/resolv.conf",
      .code = R"py(
import re
obs("uname nodename", os.uname().nodename)
obs("domainname", open("/proc/sys/kernel/domainname").read().strip())
host = KARGS["host_hostname"]
for path in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/mailname"]:
    def names_host(path=path):
        text = open(path).read()
        return "yes" if re.search(r"(?<![\w.-])" + re.escape(host) + r"(?![\w-])", text) else "no"
    obs(f"{path} names the host", attempt(names_host))
if IN_SANDBOX:
    obs("sethostname", sysc(170, "x", 1))
)py",
      .checks = {{"uname nodename", "sandbox"},
                 {"domainname", "sandbox"},
                 {"/etc/hostname names the host", "no|ENOENT"},
                 {"/etc/hosts names the host", "no|ENOENT"},
                 {"/etc/resolv.conf names the host", "no|ENOENT"},
                 {"/etc/mailname names the host", "no|ENOENT"},
                 {"sethostname", "EPERM", "-it would rename the host"}},
  });

  probes.push_back({
      .id = "C8",
      .title = "open descriptors: exactly the documented ones",
      .code = R"py(
def describe(fd):
    target = os.readlink(f"/proc/self/fd/{fd}")
    if target.startswith("pipe:"):
        return "pipe"
    if target.startswith("/memfd:"):
        return "memfd:" + target[7:].split(" ")[0]
    return target
listed = sorted(int(f) for f in os.listdir("/proc/self/fd"))
items = []
for fd in listed:
    try:
        items.append(f"{fd}:{describe(fd)}")
    except OSError:
        pass  # the descriptor listdir itself used
obs("open descriptors (3 and 4 closed by the runner)", " ".join(items))
obs("init's descriptors (/proc/1/fd)", attempt(lambda: os.listdir("/proc/1/fd") and None))
)py",
      .checks = {{"open descriptors (3 and 4 closed by the runner)",
                  "0:/dev/null 1:pipe 2:pipe 5:memfd:sandboxd-result 6:pipe"},
                 {"init's descriptors (/proc/1/fd)", "EACCES"}},
  });

  probes.push_back({
      .id = "C9",
      .title = "kernel log: syslog(2), /dev/kmsg, /proc/kmsg",
      .code = R"py(
buf = ctypes.create_string_buffer(4096)
obs("syslog(READ_ALL)", sysc("syslog", 3, buf, 4096))
obs("syslog(SIZE_BUFFER)", sysc("syslog", 10, None, 0))
obs("open /dev/kmsg", attempt(lambda: os.close(os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK))))
obs("open /proc/kmsg", masked_or("/proc/kmsg", lambda p: os.close(os.open(p, os.O_RDONLY | os.O_NONBLOCK))))
)py",
      .checks = {{"syslog(READ_ALL)", "EPERM"},
                 {"syslog(SIZE_BUFFER)", "EPERM"},
                 {"open /dev/kmsg", "ENOENT"},
                 {"open /proc/kmsg", "MASKED|ENOENT|EACCES|EPERM"}},
      .violation = "syslog",
  });

  return probes;
}

}  // namespace sandboxd::security
