// Group A of SECURITY_PROBES.md: kernel attack surface, every call made through ctypes (so group
// I1, "ctypes reaches each denied syscall", is these probes plus the sweep at the end).
#include "suite.h"

namespace sandboxd::security {

// A17 (revised): anonymous executable memory is allowed, since libffi closures (ctypes
// callbacks, threadpoolctl in scikit-learn's KMeans) and JITs need it and a UDF is arbitrary code
// anyway; what costs nothing stays: nothing on a writable mount executes, and where the kernel
// has MFD_NOEXEC_SEAL a memfd must be sealed non-executable. Where it lacks the flag (6.1), plain
// memfds are allowed, and exec of one keeps the filter, the namespaces and the limits (A18).
Probe ExecutableMemoryProbe(bool memfd_noexec_seal) {
  Probe probe{
      .id = memfd_noexec_seal ? "A17" : "A17-6.1",
      .title =
          memfd_noexec_seal
              ? "executable memory and fileless exec (kernel with MFD_NOEXEC_SEAL)"
              : "executable memory and fileless exec (policy for Linux 6.1: no MFD_NOEXEC_SEAL)",
      .code = R"py(
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
MAP_FAILED = ctypes.c_void_p(-1).value
def mm(prot, flags=0x22, fd=-1):
    ctypes.set_errno(0)
    address = libc.mmap(None, 4096, prot, flags, fd, 0)
    return "OK" if address not in (None, MAP_FAILED) else errname(ctypes.get_errno())
obs("mmap(anonymous, RWX)", mm(7))
obs("mmap(anonymous, R|X)", mm(5))
obs("mprotect(anonymous RW -> RX)", attempt(lambda: machine_code(b"\xc3") and None))
# A ctypes callback called from C: libffi builds a closure in anonymous executable memory.
def qsort_with_a_python_comparator():
    values = (ctypes.c_int * 6)(5, 3, 9, 1, 7, 2)
    CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
    libc.qsort(values, len(values), ctypes.sizeof(ctypes.c_int), CMP(lambda a, b: a[0] - b[0]))
    return " ".join(map(str, values))
obs("ctypes callback from C (qsort)", attempt(qsort_with_a_python_comparator))
def kmeans():
    import numpy as np
    from sklearn.cluster import KMeans
    X = np.concatenate([np.random.RandomState(0).normal(c, 0.1, size=(30, 2)) for c in (0, 5, 10)])
    model = KMeans(3, n_init=10, random_state=0).fit(X)
    return f"{len(set(model.labels_))} clusters"
obs("scikit-learn KMeans(3, n_init=10).fit", attempt(kmeans))
def kbins():
    import numpy as np
    from sklearn.preprocessing import KBinsDiscretizer
    X = np.arange(40, dtype=float).reshape(-1, 1)
    bins = KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="kmeans").fit_transform(X)
    return f"{len(set(bins.ravel()))} bins"
obs("scikit-learn KBinsDiscretizer(strategy='kmeans')", attempt(kbins))
with open(SCRATCH + "/code.bin", "wb") as f:
    f.write(b"\xc3" * 4096)
fd = os.open(SCRATCH + "/code.bin", os.O_RDONLY)
obs("mmap(file in /tmp, R|X) (writable mounts are noexec)", mm(5, 0x02, fd))
os.close(fd)
true = open("/bin/true", "rb").read()
def make_memfd(flags):
    try:
        fd = os.memfd_create("probe", flags)
    except OSError as error:
        return None, errname(error.errno)
    os.write(fd, true)
    return fd, "OK"
exec_memfd, state = make_memfd(0)
obs("memfd_create(executable)", state)
sealed_memfd, state = make_memfd(0x8)
obs("memfd_create(MFD_NOEXEC_SEAL)", state)
memfd = exec_memfd if exec_memfd is not None else sealed_memfd
def executed(text):
    return "EXECUTED" if text == "EXIT(0)" else text
argv = (ctypes.c_char_p * 2)(b"true", None)
envp = (ctypes.c_char_p * 1)(None)
obs("execveat(memfd, AT_EMPTY_PATH)", executed(in_child(lambda: sysc("execveat", memfd, "", argv, envp, AT_EMPTY_PATH))))
obs("execve(/proc/self/fd/<memfd>)", executed(in_child(lambda: os.execv(f"/proc/self/fd/{memfd}", ["true"]))))
with open(SCRATCH + "/true", "wb") as f:
    f.write(true)
os.chmod(SCRATCH + "/true", 0o755)
obs("execve(a copy of /bin/true in /tmp)", executed(in_child(lambda: os.execv(SCRATCH + "/true", ["true"]))))
)py",
  };
  probe.checks = {
      {"mmap(anonymous, RWX)", "OK", "=OK"},
      {"mmap(anonymous, R|X)", "OK", "=OK"},
      {"mprotect(anonymous RW -> RX)", "OK", "=OK"},
      {"ctypes callback from C (qsort)", "1 2 3 5 7 9", "=1 2 3 5 7 9"},
      {"scikit-learn KMeans(3, n_init=10).fit", "3 clusters", "=3 clusters"},
      {"scikit-learn KBinsDiscretizer(strategy='kmeans')", "4 bins", "=4 bins"},
      {"mmap(file in /tmp, R|X) (writable mounts are noexec)", "EPERM"},
      {"execveat(memfd, AT_EMPTY_PATH)", "EPERM"},
      {"execve(a copy of /bin/true in /tmp)", "EACCES"},
  };
  if (memfd_noexec_seal) {
    probe.checks.push_back({"memfd_create(executable)", "EPERM"});
    probe.checks.push_back({"memfd_create(MFD_NOEXEC_SEAL)", "OK", "=OK"});
    // The only memfd a sandbox can make is sealed non-executable.
    probe.checks.push_back({"execve(/proc/self/fd/<memfd>)", "EACCES|EPERM"});
  } else {
    // No flag to require: a plain memfd is allowed, and exec of it is no boundary (its program
    // runs under this filter, in these namespaces, within these limits: A18).
    probe.checks.push_back({"memfd_create(executable)", "OK", "=OK"});
    probe.checks.push_back({"execve(/proc/self/fd/<memfd>)", "EXECUTED", "=EXECUTED"});
  }
  return probe;
}

std::vector<Probe> KernelProbes() {
  std::vector<Probe> probes;

  probes.push_back({
      .id = "A1",
      .title = "ptrace: PTRACE_TRACEME, PTRACE_ATTACH/SEIZE",
      .code = R"py(
obs("PTRACE_TRACEME", in_child(lambda: sysc("ptrace", 0, 0, 0, 0)))
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
second = os.fork()
if second == 0:
    time.sleep(60)
    os._exit(0)
obs("PTRACE_ATTACH to a child", sysc("ptrace", 16, child, 0, 0))
obs("PTRACE_SEIZE a child", sysc("ptrace", 0x4206, second, 0, 0))
if IN_SANDBOX:
    obs("PTRACE_ATTACH to getppid() (init)", sysc("ptrace", 16, os.getppid(), 0, 0))
for pid in (child, second):
    os.kill(pid, signal.SIGKILL)
    while True:
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            break
)py",
      .checks = {{"PTRACE_TRACEME", "EPERM"},
                 {"PTRACE_ATTACH to a child", "EPERM"},
                 {"PTRACE_SEIZE a child", "EPERM"},
                 {"PTRACE_ATTACH to getppid() (init)", "EPERM",
                  "-on the host the parent is the test itself"}},
      .violation = "ptrace",
  });

  probes.push_back({
      .id = "A2",
      .title = "process_vm_readv/writev, pidfd_getfd on another process",
      .code = R"py(
class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(b"probe", 64)
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
local = IOVec(ctypes.addressof(buf), 64)
remote = IOVec(ctypes.addressof(buf), 64)
obs("process_vm_readv(child)", sysc("process_vm_readv", child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
obs("process_vm_writev(child)", sysc("process_vm_writev", child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
pidfd, err = raw("pidfd_open", child, 0)
obs("pidfd_open(child)", "OK" if pidfd >= 0 else errname(err))
obs("pidfd_getfd(child, 0)", sysc("pidfd_getfd", pidfd, 0, 0))
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)
)py",
      .checks = {{"process_vm_readv(child)", "EPERM"},
                 {"process_vm_writev(child)", "EPERM"},
                 {"pidfd_open(child)", "OK", "=OK"},
                 {"pidfd_getfd(child, 0)", "EPERM"}},
      .violation = "process_vm_readv|process_vm_writev|pidfd_getfd",
  });

  probes.push_back({
      .id = "A3",
      .title = "userfaultfd(2) and /dev/userfaultfd",
      .code = R"py(
obs("userfaultfd(0)", sysc("userfaultfd", 0))
obs("userfaultfd(UFFD_USER_MODE_ONLY)", sysc("userfaultfd", 1))
obs("open /dev/userfaultfd", attempt(lambda: os.close(os.open("/dev/userfaultfd", os.O_RDWR))))
)py",
      .checks = {{"userfaultfd(0)", "EPERM"},
                 {"userfaultfd(UFFD_USER_MODE_ONLY)", "EPERM"},
                 {"open /dev/userfaultfd", "ENOENT"}},
      .violation = "userfaultfd",
  });

  probes.push_back({
      .id = "A4",
      .title = "io_uring_setup/enter/register",
      .code = R"py(
params = ctypes.create_string_buffer(120)
obs("io_uring_setup(8)", sysc("io_uring_setup", 8, params))
obs("io_uring_enter(-1)", sysc("io_uring_enter", -1, 1, 0, 0, None, 0))
obs("io_uring_register(-1)", sysc("io_uring_register", -1, 0, None, 0))
)py",
      .checks = {{"io_uring_setup(8)", "ENOSYS|EPERM"},
                 {"io_uring_enter(-1)", "ENOSYS|EPERM"},
                 {"io_uring_register(-1)", "ENOSYS|EPERM"}},
  });

  probes.push_back({
      .id = "A5",
      .title = "bpf(BPF_MAP_CREATE), bpf(BPF_PROG_LOAD)",
      .code = R"py(
attr = ctypes.create_string_buffer(struct.pack("<IIII", 2, 4, 4, 1), 72)  # ARRAY, 4, 4, 1 entry
obs("bpf(BPF_MAP_CREATE)", sysc("bpf", 0, attr, 72))
insns = ctypes.create_string_buffer(bytes.fromhex("b700000000000000" "9500000000000000"))
license = ctypes.create_string_buffer(b"GPL")
prog = ctypes.create_string_buffer(struct.pack("<IIQQ", 1, 2, ctypes.addressof(insns), ctypes.addressof(license)), 128)
obs("bpf(BPF_PROG_LOAD socket filter)", sysc("bpf", 5, prog, 128))
)py",
      .checks = {{"bpf(BPF_MAP_CREATE)", "EPERM"}, {"bpf(BPF_PROG_LOAD socket filter)", "EPERM"}},
      .violation = "bpf",
  });

  probes.push_back({
      .id = "A6",
      .title = "perf_event_open (software and hardware events)",
      .code = R"py(
def perf(kind, config):
    attr = ctypes.create_string_buffer(struct.pack("<IIQ", kind, 128, config), 128)
    return sysc("perf_event_open", attr, 0, -1, -1, 0)
obs("perf_event_open(SW_CPU_CLOCK, self)", perf(1, 0))
obs("perf_event_open(HW_CPU_CYCLES, self)", perf(0, 0))
)py",
      .checks = {{"perf_event_open(SW_CPU_CLOCK, self)", "EPERM"},
                 {"perf_event_open(HW_CPU_CYCLES, self)", "EPERM"}},
      .violation = "perf_event_open",
  });

  probes.push_back({
      .id = "A7",
      .title = "keyrings: add_key, keyctl, request_key",
      .code = R"py(
obs("keyctl(GET_KEYRING_ID, user keyring)", sysc("keyctl", 0, -4, 0))
buf = ctypes.create_string_buffer(256)
obs("keyctl(READ, user keyring)", sysc("keyctl", 11, -4, buf, 256))
obs("keyctl(JOIN_SESSION_KEYRING)", in_child(lambda: sysc("keyctl", 1, None)))
obs("add_key(user, process keyring)", in_child(lambda: sysc("add_key", "user", "sbx-probe", "x", 1, -2)))
obs("request_key(user)", sysc("request_key", "user", "sbx-probe-absent", None, 0))
)py",
      .checks = {{"keyctl(GET_KEYRING_ID, user keyring)", "EPERM"},
                 {"keyctl(READ, user keyring)", "EPERM"},
                 {"keyctl(JOIN_SESSION_KEYRING)", "EPERM"},
                 {"add_key(user, process keyring)", "EPERM"},
                 {"request_key(user)", "EPERM"}},
      .violation = "add_key|keyctl|request_key",
  });

  probes.push_back({
      .id = "A8",
      .title = "new namespaces: unshare, clone(CLONE_NEW*), clone3",
      .code = R"py(
obs("unshare(CLONE_NEWUSER)", in_child(lambda: sysc("unshare", 0x10000000)))
obs("unshare(CLONE_NEWNS)", in_child(lambda: sysc("unshare", 0x00020000)))
obs("unshare(CLONE_NEWNET)", in_child(lambda: sysc("unshare", 0x40000000)))
# CLONE_NEWUSER | CLONE_FS: the kernel refuses the pair (EINVAL) after seccomp let it through,
# so nothing is ever created; seccomp's answer is EPERM.
obs("clone(CLONE_NEWUSER)", sysc("clone", 0x10000000 | 0x200, 0, 0, 0, 0))
obs("clone3(NULL, 0)", sysc("clone3", None, 0))
obs("fork()", in_child(lambda: None))
)py",
      .checks = {{"unshare(CLONE_NEWUSER)", "EPERM"},
                 {"unshare(CLONE_NEWNS)", "EPERM"},
                 {"unshare(CLONE_NEWNET)", "EPERM"},
                 {"clone(CLONE_NEWUSER)", "EPERM"},
                 {"clone3(NULL, 0)", "ENOSYS"},
                 {"fork()", "OK", "=OK"}},
  });

  probes.push_back({
      .id = "A9",
      .title = "setns into /proc/1/ns/* or a foreign namespace fd",
      .code = R"py(
parent = os.getppid()  # in a sandbox: init, pid 1
obs("open /proc/<parent>/ns/mnt", attempt(lambda: os.close(os.open(f"/proc/{parent}/ns/mnt", os.O_RDONLY))))
def own_uts():
    return sysc("setns", os.open("/proc/self/ns/uts", os.O_RDONLY), 0x04000000)
obs("setns(own uts ns fd)", in_child(own_uts))
def via_pidfd():
    fd, err = raw("pidfd_open", parent, 0)
    if fd < 0:
        return "pidfd_open: " + errname(err)
    return sysc("setns", fd, 0x04000000)
obs("setns(pidfd of the parent, CLONE_NEWUTS)", in_child(via_pidfd))
)py",
      .checks = {{"open /proc/<parent>/ns/mnt", "EACCES|EPERM|ENOENT"},
                 {"setns(own uts ns fd)", "EPERM"},
                 {"setns(pidfd of the parent, CLONE_NEWUTS)", "EPERM"}},
  });

  probes.push_back({
      .id = "A10",
      .title = "mount, umount2, pivot_root, chroot and the new mount API",
      .code = R"py(
m = SCRATCH + "/a10"
os.makedirs(m, exist_ok=True)
obs("mount(tmpfs)", sysc("mount", "tmpfs", m, "tmpfs", 0, "size=1m"))
obs("umount2", sysc("umount2", "/tmp" if IN_SANDBOX else m, 2))
obs("pivot_root", sysc("pivot_root", "/nonexistent-sbx", "/nonexistent-sbx"))
obs("chroot", in_child(lambda: sysc("chroot", SCRATCH)))
fsfd, err = raw("fsopen", "tmpfs", 0)
obs("fsopen(tmpfs)", "OK" if fsfd >= 0 else errname(err))
obs("fsconfig(-1)", sysc("fsconfig", -1, 0, None, None, 0))
obs("fsmount(-1)", sysc("fsmount", -1, 0, 0))
obs("move_mount(-1)", sysc("move_mount", -1, "", -1, "", 0))
obs("open_tree(scratch)", sysc("open_tree", AT_FDCWD, SCRATCH, 0))
obs("fspick(/)", sysc("fspick", AT_FDCWD, "/", 0))
attr = ctypes.create_string_buffer(32)
obs("mount_setattr(-1)", sysc("mount_setattr", -1, "", AT_EMPTY_PATH, attr, 32))
)py",
      .checks = {{"mount(tmpfs)", "EPERM"},
                 {"umount2", "EPERM"},
                 {"pivot_root", "EPERM"},
                 {"chroot", "EPERM"},
                 {"fsopen(tmpfs)", "EPERM|ENOSYS"},
                 {"fsconfig(-1)", "EPERM|ENOSYS"},
                 {"fsmount(-1)", "EPERM|ENOSYS"},
                 {"move_mount(-1)", "EPERM|ENOSYS"},
                 {"open_tree(scratch)", "EPERM|ENOSYS"},
                 {"fspick(/)", "EPERM|ENOSYS"},
                 {"mount_setattr(-1)", "EPERM|ENOSYS"}},
  });

  probes.push_back({
      .id = "A11",
      .title = "open_by_handle_at / name_to_handle_at (Shocker)",
      .code = R"py(
handle = ctypes.create_string_buffer(struct.pack("<Ii", 120, 0), 128)
mount_id = ctypes.c_int(0)
obs("name_to_handle_at(/etc)", sysc("name_to_handle_at", AT_FDCWD, "/etc", handle, ctypes.byref(mount_id), 0))
if not IN_SANDBOX:
    guessed = handle  # the host's real handle: what a guess would have to hit
else:  # ext4's root inode, the handle Shocker brute-forced from
    guessed = ctypes.create_string_buffer(struct.pack("<IiII", 8, 1, 2, 0), 128)
root = os.open("/", os.O_RDONLY)
obs("open_by_handle_at(guessed handle)", sysc("open_by_handle_at", root, guessed, 0))
)py",
      .checks = {{"name_to_handle_at(/etc)", "EPERM"},
                 {"open_by_handle_at(guessed handle)", "EPERM"}},
      .violation = "open_by_handle_at|name_to_handle_at",
  });

  probes.push_back({
      .id = "A12",
      .title = "host-global state: modules, kexec, reboot, swap, acct, clock, syslog",
      .code = R"py(
# Arguments that fail after the permission check, so the host control changes nothing.
image = ctypes.create_string_buffer(1)
obs("init_module(1 byte)", sysc("init_module", image, 1, ""))
obs("finit_module(-1)", sysc("finit_module", -1, "", 0))
obs("kexec_load(100000 segments)", sysc("kexec_load", 0, 100000, None, 0))
obs("reboot(bad magic)", sysc("reboot", 0, 0, 0, None))
obs("swapon(/nonexistent)", sysc("swapon", "/nonexistent-sbx", 0))
obs("acct(/nonexistent)", sysc("acct", "/nonexistent-sbx/acct"))
obs("settimeofday(NULL, NULL)", sysc("settimeofday", None, None))
ts = ctypes.create_string_buffer(struct.pack("<qq", 0, 2000000000))
obs("clock_settime(REALTIME, invalid)", sysc("clock_settime", 0, ts))
timex = ctypes.create_string_buffer(208)  # modes = 0: only reads
obs("adjtimex(read)", sysc("adjtimex", timex))
obs("syslog(SIZE_BUFFER)", sysc("syslog", 10, None, 0))
)py",
      .checks = {{"init_module(1 byte)", "EPERM"},
                 {"finit_module(-1)", "EPERM"},
                 {"kexec_load(100000 segments)", "EPERM"},
                 {"reboot(bad magic)", "EPERM"},
                 {"swapon(/nonexistent)", "EPERM"},
                 {"acct(/nonexistent)", "EPERM"},
                 {"settimeofday(NULL, NULL)", "EPERM"},
                 {"clock_settime(REALTIME, invalid)", "EPERM"},
                 {"adjtimex(read)", "EPERM"},
                 {"syslog(SIZE_BUFFER)", "EPERM"}},
      .violation = "init_module|finit_module|kexec_load|reboot|swapon|acct|settimeofday|"
                   "clock_settime|adjtimex|syslog",
  });

  probes.push_back({
      .id = "A13",
      .title = "personality(READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE)",
      .code = R"py(
obs("personality(0xffffffff) (query)", sysc("personality", 0xffffffff))
obs("personality(PER_LINUX)", sysc("personality", 0))
obs("personality(READ_IMPLIES_EXEC|ADDR_NO_RANDOMIZE)", in_child(lambda: sysc("personality", 0x0400000 | 0x0040000)))
obs("personality(1<<32 | ADDR_NO_RANDOMIZE)", in_child(lambda: sysc("personality", (1 << 32) | 0x0040000)))
)py",
      .checks = {{"personality(0xffffffff) (query)", "OK", "=OK"},
                 {"personality(PER_LINUX)", "OK", "=OK"},
                 {"personality(READ_IMPLIES_EXEC|ADDR_NO_RANDOMIZE)", "EPERM"},
                 {"personality(1<<32 | ADDR_NO_RANDOMIZE)", "EPERM"}},
  });

  probes.push_back({
      .id = "A14",
      .title = "other syscall ABIs: i386 int $0x80 and x32 (in a child)",
      .code = R"py(
# mov eax, 20 (i386 getpid); int 0x80; ret
obs("int $0x80 getpid (i386)", in_child(lambda: machine_code(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")()))
obs("syscall 0x40000027 getpid (x32)", in_child(lambda: sysc(0x40000000 | 39)))
)py",
      .checks = {{"int $0x80 getpid (i386)", "SIGNALED\\(SIGSYS\\)"},
                 {"syscall 0x40000027 getpid (x32)", "SIGNALED\\(SIGSYS\\)"}},
  });

  probes.push_back({
      .id = "A14v",
      .title = "i386 int $0x80 in the UDF itself: the sandbox is stopped",
      .code = R"py(
pid = machine_code(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")()
obs("int $0x80 returned", pid)
)py",
      .outcome = "POLICY_VIOLATION: .*(i386|x32|ABI).*",
  });

  probes.push_back({
      .id = "A15",
      .title = "terminal injection: TIOCSTI (high bits too), TIOCLINUX; no tty",
      .code = R"py(
c = ctypes.c_char(b"x")
obs("ioctl(0, TIOCSTI)", sysc("ioctl", 0, 0x5412, ctypes.byref(c)))
obs("ioctl(0, TIOCSTI | 1<<32)", sysc("ioctl", 0, (1 << 32) | 0x5412, ctypes.byref(c)))
sub = ctypes.c_char(b"\x02")
obs("ioctl(0, TIOCLINUX)", sysc("ioctl", 0, 0x541C, ctypes.byref(sub)))
obs("open /dev/tty", attempt(lambda: os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))))
obs("open /dev/ptmx", attempt(lambda: os.close(os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY))))
obs("session leader (setsid before exec)", "yes" if os.getsid(0) == os.getpid() else "no")
)py",
      .checks = {{"ioctl(0, TIOCSTI)", "EPERM"},
                 {"ioctl(0, TIOCSTI | 1<<32)", "EPERM"},
                 {"ioctl(0, TIOCLINUX)", "EPERM"},
                 {"open /dev/tty", "ENOENT|ENXIO"},
                 {"open /dev/ptmx", "ENOENT"},
                 {"session leader (setsid before exec)", "yes"}},
  });

  probes.push_back({
      .id = "A16",
      .title = "seccomp filters and listeners of its own; every thread filtered",
      .code = R"py(
insn = ctypes.create_string_buffer(struct.pack("<HBBI", 0x06, 0, 0, 0x7fff0000))  # RET ALLOW
fprog = ctypes.create_string_buffer(struct.pack("<HxxxxxxQ", 1, ctypes.addressof(insn)))
def install(flags):
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    return sysc("seccomp", 1, flags, fprog)
obs("seccomp(SET_MODE_FILTER, NEW_LISTENER)", in_child(lambda: install(8)))
obs("seccomp(SET_MODE_FILTER)", in_child(lambda: install(0)))
def old_interface():
    libc.prctl(38, 1, 0, 0, 0)
    return sysc("prctl", 22, 2, fprog)
obs("prctl(PR_SET_SECCOMP, FILTER)", in_child(old_interface))
import threading
stop = threading.Event()
threads = [threading.Thread(target=stop.wait) for _ in range(4)]
for t in threads:
    t.start()
states = set()
tasks = os.listdir("/proc/self/task")
for tid in tasks:
    fields = dict(l.split(":\t", 1) for l in open(f"/proc/self/task/{tid}/status").read().splitlines() if ":\t" in l)
    states.add(f"Seccomp={fields['Seccomp'].strip()} NoNewPrivs={fields['NoNewPrivs'].strip()}")
stop.set()
for t in threads:
    t.join()
obs("every thread's status", f"{len(tasks)} threads: " + ", ".join(sorted(states)))
)py",
      .checks = {{"seccomp(SET_MODE_FILTER, NEW_LISTENER)", "EPERM"},
                 {"seccomp(SET_MODE_FILTER)", "EPERM"},
                 {"prctl(PR_SET_SECCOMP, FILTER)", "EPERM"},
                 {"every thread's status", "\\d+ threads: Seccomp=2 NoNewPrivs=1"}},
  });

  probes.push_back(ExecutableMemoryProbe(HostHasMemfdNoexecSeal()));

  probes.push_back({
      .id = "A18",
      .title = "execve(/bin/sh) after start: the child keeps every limit",
      .code = R"py(
import subprocess
script = "grep -E '^(Uid|CapEff|NoNewPrivs|Seccomp):' /proc/self/status; grep -E '^Max (core file size|open files)' /proc/self/limits"
run = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)
obs("execve(/bin/sh)", "runs" if run.returncode == 0 else f"exit {run.returncode}: {run.stderr[:100]}")
fields = {}
for line in run.stdout.splitlines():
    if line.startswith("Max"):
        parts = line.split()
        fields["core" if "core" in line else "nofile"] = "/".join(parts[-3:-1])
    elif ":" in line:
        key, value = line.split(":", 1)
        fields[key] = value.split()[0]
obs("the child's identity and confinement", f"uid={fields.get('Uid')} CapEff={fields.get('CapEff')} NoNewPrivs={fields.get('NoNewPrivs')} Seccomp={fields.get('Seccomp')}")
obs("the child's rlimits (core, nofile)", f"core={fields.get('core')} nofile={fields.get('nofile')}")
)py",
      .checks = {{"execve(/bin/sh)", "runs", "=runs"},
                 {"the child's identity and confinement",
                  "uid=1000 CapEff=0000000000000000 NoNewPrivs=1 Seccomp=2"},
                 {"the child's rlimits (core, nofile)", "core=0/0 nofile=1024/1024"}},
  });

  probes.push_back({
      .id = "A20",
      .title = "sync/syncfs: flushing every filesystem of the host, in a loop",
      .code = R"py(
obs("sync()", sysc("sync"))
fd = os.open(SCRATCH, os.O_RDONLY | os.O_DIRECTORY)
obs("syncfs(/tmp)", sysc("syncfs", fd))
os.close(fd)
with open(SCRATCH + "/flushed", "wb") as f:
    f.write(b"x")
    f.flush()
    obs("fsync(own file)", attempt(lambda: os.fsync(f.fileno())))
)py",
      .checks = {{"sync()", "EPERM"}, {"syncfs(/tmp)", "EPERM"}, {"fsync(own file)", "OK", "=OK"}},
  });

  probes.push_back({
      .id = "A21",
      .title = "IP sockets other than TCP and UDP (DCCP, SCTP: kernel module autoload)",
      .code = R"py(
import socket
def sock(family, kind, protocol):
    def make():
        socket.socket(family, kind, protocol).close()
    return attempt(make)
obs("socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)", sock(socket.AF_INET, socket.SOCK_STREAM, 6))
obs("socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP)", sock(socket.AF_INET6, socket.SOCK_DGRAM, 17))
obs("socket(AF_INET, SOCK_DCCP, IPPROTO_DCCP)", sock(socket.AF_INET, 6, 33))
obs("socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP)", sock(socket.AF_INET, socket.SOCK_STREAM, 132))
obs("socket(AF_INET6, SOCK_SEQPACKET, IPPROTO_SCTP)", sock(socket.AF_INET6, socket.SOCK_SEQPACKET, 132))
obs("socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE)", sock(socket.AF_INET, socket.SOCK_DGRAM, 136))
)py",
      // Where the host has no such module the kernel's own answer is EPROTONOSUPPORT or
      // ESOCKTNOSUPPORT: the control shows the call reached it; tests/policy proves the rule.
      .checks = {{"socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)", "OK", "=OK"},
                 {"socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP)", "OK", "=OK|EAFNOSUPPORT"},
                 {"socket(AF_INET, SOCK_DCCP, IPPROTO_DCCP)", "EPROTONOSUPPORT",
                  "=OK|EPROTONOSUPPORT|ESOCKTNOSUPPORT"},
                 {"socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP)", "EPROTONOSUPPORT",
                  "=OK|EPROTONOSUPPORT|ESOCKTNOSUPPORT"},
                 {"socket(AF_INET6, SOCK_SEQPACKET, IPPROTO_SCTP)", "EPROTONOSUPPORT",
                  "=OK|EPROTONOSUPPORT|ESOCKTNOSUPPORT|EAFNOSUPPORT"},
                 {"socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE)", "EAFNOSUPPORT"}},
  });

  probes.push_back({
      .id = "A22",
      .title = "ioctl is an allow-list: filesystem and device requests are ENOTTY",
      .code = R"py(
import fcntl, socket
with open(SCRATCH + "/ioctl", "wb") as f:
    flags = ctypes.c_long(0)
    obs("ioctl(file, FS_IOC_GETFLAGS)", sysc("ioctl", f.fileno(), 0x80086601, ctypes.byref(flags)))
    obs("ioctl(file, FICLONE)", sysc("ioctl", f.fileno(), 0x40049409, f.fileno()))
    obs("os.set_inheritable (FIOCLEX/FIONCLEX)", attempt(lambda: os.set_inheritable(f.fileno(), True)))
    obs("isatty (TCGETS)", str(os.isatty(f.fileno())))
s = socket.socket()
obs("socket.setblocking (FIONBIO)", attempt(lambda: s.setblocking(False)))
s.close()
r, w = os.pipe()
os.write(w, b"abc")
size = ctypes.c_int(0)
obs("ioctl(pipe, FIONREAD)", sysc("ioctl", r, 0x541B, ctypes.byref(size)) + f" {size.value}")
)py",
      .checks = {{"ioctl(file, FS_IOC_GETFLAGS)", "ENOTTY"},
                 {"ioctl(file, FICLONE)", "ENOTTY",
                  "-tmpfs has no reflinks: the host refuses it too"},
                 {"os.set_inheritable (FIOCLEX/FIONCLEX)", "OK", "=OK"},
                 {"isatty (TCGETS)", "False", "=False"},
                 {"socket.setblocking (FIONBIO)", "OK", "=OK"},
                 {"ioctl(pipe, FIONREAD)", "OK 3", "=OK 3"}},
  });

  // Syscalls the policy leaves to its default action: init notes the call and stops the sandbox.
  for (const char* syscall : {"kcmp", "uselib"}) {
    const std::string name = syscall;
    probes.push_back({
        .id = std::string("A19") + (name == "kcmp" ? "a" : "b"),
        .title = "a syscall outside the policy (" + name + "): POLICY_VIOLATION names it",
        .code = "obs('" + name + "', sysc('" + name + "', " +
                (name == "kcmp" ? "os.getpid(), os.getpid(), 0, 0, 0" : "'/nonexistent-sbx'") +
                "))\n",
        .outcome = "POLICY_VIOLATION: .*\\b" + name + "\\b.*",
        .then_serves = true,
    });
  }

  probes.push_back({
      .id = "I1",
      .title = "ctypes sweep: every unconditional errno rule of the policy, as the policy says",
      .code = R"py(
wrong = []
for name, nr, expected in KARGS["errno_rules"]:
    got = sysc(nr, 0, 0, 0, 0, 0, 0)
    if got != expected:
        wrong.append(f"{name}={got} (policy: {expected})")
obs("errno rules", f"{len(KARGS['errno_rules'])} rules, all as the policy says" if not wrong else "; ".join(wrong))
)py",
      .checks = {{"errno rules", "\\d+ rules, all as the policy says"}},
      .no_host = "the sweep calls host-global syscalls (reboot, sethostname, ...) with zero "
                 "arguments",
  });

  return probes;
}

std::vector<Probe> AllProbes() {
  std::vector<Probe> all;
  for (auto group : {KernelProbes, FilesystemProbes, ProcessProbes, LimitProbes}) {
    auto probes = group();
    all.insert(all.end(), probes.begin(), probes.end());
  }
  return all;
}

}  // namespace sandboxd::security
