# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs tools/imds_emulator/tests/netns (real clients at the default endpoint) in a namespace of its own.

The Debian clients (cloud-init, WALinuxAgent) are fetched here, on the host, before the namespace is
entered: in there nothing but the emulator can be reached (debian_clients.py).
"""

import json
import os
import re
import subprocess
import sys

import pytest

import debian_clients
from tools.imds_emulator.testing import REPO_ROOT

RUN_IN_NETNS = os.path.join(REPO_ROOT, "tools", "run-in-netns.sh")
SUITE = os.path.join("tools", "imds_emulator", "tests", "netns")


def pytest_run(*command, env=None):
    return subprocess.run(list(command) + [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEsxX", SUITE],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False, env=env)


def test_real_clients_at_the_default_endpoint_in_a_private_namespace():
    # Fails (never skips) when the packages cannot be fetched, with the command that fixes it.
    clients = debian_clients.site_dirs()
    result = pytest_run(RUN_IN_NETNS, env=dict(os.environ, IMDS_DEBIAN_CLIENTS=json.dumps(clients)))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    # Every test ran and passed: nothing skipped, deselected or expected to fail.
    match = re.match(r"^=* ?(\d+) passed(, \d+ warnings?)? in ", summary)
    assert match and int(match.group(1)) >= 27, output


def test_the_suite_refuses_to_run_outside_a_namespace_of_its_own():
    result = pytest_run()
    assert result.returncode != 0
    assert "runs only inside a network namespace it owns" in result.stdout + result.stderr


def test_a_client_apt_does_not_know_fails_naming_the_command():
    with pytest.raises(debian_clients.ClientUnavailable, match="Run: apt-get update"):
        debian_clients.site_dirs(["imds-azure-no-such-package"], fetch=False)
