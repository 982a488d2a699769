# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""What an attempt at a request amounts to: the one place that decides why an attempt failed.

``decode_answer`` checks a 2xx answer. ``attempt_failure`` classifies every other outcome (a non-2xx
answer, or a TransportError when no answer came): the row of the retry table it falls under (the
timing of that row is ``_retry.RetryPolicy``'s), the error it becomes and its message. ``call_error``
is the error that ends a call.

Nothing here reads the network: the functions take a transport's Response. A body that may hold a
secret (``SECRET_CATEGORIES``) never appears in a message, not even in part.
"""

from __future__ import annotations

import json
import re

from collections import namedtuple

from ansible_collections.imds.azure.plugins.module_utils._errors import (
    ImdsNotFound, ImdsNotImds, ImdsRejected, ImdsServerError, ImdsThrottled, ImdsTimeout, ImdsTooLarge, ImdsUnreachable, format_seconds,
)
from ansible_collections.imds.azure.plugins.module_utils._paths import stable_versions
from ansible_collections.imds.azure.plugins.module_utils._retry import (
    BROKEN, BUSY, CATEGORY_UPDATING, DEADLINE, EXHAUSTED, GONE, NO_CONNECTION,
    NOT_FOUND, NOT_IMDS, NOT_SENT, REJECTED, RETRY_AFTER, WINDOW, retry_after_seconds,
)
from ansible_collections.imds.azure.plugins.module_utils._transport import (
    KIB, MAX_RESPONSE_BYTES, MIB, RESPONSE_LIMITS, ConnectError, ConnectTimeout, MalformedAnswer, NotSent, ReadTimeout,
)

ERROR_BODY_LIMIT = 64 * KIB   # an error answer longer than this is not parsed (IMDS's are one line)
MAX_JSON_DEPTH = 32           # IMDS documents nest a few levels; deeper JSON is refused
# Categories whose answers may hold secrets: no part of their bodies ever appears in a message.
SECRET_CATEGORIES = ("identity",)

_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
# A 403 whose body says "unreachable" comes from a container runtime's network, not from IMDS.
_DOCKER_UNREACHABLE_RE = re.compile(r"unreachable", re.IGNORECASE)

ROUTE_HINT = (
    "On an Azure VM, check the 169.254.169.254/32 route: it must leave through the primary NIC "
    "(Linux: 'ip route get 169.254.169.254'; Windows: 'route print 169.254.169.254'); the imds.azure.route role "
    "checks and repairs it. IMDS is reachable only from inside an Azure VM."
)


def looks_like_html(text, content_type):
    if "html" in content_type.lower():
        return True
    head = text.lstrip()[:64].lower()
    return head.startswith("<!doctype") or head.startswith("<html") or head.startswith("<?xml") or head.startswith("<head")


def snippet(text, limit=80):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def printable(text):
    """``text`` with lone UTF-16 surrogates written as escapes, so that it can always be encoded."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def parse_error_body(response):
    """Return (error text, newest-versions list, is_json) for an error answer."""
    body = response.body
    if response.truncated or len(body) > ERROR_BODY_LIMIT:
        return printable(snippet(body[:ERROR_BODY_LIMIT].decode("utf-8", "replace"))), [], False
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return printable(snippet(body.decode("utf-8", "replace"))), [], False
    if not isinstance(data, dict):
        return printable(snippet(text)), [], True
    error = data.get("error")
    description = data.get("error_description")
    message = snippet(error, 500) if isinstance(error, str) else snippet(text)
    if isinstance(description, str) and description:
        message = "%s: %s" % (message, snippet(description, 500))
    newest = data.get("newest-versions") or []
    if not isinstance(newest, list):
        newest = []
    return printable(message), [str(v) for v in newest], True


def withheld(response, is_json):
    """What a message says instead of the body of an answer that may hold a secret."""
    if not response.body:
        return "no body"
    return "a %s body of %d bytes, not shown because the answers of this endpoint may hold tokens" % (
        "JSON" if is_json else "non-JSON", len(response.body))


def size_text(count):
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
    place = "" if secret else " at %s" % ("/".join(printable(str(part)) for part in where) or "the top")
    return "holds a lone UTF-16 surrogate (an unpaired \\uD800-\\uDFFF escape)%s, which is not Unicode text" % place


def not_imds_text(status, error, content_type, response, secret, endpoint):
    """Why an error answer of ``status`` (a redirect, or a 4xx without IMDS's JSON) cannot come from IMDS."""
    if 300 <= status < 400:
        location = "an address not shown" if secret else repr(printable(response.headers.get("location", "")))
        return ("HTTP %d redirect to %s: IMDS never redirects, so something else answered at %s (a proxy or captive portal?). "
                "Redirects are not followed" % (status, location, endpoint))
    if looks_like_html(error, content_type):
        what = "an HTML page"
    else:
        what = "a non-JSON body (%s)" % (withheld(response, False) if secret else repr(snippet(error, 60)))
    return ("HTTP %d with %s: this is not IMDS. Something else answers at %s (a proxy, firewall or another cloud's "
            "metadata service?)" % (status, what, endpoint))


def decode_answer(response, want, call):
    """The body of a 2xx answer, checked: size, encoding, UTF-8, not HTML, JSON that IMDS could have sent."""
    secret, category, endpoint = call.secret, call.category, call.endpoint
    answered = "IMDS %s answered %d" % (call.label, response.status)
    where = dict(url=call.url, status=response.status, attempts=call.attempts)
    limit = RESPONSE_LIMITS.get(category, MAX_RESPONSE_BYTES)
    if response.truncated or len(response.body) > limit:
        declared = response.headers.get("content-length", "").strip()
        size = "more than %s" % size_text(max(limit, len(response.body))) if response.truncated else "%d bytes" % len(response.body)
        raise ImdsTooLarge(
            "%s with %s%s: answers of /metadata/%s are limited to %s (IMDS's own are a few kilobytes), so the rest was "
            "not read. Nothing was gathered." % (
                answered, size, " (Content-Length %s)" % declared if declared.isdigit() else "", category, size_text(limit)),
            **where)
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise ImdsNotImds(
            "%s with a Content-Encoding%s although the request asked for none: IMDS never compresses its answers, and the "
            "client does not decompress them. Nothing was gathered." % (answered, "" if secret else " %r" % snippet(encoding, 40)),
            **where)
    content_type = response.headers.get("content-type", "").lower()
    try:
        text = response.body.decode("utf-8")
    except UnicodeDecodeError:
        raise ImdsNotImds("%s with a body that is not UTF-8 text: this is not IMDS." % answered, **where)
    if want == "json-or-empty" and not text.strip():
        return None
    if looks_like_html(text, content_type) and "json" not in content_type:
        raise ImdsNotImds(
            "%s with an HTML page%s instead of metadata: a proxy, captive portal or another service is answering at %s. "
            "Nothing was gathered." % (answered, "" if secret else " (%r)" % snippet(text, 60), endpoint), **where)
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


class Call(object):
    """What one logical request knows across its attempts."""

    def __init__(self, url, endpoint, method, category, version, start, deadline, default_endpoint):
        self.url = url
        self.endpoint = endpoint
        self.label = "%s %s" % (method, url.split("?", 1)[0][len(endpoint):])   # never the query: it may hold a nonce
        self.category = category
        self.version = version
        self.start = start
        self.deadline = deadline
        self.default_endpoint = default_endpoint
        self.secret = category in SECRET_CATEGORIES   # the answers may hold tokens: no part of a body in any message
        self.category_root = url.split("?", 1)[0] == "%s/metadata/%s" % (endpoint, category) and version is not None
        self.attempts = 0
        self.imds_answered = False             # some answer was JSON, as IMDS's are
        self.connected = False                 # some attempt got a connection


# One failed attempt: the row of the retry table it falls under (``rule``) and what it reports. ``cls`` and
# ``message``: the error it becomes when it ends the call; ``key``: what ``warn`` reports once per client;
# ``hint``: point at the route and the endpoint (no connection was made); ``told``: what a message may show
# of the body; ``newest``: the versions a rejection offered.
Failure = namedtuple("Failure", "rule cls message key status error hint retry_after newest told",
                     defaults=(None, None, False, None, None, None))


def attempt_failure(call, outcome):
    """The Failure of an attempt of ``call`` whose ``outcome`` is a non-2xx Response, or the TransportError
    raised when no answer came. The one classification of the request path (the retry table's "answer" column)."""
    if isinstance(outcome, Exception):
        return _transport_failure(call, outcome)
    response = outcome
    status = response.status
    error, newest, is_json = parse_error_body(response)
    call.imds_answered = call.imds_answered or is_json
    told = withheld(response, is_json) if call.secret else error   # what messages may show of the body
    content_type = response.headers.get("content-type", "")
    client_error = 400 <= status < 500 and status not in (404, 408, 410, 429)
    if status < 200 or 300 <= status < 400 or (client_error and not is_json):
        if status == 403 and _DOCKER_UNREACHABLE_RE.search(error):
            return Failure(NOT_IMDS, ImdsUnreachable, "something in between answered 403 %r" % told, None, status, error, hint=True)
        return Failure(NOT_IMDS, ImdsNotImds, not_imds_text(status, error, content_type, response, call.secret, call.endpoint),
                       None, status, error)
    if client_error or (status == 404 and is_json and "invalid version" in error.lower()):
        offered = stable_versions(newest)
        return Failure(REJECTED, ImdsRejected, _rejected_text(call, status, error, told, offered), None, status, error, newest=offered)
    if status == 404:
        # IMDS answers 404 on a whole category while it is being updated; "no load balancer" is final.
        updating = call.category_root and is_json and not ImdsNotFound.says_no_load_balancer(error)
        return Failure(CATEGORY_UPDATING if updating else NOT_FOUND, ImdsNotFound, "HTTP 404 (%s)" % told, ("status", 404), status,
                       error, told=told)
    if status == 410:
        return Failure(GONE, ImdsServerError, "HTTP 410 Gone: IMDS is being updated (%s)" % told, ("status", 410), status, error)
    # 408, 429, 5xx (and anything else >= 500)
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    cls = ImdsThrottled if status == 429 else (ImdsTimeout if status == 408 else ImdsServerError)
    message = "HTTP %d (%s)" % (status, told or response.headers.get("content-type", "no details"))
    if not is_json and looks_like_html(error, content_type):
        message += "; the body is an HTML page, so a proxy or another service may be answering"
    return Failure(BUSY if retry_after is None else RETRY_AFTER, cls, message, ("status", status), status, error, retry_after=retry_after)


def _transport_failure(call, exc):
    """The Failure of an attempt that got no HTTP answer."""
    call.connected = call.connected or exc.connected
    if isinstance(exc, ConnectError):
        cls = ImdsTimeout if isinstance(exc, ConnectTimeout) else ImdsUnreachable
        return Failure(NO_CONNECTION, cls, "cannot connect to %s (%s)" % (call.endpoint, exc), ("connect", cls.kind), hint=True)
    if isinstance(exc, NotSent):
        return Failure(NOT_SENT, ImdsThrottled, "the request was not sent: %s" % exc, ("not-sent",))
    if isinstance(exc, MalformedAnswer):
        return Failure(NOT_IMDS, ImdsNotImds, "%s answered, but %s, which IMDS never does: this is not IMDS" % (call.endpoint, exc), None)
    if isinstance(exc, ReadTimeout):
        return Failure(BROKEN, ImdsTimeout, "IMDS accepted the connection but did not answer in time (%s)" % exc, ("read-timeout",))
    return Failure(BROKEN, ImdsUnreachable, "the connection was closed without a complete answer (%s)" % exc, ("reset",))


def _rejected_text(call, status, error, told, offered):
    if offered or "api-version" in error.lower() or "invalid version" in error.lower():
        message = "IMDS rejected api-version %s for %s (HTTP %d: %s)." % (call.version or "(none)", call.label, status, told)
        if offered:
            message += " The service offers: %s. Use one of them or api_version: latest." % ", ".join(reversed(offered))
        else:
            message += " Use api_version: latest."
    elif status == 400 and "metadata" in error.lower() and "header" in error.lower():
        message = "IMDS rejected %s: %s. Something between this host and IMDS removed the 'Metadata: true' header." % (call.label, told)
    else:
        message = "IMDS rejected %s with HTTP %d (%s); this is not retried." % (call.label, status, told or "no details")
    return message


def call_error(call, failure, decision, elapsed):
    """The error that ends ``call``: ``failure`` was its last attempt and ``decision`` says why no other follows."""
    where = dict(url=call.url, status=failure.status, attempts=call.attempts, error=failure.error)
    if failure.rule in (CATEGORY_UPDATING, NOT_FOUND) and decision.stop not in (DEADLINE, WINDOW):
        return ImdsNotFound("%s: 404 Not Found (%s)%s" % (call.label, failure.told or "no details",
                                                          " after %d attempts" % call.attempts if decision.stop == EXHAUSTED else ""),
                            imds_answered=call.imds_answered, **where)
    if failure.rule == REJECTED:
        return ImdsRejected(failure.message, newest_versions=failure.newest, imds_answered=True, **where)
    suffix = ""
    if decision.stop == DEADLINE:
        suffix = "; gave up at the %s s deadline" % format_seconds(call.deadline)
    elif decision.stop == WINDOW:
        suffix = "; still 410 after polling for %.0f s" % decision.polled
    text = "IMDS %s failed: %s%s (%d attempt%s in %.1f s)." % (
        call.label, failure.message, suffix, call.attempts, "" if call.attempts == 1 else "s", elapsed)
    if failure.hint:
        text += " " + ROUTE_HINT if call.default_endpoint else " Check the endpoint option (%s)." % call.endpoint
    return failure.cls(text, imds_answered=call.imds_answered, connected=call.connected, **where)
