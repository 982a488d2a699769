# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils._commands: encoding, timeouts on both sides."""

from __future__ import annotations

import base64
import subprocess
import threading

import pytest

from ansible_collections.imds.azure.plugins.plugin_utils import _commands
from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf


class FakeAction:
    def __init__(self, handler):
        self.handler = handler
        self.calls = []

    def _low_level_execute_command(self, cmd, sudoable=True):
        self.calls.append((cmd, sudoable))
        return self.handler(cmd)


def test_powershell_runs_the_script_from_stdin_with_a_constant_command_line():
    host = wf.FakeWindowsHost(override=lambda script: (0, "ok", ""))
    action = wf.HostAction(host)
    runner = _commands.CommandRunner(action, timeout=7)
    res = runner.powershell("Get-Date | Out-String", display="date")
    cmd, in_data, sudoable = action.calls[0]
    assert cmd == _commands.BOOTSTRAP_COMMAND and sudoable is False
    assert cmd.startswith("PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand ")
    assert len(cmd) < 500 and in_data.isascii() and in_data.count(b"\n") == 1
    assert host.commands == ["Get-Date | Out-String"] and host.wait_ms == [7000]
    assert (res.rc, res.stdout, res.command, res.answered) == (0, "ok", "date", True)


def test_non_ascii_script_and_output_survive():
    script = "Write-Output 'St\u00e4ndige Routen / \u56fa\u5b9a\u30eb\u30fc\u30c8'"
    host = wf.FakeWindowsHost(override=lambda inner: (0, inner, ""))
    res = _commands.CommandRunner(wf.HostAction(host), timeout=5).powershell(script)
    assert host.commands == [script] and res.stdout == script


def test_the_result_is_encrypted_with_a_key_that_travels_only_on_stdin():
    host = wf.FakeWindowsHost(override=lambda script: (0, "the secret answer", ""))
    command = _commands.PowerShellCommand("Get-Secret", 5)
    rc, stdout, dummy = host.process(command.command, command.in_data)
    assert rc == 0 and "the secret answer" not in stdout and stdout.startswith(_commands.RESULT_MARKER)
    assert base64.b64encode(command.key).decode() not in command.command
    assert command.decode(stdout) == {"rc": 0, "timeout": False, "out": ["the secret answer"], "err": []}
    assert _commands.PowerShellCommand("Get-Secret", 5).decode(stdout) is None  # another key: no result
    tampered = stdout.replace(stdout[30], "A" if stdout[30] != "A" else "B", 1)
    assert command.decode(tampered) is None  # the MAC does not verify
    assert command.decode("\ufeff" + stdout) == command.decode(stdout)  # a byte order mark is ignored


def test_script_errors_and_a_lost_result_are_told_apart():
    host = wf.FakeWindowsHost(override=lambda script: (1, "", "Access denied"))
    res = _commands.CommandRunner(wf.HostAction(host)).powershell("Get-Thing")
    assert (res.rc, res.stderr, res.answered) == (1, "Access denied", True)
    assert res.failure() == "rc 1: Access denied"

    class Lost:
        def _low_level_execute_command(self, cmd, sudoable=True, in_data=None):
            return {"rc": 1, "stdout": "", "stderr": "The command line is too long.\r\n"}

    res = _commands.CommandRunner(Lost()).powershell("Get-Thing")
    assert not res.answered and not res.timed_out
    assert res.failure() == "the command's result did not come back (rc 1): The command line is too long."


def test_a_stopped_script_is_a_timeout_whatever_the_exit_code():
    host = wf.FakeWindowsHost(override=lambda script: wf.HANG)
    runner = _commands.CommandRunner(wf.HostAction(host), timeout=3)
    with pytest.raises(_commands.CommandTimeout) as err:
        runner.powershell("Start-Sleep 100", display="sleep")
    assert "timed out after 3 seconds on the target: sleep" in str(err.value)
    res = runner.powershell("Start-Sleep 100", check_timeout=False)
    assert res.timed_out and res.rc == _commands.TIMEOUT_RC and _commands.TIMEOUT_MARKER in res.stderr


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


def test_per_command_timeout_overrides_the_runner():
    action = StdinAction()
    runner = _commands.CommandRunner(action, timeout=30)
    runner.powershell("Get-Date", timeout=7, check_timeout=False)
    stage_two = base64.b64decode(action.calls[0][1]).decode("utf-8")
    assert wf.script_name_and_inputs(stage_two)[1]["imdsWaitMs"] == 7000  # read along the layout, not the code
    runner.posix(["true"], timeout=4)
    assert "timeout 4 true" in action.calls[1][0]
