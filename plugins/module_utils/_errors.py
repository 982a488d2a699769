# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""The errors of the collection: ImdsAzureError, the root of every error it raises (its ``kind`` is the
``imds_error`` keyword of a failed task), and ImdsError with the errors of the request path.

Standard library only, so that every plugin and module (target side too) can share the root.

When a call's deadline runs out, the error is the one of its last attempt (``ImdsServerError`` for a
5xx, ``ImdsTimeout`` for a read timeout, ...), its message ending "gave up at the N s deadline".
"""

from __future__ import annotations

import re

# How IMDS says that the VM has no Standard load balancer (its 404 answer to /metadata/loadbalancer).
_NO_LOAD_BALANCER_RE = re.compile(r"no\s+load\s*balancer\s+metadata", re.IGNORECASE)


class ImdsAzureError(Exception):
    """Root of every error of the collection. ``str(err)`` is a complete message for the user; ``kind`` is a
    stable keyword (the task result's ``imds_error``): the class's, or the one given."""

    kind = "error"

    def __init__(self, message, kind=None):
        super(ImdsAzureError, self).__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind

    def __str__(self):
        return self.message


class ImdsError(ImdsAzureError):
    """Base of every client error.

    Attributes: ``url`` (what was requested, no secrets), ``status`` (last HTTP status or None),
    ``attempts`` (HTTP attempts made), ``imds_answered`` (True when something that looks like
    IMDS -- a JSON answer -- responded at least once), ``error`` (IMDS's own error text, if any),
    ``connected`` (True when some attempt got a connection, even if no answer came back).
    """

    def __init__(self, message, url=None, status=None, attempts=0, imds_answered=False, error=None, connected=None):
        super(ImdsError, self).__init__(message)
        self.url = url
        self.status = status
        self.attempts = attempts
        self.imds_answered = imds_answered
        self.error = error
        self.connected = status is not None if connected is None else bool(connected)


class ImdsConfigError(ImdsError, ValueError):
    """Bad input from the caller (endpoint, api_version, path, query); nothing was sent."""

    kind = "config"


class ImdsUnreachable(ImdsError):
    """No connection could be made to the endpoint, the connection was reset or closed before a complete
    answer, or something in between (a container runtime's network) answered 403 "unreachable"."""

    kind = "unreachable"


class ImdsTimeout(ImdsError):
    """An attempt timed out: the connection (connect timeout), the answer (read timeout), or IMDS's own 408."""

    kind = "timeout"


class ImdsRejected(ImdsError):
    """IMDS refused the request (400/401/403/405): not retried. ``newest_versions`` is the
    list of versions the service offered when it rejected the api-version."""

    kind = "rejected"

    def __init__(self, message, newest_versions=None, **kwargs):
        super(ImdsRejected, self).__init__(message, **kwargs)
        self.newest_versions = list(newest_versions or [])


class ImdsNotFound(ImdsError):
    """404: the path does not exist (or, for /metadata/loadbalancer, no Standard LB:
    ``no_load_balancer`` is True then)."""

    kind = "not_found"

    @property
    def no_load_balancer(self):
        return self.says_no_load_balancer(self.error)

    @staticmethod
    def says_no_load_balancer(error):
        """True when IMDS's error text ``error`` says that the VM has no Standard load balancer."""
        return bool(error and _NO_LOAD_BALANCER_RE.search(error))


class ImdsThrottled(ImdsError):
    """429 until the deadline, or the request was never sent: a local limit (the lookups' request pacing)
    had no free slot in time."""

    kind = "throttled"


class ImdsServerError(ImdsError):
    """5xx or 410 that did not clear up within the retry budget."""

    kind = "server_error"


class ImdsNotImds(ImdsError):
    """Something answered, but not the way IMDS does (HTML page, broken JSON, redirect...)."""

    kind = "not_imds"


class ImdsTooLarge(ImdsNotImds):
    """An answer (or the user data in it) larger than the documented limits: refused, not retried."""

    kind = "too_large"


def format_seconds(value):
    """A duration for messages: ``5``, ``1.77``, ``0.5`` (never ``1.771996541000135``)."""
    return ("%.2f" % value).rstrip("0").rstrip(".")


# Every error class by its kind: an error written down (the lookups' run cache keeps failures) comes back as what it was.
ERRORS_BY_KIND = dict((cls.kind, cls) for cls in (
    ImdsError, ImdsConfigError, ImdsUnreachable, ImdsTimeout, ImdsRejected, ImdsNotFound, ImdsThrottled, ImdsServerError, ImdsNotImds,
    ImdsTooLarge))


def error_record(exc):
    """An ImdsError as plain JSON data (``error_from_record`` makes it an error again)."""
    return dict([("kind", exc.kind), ("message", exc.message)] + [(name, getattr(exc, name)) for name in _RECORDED])


def error_from_record(record):
    """A new ImdsError of the kind ``record`` names, with its message and attributes."""
    cls = ERRORS_BY_KIND.get(record.get("kind"), ImdsError)
    return cls(str(record.get("message", "")), **dict((name, record.get(name)) for name in _RECORDED))


_RECORDED = ("url", "status", "attempts", "imds_answered", "error", "connected")
