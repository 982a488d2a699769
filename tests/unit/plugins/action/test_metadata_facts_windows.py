# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata_facts on a Windows target: the action plugin over a fake Windows connection
(ansible-core's powershell shell plugin and module execution) whose host runs the collection's
PowerShell modules against the IMDS emulator."""

from __future__ import annotations

import functools

import pytest

from ansible_collections.imds.azure.plugins.action.metadata_facts import ActionModule
from ansible_collections.imds.azure.plugins.module_utils import _client, _detect, _errors, _facts
from ansible_collections.imds.azure.plugins.plugin_utils._windows import controller as _windows
from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import windows_action
from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf


def run(host, args=None, **kwargs):
    action = windows_action(host, ActionModule, "imds.azure.metadata_facts", args, **kwargs)
    return action.run(task_vars={}), action._connection  # pylint: disable=protected-access


@pytest.fixture
def fast_client(monkeypatch, fake_time):
    """Retries sleep on a fake clock (the requests themselves are real)."""
    monkeypatch.setattr(_windows, "ImdsClient", functools.partial(_client.ImdsClient, sleep=fake_time.sleep, clock=fake_time.clock))
    return fake_time


def metadata_log(emu):
    return [record for record in emu.request_log if record.path.startswith("/metadata")]


def test_default_gather_runs_the_request_module_once_per_request(imds_emulator):
    host = wf.FakeWindowsHost()
    result, dummy = run(host, {"endpoint": imds_emulator.url})
    assert not result.get("failed"), result
    facts = result["ansible_facts"]["azure_imds"]
    assert facts["is_azure"] is True and facts["detection"] == "dmi"
    assert facts["placement"]["vm_size"] == "Standard_D2s_v5"
    assert [r.path for r in host.requests] == ["/metadata/versions", "/metadata/instance"]
    assert [r.path for r in metadata_log(imds_emulator)] == ["/metadata/versions", "/metadata/instance"]
    assert host.hostinfo == 1 and len(host.runs) == 3
    # every command line is ansible-core's bootstrap wrapper: the modules and their arguments travel on stdin
    assert len({line for program, line in host.command_lines}) == 1


def linux_facts(url, params, fake_time, no_log=False):
    """The Linux path's facts for the same parameters: gather_facts with the default transport."""
    params = dict({"endpoint": url, "detect": "true"}, **params)
    factory = _client.ImdsClient
    if fake_time is not None:
        factory = functools.partial(_client.ImdsClient, sleep=fake_time.sleep, clock=fake_time.clock)
    return _facts.gather_facts(params, no_log=no_log, client_factory=factory,
                               detector=lambda: _detect.Detection(_detect.AZURE, "test"))


def test_module_arguments_carry_url_headers_and_the_deadline(imds_emulator):
    host = wf.FakeWindowsHost()
    result, dummy = run(host, {"endpoint": imds_emulator.url, "timeout": 2, "api_version": "2021-02-01", "detect": "false"})
    assert not result.get("failed"), result
    assert host.hostinfo == 0 and len(host.requests) == 1
    request = host.requests[0]
    assert request.url == imds_emulator.url + "/metadata/instance?api-version=2021-02-01"
    assert request.method == "GET" and request.headers == {"Metadata": "true"} and request.body is None
    assert request.timeout_ms == 2000 and request.max_bytes > 0
    record = metadata_log(imds_emulator)[0]
    assert record.query == {"api-version": "2021-02-01"} and record.status == 200


@pytest.mark.parametrize("params", [
    {},
    {"api_version": "2021-12-13"},
    {"gather_subset": ["all"]},
    {"gather_subset": ["all", "!versions"], "api_version": "2023-07-01"},
    {"api_version": "2019-03-11"},
])
def test_same_facts_as_the_linux_path(imds_emulator, fast_client, params):
    host = wf.FakeWindowsHost()
    result, dummy = run(host, dict(params, endpoint=imds_emulator.url))
    assert not result.get("failed"), result
    windows = result["ansible_facts"]["azure_imds"]
    linux = linux_facts(imds_emulator.url, params, fast_client)
    linux["detection"] = "dmi"
    assert windows == linux


def test_commands_per_category_match_the_linux_requests(imds_emulator):
    params = {"gather_subset": ["all", "userdata"], "api_version": "latest"}
    host = wf.FakeWindowsHost()
    result, dummy = run(host, dict(params, endpoint=imds_emulator.url), no_log=True)
    assert not result.get("failed"), result
    windows_paths = [r.path for r in host.requests]
    imds_emulator.clear_log()
    linux_facts(imds_emulator.url, params, None, no_log=True)
    linux_paths = [r.path for r in metadata_log(imds_emulator)]
    assert windows_paths == linux_paths
    assert sorted(set(windows_paths)) == ["/metadata/instance", "/metadata/loadbalancer", "/metadata/scheduledevents",
                                          "/metadata/versions"]
    assert len(host.runs) == len(windows_paths) + 1  # + the SMBIOS/environment read


def test_not_azure_smbios_makes_no_request(imds_emulator):
    host = wf.FakeWindowsHost(smbios=wf.build_smbios("No Asset Tag", "Amazon EC2"))
    result, dummy = run(host, {"endpoint": imds_emulator.url})
    facts = result["ansible_facts"]["azure_imds"]
    assert facts["is_azure"] is False and facts["detection"] == "dmi"
    assert host.requests == [] and metadata_log(imds_emulator) == []


def test_cim_fallback_when_the_registry_has_no_smbios_table(imds_emulator):
    host = wf.FakeWindowsHost(smbios=False, cim={"asset_tag": wf.AZURE_TAG, "vendor": wf.MICROSOFT})
    result, dummy = run(host, {"endpoint": imds_emulator.url, "api_version": "2021-02-01"})
    assert result["ansible_facts"]["azure_imds"]["is_azure"] is True and len(host.requests) == 1


class AtDefaultEndpoint(wf.FakeWindowsHost):
    """A Windows host whose requests to http://169.254.169.254 reach ``url`` on loopback (the network guard stays on)."""

    def __init__(self, url, **kwargs):
        super(AtDefaultEndpoint, self).__init__(**kwargs)
        self.url = url

    def perform(self, request, bounded_reads=True):
        assert request.url.startswith(_client.DEFAULT_ENDPOINT + "/")
        request.url = self.url + request.url[len(_client.DEFAULT_ENDPOINT):]
        return super(AtDefaultEndpoint, self).perform(request, bounded_reads)


def test_unknown_host_is_probed_once_without_connect_retries(closed_port, fast_client):
    host = AtDefaultEndpoint("http://127.0.0.1:%d" % closed_port, smbios=wf.build_smbios("", wf.MICROSOFT))  # Hyper-V, no Azure tag
    result, dummy = run(host, {})
    facts = result["ansible_facts"]["azure_imds"]
    assert not result.get("failed") and facts["is_azure"] is False and facts["detection"] == "imds"
    assert len(host.requests) == 1 and fast_client.sleeps == []


def test_unknown_host_and_an_endpoint_that_does_not_answer_fails(closed_port, fast_client):
    """Only silence at IMDS's own address means "not Azure", on Windows targets too (issue 22, item 6)."""
    host = wf.FakeWindowsHost(smbios=wf.build_smbios("", wf.MICROSOFT))
    result, dummy = run(host, {"endpoint": "http://127.0.0.1:%d" % closed_port})
    assert result["failed"] and result["imds_error"] == "unreachable"
    assert "never means that this is not Azure" in result["msg"] and "ansible_facts" not in result
    assert len(host.requests) == 4           # the usual connection retries, not one quick probe


def test_unknown_host_where_imds_answers_is_azure(imds_emulator):
    host = wf.FakeWindowsHost(smbios=False, cim=None)
    result, dummy = run(host, {"endpoint": imds_emulator.url, "api_version": "2021-02-01"})
    facts = result["ansible_facts"]["azure_imds"]
    assert facts["is_azure"] is True and facts["detection"] == "imds"


def test_detect_true_trusts_smbios_alone(imds_emulator):
    host = wf.FakeWindowsHost(smbios=wf.build_smbios("", wf.MICROSOFT))
    result, dummy = run(host, {"endpoint": imds_emulator.url, "detect": "true"})
    facts = result["ansible_facts"]["azure_imds"]
    assert facts["is_azure"] is False and facts["detection"] == "none" and host.requests == []


def test_endpoint_comes_from_the_targets_environment(imds_emulator, monkeypatch):
    monkeypatch.setenv("AZURE_IMDS_ENDPOINT", "http://127.0.0.1:1")  # the controller's: ignored
    host = wf.FakeWindowsHost(env={"AZURE_IMDS_ENDPOINT": imds_emulator.url})
    result, dummy = run(host, {"api_version": "2021-02-01"})
    assert not result.get("failed"), result
    assert result["ansible_facts"]["azure_imds"]["endpoint"] == imds_emulator.url
    assert host.hostinfo == 1 and len(host.runs) == 2  # SMBIOS + environment in one module run


def test_userdata_needs_no_log_and_never_leaks(imds_emulator):
    host = wf.FakeWindowsHost()
    result, dummy = run(host, {"endpoint": imds_emulator.url, "gather_subset": ["userdata"]})
    assert result["failed"] and "no_log" in result["msg"] and host.requests == []
    result, dummy = run(host, {"endpoint": imds_emulator.url, "gather_subset": ["instance", "userdata"]}, no_log=True)
    facts = result["ansible_facts"]["azure_imds"]
    assert facts["userdata"] == linux_facts(imds_emulator.url, {"gather_subset": ["userdata"]}, None, no_log=True)["userdata"]
    assert "userData" not in facts["compute"]


def test_check_mode_gathers_the_same(imds_emulator):
    args = {"endpoint": imds_emulator.url, "api_version": "2021-02-01"}
    normal, dummy = run(wf.FakeWindowsHost(), args)
    checked, dummy = run(wf.FakeWindowsHost(), args, check_mode=True)
    assert checked == normal and checked["changed"] is False


def test_bad_options_fail_before_any_module_run():
    host = wf.FakeWindowsHost()
    result, dummy = run(host, {"endpoint": "http://127.0.0.1:1", "detect": "maybe", "timeout": "soon"})
    assert result["failed"] and "detect" in result["msg"] and "timeout" in result["msg"]
    assert host.runs == []


def test_a_module_failure_fails_the_task_clearly():
    message = "Unhandled exception while executing module: Cannot create type. Only core types are supported in this language mode."
    host = wf.FakeWindowsHost(override=lambda name, params: {"failed": True, "msg": message} if name == "win_metadata_request" else None)
    result, dummy = run(host, {"endpoint": "http://127.0.0.1:1"})
    assert result["failed"] and result["imds_error"] == "command" and "language mode" in result["msg"]
    assert "ansible_facts" not in result


def test_the_cmd_shell_runs_the_same_modules(imds_emulator):
    """winrm of ansible-core 2.21 uses the cmd shell plugin; its build_module_command is the powershell one's."""
    host = wf.FakeWindowsHost()
    action = windows_action(host, ActionModule, "imds.azure.metadata_facts", {"endpoint": imds_emulator.url}, shell_type="cmd")
    result = action.run(task_vars={})
    assert not result.get("failed") and result["ansible_facts"]["azure_imds"]["is_azure"], result
    assert [name for name, params in host.runs] == ["win_metadata_host", "win_metadata_request", "win_metadata_request"]


FAULTS = [
    (["throttle=2"], {}),
    (["status=500,ratio=0.5"], {}),
    (["status=503"], {"deadline": 6}),
    (["gone=3"], {}),
    (["html=1"], {}),
    (["truncate=1"], {}),
    (["reset=1"], {"deadline": 4}),
    (["stall=3"], {"timeout": 0.2, "deadline": 3}),
    (["status=404,path=/metadata/instance"], {"deadline": 10}),
    (["status=500,path=/metadata/loadbalancer"], {"gather_subset": ["instance", "loadbalancer"], "deadline": 5}),
]


@pytest.mark.parametrize("faults, params", FAULTS, ids=[",".join(f) for f, p in FAULTS])
def test_fault_modes_behave_as_on_linux(imds_emulator_factory, request, faults, params):
    # The emulator's 410 window runs on the wall clock: both paths must wait it out in real time
    # (on the fake clock, the outcome depended on how fast the machine ran the retries).
    gone = any(fault.startswith("gone=") for fault in faults)
    fast_client = None if gone else request.getfixturevalue("fast_client")
    params = dict(params, api_version="2021-12-13")
    emu = imds_emulator_factory(faults=faults, seed=3)
    try:
        linux = ("ok", linux_facts(emu.url, params, fast_client))
    except (_errors.ImdsError, _facts.FactsError) as exc:
        linux = ("failed", exc.kind)
    linux_requests = len(metadata_log(emu))
    emu.clear_log()
    emu.set_faults(faults)  # the same fault state again (counters and seeded ratios start over)
    host = wf.FakeWindowsHost()
    result, dummy = run(host, dict(params, endpoint=emu.url))
    if result.get("failed"):
        windows = ("failed", result["imds_error"])
    else:
        facts = result["ansible_facts"]["azure_imds"]
        facts["detection"] = "dmi"
        windows = ("ok", facts)
    assert windows[0] == linux[0], (result, linux)
    if linux[0] == "ok":
        linux[1]["detection"] = "dmi"
    assert windows == linux
    if not any(fault.startswith(("stall=", "gone=")) for fault in faults):  # those depend on wall-clock time
        assert len(host.requests) == len(metadata_log(emu)) == linux_requests


def test_an_answer_cut_short_of_its_length_fails_on_windows_too(raw_server, fast_client):
    """The client checks the framing of whatever Response a transport returns: the Windows transport's too (issue 22, item 1)."""
    body = b'{"compute": {"name": "vm-1"}, "network": {}}'
    server = raw_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body) + 1, body))
    result, dummy = run(wf.FakeWindowsHost(), {"endpoint": server.url, "api_version": "2021-02-01", "deadline": 3})
    assert result["failed"] and result["imds_error"] == "unreachable" and "ansible_facts" not in result
    assert "the answer ended after %d of the %d bytes of its Content-Length" % (len(body), len(body) + 1) in result["msg"]
