# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""What a request may name below ``/metadata/<category>``: path segments, query parameters and api-versions.

The one home of path validation: the client checks every path it sends with ``validate_path``,
and the metadata lookup checks its terms with it before anything is requested.
"""

from __future__ import annotations

import re

from urllib.parse import quote

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsConfigError

SEGMENT_RE = re.compile(r"^[A-Za-z0-9_~.-]+$")
VERSION_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_QUERY_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
# Characters that would change what a URL means, with why a path may not hold them.
_URL_CHARACTERS = (
    ("?", "query strings are not supported (use the query option for JMESPath)"),
    ("#", "fragments are not supported"),
    ("%", "percent-encoding is not supported; write keys as they appear in the document"),
    ("\\", "backslashes are not path separators"),
)
# Set by the client itself, never by a caller.
RESERVED_QUERY = ("api-version", "format")


def stable_versions(versions):
    """The api-versions of ``versions`` (a list IMDS sent) that a request may name, without previews, oldest first."""
    return sorted(v for v in versions if isinstance(v, str) and VERSION_RE.match(v) and not v.endswith("-preview"))


def validate_path(path):
    """The segments (a tuple of strings) of ``path``, a path below a category root; ImdsConfigError when it is refused.

    ``path`` is a ``/``-separated string (one leading ``/`` is allowed and not part of any segment) or a
    list or tuple of segments. A segment holds letters, digits and ``_ ~ . -`` only; empty segments,
    ``.``/``..``, URLs and ``//host``, ``?``, ``#``, ``%``, ``\\``, whitespace and control characters are
    refused, so a path can never leave its category, reach another host or smuggle a query.
    """
    if isinstance(path, (list, tuple)):
        segments = [str(segment) for segment in path]
        text = "/".join(segments)
    elif isinstance(path, str):
        text = path
        segments = (path[1:] if path.startswith("/") else path).split("/")
    else:
        raise ImdsConfigError("a path must be a string, got %s %r" % (type(path).__name__, path))
    shown = repr(path)
    if _CONTROL_RE.search(text):
        raise ImdsConfigError("path %s contains control characters (CR, LF, TAB, NUL...)" % shown)
    if any(char.isspace() for char in text):
        raise ImdsConfigError("path %s contains whitespace; IMDS keys never do" % shown)
    if text.startswith("//") or _SCHEME_RE.match(text) or "://" in text:
        raise ImdsConfigError("path %s looks like a URL; give a path such as compute/vmId (the endpoint option sets the host)" % shown)
    for char, why in _URL_CHARACTERS:
        if char in text:
            raise ImdsConfigError("path %s contains %r: %s" % (shown, char, why))
    for segment in segments:
        if segment == "":
            raise ImdsConfigError("path %s has an empty segment (a doubled, leading or trailing '/')" % shown)
        if segment in (".", ".."):
            raise ImdsConfigError("path %s contains %r: relative segments are not allowed" % (shown, segment))
        if not SEGMENT_RE.match(segment):
            raise ImdsConfigError("path %s: segment %r may contain only letters, digits and _ ~ . -" % (shown, segment))
    return tuple(segments)


def encode_path(path):
    """``path`` validated and percent-encoded for a URL; ``''`` for the category root (None, ``''`` or ``/``).

    Leading and trailing ``/`` are ignored here: the client's callers name paths relative to the root.
    """
    if path is None:
        return ""
    if isinstance(path, str):
        path = path.strip("/")
        if not path:
            return ""
    return "/".join(quote(segment, safe="") for segment in validate_path(path))


def encode_query(query):
    """``query`` (a dict) as sorted, percent-encoded ``name=value`` pairs; ImdsConfigError for a reserved or bad name."""
    if not query:
        return []
    if not isinstance(query, dict):
        raise ImdsConfigError("query must be a dict, got %r" % (query,))
    pairs = []
    for key in sorted(query):
        value = query[key]
        if not isinstance(key, str) or not _QUERY_KEY_RE.match(key):
            raise ImdsConfigError("invalid query parameter name %r" % (key,))
        if key in RESERVED_QUERY:
            raise ImdsConfigError("query parameter %r is set by the client; use api_version / get_text instead" % key)
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append("%s=%s" % (quote(key, safe=""), quote(str(value), safe="")))
    return pairs
