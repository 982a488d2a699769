# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault injection, rate limits and the request log."""

import json
import socket
import time

import pytest

from tools.imds_emulator import Emulator, FaultError, parse_fault
from imds_emu_helpers import call

INSTANCE = "/metadata/instance?api-version=2021-02-01"


@pytest.mark.parametrize("spec", ["", "nope=1", "status=abc", "status=99", "reset=2", "latency=-1", "status=500,ratio=2",
                                  "status=500,path=metadata", "status=500,foo=1", "throttle=x"])
def test_bad_specs(spec):
    with pytest.raises(FaultError):
        parse_fault(spec)


def test_spec_parsing():
    fault = parse_fault("status=503,ratio=0.25,path=/metadata/identity")
    assert (fault.kind, fault.value, fault.ratio, fault.path) == ("status", 503, 0.25, "/metadata/identity")
    assert parse_fault("stale-nonce=1").kind == "stale-nonce"


@pytest.mark.imds_emulator(faults=["gone=1"])
def test_gone_then_recovers(imds_emulator):
    reply = call(imds_emulator.url, INSTANCE)
    assert reply.status == 410
    time.sleep(1.1)
    assert call(imds_emulator.url, INSTANCE).status == 200


@pytest.mark.imds_emulator(faults=["throttle=2"])
def test_throttle_counts_requests(imds_emulator):
    replies = [call(imds_emulator.url, INSTANCE) for _dummy in range(4)]
    assert [r.status for r in replies] == [429, 429, 200, 200]
    assert replies[0].headers["retry-after"] == "1"
    assert replies[0].json() == {"error": "Too many requests"}


@pytest.mark.imds_emulator(faults=["throttle=1"], rate_limit=5, identity_rate_limit=1)
def test_throttle_on_identity_has_the_identity_limiters_shape(imds_emulator):
    token = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"
    fault, passed, limited = (call(imds_emulator.url, token) for _dummy in range(3))
    assert (fault.status, passed.status, limited.status) == (429, 200, 429)
    assert fault.json() == limited.json() == {"error": "too_many_requests", "error_description": "Too many requests"}
    assert fault.headers["retry-after"] == "1" and "retry-after" not in limited.headers


def statuses(seed, count=40):
    with Emulator(faults=["status=500,ratio=0.3"], rate_limit=None, seed=seed) as emu:
        return [call(emu.url, INSTANCE).status for _dummy in range(count)]


def test_status_ratio_is_seeded():
    first = statuses(7)
    assert set(first) == {200, 500}
    assert first == statuses(7)
    assert first != statuses(8)


@pytest.mark.imds_emulator(faults=["status=503,path=/metadata/identity"])
def test_path_prefix(imds_emulator):
    assert call(imds_emulator.url, INSTANCE).status == 200
    reply = call(imds_emulator.url, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=r")
    assert reply.status == 503
    assert "error" in reply.json()


@pytest.mark.imds_emulator(faults=["latency=0.3"])
def test_latency_still_answers(imds_emulator):
    started = time.monotonic()
    assert call(imds_emulator.url, INSTANCE).status == 200
    assert time.monotonic() - started >= 0.3  # functional: the delay was applied


@pytest.mark.imds_emulator(faults=["stall=1"])
def test_stall_sends_nothing(imds_emulator):
    with socket.create_connection(("127.0.0.1", imds_emulator.port), timeout=5) as sock:
        sock.sendall(b"GET /metadata/instance?api-version=2021-02-01 HTTP/1.1\r\nHost: x\r\nMetadata: true\r\n\r\n")
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sock.recv(100)
        sock.settimeout(5)
        assert sock.recv(100) == b""  # closed after the stall, still without a response
    assert imds_emulator.request_log[0].status == 0


@pytest.mark.imds_emulator(faults=["reset=1"])
def test_reset(imds_emulator):
    with pytest.raises((ConnectionError, OSError)):
        call(imds_emulator.url, INSTANCE)
    assert imds_emulator.request_log[-1].status == 0


@pytest.mark.imds_emulator(faults=["html=1"])
def test_html_captive_portal(imds_emulator):
    reply = call(imds_emulator.url, INSTANCE)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.text.startswith("<!DOCTYPE html>")


@pytest.mark.imds_emulator(faults=["truncate=1"])
def test_truncated_json(imds_emulator):
    reply = call(imds_emulator.url, INSTANCE)
    assert reply.status == 200
    with pytest.raises(ValueError):
        json.loads(reply.text)
    assert len(reply.body) == int(reply.headers["content-length"])


def test_faults_compose_and_change_at_run_time(imds_emulator):
    imds_emulator.set_faults(["throttle=1", "latency=0.05"])
    assert [call(imds_emulator.url, INSTANCE).status for _dummy in range(2)] == [429, 200]
    imds_emulator.set_faults([])
    assert call(imds_emulator.url, INSTANCE).status == 200
    reply = call(imds_emulator.url, "/_emulator/faults", method="PUT", body=["status=500"], metadata=False)
    assert reply.json() == ["status=500"]
    assert call(imds_emulator.url, INSTANCE).status == 500
    assert imds_emulator.faults == ["status=500"]
    assert call(imds_emulator.url, "/_emulator/faults", method="PUT", body=["bogus=1"], metadata=False).status == 400
    assert call(imds_emulator.url, "/_emulator/faults", method="PUT", body=[], metadata=False).json() == []
    assert call(imds_emulator.url, INSTANCE).status == 200


@pytest.mark.imds_emulator(rate_limit=5)
def test_rate_limit(imds_emulator):
    codes = [call(imds_emulator.url, INSTANCE).status for _dummy in range(12)]
    assert codes[:5] == [200] * 5
    assert 429 in codes
    assert set(codes) == {200, 429}


def test_rate_limit_off_by_default_in_fixture(imds_emulator):
    assert imds_emulator.rate_limit is None
    assert {call(imds_emulator.url, INSTANCE).status for _dummy in range(20)} == {200}


def test_request_log(imds_emulator):
    call(imds_emulator.url, INSTANCE + "&format=json", headers={"User-Agent": "t/1", "x-ms-client-request-id": "abc"})
    call(imds_emulator.url, "/metadata/instance", metadata=False)
    log = imds_emulator.request_log
    assert len(log) == 2
    first = log[0]
    assert (first.method, first.path, first.status) == ("GET", "/metadata/instance", 200)
    assert first.query == {"api-version": "2021-02-01", "format": "json"}
    assert first.headers["metadata"] == "true"
    assert first.headers.get("X-MS-CLIENT-REQUEST-ID") == "abc"
    assert log[1].status == 400 and "Metadata" not in log[1].headers
    imds_emulator.clear_log()
    assert imds_emulator.request_log == []
