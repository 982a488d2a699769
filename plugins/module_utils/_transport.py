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

import http.client as http_client
import io
import re
import socket
import ssl
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


def framing_error(response):
    """The TransportError that ``response`` amounts to, or None when its framing is sound.

    Called by the client on every Response, whatever the transport: a body shorter than its
    Content-Length is a connection that ended early (``ConnectionReset``: http.client returns the
    part that arrived without a word), and an answer whose length is ambiguous is
    ``MalformedAnswer``. A body the transport stopped reading (``truncated``) is the client's
    size check, not this one.
    """
    encodings = response.headers.get("transfer-encoding")
    lengths = response.headers.get("content-length")
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
    value = values.pop()
    if not _DIGITS_RE.match(value):
        return MalformedAnswer("its Content-Length is not a number of bytes")
    if response.truncated:
        return None
    if len(value) > _MAX_LENGTH_DIGITS:
        return ConnectionReset("the answer ended after %d bytes, far fewer than its Content-Length" % len(response.body))
    declared = int(value)
    if len(response.body) < declared:
        return ConnectionReset("the answer ended after %d of the %d bytes of its Content-Length" % (len(response.body), declared))
    return None


def _is_timeout(exc):
    return isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in str(exc).lower()


class _DeadlineReader(io.RawIOBase):
    """Reads a socket until a fixed moment: every read waits at most for the time that is left.

    A socket timeout alone bounds each read, so a server that sends one byte a second would never
    time out; this bounds the status line, the headers and the body together.
    """

    def __init__(self, sock, stop_at):
        super(_DeadlineReader, self).__init__()
        self._sock = sock
        # A reference of its own: HTTPConnection.close() then leaves the socket open for the body.
        self._raw = sock.makefile("rb", buffering=0)
        self._stop_at = stop_at

    def readable(self):
        return True

    def readinto(self, buffer):
        remaining = self._stop_at - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out")
        self._sock.settimeout(remaining)
        return self._raw.readinto(buffer)

    def close(self):
        if not self.closed:
            self._raw.close()
        super(_DeadlineReader, self).close()


class _DeadlineSocket(object):
    """What http.client's response reads from: the connection's socket behind a _DeadlineReader."""

    def __init__(self, sock, stop_at):
        self._sock = sock
        self._stop_at = stop_at

    def makefile(self, mode, *args, **kwargs):
        return io.BufferedReader(_DeadlineReader(self._sock, self._stop_at))


class UrlTransport(object):
    """Default transport: one plain http.client connection per request.

    No proxy is ever used (``http_proxy``, ``https_proxy`` and ``no_proxy`` are never consulted) and
    redirects are never followed: a 3xx reaches the client, which reports it. ``timeout`` bounds
    the whole attempt -- connect, request, status line, headers and body -- not each read. At most
    ``max_body`` bytes of a body are read; a longer answer comes back ``truncated`` and the
    connection is dropped, so memory stays bounded whatever the server sends.
    """

    def __init__(self, max_body=None):
        self.max_body = MAX_RESPONSE_BYTES if max_body is None else int(max_body)
        self._tls = None

    def _connection(self, parts, timeout):
        if parts.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return http_client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=self._tls)
        return http_client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def request(self, method, url, headers, body, timeout):
        stop_at = time.monotonic() + timeout
        parts = urlsplit(url)
        connection = self._connection(parts, timeout)
        connection.response_class = lambda sock, *args, **kwargs: http_client.HTTPResponse(_DeadlineSocket(sock, stop_at), *args, **kwargs)
        response = None
        try:
            try:
                connection.connect()
            except (socket.timeout, TimeoutError):
                raise ConnectTimeout("connection timed out after %s s" % format_seconds(timeout))
            except ssl.SSLError as exc:
                if _is_timeout(exc):
                    raise ConnectTimeout("connection timed out after %s s" % format_seconds(timeout))
                raise MalformedAnswer("the TLS handshake failed (%s; IMDS itself is plain http://)" % _reason_text(exc))
            except OSError as exc:
                if _is_timeout(exc):
                    raise ConnectTimeout("connection timed out after %s s" % format_seconds(timeout))
                raise ConnectError(_reason_text(exc))
            target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
            sent = dict(headers, **{"User-Agent": USER_AGENT, "Connection": "close"})
            try:
                connection.request(method, target, body=body, headers=sent)
                response = connection.getresponse()
            except (socket.timeout, TimeoutError):
                raise ReadTimeout("no complete status line and headers within %s s" % format_seconds(timeout))
            except http_client.RemoteDisconnected:
                raise ConnectionReset("closed before any answer")
            except (http_client.BadStatusLine, http_client.UnknownProtocol):
                # The line itself is never shown: it may be the first line of a token answer.
                raise MalformedAnswer("it does not start with an HTTP/1.x status line")
            except http_client.HTTPException as exc:
                raise MalformedAnswer("its status line or headers cannot be read (%s)" % exc.__class__.__name__)
            except OSError as exc:
                if _is_timeout(exc):
                    raise ReadTimeout("no complete status line and headers within %s s" % format_seconds(timeout))
                raise ConnectionReset(_reason_text(exc))
            try:
                data, truncated = self._read_body(response)
            except (socket.timeout, TimeoutError):
                raise ReadTimeout("the answer (HTTP %d) did not complete within %s s" % (response.status, format_seconds(timeout)))
            except (http_client.HTTPException, OSError) as exc:
                if _is_timeout(exc):
                    raise ReadTimeout("the answer (HTTP %d) did not complete within %s s" % (response.status, format_seconds(timeout)))
                raise ConnectionReset("connection lost while reading the answer (%s)" % _reason_text(exc))
            return Response(response.status, response.getheaders(), data, truncated)
        finally:
            if response is not None:
                response.close()
            connection.close()

    def _read_body(self, response):
        """(body, truncated): at most ``max_body`` bytes, never the whole of a longer answer."""
        declared = (response.getheader("content-length") or "").strip()
        if _DIGITS_RE.match(declared) and (len(declared) > _MAX_LENGTH_DIGITS or int(declared) > self.max_body):
            return b"", True
        data = bytearray()
        while len(data) <= self.max_body:
            chunk = response.read(min(_READ_SIZE, self.max_body + 1 - len(data)))
            if not chunk:
                return bytes(data), False
            data += chunk
        return bytes(data[:self.max_body]), True


def _reason_text(reason):
    """Why a connection failed, in the local system's words: never the text of an exception that may quote the answer."""
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return reason.__class__.__name__
