# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""What a 2xx answer amounts to: ``decode_answer`` checks it (size, encoding, UTF-8, not HTML, JSON that
IMDS could have sent) and returns its body; ``Call`` is what one logical request knows across its attempts.

Why an attempt failed is decided in ``_failures`` (imported only when an attempt fails, so that a task
whose requests succeed does not compile it). Nothing here reads the network: the functions take a
transport's Response. A body that may hold a secret (``SECRET_CATEGORIES``) never appears in a
message, not even in part.
"""

from __future__ import annotations

import json
import re

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsNotImds, ImdsTooLarge
from ansible_collections.imds.azure.plugins.module_utils._transport import KIB, MAX_RESPONSE_BYTES, MIB, RESPONSE_LIMITS

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
