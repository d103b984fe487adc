"""The events pipe to the daemon (fd 6) and the logging handler that feeds it.

Events are JSON objects, one a line (runtime_images/RUNNER.md). The daemon treats every line as
hostile and caps them; the caps here keep a chatty script from spending its time filling a pipe
nobody will read to the end.
"""

import json
import logging
import logging.handlers
import os
import threading
import time

from . import SCRIPT_FILENAME

# The defaults, overridable by the optional control keys max_log_records / max_log_bytes.
DEFAULT_MAX_LOG_RECORDS = 10_000
DEFAULT_MAX_LOG_BYTES = 1 << 20          # message characters over all records
MAX_MESSAGE_CHARS = 16 << 10             # one record's message, traceback included
# Buffering as Kusto's handler does (seeds/002): hold `capacity` records, flush when full or when
# a record at `flush_level` or above arrives, and at the end of the run.
DEFAULT_CAPACITY = 1000
DEFAULT_FLUSH_LEVEL = logging.ERROR


def clip(text, limit):
    """`text` cut to `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    kept = max(0, limit - 40)  # room for the note
    return f"{text[:kept]}\n... [{len(text) - kept} characters cut]"


def _clean(text):
    # Lone surrogates (from surrogateescape'd file names, say) cannot be UTF-8: escape them.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class EventChannel:
    """Writes events to the pipe; shared by the runner and the log handler, so thread-safe."""

    def __init__(self, fd):
        self._fd = fd
        self._lock = threading.Lock()
        self._broken = False

    def send(self, event):
        event = {key: _clean(value) if isinstance(value, str) else value
                 for key, value in event.items()}
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        view = memoryview(line.encode("utf-8"))
        with self._lock:
            if self._broken:
                return
            try:
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError:
                # The daemon stopped reading: it has decided the outcome already.
                self._broken = True


class EventLogHandler(logging.handlers.BufferingHandler):
    """Turns logging records into `log` events: time, level, logger, message, file, line.

    Records are converted when logged (their arguments may change afterwards) and buffered.
    After `max_records` records or `max_bytes` message characters the rest are only counted;
    finish() reports how many were dropped in one last record.
    """

    def __init__(self, channel, capacity=DEFAULT_CAPACITY, flush_level=DEFAULT_FLUSH_LEVEL,
                 max_records=DEFAULT_MAX_LOG_RECORDS, max_bytes=DEFAULT_MAX_LOG_BYTES):
        super().__init__(capacity)
        self.flush_level = flush_level
        self._channel = channel
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._records = 0
        self._bytes = 0
        self._dropped = 0
        self._formatter = logging.Formatter()

    def shouldFlush(self, record):
        return len(self.buffer) >= self.capacity or record.levelno >= self.flush_level

    def emit(self, record):
        # Handler.handle holds self.lock here.
        if self._records >= self._max_records:
            self._dropped += 1
            return
        message = clip(self._message(record), MAX_MESSAGE_CHARS)
        if self._bytes + len(message) > self._max_bytes:
            self._dropped += 1
            return
        self._records += 1
        self._bytes += len(message)
        self.buffer.append({
            "kind": "log",
            "time": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "file": record.pathname,  # SCRIPT_FILENAME for the user's script
            "line": record.lineno,
        })
        if self.shouldFlush(record):
            self.flush()

    def _message(self, record):
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self._formatter.formatException(record.exc_info)
        if record.stack_info:
            message += "\n" + _script_stack(record.stack_info)
        return message

    def flush(self):
        with self.lock:
            for event in self.buffer:
                self._channel.send(event)
            self.buffer.clear()

    def finish(self):
        """Flushes everything and reports dropped records; called once, before the last event."""
        with self.lock:
            self.flush()
            if self._dropped:
                self._channel.send({
                    "kind": "log", "time": time.time(), "level": "WARNING", "logger": "sandboxd",
                    "message": f"{self._dropped} more log records were dropped: the limit is "
                               f"{self._max_records} records or {self._max_bytes} characters",
                    "file": "", "line": 0,
                })
                self._dropped = 0


def _script_stack(stack_info):
    """A stack_info text from the user's script on: the runner's frames mean nothing to them."""
    start = stack_info.find(f'  File "{SCRIPT_FILENAME}"')
    if start < 0:
        return stack_info
    return "Stack (most recent call last):\n" + stack_info[start:]


def install_log_handler(channel, max_records, max_bytes):
    """Puts the handler on the root logger, at INFO so a script's logging.info() comes back."""
    handler = EventLogHandler(channel, max_records=max_records, max_bytes=max_bytes)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler
