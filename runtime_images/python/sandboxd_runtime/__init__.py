"""The Python side of sandboxd, run inside every sandbox by runner.py (runtime_images/RUNNER.md).

    sbxt          the SBXT table buffer layout (proto/TABLE_FORMAT.md)
    frames        SBXT input -> pandas `df`, and `result` -> SBXT, with Kusto's types
    kusto_values  datetime/timespan values beyond pandas' nanosecond range, Kusto's text forms
    events        the events pipe and the buffering logging handler
    main          one run: control document, script, result, final event
"""

# The file name the user's script is compiled under: tracebacks and log records show it.
SCRIPT_FILENAME = "script.py"
