"""Windows-style artifact paths, for scripts written for Kusto (which runs them on Windows).

Kusto puts artifacts in `.\\Temp` of the sandbox's work folder, and its own documentation declares
`faker.zip` and then installs `Faker.zip`. So that such scripts run unchanged, the runner patches a
few file functions, before the script runs, to translate paths that point into the artifacts
folder:

    .\\Temp\\name   Temp\\name   C:\\Temp\\name   \\Temp\\name   (and any mix of / and \\)
        -> /sandbox/work/Temp/<name>, with <name> matched case-insensitively

The rules, kept minimal on purpose:
- Only str paths (or path-like objects that give str) are looked at; bytes and fds pass through.
- A path is translated only if it has a backslash or a drive letter ("C:"), or if, after that,
  it lies inside the artifacts folder. Backslashes become slashes; a drive letter ("C:") stands
  for the work folder's root, so "C:\\Temp\\x" is /sandbox/work/Temp/x.
- Inside the artifacts folder (which holds only the request's artifacts, flat), a name that does
  not exist as spelled is looked up case-insensitively among the artifacts. Nothing else is
  case-insensitive.
- Patched: builtins.open (= io.open), os.open, os.stat, os.lstat, os.listdir, os.scandir,
  os.access, os.path.exists/lexists, and tarfile's private open if tarfile is loaded. Everything that
  calls these at run time follows (os.path.getsize/isfile/isdir, os.walk, pathlib's open and
  stat, zipfile, pandas.read_csv, numpy.load, shutil).
"""

import builtins
import io
import os
import sys

_WORK = "/sandbox/work"
_TEMP = "/sandbox/work/Temp"


class _Translator:
    def __init__(self, work_dir, temp_dir):
        self.work = work_dir.rstrip("/") or "/"
        self.temp = temp_dir.rstrip("/")
        try:
            names = os.listdir(self.temp)
        except OSError:
            names = []
        self.by_folded = {name.casefold(): name for name in names}

    def _case(self, absolute):
        """`absolute` is normalized; maps a file in the artifacts folder to its real name."""
        prefix = self.temp + "/"
        if not absolute.startswith(prefix):
            return absolute
        rest = absolute[len(prefix):]
        name, sep, tail = rest.partition("/")
        if name in self.by_folded.values():
            return absolute
        real = self.by_folded.get(name.casefold())
        return prefix + real + sep + tail if real is not None else absolute

    def __call__(self, path):
        if isinstance(path, (bytes, int)) or path is None:
            return path
        try:
            text = os.fspath(path)
        except TypeError:
            return path
        if not isinstance(text, str):
            return path
        windows = "\\" in text or (len(text) >= 2 and text[1] == ":" and text[0].isalpha())
        if not windows and "emp" not in text.lower():
            return path  # the fast path: nothing here can point into Temp
        candidate = text
        if windows:
            candidate = candidate.replace("\\", "/")
            if len(candidate) >= 2 and candidate[1] == ":" and candidate[0].isalpha():
                candidate = self.work + "/" + candidate[2:].lstrip("/")
            elif candidate.startswith("/") and not candidate.startswith(self.work + "/"):
                # "\\Temp\\x": the root of the current drive, i.e. the work folder
                first = candidate.lstrip("/").split("/", 1)[0]
                if first.casefold() == "temp":
                    candidate = self.work + candidate
        absolute = os.path.normpath(candidate if candidate.startswith("/")
                                    else os.path.join(os.getcwd(), candidate))
        # "Temp" itself may be spelled in any case too.
        work_prefix = self.work + "/"
        if absolute.startswith(work_prefix):
            first, sep, tail = absolute[len(work_prefix):].partition("/")
            if first != "Temp" and first.casefold() == "temp":
                absolute = self.temp + sep + tail
        if absolute == self.temp or absolute.startswith(self.temp + "/"):
            return self._case(absolute)
        return candidate if windows else path


_installed = None


def install(work_dir=_WORK, temp_dir=_TEMP):
    """Patches the file functions (once). Returns the translator."""
    global _installed
    if _installed is not None:
        return _installed
    translate = _Translator(work_dir, temp_dir)

    original_open = builtins.open

    def open(file, *args, **kwargs):  # noqa: A001 - the builtin's name on purpose
        return original_open(translate(file), *args, **kwargs)

    open.__doc__ = original_open.__doc__
    builtins.open = open
    io.open = open

    def wrap(module, name):
        original = getattr(module, name)

        def patched(path=".", *args, **kwargs):
            return original(translate(path), *args, **kwargs)

        patched.__name__ = original.__name__
        patched.__doc__ = original.__doc__
        patched.__wrapped__ = original
        setattr(module, name, patched)

    for name in ("open", "stat", "lstat", "access"):
        # path first; os.open has no default, stat/lstat/access neither: keep the signature shape
        original = getattr(os, name)

        def patched(path, *args, _original=original, **kwargs):
            return _original(translate(path), *args, **kwargs)

        patched.__name__ = original.__name__
        patched.__doc__ = original.__doc__
        patched.__wrapped__ = original
        setattr(os, name, patched)
    wrap(os, "listdir")
    wrap(os, "scandir")
    for name in ("exists", "lexists"):
        original = getattr(os.path, name)

        def patched(path, _original=original):
            return _original(translate(path))

        patched.__name__ = original.__name__
        patched.__doc__ = original.__doc__
        setattr(os.path, name, patched)
    tarfile = sys.modules.get("tarfile")
    if tarfile is not None and hasattr(tarfile, "bltn_open"):
        tarfile.bltn_open = open
    _installed = translate
    return translate
