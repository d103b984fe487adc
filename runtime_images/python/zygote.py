"""The zygote: the image's Python with everything a request needs already imported, forking
one sandbox per request (docs/ARCHITECTURE.md, "Zygotes"; sandboxd/launcher/zygotes.h).

Started by the launcher, inside the image's root, as

    /usr/bin/python3 -I -B /sandbox/runtime/zygote.py [--preload=MODULE ...]

with its socket to the launcher on fd 3 and its extension (_sandboxd_zygote) in /sandbox/work.
Each sandbox's UDF returns from the extension's serve() and runs the request as runner.py would.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sandboxd_runtime.zygote import serve  # noqa: E402

if __name__ == "__main__":
    os._exit(serve())
