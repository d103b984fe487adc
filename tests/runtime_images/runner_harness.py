"""Runs runner.py the way a sandbox's init does, without the sandbox.

The runner gets exactly RUNNER.md's descriptors: /dev/null on 0, pipes on 1 and 2, the control
document (memfd) on 3, the input table (sealed memfd, opened read-only) on 4, an empty output
memfd on 5 and the events pipe on 6; an allow-listed environment and a scratch working folder.
"""

import dataclasses
import fcntl
import json
import os
import pathlib
import resource
import subprocess
import tempfile
import threading

import sbxt_reference

PYTHON = "/usr/bin/python3"
RUNTIME_DIR = pathlib.Path(os.environ.get(
    "SANDBOXD_RUNTIME_SRC",
    pathlib.Path(__file__).resolve().parents[2] / "runtime_images" / "python"))
RUNNER = RUNTIME_DIR / "runner.py"


@dataclasses.dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    events: list            # every event, parsed
    output: bytes           # fd 5's bytes

    @property
    def final(self):
        return self.events[-1] if self.events else None

    @property
    def logs(self):
        return [event for event in self.events if event.get("kind") == "log"]

    def table(self):
        """[(name, type, values)] of the result, after the reference decoder's checks."""
        assert self.final and self.final.get("kind") == "done", self.describe()
        assert self.final["result_bytes"] == len(self.output)
        return sbxt_reference.decode(self.output)[1]

    def column(self, name):
        return {n: values for n, _, values in self.table()}[name]

    def describe(self):
        return (f"exit {self.returncode}\nfinal: {self.final}\nstderr:\n{self.stderr}\n"
                f"stdout:\n{self.stdout}")


def _memfd(name, payload, seal=False):
    fd = os.memfd_create(name, os.MFD_CLOEXEC | (os.MFD_ALLOW_SEALING if seal else 0))
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view):]
    if not seal:
        return fd
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW
                | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
    read_only = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    os.close(fd)
    return read_only


def run(script, table=b"", output_columns=(), kargs=None, max_result_bytes=64 << 20,
        control_extra=None, timeout=120, file_size_limit=None):
    """Runs `script` over `table` (SBXT bytes) with output columns [(name, type)].

    `file_size_limit` sets RLIMIT_FSIZE, as the sandbox's rlimits do.
    """
    control = {
        "script": script,
        "kargs": {} if kargs is None else kargs,
        "output_columns": [{"name": n, "type": t} for n, t in output_columns],
        "max_result_bytes": max_result_bytes,
        "site_dir": "/nonexistent/site",
        "artifacts_dir": "/nonexistent/Temp",
    }
    control.update(control_extra or {})
    control_fd = _memfd("control", json.dumps(control).encode())
    os.lseek(control_fd, 0, os.SEEK_END)  # the runner must read from offset 0 regardless
    input_fd = _memfd("input", table, seal=True)
    output_fd = _memfd("output", b"")
    events_read, events_write = os.pipe()
    # Above 6, so that moving them to 3..6 in the child cannot clobber one another.
    sources = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
               for fd in (control_fd, input_fd, output_fd, events_write)]

    def place_descriptors():
        for target, source in enumerate(sources, start=3):
            os.dup2(source, target)
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    events_data = []

    def read_events():
        with os.fdopen(events_read, "rb") as stream:
            events_data.append(stream.read())

    with tempfile.TemporaryDirectory() as work:
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        reader = threading.Thread(target=read_events)
        reader.start()
        try:
            process = subprocess.Popen(
                [PYTHON, "-I", "-B", str(RUNNER)], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work, env=env,
                pass_fds=(3, 4, 5, 6), preexec_fn=place_descriptors)
        finally:
            for fd in sources + [control_fd, input_fd, events_write]:
                os.close(fd)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        reader.join()
    size = os.fstat(output_fd).st_size
    output = os.pread(output_fd, size, 0) if size else b""
    os.close(output_fd)
    events = [json.loads(line) for line in events_data[0].decode("utf-8").splitlines()]
    return Outcome(process.returncode, stdout.decode("utf-8", "replace"),
                   stderr.decode("utf-8", "replace"), events, output)
