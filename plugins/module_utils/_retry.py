# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""The retry policy of the request path: when a failed attempt is retried, after how long, and when to stop.

Timing only. Which row of the retry table in docs/docsite/rst/facts.rst ("Retries") an attempt falls
under, the error it becomes and its message are decided in one place, ``_failures.attempt_failure``;
``RetryPolicy.decide`` applies the row's timing. tests/unit/plugins/module_utils/test__retry.py walks the
table's rows against both, so the table and the code cannot drift apart.
"""

from __future__ import annotations

import re

from collections import namedtuple

# Times in seconds.
BACKOFF_INITIAL = 1.0         # first retry delay; 5xx must wait >= 1 s (MS guidance)
BACKOFF_CAP = 8.0             # exponential backoff stops growing here
BACKOFF_JITTER = 0.25         # delays are stretched by up to +25 % (never shortened)
GONE_WINDOW = 70.0            # 410 is polled for at most this long
GONE_POLL_CAP = 5.0           # 410 polling interval stops growing here
NOT_FOUND_RETRIES = 3         # 404 on a category root (IMDS "updating"); deeper paths: none
DEFAULT_CONNECT_RETRIES = 3   # refused / unreachable / connect timeout
RETRY_AFTER_CAP = 60.0        # a longer Retry-After is waited for this long
RETRY_AFTER_FLOOR = 1.0       # a shorter one (Retry-After: 0) this long: a pause is never shorter, so never a request storm
RETRY_AFTER_JITTER = 0.1      # Retry-After waits are stretched by up to +10 %
_MAX_DOUBLINGS = 32           # the backoff's exponent stops here (far past every cap), so it never overflows
_DELTA_SECONDS_RE = re.compile(r"^[0-9]+$")

# The rows of the table, in its order (``_failures.attempt_failure`` says which row an attempt falls under).
NOT_IMDS = "not_imds"                 # a redirect, 1xx, 4xx without IMDS's JSON, MalformedAnswer (and a 2xx body that is not IMDS's)
REJECTED = "rejected"                 # 400, 401, 403, 405 and other 4xx with IMDS's JSON; 404 "invalid version"
CATEGORY_UPDATING = "category_404"    # 404 on a category root: IMDS may be updating
NOT_FOUND = "not_found"               # any other 404
BUSY = "busy"                         # 408, 429, 5xx
RETRY_AFTER = "retry_after"           # 408, 429, 5xx with Retry-After: N
GONE = "gone"                         # 410
NO_CONNECTION = "no_connection"       # refused, unreachable, connect timeout
BROKEN = "broken"                     # read timeout, reset, truncated transfer
NOT_SENT = "not_sent"                 # a local limit (the lookups' pacing) had no free slot
NEVER_RETRIED = (NOT_IMDS, REJECTED, NOT_FOUND)

# Why RetryPolicy.decide stops.
NEVER = "never"               # the row is never retried
EXHAUSTED = "exhausted"       # the row's count of retries is used up
WINDOW = "window"             # 410 for longer than GONE_WINDOW
DEADLINE = "deadline"         # the next attempt would start after the call's deadline


def retry_after_seconds(value):
    """The seconds of a Retry-After header (capped at RETRY_AFTER_CAP), or None.

    Only delta-seconds (RFC 9110 10.2.3: digits) count. None for no header, an HTTP date, and
    anything else (``-1``, ``NaN``, ``1e400``, ``0.5``): those fall back to the backoff.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not _DELTA_SECONDS_RE.match(text):
        return None
    return RETRY_AFTER_CAP if len(text) > 6 else min(float(text), RETRY_AFTER_CAP)


# What to do after a failed attempt: wait ``delay`` seconds and retry, or ``stop`` (NEVER, EXHAUSTED, WINDOW or
# DEADLINE). ``polled``: for WINDOW, how long the 410 answers lasted.
Decision = namedtuple("Decision", "delay stop polled", defaults=(None, None, 0.0))


class RetryPolicy(object):
    """The retry state of one call: ``decide(rule)`` after each failed attempt.

    ``stop_at``: when the call's deadline runs out, on ``clock``.
    Delays grow exponentially with the number of retries made so far in the call (whatever their
    rule) and are stretched by a random factor, never shortened. ``clock`` and ``rand`` are the
    client's (time.monotonic and random.random unless a test injects others).
    """

    def __init__(self, stop_at, connect_retries, clock, rand):
        self._clock = clock
        self._rand = rand
        self.stop_at = stop_at            # the call's deadline, a moment of ``clock``
        self.connect_retries = DEFAULT_CONNECT_RETRIES if connect_retries is None else connect_retries
        self.retries = 0
        self._connect_failures = 0
        self._category_404s = 0
        self._gone_since = None

    def _backoff(self, cap):
        return min(cap, BACKOFF_INITIAL * (2 ** min(self.retries, _MAX_DOUBLINGS))) * (1.0 + BACKOFF_JITTER * self._rand())

    def decide(self, rule, retry_after=None):
        """The Decision for a failed attempt that falls under ``rule`` (``retry_after``: its seconds, for RETRY_AFTER)."""
        now = self._clock()
        if rule in NEVER_RETRIED:
            return Decision(stop=NEVER)
        if rule == NO_CONNECTION:
            self._connect_failures += 1
            if self._connect_failures > self.connect_retries:
                return Decision(stop=EXHAUSTED)
            delay = self._backoff(BACKOFF_CAP)
        elif rule == CATEGORY_UPDATING:
            self._category_404s += 1
            if self._category_404s > NOT_FOUND_RETRIES:
                return Decision(stop=EXHAUSTED)
            delay = self._backoff(BACKOFF_CAP)
        elif rule == GONE:
            if self._gone_since is None:
                self._gone_since = now
            delay = self._backoff(GONE_POLL_CAP)
            if now + delay - self._gone_since > GONE_WINDOW:
                return Decision(stop=WINDOW, polled=now - self._gone_since)
        elif rule == RETRY_AFTER:
            delay = max(retry_after, RETRY_AFTER_FLOOR) * (1.0 + RETRY_AFTER_JITTER * self._rand())
        else:  # BUSY, BROKEN, NOT_SENT
            delay = self._backoff(BACKOFF_CAP)
        if now + delay >= self.stop_at:
            return Decision(stop=DEADLINE)
        self.retries += 1
        return Decision(delay)
