# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the plugin tests: a fake clock/sleep pair, fake DMI directories, a closed port,
a server with a canned answer."""

from __future__ import annotations

import multiprocessing
import socket
import threading

import pytest

AZURE_TAG = "7783-7084-3265-9085-8269-3286-77"


class FakeTime(object):
    """A clock that only moves when the client sleeps; records every sleep."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def fake_time():
    return FakeTime()


def make_dmi(directory, asset_tag=None, vendor=None):
    directory.mkdir(parents=True, exist_ok=True)
    if asset_tag is not None:
        directory.joinpath("chassis_asset_tag").write_text(asset_tag + "\n")
    if vendor is not None:
        directory.joinpath("sys_vendor").write_text(vendor + "\n")
    return str(directory)


@pytest.fixture
def dmi():
    """make_dmi(directory, asset_tag=None, vendor=None) -> path of a fake DMI directory."""
    return make_dmi


@pytest.fixture
def azure_dmi(tmp_path, monkeypatch):
    """IMDS_AZURE_DMI_PATH pointing to the DMI data of an Azure VM."""
    path = make_dmi(tmp_path / "dmi-azure", AZURE_TAG, "Microsoft Corporation")
    monkeypatch.setenv("IMDS_AZURE_DMI_PATH", path)
    return path


@pytest.fixture
def closed_port():
    """A loopback port nobody listens on (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class CannedServer(object):
    """A loopback socket that answers every request with the same raw bytes, then closes the connection.

    For answers the emulator does not give (a gzip Content-Encoding, a 204, a token endpoint that
    echoes a token in an error): the client's real transport still reads them off a real socket.
    """

    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                conn.sendall(self.answer)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)   # wakes the accept() of the serving thread
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def canned_server():
    """canned_server(status_line, [(header, value)], body) -> a CannedServer (``.url``, ``.requests``)."""
    servers = []

    def start(status_line, headers, body):
        head = "\r\n".join([status_line] + ["%s: %s" % item for item in headers] + ["Content-Length: %d" % len(body), "", ""])
        server = CannedServer(head.encode("latin-1") + body)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def raw_server():
    """raw_server(answer_bytes) -> a CannedServer that sends exactly those bytes (no Content-Length added):
    for answers whose framing is the point (cut short, two lengths, no status line)."""
    servers = []

    def start(answer):
        server = CannedServer(answer)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _forked(target, count, *args):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=args + (queue,)) for _attempt in range(count)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    return [queue.get(timeout=5) for _attempt in procs]


@pytest.fixture
def forked():
    """forked(target, count, *args) -> what ``count`` forked workers (as ansible-playbook's) running ``target(*args, queue)``
    at once put on their queue, one item each."""
    return _forked
