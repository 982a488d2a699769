# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""Why an attempt at a request failed: the one place that decides it.

``attempt_failure`` classifies every outcome but a 2xx answer (``_responses.decode_answer`` checks
those): a non-2xx answer, or a TransportError when no answer came. It gives the row of the retry
table the attempt falls under (the timing of that row is ``_retry.RetryPolicy``'s), the error it
becomes and its message. ``call_error`` is the error that ends a call. The client imports this module
only when an attempt fails. A body that may hold a secret (``_responses.SECRET_CATEGORIES``) never
appears in a message, not even in part.
"""

from __future__ import annotations

import json
import re

from collections import namedtuple

from ansible_collections.imds.azure.plugins.module_utils._errors import (
    ImdsNotFound, ImdsNotImds, ImdsRejected, ImdsServerError, ImdsThrottled, ImdsTimeout, ImdsUnreachable, format_seconds,
)
from ansible_collections.imds.azure.plugins.module_utils._paths import stable_versions
from ansible_collections.imds.azure.plugins.module_utils._responses import looks_like_html, printable, snippet
from ansible_collections.imds.azure.plugins.module_utils._retry import (
    BROKEN, BUSY, CATEGORY_UPDATING, DEADLINE, EXHAUSTED, GONE, NO_CONNECTION,
    NOT_FOUND, NOT_IMDS, NOT_SENT, REJECTED, RETRY_AFTER, WINDOW, retry_after_seconds,
)
from ansible_collections.imds.azure.plugins.module_utils._transport import (
    KIB, ConnectError, ConnectTimeout, MalformedAnswer, NotSent, ReadTimeout,
)

ERROR_BODY_LIMIT = 64 * KIB   # an error answer longer than this is not parsed (IMDS's are one line)

# A 403 whose body says "unreachable" comes from a container runtime's network, not from IMDS.
_DOCKER_UNREACHABLE_RE = re.compile(r"unreachable", re.IGNORECASE)

ROUTE_HINT = (
    "On an Azure VM, check the 169.254.169.254/32 route: it must leave through the primary NIC "
    "(Linux: 'ip route get 169.254.169.254'; Windows: 'route print 169.254.169.254'); the imds.azure.route role "
    "checks and repairs it. IMDS is reachable only from inside an Azure VM."
)


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
