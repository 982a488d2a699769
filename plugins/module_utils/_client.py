# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
#
# The shared client of the Azure Instance Metadata Service (IMDS). Standard library and
# ansible-core only: it runs on managed hosts (Python >= 3.8) inside modules, and on the
# controller inside the lookup, inventory and action plugins.
"""Shared IMDS client: endpoint and version rules, version negotiation, and the request loop.

The pieces it is built from have homes of their own: _transport (how a request travels),
_paths (what a request may name), _retry (the retry table), _responses (what counts as an
answer) and _errors. The names other code imports from here are re-exported in ``__all__``.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time

from collections import namedtuple

from urllib.parse import quote, urlsplit

from ansible_collections.imds.azure.plugins.module_utils._errors import (
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
from ansible_collections.imds.azure.plugins.module_utils._responses import (
    MAX_RESPONSE_BYTES,
    RESPONSE_LIMITS,
    SECRET_CATEGORIES,
    decode_answer,
    looks_like_html,
    not_imds_text,
    parse_error_body,
    withheld,
)
from ansible_collections.imds.azure.plugins.module_utils._retry import (
    CATEGORY_UPDATING,
    DEADLINE,
    DEFAULT_CONNECT_RETRIES,
    EXHAUSTED,
    GONE,
    NO_CONNECTION,
    NOT_FOUND,
    NOT_IMDS,
    NOT_SENT,
    REJECTED,
    WINDOW,
    RetryPolicy,
    answer_rule,
    retry_after_seconds,
    transport_rule,
)
from ansible_collections.imds.azure.plugins.module_utils._transport import (
    ConnectError,
    ConnectionReset,
    ConnectTimeout,
    MalformedAnswer,
    NotSent,
    ReadTimeout,
    Response,
    TransportError,
    UrlTransport,
    format_seconds,
    framing_error,
)

__all__ = [
    "DEFAULT_ENDPOINT", "CATEGORIES", "DOCUMENT_CATEGORIES", "SCHEDULED_EVENTS_VERSIONS", "CATEGORY_MINIMUM_VERSION", "ImdsClient",
    "validate_endpoint", "validate_api_version", "scheduled_events_version_for",
    # re-exported: the names plugins and tests import from the client
    "RESPONSE_LIMITS", "MAX_RESPONSE_BYTES", "Response", "UrlTransport", "format_seconds",
    "TransportError", "ConnectError", "ConnectTimeout", "ReadTimeout", "ConnectionReset", "NotSent", "MalformedAnswer",
    "ImdsError", "ImdsConfigError", "ImdsUnreachable", "ImdsTimeout", "ImdsRejected", "ImdsNotFound",
    "ImdsThrottled", "ImdsServerError", "ImdsNotImds", "ImdsTooLarge",
]

DEFAULT_ENDPOINT = "http://169.254.169.254"

# Category roots under /metadata. "versions" is unversioned.
CATEGORIES = ("instance", "attested", "identity", "loadbalancer", "scheduledevents", "versions")
# The categories whose answer is a document of values: what the facts hold and the metadata lookup reads
# (the others are a token, a signed blob and a version list).
DOCUMENT_CATEGORIES = ("instance", "loadbalancer", "scheduledevents")

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

_VERSION_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$")
_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")
# A 403 whose body says "unreachable" comes from a container runtime's network, not from IMDS.
_DOCKER_UNREACHABLE_RE = re.compile(r"unreachable", re.IGNORECASE)

_ROUTE_HINT = (
    "On an Azure VM, check the 169.254.169.254/32 route: it must leave through the primary NIC "
    "(Linux: 'ip route get 169.254.169.254'; Windows: 'route print 169.254.169.254'); the imds.azure.route role "
    "checks and repairs it. IMDS is reachable only from inside an Azure VM."
)


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


class ImdsClient(object):
    """Talks to IMDS following the collection's request rules (docs/docsite/rst/facts.rst).

    ``api_version``: ``latest`` (negotiated once per client via /metadata/versions, or the
    ``newest-versions`` list of a 400 when that endpoint is missing) or an explicit date.
    ``timeout``: seconds per HTTP attempt. ``deadline``: seconds for one call including retries.
    ``transport``: object with ``request(method, url, headers, body, timeout) -> Response``.
    ``warn``: callable(str), called once per distinct failure (not per attempt).
    ``connect_retries``: retries when no connection can be made at all.
    ``sleep``/``clock``/``rand``: injectable for tests (time.sleep, time.monotonic, random.random).
    """

    def __init__(self, endpoint=DEFAULT_ENDPOINT, api_version="latest", timeout=5, deadline=90,
                 transport=None, warn=None, connect_retries=DEFAULT_CONNECT_RETRIES,
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
        if self.api_version != "latest":
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

    def _discover_latest(self):
        try:
            data = self._request("GET", "versions", "", None, None, "json", None)
            versions = data.get("apiVersions") if isinstance(data, dict) else None
            if not isinstance(versions, list) or not _stable(versions):
                raise ImdsNotImds(
                    "%s/metadata/versions answered without an 'apiVersions' list, so this does not look like IMDS"
                    % self.endpoint, url=self.endpoint + "/metadata/versions", status=200)
            self._versions = _stable(versions)
        except ImdsNotFound as exc:
            if not exc.imds_answered:
                raise
            # An older service without /metadata/versions: ask for the newest-versions list.
            self._versions = self._newest_from_rejection()
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
        if category in CATEGORY_MINIMUM_VERSION and self.api_version != "latest" and version < CATEGORY_MINIMUM_VERSION[category]:
            raise ImdsConfigError(
                "api_version %s is older than the first version of /metadata/%s (%s); use api_version: latest or %s or newer"
                % (version, category, CATEGORY_MINIMUM_VERSION[category], CATEGORY_MINIMUM_VERSION[category]))
        try:
            return self._request(method, category, encoded_path, pairs, body, want, version)
        except ImdsRejected as exc:
            newest = _stable(exc.newest_versions)
            if self.api_version != "latest" or not newest or newest[-1] == version:
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

    def _request(self, method, category, encoded_path, pairs, body, want, version):
        """One logical request, retried as RetryPolicy decides. Returns the decoded body."""
        call = _Call(self._url(category, encoded_path, pairs, version), self.endpoint, method, self._clock(),
                     secret=category in SECRET_CATEGORIES,
                     category_root=encoded_path == "" and category != "versions" and version is not None)
        policy = RetryPolicy(call.start + self.deadline, self.connect_retries, self._clock, self._rand)
        headers = {"Metadata": "true"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        while True:
            timeout = min(self.timeout, policy.remaining())
            call.attempts += 1
            with self._lock:
                self._request_count += 1
            try:
                response = self.transport.request(method, call.url, headers, body, timeout)
                broken = framing_error(response)
                if broken is not None:
                    raise broken
            except TransportError as exc:
                failure = self._transport_failure(exc, call)
            else:
                call.connected = True
                if 200 <= response.status < 300:
                    return decode_answer(response, want, call.label, call.url, call.attempts, category, self.endpoint)
                failure = self._answer_failure(response, call, version)
            decision = policy.decide(failure.rule, failure.retry_after)
            if decision.stop:
                raise self._give_up(failure, decision, call)
            self._report(failure.key, "IMDS %s: %s; retrying (reported once)" % (call.label, failure.message))
            self._sleep(decision.delay)

    def _transport_failure(self, exc, call):
        """The _Failure of an attempt that got no HTTP answer."""
        call.connected = call.connected or exc.connected
        rule = transport_rule(exc)
        if rule == NO_CONNECTION:
            cls = ImdsTimeout if isinstance(exc, ConnectTimeout) else ImdsUnreachable
            return _Failure(rule, cls, "cannot connect to %s (%s)" % (self.endpoint, exc), ("connect", cls.kind), hint=True)
        if rule == NOT_SENT:
            return _Failure(rule, ImdsThrottled, "the request was not sent: %s" % exc, ("not-sent",))
        if rule == NOT_IMDS:
            return _Failure(rule, ImdsNotImds, "%s answered, but %s, which IMDS never does: this is not IMDS" % (self.endpoint, exc), None)
        if isinstance(exc, ReadTimeout):
            return _Failure(rule, ImdsTimeout, "IMDS accepted the connection but did not answer in time (%s)" % exc, ("read-timeout",))
        return _Failure(rule, ImdsUnreachable, "the connection was closed without a complete answer (%s)" % exc, ("reset",))

    def _answer_failure(self, response, call, version):
        """The _Failure of a non-2xx answer."""
        status = response.status
        error, newest, is_json = parse_error_body(response)
        call.imds_answered = call.imds_answered or is_json
        told = withheld(response, is_json) if call.secret else error   # what messages may show of the body
        content_type = response.headers.get("content-type", "")
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        rule = answer_rule(status, is_json, error, call.category_root, retry_after)
        if rule == NOT_IMDS and status == 403 and _DOCKER_UNREACHABLE_RE.search(error):
            return _Failure(rule, ImdsUnreachable, "something in between answered 403 %r" % told, None, status, error, hint=True)
        if rule == NOT_IMDS:
            return _Failure(rule, ImdsNotImds, not_imds_text(status, error, content_type, response, call.secret, self.endpoint),
                            None, status, error)
        if rule == REJECTED:
            offered = _stable(newest)
            return _Failure(rule, ImdsRejected, self._rejected_text(status, error, told, offered, call.label, version), None,
                            status, error, newest=offered)
        if rule in (CATEGORY_UPDATING, NOT_FOUND):
            return _Failure(rule, ImdsNotFound, "HTTP 404 (%s)" % told, ("status", 404), status, error, told=told)
        if rule == GONE:
            return _Failure(rule, ImdsServerError, "HTTP 410 Gone: IMDS is being updated (%s)" % told, ("status", 410), status, error)
        # BUSY or RETRY_AFTER: 408, 429, 5xx (and anything else >= 500)
        cls = ImdsThrottled if status == 429 else (ImdsTimeout if status == 408 else ImdsServerError)
        message = "HTTP %d (%s)" % (status, told or response.headers.get("content-type", "no details"))
        if not is_json and looks_like_html(error, content_type):
            message += "; the body is an HTML page, so a proxy or another service may be answering"
        return _Failure(rule, cls, message, ("status", status), status, error, retry_after=retry_after)

    @staticmethod
    def _rejected_text(status, error, told, offered, label, version):
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
        return message

    def _give_up(self, failure, decision, call):
        """The error that ends a call: ``failure`` was the last attempt and ``decision`` says why no other follows."""
        if decision.stop == DEADLINE:
            return self._final(failure, "; gave up at the %s s deadline" % format_seconds(self.deadline), call)
        if decision.stop == WINDOW:
            return self._final(failure, "; still 410 after polling for %.0f s" % decision.polled, call)
        if failure.rule in (CATEGORY_UPDATING, NOT_FOUND):
            return ImdsNotFound("%s: 404 Not Found (%s)%s" % (call.label, failure.told or "no details",
                                                              " after %d attempts" % call.attempts if decision.stop == EXHAUSTED else ""),
                                url=call.url, status=failure.status, attempts=call.attempts, imds_answered=call.imds_answered,
                                error=failure.error)
        if failure.rule == REJECTED:
            return ImdsRejected(failure.message, newest_versions=failure.newest, url=call.url, status=failure.status,
                                attempts=call.attempts, imds_answered=True, error=failure.error)
        return self._final(failure, "", call)   # not IMDS, or no connection after connect_retries

    def _final(self, failure, suffix, call):
        elapsed = self._clock() - call.start
        text = "IMDS %s failed: %s%s (%d attempt%s in %.1f s)." % (
            call.label, failure.message, suffix, call.attempts, "" if call.attempts == 1 else "s", elapsed)
        if failure.hint:
            if self.is_default_endpoint:
                text += " " + _ROUTE_HINT
            else:
                text += " Check the endpoint option (%s)." % self.endpoint
        return failure.cls(text, url=call.url, status=failure.status, attempts=call.attempts, imds_answered=call.imds_answered,
                           error=failure.error, connected=call.connected)


class _Call(object):
    """What one logical request knows across its attempts."""

    def __init__(self, url, endpoint, method, start, secret, category_root):
        self.url = url
        self.label = "%s %s" % (method, url.split("?", 1)[0][len(endpoint):])   # never the query: it may hold a nonce
        self.start = start
        self.secret = secret                   # the answers may hold tokens: no part of a body in any message
        self.category_root = category_root
        self.attempts = 0
        self.imds_answered = False             # some answer was JSON, as IMDS's are
        self.connected = False                 # some attempt got a connection


# One failed attempt: the row of the retry table it falls under (``rule``) and what it reports. ``cls`` and
# ``message``: the error it becomes when it ends the call; ``key``: what ``warn`` reports once per client;
# ``hint``: point at the route and the endpoint (no connection was made); ``told``: what a message may show
# of the body; ``newest``: the versions a rejection offered.
_Failure = namedtuple("_Failure", "rule cls message key status error hint retry_after newest told",
                      defaults=(None, None, False, None, None, None))
