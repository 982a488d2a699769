# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""Scheduled events for imds.azure.scheduled_events: read, filter, wait for, approve.

Standard library and ansible-core only. The same entry point (``execute``) runs inside the
module on a POSIX target and, through the action plugin, on the controller for a Windows
target (with a transport that reaches IMDS over the connection). Every request goes through
the shared ImdsClient; time is injectable (``sleep``, ``clock``) for tests.
"""

from __future__ import annotations

import time

from ansible.module_utils.basic import env_fallback

from ansible_collections.imds.azure.plugins.module_utils._client import DEFAULT_ENDPOINT, ImdsClient
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsAzureError, ImdsNotImds
from ansible_collections.imds.azure.plugins.module_utils._pacing import share_vm_budget
from ansible_collections.imds.azure.plugins.module_utils._shape import ShapeError, scheduled_events_document

EVENT_TYPES = ("Freeze", "Reboot", "Redeploy", "Preempt", "Terminate")
EVENT_STATUSES = ("Scheduled", "Started")
MIN_POLL_INTERVAL = 1.0     # Microsoft recommends polling scheduled events at most once per second
DEFAULT_WAIT_TIMEOUT = 300.0
DEFAULT_DEADLINE = 150.0    # the first request on a VM may take up to ~2 minutes (the service switches on)

ARGUMENT_SPEC = dict(
    endpoint=dict(type="str", default=DEFAULT_ENDPOINT, fallback=(env_fallback, ["AZURE_IMDS_ENDPOINT"])),
    api_version=dict(type="str", default="latest"),
    timeout=dict(type="float", default=5.0),
    deadline=dict(type="float", default=DEFAULT_DEADLINE),
    event_ids=dict(type="list", elements="str"),
    event_types=dict(type="list", elements="str", choices=list(EVENT_TYPES)),
    statuses=dict(type="list", elements="str", choices=list(EVENT_STATUSES)),
    resources=dict(type="list", elements="str"),
    this_host=dict(type="bool", default=False),
    wait_for=dict(type="list", elements="str", choices=list(EVENT_TYPES)),
    wait_for_completion=dict(type="bool", default=False),
    wait_timeout=dict(type="float", default=DEFAULT_WAIT_TIMEOUT),
    poll_interval=dict(type="float", default=MIN_POLL_INTERVAL),
    approve=dict(type="bool", default=False),
)


class ScheduledEventsError(ImdsAzureError):
    """Bad input (message is user-facing); nothing was approved."""

    kind = "config"


def _names(values):
    return [str(value).strip() for value in (values or []) if str(value).strip()]


def _event_ids(values):
    """``event_ids`` as given: None (no filter) or a list, possibly empty (no event). A blank entry is a mistake, never "any"."""
    if values is None:
        return None
    ids = [str(value).strip() for value in values]
    if "" in ids:
        raise ScheduledEventsError("event_ids entry %d is empty: give the EventId of each event, or an empty list for none"
                                   % (ids.index("") + 1))
    return ids


def check_params(params):
    """Validate what the argument spec cannot; returns a normalised copy."""
    out = dict(params)
    out["event_ids"] = _event_ids(params.get("event_ids"))
    out["resources"] = _names(params.get("resources"))
    for key in ("event_types", "statuses", "wait_for"):
        out[key] = list(params.get(key) or [])
    out["this_host"] = bool(params.get("this_host"))
    out["approve"] = bool(params.get("approve"))
    out["wait_for_completion"] = bool(params.get("wait_for_completion"))
    try:
        out["wait_timeout"] = float(params.get("wait_timeout") if params.get("wait_timeout") is not None else DEFAULT_WAIT_TIMEOUT)
        out["poll_interval"] = float(params.get("poll_interval") if params.get("poll_interval") is not None else MIN_POLL_INTERVAL)
    except (TypeError, ValueError):
        raise ScheduledEventsError("wait_timeout and poll_interval must be numbers of seconds")
    if out["wait_timeout"] <= 0:
        raise ScheduledEventsError("wait_timeout must be greater than 0")
    if out["poll_interval"] < MIN_POLL_INTERVAL:
        raise ScheduledEventsError("poll_interval must be at least %g second: Microsoft asks clients to poll scheduled events "
                                   "at most once per second" % MIN_POLL_INTERVAL)
    if out["approve"] and out["event_ids"] is None and not out["this_host"]:
        raise ScheduledEventsError("approve needs event_ids or this_host=true: approving releases an event for every VM in its "
                                   "Resources, so the module never approves events it was not pointed at")
    return out


def _bad_document(client, why):
    url = client.endpoint + "/metadata/scheduledevents"
    return ImdsNotImds("IMDS answered %s with JSON that is not a scheduled events document (%s): this is not IMDS. "
                       "Nothing was approved." % (url, why), url=url, status=200)


def read_document(client):
    """GET /metadata/scheduledevents, checked against the document's shape (_shape.scheduled_events_document)."""
    try:
        return scheduled_events_document(client.get_json("scheduledevents"))
    except ShapeError as exc:
        raise _bad_document(client, str(exc)) from None


def affects(event, names):
    """True when the event's Resources name one of ``names`` (IMDS names are compared case-insensitively)."""
    wanted = set(name.lower() for name in names)
    return any(isinstance(resource, str) and resource.lower() in wanted for resource in event.get("Resources") or [])


def select(events, params, vm_name=None):
    """The events that pass every filter of ``params`` (event_ids, event_types, statuses, resources, this_host).

    ``event_ids`` None is no filter; an empty list selects no event (nothing is pending: nothing to do).
    """
    ids = None if params["event_ids"] is None else set(event_id.lower() for event_id in params["event_ids"])
    out = []
    for event in events:
        if ids is not None and event["EventId"].lower() not in ids:
            continue
        if params["event_types"] and event.get("EventType") not in params["event_types"]:
            continue
        if params["statuses"] and event.get("EventStatus") not in params["statuses"]:
            continue
        if params["resources"] and not affects(event, params["resources"]):
            continue
        if params["this_host"] and not affects(event, [vm_name or ""]):
            continue
        out.append(event)
    return out


def this_vm_name(client):
    """This VM's name as scheduled events list it in Resources (compute.name)."""
    name = client.get_text("instance", "compute/name").strip()
    if not name:
        raise ImdsNotImds("IMDS returned an empty compute/name, so the events that affect this host cannot be told apart. "
                          "Nothing was approved.", url=client.endpoint + "/metadata/instance/compute/name", status=200)
    return name


class _Poller(object):
    """Reads the document at most once per ``interval`` seconds (from the end of one read to the start of the next)."""

    def __init__(self, client, interval, sleep, clock):
        self.client = client
        self.interval = interval
        self.sleep = sleep
        self.clock = clock
        self.polls = 0
        self._first = None
        self._last = None

    @property
    def waited(self):
        """Seconds from the start of the first read to the end of the last one."""
        return 0.0 if self._first is None else self._last - self._first

    def read(self):
        if self._last is not None:
            pause = self._last + self.interval - self.clock()
            if pause > 0:
                self.sleep(pause)
        if self._first is None:
            self._first = self.clock()
        self.polls += 1
        try:
            return read_document(self.client)
        finally:
            # The next read is paced from the end of this one, so that two requests never
            # reach IMDS less than ``interval`` apart, however long this one took.
            self._last = self.clock()

    def wait(self, document, done, timeout):
        """Poll until ``done(document)``; returns (document, timed_out)."""
        start = self.clock()
        while not done(document):
            next_read = (self._last if self._last is not None else start) + self.interval
            if next_read - start > timeout:
                return document, True
            document = self.read()
        return document, False


def _ids(events):
    return [event["EventId"] for event in events]


def execute(params, check_mode=False, client_factory=ImdsClient, sleep=None, clock=None):
    """The whole task: returns the result dict (``failed`` and ``msg`` when a wait timed out).

    Raises ScheduledEventsError or ImdsError (user-facing messages) for anything else.
    """
    params = check_params(params)
    warnings = []
    endpoint = params.get("endpoint")
    client = client_factory(endpoint=DEFAULT_ENDPOINT if endpoint is None else endpoint, api_version=params.get("api_version") or "latest",
                            timeout=params.get("timeout"), deadline=params.get("deadline") or DEFAULT_DEADLINE, warn=warnings.append)
    poller = _Poller(client, params["poll_interval"], sleep or time.sleep, clock or time.monotonic)
    vm_name = this_vm_name(client) if params["this_host"] else ""
    result = dict(changed=False, api_version=client.api_version_for("scheduledevents"), vm_name=vm_name, approved=[],
                  already_started=[], missing_ids=[], timed_out=False)

    document = poller.read()
    if params["wait_for"] and params["event_ids"] != []:   # no event can match an empty list: nothing to wait for
        def appeared(doc):
            return any(event.get("EventType") in params["wait_for"] for event in select(doc["Events"], params, vm_name))

        document, timed_out = poller.wait(document, appeared, params["wait_timeout"])
        if timed_out:
            result.update(_report(document, select(document["Events"], params, vm_name), poller, timed_out=True))
            result.update(failed=True, msg="no %s event%s appeared within %g s (%d reads of /metadata/scheduledevents)" % (
                " or ".join(params["wait_for"]), " matching the filters" if _filtered(params) else "", params["wait_timeout"],
                poller.polls))
            return _finish(result, warnings)

    selected = select(document["Events"], params, vm_name)
    present = set(event["EventId"].lower() for event in document["Events"])
    result["missing_ids"] = [event_id for event_id in params["event_ids"] or [] if event_id.lower() not in present]
    result.update(_report(document, selected, poller))

    if params["approve"]:
        to_start = [event for event in selected if event.get("EventStatus") == "Scheduled"]
        result["already_started"] = _ids(event for event in selected if event.get("EventStatus") != "Scheduled")
        result["approved"] = _ids(to_start)
        if to_start:
            result["changed"] = True
            if not check_mode:
                client.post_json("scheduledevents", "", {"StartRequests": [{"EventId": event["EventId"]} for event in to_start]})

    if params["wait_for_completion"] and selected:
        if check_mode and result["approved"]:
            warnings.append("check mode: the approval was not sent, so wait_for_completion did not wait")
        else:
            tracked = set(event_id.lower() for event_id in _ids(selected))

            def finished(doc):
                return not any(event["EventId"].lower() in tracked for event in doc["Events"])

            document, timed_out = poller.wait(poller.read(), finished, params["wait_timeout"])
            report = _report(document, [event for event in document["Events"] if event["EventId"].lower() in tracked], poller)
            if timed_out:
                result.update(report, timed_out=True, failed=True,
                              msg="event%s %s still present after %g s" % (
                                  "" if len(report["events"]) == 1 else "s", ", ".join(_ids(report["events"])), params["wait_timeout"]))
                return _finish(result, warnings)
            result.update(report)
    return _finish(result, warnings)


def _filtered(params):
    return params["event_ids"] is not None or any(params[key] for key in ("event_types", "statuses", "resources", "this_host"))


def _report(document, events, poller, timed_out=False):
    return dict(document_incarnation=document["DocumentIncarnation"], events=events, polls=poller.polls,
                waited=round(poller.waited, 1), timed_out=timed_out)


def _finish(result, warnings):
    if warnings:
        result["warnings"] = list(warnings)
    return result


def vm_client(**kwargs):
    """A client on the VM itself: its requests share the VM's budget with the event source (and the other tasks)."""
    return share_vm_budget(ImdsClient(**kwargs), sleep=kwargs.get("sleep"))


def run_module(module, client_factory=vm_client, sleep=None, clock=None):
    """Entry point of imds.azure.scheduled_events: ends with ``module.exit_json``/``fail_json``.

    The action plugin runs it on the controller for Windows targets, with a client factory whose
    transport runs each request as a PowerShell command; waiting then sleeps on the controller.
    """
    try:
        result = execute(module.params, check_mode=module.check_mode, client_factory=client_factory, sleep=sleep, clock=clock)
    except ImdsAzureError as exc:
        module.fail_json(msg=str(exc), imds_error=exc.kind)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if result.get("failed"):
        module.fail_json(imds_error="wait_timeout", **result)  # the one failure execute returns: a wait ran out of time
    module.exit_json(**result)
