# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils._windows.transport: the request module's arguments, its answers, the transport against the emulator."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest

from ansible_collections.imds.azure.plugins.module_utils import _client, _transport
from ansible_collections.imds.azure.plugins.plugin_utils._windows import modules as _windows_modules, transport as _windows_transport
from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf
from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import windows_action


def transport_for(host):
    return _windows_transport.ModuleTransport(_windows_modules.WindowsModules(windows_action(host)))


def direct(url):
    """The same GET made by urllib without any proxy (what the Linux path sees)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"Metadata": "true"})
    with opener.open(request, timeout=5) as response:
        return response.status, response.read()


# --------------------------------------------------------------------- the module's arguments

def test_request_arguments_carry_the_request_as_data():
    body = json.dumps({"StartRequests": [{"EventId": "a'b"}]}).encode()
    args = _windows_transport.request_args("POST", "http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01",
                                           {"Metadata": "true", "Content-Type": "application/json"}, body, 2.5)
    assert args == {"url": "http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01", "method": "POST",
                    "headers": {"Metadata": "true", "Content-Type": "application/json"}, "timeout_ms": 2500,
                    "max_bytes": _transport.RESPONSE_LIMITS["scheduledevents"],
                    "body": "eyJTdGFydFJlcXVlc3RzIjogW3siRXZlbnRJZCI6ICJhJ2IifV19"}
    assert "body" not in _windows_transport.request_args("GET", "http://x/metadata/versions", {}, None, 1)


# --------------------------------------------------------------------- the transport against the emulator

def test_transport_returns_status_headers_and_the_raw_body(imds_emulator):
    host = wf.FakeWindowsHost()
    transport = transport_for(host)
    url = imds_emulator.url + "/metadata/instance?api-version=2021-02-01"
    response = transport.request("GET", url, {"Metadata": "true"}, None, 4)
    status, body = direct(url)
    assert (response.status, response.body) == (status, body) == (200, body)
    assert response.headers["content-type"].startswith("application/json")
    assert [name for name, params in host.runs] == ["win_metadata_request"]
    assert host.requests[0].timeout_ms == 4000 and host.requests[0].max_bytes == _transport.RESPONSE_LIMITS["instance"]
    record = [r for r in imds_emulator.request_log if r.path.startswith("/metadata")][-1]
    assert record.headers.get("Metadata") == "true" or record.headers.get("metadata") == "true"


def test_error_statuses_come_back_as_responses(imds_emulator):
    transport = transport_for(wf.FakeWindowsHost())
    response = transport.request("GET", imds_emulator.url + "/metadata/instance?api-version=1999-01-01", {"Metadata": "true"}, None, 4)
    assert response.status == 400 and b"newest-versions" in response.body
    response = transport.request("GET", imds_emulator.url + "/metadata/instance", {}, None, 4)
    assert response.status == 400


def test_url_encoding_reaches_imds_unchanged(imds_emulator):
    host = wf.FakeWindowsHost()
    client = _client.ImdsClient(endpoint=imds_emulator.url, api_version="2021-02-01", transport=transport_for(host))
    client.get_json("identity", "oauth2/token", query={"resource": "https://management.azure.com/"})
    url = host.requests[-1].url  # as the module received it
    assert "resource=https%3A%2F%2Fmanagement.azure.com%2F" in url
    record = [r for r in imds_emulator.request_log if r.path.startswith("/metadata/identity")][-1]
    assert record.query["resource"] == "https://management.azure.com/"


def test_connection_refused_is_a_connect_error(closed_port):
    transport = transport_for(wf.FakeWindowsHost())
    with pytest.raises(_transport.ConnectError) as err:
        transport.request("GET", "http://127.0.0.1:%d/metadata/versions" % closed_port, {"Metadata": "true"}, None, 2)
    assert not isinstance(err.value, _transport.ConnectTimeout) and "refused" in str(err.value)


def test_no_answer_is_a_read_timeout(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["stall=5"])
    transport = transport_for(wf.FakeWindowsHost())
    with pytest.raises(_transport.ReadTimeout):
        transport.request("GET", emu.url + "/metadata/versions", {"Metadata": "true"}, None, 0.3)


def test_reset_is_a_connection_reset(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["reset=1"])
    transport = transport_for(wf.FakeWindowsHost())
    with pytest.raises(_transport.ConnectionReset):
        transport.request("GET", emu.url + "/metadata/versions", {"Metadata": "true"}, None, 2)


@pytest.mark.parametrize("error, expected", [
    ({"phase": "connect", "timeout": True, "chain": []}, _transport.ConnectTimeout),
    ({"phase": "connect", "timeout": False, "chain": [{"type": "System.Net.Sockets.SocketException", "socket": "TimedOut",
                                                       "message": "timed out"}]}, _transport.ConnectTimeout),
    ({"phase": "connect", "chain": [{"socket": "NetworkUnreachable", "message": "A socket operation was attempted to an unreachable network"}]},
     _transport.ConnectError),
    ({"phase": "request", "chain": [{"status": "Timeout", "message": "The operation has timed out"}]}, _transport.ReadTimeout),
    ({"phase": "request", "chain": [{"status": "ConnectFailure", "message": "Unable to connect"}]}, _transport.ConnectError),
    ({"phase": "request", "chain": [{"status": "KeepAliveFailure", "message": "closed"}]}, _transport.ConnectionReset),
    ({"phase": "request", "chain": [{"status": "ServerProtocolViolation", "message": "violation"}]}, _transport.ConnectionReset),
    ({"phase": "read", "chain": [{"message": "Unable to read"}, {"socket": "TimedOut", "message": "x"}]}, _transport.ReadTimeout),
    ({"phase": "read", "chain": [{"message": "The connection was closed prematurely"}]}, _transport.ConnectionReset),
])
def test_dotnet_failures_map_to_transport_errors(error, expected):
    exc = _windows_transport.transport_error(error, 3)
    assert type(exc) is expected  # pylint: disable=unidiomatic-typecheck


def test_one_deadline_covers_the_whole_exchange(imds_emulator_factory):
    """A body trickled one byte a second never lets a single read time out; the deadline still ends it."""
    emu = imds_emulator_factory(faults=["trickle-body=1"])
    transport = transport_for(wf.FakeWindowsHost())
    started = time.monotonic()
    with pytest.raises(_transport.ReadTimeout) as err:
        transport.request("GET", emu.url + "/metadata/instance?api-version=2021-02-01", {"Metadata": "true"}, None, 1.5)
    assert "the answer did not complete within 1.5 s" in str(err.value)
    assert time.monotonic() - started < 10


def test_a_longer_answer_is_truncated_without_its_body(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["oversize=200"])
    response = transport_for(wf.FakeWindowsHost()).request("GET", emu.url + "/metadata/instance?api-version=2021-02-01",
                                                           {"Metadata": "true"}, None, 5)
    assert response.truncated and response.body == b""


@pytest.mark.parametrize("answer, expected", [
    ({"failed": True, "msg": "Unhandled exception while executing module: Cannot create type."}, "could not run on the target (Unhandled"),
    ({"failed": True, "msg": "broken", "transport_error": {"phase": "elsewhere"}}, "failed on the target: broken"),
    ((1, "", "The command line is too long.\r\n"), "The command line is too long."),  # wording of the core
])
def test_a_module_failure_is_a_command_error_not_an_imds_error(answer, expected):
    transport = transport_for(wf.FakeWindowsHost(override=lambda name, params: answer))
    with pytest.raises(_windows_modules.RemoteModuleError) as err:
        transport.request("GET", "http://169.254.169.254/metadata/versions", {"Metadata": "true"}, None, 2)
    assert err.value.kind == "command" and expected in str(err.value), str(err.value)


def test_hung_connection_fails_without_retry(monkeypatch):
    monkeypatch.setattr(_windows_modules, "MODULE_SLACK", 0)
    host = wf.FakeWindowsHost(override=lambda name, params: wf.HANG)
    try:
        with pytest.raises(_windows_modules.RemoteModuleError) as err:
            transport_for(host).request("GET", "http://169.254.169.254/metadata/versions", {"Metadata": "true"}, None, 1)
    finally:
        host.release()
    assert err.value.kind == "timeout" and str(err.value) == (
        "the IMDS request GET http://169.254.169.254/metadata/versions: imds.azure.win_metadata_request did not return from "
        "the connection: the connection did not return within 1 seconds")


def test_garbled_answer_is_a_command_error():
    transport = transport_for(wf.FakeWindowsHost(override=lambda name, params: {"status": "x", "body": "!"}))
    with pytest.raises(_windows_modules.RemoteModuleError) as err:
        transport.request("GET", "http://169.254.169.254/metadata/attested/document?api-version=2021-02-01&nonce=1234", {}, None, 2)
    # as on Linux, messages name the path only: the query can hold the attested nonce
    assert "/metadata/attested/document: imds.azure.win_metadata_request gave an unreadable answer" in str(err.value)
    assert "nonce" not in str(err.value)


@pytest.fixture
def stalled_body():
    """A loopback HTTP server that sends the headers and part of the body, then nothing."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    release = threading.Event()

    def serve():
        while not release.is_set():
            try:
                conn, dummy = server.accept()  # the script's connect probe first, then the request
            except OSError:
                return
            with conn:
                if conn.recv(65536):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"compute\":")
                    release.wait(10)

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    yield "http://127.0.0.1:%d" % server.getsockname()[1]
    release.set()
    worker.join(5)
    server.close()


@pytest.mark.parametrize("edition", ["5.1", "7"])
def test_a_stalled_body_is_bounded_by_the_timeout_on_powershell_5_and_7(stalled_body, edition):
    """PowerShell 7's HttpWebRequest ignores ReadWriteTimeout (dotnet/corefx#34550): each read is bounded by the module."""
    transport = transport_for(wf.FakeWindowsHost(edition=edition))
    with pytest.raises(_transport.ReadTimeout) as err:
        transport.request("GET", stalled_body + "/metadata/instance?api-version=2021-02-01", {"Metadata": "true"}, None, 0.5)
    assert "the answer did not complete within 0.5 s" in str(err.value)
