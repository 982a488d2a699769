# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The integration targets' shell helpers (setup_emulator/emulator.sh) stop what a target started."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import COLLECTION_ROOT

HELPERS = os.path.join(COLLECTION_ROOT, "tests", "integration", "targets", "setup_emulator", "emulator.sh")


def run_target(tmp_path, body, path=None):
    """Run a runme.sh-like script that sources the helpers; return (process, the pids it recorded)."""
    script = tmp_path / "runme.sh"
    pids = tmp_path / "pids"
    script.write_text("set -euo pipefail\nsource %s\nPIDS_FILE=%s\n%s\n" % (HELPERS, pids, textwrap.dedent(body)))
    env = dict(os.environ, PATH=path or os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"], TMPDIR=str(tmp_path))
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)  # run straight from the checkout
    env.pop("IMDS_NETGUARD_LOG", None)
    process = subprocess.run(["bash", str(script)], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False)
    recorded = [int(pid) for pid in pids.read_text().split()] if pids.exists() else []
    return process, recorded


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("failure", ["false", "exit 3"])
def test_a_failing_target_stops_its_emulators_and_registered_processes(tmp_path, failure):
    process, pids = run_target(tmp_path, """
        emulator_start
        emulator_start --fleet-size 2
        sleep 300 &
        SLEEPER=$!
        stop_sleeper() { kill "$SLEEPER"; echo "sleeper stopped"; }
        emulator_on_exit stop_sleeper
        echo "${_EMULATOR_PIDS[*]} $SLEEPER" > "$PIDS_FILE"
        %s
        echo "not reached"
    """ % failure)
    assert len(pids) == 3, process.stderr
    assert process.returncode == (3 if failure == "exit 3" else 1), process.stderr
    assert "sleeper stopped" in process.stdout and "not reached" not in process.stdout
    assert [pid for pid in pids if alive(pid)] == []


def test_a_passing_target_still_fails_on_a_blocked_connection(tmp_path):
    process, _pids = run_target(tmp_path, """
        "$PYTHON" -c 'import socket; socket.create_connection(("198.51.100.7", 80), timeout=1)' || true
    """)
    assert process.returncode == 1
    assert "the network guard blocked connections" in process.stderr


def test_a_missing_program_fails_at_once_naming_its_package(tmp_path):
    process, _pids = run_target(tmp_path, """
        require_programs bash=bash no-such-program-imds=imds-test-package
        echo "not reached"
    """)
    assert process.returncode == 1
    assert "no-such-program-imds (Debian package imds-test-package)" in process.stderr
    assert "bash (Debian" not in process.stderr and "not reached" not in process.stdout
