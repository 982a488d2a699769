# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils._windows.controller: Windows targets, the host information of a task, module entry points on the controller."""

from __future__ import annotations

import functools

import pytest


from ansible_collections.imds.azure.plugins.module_utils import _client, _detect
from ansible_collections.imds.azure.plugins.plugin_utils._windows import controller as _windows, hostinfo as _windows_hostinfo, modules as _windows_modules
from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf
from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import windows_action


def host_action(host, check_mode=False, no_log=False):
    return windows_action(host, check_mode=check_mode, no_log=no_log)


@pytest.mark.parametrize("family, expected", [("powershell", True), ("cmd", True), ("sh", False), ("csh", False), (None, False)])
def test_is_windows_by_shell_family(family, expected):
    class Shell:
        SHELL_FAMILY = family

    class Connection:
        _shell = Shell()

    class Action:
        _connection = Connection()

    assert _windows.is_windows(Action()) is expected  # winrm uses the cmd shell in ansible-core 2.21


# --------------------------------------------------------------------- the host information of a task

def test_one_host_module_run_serves_detection_and_environment():
    host = wf.FakeWindowsHost(env={"AZURE_IMDS_ENDPOINT": "http://127.0.0.1:9"})
    windows = _windows.WindowsImds(host_action(host), detect=True, env_names=["AZURE_IMDS_ENDPOINT", "OTHER"])
    assert windows.detector().result == _detect.AZURE
    assert windows.env("AZURE_IMDS_ENDPOINT") == "http://127.0.0.1:9" and windows.env("OTHER") is None
    assert windows.detector().result == _detect.AZURE
    assert host.hostinfo == 1
    assert host.runs == [("win_metadata_host", {"smbios": True, "env": ["AZURE_IMDS_ENDPOINT", "OTHER"]})]


def test_no_host_module_run_when_nothing_is_needed():
    host = wf.FakeWindowsHost()
    windows = _windows.WindowsImds(host_action(host))
    assert windows.env("AZURE_IMDS_ENDPOINT") is None and host.runs == []


def test_a_host_module_run_that_does_not_return_is_a_timeout(monkeypatch):
    host = wf.FakeWindowsHost(override=lambda name, params: wf.HANG)
    monkeypatch.setattr(_windows_modules, "MODULE_SLACK", 0)
    monkeypatch.setattr(_windows_hostinfo, "HOSTINFO_TIMEOUT", 1)
    windows = _windows.WindowsImds(host_action(host), detect=True)
    try:
        with pytest.raises(_windows_modules.RemoteModuleError) as err:
            windows.detector()
    finally:
        host.release()
    assert err.value.kind == "timeout" and "did not return within 1 seconds" in str(err.value)


@pytest.mark.parametrize("answer, expected", [
    ((1, "", "The command line is too long.\r\n"), "The command line is too long."),   # no JSON: ansible-core's MODULE FAILURE
    ({"failed": True, "msg": "Unhandled exception while executing module: Access denied"}, "Access denied"),
])
def test_a_failing_host_module_run_is_reported(answer, expected):
    host = wf.FakeWindowsHost(override=lambda name, params: answer)
    windows = _windows.WindowsImds(host_action(host), detect=True)
    with pytest.raises(_windows_modules.RemoteModuleError) as err:
        windows.detector()
    assert err.value.kind == "command" and expected in str(err.value)
    assert str(err.value).startswith("reading the SMBIOS table and environment of the Windows host failed (")


# --------------------------------------------------------------------- a module entry point on the controller

SPEC = {
    "endpoint": {"type": "str", "default": "http://169.254.169.254",
                 "fallback": (__import__("ansible.module_utils.basic", fromlist=["env_fallback"]).env_fallback, ["AZURE_IMDS_ENDPOINT"])},
    "count": {"type": "int", "default": 1},
}


def versions_entry(module, client_factory):
    """A small entry point in the style of the collection's module_utils."""
    client = client_factory(endpoint=module.params["endpoint"], api_version="latest")
    module.warn("check_mode=%s no_log=%s" % (module.check_mode, module.no_log))
    module.exit_json(versions=client.available_versions()[-module.params["count"]:])


def test_entry_point_runs_with_target_environment_not_the_controllers(imds_emulator, monkeypatch):
    monkeypatch.setenv("AZURE_IMDS_ENDPOINT", "http://127.0.0.1:1")  # the controller's: must not be used
    host = wf.FakeWindowsHost(env={"AZURE_IMDS_ENDPOINT": imds_emulator.url})
    result = _windows.run_module_on_controller(host_action(host, check_mode=True, no_log=True), versions_entry, SPEC, {"count": "2"})
    assert result["changed"] is False and len(result["versions"]) == 2, result
    assert result["warnings"] == ["check_mode=True no_log=True"]
    assert host.hostinfo == 1 and [r.path for r in host.requests] == ["/metadata/versions"]


def test_entry_point_arguments_are_validated():
    host = wf.FakeWindowsHost()
    result = _windows.run_module_on_controller(host_action(host, check_mode=True, no_log=True), versions_entry, SPEC,
                                               {"endpoint": "http://127.0.0.1:1", "count": "many", "bogus": 1})
    assert result["failed"] and "count" in result["msg"] and "bogus" in result["msg"]
    assert host.runs == []


def test_imds_errors_from_an_entry_point_fail_with_their_kind(closed_port, fake_time, monkeypatch):
    monkeypatch.setattr(_windows, "ImdsClient", functools.partial(_client.ImdsClient, sleep=fake_time.sleep, clock=fake_time.clock))
    result = _windows.run_module_on_controller(host_action(wf.FakeWindowsHost(), check_mode=True, no_log=True), versions_entry, SPEC,
                                               {"endpoint": "http://127.0.0.1:%d" % closed_port})
    assert result["failed"] and result["imds_error"] == "unreachable" and "cannot connect" in result["msg"]
    assert "4 attempts" in result["msg"] and len(fake_time.sleeps) == 3
