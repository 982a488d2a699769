# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs tests/emulator/netns (azure-identity and msal at the default endpoint) in a namespace of its own."""

import os
import re
import subprocess
import sys

from tools.imds_emulator.testing import REPO_ROOT

RUN_IN_NETNS = os.path.join(REPO_ROOT, "tools", "run-in-netns.sh")
SUITE = os.path.join("tests", "emulator", "netns")


def pytest_run(*command):
    return subprocess.run(list(command) + [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEsxX", SUITE],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_real_clients_at_the_default_endpoint_in_a_private_namespace():
    result = pytest_run(RUN_IN_NETNS)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    # Every test ran and passed: nothing skipped, deselected or expected to fail.
    assert re.match(r"^=* ?\d+ passed in ", summary) and int(summary.split(" passed")[0].split()[-1]) >= 16, output


def test_the_suite_refuses_to_run_outside_a_namespace_of_its_own():
    result = pytest_run()
    assert result.returncode != 0
    assert "runs only inside a network namespace it owns" in result.stdout + result.stderr
