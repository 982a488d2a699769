# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""What the client accepts as an answer from IMDS: size limits, error bodies, and the checks of a 2xx body.

Nothing here reads the network: the functions take a transport's Response. A body that may hold a
secret (``SECRET_CATEGORIES``) never appears in a message, not even in part.
"""

from __future__ import annotations

import json
import re

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsNotImds, ImdsTooLarge

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
# Categories whose answers may hold secrets: no part of their bodies ever appears in a message.
SECRET_CATEGORIES = ("identity",)

_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


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


def decode_answer(response, want, label, url, attempts, category, endpoint):
    """The body of a 2xx answer, checked: size, encoding, UTF-8, not HTML, JSON that IMDS could have sent."""
    secret = category in SECRET_CATEGORIES
    answered = "IMDS %s answered %d" % (label, response.status)
    where = dict(url=url, status=response.status, attempts=attempts)
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
