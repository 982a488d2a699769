# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Windows path over the REAL connection plugins of the installed ansible-core.

winrm, psrp and ssh (cmd and powershell shells) are ansible-core's own, and so is the module
execution (``ActionBase._execute_module``: the bootstrap wrapper, the exec wrapper and its
manifest); only pywinrm's Protocol, pypsrp's pool and pipeline and the ssh process are fakes
(windows_wire.py), and the Windows host behind them is windows_fake.FakeWindowsHost. The units
matrix runs this file on every supported core (2.16 to 2.21), so each core's own payload and
quirks are exercised: winrm re-encoding every command on 2.16 to 2.18, ssh doing so on
2.16/2.17, psrp input as one object before 2.19, winrm and psrp printing output at -vvvvv
regardless of no_log on 2.16/2.17, the 2.19+ bootstrap and manifest.
"""

from __future__ import annotations

import base64
import json

import pytest

from ansible.module_utils.compat.version import LooseVersion
from ansible.playbook.play_context import PlayContext
from ansible.release import __version__ as CORE_VERSION
from ansible.utils.display import Display

from ansible_collections.imds.azure.plugins.action.metadata_facts import ActionModule as FactsAction
from ansible_collections.imds.azure.plugins.action.metadata_route import ActionModule as RouteAction
from ansible_collections.imds.azure.plugins.action.scheduled_events import ActionModule as EventsAction
from ansible_collections.imds.azure.plugins.plugin_utils._windows import hostinfo as _windows_hostinfo, modules as _windows_modules
from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import make_action
from ansible_collections.imds.azure.tests.unit.fakes import route_fixtures
from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf
from ansible_collections.imds.azure.tests.unit.fakes import windows_wire as ww

KINDS = sorted(ww.KINDS)
OLD_CORE = LooseVersion(CORE_VERSION) < LooseVersion("2.18")       # winrm and psrp ignore no_log at -vvvvv
LEGACY_EXEC = LooseVersion(CORE_VERSION) < LooseVersion("2.19")    # bootstrap_wrapper.ps1 + exec_wrapper before the manifest


class Recorder(object):
    """Wraps a connection's exec_command to keep what went over the wire and what came back."""

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
    assert [name for name, params in host.runs] == ["win_metadata_host", "win_metadata_request", "win_metadata_request"]
    assert [r.path for r in host.requests] == ["/metadata/versions", "/metadata/instance"]
    assert host.requests[1].headers["Metadata"] == "true" and host.requests[1].max_bytes > 0
    assert len(recorder.raw) == 3
    # cmd.exe runs the command line of winrm and ssh-cmd: ansible-core's bootstrap must fit
    assert longest_cmd_line(host) <= wf.CMD_MAX


@pytest.mark.parametrize("kind", KINDS)
def test_the_host_gets_ansible_cores_payload_with_the_arguments_as_data(imds_emulator, monkeypatch, kind):
    """The request's URL and headers travel in the exec wrapper's JSON manifest, never in script text."""
    host = wf.FakeWindowsHost()
    result, recorder = run_action(FactsAction, "imds.azure.metadata_facts", kind, host, monkeypatch,
                                  {"endpoint": imds_emulator.url, "api_version": "2021-12-13", "detect": "false"})
    assert not result.get("failed"), result
    (bootstrap, manifest), = host.payloads
    url = host.requests[0].url
    assert "api-version=2021-12-13" in url and url in json.dumps(manifest)
    scripts = [bootstrap, recorder.raw[0][0]]
    if LEGACY_EXEC:  # 2.16 to 2.18: the exec wrapper precedes the manifest on the input
        scripts.append(recorder.raw[0][1].decode("utf-8").split("\0\0\0\0")[0])
    else:  # 2.19+: every script is base64 in the manifest; none holds the URL
        scripts += [base64.b64decode(info["script"]).decode("utf-8") for info in manifest["scripts"].values()]
    assert not any(url in script or imds_emulator.url in script for script in scripts)


@pytest.mark.parametrize("kind", KINDS)
def test_scheduled_events_over_the_real_connection(imds_emulator, monkeypatch, kind):
    mine = imds_emulator.add_scheduled_event({"scenario": "Reboot", "notice": 300})
    host = wf.FakeWindowsHost(env={"AZURE_IMDS_ENDPOINT": imds_emulator.url})
    result, dummy = run_action(EventsAction, "imds.azure.scheduled_events", kind, host, monkeypatch,
                               {"this_host": True, "approve": True})
    assert not result.get("failed"), result
    assert result["changed"] is True and result["approved"] == [mine]
    assert [(r.method, r.path) for r in host.requests][-1] == ("POST", "/metadata/scheduledevents")
    assert json.loads(host.requests[-1].body) == {"StartRequests": [{"EventId": mine}]}


@pytest.mark.parametrize("kind", KINDS)
def test_persistent_route_is_repaired_the_way_windows_accepts(monkeypatch, kind):
    network = wf.FakeNetwork()  # a failover cluster node: no IMDS route, the cluster's 169.254.0.0/16
    host = wf.FakeWindowsHost(network=network)
    result, dummy = run_action(RouteAction, "imds.azure.metadata_route", kind, host, monkeypatch, {})
    assert result.get("changed") and not result.get("failed"), result
    for store in ("active", "persistent"):
        assert [(r["InterfaceIndex"], r["NextHop"], r["RouteMetric"], r["bound"]) for r in network.imds(store)] == [
            (6, "0.0.0.0", 1, True)], store
    assert [name for name, params in host.runs] == ["win_metadata_route"] * 2  # read; change and read again
    again, dummy = run_action(RouteAction, "imds.azure.metadata_route", kind, host, monkeypatch, {})
    assert again["changed"] is False, again


@pytest.mark.parametrize("kind", ["winrm", "psrp"])
def test_a_connection_that_does_not_return_is_a_timeout(monkeypatch, kind):
    host = wf.FakeWindowsHost(override=lambda name, params: wf.HANG)
    monkeypatch.setattr(_windows_modules, "MODULE_SLACK", 0)
    monkeypatch.setattr(_windows_hostinfo, "HOSTINFO_TIMEOUT", 1)
    try:
        result, dummy = run_action(FactsAction, "imds.azure.metadata_facts", kind, host, monkeypatch, {"endpoint": "http://127.0.0.1:9"})
    finally:
        host.release()
    assert result["failed"] and result["imds_error"] == "timeout", result
    assert result["msg"] == ("imds.azure.win_metadata_host did not return from the connection: "
                             "the connection did not return within 1 seconds")


@pytest.mark.parametrize("no_log", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_imds_answers_stay_out_of_the_connection_logs(imds_emulator, monkeypatch, capfd, kind, no_log):
    """Every instance answer holds userData (api-version 2021-01-01 and later). The request runs are
    no_log, which winrm and psrp honour from 2.18 on; on 2.16/2.17 they print module output at -vvvvv
    whatever no_log says (winrm.py ~661 and psrp.py ~907 of 2.16.19), and the task warns once."""
    user_data = imds_emulator.profile["compute"]["userData"]
    monkeypatch.setattr(Display(), "verbosity", 6)
    monkeypatch.setattr(Display(), "_warns", {})  # Display shows a warning once per process
    host = wf.FakeWindowsHost()
    subsets = ["instance", "userdata"] if no_log else ["instance"]
    result, recorder = run_action(FactsAction, "imds.azure.metadata_facts", kind, host, monkeypatch,
                                  {"endpoint": imds_emulator.url, "gather_subset": subsets}, no_log=no_log)
    assert not result.get("failed"), result
    shown = "".join(capfd.readouterr())
    answers = [json.loads(stdout) for _c, _i, _rc, stdout, _e in recorder.raw]
    bodies = [base64.b64decode(answer["body"]) for answer in answers if "body" in answer]
    assert any(user_data.encode() in body for body in bodies)  # the answers did travel, as module output
    warning = "ansible-core %s prints the output of every Windows module" % CORE_VERSION
    assert (_windows_modules.OUTPUT_SHOWN_WARNING % CORE_VERSION).startswith(warning)
    if OLD_CORE and kind in ("winrm", "psrp"):
        assert shown.count(warning) == 1, shown[-2000:]  # what they print is theirs to print; the user was told once
    else:
        assert warning not in shown
        for secret in (user_data, "Standard_D2s_v5", '"body"'):
            assert secret not in shown, secret
        assert "censored" in shown or kind.startswith("ssh")  # winrm and psrp did log, censored


@pytest.mark.parametrize("kind", ["winrm", "psrp", "ssh-powershell"])
def test_constrained_language_mode_fails_with_powershells_reason(imds_emulator, monkeypatch, kind):
    """Unsigned, nothing runs under CLM: 2.16 to 2.18 cannot start their exec wrapper ([ScriptBlock]::Create
    is refused); 2.19+ refuse an untrusted module with module util imports (module_wrapper.ps1)."""
    host = wf.FakeWindowsHost(language_mode="ConstrainedLanguage")
    result, dummy = run_action(FactsAction, "imds.azure.metadata_facts", kind, host, monkeypatch,
                               {"endpoint": imds_emulator.url, "detect": "false", "api_version": "2021-12-13"})
    assert result["failed"] and result["imds_error"] == "command", result
    assert ("Method invocation is supported only on core types" in result["msg"] if LEGACY_EXEC
            else "in ConstrainedLanguage mode with module util imports" in result["msg"]), result["msg"]


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


def test_check_mode_reads_and_changes_nothing(monkeypatch):
    network = wf.FakeNetwork()
    host = wf.FakeWindowsHost(network=network)
    conn = ww.connect("psrp", host, monkeypatch)
    action = make_action(RouteAction, "imds.azure.metadata_route", conn, {}, check_mode=True)
    result = action.run(task_vars={})
    assert result["changed"] is True and not result.get("failed") and network.changes == [], result
    assert [name for name, params in host.runs] == ["win_metadata_route"]
