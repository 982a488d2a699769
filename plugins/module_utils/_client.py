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
_paths (what a request may name), _responses (what a 2xx answer amounts to), _failures (why an
attempt failed) and _retry (when a failed attempt is retried), both imported only once an attempt
fails, and _errors. Import each name from the module that defines it.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time

from urllib.parse import quote, urlsplit

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsConfigError, ImdsNotFound, ImdsNotImds, ImdsRejected
from ansible_collections.imds.azure.plugins.module_utils._paths import VERSION_RE, encode_path, encode_query, stable_versions
from ansible_collections.imds.azure.plugins.module_utils._responses import Call, decode_answer
from ansible_collections.imds.azure.plugins.module_utils._transport import TransportError, UrlTransport, framing_error

DEFAULT_ENDPOINT = "http://169.254.169.254"

# Category roots under /metadata. "versions" is unversioned.
CATEGORIES = ("instance", "attested", "identity", "loadbalancer", "scheduledevents", "versions")
# The categories whose answer is a document of values: what the facts hold and the metadata lookup reads
# (the others are a token, a signed blob and a version list).
DOCUMENT_CATEGORIES = ("instance", "loadbalancer", "scheduledevents")

# Scheduled events have their own api-version line (newest first). "latest" means the first.
SCHEDULED_EVENTS_VERSIONS = ("2020-07-01", "2019-08-01", "2019-04-01", "2019-01-01", "2017-11-01", "2017-08-01", "2017-03-01")

# First documented version of each category on the main line. An explicit older version is refused locally,
# with advice, even where the service might still answer it (it lists 2017-03-01, a preview, and serves
# /metadata/instance with it).
CATEGORY_MINIMUM_VERSION = {
    "instance": "2017-04-02",
    "identity": "2018-02-01",
    "attested": "2018-10-01",
    "loadbalancer": "2020-10-01",
}

_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")


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
    if not isinstance(version, str) or not (version == "latest" or VERSION_RE.match(version)):
        raise ImdsConfigError("api_version must be 'latest' or a date such as 2021-02-01, got %r" % (version,))
    return version


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
    ``connect_retries``: retries when no connection can be made at all (None: ``_retry.DEFAULT_CONNECT_RETRIES``).
    ``sleep``/``clock``/``rand``: injectable for tests (time.sleep, time.monotonic, random.random).
    """

    def __init__(self, endpoint=DEFAULT_ENDPOINT, api_version="latest", timeout=5, deadline=90,
                 transport=None, warn=None, connect_retries=None,
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
        self.connect_retries = None if connect_retries is None else max(0, int(connect_retries))
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

    def use_versions(self, versions):
        """Negotiate ``latest`` from ``versions`` (what ``available_versions()`` of another client of this
        endpoint returned: the lookups share it across a run's workers) instead of asking IMDS."""
        stable = stable_versions(versions if isinstance(versions, list) else [])
        with self._lock:
            if self._versions is None and stable:
                self._versions, self._latest = stable, stable[-1]

    # ----------------------------------------------------------------- internals

    def _check_category(self, category):
        if category not in CATEGORIES:
            raise ImdsConfigError("unknown IMDS category %r (expected one of %s)" % (category, ", ".join(CATEGORIES)))

    def _discover_latest(self):
        try:
            data = self._request("GET", "versions", "", None, None, "json", None)
            versions = data.get("apiVersions") if isinstance(data, dict) else None
            if not isinstance(versions, list) or not stable_versions(versions):
                raise ImdsNotImds(
                    "%s/metadata/versions answered without an 'apiVersions' list, so this does not look like IMDS"
                    % self.endpoint, url=self.endpoint + "/metadata/versions", status=200)
            self._versions = stable_versions(versions)
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
            newest = stable_versions(exc.newest_versions)
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
            newest = stable_versions(exc.newest_versions)
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
        call = Call(self._url(category, encoded_path, pairs, version), self.endpoint, method, category, version, self._clock(),
                    self.deadline, self.is_default_endpoint)
        stop_at = call.start + self.deadline
        policy = None   # made at the first failed attempt: a call whose first attempt succeeds imports no retry code
        headers = {"Metadata": "true"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        while True:
            timeout = min(self.timeout, stop_at - self._clock())
            call.attempts += 1
            with self._lock:
                self._request_count += 1
            try:
                response = self.transport.request(method, call.url, headers, body, timeout)
                broken = framing_error(response)
                if broken is not None:
                    raise broken
            except TransportError as exc:
                outcome = exc
            else:
                call.connected = True
                if 200 <= response.status < 300:
                    return decode_answer(response, want, call)
                outcome = response
            # Imported here: a module compiles what it imports on every run, and most tasks never fail an attempt.
            from ansible_collections.imds.azure.plugins.module_utils._failures import attempt_failure, call_error  # pylint: disable=import-outside-toplevel
            from ansible_collections.imds.azure.plugins.module_utils._retry import RetryPolicy  # pylint: disable=import-outside-toplevel

            failure = attempt_failure(call, outcome)
            if policy is None:
                policy = RetryPolicy(stop_at, self.connect_retries, self._clock, self._rand)
            decision = policy.decide(failure.rule, failure.retry_after)
            if decision.stop:
                raise call_error(call, failure, decision, self._clock() - call.start)
            self._report(failure.key, "IMDS %s: %s; retrying (reported once)" % (call.label, failure.message))
            self._sleep(decision.delay)
