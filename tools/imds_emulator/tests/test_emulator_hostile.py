# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile server modes: trickled headers and bodies, endless and oversized bodies, deep nesting, gzip bombs."""

import base64
import http.client
import json
import socket
import time
import zlib

import pytest

from tools.imds_emulator import FaultError, parse_fault
from tools.imds_emulator.testing import running_emulator
from imds_emu_helpers import call

INSTANCE = "/metadata/instance?api-version=2021-02-01"
USER_DATA = "/metadata/instance/compute/userData?api-version=2021-02-01&format=text"
REQUEST = b"GET " + INSTANCE.encode() + b" HTTP/1.1\r\nHost: x\r\nMetadata: true\r\n\r\n"


def raw_answer(port, timeout=1.0):
    """Bytes received within ``timeout`` seconds for one request (a raw socket: no client logic in between)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(REQUEST)
        stop_at = time.monotonic() + timeout
        while time.monotonic() < stop_at:
            sock.settimeout(max(0.01, stop_at - time.monotonic()))
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            received += data
    return received


@pytest.mark.parametrize("spec", ["trickle-body=-1", "nested=x", "oversize=-2", "gzip-bomb=abc", "endless=1,ratio=3", "short-body=-1",
                                  "double-length=x", "no-status-line=2"])
def test_bad_hostile_specs(spec):
    with pytest.raises(FaultError):
        parse_fault(spec)


@pytest.mark.imds_emulator(faults=["trickle-headers=0.2"])
def test_trickled_headers_arrive_one_byte_at_a_time(imds_emulator):
    received = raw_answer(imds_emulator.port, timeout=1.0)
    assert received and b"HTTP/1.1 200 OK".startswith(received)   # at most a few bytes of the status line in 1 s
    assert len(received) <= 8


@pytest.mark.imds_emulator(faults=["trickle-body=0.2"])
def test_trickled_body_sends_the_headers_then_one_byte_at_a_time(imds_emulator):
    received = raw_answer(imds_emulator.port, timeout=1.0)
    head, _sep, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: " in head
    assert 1 <= len(body) <= 8 and b'{"compute"'.startswith(body)


@pytest.mark.imds_emulator(faults=["trickle-body=0.001"])
def test_a_fast_trickle_delivers_the_real_answer(imds_emulator):
    reply = call(imds_emulator.url, INSTANCE)
    assert reply.status == 200 and set(reply.json()) == {"compute", "network"}
    assert imds_emulator.request_log[-1].status == 200


@pytest.mark.imds_emulator(faults=["endless=5"])
def test_endless_chunked_body(imds_emulator):
    connection = http.client.HTTPConnection("127.0.0.1", imds_emulator.port, timeout=5)
    connection.request("GET", INSTANCE, headers={"Metadata": "true"})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Length") is None
    data = response.read(3 * 1024 * 1024)           # much more than any IMDS document, and still not the end
    assert len(data) == 3 * 1024 * 1024 and data.startswith(b'{"padding":"aaaa')
    connection.close()


@pytest.mark.imds_emulator(faults=["oversize=3"])
def test_oversized_body_is_valid_json_of_that_size(imds_emulator):
    reply = call(imds_emulator.url, INSTANCE, timeout=30)
    assert reply.status == 200 and int(reply.headers["content-length"]) == 3 * 1024 * 1024 == len(reply.body)
    document = reply.json()
    assert set(document) == {"padding", "compute", "network"} and document["compute"]["name"] == "web-01"


@pytest.mark.imds_emulator(faults=["nested=100000"])
def test_deeply_nested_json(imds_emulator):
    reply = call(imds_emulator.url, INSTANCE)
    assert reply.status == 200
    assert reply.body.startswith(b'{"nested":' + b"[" * 100000 + b"]" * 100000 + b',"compute":{')
    with pytest.raises(RecursionError):
        json.loads(reply.body)


@pytest.mark.imds_emulator(faults=["nested=3,path=/metadata/identity"])
def test_nesting_applies_to_any_json_object(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net")
    token = reply.json()
    assert token["nested"] == [[[]]] and token["access_token"].count(".") == 2
    assert set(call(imds_emulator.url, INSTANCE).json()) == {"compute", "network"}


@pytest.mark.imds_emulator(faults=["gzip-bomb=20"])
def test_gzip_bomb_in_user_data(imds_emulator):
    for encoded in (call(imds_emulator.url, INSTANCE).json()["compute"]["userData"], call(imds_emulator.url, USER_DATA).text):
        compressed = base64.b64decode(encoded)
        assert len(compressed) < 64 * 1024                         # small enough to pass as user data
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        assert len(inflater.decompress(compressed, 30 * 1024 * 1024)) == 20 * 1024 * 1024 and inflater.eof
    # other documents are untouched
    assert "userData" not in call(imds_emulator.url, "/metadata/instance/compute?api-version=2019-06-01").json()


@pytest.mark.imds_emulator(faults=["oversize=1,path=/metadata/instance"])
def test_hostile_faults_honour_path_and_leave_the_rest_alone(imds_emulator):
    assert len(call(imds_emulator.url, INSTANCE).body) == 1024 * 1024
    versions = call(imds_emulator.url, "/metadata/versions")
    assert versions.status == 200 and "apiVersions" in versions.json()


@pytest.mark.imds_emulator(profile={"tags": {"env\ud800": "prod"}})
def test_a_lone_surrogate_in_the_profile_goes_out_as_a_json_escape(imds_emulator):
    reply = call(imds_emulator.url, INSTANCE)
    assert reply.status == 200 and b'"name":"env\\ud800"' in reply.body
    assert {"name": "env\ud800", "value": "prod"} in reply.json()["compute"]["tagsList"]


# --------------------------------------------------------------------------- framing (what the emulator sends, byte for byte)

NAME = "/metadata/instance/compute/name?api-version=2021-02-01&format=text"


def raw_exchange(port, path):
    """Everything the emulator sends for one request to ``path``, up to its orderly close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nMetadata: true\r\n\r\n")
        received = b""
        while True:
            data = sock.recv(65536)
            if not data:
                return received
            received += data


def split(answer):
    head, _sep, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return lines[0], lines[1:], body


@pytest.mark.imds_emulator(faults=["short-body=1,path=/metadata/instance/compute/name"])
def test_short_body_declares_the_whole_length_and_sends_less(imds_emulator):
    status, headers, body = split(raw_exchange(imds_emulator.port, NAME))
    assert status == "HTTP/1.1 200 OK" and "Content-Length: 6" in headers and body == b"web-0"
    assert call(imds_emulator.url, INSTANCE).status == 200       # other paths are untouched


@pytest.mark.imds_emulator(faults=["double-length=1"])
def test_double_length_sends_two_content_lengths_the_shorter_first(imds_emulator):
    status, headers, body = split(raw_exchange(imds_emulator.port, NAME))
    assert [line for line in headers if line.startswith("Content-Length")] == ["Content-Length: 5", "Content-Length: 6"]
    assert status == "HTTP/1.1 200 OK" and body == b"web-01"


@pytest.mark.imds_emulator(faults=["chunked-length=1"])
def test_chunked_length_sends_a_chunked_body_and_a_content_length(imds_emulator):
    status, headers, body = split(raw_exchange(imds_emulator.port, NAME))
    assert "Transfer-Encoding: chunked" in headers and "Content-Length: 5" in headers
    assert status == "HTTP/1.1 200 OK" and body == b"6\r\nweb-01\r\n0\r\n\r\n"


@pytest.mark.imds_emulator(faults=["no-status-line=1"])
def test_no_status_line_sends_the_body_alone(imds_emulator):
    assert raw_exchange(imds_emulator.port, NAME) == b"web-01"
    assert json.loads(raw_exchange(imds_emulator.port, INSTANCE))["compute"]["name"] == "web-01"


@pytest.mark.parametrize("value", ["0", "-1", "NaN", "1e400"])
def test_retry_after_answers_429_with_that_header(value):
    with running_emulator(faults=["retry-after=%s" % value]) as emulator:
        reply = call(emulator.url, INSTANCE)
        assert reply.status == 429 and reply.headers["retry-after"] == value and reply.json() == {"error": "Too many requests"}
        token = call(emulator.url, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net")
        assert token.status == 429 and token.json()["error"] == "too_many_requests"
        assert [record.status for record in emulator.request_log] == [429, 429]
