# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""How a request reaches IMDS: the transport contract and its default, one plain HTTP connection.

The contract (docs/developing.md): ``request(method, url, headers, body, timeout) -> Response``, raising a
TransportError subclass when no HTTP answer arrived. The Windows transport (plugin_utils) and the
lookups' paced transport implement the same contract. Whatever the transport, the client hands every
Response to ``framing_error`` before it reads the body: an answer cut short of its Content-Length, or
one whose end is ambiguous, never counts as an answer.

Nothing an answer holds (status line, headers, body) ever goes into a TransportError's message: the
identity endpoint's answers hold tokens, and a broken answer's first line is as secret as the rest.
"""

from __future__ import annotations

import re
import socket
import time

from urllib.parse import urlsplit

from ansible_collections.imds.azure.plugins.module_utils._errors import format_seconds

# Size limits (docs/docsite/rst/facts.rst "Limits and what happens at them"), in bytes: what a transport reads of
# an answer at most. Azure's own documents are a few kilobytes; the instance document carries the user data
# (at most 64 KB) too. The client refuses a 2xx answer above its category's limit.
KIB = 1024
MIB = 1024 * KIB
RESPONSE_LIMITS = {
    "instance": MIB,
    "loadbalancer": MIB,
    "scheduledevents": MIB,
    "attested": 64 * KIB,
    "identity": 64 * KIB,
    "versions": 64 * KIB,
}
MAX_RESPONSE_BYTES = max(RESPONSE_LIMITS.values())   # what UrlTransport reads at most, of any answer

USER_AGENT = "ansible-imds.azure"
_READ_SIZE = 64 * KIB


class Response(object):
    """What a transport returns: status code, headers (lower-case names) and raw body bytes.

    ``headers`` is a mapping or a list of (name, value) pairs; a name that comes more than once has
    its values joined by ``", "`` (RFC 9110 5.3), so two Content-Length headers stay visible as such.
    ``truncated`` is True when the transport stopped reading because the answer was larger than
    it accepts (``body`` then holds only the part it read).
    """

    __slots__ = ("status", "headers", "body", "truncated")

    def __init__(self, status, headers=None, body=b"", truncated=False):
        self.status = int(status)
        self.headers = {}
        for name, value in (headers.items() if hasattr(headers, "items") else headers or ()):
            name, value = str(name).lower(), str(value)
            self.headers[name] = self.headers[name] + ", " + value if name in self.headers else value
        self.body = body if body is not None else b""
        self.truncated = bool(truncated)

    def __repr__(self):
        return "Response(status=%r, %d bytes%s)" % (self.status, len(self.body), ", truncated" if self.truncated else "")


class TransportError(Exception):
    """A request got no HTTP answer. Transports raise one of the subclasses."""

    connected = False  # True when the failure happened after the connection was established


class ConnectError(TransportError):
    """No connection: refused, network or host unreachable, name resolution failed."""


class ConnectTimeout(ConnectError):
    """The connection could not be established within the timeout."""


class ReadTimeout(TransportError):
    """Connected and sent the request, but no (complete) answer arrived within the timeout."""

    connected = True


class ConnectionReset(TransportError):
    """Connected, then the connection was closed or reset before a complete answer."""

    connected = True


class NotSent(TransportError):
    """The request was not sent: a local limit (the lookups' request pacing) had no free slot in time."""


class MalformedAnswer(TransportError):
    """Something answered, but not in HTTP/1.x whose end is unambiguous (or the TLS handshake failed):
    no status line, a Transfer-Encoding other than chunked, Content-Length headers that disagree or
    are not a number, or Transfer-Encoding and Content-Length together. IMDS never answers so."""

    connected = True


_DIGITS_RE = re.compile(r"^[0-9]+$")
# More digits than this is more than any answer a transport reads (and int() of a 4,300-digit string raises).
_MAX_LENGTH_DIGITS = 15
# What an answer's head may hold at most: http.client's limits (a line of 64 KiB, 100 header fields).
_MAX_LINE = 65536
_MAX_HEADERS = 100
_MAX_INTERIM = 10  # 1xx answers before the real one
_STATUS_RE = re.compile(br"HTTP/1\.[0-9] ([1-9][0-9]{2})(?:[ \t][^\r\n]*)?\r?\n\Z")
_CHUNK_SIZE_RE = re.compile(br"([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r?\n\Z")
_FIELD_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_URL_TARGET_RE = re.compile(r"[^\x21-\x7e]")
_FIELD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def framing_error(response):
    """The TransportError that ``response`` amounts to, or None when its framing is sound.

    Called by the client on every Response, whatever the transport: a body shorter than its
    Content-Length is a connection that ended early (``ConnectionReset``), and an answer whose
    length is ambiguous is ``MalformedAnswer``. A body the transport stopped reading
    (``truncated``) is the client's size check, not this one.
    """
    ambiguous = _framing_ambiguity(response.headers)
    lengths = response.headers.get("content-length")
    if ambiguous is not None or lengths is None or response.truncated:
        return ambiguous
    value = lengths.split(",")[0].strip()
    if len(value) > _MAX_LENGTH_DIGITS:
        return ConnectionReset("the answer ended after %d bytes, far fewer than its Content-Length" % len(response.body))
    declared = int(value)
    if len(response.body) < declared:
        return ConnectionReset("the answer ended after %d of the %d bytes of its Content-Length" % (len(response.body), declared))
    return None


def _framing_ambiguity(headers):
    """The MalformedAnswer of headers that leave where the body ends in doubt, or None."""
    encodings = headers.get("transfer-encoding")
    lengths = headers.get("content-length")
    if encodings is not None:
        if [coding.strip().lower() for coding in encodings.split(",")] != ["chunked"]:
            return MalformedAnswer("its Transfer-Encoding is not just chunked")
        if lengths is not None:
            return MalformedAnswer("it has both Transfer-Encoding and Content-Length, so where it ends is ambiguous")
    if lengths is None:
        return None
    values = set(value.strip() for value in lengths.split(","))
    if len(values) > 1:
        return MalformedAnswer("it has Content-Length headers that disagree")
    if not _DIGITS_RE.match(values.pop()):
        return MalformedAnswer("its Content-Length is not a number of bytes")
    return None


def _is_timeout(exc):
    return isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in str(exc).lower()


class _Unreadable(Exception):
    """The status line or headers break HTTP/1.x's rules (a line or a count beyond its limit)."""


class _Wire(object):
    """The bytes of one answer, off one socket: every read waits at most for what is left of one deadline.

    A socket timeout alone bounds each read, so a server that sends one byte a second would never
    time out; this bounds the status line, the headers and the body together.
    """

    def __init__(self, sock, stop_at):
        self._sock = sock
        self._stop_at = stop_at
        self._buffer = bytearray()
        self._ended = False

    def _fill(self):
        """Read what the socket has (at most _READ_SIZE bytes); False at the end of the answer."""
        if self._ended:
            return False
        remaining = self._stop_at - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out")
        self._sock.settimeout(remaining)
        data = self._sock.recv(_READ_SIZE)
        if not data:
            self._ended = True
            return False
        self._buffer += data
        return True

    def line(self):
        """The next line with its line end, what is left without one at the end of the answer, b"" after it."""
        searched = 0
        while True:
            end = self._buffer.find(b"\n", searched, _MAX_LINE)
            if end >= 0:
                return self._take(end + 1)
            if len(self._buffer) >= _MAX_LINE:
                raise _Unreadable("a line longer than %d bytes" % _MAX_LINE)
            searched = len(self._buffer)
            if not self._fill():
                return self._take(len(self._buffer))

    def read(self, count):
        """``count`` bytes, or fewer when the answer ends first."""
        while len(self._buffer) < count and self._fill():
            pass
        return self._take(count)

    def _take(self, count):
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data


class UrlTransport(object):
    """Default transport: one plain HTTP/1.1 exchange on a connection of its own per request.

    It speaks just the part of HTTP/1.1 that IMDS answers in, on a socket (https:// through ``ssl``,
    for the controller's certificate downloads): a module that imports no HTTP library starts
    faster, and every byte of the answer passes one set of checks. No proxy is ever used
    (``http_proxy``, ``https_proxy`` and ``no_proxy`` are never consulted) and redirects are never
    followed: a 3xx reaches the client, which reports it. ``timeout`` bounds the whole attempt --
    connect, request, status line, headers and body -- not each read. At most ``max_body`` bytes
    of a body are read; a longer answer comes back ``truncated`` and the connection is dropped, so
    memory stays bounded whatever the server sends.
    """

    def __init__(self, max_body=None):
        self.max_body = MAX_RESPONSE_BYTES if max_body is None else int(max_body)
        self._tls = None

    def request(self, method, url, headers, body, timeout):
        stop_at = time.monotonic() + timeout
        parts = urlsplit(url)
        message = _request_bytes(method, parts, headers, body)
        sock = self._connect(parts, timeout, stop_at)
        try:
            wire = _Wire(sock, stop_at)
            try:
                sock.settimeout(max(stop_at - time.monotonic(), 0.001))
                sock.sendall(message)
                status, fields = _read_head(wire)
            except _Unreadable as exc:
                raise MalformedAnswer("its status line or headers cannot be read (%s)" % exc)
            except OSError as exc:
                if _is_timeout(exc):
                    raise ReadTimeout("no complete status line and headers within %s s" % format_seconds(timeout))
                raise ConnectionReset(_reason_text(exc))
            answer = Response(status, fields)
            ambiguous = _framing_ambiguity(answer.headers)
            if ambiguous is not None:
                raise ambiguous
            try:
                answer.body, answer.truncated = self._read_body(wire, method, answer)
            except _Unreadable as exc:
                raise MalformedAnswer("its trailer cannot be read (%s)" % exc)
            except OSError as exc:
                if _is_timeout(exc):
                    raise ReadTimeout("the answer (HTTP %d) did not complete within %s s" % (status, format_seconds(timeout)))
                raise ConnectionReset("connection lost while reading the answer (%s)" % _reason_text(exc))
            return answer
        finally:
            sock.close()

    def _connect(self, parts, timeout, stop_at):
        tls = parts.scheme == "https"
        address = (parts.hostname, parts.port or (443 if tls else 80))
        try:
            sock = socket.create_connection(address, timeout)
        except OSError as exc:
            if _is_timeout(exc):
                raise ConnectTimeout("connection timed out after %s s" % format_seconds(timeout))
            raise ConnectError(_reason_text(exc))
        if tls:
            try:
                sock.settimeout(max(stop_at - time.monotonic(), 0.001))
                sock = self._handshake(sock, parts.hostname, timeout)
            except BaseException:
                sock.close()
                raise
        return sock

    def _handshake(self, sock, hostname, timeout):
        import ssl  # only https:// needs it (IMDS is plain http://), and it costs a module start-up milliseconds

        if self._tls is None:
            self._tls = ssl.create_default_context()
        try:
            return self._tls.wrap_socket(sock, server_hostname=hostname)
        except OSError as exc:   # ssl.SSLError included
            if _is_timeout(exc):
                raise ConnectTimeout("connection timed out after %s s" % format_seconds(timeout))
            if isinstance(exc, ssl.SSLError):
                raise MalformedAnswer("the TLS handshake failed (%s; IMDS itself is plain http://)" % _reason_text(exc))
            raise ConnectError(_reason_text(exc))

    def _read_body(self, wire, method, answer):
        """(body, truncated): at most ``max_body`` bytes, never the whole of a longer answer."""
        if method == "HEAD" or answer.status in (204, 304) or answer.status < 200:
            return b"", False
        if "transfer-encoding" in answer.headers:
            return _read_chunked(wire, self.max_body)
        declared = answer.headers.get("content-length")
        if declared is not None:
            declared = declared.split(",")[0].strip()
            if len(declared) > _MAX_LENGTH_DIGITS or int(declared) > self.max_body:
                return b"", True
            return wire.read(int(declared)), False   # fewer bytes: framing_error's "ended after"
        data = wire.read(self.max_body + 1)        # no framing: the answer ends with the connection
        return data[:self.max_body], len(data) > self.max_body


def _request_bytes(method, parts, headers, body):
    """The request message: the caller's headers plus Host, User-Agent, Accept-Encoding and Connection: close."""
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    fields = dict(headers)
    fields.update({"Host": parts.netloc.rpartition("@")[2], "User-Agent": USER_AGENT, "Accept-Encoding": "identity",
                   "Connection": "close"})
    if body is not None or method in ("POST", "PUT", "PATCH"):
        fields["Content-Length"] = str(len(body or b""))
    # A control character would let a value end the line and start another header or request.
    if _URL_TARGET_RE.search(target) or not _FIELD_NAME_RE.match(method):
        raise ValueError("the request line would hold a control character or space")
    for name, value in fields.items():
        if not _FIELD_NAME_RE.match(name) or _FIELD_VALUE_RE.search(str(value)):
            raise ValueError("the request header %r would hold a control character" % name)
    lines = ["%s %s HTTP/1.1" % (method, target)] + ["%s: %s" % item for item in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def _read_head(wire):
    """(status, [(name, value)]) of the answer, after any 1xx interim answers."""
    for _interim in range(_MAX_INTERIM + 1):
        line = wire.line()
        if not line:
            raise ConnectionReset("closed before any answer")
        match = _STATUS_RE.match(line)
        if match is None:
            # The line itself is never shown: it may be the first line of a token answer.
            raise MalformedAnswer("it does not start with an HTTP/1.x status line")
        status = int(match.group(1))
        fields = _read_fields(wire)
        if status >= 200 or status == 101:
            return status, fields
    raise _Unreadable("more than %d interim 1xx answers" % _MAX_INTERIM)


def _read_fields(wire, trailer=False):
    """The header (or trailer) fields up to the empty line that ends them."""
    fields = []
    while True:
        line = wire.line()
        if line in (b"\r\n", b"\n") or (trailer and not line):
            return fields
        if not line.endswith(b"\n"):
            raise ConnectionReset("closed in the middle of the %s" % ("trailer" if trailer else "headers"))
        if len(fields) >= _MAX_HEADERS:
            raise _Unreadable("more than %d header fields" % _MAX_HEADERS)
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):
            if not fields:
                raise _Unreadable("a continuation line before any header")
            fields[-1] = (fields[-1][0], (fields[-1][1] + " " + text.strip()).strip())
            continue
        name, colon, value = text.partition(":")
        if not colon or not _FIELD_NAME_RE.match(name):
            raise _Unreadable("a header line that is not a name and a value")
        fields.append((name, value.strip(" \t")))


def _read_chunked(wire, limit):
    """(body, truncated) of a chunked body: at most ``limit`` bytes of data are kept."""
    data = bytearray()
    while True:
        line = wire.line()
        if not line.endswith(b"\n"):
            raise ConnectionReset("connection lost while reading the answer (the chunked body ended early)")
        match = _CHUNK_SIZE_RE.match(line)
        if match is None:
            raise MalformedAnswer("its chunked body has a chunk size that is not a hexadecimal number")
        digits = match.group(1).lstrip(b"0")
        size = int(digits or b"0", 16) if len(digits) <= _MAX_LENGTH_DIGITS else limit + 1
        if len(data) + size > limit:
            return bytes(data + wire.read(limit - len(data))), True
        if size == 0:
            _read_fields(wire, trailer=True)
            return bytes(data), False
        chunk = wire.read(size)
        end = wire.line() if len(chunk) == size else b""
        if not end.endswith(b"\n"):
            raise ConnectionReset("connection lost while reading the answer (the chunked body ended early)")
        if end not in (b"\r\n", b"\n"):
            raise MalformedAnswer("its chunked body has a chunk longer than its size says")
        data += chunk


def _reason_text(reason):
    """Why a connection failed, in the local system's words: never the text of an exception that may quote the answer."""
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return reason.__class__.__name__
