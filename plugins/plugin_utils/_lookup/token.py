# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""Managed-identity token helpers for the ``imds.azure.token`` lookup.

Tokens are secrets. Nothing here ever puts a token (or any part of a token answer's body) in
an exception message, a warning or a file: the cache is a dict in the process, and error
messages are built from structured fields (status, IMDS's error code and description) only.
"""

from __future__ import annotations

import re
import threading
import time

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsAzureError
from ansible_collections.imds.azure.plugins.module_utils._shape import ShapeError, token_answer

SELECTORS = ("client_id", "object_id", "msi_res_id")
# Refresh a cached token when less than this many seconds of validity remain (or half of its
# lifetime, for very short-lived tokens).
REFRESH_MARGIN = 300
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class TokenError(ImdsAzureError, ValueError):
    """A bad option or an unusable answer; the message never holds token material."""

    kind = "config"


def identity_selector(options):
    """``(name, value)`` of the user-assigned identity asked for, or ``(None, None)`` for system-assigned.

    Only an option that is not set at all means the system-assigned identity: an empty one (a variable that
    templated to nothing) is refused, never taken to mean "no user-assigned identity".
    """
    given = [(name, options.get(name)) for name in SELECTORS if options.get(name) is not None]
    empty = [name for name, value in given if isinstance(value, str) and not value.strip()]
    if empty:
        raise TokenError("%s is empty: name the user-assigned identity, or leave the option out for the system-assigned one. "
                         "An empty value (for example a variable that templates to '') is refused, never taken to mean the "
                         "system-assigned identity" % empty[0])
    if len(given) > 1:
        raise TokenError("client_id, object_id and msi_res_id are mutually exclusive; got %s" % ", ".join(name for name, _v in given))
    if not given:
        return None, None
    name, value = given[0]
    if not isinstance(value, str) or _CONTROL_RE.search(value) or value != value.strip():
        raise TokenError("%s must be a plain string without whitespace around it or control characters" % name)
    return name, value


def describe_identity(name, value):
    if name is None:
        return "the system-assigned managed identity"
    return "the user-assigned managed identity with %s %r" % (name, value)


def check_resource(resource):
    if not isinstance(resource, str) or not resource.strip():
        raise TokenError("each term must be a non-empty resource (App ID URI), such as https://vault.azure.net")
    if _CONTROL_RE.search(resource) or resource != resource.strip():
        raise TokenError("resource %r contains whitespace around it or control characters" % resource)
    return resource


def normalize_record(data):
    """The token answer with numbers as numbers (_shape.token_answer); TokenError (no content shown) if unusable."""
    try:
        record = token_answer(data)
    except ShapeError as exc:
        raise TokenError("the token endpoint answered with a token answer that IMDS never sends: %s" % exc, kind="not_imds") from None
    if not isinstance(record.get("expires_on"), int):
        expires_in = record.get("expires_in")
        if isinstance(expires_in, int):
            record["expires_on"] = int(time.time()) + expires_in
    return record


class TokenCache(object):
    """Token records in this process, until shortly before they expire. Never written anywhere."""

    def __init__(self, clock=None, margin=REFRESH_MARGIN):
        self.clock = clock or time.time
        self._margin = margin
        self._items = {}
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            record, refresh_at = item
            if self.clock() >= refresh_at:
                del self._items[key]
                return None
            return record

    def put(self, key, record):
        expires_on = record.get("expires_on")
        if not isinstance(expires_on, int):
            return False
        now = self.clock()
        lifetime = expires_on - now
        margin = min(self._margin, lifetime / 2.0)
        if lifetime <= 0:
            return False
        with self._lock:
            self._items[key] = (record, expires_on - margin)
        return True
