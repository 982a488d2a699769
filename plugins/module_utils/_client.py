# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
#
# The shared client of the Azure Instance Metadata Service (IMDS). Standard library and
# ansible-core only: it runs on managed hosts (Python >= 3.8) inside modules, and on the
# controller inside the lookup, inventory and action plugins.
"""Shared IMDS client: request rules, version negotiation, retries and response validation."""

from __future__ import annotations

import io
import json
import random
import re
import socket
import ssl
import threading
import time

from ansible.module_utils.six.moves.urllib.parse import quote, urlsplit  # pylint: disable=import-error
from ansible.module_utils.six.moves import http_client  # pylint: disable=import-error

from ansible_collections.imds.azure.plugins.module_utils._errors import (
    NO_LOAD_BALANCER_RE,
    ImdsConfigError,
    ImdsError,
    ImdsNotFound,
    ImdsNotImds,
    ImdsRejected,
    ImdsServerError,
    ImdsThrottled,
    ImdsTimeout,
    ImdsTooLarge,
    ImdsUnreachable,
)
from ansible_collections.imds.azure.plugins.module_utils._paths import encode_path, encode_query

__all__ = [
    "DEFAULT_ENDPOINT", "CATEGORIES", "SCHEDULED_EVENTS_VERSIONS", "CATEGORY_MINIMUM_VERSION",
    "RESPONSE_LIMITS", "ImdsClient", "Response", "UrlTransport",
    "TransportError", "ConnectError", "ConnectTimeout", "ReadTimeout", "ConnectionReset", "NotSent", "format_seconds",
    "ImdsError", "ImdsConfigError", "ImdsUnreachable", "ImdsTimeout", "ImdsRejected", "ImdsNotFound",
    "ImdsThrottled", "ImdsServerError", "ImdsNotImds", "ImdsTooLarge",
]

DEFAULT_ENDPOINT = "http://169.254.169.254"
USER_AGENT = "ansible-imds.azure"

# Category roots under /metadata. "versions" is unversioned.
CATEGORIES = ("instance", "attested", "identity", "loadbalancer", "scheduledevents", "versions")

# Scheduled events have their own api-version line (newest first). "latest" means the first.
SCHEDULED_EVENTS_VERSIONS = ("2020-07-01", "2019-08-01", "2019-04-01", "2019-01-01", "2017-11-01", "2017-08-01", "2017-03-01")

# First version of each category on the main line. An explicit older version is refused
# locally (the service would refuse it too) so that the error can say why.
CATEGORY_MINIMUM_VERSION = {
    "instance": "2017-04-02",
    "identity": "2018-02-01",
    "attested": "2018-10-01",
    "loadbalancer": "2020-10-01",
}

# Retry policy (docs/docsite/rst/facts.rst "Retries"); times in seconds.
BACKOFF_INITIAL = 1.0         # first retry delay; 5xx must wait >= 1 s (MS guidance)
BACKOFF_CAP = 8.0             # exponential backoff stops growing here
BACKOFF_JITTER = 0.25         # delays are stretched by up to +25 % (never shortened)
GONE_WINDOW = 70.0            # 410 is polled for at most this long
GONE_POLL_CAP = 5.0           # 410 polling interval stops growing here
NOT_FOUND_RETRIES = 3         # 404 on a category root (IMDS "updating"); deeper paths: none
DEFAULT_CONNECT_RETRIES = 3   # refused / unreachable / connect timeout
RETRY_AFTER_CAP = 60.0

# Size limits (docs/docsite/rst/facts.rst "Limits and what happens at them"), in bytes. Azure's own
# documents are a few kilobytes; the instance document carries the user data (at most 64 KB) too.
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
ERROR_BODY_LIMIT = 64 * KIB   # an error answer longer than this is not parsed (IMDS's are one line)
MAX_JSON_DEPTH = 32           # IMDS documents nest a few levels; deeper JSON is refused
_READ_SIZE = 64 * KIB

_VERSION_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$")
_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")
_DOCKER_UNREACHABLE_RE = re.compile(r"unreachable", re.IGNORECASE)
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
# Categories whose answers may hold secrets: no part of their bodies ever appears in a message.
SECRET_CATEGORIES = ("identity",)


# --------------------------------------------------------------------------- transport

class Response(object):
    """What a transport returns: status code, headers (lower-case names) and raw body bytes.

    ``truncated`` is True when the transport stopped reading because the answer was larger than
    it accepts (``body`` then holds only the part it read).
    """

    __slots__ = ("status", "headers", "body", "truncated")

    def __init__(self, status, headers=None, body=b"", truncated=False):
        self.status = int(status)
        self.headers = dict((str(k).lower(), str(v)) for k, v in (headers or {}).items())
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


def _is_timeout(exc):
    return isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in str(exc).lower()


def format_seconds(value):
    """A duration for messages: ``5``, ``1.77``, ``0.5`` (never ``1.771996541000135``)."""
    return ("%.2f" % value).rstrip("0").rstrip(".")


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

    def __init__(self, validate_certs=True, max_body=None):
        self.validate_certs = validate_certs
        self.max_body = MAX_RESPONSE_BYTES if max_body is None else int(max_body)
        self._tls = None

    def _connection(self, parts, timeout):
        if parts.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
                if not self.validate_certs:
                    self._tls.check_hostname = False
                    self._tls.verify_mode = ssl.CERT_NONE
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
            except (http_client.HTTPException, OSError) as exc:
                if _is_timeout(exc):
                    raise ReadTimeout("no complete status line and headers within %s s" % format_seconds(timeout))
                raise ConnectionReset(_reason_text(exc) or exc.__class__.__name__)
            try:
                data, truncated = self._read_body(response)
            except (socket.timeout, TimeoutError):
                raise ReadTimeout("the answer (HTTP %d) did not complete within %s s" % (response.status, format_seconds(timeout)))
            except (http_client.HTTPException, OSError) as exc:
                if _is_timeout(exc):
                    raise ReadTimeout("the answer (HTTP %d) did not complete within %s s" % (response.status, format_seconds(timeout)))
                raise ConnectionReset("connection lost while reading the answer (%s)" % (_reason_text(exc) or exc.__class__.__name__))
            return Response(response.status, dict(response.getheaders()), data, truncated)
        finally:
            if response is not None:
                response.close()
            connection.close()

    def _read_body(self, response):
        """(body, truncated): at most ``max_body`` bytes, never the whole of a longer answer."""
        declared = response.getheader("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_body:
            return b"", True
        data = bytearray()
        while len(data) <= self.max_body:
            chunk = response.read(min(_READ_SIZE, self.max_body + 1 - len(data)))
            if not chunk:
                return bytes(data), False
            data += chunk
        return bytes(data[:self.max_body]), True


def _reason_text(reason):
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    text = str(reason)
    return text or reason.__class__.__name__


# --------------------------------------------------------------------------- errors

_ROUTE_HINT = (
    "On an Azure VM, check the 169.254.169.254/32 route: it must leave through the primary NIC "
    "(Linux: 'ip route get 169.254.169.254'; Windows: 'route print 169.254.169.254'); the imds.azure.route role "
    "checks and repairs it. IMDS is reachable only from inside an Azure VM."
)


# --------------------------------------------------------------------------- helpers

def validate_endpoint(endpoint):
    """Return the normalised endpoint (``scheme://host[:port]``) or raise ImdsConfigError."""
    if endpoint == "":
        raise ImdsConfigError("endpoint is empty: give a URL such as %s, or leave the option out for that default. An empty "
                              "value (for example a variable that templates to '') is refused, never taken to mean the "
                              "default" % DEFAULT_ENDPOINT)
    if not isinstance(endpoint, str):
        raise ImdsConfigError("endpoint must be a non-empty URL such as %s" % DEFAULT_ENDPOINT)
    if _CONTROL_RE.search(endpoint):
        raise ImdsConfigError("endpoint %r contains whitespace or control characters" % endpoint)
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError as exc:
        raise ImdsConfigError("endpoint %r is not a valid URL: %s" % (endpoint, exc))
    if parts.scheme not in ("http", "https"):
        raise ImdsConfigError("endpoint %r must start with http:// (IMDS is plain HTTP) or https://" % endpoint)
    if not parts.hostname:
        raise ImdsConfigError("endpoint %r has no host" % endpoint)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ImdsConfigError("endpoint %r must not contain user information" % endpoint)
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in endpoint or "#" in endpoint:
        raise ImdsConfigError("endpoint %r must be scheme://host[:port] only (no path, query or fragment)" % endpoint)
    if port is not None and not 0 < port < 65536:
        raise ImdsConfigError("endpoint %r has an invalid port" % endpoint)
    return "%s://%s" % (parts.scheme, parts.netloc)


def validate_api_version(version):
    if not isinstance(version, str) or not (version == "latest" or _VERSION_RE.match(version)):
        raise ImdsConfigError("api_version must be 'latest' or a date such as 2021-02-01, got %r" % (version,))
    return version


def _stable(versions):
    return sorted(v for v in versions if isinstance(v, str) and _VERSION_RE.match(v) and not v.endswith("-preview"))


def scheduled_events_version_for(version):
    """Map a main-line api-version to the newest scheduled-events version not newer than it."""
    for candidate in SCHEDULED_EVENTS_VERSIONS:
        if candidate <= version:
            return candidate
    return version


def _looks_like_html(text, content_type):
    if "html" in content_type.lower():
        return True
    head = text.lstrip()[:64].lower()
    return head.startswith("<!doctype") or head.startswith("<html") or head.startswith("<?xml") or head.startswith("<head")


def _snippet(text, limit=80):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _printable(text):
    """``text`` with lone UTF-16 surrogates written as escapes, so that it can always be encoded."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _parse_error_body(response):
    """Return (error text, newest-versions list, is_json) for an error answer."""
    body = response.body
    if response.truncated or len(body) > ERROR_BODY_LIMIT:
        return _printable(_snippet(body[:ERROR_BODY_LIMIT].decode("utf-8", "replace"))), [], False
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _printable(_snippet(body.decode("utf-8", "replace"))), [], False
    if not isinstance(data, dict):
        return _printable(_snippet(text)), [], True
    error = data.get("error")
    description = data.get("error_description")
    message = _snippet(error, 500) if isinstance(error, str) else _snippet(text)
    if isinstance(description, str) and description:
        message = "%s: %s" % (message, _snippet(description, 500))
    newest = data.get("newest-versions") or []
    if not isinstance(newest, list):
        newest = []
    return _printable(message), [str(v) for v in newest], True


def _withheld(response, is_json):
    """What a message says instead of the body of an answer that may hold a secret."""
    if not response.body:
        return "no body"
    return "a %s body of %d bytes, not shown because the answers of this endpoint may hold tokens" % (
        "JSON" if is_json else "non-JSON", len(response.body))


def _size(count):
    for unit, name in ((MIB, "MiB"), (KIB, "KiB")):
        if count >= unit and count % unit == 0:
            return "%d %s" % (count // unit, name)
    return "%d bytes" % count


def _json_problem(data, secret):
    """Why decoded JSON cannot come from IMDS (nesting too deep, lone surrogates), or None.

    Iterative, so that a deep document cannot exhaust the stack here either.
    """
    stack = [(data, 1, ())]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            if isinstance(node, str) and _SURROGATE_RE.search(node):
                return _surrogate_problem(where, secret)
            continue
        if depth > MAX_JSON_DEPTH:
            return "is nested more than %d levels deep" % MAX_JSON_DEPTH
        for key, value in items:
            if isinstance(key, str) and _SURROGATE_RE.search(key):
                return _surrogate_problem(where + (key,), secret)
            stack.append((value, depth + 1, where + (key,)))
    return None


def _surrogate_problem(where, secret):
    place = "" if secret else " at %s" % ("/".join(_printable(str(part)) for part in where) or "the top")
    return "holds a lone UTF-16 surrogate (an unpaired \\uD800-\\uDFFF escape)%s, which is not Unicode text" % place


# --------------------------------------------------------------------------- client

class ImdsClient(object):
    """Talks to IMDS following the collection's request rules (docs/docsite/rst/facts.rst).

    ``api_version``: ``latest`` (negotiated once per client via /metadata/versions, or the
    ``newest-versions`` list of a 400 when that endpoint is missing) or an explicit date.
    ``timeout``: seconds per HTTP attempt. ``deadline``: seconds for one call including retries.
    ``transport``: object with ``request(method, url, headers, body, timeout) -> Response``.
    ``warn``: callable(str), called once per distinct failure (not per attempt).
    ``connect_retries``: retries when no connection can be made at all.
    ``category_versions``: optional {category: version} overriding ``api_version`` per category.
    ``sleep``/``clock``/``rand``: injectable for tests (time.sleep, time.monotonic, random.random).
    """

    def __init__(self, endpoint=DEFAULT_ENDPOINT, api_version="latest", timeout=5, deadline=90,
                 transport=None, warn=None, connect_retries=DEFAULT_CONNECT_RETRIES, category_versions=None,
                 sleep=None, clock=None, rand=None):
        self.endpoint = validate_endpoint(endpoint if endpoint is not None else DEFAULT_ENDPOINT)
        self.api_version = validate_api_version(api_version if api_version is not None else "latest")
        try:
            self.timeout = float(timeout if timeout is not None else 5)
            self.deadline = float(deadline if deadline is not None else 90)
        except (TypeError, ValueError):
            raise ImdsConfigError("timeout and deadline must be numbers of seconds")
        if self.timeout <= 0 or self.deadline <= 0:
            raise ImdsConfigError("timeout and deadline must be greater than 0")
        self.connect_retries = max(0, int(connect_retries))
        self.category_versions = {}
        for category, version in (category_versions or {}).items():
            self._check_category(category)
            self.category_versions[category] = validate_api_version(version)
        self.transport = transport if transport is not None else UrlTransport()
        self._warn = warn
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic
        self._rand = rand or random.random
        self._lock = threading.RLock()
        self._warned = set()
        self._negotiated = {}        # category -> version chosen for "latest"
        self._latest = None          # newest main-line version the service offers
        self._versions = None        # list from /metadata/versions (or newest-versions fallback)
        self._versions_complete = False
        self._request_count = 0

    # ----------------------------------------------------------------- public API

    @property
    def request_count(self):
        """HTTP requests (attempts) made so far by this client."""
        return self._request_count

    @property
    def is_default_endpoint(self):
        return self.endpoint == DEFAULT_ENDPOINT

    def get_json(self, category, path="", query=None):
        """GET /metadata/<category>[/<path>] and return the decoded JSON value."""
        return self._call("GET", category, path, query, None, "json")

    def get_text(self, category, path="", query=None):
        """GET a leaf with ``format=text`` and return the text."""
        return self._call("GET", category, path, query, None, "text")

    def post_json(self, category, path, body):
        """POST a JSON body (scheduled-events approval); return the decoded answer or None."""
        data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return self._call("POST", category, path, None, data, "json-or-empty")

    def api_version_for(self, category, negotiate=True):
        """The api-version used for ``category`` (None for ``versions``).

        With ``latest`` and ``negotiate=False`` this returns None instead of asking IMDS when
        nothing was negotiated yet.
        """
        self._check_category(category)
        if category == "versions":
            return None
        if category in self.category_versions:
            explicit = self.category_versions[category]
            if explicit != "latest":
                return explicit
        elif self.api_version != "latest":
            if category == "scheduledevents":
                return scheduled_events_version_for(self.api_version)
            return self.api_version
        with self._lock:
            if category in self._negotiated:
                return self._negotiated[category]
            if category == "scheduledevents":
                return SCHEDULED_EVENTS_VERSIONS[0]
            if self._latest is None:
                if not negotiate:
                    return None
                self._latest = self._discover_latest()
            return self._latest

    def available_versions(self):
        """The main-line versions the service offers (ascending).

        From /metadata/versions (one request, cached, shared with ``latest`` negotiation). On a
        service without that endpoint: the short ``newest-versions`` list of its 400 answer.
        """
        with self._lock:
            if self._versions is None:
                self._discover_latest()
            return list(self._versions)

    # ----------------------------------------------------------------- internals

    def _check_category(self, category):
        if category not in CATEGORIES:
            raise ImdsConfigError("unknown IMDS category %r (expected one of %s)" % (category, ", ".join(CATEGORIES)))

    def _is_latest(self, category):
        if category in self.category_versions:
            return self.category_versions[category] == "latest"
        return self.api_version == "latest"

    def _discover_latest(self):
        try:
            data = self._request("GET", "versions", "", None, None, "json", None)
            versions = data.get("apiVersions") if isinstance(data, dict) else None
            if not isinstance(versions, list) or not _stable(versions):
                raise ImdsNotImds(
                    "%s/metadata/versions answered without an 'apiVersions' list, so this does not look like IMDS"
                    % self.endpoint, url=self.endpoint + "/metadata/versions", status=200)
            self._versions = _stable(versions)
            self._versions_complete = True
        except ImdsNotFound as exc:
            if not exc.imds_answered:
                raise
            # An older service without /metadata/versions: ask for the newest-versions list.
            self._versions = self._newest_from_rejection()
            self._versions_complete = False
        self._latest = self._versions[-1]
        return self._latest

    def _newest_from_rejection(self):
        try:
            self._request("GET", "instance", "", None, None, "json", None)
        except ImdsRejected as exc:
            newest = _stable(exc.newest_versions)
            if newest:
                return newest
            raise ImdsRejected(
                "cannot negotiate api_version 'latest': %s has no /metadata/versions and its 400 answer lists no "
                "newest-versions (%s). Set api_version to an explicit version." % (self.endpoint, exc.error or exc.status),
                url=exc.url, status=exc.status, attempts=exc.attempts, imds_answered=exc.imds_answered, error=exc.error)
        raise ImdsNotImds(
            "cannot negotiate api_version 'latest': %s/metadata/instance answered without an api-version, which IMDS "
            "never does. Set api_version to an explicit version." % self.endpoint, url=self.endpoint + "/metadata/instance")

    def _call(self, method, category, path, query, body, want):
        self._check_category(category)
        encoded_path = encode_path(path)
        pairs = encode_query(query)
        if want == "text":
            pairs.append("format=text")
        version = self.api_version_for(category)
        if category in CATEGORY_MINIMUM_VERSION and not self._is_latest(category) and version < CATEGORY_MINIMUM_VERSION[category]:
            raise ImdsConfigError(
                "api_version %s is older than the first version of /metadata/%s (%s); use api_version: latest or %s or newer"
                % (version, category, CATEGORY_MINIMUM_VERSION[category], CATEGORY_MINIMUM_VERSION[category]))
        try:
            return self._request(method, category, encoded_path, pairs, body, want, version)
        except ImdsRejected as exc:
            newest = _stable(exc.newest_versions)
            if not self._is_latest(category) or not newest or newest[-1] == version:
                raise
            # The negotiated version is not (yet) served for this category: use the newest it offers.
            with self._lock:
                self._negotiated[category] = newest[-1]
            return self._request(method, category, encoded_path, pairs, body, want, newest[-1])

    def _url(self, category, encoded_path, pairs, version):
        url = "%s/metadata/%s" % (self.endpoint, category)
        if encoded_path:
            url += "/" + encoded_path
        query = list(pairs or [])
        if version:
            query.insert(0, "api-version=" + quote(version, safe=""))
        if query:
            url += "?" + "&".join(query)
        return url

    def _report(self, key, message):
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        if self._warn is not None:
            self._warn(message)

    def _backoff(self, retry_index, cap):
        base = min(cap, BACKOFF_INITIAL * (2 ** retry_index))
        return base * (1.0 + BACKOFF_JITTER * self._rand())

    def _request(self, method, category, encoded_path, pairs, body, want, version):
        """One logical request with the retry policy. Returns the decoded body."""
        url = self._url(category, encoded_path, pairs, version)
        shown = url.split("?", 1)[0][len(self.endpoint):]
        label = "%s %s" % (method, shown)
        secret = category in SECRET_CATEGORIES
        headers = {"Metadata": "true"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        start = self._clock()
        stop_at = start + self.deadline
        attempts = 0
        retries = 0
        connect_failures = 0
        not_found = 0
        gone_since = None
        imds_answered = False
        connected = False
        while True:
            remaining = stop_at - self._clock()
            attempt_timeout = min(self.timeout, remaining)
            attempts += 1
            with self._lock:
                self._request_count += 1
            failure = None      # (error class, message, key, status, error text)
            delay = None
            try:
                response = self.transport.request(method, url, headers, body, attempt_timeout)
            except ConnectError as exc:
                connect_failures += 1
                cls = ImdsTimeout if isinstance(exc, ConnectTimeout) else ImdsUnreachable
                failure = (cls, "cannot connect to %s (%s)" % (self.endpoint, exc), ("connect", cls.kind), None, None)
                if connect_failures > self.connect_retries:
                    raise self._final(cls, failure[1], label, url, None, attempts, start, imds_answered, None, hint=True,
                                      connected=connected)
                delay = self._backoff(retries, BACKOFF_CAP)
            except NotSent as exc:
                failure = (ImdsThrottled, "the request was not sent: %s" % exc, ("not-sent",), None, None)
                delay = self._backoff(retries, BACKOFF_CAP)
            except ReadTimeout as exc:
                connected = True
                failure = (ImdsTimeout, "IMDS accepted the connection but did not answer in time (%s)" % exc, ("read-timeout",), None, None)
                delay = self._backoff(retries, BACKOFF_CAP)
            except TransportError as exc:
                connected = connected or exc.connected
                failure = (ImdsUnreachable, "the connection was closed without a complete answer (%s)" % exc, ("reset",), None, None)
                delay = self._backoff(retries, BACKOFF_CAP)
            else:
                connected = True
                status = response.status
                if 200 <= status < 300:
                    return self._decode(response, want, label, url, attempts, category)
                error, newest, is_json = _parse_error_body(response)
                imds_answered = imds_answered or is_json
                told = _withheld(response, is_json) if secret else error   # what messages may show of the body
                content_type = response.headers.get("content-type", "")
                if not is_json and 400 <= status < 500 and status not in (404, 408, 410, 429):
                    if status == 403 and _DOCKER_UNREACHABLE_RE.search(error):
                        raise self._final(ImdsUnreachable, "something in between answered 403 %r" % told, label, url, status,
                                          attempts, start, imds_answered, error, hint=True)
                    raise self._final(ImdsNotImds, self._not_imds_text(status, error, content_type, response, secret), label, url,
                                      status, attempts, start, imds_answered, error)
                if 300 <= status < 400 or status < 200:
                    raise self._final(ImdsNotImds, self._not_imds_text(status, error, content_type, response, secret), label, url,
                                      status, attempts, start, imds_answered, error)
                if status == 400 or status in (401, 403, 405) or (400 <= status < 500 and status not in (404, 408, 410, 429)):
                    raise self._rejected(status, error, told, newest, label, url, attempts, start, version)
                if status == 404:
                    if is_json and "invalid version" in error.lower():
                        raise self._rejected(status, error, told, newest, label, url, attempts, start, version)
                    not_found += 1
                    definitive = (encoded_path != "" or category == "versions" or not is_json
                                  or NO_LOAD_BALANCER_RE.search(error) is not None or version is None)
                    if definitive or not_found > NOT_FOUND_RETRIES:
                        raise ImdsNotFound(
                            "%s: 404 Not Found (%s)%s" % (label, told or "no details", "" if definitive else
                                                          " after %d attempts" % attempts),
                            url=url, status=status, attempts=attempts, imds_answered=imds_answered, error=error)
                    failure = (ImdsNotFound, "HTTP 404 (%s)" % told, ("status", 404), status, error)
                    delay = self._backoff(retries, BACKOFF_CAP)
                elif status == 410:
                    now = self._clock()
                    if gone_since is None:
                        gone_since = now
                    failure = (ImdsServerError, "HTTP 410 Gone: IMDS is being updated (%s)" % told, ("status", 410), status, error)
                    delay = self._backoff(retries, GONE_POLL_CAP)
                    if now + delay - gone_since > GONE_WINDOW:
                        raise self._final(ImdsServerError, failure[1] + "; still 410 after polling for %.0f s" % (now - gone_since),
                                          label, url, status, attempts, start, imds_answered, error)
                else:
                    # 408, 429, 5xx (and anything else >= 500)
                    cls = ImdsThrottled if status == 429 else (ImdsTimeout if status == 408 else ImdsServerError)
                    failure = (cls, "HTTP %d (%s)" % (status, told or response.headers.get("content-type", "no details")),
                               ("status", status), status, error)
                    retry_after = self._retry_after(response)
                    if retry_after is not None:
                        delay = retry_after * (1.0 + 0.1 * self._rand())
                    else:
                        delay = self._backoff(retries, BACKOFF_CAP)
                    if not is_json and _looks_like_html(error, content_type):
                        failure = (cls, failure[1] + "; the body is an HTML page, so a proxy or another service may be answering",
                                   failure[2], status, error)
            # Retry or give up.
            cls, message, key, status, error = failure
            now = self._clock()
            if now + delay >= stop_at:
                raise self._final(cls, message + "; gave up at the %s s deadline" % format_seconds(self.deadline), label, url, status,
                                  attempts, start, imds_answered, error, hint=key[0] == "connect", connected=connected)
            self._report(key, "IMDS %s: %s; retrying (reported once)" % (label, message))
            self._sleep(delay)
            retries += 1

    @staticmethod
    def _retry_after(response):
        value = response.headers.get("retry-after")
        if value is None:
            return None
        try:
            seconds = float(value.strip())
        except ValueError:
            return None  # an HTTP date: fall back to backoff
        return max(0.0, min(seconds, RETRY_AFTER_CAP))

    def _not_imds_text(self, status, error, content_type, response, secret):
        if 300 <= status < 400:
            location = "an address not shown" if secret else repr(_printable(response.headers.get("location", "")))
            return ("HTTP %d redirect to %s: IMDS never redirects, so something else answered at %s (a proxy or captive portal?). "
                    "Redirects are not followed" % (status, location, self.endpoint))
        if _looks_like_html(error, content_type):
            what = "an HTML page"
        else:
            what = "a non-JSON body (%s)" % (_withheld(response, False) if secret else repr(_snippet(error, 60)))
        return ("HTTP %d with %s: this is not IMDS. Something else answers at %s (a proxy, firewall or another cloud's "
                "metadata service?)" % (status, what, self.endpoint))

    def _rejected(self, status, error, told, newest, label, url, attempts, start, version):
        offered = _stable(newest)
        if offered or "api-version" in error.lower() or "invalid version" in error.lower():
            message = "IMDS rejected api-version %s for %s (HTTP %d: %s)." % (version or "(none)", label, status, told)
            if offered:
                message += " The service offers: %s. Use one of them or api_version: latest." % ", ".join(reversed(offered))
            else:
                message += " Use api_version: latest."
        elif status == 400 and "metadata" in error.lower() and "header" in error.lower():
            message = "IMDS rejected %s: %s. Something between this host and IMDS removed the 'Metadata: true' header." % (label, told)
        else:
            message = "IMDS rejected %s with HTTP %d (%s); this is not retried." % (label, status, told or "no details")
        return ImdsRejected(message, newest_versions=offered, url=url, status=status, attempts=attempts, imds_answered=True,
                            error=error)

    def _final(self, cls, message, label, url, status, attempts, start, imds_answered, error, hint=False, connected=None):
        elapsed = self._clock() - start
        text = "IMDS %s failed: %s (%d attempt%s in %.1f s)." % (label, message, attempts, "" if attempts == 1 else "s", elapsed)
        if hint:
            if self.is_default_endpoint:
                text += " " + _ROUTE_HINT
            else:
                text += " Check the endpoint option (%s)." % self.endpoint
        return cls(text, url=url, status=status, attempts=attempts, imds_answered=imds_answered, error=error, connected=connected)

    def _decode(self, response, want, label, url, attempts, category):
        """The body of a 2xx answer, checked: size, encoding, UTF-8, not HTML, JSON that IMDS could have sent."""
        secret = category in SECRET_CATEGORIES
        answered = "IMDS %s answered %d" % (label, response.status)
        where = dict(url=url, status=response.status, attempts=attempts)
        limit = RESPONSE_LIMITS.get(category, MAX_RESPONSE_BYTES)
        if response.truncated or len(response.body) > limit:
            declared = response.headers.get("content-length", "").strip()
            size = "more than %s" % _size(max(limit, len(response.body))) if response.truncated else "%d bytes" % len(response.body)
            raise ImdsTooLarge(
                "%s with %s%s: answers of /metadata/%s are limited to %s (IMDS's own are a few kilobytes), so the rest was "
                "not read. Nothing was gathered." % (
                    answered, size, " (Content-Length %s)" % declared if declared.isdigit() else "", category, _size(limit)),
                **where)
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            raise ImdsNotImds(
                "%s with Content-Encoding %r although the request asked for none: IMDS never compresses its answers, and the "
                "client does not decompress them. Nothing was gathered." % (answered, _snippet(encoding, 40)), **where)
        content_type = response.headers.get("content-type", "").lower()
        try:
            text = response.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ImdsNotImds("%s with a body that is not UTF-8 text: this is not IMDS." % answered, **where)
        if want == "json-or-empty" and not text.strip():
            return None
        if _looks_like_html(text, content_type) and "json" not in content_type:
            raise ImdsNotImds(
                "%s with an HTML page%s instead of metadata: a proxy, captive portal or another service is answering at %s. "
                "Nothing was gathered." % (answered, "" if secret else " (%r)" % _snippet(text, 60), self.endpoint), **where)
        if want == "text":
            return text
        if not text.strip():
            raise ImdsNotImds("%s with an empty body where IMDS answers with JSON: this is not IMDS. Nothing was gathered."
                              % answered, **where)
        try:
            data = json.loads(text)
        except RecursionError:
            data, problem = None, "is nested more than %d levels deep" % MAX_JSON_DEPTH
        except ValueError as exc:
            raise ImdsNotImds(
                "%s but the body is not valid JSON (%s; %d bytes%s): the answer was cut short or does not come from IMDS. "
                "Nothing was gathered." % (answered, exc, len(response.body), ", ends with %r" % text[-20:] if text and not secret else ""),
                imds_answered=True, **where)
        else:
            problem = _json_problem(data, secret)
        if problem:
            raise ImdsNotImds("%s with JSON that %s: IMDS never sends that, so this is not IMDS. Nothing was gathered."
                              % (answered, problem), **where)
        return data
