# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils._commands: encoding, timeouts on both sides."""

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


def test_powershell_round_trip_and_wrapper():
    runner = _commands.CommandRunner(FakeAction(lambda cmd: {"rc": 0, "stdout": "ok\r\n", "stderr": ""}), timeout=7)
    res = runner.powershell("Get-Date | Out-String", display="date")
    cmd, sudoable = runner._action.calls[0]  # pylint: disable=protected-access
    assert cmd.startswith("PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand ")
    assert " -EncodedCommand " in cmd and sudoable is False
    wrapper = _commands.decode_powershell(cmd)
    assert "WaitOne(7000)" in wrapper and "exit 124" in wrapper and "BeginStop" in wrapper
    assert _commands.unwrap_powershell(cmd) == "Get-Date | Out-String"
    assert (res.rc, res.stdout, res.command) == (0, "ok\r\n", "date")


def test_non_ascii_script_survives_encoding():
    script = "Write-Output 'Ständige Routen / 固定ルート'"
    cmd = _commands.encode_powershell(_commands.powershell_with_timeout(script, 5))
    assert cmd.isascii() and _commands.unwrap_powershell(cmd) == script


def test_target_side_timeout_raises():
    runner = _commands.CommandRunner(FakeAction(lambda cmd: {"rc": 124, "stdout": "", "stderr": _commands.TIMEOUT_MARKER}), timeout=3)
    with pytest.raises(_commands.CommandTimeout) as err:
        runner.posix(["ip", "route"])
    assert "timed out after 3 seconds on the target: ip route" in str(err.value)
    assert runner.posix(["ip", "route"], check_timeout=False).rc == 124


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
    line = _commands.posix_with_timeout(["printf", "%s|", "a b", "it's"], 5, env={"X": "1 2"})
    done = subprocess.run(["/bin/sh", "-c", line], capture_output=True, timeout=10, check=False, text=True)
    assert (done.returncode, done.stdout) == (0, "a b|it's|")


def test_posix_without_timeout_binary_still_runs(tmp_path):
    line = _commands.posix_with_timeout(["echo", "hi"], 5)
    env = {"PATH": str(tmp_path)}  # no timeout (and no echo binary: the shell builtin is used)
    done = subprocess.run(["/bin/sh", "-c", line], capture_output=True, timeout=10, check=False, text=True, env=env)
    assert (done.returncode, done.stdout) == (0, "hi\n")


class StdinAction:
    def __init__(self):
        self.calls = []

    def _low_level_execute_command(self, cmd, sudoable=True, in_data=None):
        self.calls.append((cmd, in_data))
        return {"rc": 0, "stdout": "", "stderr": ""}


def test_long_script_travels_on_stdin_and_the_command_line_stays_short():
    script = "Write-Output '%s'" % ("x" * 20000)
    action = StdinAction()
    _commands.CommandRunner(action, timeout=5).powershell(script)
    cmd, in_data = action.calls[0]
    assert len(cmd) <= _commands.MAX_COMMAND_LINE < 8191  # cmd.exe (winrm, ssh with cmd) truncates at 8191
    wrapper = _commands.decode_powershell(cmd)
    assert "$input" in wrapper and "WaitOne(5000)" in wrapper and "x" * 100 not in wrapper
    assert in_data.isascii() and in_data.count(b"\n") == 1
    assert _commands.unwrap_powershell(cmd, in_data) == script
    assert _commands.unwrap_powershell(cmd) is None


def test_short_script_stays_on_the_command_line_without_input():
    calls = []
    runner = _commands.CommandRunner(FakeAction(lambda cmd: calls.append(cmd) or {"rc": 0, "stdout": "", "stderr": ""}), timeout=5)
    runner.powershell("Get-Date")  # FakeAction takes no in_data: none is passed
    assert _commands.unwrap_powershell(calls[0]) == "Get-Date"


def test_per_command_timeout_overrides_the_runner():
    action = StdinAction()
    runner = _commands.CommandRunner(action, timeout=30)
    runner.powershell("Get-Date", timeout=7)
    assert "WaitOne(7000)" in _commands.decode_powershell(action.calls[0][0])
    runner.posix(["true"], timeout=4)
    assert "timeout 4 true" in action.calls[1][0]
