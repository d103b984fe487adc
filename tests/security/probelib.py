# probelib: the helpers every security probe is written with (tests/security/SECURITY.md).
#
# The suite prepends this file to each probe's Python code and runs the result twice:
#   - inside a sandbox, as the UDF script (IN_SANDBOX = True; `kargs`, `pd` and `np` are bound by
#     the runner); the observations come back as the result table typeof(check:string,
#     observed:string);
#   - on the host, as root, outside any sandbox, with /usr/bin/python3 -I (IN_SANDBOX = False; no
#     numpy or pandas; kargs come from $PROBE_KARGS); the observations go as JSON to $PROBE_OUT.
#     That run is the positive control: it shows the capability a probe looks for exists here.
#
# A probe records what it saw with obs(check, value). Values are short, stable strings: "OK" for a
# call that worked, the errno's name ("EPERM") for one that failed, or a short description. Probes
# must be harmless on the host: they use scratch paths (SCRATCH), throw-away children (in_child)
# and arguments that fail after the permission check where a call would change host state.
import ctypes
import errno
import json
import os
import signal
import socket
import struct
import sys
import time

# IN_SANDBOX is set by the line the suite puts before this file.
KARGS = kargs if IN_SANDBOX else json.loads(os.environ.get("PROBE_KARGS", "{}"))  # noqa: F821
if IN_SANDBOX:
    SCRATCH = "/tmp/probe-scratch"
    os.makedirs(SCRATCH, exist_ok=True)
else:
    SCRATCH = os.environ["PROBE_SCRATCH"]

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.prctl.restype = ctypes.c_int

# x86_64 syscall numbers used by the probes.
NR = {
    "read": 0, "write": 1, "mmap": 9, "mprotect": 10, "ioctl": 16, "getpid": 39, "clone": 56,
    "execve": 59, "kill": 62, "ptrace": 101, "syslog": 103, "uselib": 134, "personality": 135,
    "modify_ldt": 154, "pivot_root": 155, "prctl": 157, "adjtimex": 159, "chroot": 161,
    "acct": 163, "settimeofday": 164, "sync": 162, "mount": 165, "umount2": 166, "swapon": 167,
    "reboot": 169, "init_module": 175, "clock_settime": 227, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "seccomp": 317,
    "memfd_create": 319, "bpf": 321, "execveat": 322, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "syncfs": 306,
    "pidfd_open": 434, "clone3": 435, "pidfd_getfd": 438, "mount_setattr": 442,
}
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000


def _arg(value):
    if value is None:
        return ctypes.c_void_p(None)
    if isinstance(value, int):
        return ctypes.c_long(value)
    if isinstance(value, str):
        return ctypes.c_char_p(value.encode())
    if isinstance(value, bytes):
        return ctypes.c_char_p(value)
    return value  # ctypes objects (byref, buffers) as they are


def errname(number):
    return errno.errorcode.get(number, f"errno {number}")


def raw(name_or_nr, *args):
    """Calls a syscall; returns (result, errno)."""
    nr = NR[name_or_nr] if isinstance(name_or_nr, str) else name_or_nr
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(nr), *[_arg(a) for a in args])
    return result, ctypes.get_errno()


def sysc(name_or_nr, *args):
    """A syscall's outcome as text: "OK" or the errno's name."""
    result, err = raw(name_or_nr, *args)
    return "OK" if result >= 0 else errname(err)


def attempt(fn):
    """Runs fn(); "OK" (or its non-None return value as text), the errno's name of an OSError,
    or the exception's type and message."""
    try:
        value = fn()
        return "OK" if value is None else str(value)
    except OSError as error:
        return errname(error.errno) if error.errno else f"{type(error).__name__}: {error}"
    except Exception as error:  # noqa: BLE001 - a probe reports whatever happened
        return f"{type(error).__name__}: {error}"[:200]


def signame(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def in_child(fn, timeout=20.0):
    """Runs fn() in a forked child and returns its text (what attempt() gives), or how the child
    died: "SIGNALED(SIGSYS)", "EXIT(n)", "TIMEOUT". For calls that would change this process."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            text = attempt(fn)
            os.write(write_end, text.encode()[:4000])
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_end)
        return "TIMEOUT"
    text = b""
    while True:
        chunk = os.read(read_end, 4096)
        if not chunk:
            break
        text += chunk
    os.close(read_end)
    if os.WIFSIGNALED(status):
        return f"SIGNALED({signame(os.WTERMSIG(status))})"
    if os.WEXITSTATUS(status) != 0 or not text:
        return f"EXIT({os.WEXITSTATUS(status)})"
    return text.decode(errors="replace")


def beacon(name):
    """Names this thread in /proc/<pid>/comm: the host side of a test waits for it."""
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def hold(name, limit=60):
    """Names this thread `name` (a beacon) and holds until the host, done looking at it, sends it
    SIGUSR1 (Release in host_tests.cc), or `limit` seconds pass."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    beacon(name)
    signal.sigtimedwait({signal.SIGUSR1}, limit)


def machine_code(code):
    """An executable copy of x86_64 machine code, callable as a C function returning long.
    mmap RW, then mprotect RX: the policy refuses anonymous PROT_EXEC mappings but cannot see
    what mprotect targets (policy/sandbox.seccomp)."""
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    address = libc.mmap(None, 4096, 0x3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    if address in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap")
    ctypes.memmove(address, code, len(code))
    if libc.mprotect(ctypes.c_void_p(address), ctypes.c_size_t(4096), 0x5) != 0:  # READ|EXEC
        raise OSError(ctypes.get_errno(), "mprotect")
    return ctypes.CFUNCTYPE(ctypes.c_long)(address)


def masked_or(path, fn):
    """"ENOENT" when path is absent, "MASKED" when it is /dev/null bound over it, else fn(path)."""
    try:
        st = os.stat(path)
    except OSError as error:
        return errname(error.errno)
    null = os.stat("/dev/null")
    if (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == null.st_rdev:
        return "MASKED"
    return attempt(lambda: fn(path))


def open_for_write(path):
    """Opens path for writing without writing anything; "OK" means it could be written."""
    os.close(os.open(path, os.O_WRONLY | os.O_CLOEXEC))


def connect_tcp(host, port, timeout=1.0, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return "OK"
    except socket.timeout:
        return "TIMEOUT"
    except OSError as error:
        return errname(error.errno)
    finally:
        s.close()


def connect_unix(address):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(address)
        return "OK"
    except OSError as error:
        return errname(error.errno)
    finally:
        s.close()


OBSERVATIONS = {}


def obs(check, value):
    OBSERVATIONS[check] = str(value)
