"""The runner refuses a control document nested too deep for json.loads as BAD_REQUEST.

The daemon already bounds script_parameters at 64 levels (sandboxd/request.h); this is the
runner's own guard (issue 8, item 1): 1 000-60 000 levels used to come back as SCRIPT_ERROR.
"""

import sys
import unittest

import runner_harness


class ControlDepth(unittest.TestCase):
    def test_kargs_nested_past_the_recursion_limit_is_bad_request(self):
        nested = []
        for _ in range(5000):
            nested = [nested]
        # json.dumps in the harness recurses too; the runner keeps Python's default limit.
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(30000)
        try:
            outcome = runner_harness.run("result = df", b"", [], kargs={"deep": nested})
        finally:
            sys.setrecursionlimit(old_limit)
        self.assertEqual(outcome.final["code"], "BAD_REQUEST", outcome.describe())
        self.assertIn("control document", outcome.final["message"])
        self.assertIn("recursion", outcome.final["message"])


if __name__ == "__main__":
    unittest.main()
