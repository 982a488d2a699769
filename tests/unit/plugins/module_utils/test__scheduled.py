# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scheduled events: filters, approval and idempotency against the in-process emulator; waiting with a fake clock."""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsConfigError, ImdsNotImds, ImdsUnreachable
from ansible_collections.imds.azure.plugins.module_utils._transport import Response
from ansible_collections.imds.azure.plugins.module_utils._scheduled import ScheduledEventsError, execute

SE = "/metadata/scheduledevents"


def params(emu_or_url, **kwargs):
    out = dict(endpoint=getattr(emu_or_url, "url", emu_or_url), api_version="latest", timeout=5, deadline=20)
    out.update(kwargs)
    return out


def metadata_log(emu):
    return [record for record in emu.request_log if record.path.startswith("/metadata")]


def posts(emu):
    return [json.loads(record.body) for record in emu.request_log if record.method == "POST"]


def document(emu):
    return emu.events.document("2020-07-01")


def status_of(emu, event_id):
    return dict((event["EventId"], event["EventStatus"]) for event in document(emu)["Events"]).get(event_id)


@pytest.fixture
def busy(imds_emulator):
    """An emulator (VM web-01) with a Freeze for this VM, a Reboot for another VM and a started Redeploy for both."""
    emu = imds_emulator
    ids = {
        "freeze": emu.add_scheduled_event({"scenario": "Freeze", "notice": 120, "started": 1}),
        "other": emu.add_scheduled_event({"scenario": "Reboot", "notice": 120, "Resources": ["web-02"]}),
        "redeploy": emu.add_scheduled_event({"scenario": "Redeploy", "notice": 0, "started": 120, "Resources": ["web-02", "WEB-01"]}),
    }
    emu.clear_log()
    return emu, ids


# --------------------------------------------------------------------------- input

@pytest.mark.parametrize("bad, message", [
    (dict(poll_interval=0.5), "at most once per second"),
    (dict(wait_timeout=0), "wait_timeout must be greater than 0"),
    (dict(approve=True), "approve needs event_ids or this_host"),
    (dict(approve=True, event_ids=["  "]), "event_ids entry 1 is empty"),
    (dict(event_ids=["A", ""]), "event_ids entry 2 is empty"),
])
def test_bad_input_is_refused_before_any_request(imds_emulator, bad, message):
    with pytest.raises(ScheduledEventsError, match=message):
        execute(params(imds_emulator, **bad))
    assert metadata_log(imds_emulator) == []


# --------------------------------------------------------------------------- read and filter

def test_read_everything_costs_one_request(busy):
    emu, ids = busy
    result = execute(params(emu))
    assert [event["EventId"] for event in result["events"]] == [ids["freeze"], ids["other"], ids["redeploy"]]
    assert result["events"] == document(emu)["Events"]
    assert result["document_incarnation"] == document(emu)["DocumentIncarnation"]
    assert result["changed"] is False and result["approved"] == [] and result["vm_name"] == ""
    assert result["api_version"] == "2020-07-01" and result["polls"] == 1
    assert [(r.method, r.path, r.query.get("api-version")) for r in metadata_log(emu)] == [("GET", SE, "2020-07-01")]


@pytest.mark.parametrize("filters, expected", [
    (dict(event_types=["Freeze", "Redeploy"]), ["freeze", "redeploy"]),
    (dict(statuses=["Started"]), ["redeploy"]),
    (dict(statuses=["Scheduled"], event_types=["Reboot"]), ["other"]),
    (dict(resources=["WEB-02"]), ["other", "redeploy"]),
    (dict(this_host=True), ["freeze", "redeploy"]),
    (dict(this_host=True, statuses=["Scheduled"]), ["freeze"]),
    (dict(event_ids=["placeholder-other"]), ["other"]),
    (dict(event_types=["Terminate"]), []),
])
def test_filters(busy, filters, expected):
    emu, ids = busy
    if "event_ids" in filters:
        filters["event_ids"] = [ids["other"].lower()]  # ids compare case-insensitively
    result = execute(params(emu, **filters))
    assert [event["EventId"] for event in result["events"]] == [ids[name] for name in expected]
    if filters.get("this_host"):
        assert result["vm_name"] == "web-01"
        # compute/name from the instance line (negotiated), then the document
        assert [r.path for r in metadata_log(emu)] == ["/metadata/versions", "/metadata/instance/compute/name", SE]


def test_explicit_api_version_maps_to_the_scheduled_events_line(busy):
    emu, dummy = busy
    result = execute(params(emu, api_version="2019-06-01", this_host=True))
    assert result["api_version"] == "2019-04-01"
    assert [(r.path, r.query["api-version"]) for r in metadata_log(emu)] == [
        ("/metadata/instance/compute/name", "2019-06-01"), (SE, "2019-04-01")]
    assert all("EventSource" not in event for event in result["events"])


def test_missing_ids_are_reported_not_an_error(busy):
    emu, ids = busy
    result = execute(params(emu, event_ids=[ids["freeze"], "F020BA2E-3BC0-4C40-A10B-86575A9EABD5"]))
    assert [event["EventId"] for event in result["events"]] == [ids["freeze"]]
    assert result["missing_ids"] == ["F020BA2E-3BC0-4C40-A10B-86575A9EABD5"]


# --------------------------------------------------------------------------- approve

def test_approve_ids_then_again_is_idempotent(busy):
    emu, ids = busy
    result = execute(params(emu, event_ids=[ids["freeze"]], approve=True))
    assert result["changed"] is True and result["approved"] == [ids["freeze"]] and result["already_started"] == []
    assert posts(emu) == [{"StartRequests": [{"EventId": ids["freeze"]}]}]
    assert status_of(emu, ids["freeze"]) == "Started"
    assert status_of(emu, ids["other"]) == "Scheduled"
    emu.clear_log()
    again = execute(params(emu, event_ids=[ids["freeze"]], approve=True))
    assert again["changed"] is False and again["approved"] == [] and again["already_started"] == [ids["freeze"]]
    assert posts(emu) == []
    time.sleep(1.2)  # the freeze (started=1) is over and gone: approving its id again is still fine
    vanished = execute(params(emu, event_ids=[ids["freeze"]], approve=True))
    assert vanished["changed"] is False and vanished["missing_ids"] == [ids["freeze"]] and vanished["events"] == []
    assert posts(emu) == []


def test_approve_this_host_never_touches_other_vms_events(busy):
    emu, ids = busy
    result = execute(params(emu, this_host=True, approve=True))
    assert result["approved"] == [ids["freeze"]] and result["already_started"] == [ids["redeploy"]]
    assert posts(emu) == [{"StartRequests": [{"EventId": ids["freeze"]}]}]
    assert status_of(emu, ids["other"]) == "Scheduled"


def test_approve_several_in_one_request(imds_emulator):
    emu = imds_emulator
    first = emu.add_scheduled_event({"scenario": "Freeze", "notice": 120})
    second = emu.add_scheduled_event({"scenario": "Reboot", "notice": 120})
    result = execute(params(emu, this_host=True, approve=True))
    assert result["approved"] == [first, second]
    assert posts(emu) == [{"StartRequests": [{"EventId": first}, {"EventId": second}]}]


def test_check_mode_sends_nothing(busy):
    emu, ids = busy
    result = execute(params(emu, this_host=True, approve=True, wait_for_completion=True), check_mode=True)
    assert result["changed"] is True and result["approved"] == [ids["freeze"]]
    assert posts(emu) == [] and status_of(emu, ids["freeze"]) == "Scheduled"
    assert any("did not wait" in warning for warning in result["warnings"])


# --------------------------------------------------------------------------- waiting (real time, emulator)

def test_wait_for_an_event_that_appears_later(imds_emulator):
    emu = imds_emulator
    event_id = emu.add_scheduled_event({"scenario": "Preempt", "delay": 1.5, "notice": 30})
    result = execute(params(emu, wait_for=["Preempt", "Terminate"], wait_timeout=20))
    assert [event["EventId"] for event in result["events"]] == [event_id]
    assert result["polls"] >= 2 and result["timed_out"] is False
    gets = [record.time for record in emu.request_log if record.path == SE]
    assert all(later - earlier >= 0.99 for earlier, later in zip(gets, gets[1:]))


def test_approve_and_wait_for_completion(imds_emulator):
    emu = imds_emulator
    event_id = emu.add_scheduled_event({"scenario": "Freeze", "notice": 120, "started": 1.5})
    result = execute(params(emu, event_ids=[event_id], approve=True, wait_for_completion=True, wait_timeout=20))
    assert result["changed"] is True and result["approved"] == [event_id]
    assert result["events"] == [] and result["timed_out"] is False and result["polls"] >= 2
    assert document(emu)["Events"] == []


# --------------------------------------------------------------------------- waiting (fake clock)

class ScriptedImds(object):
    """A transport serving a scheduled-events document that is a function of the fake clock."""

    def __init__(self, fake_time, script, name="web-01"):
        self.fake_time = fake_time
        self.script = script      # callable(now) -> list of events
        self.name = name
        self.gets = []            # clock value of every document read
        self.posts = []

    def request(self, method, url, headers, body, timeout):  # pylint: disable=unused-argument
        now = self.fake_time.clock()
        if "/compute/name" in url:
            return Response(200, {"Content-Type": "text/plain"}, self.name.encode())
        if method == "POST":
            self.posts.append(json.loads(body))
            return Response(200, {"Content-Type": "application/json"}, b"")
        self.gets.append(now)
        events = self.script(now)
        data = {"DocumentIncarnation": 1 + len(events), "Events": events}
        return Response(200, {"Content-Type": "application/json"}, json.dumps(data).encode())


def event(event_id, event_type="Reboot", status="Scheduled", resources=("web-01",)):
    return {"EventId": event_id, "EventStatus": status, "EventType": event_type, "ResourceType": "VirtualMachine",
            "Resources": list(resources), "NotBefore": "", "EventSource": "Platform", "DurationInSeconds": -1}


def run_scripted(fake_time, script, check_mode=False, **kwargs):
    transport = ScriptedImds(fake_time, script)

    def factory(**client_kwargs):
        return ImdsClient(transport=transport, sleep=fake_time.sleep, clock=fake_time.clock, **client_kwargs)

    kwargs.setdefault("api_version", "2021-02-01")
    result = execute(kwargs, check_mode=check_mode, client_factory=factory, sleep=fake_time.sleep, clock=fake_time.clock)
    return result, transport


def test_wait_polls_once_per_interval_until_the_event_appears(fake_time):
    start = fake_time.now
    result, imds = run_scripted(fake_time, lambda now: [event("A")] if now - start >= 4.5 else [], wait_for=["Reboot"],
                                wait_timeout=60)
    assert [e["EventId"] for e in result["events"]] == ["A"]
    assert [round(t - start, 3) for t in imds.gets] == [0, 1, 2, 3, 4, 5]
    assert result["polls"] == 6 and result["waited"] == 5.0


def test_wait_ignores_other_types_and_other_vms(fake_time):
    start = fake_time.now

    def script(now):
        events = [event("OTHER-VM", resources=["web-02"]), event("FREEZE", event_type="Freeze")]
        return events + ([event("MINE")] if now - start >= 2 else [])

    result, imds = run_scripted(fake_time, script, wait_for=["Reboot"], this_host=True, wait_timeout=60)
    assert [e["EventId"] for e in result["events"]] == ["FREEZE", "MINE"]
    assert len(imds.gets) == 3


def test_wait_times_out_with_the_last_document(fake_time):
    start = fake_time.now
    result, imds = run_scripted(fake_time, lambda now: [event("F", event_type="Freeze")], wait_for=["Terminate"],
                                wait_timeout=3.5, poll_interval=1)
    assert result["failed"] is True and result["timed_out"] is True
    assert "no Terminate event appeared within 3.5 s" in result["msg"]
    assert [round(t - start, 3) for t in imds.gets] == [0, 1, 2, 3]
    assert [e["EventId"] for e in result["events"]] == ["F"]


def test_poll_interval_is_respected(fake_time):
    start = fake_time.now
    dummy, imds = run_scripted(fake_time, lambda now: [], wait_for=["Freeze"], wait_timeout=10, poll_interval=2.5)
    assert [round(t - start, 3) for t in imds.gets] == [0, 2.5, 5.0, 7.5, 10.0]


def test_wait_for_completion_with_fake_clock(fake_time):
    start = fake_time.now

    def script(now):
        if now - start < 1:
            return [event("A")]
        return [event("A", status="Started")] if now - start < 3.2 else []

    result, imds = run_scripted(fake_time, script, event_ids=["a"], approve=True, wait_for_completion=True, wait_timeout=30)
    assert imds.posts == [{"StartRequests": [{"EventId": "A"}]}]
    assert result["approved"] == ["A"] and result["events"] == [] and result["timed_out"] is False
    assert [round(t - start, 3) for t in imds.gets] == [0, 1, 2, 3, 4]


def test_wait_for_completion_times_out(fake_time):
    result, dummy = run_scripted(fake_time, lambda now: [event("A", status="Started")], event_ids=["A"],
                                 wait_for_completion=True, wait_timeout=2)
    assert result["failed"] is True and result["timed_out"] is True and "A still present after 2 s" in result["msg"]
    assert [e["EventId"] for e in result["events"]] == ["A"]


@pytest.mark.parametrize("body, message", [
    ({"Events": "x"}, "no Events list"),
    ({"Events": []}, "DocumentIncarnation is not an integer"),
    ({"DocumentIncarnation": 1, "Events": [{"EventType": "Freeze"}]}, r"\(event 0 has no EventId\)"),
    ({"DocumentIncarnation": 1, "Events": [{"EventId": "A"}, {"EventId": ""}]}, r"\(event 1 has no EventId\)"),
    # Microsoft documents EventId as a GUID string: a number is named as such, never "no EventId".
    ({"DocumentIncarnation": 1, "Events": [{"EventId": 42}]}, r"\(the EventId of event 0 is a number, not a string\)"),
    ({"DocumentIncarnation": 1, "Events": [{"EventId": True}]}, r"\(the EventId of event 0 is a boolean, not a string\)"),
    ({"DocumentIncarnation": 1, "Events": [["A"]]}, r"\(event 0 is an array, not an object\)"),
    ({"DocumentIncarnation": 1, "Events": [{"EventId": "A", "Resources": "web-01"}]}, "Resources of event A is not a list"),
    # The same rules for every field an approval or the event source reads (plugins/module_utils/_shape.py)
    ({"DocumentIncarnation": 1, "Events": [{"EventId": "A", "Resources": ["vm", 1]}]}, "Resources of event A is not a list of strings"),
    ({"DocumentIncarnation": 1, "Events": [{"EventId": "A", "EventStatus": ["Scheduled"]}]}, "EventStatus of event A is an array"),
    ({"DocumentIncarnation": -1, "Events": []}, "DocumentIncarnation is not an integer"),
    ({"DocumentIncarnation": 1, "Events": [{"EventId": "A ", "Resources": ["vm"]}]}, "the EventId of event 0 is 'A '"),
    # Two events under one id (case-insensitively, as ids are compared): which one an approval means cannot be told.
    ({"DocumentIncarnation": 1, "Events": [{"EventId": "A"}, {"EventId": "B"}, {"EventId": "a"}]}, "EventId a appears more than once"),
])
def test_documents_that_are_not_scheduled_events_fail(fake_time, body, message):
    class Odd(object):
        def request(self, method, url, headers, body_, timeout):  # pylint: disable=unused-argument
            return Response(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def factory(**kwargs):
        return ImdsClient(transport=Odd(), sleep=fake_time.sleep, clock=fake_time.clock, **kwargs)

    with pytest.raises(ImdsNotImds, match=message):
        execute(dict(api_version="2021-02-01", approve=True, this_host=True), client_factory=factory)


def test_first_request_survives_the_service_warm_up(imds_emulator_factory):
    # The first request switches scheduled events on and is answered late: the short per-attempt
    # timeout expires, the client retries within the deadline and gets the document.
    emu = imds_emulator_factory(profile={"emulator": {"scheduled_events_warmup": 1.2}})
    result = execute(params(emu, timeout=0.5, deadline=30))
    assert result["events"] == [] and result["document_incarnation"] == 1
    assert any("did not answer in time" in warning for warning in result["warnings"])
    assert len([r for r in metadata_log(emu) if r.path == SE]) >= 2


def test_an_empty_endpoint_is_refused_before_any_request():
    class NoNetwork(object):
        def request(self, method, url, headers, body, timeout):
            raise AssertionError("requested %s" % url)

    with pytest.raises(ImdsConfigError, match="endpoint is empty"):
        execute({"endpoint": ""}, client_factory=lambda **kwargs: ImdsClient(transport=NoNetwork(), **kwargs))


# --------------------------------------------------------------------------- nothing pending, a name cut short (issue 22)

@pytest.mark.parametrize("extra", [{}, {"approve": True}, {"approve": True, "wait_for_completion": True}, {"wait_for": ["Freeze"]}])
def test_an_empty_list_of_event_ids_does_nothing_and_succeeds(busy, extra):
    emu, _ids = busy
    result = execute(params(emu, event_ids=[], wait_timeout=30, **extra))
    assert not result.get("failed") and result["changed"] is False
    assert result["events"] == [] and result["approved"] == [] and result["missing_ids"] == [] and result["polls"] == 1
    assert posts(emu) == [] and len(metadata_log(emu)) == 1


def test_a_vm_name_cut_short_never_approves_another_vms_event(imds_emulator_factory):
    """compute/name "web-01" cut to "web-0" by a server that closes early: the event of VM web-0 is not this host's."""
    emu = imds_emulator_factory(faults=["short-body=1,path=/metadata/instance/compute/name"])
    other = emu.add_scheduled_event({"scenario": "Freeze", "notice": 120, "Resources": ["web-0"]})
    with pytest.raises(ImdsUnreachable, match="ended after 5 of the 6 bytes of its Content-Length") as info:
        execute(params(emu, approve=True, this_host=True, timeout=1, deadline=2.5))
    assert info.value.kind == "unreachable"
    assert posts(emu) == [] and status_of(emu, other) == "Scheduled"
