# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fuzzing the shared client's response handling: any answer ends in a value or an ImdsError.

The transport is the lowest boundary (a Response or a TransportError per attempt); the client's
retries run on a fake clock. Profiles: tests/unit/conftest.py (``make fuzz`` for a long run).
"""

from __future__ import annotations

import json

from hypothesis import given, strategies as st

from ansible_collections.imds.azure.tests.unit.fuzz_settings import IMDS_ERROR_KINDS
from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsError
from ansible_collections.imds.azure.plugins.module_utils._transport import (
    ConnectError,
    ConnectTimeout,
    ConnectionReset,
    NotSent,
    ReadTimeout,
    Response,
)

MARKER = "SECRET-MARKER-7f3a"

# JSON values, with the strings a hostile server might send: control characters, lone surrogates, the marker.
TEXT = st.one_of(st.text(max_size=20), st.just(MARKER), st.sampled_from(["\ud800", "a\udfffb", "<html>", "2021-02-01"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda children: st.one_of(st.lists(children, max_size=3),
                                                               st.dictionaries(TEXT, children, max_size=3)), max_leaves=8)
IMDS_LIKE = st.fixed_dictionaries({"compute": st.dictionaries(TEXT, JSON_VALUES, max_size=3),
                                   "network": st.dictionaries(TEXT, JSON_VALUES, max_size=2)},
                                  optional={"apiVersions": st.lists(TEXT, max_size=3), "error": TEXT, "newest-versions": JSON_VALUES,
                                            "access_token": st.just(MARKER), "Events": JSON_VALUES})


def _encode(value):
    return json.dumps(value).encode("utf-8")   # lone surrogates become \\udXXX escapes, as a hostile server sends them


BODIES = st.one_of(
    JSON_VALUES.map(_encode),
    IMDS_LIKE.map(_encode),
    st.tuples(IMDS_LIKE.map(_encode), st.integers(0, 200)).map(lambda pair: pair[0][:pair[1]]),       # cut short
    st.integers(0, 3000).map(lambda depth: b'{"compute": ' + b"[" * depth + b"]" * depth + b', "network": {}}'),
    st.binary(max_size=200),
    TEXT.map(lambda text: text.encode("utf-8", "backslashreplace")),
)
HEADERS = st.dictionaries(
    st.sampled_from(["Content-Type", "Content-Encoding", "Retry-After", "Location", "Content-Length"]),
    st.one_of(st.sampled_from(["application/json", "text/html", "gzip", "identity", "1", "-5", "1e9", "Wed, 21 Oct 2015"]), TEXT),
    max_size=4)
STATUSES = st.one_of(st.sampled_from([200, 204, 301, 302, 400, 401, 403, 404, 405, 408, 410, 429, 500, 503]), st.integers(100, 599))
RESPONSES = st.builds(Response, status=STATUSES, headers=HEADERS, body=BODIES, truncated=st.booleans())
FAILURES = st.sampled_from([ConnectError("refused"), ConnectTimeout("timed out"), ReadTimeout("no answer"),
                            ConnectionReset("reset"), NotSent("no slot")])
CALLS = st.sampled_from([
    ("instance", lambda client: client.get_json("instance")),
    ("instance", lambda client: client.get_text("instance", "compute/userData")),
    ("loadbalancer", lambda client: client.get_json("loadbalancer")),
    ("scheduledevents", lambda client: client.get_json("scheduledevents")),
    ("scheduledevents", lambda client: client.post_json("scheduledevents", "", {"StartRequests": [{"EventId": "x"}]})),
    ("attested", lambda client: client.get_json("attested", "document", query={"nonce": "abc"})),
    ("identity", lambda client: client.get_json("identity", "oauth2/token", query={"resource": "https://vault.azure.net"})),
    ("versions", lambda client: client.available_versions()),
])


class Replay(object):
    """A transport that plays the given outcomes in turn (the last one again once they are used up)."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def request(self, method, url, headers, body, timeout):
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds


@given(outcomes=st.lists(st.one_of(RESPONSES, FAILURES), min_size=1, max_size=4), call=CALLS,
       api_version=st.sampled_from(["latest", "2021-02-01", "2018-02-01"]))
def test_any_answer_ends_in_a_value_or_an_imds_error(outcomes, call, api_version):
    category, make_call = call
    clock = Clock()
    client = ImdsClient(endpoint="http://127.0.0.1:9", api_version=api_version, timeout=5, deadline=30, transport=Replay(outcomes),
                        sleep=clock.sleep, clock=lambda: clock.now, rand=lambda: 0.0)
    try:
        value = make_call(client)
    except ImdsError as exc:
        assert exc.kind in IMDS_ERROR_KINDS
        message = str(exc)
        message.encode("utf-8")                 # always printable
        assert clock.now <= 30 + 60             # bounded: the deadline (a Retry-After wait is capped at 60 s)
        if category == "identity" and api_version != "latest":   # (latest also asks /metadata/versions)
            assert MARKER not in message and MARKER not in repr(exc.url)
    else:
        json.dumps(value, ensure_ascii=False).encode("utf-8")   # the value can be written out as UTF-8 JSON
