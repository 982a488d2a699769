# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The retry policy, checked row by row against the retry table of docs/docsite/rst/facts.rst.

The table is parsed from the guide: each row must be the rule of ``RULES`` at the same position,
every status and failure it names must fall under that rule (``_failures.attempt_failure``), and the
numbers of its policy (delays, counts, windows, jitter) must be what ``RetryPolicy.decide`` does.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from ansible_collections.imds.azure.plugins.module_utils import _retry
from ansible_collections.imds.azure.plugins.module_utils._failures import attempt_failure
from ansible_collections.imds.azure.plugins.module_utils._responses import Call
from ansible_collections.imds.azure.plugins.module_utils._retry import (
    DEADLINE,
    DEFAULT_CONNECT_RETRIES,
    EXHAUSTED,
    NEVER,
    WINDOW,
    RetryPolicy,
    retry_after_seconds,
)
from ansible_collections.imds.azure.plugins.module_utils._transport import (
    ConnectError, ConnectionReset, ConnectTimeout, MalformedAnswer, NotSent, ReadTimeout, Response, TransportError,
)

GUIDE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "docsite", "rst", "facts.rst")


def retry_table():
    """The (answer, policy) rows of the table in the guide's "Retries" section, whitespace-normalised."""
    with open(GUIDE, encoding="utf-8") as handle:
        text = handle.read()
    section = text[text.index("\nRetries\n-------\n"):]
    lines = section.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("+-"))
    rows, cells = [], None
    for line in lines[start:]:
        if line.startswith("+"):
            if cells is not None:
                rows.append(tuple(" ".join(" ".join(cell).split()) for cell in cells))
            cells = [[], []]
            continue
        if not line.startswith("|"):
            break
        for cell, part in zip(cells, line.strip("|").split("|")):
            cell.append(part)
    return rows[1:]   # without the header row


ROWS = retry_table()
# The rules in the table's order.
RULES = (_retry.NOT_IMDS, _retry.REJECTED, _retry.CATEGORY_UPDATING, _retry.NOT_FOUND, _retry.BUSY, _retry.RETRY_AFTER, _retry.GONE,
         _retry.NO_CONNECTION, _retry.BROKEN, _retry.NOT_SENT)


# What each rule covers, as an answer (status, imds_json, error, category_root, retry_after) or as a transport failure.
# The statuses named in a row's answer cell must be exactly these.
def answer(status, imds_json=True, error="", category_root=False, retry_after=None):
    return ("answer", dict(status=status, imds_json=imds_json, error=error, category_root=category_root, retry_after=retry_after))


EXAMPLES = {
    _retry.NOT_IMDS: [answer(status, imds_json) for status in (100, 101, 301, 302, 307) for imds_json in (True, False)]
    + [answer(status, imds_json=False) for status in (400, 401, 402, 403, 405, 418, 451)]
    + [("transport", MalformedAnswer("it does not start with an HTTP/1.x status line"))],
    _retry.REJECTED: [answer(status) for status in (400, 401, 402, 403, 405, 418, 451)]
    + [answer(404, error="Bad request. Invalid version", category_root=root) for root in (True, False)],
    _retry.CATEGORY_UPDATING: [answer(404, category_root=True, error="Not found")],
    _retry.NOT_FOUND: [answer(404, category_root=False), answer(404, imds_json=False, category_root=True),
                       answer(404, category_root=True, error="No load balancer metadata is found")],
    _retry.BUSY: [answer(status, imds_json) for status in (408, 429, 500, 502, 503, 504, 599) for imds_json in (True, False)],
    _retry.RETRY_AFTER: [answer(status, retry_after=7.0) for status in (408, 429, 500, 503, 599)],
    _retry.GONE: [answer(410, imds_json, category_root=root) for imds_json in (True, False) for root in (True, False)],
    _retry.NO_CONNECTION: [("transport", ConnectError("refused")), ("transport", ConnectTimeout("timed out"))],
    _retry.BROKEN: [("transport", ReadTimeout("slow")), ("transport", ConnectionReset("reset")), ("transport", TransportError("x"))],
    _retry.NOT_SENT: [("transport", NotSent("no slot"))],
}
# Words of the answer cells that name a transport failure, and the failure they name.
TRANSPORT_WORDS = {
    "refused": ConnectError, "unreachable": ConnectError, "connect timeout": ConnectTimeout,
    "read timeout": ReadTimeout, "reset": ConnectionReset, "truncated": ConnectionReset, "not sent": NotSent,
    "status line": MalformedAnswer, "TLS handshake": MalformedAnswer,
}
STATUS_RE = re.compile(r"\b([1-5](?:[0-9]{2}|xx))\b")
EXCLUDED_RE = re.compile(r"\(other than ([0-9, ]+)\)")


def documented_statuses(cell):
    """(statuses the answer cell names, statuses it excludes with "(other than ...)"); classes such as ``5xx`` as is."""
    excluded = set(int(status) for group in EXCLUDED_RE.findall(cell) for status in re.findall(r"[0-9]{3}", group))
    return set(STATUS_RE.findall(EXCLUDED_RE.sub("", cell))), excluded


def matches(status, named):
    return str(status) == named or (named.endswith("xx") and str(status)[0] == named[0])


def answer_rule(status, imds_json, error="", category_root=False, retry_after=None):
    """The rule attempt_failure gives an answer of ``status`` (``imds_json``: IMDS's JSON error body)."""
    endpoint = "http://127.0.0.1:1"
    url = endpoint + ("/metadata/instance?api-version=2021-02-01" if category_root else "/metadata/instance/compute?api-version=2021-02-01")
    headers = {} if retry_after is None else {"Retry-After": "%d" % retry_after}
    body = json.dumps({"error": error}).encode() if imds_json else error.encode()
    call = Call(url, endpoint, "GET", "instance", "2021-02-01", 0.0, 90.0, False)
    return attempt_failure(call, Response(status, headers, body)).rule


def classify(kind, example):
    if kind == "answer":
        return answer_rule(**example)
    return attempt_failure(Call("http://127.0.0.1:1/metadata/versions", "http://127.0.0.1:1", "GET", "versions", None, 0.0, 90.0, False),
                           example).rule


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def walk(rule, deadline=1000.0, rand=0.0, retry_after=None, limit=60):
    """Decide ``rule`` again and again, sleeping each delay: (delays, final decision)."""
    clock = Clock()
    policy = RetryPolicy(clock() + deadline, DEFAULT_CONNECT_RETRIES, clock, lambda: rand)
    delays = []
    for _attempt in range(limit):
        decision = policy.decide(rule, retry_after)
        if decision.stop:
            return delays, decision
        delays.append(decision.delay)
        clock.now += decision.delay
    raise AssertionError("%s never stopped: %r" % (rule, delays[:10]))


def numbers(text):
    return [float(number) for number in re.findall(r"[0-9]+", text)]


def test_the_table_has_one_row_per_rule():
    assert len(ROWS) == len(RULES), ROWS


@pytest.mark.parametrize("index", range(len(RULES)), ids=RULES)
def test_every_status_and_failure_a_row_names_falls_under_its_rule(index):
    rule, (cell, _policy) = RULES[index], ROWS[index]
    examples = EXAMPLES[rule]
    named, excluded = documented_statuses(cell)
    answers = [example for kind, example in examples if kind == "answer"]
    for item in named:
        assert any(matches(example["status"], item) for example in answers), (cell, item)
    for example in answers:
        assert any(matches(example["status"], item) for item in named), (cell, example)
    for status in excluded:
        assert answer_rule(**dict(answers[0], status=status)) != rule, (cell, status)
    named = [failure for word, failure in TRANSPORT_WORDS.items() if word in cell]
    transports = [example for kind, example in examples if kind == "transport"]
    assert all(any(isinstance(example, failure) for example in transports) for failure in named), cell
    assert bool(named) == bool(transports), cell
    for kind, example in examples:
        assert classify(kind, example) == rule, (cell, example)


@pytest.mark.parametrize("index", range(len(RULES)), ids=RULES)
def test_every_row_policy_is_what_the_policy_decides(index):
    rule, (_cell, policy) = RULES[index], ROWS[index]
    retried = re.search(r"retried \**([0-9]+) times\** \(([0-9, ]+) s\)", policy)
    backoff = re.search(r"backoff ([0-9, ]+) \.\.\. s until the deadline", policy)
    polled = re.search(r"polled ([0-9, ]+) \.\.\. s for at most \**([0-9]+) s\**", policy)
    waited = re.search(r"wait N s \(\+0–([0-9]+) % jitter\)", policy)
    if "never retried" in policy or "not retried" in policy:
        delays, decision = walk(rule)
        assert delays == [] and decision.stop == NEVER
    elif retried:
        delays, decision = walk(rule)
        assert len(delays) == int(retried.group(1)) and delays == numbers(retried.group(2))
        assert decision.stop == EXHAUSTED
    elif backoff or policy == "backoff until the deadline":
        prefix = numbers(backoff.group(1)) if backoff else numbers(ROWS[RULES.index(_retry.BUSY)][1])
        delays, decision = walk(rule, deadline=100.0)
        assert delays[:len(prefix)] == prefix and set(delays[len(prefix):]) == {prefix[-1]}
        assert decision.stop == DEADLINE and sum(delays) + prefix[-1] >= 100.0 > sum(delays)
    elif polled:
        prefix, window = numbers(polled.group(1)), float(polled.group(2))
        delays, decision = walk(rule)
        assert delays[:len(prefix)] == prefix and set(delays[len(prefix):]) == {prefix[-1]}
        assert decision.stop == WINDOW and sum(delays) <= window < sum(delays) + prefix[-1]
        assert decision.polled == sum(delays)
        # ... and within the deadline, when that comes first.
        assert walk(rule, deadline=20.0)[1].stop == DEADLINE
    elif waited:
        jitter = float(waited.group(1)) / 100
        delays, decision = walk(rule, retry_after=7.0, limit=1000)
        assert set(delays) == {7.0} and decision.stop == DEADLINE
        stretched = walk(rule, rand=1.0, retry_after=7.0, limit=1000)[0]
        assert stretched == [pytest.approx(7.0 * (1 + jitter))] * len(stretched)
    else:
        pytest.fail("the policy %r says nothing this test can check" % policy)


def test_connect_retries_is_the_count_of_the_connection_row():
    clock = Clock()
    policy = RetryPolicy(clock() + 1000, 0, clock, lambda: 0.0)
    assert policy.decide(_retry.NO_CONNECTION).stop == EXHAUSTED


def test_backoff_counts_every_retry_of_the_call_and_jitter_only_stretches():
    clock = Clock()
    policy = RetryPolicy(clock() + 1000, DEFAULT_CONNECT_RETRIES, clock, lambda: 1.0)
    assert [policy.decide(rule).delay for rule in (_retry.BUSY, _retry.CATEGORY_UPDATING, _retry.BROKEN)] == [1.25, 2.5, 5.0]


@pytest.mark.parametrize("value, seconds", [
    (None, None), ("7", 7.0), (" 7 ", 7.0), ("0", 0.0), ("120", 60.0), ("9" * 5000, 60.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("", None),
    # Not delta-seconds (RFC 9110 10.2.3): no Retry-After at all, so the backoff applies.
    ("2.5", None), ("-3", None), ("NaN", None), ("nan", None), ("inf", None), ("1e400", None), ("1_0", None), ("\u0663", None),
])
def test_retry_after_seconds(value, seconds):
    assert retry_after_seconds(value) == seconds
    # The table's Retry-After row says where the cap is.
    assert "at most %d" % _retry.RETRY_AFTER_CAP in ROWS[RULES.index(_retry.RETRY_AFTER)][0]


@pytest.mark.parametrize("retry_after", [0.0, 0.2])
def test_a_short_retry_after_still_waits_a_second(retry_after):
    """Retry-After: 0 once meant 8,024 requests in 10 s: every pause is at least RETRY_AFTER_FLOOR."""
    delays, decision = walk(_retry.RETRY_AFTER, deadline=30.0, retry_after=retry_after)
    assert delays and min(delays) >= _retry.RETRY_AFTER_FLOOR == 1.0
    assert decision.stop == DEADLINE and len(delays) <= 30


def test_the_backoff_never_overflows_however_many_retries_a_call_made():
    """After 1,024 retries 2 ** retries no longer fits a float: the backoff raised OverflowError."""
    clock = Clock()
    policy = RetryPolicy(clock() + 10 ** 9, DEFAULT_CONNECT_RETRIES, clock, lambda: 0.0)
    for _retry_number in range(1100):
        decision = policy.decide(_retry.RETRY_AFTER, 1.0)
        clock.now += decision.delay
    assert policy.retries == 1100
    assert [policy.decide(rule).delay for rule in (_retry.BUSY, _retry.BROKEN, _retry.GONE)] == [8.0, 8.0, 5.0]
