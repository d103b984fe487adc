#!/usr/bin/env python3
"""Every CTest test has a TIMEOUT of its own (issue 22): a plain `ctest` must never hang on a
test that does. Lists the build tree's tests as CTest sees them (`ctest -N --show-only=json-v1`,
discovered GoogleTest cases included) and fails naming each test without a positive TIMEOUT."""
import json
import subprocess
import sys


def main() -> int:
    build = sys.argv[1]
    listing = subprocess.run(
        ["ctest", "--test-dir", build, "-N", "--show-only=json-v1"],
        check=True, capture_output=True, text=True, timeout=120).stdout
    tests = json.loads(listing).get("tests", [])
    missing = []
    for test in tests:
        props = {p["name"]: p["value"] for p in test.get("properties", [])}
        if float(props.get("TIMEOUT", 0) or 0) <= 0:
            missing.append(test["name"])
    print(f"{len(tests)} tests listed, {len(missing)} without a TIMEOUT of their own")
    for name in missing:
        print(f"  no TIMEOUT: {name}")
    # A listing of nothing would prove nothing (a build tree without its tests).
    return 1 if missing or not tests else 0


if __name__ == "__main__":
    sys.exit(main())
