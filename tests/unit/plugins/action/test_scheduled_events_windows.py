# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.scheduled_events on a Windows target: the action plugin over a fake Windows connection
whose host runs the collection's PowerShell modules against the IMDS emulator (same code as the module)."""

from __future__ import annotations

import json
from unittest.mock import MagicMock

from ansible.playbook.play_context import PlayContext

from ansible_collections.imds.azure.plugins.action.scheduled_events import ActionModule
from ansible_collections.imds.azure.plugins.module_utils._scheduled import execute
from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import make_action as _make_action, windows_action
from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf

SE = "/metadata/scheduledevents"


def make_action(conn, args, check_mode=False, async_val=0):
    return _make_action(ActionModule, "imds.azure.scheduled_events", conn, args, check_mode=check_mode, async_val=async_val,
                        play_context=conn._play_context or PlayContext())


def run(host, args, **kwargs):
    return windows_action(host, ActionModule, "imds.azure.scheduled_events", args, **kwargs).run(task_vars={})


def posts(emu):
    return [json.loads(record.body) for record in emu.request_log if record.method == "POST"]


def status_of(emu, event_id):
    return dict((e["EventId"], e["EventStatus"]) for e in emu.events.document("2020-07-01")["Events"]).get(event_id)


def test_read_and_approve_this_host_over_the_request_module(imds_emulator):
    emu = imds_emulator
    mine = emu.add_scheduled_event({"scenario": "Reboot", "notice": 300})
    other = emu.add_scheduled_event({"scenario": "Freeze", "notice": 300, "Resources": ["web-02"]})
    host = wf.FakeWindowsHost(env={"AZURE_IMDS_ENDPOINT": emu.url})
    result = run(host, {"this_host": True, "approve": True})   # endpoint from the TARGET's environment
    assert not result.get("failed"), result
    assert result["changed"] is True and result["approved"] == [mine] and result["vm_name"] == "web-01"
    assert [e["EventId"] for e in result["events"]] == [mine]
    # One PowerShell command per request; the approval went through the same transport.
    assert [(r.method, r.path) for r in host.requests] == [
        ("GET", "/metadata/versions"), ("GET", "/metadata/instance/compute/name"), ("GET", SE), ("POST", SE)]
    assert [(r.method, r.path) for r in emu.request_log] == [(r.method, r.path) for r in host.requests]
    assert host.requests[-1].headers.get("Content-Type") == "application/json"
    assert posts(emu) == [{"StartRequests": [{"EventId": mine}]}]
    assert status_of(emu, mine) == "Started" and status_of(emu, other) == "Scheduled"
    # Again: nothing to approve, no POST.
    again = run(host, {"endpoint": emu.url, "event_ids": [mine], "approve": True})
    assert again["changed"] is False and again["already_started"] == [mine]
    assert len(posts(emu)) == 1


def test_same_answer_as_the_linux_path(imds_emulator):
    emu = imds_emulator
    emu.add_scheduled_event({"scenario": "Redeploy", "notice": 300, "Resources": ["web-01", "web-02"]})
    emu.add_scheduled_event({"scenario": "Terminate", "notice": 300, "Resources": ["web-02"]})
    args = {"endpoint": emu.url, "resources": ["web-02"], "statuses": ["Scheduled"]}
    windows = run(wf.FakeWindowsHost(), args)
    linux = execute(dict(args, api_version="latest", timeout=5, deadline=20))
    for key in ("events", "document_incarnation", "api_version", "approved", "missing_ids", "vm_name"):
        assert windows[key] == linux[key], key


def test_check_mode_over_powershell_sends_no_approval(imds_emulator):
    emu = imds_emulator
    event_id = emu.add_scheduled_event({"scenario": "Freeze", "notice": 300})
    host = wf.FakeWindowsHost()
    result = run(host, {"endpoint": emu.url, "event_ids": [event_id], "approve": True}, check_mode=True)
    assert result["changed"] is True and result["approved"] == [event_id]
    assert [r.method for r in host.requests] == ["GET"] and posts(emu) == []
    assert status_of(emu, event_id) == "Scheduled"


def test_wait_for_polls_through_the_request_module_once_per_second(imds_emulator):
    emu = imds_emulator
    added = []

    def announce_at_the_first_poll(name, params):
        """The event appears 1.5 s after the first poll began, however slow the machine is."""
        if name == "win_metadata_request" and params["url"].split("?")[0].endswith(SE) and not added:
            added.append(emu.add_scheduled_event({"scenario": "Preempt", "delay": 1.5, "notice": 300}))

    host = wf.FakeWindowsHost(override=announce_at_the_first_poll)
    result = run(host, {"endpoint": emu.url, "wait_for": ["Preempt"], "wait_timeout": 20})
    assert not result.get("failed"), result
    assert [e["EventId"] for e in result["events"]] == added and result["polls"] >= 2
    assert len(host.requests) == result["polls"] and all(r.path == SE for r in host.requests)
    times = [record.time for record in emu.request_log]
    assert all(later - earlier >= 0.99 for earlier, later in zip(times, times[1:]))


def test_wait_timeout_and_bad_input_over_the_request_module(imds_emulator):
    host = wf.FakeWindowsHost()
    result = run(host, {"endpoint": imds_emulator.url, "wait_for": ["Terminate"], "wait_timeout": 1.5})
    assert result["failed"] is True and result["timed_out"] is True and result["polls"] == 2
    assert result["imds_error"] == "wait_timeout"
    refused = run(host, {"endpoint": imds_emulator.url, "approve": True})
    assert refused["failed"] is True and "approve needs event_ids or this_host" in refused["msg"] and refused["imds_error"] == "config"
    bad = run(host, {"endpoint": imds_emulator.url, "event_types": ["Hibernate"]})
    assert bad["failed"] is True and "Hibernate" in bad["msg"] and bad["imds_error"] == "config"
    assert len(host.requests) == 2  # the refused tasks made no request


def test_async_is_refused_on_windows(imds_emulator):
    result = run(wf.FakeWindowsHost(), {"endpoint": imds_emulator.url}, async_val=60)
    assert result["failed"] is True and "async" in result["msg"]
    assert imds_emulator.request_log == []


def test_posix_targets_run_the_module():
    conn = MagicMock()
    conn._shell.SHELL_FAMILY = "sh"
    conn._shell.tmpdir = None
    conn.has_native_async = False
    action = make_action(conn, {"this_host": True})
    action._execute_module = MagicMock(return_value={"changed": False, "events": []})
    action._remove_tmp_path = MagicMock()
    result = action.run(task_vars={})
    assert result["events"] == []
    kwargs = action._execute_module.call_args.kwargs
    assert kwargs["module_name"] == "imds.azure.scheduled_events" and kwargs["module_args"] == {"this_host": True}
