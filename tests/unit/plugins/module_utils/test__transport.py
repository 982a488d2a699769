# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""UrlTransport on a real socket: what it sends, and how it reads answers that IMDS and other servers write.

Well-formed answers are checked against Python's own ``http.client`` (code nobody here wrote): both read
the same bytes off a socket and must agree on the status, the headers and the body. Broken answers are
checked against what the client makes of them (test__client_hostile.py has the rest).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import http.server
import ipaddress
import socket
import ssl
import struct
import threading
import time

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsNotImds, ImdsUnreachable
from ansible_collections.imds.azure.plugins.module_utils._transport import (
    ConnectError, ConnectionReset, ConnectTimeout, MalformedAnswer, UrlTransport, framing_error,
)


def head(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(*chunks):
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\nX-Trailer: t\r\n\r\n"


def read_with_http_client(url):
    host, port = url[len("http://"):].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", "/metadata/instance")
        answer = connection.getresponse()
        return answer.status, sorted((name.lower(), value) for name, value in answer.getheaders()), answer.read()
    finally:
        connection.close()


def read_with_transport(url, **kwargs):
    answer = UrlTransport(**kwargs).request("GET", url + "/metadata/instance", {"Metadata": "true"}, None, 5)
    assert framing_error(answer) is None
    return answer


FIELD_VALUES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1, max_size=30)
BODIES = st.binary(max_size=3000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=st.sampled_from([200, 201, 203, 404, 410, 429, 500, 503]), body=BODIES,
       values=st.lists(FIELD_VALUES, max_size=5), framing=st.sampled_from(["length", "chunked", "close"]),
       cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=4))
def test_well_formed_answers_read_as_http_client_reads_them(raw_server, status, body, values, framing, cuts):
    fields = ["X-Field-%d: %s" % (number, value) for number, value in enumerate(values)]
    if framing == "length":
        answer = head("HTTP/1.1 %d Whatever" % status, "Content-Length: %d" % len(body), *fields) + body
    elif framing == "chunked":
        edges = sorted(set([0, len(body)] + [cut for cut in cuts if cut < len(body)]))
        answer = head("HTTP/1.1 %d Whatever" % status, "Transfer-Encoding: chunked", *fields) + chunked(
            *[body[start:end] for start, end in zip(edges, edges[1:])])
    else:
        answer = head("HTTP/1.0 %d Whatever" % status, *fields) + body
    server = raw_server(answer)
    expected_status, expected_headers, expected_body = read_with_http_client(server.url)
    got = read_with_transport(server.url)
    assert (got.status, sorted(got.headers.items()), got.body) == (expected_status, expected_headers, expected_body)
    assert not got.truncated


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def python_http_server(handler, tls=None):
    """Python's own http.server with ``handler`` on a loopback port (``tls``: a server-side SSLContext); yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_answers_of_pythons_own_http_server_are_read():
    """A server nobody here wrote: http.server with chunked and Content-Length answers, and a 1xx before one."""
    class Handler(_QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append((self.headers.get("Host"), self.headers.get("User-Agent"), self.headers.get("Connection")))
            if self.path.endswith("chunked"):
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(chunked(b'{"a":', b"1}"))
            else:
                self.send_response_only(103)
                self.send_header("Link", "</x>; rel=preload")
                self.end_headers()
                self.send_response(200)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b'{"a":2}')

    seen = []
    with python_http_server(Handler) as port:
        base = "http://127.0.0.1:%d" % port
        assert UrlTransport().request("GET", base + "/chunked", {}, None, 5).body == b'{"a":1}'
        answer = UrlTransport().request("GET", base + "/length", {}, None, 5)
        assert (answer.status, answer.body) == (200, b'{"a":2}')
    assert seen == [("127.0.0.1:%d" % port, "ansible-imds.azure", "close")] * 2


def test_the_request_names_host_length_and_no_compression(raw_server):
    server = raw_server(head("HTTP/1.1 200 OK", "Content-Length: 2") + b"{}")
    UrlTransport().request("POST", server.url + "/metadata/scheduledevents?api-version=2020-07-01", {"Metadata": "true"}, b"{}", 5)
    request = server.requests[0].decode("latin-1")
    assert request.startswith("POST /metadata/scheduledevents?api-version=2020-07-01 HTTP/1.1\r\n")
    for line in ("Host: " + server.url[len("http://"):], "Metadata: true", "Accept-Encoding: identity", "Content-Length: 2",
                 "Connection: close"):
        assert "\r\n%s\r\n" % line in request


@pytest.mark.parametrize("url, headers", [
    ("http://127.0.0.1:9/metadata/instance?x=a b", {}),
    ("http://127.0.0.1:9/metadata/instance?x=a\r\nEvil: 1", {}),
    ("http://127.0.0.1:9/metadata/instance", {"Metadata": "true\r\nEvil: 1"}),
    ("http://127.0.0.1:9/metadata/instance", {"Bad Name": "x"}),
])
def test_a_request_that_would_smuggle_a_line_is_never_sent(url, headers):
    with pytest.raises(ValueError):
        UrlTransport().request("GET", url, headers, None, 5)


def test_headers_folded_onto_continuation_lines_are_one_value(raw_server):
    server = raw_server(head("HTTP/1.1 200 OK", "X-Folded: one", "  two", "Content-Length: 2") + b"{}")
    assert read_with_transport(server.url).headers["x-folded"] == "one two"


@pytest.mark.parametrize("answer, error, why", [
    (head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"5\r\nvm-1", ImdsUnreachable, "chunked body ended early"),
    (head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"5\r\nvm-10\r\n", ImdsUnreachable, "chunked body ended early"),
    (head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"zz\r\nvm-10\r\n0\r\n\r\n", ImdsNotImds, "not a hexadecimal number"),
    (head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"2\r\nvm-10\r\n0\r\n\r\n", ImdsNotImds, "chunk longer than its size"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", ImdsUnreachable, "closed in the middle of the headers"),
    (head("HTTP/1.1 200 OK", "no colon here", "Content-Length: 5") + b"vm-10", ImdsNotImds, "not a name and a value"),
    (head("HTTP/1.1 200 OK", *["X-%d: 1" % n for n in range(101)]) + b"vm-10", ImdsNotImds, "more than 100 header fields"),
    (head("HTTP/1.1 200 OK", "X-Long: " + "a" * 70000) + b"vm-10", ImdsNotImds, "a line longer than 65536 bytes"),
    (head("HTTP/1.1 100 Continue") * 11 + head("HTTP/1.1 200 OK", "Content-Length: 5") + b"vm-10", ImdsNotImds, "interim"),
    (b"", ImdsUnreachable, "closed before any answer"),
    (b"HTTP/1.1 200 OK\r\n  folded\r\nContent-Length: 5\r\n\r\nvm-10", ImdsNotImds, "a continuation line before any header"),
    (head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"5\r\nvm-10\r\n0\r\nno colon\r\n\r\n", ImdsNotImds, "its trailer cannot be read"),
])
def test_a_broken_answer_is_never_a_value(raw_server, fake_time, answer, error, why):
    server = raw_server(answer)
    client = ImdsClient(endpoint=server.url, api_version="2021-02-01", timeout=2, deadline=3, sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(error) as info:
        client.get_text("instance", "compute/name")
    assert why in str(info.value)
    assert "vm-1" not in str(info.value)


def test_interim_answers_before_the_answer_are_skipped(raw_server):
    server = raw_server(head("HTTP/1.1 100 Continue") * 3 + head("HTTP/1.1 200 OK", "Content-Length: 5") + b"vm-10")
    assert read_with_transport(server.url).body == b"vm-10"


@pytest.mark.parametrize("size, body", [(16, b"a" * 16), (16, b"a" * 17), (16, b"a" * 100000)])
def test_a_chunked_body_keeps_at_most_its_cap(raw_server, size, body):
    server = raw_server(head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + chunked(body[:10], body[10:]))
    answer = UrlTransport(max_body=size).request("GET", server.url, {}, None, 5)
    assert answer.body == body[:size] and answer.truncated == (len(body) > size)


def test_a_chunk_size_of_more_digits_than_any_answer_is_too_large_not_a_crash(raw_server):
    server = raw_server(head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"f" * 5000 + b"\r\nvm-10\r\n0\r\n\r\n")
    answer = UrlTransport(max_body=1000).request("GET", server.url, {}, None, 5)
    assert answer.truncated and len(answer.body) <= 1000


def _self_signed(directory):
    """A certificate for 127.0.0.1 and its key, as PEM files (cryptography: code nobody here wrote)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imds.azure test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.mark.parametrize("trusted", [True, False])
def test_https_verifies_the_server_with_pythons_ssl(tmp_path, monkeypatch, trusted):
    """https:// (the controller's certificate downloads) goes through ssl's default context: verified, or refused."""
    cert_file, key_file = _self_signed(tmp_path)
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", cert_file)   # OpenSSL's default verify paths read it
    else:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)

    class Handler(_QuietHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    with python_http_server(Handler, tls=context) as port:
        url = "https://127.0.0.1:%d/x.crt" % port
        if trusted:
            assert UrlTransport().request("GET", url, {}, None, 5).body == b"{}"
        else:
            with pytest.raises(MalformedAnswer, match=r"the TLS handshake failed \(.*IMDS itself is plain http://\)"):
                UrlTransport().request("GET", url, {}, None, 5)


class _ResettingServer(object):
    """Accepts one connection, reads the request, sends ``first`` (maybe nothing), waits, then resets the connection
    (SO_LINGER 0: an RST, not a FIN), as a middlebox that drops a connection does."""

    def __init__(self, first):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, args=(first,), daemon=True)
        self.thread.start()

    def _serve(self, first):
        conn, _address = self.sock.accept()
        conn.recv(65536)
        if first:
            conn.sendall(first)
        time.sleep(0.3)   # the client has read what was sent and waits for more
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def close(self):
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("first", [b"", b"HTTP/1.1 200 OK\r\nContent-", head("HTTP/1.1 200 OK", "Content-Length: 10") + b"vm-"])
def test_a_connection_reset_is_a_reset_wherever_it_comes(first):
    server = _ResettingServer(first)
    try:
        with pytest.raises(ConnectionReset, match="Connection reset by peer"):
            UrlTransport().request("GET", server.url + "/metadata/instance", {}, None, 5)
    finally:
        server.close()


def test_a_reset_during_the_tls_handshake_is_no_connection():
    server = _ResettingServer(b"")
    try:
        with pytest.raises(ConnectError, match="Connection reset by peer"):
            UrlTransport().request("GET", server.url.replace("http://", "https://") + "/x.crt", {}, None, 5)
    finally:
        server.close()


def test_a_server_silent_during_the_tls_handshake_is_a_connect_timeout(raw_server):
    server = raw_server(b"")   # waits for the end of an HTTP request, which a TLS ClientHello never has
    with pytest.raises(ConnectTimeout, match="connection timed out after 0.5 s"):
        UrlTransport().request("GET", server.url.replace("http://", "https://") + "/x.crt", {}, None, 0.5)
