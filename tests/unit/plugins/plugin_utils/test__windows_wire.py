# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Windows path over the REAL connection plugins of the installed ansible-core.

winrm, psrp and ssh (cmd and powershell shells) are ansible-core's own; only pywinrm's
Protocol, pypsrp's pool and pipeline and the ssh process are fakes (windows_wire.py), and
the Windows host behind them is windows_fake.FakeWindowsHost. The units matrix runs this
file on every supported core (2.16 to 2.21), so each core's own quirks are exercised:
winrm re-encoding every command on 2.16 to 2.18, ssh doing so on 2.16/2.17, psrp input as
one object before 2.19, winrm and psrp printing output at -vvvvv regardless of no_log on
2.16/2.17.
"""

from __future__ import annotations

import base64

import pytest

from ansible.playbook.play_context import PlayContext
from ansible.utils.display import Display

from ansible_collections.imds.azure.plugins.action.metadata_facts import ActionModule as FactsAction
from ansible_collections.imds.azure.plugins.action.metadata_route import ActionModule as RouteAction
from ansible_collections.imds.azure.plugins.action.scheduled_events import ActionModule as EventsAction
from ansible_collections.imds.azure.plugins.plugin_utils import _commands
from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import make_action
from ansible_collections.imds.azure.tests.unit.fakes import route_fixtures
from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf
from ansible_collections.imds.azure.tests.unit.fakes import windows_wire as ww

KINDS = sorted(ww.KINDS)
# What the tests allow a command line to reach, after the connection plugin built it: half of
# cmd.exe's 8,191 characters, so that a later core or a longer script still has room.
COMMAND_LINE_BUDGET = 4096


class Recorder(object):
    """Wraps a connection's exec_command to keep what came back over the wire."""

    def __init__(self, conn):
        self.raw = []
        real = conn.exec_command

        def exec_command(cmd, in_data=None, sudoable=True):
            rc, stdout, stderr = real(cmd, in_data=in_data, sudoable=sudoable)
            self.raw.append((cmd, in_data, rc, stdout, stderr))
            return rc, stdout, stderr

        conn.exec_command = exec_command


def run_action(action_class, name, kind, host, monkeypatch, args, no_log=False):
    play_context = PlayContext()
    play_context.no_log = no_log
    conn = ww.connect(kind, host, monkeypatch, play_context=play_context)
    recorder = Recorder(conn)
    action = make_action(action_class, name, conn, args, no_log=no_log, play_context=play_context)
    action._get_remote_user = lambda: "admin"  # pylint: disable=protected-access
    return action.run(task_vars={}), recorder


def longest_cmd_line(host):
    lines = [len(line) for program, line in host.command_lines if program in ("cmd.exe", "powershell.exe -c")]
    return max(lines) if lines else 0


@pytest.mark.parametrize("kind", KINDS)
def test_facts_over_the_real_connection(imds_emulator, monkeypatch, kind):
    host = wf.FakeWindowsHost()
    result, recorder = run_action(FactsAction, "imds.azure.metadata_facts", kind, host, monkeypatch,
                                  {"endpoint": imds_emulator.url})
    assert not result.get("failed"), result
    facts = result["ansible_facts"]["azure_imds"]
    assert facts["is_azure"] is True and facts["placement"]["vm_size"] == "Standard_D2s_v5"
    assert [r.path for r in host.requests] == ["/metadata/versions", "/metadata/instance"]
    assert host.hostinfo == 1 and len(recorder.raw) == 3
    assert longest_cmd_line(host) <= COMMAND_LINE_BUDGET


@pytest.mark.parametrize("kind", KINDS)
def test_scheduled_events_over_the_real_connection(imds_emulator, monkeypatch, kind):
    mine = imds_emulator.add_scheduled_event({"scenario": "Reboot", "notice": 300})
    host = wf.FakeWindowsHost(env={"AZURE_IMDS_ENDPOINT": imds_emulator.url})
    result, dummy = run_action(EventsAction, "imds.azure.scheduled_events", kind, host, monkeypatch,
                               {"this_host": True, "approve": True})
    assert not result.get("failed"), result
    assert result["changed"] is True and result["approved"] == [mine]
    assert [(r.method, r.path) for r in host.requests][-1] == ("POST", "/metadata/scheduledevents")
    assert longest_cmd_line(host) <= COMMAND_LINE_BUDGET


@pytest.mark.parametrize("kind", KINDS)
def test_persistent_route_is_repaired_the_way_windows_accepts(monkeypatch, kind):
    network = wf.FakeNetwork()  # a failover cluster node: no IMDS route, the cluster's 169.254.0.0/16
    host = wf.FakeWindowsHost(network=network)
    result, dummy = run_action(RouteAction, "imds.azure.metadata_route", kind, host, monkeypatch, {})
    assert result.get("changed") and not result.get("failed"), result
    for store in ("active", "persistent"):
        assert [(r["InterfaceIndex"], r["NextHop"], r["RouteMetric"], r["bound"]) for r in network.imds(store)] == [
            (6, "0.0.0.0", 1, True)], store
    again, dummy = run_action(RouteAction, "imds.azure.metadata_route", kind, host, monkeypatch, {})
    assert again["changed"] is False, again
    assert longest_cmd_line(host) <= COMMAND_LINE_BUDGET


@pytest.mark.parametrize("kind", KINDS)
def test_a_target_side_timeout_is_reported_as_a_timeout(monkeypatch, kind):
    host = wf.FakeWindowsHost(override=lambda script: wf.HANG if "$imdsInfo" in script else None)
    result, dummy = run_action(FactsAction, "imds.azure.metadata_facts", kind, host, monkeypatch, {"endpoint": "http://127.0.0.1:9"})
    assert result["failed"] and result["imds_error"] == "timeout", result
    assert "stopped after 30 s" in result["msg"]


@pytest.mark.parametrize("no_log", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_no_imds_answer_reaches_the_connection_output_or_its_logs(imds_emulator, monkeypatch, capfd, kind, no_log):
    """winrm and psrp of 2.16/2.17 print command output at -vvvvv whatever no_log says
    (winrm.py ~661 and psrp.py ~907 of 2.16.19): what travels must be unreadable there.
    Every instance answer holds userData (api-version 2021-01-01 and later), with or without no_log."""
    user_data = imds_emulator.profile["compute"]["userData"]
    monkeypatch.setattr(Display(), "verbosity", 6)
    host = wf.FakeWindowsHost()
    subsets = ["instance", "userdata"] if no_log else ["instance"]
    result, recorder = run_action(FactsAction, "imds.azure.metadata_facts", kind, host, monkeypatch,
                                  {"endpoint": imds_emulator.url, "gather_subset": subsets}, no_log=no_log)
    assert not result.get("failed"), result
    assert result["ansible_facts"]["azure_imds"]["compute"]["vmSize"] == "Standard_D2s_v5"
    captured = capfd.readouterr()
    shown = captured.out + captured.err
    wire = "".join(stdout.decode("utf-8", "replace") + stderr.decode("utf-8", "replace") for _c, _i, _rc, stdout, stderr in recorder.raw)
    plain = base64.b64decode(user_data).decode("utf-8")
    for secret in (user_data, plain, "Standard_D2s_v5", "IMDS-AZURE-RESPONSE:", "IMDS-AZURE-HOSTINFO:"):
        assert secret not in wire and secret not in shown, secret
    assert wire.count("IMDS-AZURE-RESULT:") == len(recorder.raw) == 3  # the answers did travel, encrypted
    assert "STDOUT" in shown or "EXEC" in shown  # the connection did log at this verbosity


@pytest.mark.parametrize("kind", ["winrm", "ssh-cmd"])
def test_every_command_fits_cmd_exe_when_a_connection_encodes_it_again(imds_emulator, monkeypatch, kind):
    """winrm of 2.16 to 2.18 (winrm.py exec_command, ~730 in 2.16.19) and ssh with the cmd shell
    of 2.16/2.17 (ssh.py exec_command) pass every command through the powershell shell plugin's
    ``_encode_script`` once more; ReencodingConnection does that on every core."""
    host = wf.FakeWindowsHost()
    monkeypatch.setattr(ww, "reencode", True)
    result, dummy = run_action(FactsAction, "imds.azure.metadata_facts", kind, host, monkeypatch, {"endpoint": imds_emulator.url})
    assert not result.get("failed"), result
    route, dummy = run_action(RouteAction, "imds.azure.metadata_route", kind, host, monkeypatch, {})
    assert route["changed"] and not route.get("failed"), route
    assert wf.CMD_MAX > COMMAND_LINE_BUDGET >= longest_cmd_line(host) > 0


@pytest.mark.parametrize("kind", ["winrm", "ssh-cmd"])
def test_timeout_survives_an_outer_powershell(monkeypatch, kind):
    """An outer ``powershell -EncodedCommand`` turns the inner exit code 124 into 1 (PowerShell/PowerShell#13501)."""
    monkeypatch.setattr(ww, "reencode", True)
    host = wf.FakeWindowsHost(override=lambda script: wf.HANG)
    conn = ww.connect(kind, host, monkeypatch)
    runner = _commands.CommandRunner(make_action(RouteAction, "imds.azure.metadata_route", conn, {}), timeout=5)
    with pytest.raises(_commands.CommandTimeout) as err:
        runner.powershell("Start-Sleep -Seconds 60", display="sleep")
    assert "timed out after 5 seconds on the target: sleep" in str(err.value)
    assert host.commands == ["Start-Sleep -Seconds 60"] and host.wait_ms == [5000]  # it ran and was stopped there


def test_a_command_line_over_8191_characters_is_refused_as_cmd_exe_does():
    host = wf.FakeWindowsHost()
    rc, stdout, stderr = host.cmd_exe("PowerShell -EncodedCommand " + "A" * 8200)
    assert (rc, stdout, stderr) == (1, "", "The command line is too long.\r\n")


def test_psrp_loses_console_writes_and_keeps_pipeline_output(monkeypatch):
    """Why the command wrapper prints its result as pipeline output: psrp returns only the pipeline."""
    script = "[Console]::Out.WriteLine('console')\n'pipeline'"
    host = wf.FakeWindowsHost()
    conn = ww.connect("psrp", host, monkeypatch)
    rc, stdout, stderr = conn.exec_command(_commands.encode_powershell(script))
    assert (rc, stdout.strip(), stderr) == (0, b"pipeline", b"")  # the console write went to the server's console: lost
    assert host.process(_commands.encode_powershell(script)) == (0, "pipeline\r\nconsole\r\n", "")  # powershell.exe prints both


def test_psrp_input_arrives_as_the_core_passes_it(monkeypatch):
    host = wf.FakeWindowsHost()
    seen = []
    real = host.runspace

    def runspace(script, input_objects, stdin=None):
        seen.append(list(input_objects))
        return real(script, input_objects, stdin)

    monkeypatch.setattr(host, "runspace", runspace)
    conn = ww.connect("psrp", host, monkeypatch)
    command = _commands.PowerShellCommand("'x'", 5)
    rc, stdout, dummy = conn.exec_command(command.command, in_data=command.in_data)
    assert rc == 0 and command.decode(stdout.decode())["out"] == ["x"]
    assert len(seen[0]) == 1 and seen[0][0].strip() == command.in_data.decode().strip()


def test_route_exe_fallback_binds_the_persistent_route_to_its_interface(monkeypatch):
    network = wf.FakeNetwork(active=[route_fixtures.WRONG_ACTIVE], persistent=[route_fixtures.WRONG_ACTIVE], netroute=False)
    host = wf.FakeWindowsHost(network=network)
    result, dummy = run_action(RouteAction, "imds.azure.metadata_route", "winrm", host, monkeypatch, {})
    assert result.get("changed") and not result.get("failed") and result["reader"] == "route-print", result
    assert network.changes == ["route.exe delete 169.254.169.254 mask 255.255.255.255",
                               "route.exe -p add 169.254.169.254 mask 255.255.255.255 10.0.1.10 metric 1 IF 6"]
    for store in ("active", "persistent"):
        assert [(r["InterfaceIndex"], r["bound"]) for r in network.imds(store)] == [(6, True)], store
    again, dummy = run_action(RouteAction, "imds.azure.metadata_route", "winrm", host, monkeypatch, {})
    assert again["changed"] is False, again
