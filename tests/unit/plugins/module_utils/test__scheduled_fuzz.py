# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fuzzing scheduled-events documents: any answer ends in a result or the module's own error.

The transport answers GET /metadata/scheduledevents with the generated document and a POST with an
empty 200; the poller runs on a fake clock. Profiles: tests/unit/conftest.py (``make fuzz`` for a long run).
"""

from __future__ import annotations

import json

from hypothesis import given, strategies as st

from ansible_collections.imds.azure.tests.unit.fuzz_settings import IMDS_ERROR_KINDS
from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsError
from ansible_collections.imds.azure.plugins.module_utils._transport import Response
from ansible_collections.imds.azure.plugins.module_utils._scheduled import EVENT_TYPES, ScheduledEventsError, execute

TEXT = st.one_of(st.text(max_size=10), st.sampled_from(["vm-1", "VM-1", "Scheduled", "Started", "Freeze", "Reboot", "", "\ud800"]))
JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), TEXT),
                           lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(TEXT, children, max_size=3)),
                           max_leaves=10)
EVENTS = st.lists(st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional={
    "EventId": st.one_of(TEXT, st.integers(), st.just("e-1")), "EventType": st.one_of(st.sampled_from(EVENT_TYPES), TEXT),
    "EventStatus": st.one_of(st.sampled_from(["Scheduled", "Started"]), JSON_VALUES), "Resources": st.one_of(st.lists(TEXT, max_size=3), JSON_VALUES),
    "NotBefore": TEXT, "DurationInSeconds": JSON_VALUES})), max_size=4)
DOCUMENTS = st.one_of(JSON_VALUES, st.fixed_dictionaries({"DocumentIncarnation": st.one_of(st.integers(), JSON_VALUES), "Events": EVENTS}))
OPTION_TEXT = st.one_of(st.text(max_size=10), st.sampled_from(["vm-1", "VM-1", "e-1", ""]))   # what a task can pass
PARAMS = st.fixed_dictionaries({}, optional={
    "event_ids": st.lists(OPTION_TEXT, max_size=2), "event_types": st.lists(st.sampled_from(EVENT_TYPES), max_size=2),
    "statuses": st.lists(st.sampled_from(["Scheduled", "Started"]), max_size=1), "resources": st.lists(OPTION_TEXT, max_size=2),
    "this_host": st.booleans(), "approve": st.booleans(), "wait_for": st.lists(st.sampled_from(EVENT_TYPES), max_size=1),
    "wait_for_completion": st.booleans(), "wait_timeout": st.sampled_from([1.0, 3.0]),
})


class Answers(object):
    def __init__(self, documents, name):
        self.documents = documents
        self.name = name
        self.reads = 0

    def request(self, method, url, headers, body, timeout):
        if method == "POST":
            return Response(200, {"Content-Type": "application/json"}, b"")
        if "/compute/name" in url:
            return Response(200, {"Content-Type": "text/plain"}, self.name.encode("utf-8", "backslashreplace"))
        document = self.documents[min(self.reads, len(self.documents) - 1)]
        self.reads += 1
        return Response(200, {"Content-Type": "application/json"}, json.dumps(document).encode())


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds


@given(documents=st.lists(DOCUMENTS, min_size=1, max_size=3), params=PARAMS, name=TEXT, check_mode=st.booleans())
def test_any_document_ends_in_a_result_or_the_modules_error(documents, params, name, check_mode):
    clock = Clock()
    transport = Answers(documents, name)

    def client(**kwargs):
        return ImdsClient(transport=transport, sleep=clock.sleep, clock=lambda: clock.now, **kwargs)

    params = dict(params, endpoint="http://127.0.0.1:9", api_version="2021-02-01", timeout=1, deadline=5)
    if params.get("approve") and not params.get("event_ids") and not params.get("this_host"):
        params["this_host"] = True
    try:
        result = execute(params, check_mode=check_mode, client_factory=client, sleep=clock.sleep, clock=lambda: clock.now)
    except ScheduledEventsError as exc:
        assert exc.kind == "config"
    except ImdsError as exc:
        assert exc.kind in IMDS_ERROR_KINDS
        str(exc).encode("utf-8")
    else:
        assert isinstance(result["events"], list) and isinstance(result["document_incarnation"], int)
        json.dumps(result, ensure_ascii=False).encode("utf-8")
