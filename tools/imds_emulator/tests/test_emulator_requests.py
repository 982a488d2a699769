# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive the emulator with `requests`, an independent HTTP client (no project code)."""

import pytest
import requests


@pytest.fixture(name="session")
def fixture_session():
    with requests.Session() as session:
        session.trust_env = False  # never use a proxy for IMDS
        session.headers["Metadata"] = "true"
        yield session


def test_instance_and_filters(imds_emulator, session):
    base = imds_emulator.url + "/metadata/instance"
    doc = session.get(base, params={"api-version": "2021-02-01"}, timeout=5).json()
    assert doc["compute"]["name"] == imds_emulator.profile["compute"]["name"]
    resp = session.get(base + "/compute/location", params={"api-version": "2021-02-01", "format": "text"}, timeout=5)
    assert resp.status_code == 200 and resp.text == "westeurope"
    resp = session.get(base + "/compute/location", params={"api-version": "2021-02-01"}, timeout=5)
    assert resp.status_code == 400


def test_errors(imds_emulator, session):
    resp = requests.get(imds_emulator.url + "/metadata/instance", params={"api-version": "2021-02-01"}, timeout=5)
    assert resp.status_code == 400
    resp = session.get(imds_emulator.url + "/metadata/instance", timeout=5)
    assert resp.status_code == 400 and resp.json()["newest-versions"][0] == "2025-04-07"
    resp = session.get(imds_emulator.url + "/metadata/instance?api-version=2021-02-01&api-version=2021-01-01", timeout=5)
    assert resp.status_code == 400
    resp = session.delete(imds_emulator.url + "/metadata/instance", params={"api-version": "2021-02-01"}, timeout=5)
    assert resp.status_code == 405


def test_token_and_attested(imds_emulator, session):
    resp = session.get(imds_emulator.url + "/metadata/identity/oauth2/token",
                       params={"api-version": "2018-02-01", "resource": "https://management.azure.com/"}, timeout=5)
    assert resp.status_code == 200 and resp.json()["resource"] == "https://management.azure.com/"
    resp = session.get(imds_emulator.url + "/metadata/attested/document", params={"api-version": "2025-04-07", "nonce": "42"}, timeout=5)
    assert resp.json()["encoding"] == "pkcs7"


def test_scheduled_events_round_trip(imds_emulator, session):
    imds_emulator.add_scheduled_event("Freeze,notice=60")
    url = imds_emulator.url + "/metadata/scheduledevents"
    doc = session.get(url, params={"api-version": "2020-07-01"}, timeout=5).json()
    event_id = doc["Events"][0]["EventId"]
    resp = session.post(url, params={"api-version": "2020-07-01"}, json={"StartRequests": [{"EventId": event_id}]}, timeout=5)
    assert resp.status_code == 200
    after = session.get(url, params={"api-version": "2020-07-01"}, timeout=5).json()
    assert after["DocumentIncarnation"] == doc["DocumentIncarnation"] + 1
    assert after["Events"][0]["EventStatus"] == "Started"


@pytest.mark.imds_emulator(faults=["reset=1"])
def test_reset_seen_by_requests(imds_emulator, session):
    with pytest.raises(requests.ConnectionError):
        session.get(imds_emulator.url + "/metadata/instance", params={"api-version": "2021-02-01"}, timeout=5)


def test_request_log_counts_session_requests(imds_emulator, session):
    for _dummy in range(5):
        session.get(imds_emulator.url + "/metadata/versions", timeout=5)
    log = imds_emulator.request_log
    assert len(log) == 5 and {r.status for r in log} == {200}
    assert len({r.client for r in log}) == 1  # keep-alive: one connection


def test_chunked_approval_body(imds_emulator, session):
    imds_emulator.add_scheduled_event("Freeze,notice=60")
    url = imds_emulator.url + "/metadata/scheduledevents"
    event_id = session.get(url, params={"api-version": "2020-07-01"}, timeout=5).json()["Events"][0]["EventId"]
    body = iter([b'{"StartRequests": [{"EventId": "', event_id.encode(), b'"}]}'])
    resp = session.post(url, params={"api-version": "2020-07-01"}, data=body, timeout=5)
    assert resp.status_code == 200
    assert imds_emulator.request_log[-1].headers["transfer-encoding"] == "chunked"
    assert session.get(url, params={"api-version": "2020-07-01"}, timeout=5).json()["Events"][0]["EventStatus"] == "Started"
