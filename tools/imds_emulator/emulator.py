# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IMDS emulator: an asyncio HTTP/1.1 server per VM, the request rules and the routing.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

import asyncio
import collections
import copy
import email.utils
import hashlib
import json
import random
import threading
import time
import urllib.parse

from . import attested as _attested
from . import hostile as _hostile
from . import profile as _profile
from .faults import parse_faults
from .identity import IdentityError, TokenIssuer
from .scheduled import ScheduledEvents
from .versions import API_VERSIONS, CATEGORY_MINIMUM, SCHEDULED_EVENTS_VERSIONS, gate, newest

REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 410: "Gone", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
MISSING_HEADER = "Bad request: . Required metadata header not specified"
VERSION_ERROR = "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds"
NO_LB = "No load balancer metadata is found. Check if your virtual machine is using any nonbasic SKU load balancer and retry later."
# Load balancer errors from Microsoft's "Common error codes when using IMDS to retrieve load balancer information".
LB_MISSING_PARAMETER = 'Missing required parameter "%s". Fix the request and retry.'
LB_UNEXPECTED_REQUEST = "Unexpected request. Check the query parameters and retry."
LB_QUERY_PARAMETERS = ("api-version", "format")
# Real IMDS names itself IMDS/<a.b.c.d> (seen in client logs, e.g. IMDS/150.870.65.476). MSAL .NET and
# JS match ^IMDS/\d+\.\d+\.\d+\.(\d+)$ and take build 1854 or later as IMDSv2 (credential endpoints),
# which this emulator does not serve: so a build below that, the one of MSAL's own example.
SERVER = "IMDS/150.870.65.1556"
# The identity endpoints' error shape; Azure SDK tests mock the probe answer as exactly this body.
IDENTITY_MISSING_HEADER = {"error": "invalid_request", "error_description": "Required metadata header not specified"}
CAPTIVE_PORTAL = (b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head><body><h1>Waiting...</h1>"
                  b"<p>You must accept the terms of use before you can access the network.</p></body></html>")
CATEGORIES_TEXT_OK = ("instance",)


def _dumps(data):
    # UTF-8 like IMDS. A lone surrogate (a hostile profile) cannot be UTF-8: it goes out as the JSON
    # escape \uDXXX, which is what backslashreplace writes for it.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "backslashreplace")


class Headers(dict):
    """A dict of request headers (names as received) with case-insensitive lookups."""

    def _key(self, name):
        lowered = name.lower()
        for key in dict.keys(self):
            if key.lower() == lowered:
                return key
        return None

    def __getitem__(self, name):
        key = self._key(name)
        if key is None:
            raise KeyError(name)
        return dict.__getitem__(self, key)

    def __contains__(self, name):
        return self._key(name) is not None

    def get(self, name, default=None):
        key = self._key(name)
        return default if key is None else dict.__getitem__(self, key)


class RequestRecord:
    """One logged request. ``status`` is 0 when the emulator sent no response (reset, stall)."""

    __slots__ = ("method", "path", "query", "raw_query", "headers", "status", "time", "body", "client")

    def __init__(self, method, path, query, raw_query, headers, body, client):
        self.method = method
        self.path = path
        self.query = query
        self.raw_query = raw_query
        self.headers = headers
        self.status = None
        self.time = time.time()
        self.body = body
        self.client = client

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self):
        return "RequestRecord(%s %s?%s -> %s)" % (self.method, self.path, self.raw_query, self.status)


class Response:
    """A response to write; ``action`` is None, "reset" or "stall" (``stall`` seconds)."""

    __slots__ = ("status", "body", "content_type", "extra", "action", "stall")

    def __init__(self, status=200, body=b"", content_type=JSON_TYPE, extra=None, action=None, stall=0.0):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.extra = extra or []
        self.action = action
        self.stall = stall


def json_response(status, data, extra=None):
    return Response(status, _dumps(data), JSON_TYPE, extra)


def error(status, message, extra=None):
    return json_response(status, {"error": message}, extra)


def throttled(identity, extra=None):
    """429 in the endpoint's own shape: the identity error shape under /metadata/identity."""
    if identity:
        return json_response(429, {"error": "too_many_requests", "error_description": "Too many requests"}, extra)
    return error(429, "Too many requests", extra)


def _etag_matches(header, etag):
    """Whether an If-None-Match header names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or (tag[2:] if tag.startswith("W/") else tag) == etag:
            return True
    return False


class RateLimiter:
    """Sliding one-second window: at most ``rps`` accepted requests in any second."""

    def __init__(self, rps):
        self.rps = rps
        self.hits = collections.deque()

    def allow(self, now):
        hits = self.hits
        while hits and now - hits[0] >= 1.0:
            hits.popleft()
        if len(hits) >= self.rps:
            return False
        hits.append(now)
        return True


class LoopThread:
    """An asyncio event loop running in a daemon thread (shared by the members of a fleet)."""

    def __init__(self, name="imds-emulator"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()


def _parse_rate(value, default):
    if value is None or value is False:
        return None
    if isinstance(value, str):
        if value.strip().lower() in ("off", "none", "0", ""):
            return None
        value = float(value)
    if value == "auto":
        return default
    return None if value <= 0 else value


class Emulator:
    """One emulated VM. See docs/docsite/rst/emulator.rst and the contract in docs/developing.md."""

    def __init__(self, profile=None, faults=(), rate_limit=5, seed=0, host="127.0.0.1", port=0, ca_dir=None, scenarios=(),
                 identity_rate_limit="auto", identity_concurrency="auto", log_limit=100000, loop=None):
        self.profile = _profile.resolve_profile(profile)
        self.seed = seed
        self.host = host
        self.port = port
        self.rate_limit = _parse_rate(rate_limit, 5)
        self.identity_rate_limit = self.identity_concurrency = None
        if self.rate_limit is not None or identity_rate_limit != "auto":
            self.identity_rate_limit = _parse_rate(identity_rate_limit if identity_rate_limit != "auto" else 20, 20)
        if self.rate_limit is not None or identity_concurrency != "auto":
            self.identity_concurrency = _parse_rate(identity_concurrency if identity_concurrency != "auto" else 5, 5)
        self._limiter = RateLimiter(self.rate_limit) if self.rate_limit else None
        self._id_limiter = RateLimiter(self.identity_rate_limit) if self.identity_rate_limit else None
        self._id_inflight = 0
        self._rng = random.Random(seed)
        self._faults = parse_faults(faults)
        self._log = collections.deque(maxlen=log_limit)
        self._ca_dir = ca_dir
        self._ca = None
        self._cache = {}
        self._gated = {}
        self._profile_lock = threading.RLock()
        self._last_nonce = None
        self._se_enabled_at = None   # monotonic time scheduled events finish switching on (warm-up knob)
        self._tokens = TokenIssuer(lambda: self.profile, ("imds-emulator-%s" % seed).encode())
        self.events = ScheduledEvents([self.profile["compute"].get("name", "")], random.Random("events-%s" % seed))
        self._initial_scenarios = list(self.profile["emulator"].get("scenarios") or []) + list(scenarios or ())
        self._own_loop = loop is None
        self._loop = loop
        self._server = None
        self._conns = set()
        self.started_at = None

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        """Start serving; returns self."""
        if self._server is not None:
            return self
        if self._loop is None:
            self._loop = LoopThread()
        self._ca = _attested.get_ca(self._ca_dir)
        self._server = self._loop.call(asyncio.start_server(self._serve_connection, self.host, self.port, reuse_address=True, backlog=512))
        self.port = self._server.sockets[0].getsockname()[1]
        self.started_at = time.monotonic()
        for fault in self._faults:
            fault.started = self.started_at
        _hostile.prepare(self._faults)
        for spec in self._initial_scenarios:
            self.events.add(spec)
        return self

    def stop(self):
        """Stop serving (idempotent)."""
        if self._server is None:
            return
        server, self._server = self._server, None
        try:
            self._loop.call(self._close(server))
        finally:
            if self._own_loop:
                self._loop.stop()
                self._loop = None

    async def _close(self, server):
        server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.wait(list(self._conns), timeout=5)
        await server.wait_closed()

    # --- public API ------------------------------------------------------------------------

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def request_log(self):
        """A snapshot list of RequestRecord (control endpoints are not logged)."""
        return list(self._log.copy())

    def clear_log(self):
        self._log.clear()

    @property
    def faults(self):
        return [fault.spec for fault in self._faults]

    def set_faults(self, specs):
        """Replace the active faults (``gone`` counts from now)."""
        faults = parse_faults(specs)
        _hostile.prepare(faults)
        self._faults = faults

    @property
    def ca_cert_path(self):
        return (self._ca or _attested.get_ca(self._ca_dir)).ca_cert_path

    @property
    def intermediate_cert_path(self):
        return (self._ca or _attested.get_ca(self._ca_dir)).intermediate_cert_path

    def add_scheduled_event(self, spec):
        """Add a scheduled event from a scenario spec (``"Freeze,notice=2"`` or a dict); returns its EventId."""
        return self.events.add(spec)

    def update_profile(self, overrides):
        """Merge ``overrides`` (profile file format) into the live profile."""
        with self._profile_lock:
            self.profile = _profile.apply_overrides(self.profile, overrides)
            self._cache = {}
            self._gated = {}
        return self.profile

    def knobs(self):
        return self.profile["emulator"]

    # --- HTTP ------------------------------------------------------------------------------

    async def _serve_connection(self, reader, writer):
        task = asyncio.current_task()
        self._conns.add(task)
        peer = writer.get_extra_info("peername")
        client = "%s:%s" % peer[:2] if peer else ""
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if line in (b"\r\n", b"\n"):
                    continue
                parts = line.decode("latin-1").rstrip("\r\n").split(" ")
                if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                    writer.write(self._encode(error(400, "Bad request"), False, "HTTP/1.1"))
                    break
                method, target, version = parts
                headers = Headers()
                count = 0
                while True:
                    header_line = await reader.readline()
                    if header_line in (b"\r\n", b"\n", b""):
                        break
                    count += 1
                    name, _sep, value = header_line.decode("latin-1").partition(":")
                    name, value = name.strip(), value.strip()
                    existing = headers._key(name) if count > 1 else None  # pylint: disable=protected-access
                    if existing is not None:
                        dict.__setitem__(headers, existing, dict.__getitem__(headers, existing) + ", " + value)
                    else:
                        dict.__setitem__(headers, name, value)
                    if count > 200:
                        break
                length = headers.get("Content-Length")
                body = b""
                if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
                    body = await self._read_chunked(reader)
                elif length:
                    try:
                        body = await reader.readexactly(int(length))
                    except ValueError:
                        writer.write(self._encode(error(400, "Bad request"), False, version))
                        break
                connection = (headers.get("Connection") or "").lower()
                keep_alive = (version == "HTTP/1.1" and connection != "close") or connection == "keep-alive"
                response = await self._handle(method, target, headers, body, client)
                if response.action == "reset":
                    writer.transport.abort()
                    return
                if response.action == "stall":
                    await asyncio.sleep(response.stall)
                    writer.transport.abort()
                    return
                if response.action in _hostile.DELIVERIES:
                    await _hostile.deliver(writer, response, self._encode(response, False, version), REASONS.get(response.status, "Unknown"))
                    return
                data = self._encode(response, keep_alive, version)
                writer.write(data[:len(data) - len(response.body)] if method == "HEAD" else data)
                await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
            pass
        except asyncio.CancelledError:
            writer.transport.abort()
            raise
        finally:
            self._conns.discard(task)
            if not writer.transport.is_closing():
                writer.close()

    @staticmethod
    async def _read_chunked(reader):
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readline()

    _date_cache = (0, "")

    def _date(self):
        now = int(time.time())
        if self._date_cache[0] != now:
            self._date_cache = (now, email.utils.formatdate(now, usegmt=True))
        return self._date_cache[1]

    def _encode(self, response, keep_alive, version):
        head = ["%s %d %s" % ("HTTP/1.1" if version == "HTTP/1.1" else "HTTP/1.0", response.status, REASONS.get(response.status, "Unknown"))]
        if response.status != 304:  # a 304 has no body, and describes none
            head += ["Content-Type: " + response.content_type, "Content-Length: %d" % len(response.body)]
        head += ["Date: " + self._date(), "Server: " + SERVER]
        head.extend("%s: %s" % item for item in response.extra)
        if not keep_alive:
            head.append("Connection: close")
        elif version != "HTTP/1.1":
            head.append("Connection: keep-alive")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body

    # --- request handling --------------------------------------------------------------------

    async def _handle(self, method, target, headers, body, client):
        split = urllib.parse.urlsplit(target)
        path = urllib.parse.unquote(split.path)
        query, duplicates = {}, []
        for key, value in urllib.parse.parse_qsl(split.query, keep_blank_values=True):
            if key in query:
                duplicates.append(key)
            else:
                query[key] = value
        if path.startswith("/_emulator"):
            return self._control(method, path, body)
        record = RequestRecord(method, path, query, split.query, headers, body.decode("utf-8", "replace") if body else "", client)
        self._log.append(record)
        identity = path.startswith("/metadata/identity")
        counted = False
        try:
            if identity and self.identity_concurrency:
                if self._id_inflight >= self.identity_concurrency:
                    response = json_response(429, {"error": "too_many_requests", "error_description": "Too many concurrent requests"})
                    record.status = 429
                    return response
                self._id_inflight += 1
                counted = True
            response = await self._handle_metadata(method, path, query, duplicates, headers, body, identity)
        finally:
            if counted:
                self._id_inflight -= 1
        record.status = 0 if response.action in ("reset", "stall") else response.status
        return response

    async def _handle_metadata(self, method, path, query, duplicates, headers, body, identity):
        now = time.monotonic()
        delay, terminal, truncate, stale, hostile = 0.0, None, False, False, []
        for fault in self._faults:
            kind = fault.kind
            if kind == "latency":
                if fault.fires(self._rng, path, now):
                    delay += fault.value
            elif kind == "truncate":
                truncate = truncate or fault.fires(self._rng, path, now)
            elif kind == "stale-nonce":
                stale = stale or fault.fires(self._rng, path, now)
            elif kind in _hostile.KINDS:
                if fault.fires(self._rng, path, now):
                    hostile.append(fault)
            elif terminal is None and fault.fires(self._rng, path, now):
                terminal = fault
        if delay:
            await asyncio.sleep(delay)
        if terminal is not None:
            kind = terminal.kind
            if kind == "gone":
                return error(410, "Gone. IMDS is being updated; retry after some time for a max of 70 seconds")
            if kind == "throttle":
                return throttled(identity, [("Retry-After", "1")])
            if kind == "status":
                return error(terminal.value, REASONS.get(terminal.value, "Error"))
            if kind == "stall":
                return Response(action="stall", stall=terminal.value)
            if kind == "reset":
                return Response(action="reset")
            if kind == "html":
                return Response(200, CAPTIVE_PORTAL, "text/html; charset=utf-8")
        limiter = self._id_limiter if identity else self._limiter
        if limiter is not None and not limiter.allow(time.monotonic()):
            return throttled(identity)
        hold = self._scheduled_warmup(path, headers)
        if hold > 0:
            await asyncio.sleep(hold)
        response = self._route(method, path, query, duplicates, headers, body, stale)
        if truncate and response.body:
            response = Response(200, response.body[:max(1, len(response.body) // 2)], JSON_TYPE)
        if hostile:
            response = _hostile.apply(response, hostile, path, Response)
        return response

    def _scheduled_warmup(self, path, headers):
        """Seconds this request is held while scheduled events switch on (knob ``scheduled_events_warmup``).

        Real IMDS switches scheduled events on with the first request, which can take minutes to answer.
        Here the first well-formed request starts the warm-up; every request to the endpoint is answered
        only once it is over (later requests are not held).
        """
        seconds = float(self.profile["emulator"].get("scheduled_events_warmup") or 0)
        if seconds <= 0 or path.rstrip("/") != "/metadata/scheduledevents":
            return 0.0
        if (headers.get("Metadata") or "").strip().lower() != "true":
            return 0.0
        now = time.monotonic()
        if self._se_enabled_at is None:
            self._se_enabled_at = now + seconds
        return max(0.0, self._se_enabled_at - now)

    # --- routing -----------------------------------------------------------------------------

    def _versions(self):
        knob = self.profile["emulator"].get("versions")
        return list(knob) if knob else list(API_VERSIONS)

    def _se_versions(self):
        knob = self.profile["emulator"].get("scheduled_events_versions")
        return list(knob) if knob else list(SCHEDULED_EVENTS_VERSIONS)

    def _version_error(self, category="instance"):
        served = self._se_versions() if category == "scheduledevents" else self._versions()
        return json_response(400, {"error": VERSION_ERROR, "newest-versions": newest(served)})

    def _check_version(self, category, query):
        """None when the api-version is acceptable for ``category``, else the error Response."""
        version = query.get("api-version")
        known = SCHEDULED_EVENTS_VERSIONS if category == "scheduledevents" else API_VERSIONS
        served = self._se_versions() if category == "scheduledevents" else self._versions()
        if not version or version not in known:
            return self._version_error(category)
        if version < CATEGORY_MINIMUM[category]:
            if category == "loadbalancer":
                return error(400, 'Parameter value "%s" isn\'t allowed for parameter "api-version". Fix the request and retry.' % version)
            return self._version_error(category)
        if version not in served:
            if int(self.profile["emulator"].get("unavailable_version_status", 400)) == 404:
                return error(404, "Not found. Invalid version requested")
            return self._version_error(category)
        return None

    def _route(self, method, path, query, duplicates, headers, body, stale):
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        if path == "/metadata":
            category = "root"
        elif path == "/metadata/versions":
            category = "versions"
        elif path == "/metadata/instance" or path.startswith("/metadata/instance/"):
            category = "instance"
        elif path == "/metadata/attested/document":
            category = "attested"
        elif path in ("/metadata/identity/oauth2/token", "/metadata/identity/info"):
            category = "identity"
        elif path.startswith("/metadata/identity"):
            return error(404, "Not Found")
        elif path == "/metadata/loadbalancer" or path.startswith("/metadata/loadbalancer/"):
            category = "loadbalancer"
        elif path == "/metadata/scheduledevents":
            category = "scheduledevents"
        else:
            return error(404, "Not found")
        allowed = ("GET", "POST") if category == "scheduledevents" else ("GET",)
        if method not in allowed:
            allow = [("Allow", ", ".join(allowed))]
            if category == "loadbalancer":
                return error(405, 'Http method isn\'t allowed: Path = "%s", Method = "%s"' % (path, method), allow)
            return error(405, "The requested HTTP method is not allowed; only %s requests are supported" % " and ".join(allowed), allow)
        if (headers.get("Metadata") or "").strip().lower() != "true":
            if category == "identity":
                return json_response(400, IDENTITY_MISSING_HEADER)
            return error(400, MISSING_HEADER)
        if "X-Forwarded-For" in headers:
            return error(400, "Bad request. X-Forwarded-For header is not allowed")
        if duplicates:
            return error(400, "Bad request. Duplicate query parameter: %s" % ", ".join(sorted(set(duplicates))))
        fmt = query.get("format")
        if fmt is not None and fmt not in ("json", "text"):
            return error(400, "Bad request. Invalid format %r; supported formats are json and text" % fmt)
        if category == "root":
            return self._version_error()
        if category == "versions":
            if not self.profile["emulator"].get("versions_endpoint", True):
                return error(404, "Not found")
            if fmt == "text":
                return error(400, "Bad request. format=text is not supported for this endpoint")
            return json_response(200, {"apiVersions": sorted(self._versions())})
        if category == "loadbalancer":
            if "api-version" not in query:
                return error(400, LB_MISSING_PARAMETER % "api-version")
            if any(name not in LB_QUERY_PARAMETERS for name in query):
                return error(400, LB_UNEXPECTED_REQUEST)
        problem = self._check_version(category, query)
        if problem is not None:
            return problem
        if fmt == "text" and category not in CATEGORIES_TEXT_OK:
            return error(400, "Bad request. format=text is not supported for this endpoint")
        version = query["api-version"]
        if category == "instance":
            return self._instance(path, version, fmt, query.get("extended", "").lower() == "true")
        if category == "attested":
            return self._attested_document(version, query, stale, headers.get("Host"))
        if category == "identity":
            return self._identity(path, query)
        if category == "loadbalancer":
            if path != "/metadata/loadbalancer":
                return error(404, 'API isn\'t found: Path = "%s", Method = "%s"' % (path, method))
            lb = self.profile.get("loadbalancer")
            if not lb:
                return error(404, NO_LB)
            return json_response(200, {"loadbalancer": lb})
        return self._scheduled(method, version, body, headers)

    def _gated_tree(self, version):
        tree = self._gated.get(version)
        if tree is None:
            with self._profile_lock:
                source = {"compute": self.profile.get("compute", {}), "network": self.profile.get("network", {})}
                tree = gate(source, version)
                self._gated[version] = tree
        return tree

    def _instance(self, path, version, fmt, extended):
        cache_key = (path, version, fmt, extended)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        node = self._gated_tree(version)
        if extended and path == "/metadata/instance":
            node = dict(node, extended={"compute": copy.deepcopy(self.profile["emulator"].get("extended") or {})})
        for segment in path.split("/")[3:]:
            if isinstance(node, dict) and segment in node:
                node = node[segment]
            elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node) and str(int(segment)) == segment:
                node = node[int(segment)]
            else:
                return error(404, "Not found")
        leaf = not isinstance(node, (dict, list))
        if leaf and fmt != "text":
            response = error(400, "Bad request. Leaf nodes must be requested with format=text")
        elif leaf:
            text = node if isinstance(node, str) else json.dumps(node)
            response = Response(200, text.encode("utf-8"), TEXT_TYPE)
        elif fmt == "text":
            items = node.items() if isinstance(node, dict) else enumerate(node)
            lines = ["%s%s" % (key, "/" if isinstance(value, (dict, list)) else "") for key, value in items]
            response = Response(200, "\n".join(lines).encode("utf-8"), TEXT_TYPE)
        else:
            response = json_response(200, node)
        if len(self._cache) < 4096:
            self._cache[cache_key] = response
        return response

    def _own_base_url(self, host):
        """This emulator's URL as the client reached it (its Host header when listening on every address)."""
        if self.host in ("0.0.0.0", "::", "") and host and all(c.isalnum() or c in ".:-[]" for c in host):
            return "http://" + host
        return self.url

    def _attested_document(self, version, query, stale, host=None):
        knobs = self.profile["emulator"].get("attested") or {}
        nonce = query.get("nonce")
        if nonce is not None and (len(nonce) > 32 or not nonce):
            return error(400, "Bad request. The nonce must be 1 to 32 characters long")
        nonce = nonce or _attested.default_nonce()
        if stale or knobs.get("stale_nonce"):
            previous = self._last_nonce
            if not previous or previous == nonce:
                previous = _attested.default_nonce(_attested._utcnow() - _attested.datetime.timedelta(hours=1))  # pylint: disable=protected-access
            served = previous
        else:
            served = nonce
            self._last_nonce = nonce
        compute = dict(self.profile["compute"])
        for knob, field in (("vm_id", "vmId"), ("subscription_id", "subscriptionId")):
            if knobs.get(knob) is not None:
                compute[field] = str(knobs[knob])
        now = _attested._utcnow() + _attested.datetime.timedelta(seconds=float(knobs.get("clock_offset") or 0))  # pylint: disable=protected-access
        content = _attested.document_content(compute, version, served, int(knobs.get("lifetime", 21600)), bool(knobs.get("expired_document")),
                                             now=now)
        ca = _attested.get_untrusted_ca() if knobs.get("untrusted_ca") else self._ca
        sans = knobs.get("san")
        if not sans:
            domain = _attested.metadata_domain(compute.get("azEnvironment"))
            sans = ["%s.%s" % (compute.get("location", "westus"), domain), domain]
        ca_issuers = knobs.get("ca_issuers")
        if ca_issuers is None:
            ca_issuers = [] if knobs.get("untrusted_ca") else [self._own_base_url(host) + _attested.INTERMEDIATE_PATH]
        elif isinstance(ca_issuers, str):
            ca_issuers = [ca_issuers]
        cert, key = ca.leaf(list(sans), bool(knobs.get("expired_certificate")), ca_issuers)
        # Real IMDS puts only the signing certificate in the PKCS#7 set; the verifier downloads its issuer.
        extra = [ca.intermediate_cert] if knobs.get("include_intermediate") else []
        try:
            body = _attested.attested_response(content, cert, key, extra, bool(knobs.get("signed_attributes")), tamper=knobs.get("tamper"))
        except ValueError as exc:  # a bad knob value: say so rather than drop the connection
            return error(500, "emulator knob attested.tamper: %s" % exc)
        return json_response(200, body)

    def _identity(self, path, query):
        if path.endswith("/info"):
            return json_response(200, self._tokens.info())
        lifetime = int((self.profile["emulator"].get("identity") or {}).get("token_lifetime", 3599))
        try:
            return json_response(200, self._tokens.token(query, lifetime))
        except IdentityError as exc:
            return json_response(exc.status, {"error": exc.error, "error_description": exc.description})

    def _scheduled(self, method, version, body, headers):
        if method == "GET":
            response = json_response(200, self.events.document(version))
            if not self.profile["emulator"].get("scheduled_events_etag", True):
                return response
            # Microsoft's Node.js sample polls with If-None-Match and expects 304 while nothing changed.
            etag = '"%s"' % hashlib.sha256(response.body).hexdigest()[:16]
            if _etag_matches(headers.get("If-None-Match") or "", etag):
                return Response(304, extra=[("ETag", etag)])
            response.extra.append(("ETag", etag))
            return response
        try:
            payload = json.loads(body.decode("utf-8") or "null")
            requests = payload["StartRequests"]
            if not isinstance(requests, list):
                raise TypeError("StartRequests")
            ids = []
            for item in requests:
                event_id = item["EventId"]
                if not isinstance(event_id, str) or not event_id.strip():
                    raise TypeError("EventId")
                ids.append(event_id)
        except (ValueError, TypeError, KeyError, AttributeError):
            return error(400, "Bad request. The body must be {\"StartRequests\": [{\"EventId\": \"<id>\"}, ...]}")
        self.events.approve(ids)
        return Response(200, b"", JSON_TYPE)

    # --- control endpoints -------------------------------------------------------------------

    def _control(self, method, path, body):
        try:
            payload = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            return error(400, "control body must be JSON")
        try:
            if path == "/_emulator/log" and method == "GET":
                return json_response(200, [record.as_dict() for record in list(self._log)])
            if path == "/_emulator/log" and method == "DELETE":
                count = len(self._log)
                self.clear_log()
                return json_response(200, {"cleared": count})
            if path == "/_emulator/faults" and method == "GET":
                return json_response(200, self.faults)
            if path == "/_emulator/faults" and method == "PUT":
                self.set_faults(payload or [])
                return json_response(200, self.faults)
            if path == "/_emulator/scheduledevents" and method == "POST":
                specs = payload if isinstance(payload, list) else [payload]
                return json_response(200, {"EventIds": [self.add_scheduled_event(spec) for spec in specs]})
            if path == "/_emulator/scheduledevents" and method == "GET":
                return json_response(200, self.events.document(SCHEDULED_EVENTS_VERSIONS[0]))
            if path == "/_emulator/profile" and method == "GET":
                return json_response(200, self.profile)
            if path == "/_emulator/profile" and method in ("PUT", "PATCH"):
                return json_response(200, self.update_profile(payload or {}))
            if path in ("/_emulator/ca/ca.pem", "/_emulator/ca/intermediate.pem") and method == "GET":
                with open(self.ca_cert_path if path.endswith("ca.pem") else self.intermediate_cert_path, "rb") as handle:
                    return Response(200, handle.read(), "application/x-pem-file")
            if path == _attested.INTERMEDIATE_PATH and method == "GET":
                return Response(200, self._ca.intermediate_cert.public_bytes(_attested.serialization.Encoding.DER), "application/pkix-cert")
        except (ValueError, TypeError, KeyError) as exc:
            return error(400, str(exc))
        return error(404, "no such control endpoint: %s %s" % (method, path))


class Fleet:
    """N emulated VMs on one event loop (consecutive ports from ``port``, or free ports when 0)."""

    def __init__(self, size=None, seed=0, host="127.0.0.1", port=0, profiles=None, fleet_file=None, base_profile=None,
                 faults=(), rate_limit=5, ca_dir=None, scenarios=()):
        base = _profile.load_data(base_profile) if isinstance(base_profile, str) else base_profile
        if fleet_file is not None:
            profiles = [_profile.apply_overrides(prof, base or {}) for prof in _profile.load_fleet(fleet_file)]
        if profiles is None:
            profiles = _profile.generate_fleet(size if size is not None else 3, seed, base)
        self.profiles = profiles
        self.seed = seed
        self.host = host
        self.port = port
        self._kwargs = {"faults": faults, "rate_limit": rate_limit, "ca_dir": ca_dir, "scenarios": scenarios}
        self._loop = None
        self.members = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._loop = LoopThread("imds-emulator-fleet")
        try:
            for index, prof in enumerate(self.profiles):
                member = Emulator(profile=prof, seed=self.seed * 1000 + index, host=self.host,
                                  port=self.port + index if self.port else 0, loop=self._loop, **self._kwargs)
                member.start()
                self.members.append(member)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        for member in self.members:
            member.stop()
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    @property
    def urls(self):
        return [member.url for member in self.members]

    @property
    def ca_cert_path(self):
        return _attested.get_ca(self._kwargs["ca_dir"]).ca_cert_path

    def manifest(self):
        """One dict per VM (name, url, vmId, placement, tags...) for inventories and demos."""
        out = []
        for member in self.members:
            compute = member.profile["compute"]
            out.append({
                "name": compute.get("name", ""), "url": member.url, "host": member.host, "port": member.port,
                "vmId": compute.get("vmId", ""), "location": compute.get("location", ""), "zone": compute.get("zone", ""),
                "fault_domain": compute.get("platformFaultDomain", ""), "update_domain": compute.get("platformUpdateDomain", ""),
                "vm_size": compute.get("vmSize", ""), "priority": compute.get("priority", ""), "scale_set": compute.get("vmScaleSetName", ""),
                "os_type": compute.get("osType", ""), "resource_id": compute.get("resourceId", ""),
                "tags": {item["name"]: item["value"] for item in compute.get("tagsList", [])},
                "loadbalancer": bool(member.profile.get("loadbalancer")),
            })
        return out
