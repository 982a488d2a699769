# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils._commands: POSIX command lines, timeouts on both sides."""

from __future__ import annotations

import subprocess
import threading

import pytest

from ansible_collections.imds.azure.plugins.plugin_utils import _commands


class FakeAction:
    def __init__(self, handler):
        self.handler = handler
        self.calls = []

    def _low_level_execute_command(self, cmd, sudoable=True):
        self.calls.append((cmd, sudoable))
        return self.handler(cmd)


def test_target_side_timeout_raises():
    runner = _commands.CommandRunner(FakeAction(lambda cmd: {"rc": 124, "stdout": "", "stderr": ""}), timeout=3)
    with pytest.raises(_commands.CommandTimeout) as err:
        runner.posix(["ip", "route"])
    assert "timed out after 3 seconds on the target: ip route" in str(err.value)


def test_controller_side_timeout_when_the_connection_hangs():
    release = threading.Event()

    def hang(cmd):
        release.wait(10)
        return {"rc": 0, "stdout": "", "stderr": ""}

    runner = _commands.CommandRunner(FakeAction(hang), timeout=1, grace=0)
    try:
        with pytest.raises(_commands.CommandTimeout) as err:
            runner.posix(["sleep", "100"])
        assert "did not return within 1 seconds" in str(err.value)
    finally:
        release.set()


def test_connection_errors_propagate():
    def boom(cmd):
        raise OSError("connection reset")

    with pytest.raises(OSError):
        _commands.CommandRunner(FakeAction(boom)).posix(["true"])


def test_posix_command_line_really_times_out_and_quotes():
    line = _commands.posix_with_timeout(["sh", "-c", "sleep 5; echo late"], 1)
    assert line.startswith("LC_ALL=C; export LC_ALL; if command -v timeout")
    done = subprocess.run(["/bin/sh", "-c", line], capture_output=True, timeout=10, check=False)
    assert done.returncode == _commands.TIMEOUT_RC
    line = _commands.posix_with_timeout(["printf", "%s|", "a b", "it's"], 5)
    done = subprocess.run(["/bin/sh", "-c", line], capture_output=True, timeout=10, check=False, text=True)
    assert (done.returncode, done.stdout) == (0, "a b|it's|")


def test_posix_without_timeout_binary_still_runs(tmp_path):
    line = _commands.posix_with_timeout(["echo", "hi"], 5)
    env = {"PATH": str(tmp_path)}  # no timeout (and no echo binary: the shell builtin is used)
    done = subprocess.run(["/bin/sh", "-c", line], capture_output=True, timeout=10, check=False, text=True, env=env)
    assert (done.returncode, done.stdout) == (0, "hi\n")


def test_run_bounded_returns_raises_and_gives_up():
    assert _commands.run_bounded(lambda: 42, 5) == 42
    with pytest.raises(KeyError):
        _commands.run_bounded(lambda: {}["missing"], 5)
    release = threading.Event()
    try:
        with pytest.raises(_commands.CommandTimeout) as err:
            _commands.run_bounded(lambda: release.wait(10), 0.2)
        assert str(err.value) == "the connection did not return within 0.2 seconds"
    finally:
        release.set()
