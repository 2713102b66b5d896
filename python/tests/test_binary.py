"""fxopt.binary.find_binary (torch-free): the order in which the fxopt binary is looked for."""
import os
import stat
import tempfile
import unittest
from unittest import mock

from fxopt import binary


class FindBinaryTest(unittest.TestCase):
    def test_explicit_path_and_prefix(self):
        self.assertEqual(binary.find_binary("/x/fxopt"), ["/x/fxopt"])
        self.assertEqual(binary.find_binary(["python3", "fake.py"]), ["python3", "fake.py"])

    def test_env_wins_over_path(self):
        with mock.patch.dict(os.environ, {"FXOPT_BIN": "/env/fxopt"}):
            self.assertEqual(binary.find_binary(), ["/env/fxopt"])

    def test_installed_binary_on_path(self):
        # An installed package (no source checkout around it) finds `fxopt` on PATH.
        with tempfile.TemporaryDirectory() as d:
            exe = os.path.join(d, "fxopt")
            with open(exe, "w") as f:
                f.write("#!/bin/sh\n")
            os.chmod(exe, stat.S_IRWXU)
            env = {k: v for k, v in os.environ.items() if k != "FXOPT_BIN"}
            env["PATH"] = d
            with mock.patch.dict(os.environ, env, clear=True), \
                    mock.patch.object(binary, "_HERE", os.path.join(d, "site-packages", "fxopt")):
                self.assertEqual(binary.find_binary(), [exe])
                os.remove(exe)
                with mock.patch.object(binary.sys, "prefix", d + "/none"):
                    with self.assertRaises(binary.BinaryNotFound) as e:
                        binary.find_binary()
                self.assertIn("PATH", str(e.exception))


if __name__ == "__main__":
    unittest.main()
