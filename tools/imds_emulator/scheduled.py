# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scheduled events: scenarios and the Scheduled -> Started -> gone state machine.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

import email.utils
import threading
import time
import uuid

from .versions import EVENT_FIELD_SINCE, EVENT_TYPE_SINCE

# Scenario name -> event template. Timings are "dev timing" seconds: delay before the event
# appears, notice (Scheduled until NotBefore), started (Started until the event disappears).
SCENARIOS = {
    "freeze": {"EventType": "Freeze", "EventSource": "Platform", "DurationInSeconds": 5, "notice": 10, "started": 5,
               "Description": "Virtual machine is being paused because of a memory-preserving Live Migration operation."},
    "hostmaintenance": {"EventType": "Freeze", "EventSource": "Platform", "DurationInSeconds": 9, "notice": 10, "started": 9,
                        "Description": "Host server is undergoing maintenance."},
    "reboot": {"EventType": "Reboot", "EventSource": "User", "DurationInSeconds": -1, "notice": 10, "started": 5,
               "Description": "Virtual machine is going to be restarted as requested by authorized user."},
    "redeploy": {"EventType": "Redeploy", "EventSource": "Platform", "DurationInSeconds": -1, "notice": 10, "started": 8,
                 "Description": "Virtual machine is being moved to a different host server; ephemeral disks will be lost."},
    "preempt": {"EventType": "Preempt", "EventSource": "Platform", "DurationInSeconds": -1, "notice": 3, "started": 5,
                "Description": "Spot virtual machine is being evicted to reclaim capacity."},
    "terminate": {"EventType": "Terminate", "EventSource": "User", "DurationInSeconds": -1, "notice": 10, "started": 5,
                  "Description": "Virtual machine is being deleted (scale set terminate notification)."},
    "canceled": {"EventType": "Freeze", "EventSource": "Platform", "DurationInSeconds": 5, "notice": 10, "started": 5, "cancel": 5,
                 "Description": "Virtual machine is being paused because of a memory-preserving Live Migration operation."},
    "hardwarefailure": {"EventType": "Reboot", "EventSource": "Platform", "DurationInSeconds": -1, "notice": 0, "started": 10,
                        "Description": "Virtual machine is being restarted because of a host hardware failure."},
}
TIMING_KEYS = ("delay", "notice", "started", "cancel")


class ScenarioError(ValueError):
    """A scenario that cannot be parsed."""


def parse_scenario(spec):
    """``NAME[,delay=S][,notice=S][,started=S][,cancel=S]`` or a dict -> event template dict."""
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("scenario", None) or spec.pop("name", None)
        base = dict(SCENARIOS[name.lower()]) if name and name.lower() in SCENARIOS else {}
        if name and not base and "EventType" not in spec:
            raise ScenarioError("unknown scenario %r (known: %s)" % (name, ", ".join(sorted(SCENARIOS))))
        base.update(spec)
        base.setdefault("EventType", "Freeze")
        return base
    parts = [part.strip() for part in str(spec).split(",")]
    name = parts[0].lower()
    if name not in SCENARIOS:
        raise ScenarioError("unknown scenario %r (known: %s)" % (parts[0], ", ".join(sorted(SCENARIOS))))
    template = dict(SCENARIOS[name])
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep or key not in TIMING_KEYS:
            raise ScenarioError("bad scenario option %r in %r (delay=, notice=, started=, cancel=)" % (part, spec))
        try:
            template[key] = float(value)
        except ValueError:
            raise ScenarioError("bad number %r in scenario %r" % (value, spec)) from None
    return template


def rfc1123(epoch):
    """``Mon, 11 Apr 2026 22:26:58 GMT``."""
    return email.utils.formatdate(epoch, usegmt=True)


class ScheduledEvents:
    """The scheduled-events document of one VM."""

    def __init__(self, resources, rng, clock=time.time):
        self.resources = list(resources)
        self.rng = rng
        self.clock = clock
        self.incarnation = 1
        self._events = []
        self._lock = threading.Lock()

    def add(self, spec):
        """Add one event from a scenario spec; returns its EventId."""
        template = parse_scenario(spec)
        now = self.clock()
        delay = float(template.get("delay", 0))
        notice = float(template.get("notice", 10))
        with self._lock:
            event_id = str(template.get("EventId") or uuid.UUID(int=self.rng.getrandbits(128), version=4)).upper()
            event = {
                "id": event_id,
                "type": template["EventType"],
                "source": template.get("EventSource", "Platform"),
                "description": template.get("Description", ""),
                "duration": int(template.get("DurationInSeconds", -1)),
                "resources": list(template.get("Resources") or self.resources),
                "appear_at": now + delay,
                "start_at": now + delay + notice,
                "started_for": float(template.get("started", 5)),
                "cancel_at": now + delay + float(template["cancel"]) if template.get("cancel") is not None else None,
                "end_at": None,
                "state": "pending",
            }
            if template.get("EventStatus") == "Started" or notice <= 0:
                event["start_at"] = event["appear_at"]
            self._events.append(event)
            self._advance(now)
        return event_id

    def _advance(self, now):
        for event in self._events:
            while True:
                state = event["state"]
                if state == "pending" and now >= event["appear_at"]:
                    event["state"] = "Scheduled"
                    if event["start_at"] <= event["appear_at"]:
                        event["state"] = "Started"
                        event["end_at"] = event["appear_at"] + event["started_for"]
                elif state == "Scheduled" and event["cancel_at"] is not None and now >= event["cancel_at"] and event["cancel_at"] < event["start_at"]:
                    event["state"] = "gone"
                elif state == "Scheduled" and now >= event["start_at"]:
                    event["state"] = "Started"
                    event["end_at"] = event["start_at"] + event["started_for"]
                elif state == "Started" and now >= event["end_at"]:
                    event["state"] = "gone"
                else:
                    break
                self.incarnation += 1
        self._events = [event for event in self._events if event["state"] != "gone"]

    def approve(self, event_ids):
        """Start the Scheduled events among ``event_ids`` now (unknown or started ids are ignored)."""
        now = self.clock()
        with self._lock:
            self._advance(now)
            for event in self._events:
                if event["id"].lower() in {str(e).lower() for e in event_ids} and event["state"] == "Scheduled":
                    event["state"] = "Started"
                    event["start_at"] = now
                    event["end_at"] = now + event["started_for"]
                    self.incarnation += 1

    def document(self, version):
        """The GET body at scheduled-events ``version``."""
        with self._lock:
            self._advance(self.clock())
            events = []
            for event in self._events:
                if event["state"] not in ("Scheduled", "Started"):
                    continue
                if EVENT_TYPE_SINCE.get(event["type"], "0000") > version:
                    continue
                item = {
                    "EventId": event["id"],
                    "EventStatus": event["state"],
                    "EventType": event["type"],
                    "ResourceType": "VirtualMachine",
                    "Resources": list(event["resources"]),
                    "NotBefore": rfc1123(event["start_at"]) if event["state"] == "Scheduled" else "",
                    "Description": event["description"],
                    "EventSource": event["source"],
                    "DurationInSeconds": event["duration"],
                }
                for field, since in EVENT_FIELD_SINCE.items():
                    if since > version:
                        item.pop(field)
                events.append(item)
            return {"DocumentIncarnation": self.incarnation, "Events": events}
