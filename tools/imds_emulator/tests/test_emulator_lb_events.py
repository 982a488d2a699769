# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load balancer metadata and scheduled events."""

import re
import socket
import time

import pytest

from tools.imds_emulator import Emulator
from imds_emu_helpers import call

LB = "/metadata/loadbalancer?api-version=2020-10-01"
SE = "/metadata/scheduledevents?api-version=2020-07-01"
RFC1123 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


def test_loadbalancer(imds_emulator):
    reply = call(imds_emulator.url, LB)
    assert reply.status == 200
    lb = reply.json()["loadbalancer"]
    assert set(lb) == {"publicIpAddresses", "inboundRules", "outboundRules"}
    rule = lb["inboundRules"][0]
    assert isinstance(rule["frontendPort"], int) and isinstance(rule["backendPort"], int)
    assert isinstance(rule["frontendIpAddress"], str)


def test_loadbalancer_version_and_paths(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/loadbalancer?api-version=2020-09-01")
    assert reply.status == 400
    assert reply.json() == {"error": 'Parameter value "2020-09-01" isn\'t allowed for parameter "api-version". Fix the request and retry.'}
    reply = call(imds_emulator.url, "/metadata/loadbalancer/inboundRules?api-version=2020-10-01")
    assert reply.status == 404 and "API isn't found" in reply.json()["error"]
    reply = call(imds_emulator.url, LB, method="POST", body="{}")
    assert reply.status == 405 and "Http method isn't allowed" in reply.json()["error"]


@pytest.mark.parametrize("query, message", [
    ("", 'Missing required parameter "api-version". Fix the request and retry.'),
    ("?format=json", 'Missing required parameter "api-version". Fix the request and retry.'),
    ("?api-version=2020-10-01&foo=bar", "Unexpected request. Check the query parameters and retry."),
    ("?api-version=2020-10-01&format=json&extended=true", "Unexpected request. Check the query parameters and retry."),
])
def test_loadbalancer_query_errors(imds_emulator, query, message):
    # Microsoft's load-balancer IMDS troubleshooting page: the errors of a request with bad parameters.
    reply = call(imds_emulator.url, "/metadata/loadbalancer" + query)
    assert (reply.status, reply.json()) == (400, {"error": message})
    assert call(imds_emulator.url, LB + "&format=json").status == 200


@pytest.mark.imds_emulator(profile={"loadbalancer": None})
def test_no_standard_lb(imds_emulator):
    reply = call(imds_emulator.url, LB)
    assert reply.status == 404
    assert reply.json() == {"error": "No load balancer metadata is found. Check if your virtual machine is using any nonbasic SKU load balancer "
                                     "and retry later."}


def test_no_events(imds_emulator):
    assert call(imds_emulator.url, SE).json() == {"DocumentIncarnation": 1, "Events": []}


def test_etag_and_not_modified_while_nothing_changes(imds_emulator):
    # Microsoft's Node.js scheduled-events sample (Azure/vm-scheduled-events) polls with If-None-Match.
    first = call(imds_emulator.url, SE)
    etag = first.headers["etag"]
    assert first.status == 200 and re.match(r'^"[0-9a-f]{16}"$', etag)
    for header in (etag, "W/" + etag, '"other", ' + etag, "*"):
        again = call(imds_emulator.url, SE, headers={"If-None-Match": header})
        assert (again.status, again.body, again.headers["etag"]) == (304, b"", etag)
        assert "content-length" not in again.headers and "content-type" not in again.headers
    assert call(imds_emulator.url, SE, headers={"If-None-Match": '"other"'}).status == 200
    # A new event is another document; another version, another representation of it.
    imds_emulator.add_scheduled_event("Freeze,notice=60")
    changed = call(imds_emulator.url, SE, headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.json()["DocumentIncarnation"] == 2 and changed.headers["etag"] != etag
    older = call(imds_emulator.url, "/metadata/scheduledevents?api-version=2019-01-01", headers={"If-None-Match": changed.headers["etag"]})
    assert older.status == 200 and "DurationInSeconds" not in older.json()["Events"][0]
    # An approval is processed whatever If-None-Match says.
    event_id = changed.json()["Events"][0]["EventId"]
    approval = call(imds_emulator.url, SE, method="POST", body={"StartRequests": [{"EventId": event_id}]},
                    headers={"If-None-Match": changed.headers["etag"]})
    assert approval.status == 200
    assert call(imds_emulator.url, SE).json()["Events"][0]["EventStatus"] == "Started"


@pytest.mark.imds_emulator(profile={"emulator": {"scheduled_events_etag": False}})
def test_etag_can_be_switched_off(imds_emulator):
    reply = call(imds_emulator.url, SE, headers={"If-None-Match": "*"})
    assert reply.status == 200 and "etag" not in reply.headers


@pytest.mark.imds_emulator(scenarios=["Freeze,notice=30,started=1"])
def test_approval_flow(imds_emulator):
    doc = call(imds_emulator.url, SE).json()
    assert doc["DocumentIncarnation"] == 2
    event = doc["Events"][0]
    assert event["EventStatus"] == "Scheduled" and event["EventType"] == "Freeze"
    assert RFC1123.match(event["NotBefore"])
    assert event["Resources"] == [imds_emulator.profile["compute"]["name"]]
    assert event["ResourceType"] == "VirtualMachine"
    assert isinstance(event["DurationInSeconds"], int) and event["EventSource"] == "Platform" and event["Description"]
    assert call(imds_emulator.url, SE).json() == doc  # same incarnation, same content
    reply = call(imds_emulator.url, SE, method="POST", body={"StartRequests": [{"EventId": event["EventId"]}]})
    assert reply.status == 200
    doc = call(imds_emulator.url, SE).json()
    assert doc["DocumentIncarnation"] == 3
    assert doc["Events"][0]["EventStatus"] == "Started" and doc["Events"][0]["NotBefore"] == ""
    # approving again (already started) or an unknown well-formed id is still 200
    assert call(imds_emulator.url, SE, method="POST", body={"StartRequests": [{"EventId": event["EventId"]}]}).status == 200
    assert call(imds_emulator.url, SE, method="POST", body={"StartRequests": [{"EventId": "F020BA2E-3BC0-4C40-A10B-86575A9EABD5"}]}).status == 200
    time.sleep(1.1)
    assert call(imds_emulator.url, SE).json() == {"DocumentIncarnation": 4, "Events": []}


@pytest.mark.parametrize("body", ["not json", "{}", '{"StartRequests": {}}', '{"StartRequests": [{}]}', '{"StartRequests": [{"EventId": 5}]}',
                                  '{"StartRequests": ["x"]}', ""])
def test_malformed_approval(imds_emulator, body):
    assert call(imds_emulator.url, SE, method="POST", body=body).status == 400


def test_post_requires_header(imds_emulator):
    assert call(imds_emulator.url, SE, method="POST", body={"StartRequests": []}, metadata=False).status == 400


@pytest.mark.imds_emulator(scenarios=["Reboot,notice=0.5,started=0.5"])
def test_unapproved_event_starts_at_not_before_then_disappears(imds_emulator):
    assert call(imds_emulator.url, SE).json()["Events"][0]["EventStatus"] == "Scheduled"
    time.sleep(0.6)
    assert call(imds_emulator.url, SE).json()["Events"][0]["EventStatus"] == "Started"
    time.sleep(0.6)
    doc = call(imds_emulator.url, SE).json()
    assert doc["Events"] == [] and doc["DocumentIncarnation"] == 4


@pytest.mark.imds_emulator(scenarios=["Preempt,notice=30", "Terminate,notice=30"])
def test_event_fields_gated(imds_emulator):
    new = call(imds_emulator.url, SE).json()["Events"]
    assert {e["EventType"] for e in new} == {"Preempt", "Terminate"}
    old = call(imds_emulator.url, "/metadata/scheduledevents?api-version=2019-01-01").json()["Events"]
    assert all(set(e) == {"EventId", "EventStatus", "EventType", "ResourceType", "Resources", "NotBefore"} for e in old)
    assert {e["EventType"] for e in call(imds_emulator.url, "/metadata/scheduledevents?api-version=2017-11-01").json()["Events"]} == {"Preempt"}
    assert call(imds_emulator.url, "/metadata/scheduledevents?api-version=2017-08-01").json()["Events"] == []
    assert "EventSource" not in call(imds_emulator.url, "/metadata/scheduledevents?api-version=2019-04-01").json()["Events"][0]
    assert "DurationInSeconds" not in call(imds_emulator.url, "/metadata/scheduledevents?api-version=2019-08-01").json()["Events"][0]


def test_control_endpoint_adds_events(imds_emulator):
    reply = call(imds_emulator.url, "/_emulator/scheduledevents", method="POST", metadata=False,
                 body={"scenario": "Redeploy", "notice": 60})
    assert reply.status == 200
    event_id = reply.json()["EventIds"][0]
    event = call(imds_emulator.url, SE).json()["Events"][0]
    assert event["EventId"] == event_id and event["EventType"] == "Redeploy"
    reply = call(imds_emulator.url, "/_emulator/scheduledevents", method="POST", metadata=False,
                 body=[{"EventType": "Freeze", "notice": 60, "EventId": "ABC"}, "HardwareFailure"])
    assert reply.json()["EventIds"][0] == "ABC"
    events = call(imds_emulator.url, SE).json()["Events"]
    assert [e["EventStatus"] for e in events] == ["Scheduled", "Scheduled", "Started"]
    assert call(imds_emulator.url, "/_emulator/scheduledevents", method="POST", metadata=False, body={"scenario": "Nope"}).status == 400


def test_canceled_scenario_disappears_without_starting(imds_emulator):
    imds_emulator.add_scheduled_event("Canceled,notice=10,cancel=0.3")
    assert call(imds_emulator.url, SE).json()["Events"][0]["EventStatus"] == "Scheduled"
    time.sleep(0.4)
    assert call(imds_emulator.url, SE).json() == {"DocumentIncarnation": 3, "Events": []}


def test_event_ids_seeded():
    ids = []
    for _dummy in range(2):
        with Emulator(rate_limit=None, seed=3, scenarios=["Freeze,notice=60"]) as emu:
            ids.append(call(emu.url, SE).json()["Events"][0]["EventId"])
    assert ids[0] == ids[1]


@pytest.mark.imds_emulator(profile={"emulator": {"scheduled_events_warmup": 1.5}})
def test_warmup_holds_scheduled_events_until_the_service_is_on(imds_emulator):
    # Other categories and requests without the header are not held.
    assert call(imds_emulator.url, "/metadata/instance/compute/name?api-version=2021-02-01&format=text", timeout=1).text == "web-01"
    assert call(imds_emulator.url, SE, metadata=False, timeout=1).status == 400
    # The first request switches the service on: a client that gives up after 0.3 s gets nothing ...
    with pytest.raises(socket.timeout):
        call(imds_emulator.url, SE, timeout=0.3)
    # ... and a patient one gets the document once the warm-up is over.
    assert call(imds_emulator.url, SE, timeout=10).json() == {"DocumentIncarnation": 1, "Events": []}
    # From then on it answers at once.
    assert call(imds_emulator.url, SE).status == 200
    statuses = [record.status for record in imds_emulator.request_log if record.path == "/metadata/scheduledevents"]
    assert statuses[-2:] == [200, 200]
