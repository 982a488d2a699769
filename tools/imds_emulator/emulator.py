# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One emulated VM: its life cycle and public API, what happens to each request before it is routed
(the request log, faults, rate limits, the scheduled events warm-up) and the control endpoints.

HTTP/1.1 is http11.py's, the IMDS endpoints are routing.py's, a fleet of VMs is fleet.py's.
Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

import asyncio
import collections
import json
import random
import threading
import time
import urllib.parse

from . import attested as _attested
from . import hostile as _hostile
from . import http11 as _http
from . import profile as _profile
from .faults import parse_faults
from .http11 import JSON_TYPE, REASONS, Response, error, json_response
from .identity import TokenIssuer
from .routing import ImdsRoutes, throttled
from .scheduled import ScheduledEvents
from .versions import SCHEDULED_EVENTS_VERSIONS

CAPTIVE_PORTAL = (b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head><body><h1>Waiting...</h1>"
                  b"<p>You must accept the terms of use before you can access the network.</p></body></html>")


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


class Emulator(ImdsRoutes):
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
            self._loop = _http.LoopThread()
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
        try:
            await _http.serve_connection(reader, writer, self._handle)
        finally:
            self._conns.discard(task)

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
