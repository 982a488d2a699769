# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The event source imds.azure.scheduled_events, driven as ansible-rulebook drives it (``main(queue, args)``
as an asyncio task, stopped by cancelling it) against the in-process emulator's scheduled-events state machine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

import pytest

from ansible_collections.imds.azure.extensions.eda.plugins.event_source import scheduled_events as source
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsConfigError, ImdsRejected
from ansible_collections.imds.azure.plugins.module_utils._scheduled import ScheduledEventsError

SE = "/metadata/scheduledevents"
IMDS_FIELDS = ("EventId", "EventStatus", "EventType", "ResourceType", "Resources", "NotBefore", "Description", "EventSource",
               "DurationInSeconds")
WAIT = 60  # seconds: a bound on waiting for an event so a broken source fails the test instead of hanging it


class Running(object):
    """The source as a task on the running loop, with the queue it fills."""

    def __init__(self, args):
        self.queue = asyncio.Queue()
        self.task = asyncio.ensure_future(source.main(self.queue, args))

    async def next(self):
        """The next event's payload; re-raises the source's error if it stopped instead."""
        get = asyncio.ensure_future(self.queue.get())
        done, dummy = await asyncio.wait({get, self.task}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            return get.result()[source.EVENT_KEY]
        get.cancel()
        if self.task in done:
            self.task.result()
        raise AssertionError("no event within %d s" % WAIT)

    async def stop(self):
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        assert self.task.cancelled()


def reads(emu):
    return [record for record in emu.request_log if record.path == SE]


async def polls(emu, count):
    """Wait until the source has read the document ``count`` more times."""
    target = len(reads(emu)) + count
    for dummy in range(WAIT * 10):
        if len(reads(emu)) >= target:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the source stopped polling")


def args_for(emu, **kwargs):
    out = dict(endpoint=emu.url, timeout=2, deadline=20)
    out.update(kwargs)
    return out


def worker_threads():
    return [thread for thread in threading.enumerate() if thread.name.startswith("imds-scheduled-events")]


# --------------------------------------------------------------------------- one event per change

def test_one_event_per_change_appeared_started_disappeared(imds_emulator):
    emu = imds_emulator
    # Started for 4 s: long enough for reads one second apart to see it (a shorter state can fall between two reads).
    freeze = emu.add_scheduled_event({"scenario": "Freeze", "notice": 300, "started": 4})

    async def scenario():
        running = Running(args_for(emu))
        appeared = await running.next()
        document = emu.events.document("2020-07-01")
        assert {key: appeared[key] for key in IMDS_FIELDS} == document["Events"][0]
        assert appeared["change"] == "appeared" and appeared["previous_status"] is None and appeared["EventStatus"] == "Scheduled"
        assert appeared["document_incarnation"] == document["DocumentIncarnation"]
        assert appeared["affects_this_host"] is True and appeared["vm_name"] == "web-01"
        await polls(emu, 2)                       # the same document, read again: nothing new
        assert running.queue.empty()
        emu.events.approve([freeze])              # what a playbook's approval does
        started = await running.next()
        assert (started["change"], started["EventStatus"], started["previous_status"]) == ("status_changed", "Started", "Scheduled")
        assert started["NotBefore"] == "" and started["document_incarnation"] == appeared["document_incarnation"] + 1
        gone = await running.next()               # four seconds later the freeze is over
        assert (gone["change"], gone["EventId"], gone["EventStatus"]) == ("disappeared", freeze, "Started")
        assert gone["document_incarnation"] == started["document_incarnation"] + 1
        await polls(emu, 2)
        assert running.queue.empty()
        await running.stop()

    asyncio.run(scenario())


def test_this_host_and_event_types_filter_but_incarnations_still_count(imds_emulator):
    emu = imds_emulator
    emu.add_scheduled_event({"scenario": "Reboot", "notice": 300, "Resources": ["web-02"]})

    async def scenario():
        everything = Running(args_for(emu))
        mine = Running(args_for(emu, this_host=True, event_types=["Freeze", "Redeploy"]))
        other = await everything.next()
        assert (other["EventType"], other["affects_this_host"]) == ("Reboot", False)
        await polls(emu, 4)
        assert mine.queue.empty()                 # another VM's event, and a type it does not want
        emu.add_scheduled_event({"scenario": "Terminate", "notice": 300})
        emu.add_scheduled_event({"scenario": "Redeploy", "notice": 300, "Resources": ["WEB-01"]})   # names compare case-insensitively
        redeploy = await mine.next()
        assert (redeploy["EventType"], redeploy["affects_this_host"]) == ("Redeploy", True)
        assert redeploy["document_incarnation"] == emu.events.document("2020-07-01")["DocumentIncarnation"] == 4
        assert [(await everything.next())["EventType"] for dummy in range(2)] == ["Terminate", "Redeploy"]
        await polls(emu, 2)
        assert mine.queue.empty() and everything.queue.empty()
        await everything.stop()
        await mine.stop()

    asyncio.run(scenario())


def test_an_event_that_is_cancelled_disappears_while_scheduled(imds_emulator):
    emu = imds_emulator
    emu.add_scheduled_event({"scenario": "canceled", "notice": 300, "cancel": 2})

    async def scenario():
        running = Running(args_for(emu))
        assert (await running.next())["change"] == "appeared"
        gone = await running.next()
        assert (gone["change"], gone["EventStatus"], gone["previous_status"]) == ("disappeared", "Scheduled", "Scheduled")
        await running.stop()

    asyncio.run(scenario())


# --------------------------------------------------------------------------- the tracker (pure logic)

def event(event_id, status="Scheduled", event_type="Freeze", resources=("web-01",)):
    return {"EventId": event_id, "EventStatus": status, "EventType": event_type, "Resources": list(resources)}


def changes(tracker, incarnation, *events):
    return [(e["scheduled_event"]["change"], e["scheduled_event"]["EventId"]) for e in
            tracker.update({"DocumentIncarnation": incarnation, "Events": list(events)})]


def test_tracker_compares_by_id_whatever_the_incarnation_says(caplog):
    tracker = source.Tracker("web-01", ["Freeze", "Reboot"], this_host=False)
    assert changes(tracker, 5, event("A"), event("B", event_type="Reboot")) == [("appeared", "A"), ("appeared", "B")]
    assert changes(tracker, 5, event("A"), event("B", event_type="Reboot")) == []
    # IMDS restarted and counts from 1 again with the same events: nothing changed, nothing repeated.
    with caplog.at_level(logging.WARNING, logger="imds.azure.scheduled_events"):
        assert changes(tracker, 1, event("a"), event("B", "Started", "Reboot")) == [("status_changed", "B")]
    assert "went back from 5 to 1" in caplog.text
    assert changes(tracker, 2, event("B", "Started", "Reboot")) == [("disappeared", "a")]
    assert tracker.incarnation == 2


def test_tracker_disappeared_carries_the_event_as_last_seen():
    tracker = source.Tracker("web-01", ["Reboot"], this_host=True)
    changes(tracker, 1, event("R", "Scheduled", "Reboot"), event("X", "Scheduled", "Reboot", resources=["web-02"]))
    changes(tracker, 2, event("R", "Started", "Reboot"), event("X", "Started", "Reboot", resources=["web-02"]))
    gone = tracker.update({"DocumentIncarnation": 3, "Events": []})
    assert [e["scheduled_event"]["EventId"] for e in gone] == ["R"]     # X never affected this host
    assert gone[0]["scheduled_event"]["EventStatus"] == "Started" and gone[0]["scheduled_event"]["document_incarnation"] == 3


# --------------------------------------------------------------------------- the slow first call, failures

def test_first_read_during_the_warm_up_keeps_the_loop_free(imds_emulator_factory):
    emu = imds_emulator_factory(profile={"emulator": {"scheduled_events_warmup": 3}})
    emu.add_scheduled_event({"scenario": "Freeze", "notice": 300})

    async def scenario():
        ticks = []

        async def ticker():
            while True:
                ticks.append(1)
                await asyncio.sleep(0.1)

        beat = asyncio.ensure_future(ticker())
        running = Running(args_for(emu, timeout=1))
        appeared = await running.next()
        assert appeared["change"] == "appeared"
        # The warm-up held the first read longer than the 1 s per-attempt timeout: the client asked again.
        assert len(reads(emu)) >= 2
        # and the event loop kept running meanwhile (a blocking read would have starved the ticker)
        assert len(ticks) >= 10
        beat.cancel()
        await running.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("fault, status", [
    ("gone=3,path=%s" % SE, 410),
    ("throttle=3,path=%s" % SE, 429),
    ("status=500,ratio=0.5,path=%s" % SE, 500),
])
def test_410_429_500_are_retried_and_the_event_arrives_once(imds_emulator, fault, status):
    emu = imds_emulator
    emu.add_scheduled_event({"scenario": "Freeze", "notice": 300})
    emu.set_faults([fault])

    async def scenario():
        running = Running(args_for(emu))
        assert (await running.next())["change"] == "appeared"
        await polls(emu, 2)
        assert running.queue.empty()
        await running.stop()

    asyncio.run(scenario())
    assert status in [record.status for record in reads(emu)]


def test_an_outage_longer_than_the_deadline_loses_and_repeats_nothing(imds_emulator, caplog):
    emu = imds_emulator
    freeze = emu.add_scheduled_event({"scenario": "Freeze", "notice": 300, "started": 1})

    async def scenario():
        running = Running(args_for(emu, timeout=1, deadline=1.5))
        assert (await running.next())["change"] == "appeared"
        emu.set_faults(["status=500,path=%s" % SE])
        failed = len(reads(emu))
        await polls(emu, 4)                      # reads fail, each after the client's retries
        emu.events.approve([freeze])             # meanwhile the event starts and ends
        await asyncio.sleep(1.5)
        cleared = len(reads(emu))
        emu.set_faults([])
        gone = await running.next()
        assert (gone["change"], gone["EventId"], gone["previous_status"]) == ("disappeared", freeze, "Scheduled")
        await polls(emu, 2)
        assert running.queue.empty()
        await running.stop()
        return [record.status for record in reads(emu)[failed:cleared]]

    with caplog.at_level(logging.WARNING, logger="imds.azure.scheduled_events"):
        during = asyncio.run(scenario())
    assert during.count(500) >= 4 and 200 not in during[1:]
    outage = [record.getMessage() for record in caplog.records if "reading /metadata/scheduledevents failed" in record.getMessage()]
    assert len(outage) == 1 and "HTTP 500" in outage[0]          # once per outage, not once per poll
    assert any("works again" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("bad, error, message", [
    (dict(poll_interval=0.5), ScheduledEventsError, "at most once per second"),
    (dict(poll_interval="soon"), ScheduledEventsError, "poll_interval must be a number"),
    (dict(event_types=["Nap"]), ScheduledEventsError, "unknown event_types 'Nap'"),
    (dict(event_types="Freeze"), ScheduledEventsError, "event_types must be a list"),
    (dict(this_host="yes"), ScheduledEventsError, "this_host must be true or false"),
    (dict(approve=True), ScheduledEventsError, "unknown argument approve"),
    (dict(endpoint="ftp://169.254.169.254"), ImdsConfigError, "must start with http://"),
    (dict(timeout=0), ImdsConfigError, "greater than 0"),
    (dict(api_version="2001-01-01"), ImdsConfigError, "older than the first version of /metadata/instance"),
])
def test_bad_arguments_stop_the_source_before_any_request(imds_emulator, bad, error, message):
    async def scenario():
        await Running(args_for(imds_emulator, **bad)).next()

    with pytest.raises(error, match=message):
        asyncio.run(scenario())
    assert imds_emulator.request_log == []


def test_an_api_version_imds_rejects_stops_the_source(imds_emulator):
    async def scenario():
        await Running(args_for(imds_emulator, api_version="2099-01-01")).next()

    with pytest.raises(ImdsRejected, match="IMDS rejected api-version 2099-01-01"):
        asyncio.run(scenario())


def test_endpoint_falls_back_to_the_environment(imds_emulator, monkeypatch):
    monkeypatch.setenv("AZURE_IMDS_ENDPOINT", imds_emulator.url)
    imds_emulator.add_scheduled_event({"scenario": "Preempt", "notice": 300})

    async def scenario():
        running = Running({"poll_interval": 2})
        assert (await running.next())["EventType"] == "Preempt"
        await running.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("args, environment", [({"endpoint": ""}, None), ({}, "")])
def test_an_empty_endpoint_stops_the_source_instead_of_the_default(monkeypatch, args, environment):
    """Issue 22 item 14: endpoint '' fell back to http://169.254.169.254, as the modules and lookups never do."""
    if environment is None:
        monkeypatch.delenv("AZURE_IMDS_ENDPOINT", raising=False)
    else:
        monkeypatch.setenv("AZURE_IMDS_ENDPOINT", environment)

    async def scenario():
        await Running(dict(args, timeout=1, deadline=1)).next()

    with pytest.raises(ImdsConfigError, match="endpoint is empty"):
        asyncio.run(scenario())


async def logged(caplog, text):
    """Wait until a warning holding ``text`` was logged."""
    for dummy in range(WAIT * 10):
        if any(text in record.getMessage() for record in caplog.records):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("nothing logged %r" % text)


def test_a_document_with_one_event_id_twice_changes_nothing(imds_emulator, caplog):
    """Two events under one id gave two "appeared" and then a "status_changed" on every poll, forever."""
    emu = imds_emulator
    freeze = emu.add_scheduled_event({"scenario": "Freeze", "notice": 300})

    async def scenario():
        running = Running(args_for(emu))
        assert (await running.next())["EventId"] == freeze
        emu.add_scheduled_event({"scenario": "Reboot", "notice": 300, "EventId": "DUP"})
        emu.add_scheduled_event({"scenario": "Redeploy", "notice": 0, "started": 300, "EventId": "dup"})
        await logged(caplog, "EventId DUP appears more than once")
        await polls(emu, 3)
        assert running.queue.empty()
        await running.stop()

    with caplog.at_level(logging.WARNING, logger="imds.azure.scheduled_events"):
        asyncio.run(scenario())
    failures = [record for record in caplog.records if "reading /metadata/scheduledevents failed" in record.getMessage()]
    assert len(failures) == 1 and "not a scheduled events document" in failures[0].getMessage()


@pytest.mark.parametrize("event_types, queued", [(None, True), (["Freeze", "Reboot"], False)])
def test_an_event_of_a_type_this_collection_does_not_know_is_logged(imds_emulator, caplog, event_types, queued):
    emu = imds_emulator
    odd = emu.add_scheduled_event({"EventType": "LiveMigration", "notice": 300})
    freeze = emu.add_scheduled_event({"scenario": "Freeze", "notice": 300, "delay": 2})

    async def scenario():
        args = args_for(emu) if event_types is None else args_for(emu, event_types=event_types)
        running = Running(args)
        first = await running.next()
        if queued:
            assert (first["EventId"], first["EventType"], first["change"]) == (odd, "LiveMigration", "appeared")
            first = await running.next()
        assert first["EventId"] == freeze     # the known one, which appeared later
        await running.stop()

    with caplog.at_level(logging.WARNING, logger="imds.azure.scheduled_events"):
        asyncio.run(scenario())
    warnings = [record.getMessage() for record in caplog.records if odd in record.getMessage()]
    assert len(warnings) == 1 and "EventType 'LiveMigration', not one of Freeze, Reboot, Redeploy, Preempt, Terminate" in warnings[0]
    assert ("put on the queue as is" if queued else "event_types does not name it") in warnings[0]


def test_tracker_logs_an_event_without_a_type_once(caplog):
    tracker = source.Tracker("web-01", None, this_host=False)
    untyped = event("U")
    del untyped["EventType"]
    with caplog.at_level(logging.WARNING, logger="imds.azure.scheduled_events"):
        assert changes(tracker, 1, untyped) == [("appeared", "U")]
        assert changes(tracker, 2, dict(untyped, EventStatus="Started")) == [("status_changed", "U")]
        assert changes(tracker, 3) == [("disappeared", "U")]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and "event U has no EventType" in messages[0]
    # a list where a type belongs is no type this collection knows, not a crash
    assert changes(source.Tracker("web-01", ["Freeze"], False), 1, dict(event("L"), EventType=["Freeze"])) == []


def test_a_vm_name_cut_short_is_never_this_host(imds_emulator, caplog):
    """compute/name "web-01" arriving as "web-0" made another VM's event affects_this_host: true (issue 22, item 1)."""
    emu = imds_emulator
    emu.set_faults(["short-body=1,path=/metadata/instance/compute/name"])
    emu.add_scheduled_event({"scenario": "Freeze", "notice": 300, "Resources": ["web-0"]})

    async def scenario():
        running = Running(args_for(emu, timeout=1, deadline=1.5))
        await logged(caplog, "reading this VM's name failed")
        assert running.queue.empty() and reads(emu) == []     # no event before the name is known for certain
        await running.stop()

    with caplog.at_level(logging.WARNING, logger="imds.azure.scheduled_events"):
        asyncio.run(scenario())
    assert any("ended after 5 of the 6 bytes of its Content-Length" in record.getMessage() for record in caplog.records)


def test_retry_after_0_is_no_request_storm(imds_emulator, caplog):
    """Retry-After: 0 made the client retry without a pause and then crash with OverflowError, stopping the source."""
    emu = imds_emulator
    emu.set_faults(["retry-after=0,path=%s" % SE])

    async def scenario():
        running = Running(args_for(emu, timeout=1, deadline=2))
        await logged(caplog, "reading /metadata/scheduledevents failed")
        assert not running.task.done()
        count = len(reads(emu))
        await running.stop()
        return count

    with caplog.at_level(logging.WARNING, logger="imds.azure.scheduled_events"):
        count = asyncio.run(scenario())
    assert 1 <= count <= 3 + 3    # one read of at most 1 + deadline requests, maybe the next poll's start


# --------------------------------------------------------------------------- stopping

@pytest.mark.parametrize("warmup", [30, 0], ids=["during-the-warm-up", "between-polls"])
def test_cancelling_stops_the_source_and_its_thread(imds_emulator_factory, warmup):
    emu = imds_emulator_factory(profile={"emulator": {"scheduled_events_warmup": warmup}})
    emu.add_scheduled_event({"scenario": "Freeze", "notice": 300})

    async def scenario():
        running = Running(args_for(emu, timeout=1, deadline=60, poll_interval=5))
        if warmup:
            await asyncio.sleep(0.5)              # the first read is held by IMDS
        else:
            await running.next()                  # now it waits 5 s for the next poll
        await running.stop()
        return running.queue.qsize()

    assert asyncio.run(scenario()) == 0
    # The worker stops at the client's next pause, after at most one 1 s attempt (bounded wait).
    for thread in worker_threads():
        thread.join(10)
    assert worker_threads() == []
