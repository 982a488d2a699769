# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Event source imds.azure.scheduled_events for ansible-rulebook: Azure scheduled events as EDA events.

Polls IMDS ``/metadata/scheduledevents`` on the VM it runs on and puts one event on the queue per
change of the document: an Azure event appeared, changed status, or disappeared. Every request goes
through the collection's IMDS client (plugins/module_utils/_client.py) in a worker thread, so the
event loop stays responsive while IMDS is slow (the first request can take about two minutes).
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
short_description: Azure scheduled events (planned maintenance) of this VM, one event per change
description:
  - An ansible-rulebook event source plugin that reads the scheduled events of the Azure VM it runs on from the
    Instance Metadata Service (C(/metadata/scheduledevents)) and puts one event on the queue for each change
    of the document, so that a rule can drain the VM seconds after Azure announces a V(Freeze), V(Reboot),
    V(Redeploy), V(Preempt) or V(Terminate).
  - "A change is one of: C(appeared) (a new C(EventId) is in the document), C(status_changed) (its C(EventStatus)
    went from C(Scheduled) to C(Started)) and C(disappeared) (the event left the document: it is over or was cancelled;
    IMDS has no C(Completed) status). An unchanged document produces no event, however often it is read."
  - Every event is a dict under the key C(scheduled_event) holding the IMDS event fields exactly as IMDS returned them
    (C(EventId), C(EventType), C(EventStatus), C(ResourceType), C(Resources), C(NotBefore), C(Description),
    C(EventSource), C(DurationInSeconds); for C(disappeared), as last seen), plus C(change), C(previous_status)
    (C(null) for C(appeared)), C(document_incarnation) (the C(DocumentIncarnation) of the read that saw the change),
    C(affects_this_host) (whether C(Resources) names this VM's C(compute.name)) and C(vm_name).
  - Reads the document at most once per O(poll_interval) seconds (at least one second, as Microsoft recommends),
    counted from the end of one read to the start of the next. At start it reads this VM's name once.
  - IMDS switches scheduled events on with the first request, which may take up to about two minutes to answer.
    The client repeats the request (each attempt bounded by O(timeout)) until O(deadline); the event loop stays
    free meanwhile. Answers 410, 429 and 5xx are retried by the client as the other imds.azure plugins do
    (410 for up to 70 seconds, 429 after C(Retry-After)). When a read still fails, the source logs a warning once,
    keeps what it knows and tries again at the next poll, so a temporary outage neither stops the rulebook
    nor repeats events. Configuration errors (bad arguments, an api-version IMDS rejects) stop the source.
  - A document that cannot be vouched for counts as a failed read, logged the same way, and changes nothing - an answer
    cut short of its length, or a document that lists one C(EventId) twice (which event a status belongs to cannot be
    told, so there is no C(status_changed) for either).
  - The source never approves anything. Approve from the playbook the rule runs, for example with
    M(imds.azure.scheduled_events) (O(imds.azure.scheduled_events#module:approve=true)).
  - IMDS answers only on the VM itself, so the source must run there (one C(ansible-rulebook) per VM). See the
    maintenance guide for a systemd unit and the rulebook C(examples/maintenance/rulebook.yml).
author:
  - imds.azure contributors (@imds-azure)
version_added: 0.2.0
options:
  endpoint:
    description:
      - Base URL of the Instance Metadata Service, C(scheme://host[:port]) without a path.
      - If not set, the E(AZURE_IMDS_ENDPOINT) environment variable of the C(ansible-rulebook) process, else
        V(http://169.254.169.254). An empty value (here or in the environment) stops the source with an error; it never
        means the default.
      - Proxies are always bypassed and redirects never followed.
    type: str
    default: http://169.254.169.254
  api_version:
    description:
      - IMDS API version. Scheduled events have their own version line; V(latest) reads them with the newest one
        (2020-07-01). An explicit version selects the newest scheduled-events version not newer than it.
      - The VM name is read from the instance line with this version (V(latest) asks C(/metadata/versions) once).
    type: str
    default: latest
  poll_interval:
    description:
      - Seconds between the end of one read of the document and the start of the next. At least V(1).
    type: float
    default: 1
  event_types:
    description:
      - Only events of these C(EventType) values are put on the queue.
      - Without it every event is, including an event whose C(EventType) is missing or not one of the five below (a
        type Azure added later). Such an event is put on the queue as IMDS sent it, and a warning naming it is logged once.
        With it, such an event is not put on the queue, and the same warning says so. It is never dropped without a word.
    type: list
    elements: str
    choices: [Freeze, Reboot, Redeploy, Preempt, Terminate]
  this_host:
    description:
      - Only events whose C(Resources) contain this VM's C(compute.name) are put on the queue.
      - Events are sent to every VM of an availability set or placement group; without this option the rules see all of
        them and can test C(affects_this_host).
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each HTTP attempt (connect and answer).
    type: float
    default: 5
  deadline:
    description:
      - Seconds allowed for one read including all of the client's retries. After it, the read counts as failed
        (logged once) and the next poll tries again.
      - The first request on a VM can take up to about two minutes while the service switches scheduled events on,
        hence the default.
    type: float
    default: 150
notes:
  - Requires ansible-rulebook, which needs a Java 17 runtime, and this collection (which needs ansible-core) in the
    same Python environment.
  - C(ansible-rulebook) starts it with C(main(queue, args)); cancelling that task stops it within one HTTP attempt.
seealso:
  - module: imds.azure.scheduled_events
  - name: Azure scheduled events
    description: Microsoft's documentation of scheduled events.
    link: https://learn.microsoft.com/azure/virtual-machines/linux/scheduled-events
"""

EXAMPLES = r"""
- name: Azure maintenance of this VM
  hosts: localhost
  sources:
    - name: Scheduled events that affect this VM
      imds.azure.scheduled_events:
        this_host: true
        event_types: [Freeze, Reboot, Redeploy, Preempt, Terminate]
  rules:
    - name: Drain and approve as soon as maintenance is announced
      condition: event.scheduled_event.change == "appeared" and event.scheduled_event.EventStatus == "Scheduled"
      action:
        run_playbook:
          name: drain_and_approve.yml
          extra_vars:
            maintenance_event_ids:
              - "{{ event.scheduled_event.EventId }}"
    - name: Say when the maintenance is over
      condition: event.scheduled_event.change == "disappeared"
      action:
        debug:
          msg: "{{ event.scheduled_event.EventType }} {{ event.scheduled_event.EventId }} is over"
"""

import asyncio
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

try:
    from ansible_collections.imds.azure.plugins.module_utils import _client, _errors, _scheduled
except ImportError:
    # ansible-rulebook runs this file by path (runpy), outside Ansible's collection loader: make the
    # collection importable from where it is installed (<root>/ansible_collections/imds/azure/extensions/...).
    _ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 7))
    if not os.path.isdir(os.path.join(_ROOT, "ansible_collections", "imds", "azure", "plugins")):
        raise
    sys.path.insert(0, _ROOT)
    from ansible_collections.imds.azure.plugins.module_utils import _client, _errors, _scheduled

LOGGER = logging.getLogger("imds.azure.scheduled_events")
EVENT_KEY = "scheduled_event"
OPTIONS = ("endpoint", "api_version", "poll_interval", "event_types", "this_host", "timeout", "deadline")
# Failures that may clear up by themselves: the source keeps polling. Anything else stops it.
TRANSIENT_ERRORS = (_errors.ImdsUnreachable, _errors.ImdsTimeout, _errors.ImdsThrottled, _errors.ImdsServerError,
                    _errors.ImdsNotImds, _errors.ImdsNotFound)


class _Stopped(Exception):
    """Raised in the worker thread, at the client's next pause, once the source was cancelled."""


def check_args(args):
    """Validate the source arguments; returns a normalised dict or raises ScheduledEventsError."""
    args = dict(args or {})
    # ansible-rulebook adds its own arguments (eda_feedback_queue); they are not ours to judge.
    unknown = sorted(key for key in args if key not in OPTIONS and not str(key).startswith("eda_"))
    if unknown:
        raise _scheduled.ScheduledEventsError("unknown argument%s %s for imds.azure.scheduled_events (known: %s)" % (
            "" if len(unknown) == 1 else "s", ", ".join(unknown), ", ".join(OPTIONS)))
    # An empty endpoint (argument or environment) is refused by the client, never read as "the default".
    endpoint = args.get("endpoint")
    if endpoint is None:
        endpoint = os.environ.get("AZURE_IMDS_ENDPOINT", _client.DEFAULT_ENDPOINT)
    out = {"endpoint": endpoint, "api_version": args.get("api_version") or "latest"}
    for key, default in (("poll_interval", _scheduled.MIN_POLL_INTERVAL), ("timeout", 5.0), ("deadline", _scheduled.DEFAULT_DEADLINE)):
        value = args.get(key)
        try:
            out[key] = float(default if value is None else value)
        except (TypeError, ValueError):
            raise _scheduled.ScheduledEventsError("%s must be a number of seconds, got %r" % (key, value))
    if out["poll_interval"] < _scheduled.MIN_POLL_INTERVAL:
        raise _scheduled.ScheduledEventsError(
            "poll_interval must be at least %g second: Microsoft asks clients to poll scheduled events at most once per second"
            % _scheduled.MIN_POLL_INTERVAL)
    types = args.get("event_types")
    if types is not None:   # None: every event, whatever its type
        if isinstance(types, str) or not isinstance(types, list):
            raise _scheduled.ScheduledEventsError("event_types must be a list of event types, got %r" % (types,))
        bad = [value for value in types if value not in _scheduled.EVENT_TYPES]
        if bad:
            raise _scheduled.ScheduledEventsError("unknown event_types %s (known: %s)" % (
                ", ".join(repr(value) for value in bad), ", ".join(_scheduled.EVENT_TYPES)))
        types = list(types)
    out["event_types"] = types
    this_host = args.get("this_host", False)
    if not isinstance(this_host, bool):
        raise _scheduled.ScheduledEventsError("this_host must be true or false, got %r" % (this_host,))
    out["this_host"] = this_host
    return out


class Tracker(object):
    """Turns successive scheduled-events documents into change events (pure logic, no I/O).

    Changes are found by comparing the events by id with the last document, whatever the
    incarnation says: equal incarnations mean equal content (Microsoft), and a document whose
    incarnation went backwards (IMDS restarted) is compared all the same, so no change is lost
    and none is reported twice.
    """

    def __init__(self, vm_name, event_types, this_host):
        self.vm_name = vm_name
        self.event_types = None if event_types is None else set(event_types)   # None: every type, known or not
        self.this_host = this_host
        self.incarnation = None
        self._known = {}    # EventId (lower case) -> the event as last seen
        self._odd_types = set()   # EventIds whose missing or unknown EventType was logged

    def update(self, document):
        """Return the change events between the last document and ``document`` (in document order)."""
        incarnation = document["DocumentIncarnation"]
        if self.incarnation is not None and incarnation < self.incarnation:
            LOGGER.warning("IMDS DocumentIncarnation went back from %d to %d (the service restarted?); comparing events by id",
                           self.incarnation, incarnation)
        self.incarnation = incarnation
        changes = []
        current = {}
        for event in document["Events"]:
            key = event["EventId"].lower()
            current[key] = event
            before = self._known.get(key)
            if before is None:
                changes.append(("appeared", event, None))
            elif before.get("EventStatus") != event.get("EventStatus"):
                changes.append(("status_changed", event, before.get("EventStatus")))
        for key, before in self._known.items():
            if key not in current:
                changes.append(("disappeared", before, before.get("EventStatus")))
        self._known = current
        events = [self._event(change, event, previous, incarnation) for change, event, previous in changes if self._wanted(event)]
        self._odd_types &= set(current)
        return events

    def _wanted(self, event):
        if self.this_host and not _scheduled.affects(event, [self.vm_name]):
            return False
        event_type = event.get("EventType")
        known = isinstance(event_type, str) and event_type in _scheduled.EVENT_TYPES
        wanted = self.event_types is None or (known and event_type in self.event_types)
        key = event["EventId"].lower()
        if not known and key not in self._odd_types:
            # Never dropped without a word: Azure may add a type, and a document may lack the field.
            self._odd_types.add(key)
            LOGGER.warning("imds.azure.scheduled_events: event %s has %s, not one of %s; %s", event["EventId"],
                           "no EventType" if event_type is None else "EventType %s" % _shown(event_type),
                           ", ".join(_scheduled.EVENT_TYPES),
                           "it is put on the queue as is" if wanted else
                           "event_types does not name it, so it is not put on the queue (leave event_types out to get every event)")
        return wanted

    def _event(self, change, event, previous, incarnation):
        payload = dict(event)
        payload.update(change=change, previous_status=previous, document_incarnation=incarnation,
                       affects_this_host=_scheduled.affects(event, [self.vm_name]), vm_name=self.vm_name)
        return {EVENT_KEY: payload}


def _shown(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Reader(object):
    """Runs the blocking IMDS client in one worker thread; a stop interrupts it at its next pause."""

    def __init__(self, args):
        self._stop = threading.Event()
        # The VM's request budget is shared with the playbooks the rules start (module_utils/_pacing.py).
        self.client = _scheduled.vm_client(endpoint=args["endpoint"], api_version=args["api_version"], timeout=args["timeout"],
                                           deadline=args["deadline"], warn=LOGGER.warning, sleep=self._sleep)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imds-scheduled-events")

    def _sleep(self, seconds):
        if self._stop.wait(seconds):
            raise _Stopped()

    async def call(self, function):
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, self.client)

    def close(self):
        self._stop.set()
        self._executor.shutdown(wait=False)


async def _read(reader, function, what, failing):
    """One read; transient failures are logged once per outage and return None."""
    try:
        result = await reader.call(function)
    except TRANSIENT_ERRORS as exc:
        if not failing.get(what):
            LOGGER.warning("imds.azure.scheduled_events: reading %s failed, retrying every poll until it works: %s", what, exc)
        failing[what] = True
        return None
    if failing.pop(what, False):
        LOGGER.warning("imds.azure.scheduled_events: reading %s works again", what)
    return result


async def main(queue, args):
    """Entry point called by ansible-rulebook: poll until cancelled; raise on configuration errors."""
    args = check_args(args)
    reader = _Reader(args)
    failing = {}
    try:
        vm_name = None
        while vm_name is None:
            vm_name = await _read(reader, _scheduled.this_vm_name, "this VM's name", failing)
            if vm_name is None:
                await asyncio.sleep(args["poll_interval"])
        tracker = Tracker(vm_name, args["event_types"], args["this_host"])
        LOGGER.info("imds.azure.scheduled_events: watching %s/metadata/scheduledevents for %s", reader.client.endpoint, vm_name)
        while True:
            document = await _read(reader, _scheduled.read_document, "/metadata/scheduledevents", failing)
            read_end = time.monotonic()
            for event in tracker.update(document) if document is not None else ():
                await queue.put(event)
            # Paced from the end of the read: two requests never reach IMDS less than poll_interval apart.
            await asyncio.sleep(max(0.0, read_end + args["poll_interval"] - time.monotonic()))
    finally:
        reader.close()


if __name__ == "__main__":
    # Run by hand on a VM (or against the emulator with AZURE_IMDS_ENDPOINT): print the events.
    class _PrintQueue(object):
        async def put(self, event):
            print(event)  # noqa: T201

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(_PrintQueue(), {}))
