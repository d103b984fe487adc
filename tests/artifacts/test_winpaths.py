"""The runner's Windows-style artifact paths and Zipackage, run in a subprocess (the patches are
process-wide) against a scratch work folder laid out like a sandbox's."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

RUNTIME = os.environ.get("SANDBOXD_RUNTIME_SRC",
                         os.path.join(os.path.dirname(__file__), "..", "..", "runtime_images", "python"))


def run(work, code):
    program = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {RUNTIME!r})
        os.chdir({work!r})
        from sandboxd_runtime import winpaths
        winpaths.install({work!r}, {os.path.join(work, 'Temp')!r})
        from sandbox_utils import Zipackage
        Zipackage.site_dir = {os.path.join(work, 'site')!r}
        Zipackage.artifacts_dir = {os.path.join(work, 'Temp')!r}
    """) + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-I", "-B", "-c", program], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(done.stderr)
    return done.stdout.strip()


class WinPathsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.work = self.tmp.name
        os.makedirs(os.path.join(self.work, "Temp"))
        os.makedirs(os.path.join(self.work, "site", "Faker.zip", "faker"))
        with open(os.path.join(self.work, "Temp", "faker.zip"), "w") as f:
            f.write("zip")
        with open(os.path.join(self.work, "Temp", "data.csv"), "w") as f:
            f.write("a,b\n1,2\n")
        with open(os.path.join(self.work, "site", "Faker.zip", "faker", "__init__.py"), "w") as f:
            f.write("def name():\n    return 'Gary Tapia'\n")
        with open(os.path.join(self.work, "site", "bundles.json"), "w") as f:
            json.dump({"bundles": {"faker.zip": {"kind": "wheels", "path": "Faker.zip", "wheels": []}}}, f)

    def tearDown(self):
        self.tmp.cleanup()

    def test_windows_paths_reach_the_artifacts(self):
        out = run(self.work, r"""
            print(open('.\\Temp\\data.csv').read().splitlines()[0])
            print(open('C:\\Temp\\DATA.CSV').read().splitlines()[1])
            print(sorted(os.listdir('.\\Temp')))
            print(os.path.getsize('.\\Temp' + '\\' + 'data.csv'))
            print(os.path.isfile('Temp\\Data.Csv'), os.path.exists('.\\temp\\nope'))
        """)
        self.assertEqual(out.splitlines(), ["a,b", "1,2", "['data.csv', 'faker.zip']", "8", "True False"])

    def test_other_paths_are_left_alone(self):
        out = run(self.work, r"""
            with open('plain.txt', 'w') as f:
                f.write('x')
            print(os.path.exists('plain.txt'), os.path.exists('Temp/missing'))
        """)
        self.assertEqual(out, "True False")

    def test_zipackage_installs_case_insensitively(self):
        out = run(self.work, r"""
            path = Zipackage.install('Faker.zip')
            import faker
            print(faker.name(), path.endswith('Faker.zip'))
            try:
                Zipackage.install('data.csv')
            except ImportError as e:
                print('refused:', e)
            try:
                Zipackage.install('nothing.zip')
            except ImportError as e:
                print('missing:', e)
        """)
        lines = out.splitlines()
        self.assertEqual(lines[0], "Gary Tapia True")
        self.assertIn("not a bundle", lines[1])
        self.assertIn("no artifact named 'nothing.zip'", lines[2])


if __name__ == "__main__":
    unittest.main()
