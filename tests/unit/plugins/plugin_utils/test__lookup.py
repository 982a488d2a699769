# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the lookups: path parsing and walking, JMESPath, facts documents, run cache, pacing, tokens."""

from __future__ import annotations

import multiprocessing
import os
import stat
import sys

import pytest

from ansible_collections.imds.azure.plugins.plugin_utils import _lookup
from ansible_collections.imds.azure.plugins.plugin_utils._lookup import (
    LookupPathError, MissingPathError, ParsedPath, QueryError, RateLimiter, RunCache, compile_query, facts_document,
    is_user_data, parse_path, scrub, strip_user_data, walk,
)
from ansible_collections.imds.azure.plugins.plugin_utils import _token
from ansible_collections.imds.azure.plugins.plugin_utils._token import TokenCache, TokenError

DOC = {
    "compute": {"vmId": "id-1", "platformFaultDomain": "1", "tagsList": [{"name": "env", "value": "prod"}], "userData": "c2VjcmV0"},
    "network": {"interface": [{"ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0.4"}]}}]},
}


# --------------------------------------------------------------------------- parse_path

@pytest.mark.parametrize("term, category, segments", [
    ("compute/vmId", "instance", ("compute", "vmId")),
    ("network/interface/0/ipv4/ipAddress/0/privateIpAddress", "instance",
     ("network", "interface", "0", "ipv4", "ipAddress", "0", "privateIpAddress")),
    ("compute", "instance", ("compute",)),
    ("/instance", "instance", ()),
    ("/instance/compute/vmId", "instance", ("compute", "vmId")),
    ("/metadata/instance/compute/vmId", "instance", ("compute", "vmId")),
    ("/loadbalancer", "loadbalancer", ()),
    ("/loadbalancer/inboundRules/0/frontendPort", "loadbalancer", ("inboundRules", "0", "frontendPort")),
    ("/scheduledevents", "scheduledevents", ()),
    ("/scheduledevents/Events/0/EventId", "scheduledevents", ("Events", "0", "EventId")),
    ("compute/storageProfile/osDisk/managedDisk/id", "instance", ("compute", "storageProfile", "osDisk", "managedDisk", "id")),
])
def test_parse_path_accepts(term, category, segments):
    parsed = parse_path(term)
    assert (parsed.category, parsed.segments) == (category, segments)
    assert parsed.text == term


@pytest.mark.parametrize("term, words", [
    ("", "empty path"),
    ("compute//vmId", "empty segment"),
    ("compute/vmId/", "empty segment"),
    ("/", "empty segment"),
    ("compute/../secrets", "relative"),
    ("compute/./vmId", "relative"),
    ("..", "relative"),
    ("http://169.254.169.254/metadata/instance", "looks like a URL"),
    ("https:compute", "looks like a URL"),
    ("//evil.example/compute", "looks like a URL"),
    ("file:///etc/passwd", "looks like a URL"),
    ("compute/vmId\r\nHost: evil", "control characters"),
    ("compute/vm\x00Id", "control characters"),
    ("compute/vmId?format=json", "query strings"),
    ("compute/vmId#frag", "fragments"),
    ("compute/%2e%2e", "percent-encoding"),
    ("compute\\vmId", "backslashes"),
    ("compute/vm Id", "whitespace"),
    ("compute/vm$Id", "may contain only"),
    ("/identity/oauth2/token", "imds.azure.token"),
    ("/attested/document", "attested"),
    ("/versions", "version list"),
    ("/loadbalancers/x", "did you mean /loadbalancer"),
    ("/compute/vmId", "drop the leading '/'"),
    ("/metadata", "names no category"),
])
def test_parse_path_refuses(term, words):
    with pytest.raises(LookupPathError) as info:
        parse_path(term)
    assert words in str(info.value)


@pytest.mark.parametrize("term", [None, 3, ["compute"], {"a": 1}])
def test_parse_path_refuses_non_strings(term):
    with pytest.raises(LookupPathError, match="must be a string"):
        parse_path(term)


def test_parsed_path_display_and_equality():
    assert parse_path("/instance/compute/vmId") == parse_path("compute/vmId")
    assert parse_path("/instance/compute/vmId").display == "compute/vmId"
    assert parse_path("/instance").display == "/instance"
    assert parse_path("/loadbalancer/inboundRules").display == "/loadbalancer/inboundRules"
    assert parse_path("compute") != parse_path("/loadbalancer")
    assert len({parse_path("compute"), parse_path("/instance/compute")}) == 1


# --------------------------------------------------------------------------- walk

def test_walk_leaf_structure_and_index():
    assert walk(DOC, parse_path("compute/vmId")) == "id-1"
    assert walk(DOC, parse_path("compute/tagsList")) == [{"name": "env", "value": "prod"}]
    assert walk(DOC, parse_path("network/interface/0/ipv4/ipAddress/0/privateIpAddress")) == "10.0.0.4"
    assert walk(DOC, parse_path("/instance")) is DOC


def test_walk_missing_key_names_path_and_close_matches():
    with pytest.raises(MissingPathError) as info:
        walk(DOC, parse_path("compute/vmid"))
    message = str(info.value)
    assert "'compute/vmid' not found" in message
    assert "compute has no key 'vmid'" in message
    assert "did you mean 'compute/vmId'" in message
    assert "keys there:" in message and "platformFaultDomain" in message


def test_walk_missing_deep_key_reports_the_deepest_existing_level():
    with pytest.raises(MissingPathError) as info:
        walk(DOC, parse_path("network/interface/0/ipv4/ipAdress/0"))
    message = str(info.value)
    assert "network/interface/0/ipv4 has no key 'ipAdress'" in message
    assert "did you mean 'network/interface/0/ipv4/ipAddress'" in message


def test_walk_category_name_at_the_instance_root_gets_a_hint():
    with pytest.raises(MissingPathError, match=r"write '/loadbalancer/\.\.\.'"):
        walk(DOC, parse_path("loadbalancer/inboundRules"))


def test_walk_index_out_of_range():
    with pytest.raises(MissingPathError, match=r"network/interface has 1 item, so index 3 is out of range"):
        walk(DOC, parse_path("network/interface/3"))


@pytest.mark.parametrize("segment", ["first", "-1", "01", "1.0"])
def test_walk_non_integer_index_into_a_list_is_malformed(segment):
    with pytest.raises(LookupPathError, match="is a list, so"):
        walk(DOC, parse_path("network/interface/%s" % segment))


def test_walk_into_a_leaf():
    with pytest.raises(MissingPathError, match="compute/vmId is a value"):
        walk(DOC, parse_path("compute/vmId/more"))


def test_walk_empty_list():
    with pytest.raises(LookupPathError, match="empty list"):
        walk({"a": []}, parse_path("a/x"))
    with pytest.raises(MissingPathError, match="has 0 items"):
        walk({"a": []}, parse_path("a/0"))


# --------------------------------------------------------------------------- JMESPath

def test_compile_query_and_search():
    compiled = compile_query("network.interface[*].ipv4.ipAddress[*].privateIpAddress | []")
    assert _lookup.search(compiled, DOC, "x") == ["10.0.0.4"]


@pytest.mark.parametrize("expression", ["network.interface[", "[?name=='a'", "foo bar", "a.`x"])
def test_compile_query_refuses_bad_expressions(expression):
    with pytest.raises(QueryError, match="invalid JMESPath expression"):
        compile_query(expression)


@pytest.mark.parametrize("expression", ["", "   ", None, 5])
def test_compile_query_refuses_empty(expression):
    with pytest.raises(QueryError, match="non-empty JMESPath"):
        compile_query(expression)


def test_missing_jmespath_says_how_to_install(monkeypatch):
    monkeypatch.setattr(_lookup, "_JMESPATH", None)
    monkeypatch.setitem(sys.modules, "jmespath", None)   # import jmespath -> ImportError
    with pytest.raises(QueryError) as info:
        compile_query("compute.vmId")
    assert "pip install jmespath" in str(info.value)
    assert "controller" in str(info.value)


def test_search_runtime_error_is_a_query_error():
    compiled = compile_query("abs(compute)")
    with pytest.raises(QueryError, match="failed"):
        _lookup.search(compiled, DOC, "abs(compute)")


# --------------------------------------------------------------------------- facts documents

def test_facts_document_shapes():
    facts = {"is_azure": True, "compute": {"vmId": "a"}, "network": {"interface": []},
             "loadbalancer": {"found": True, "inboundRules": [1], "publicIpAddresses": [], "outboundRules": []},
             "scheduled_events": {"DocumentIncarnation": 1, "Events": []}}
    assert facts_document(facts, "instance") == ("ok", {"compute": {"vmId": "a"}, "network": {"interface": []}})
    assert facts_document(facts, "loadbalancer") == ("ok", {"inboundRules": [1], "publicIpAddresses": [], "outboundRules": []})
    assert facts_document(facts, "scheduledevents") == ("ok", {"DocumentIncarnation": 1, "Events": []})


def test_facts_document_states():
    assert facts_document(None, "instance") == ("absent", None)
    assert facts_document({}, "instance") == ("absent", None)
    assert facts_document({"is_azure": False, "compute": {}, "network": {}}, "instance") == ("not_azure", None)
    assert facts_document({"is_azure": True, "compute": {"a": "b"}}, "loadbalancer") == ("absent", None)
    assert facts_document({"is_azure": True, "compute": {"a": "b"}}, "scheduledevents") == ("absent", None)
    assert facts_document({"is_azure": True, "loadbalancer": {"found": False, "inboundRules": []}}, "loadbalancer") == ("none", None)
    # the raw IMDS shape is unwrapped too
    assert facts_document({"loadbalancer": {"loadbalancer": {"inboundRules": []}}}, "loadbalancer") == ("ok", {"inboundRules": []})


# --------------------------------------------------------------------------- user data handling

def test_strip_user_data():
    stripped, removed = strip_user_data(DOC)
    assert removed and "userData" not in stripped["compute"] and "userData" in DOC["compute"]
    assert stripped["compute"]["vmId"] == "id-1"
    assert strip_user_data({"loadbalancer": 1}) == ({"loadbalancer": 1}, False)
    assert strip_user_data(None) == (None, False)


@pytest.mark.parametrize("term, expected", [
    ("compute/userData", True),
    ("/instance/compute/userData", True),
    ("compute", False),
    ("/instance", False),
    ("compute/vmId", False),
    ("/loadbalancer", False),
])
def test_is_user_data(term, expected):
    assert is_user_data(parse_path(term)) is expected


def test_scrub_removes_jwt_shaped_text():
    token = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.c2lnbmF0dXJl"
    assert scrub("bad %s here" % token) == "bad <redacted> here"
    assert scrub("nothing") == "nothing"


# --------------------------------------------------------------------------- run cache

def test_run_cache_memory_only():
    cache = RunCache(None)
    calls = []
    value, how = cache.get(("k",), lambda: calls.append(1) or {"v": 1}, persist=True)
    assert (value, how) == ({"v": 1}, "fetched")
    assert cache.get(("k",), lambda: calls.append(1), persist=True) == ({"v": 1}, "memory")
    assert calls == [1]


def test_run_cache_files_are_private_and_shared(tmp_path):
    first = RunCache(str(tmp_path))
    first.get(("doc",), lambda: {"document": {"a": 1}, "complete": True}, persist=lambda entry: dict(entry, complete=False))
    files = [name for name in os.listdir(tmp_path) if name.endswith(".json")]
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(os.path.join(str(tmp_path), files[0])).st_mode) == 0o600
    second = RunCache(str(tmp_path))   # another worker of the same run
    value, how = second.get(("doc",), lambda: pytest.fail("fetched again"), persist=True)
    assert how == "run" and value == {"document": {"a": 1}, "complete": False}
    second.clear()
    assert not os.listdir(tmp_path)


def _child(directory, queue):
    cache = RunCache(directory)
    marker = os.path.join(directory, "fetches")

    def fetch():
        with open(marker, "a") as handle:
            handle.write("x")
        import time
        time.sleep(0.2)
        return {"pid": os.getpid()}

    value, _how = cache.get(("shared",), fetch, persist=True)
    queue.put(value["pid"])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_run_cache_single_flight_across_processes(tmp_path):
    """Eight concurrent workers, one fetch: everyone gets the fetcher's value."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(str(tmp_path), queue)) for _attempt in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    values = {queue.get(timeout=5) for _attempt in procs}
    assert len(values) == 1
    assert (tmp_path / "fetches").read_text() == "x"


def test_run_cache_dir_is_inside_the_runs_local_tmp(monkeypatch, tmp_path):
    from ansible import constants as C
    monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(tmp_path), raising=False)
    directory = _lookup.run_cache_dir()
    assert directory == os.path.join(str(tmp_path), "imds_azure_lookup")
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


# --------------------------------------------------------------------------- pacing

@pytest.mark.parametrize("directory", [False, True])
def test_rate_limiter_never_allows_more_than_rate_in_any_second(tmp_path, directory, fake_time):
    clock = fake_time
    limiter = RateLimiter(str(tmp_path) if directory else None, sleep=clock.sleep, clock=clock.clock)
    stamps = []
    for _attempt in range(23):
        limiter.acquire("bucket", 5)
        stamps.append(clock.now)
    for index in range(len(stamps) - 5):
        assert stamps[index + 5] - stamps[index] >= 1.0 + 0.2   # IMDS's second plus a margin for jitter
    assert clock.sleeps and 4.5 < clock.now - 1000.0 < 6.0


def test_rate_limiter_gives_up_after_max_wait(tmp_path, fake_time):
    limiter = RateLimiter(str(tmp_path), sleep=fake_time.sleep, clock=fake_time.clock)
    for _slot in range(5):
        assert limiter.acquire("bucket", 5, max_wait=0) == 0.0
    assert limiter.acquire("bucket", 5, max_wait=1.0) is None     # the next slot frees up 1.25 s from now
    assert fake_time.sleeps == []
    assert limiter.acquire("bucket", 5, max_wait=2.0) == pytest.approx(1.255)


def test_rate_limiter_buckets_are_independent(fake_time):
    clock = fake_time
    limiter = RateLimiter(None, sleep=clock.sleep, clock=clock.clock)
    for _attempt in range(5):
        limiter.acquire("a", 5)
        limiter.acquire("b", 5)
    assert clock.sleeps == []
    assert limiter.acquire("a", 0) == 0.0


# --------------------------------------------------------------------------- token helpers

def test_identity_selector():
    assert _token.identity_selector({}) == (None, None)
    assert _token.identity_selector({"client_id": "abc", "object_id": None}) == ("client_id", "abc")
    assert _token.identity_selector({"msi_res_id": "/subscriptions/x"}) == ("msi_res_id", "/subscriptions/x")
    with pytest.raises(TokenError, match="mutually exclusive; got client_id, object_id"):
        _token.identity_selector({"client_id": "a", "object_id": "b"})
    with pytest.raises(TokenError, match="plain string"):
        _token.identity_selector({"client_id": "a\nb"})


def test_describe_identity():
    assert _token.describe_identity(None, None) == "the system-assigned managed identity"
    assert "client_id 'abc'" in _token.describe_identity("client_id", "abc")


@pytest.mark.parametrize("resource", ["", "  ", None, " https://x", "https://x\r\n"])
def test_check_resource_refuses(resource):
    with pytest.raises(TokenError):
        _token.check_resource(resource)


def test_normalize_record_numbers_and_errors():
    record = _token.normalize_record({"access_token": "t", "expires_on": "1700000000", "expires_in": "3599",
                                      "ext_expires_in": "3599", "not_before": "1699996400", "token_type": "Bearer"})
    assert record["expires_on"] == 1700000000 and record["expires_in"] == 3599 and record["not_before"] == 1699996400
    assert record["token_type"] == "Bearer"
    with pytest.raises(TokenError) as info:
        _token.normalize_record({"token": "secret-value"})
    assert "secret-value" not in str(info.value)
    with pytest.raises(TokenError):
        _token.normalize_record(["x"])


def test_token_cache_refreshes_before_expiry(fake_time):
    clock = fake_time
    cache = TokenCache(clock=clock.clock)
    assert cache.put("k", {"access_token": "t", "expires_on": int(clock.now) + 3600})
    clock.now += 3600 - 301
    assert cache.get("k")["access_token"] == "t"
    clock.now += 2
    assert cache.get("k") is None
    # short-lived tokens: refreshed after half their lifetime
    assert cache.put("s", {"access_token": "t", "expires_on": int(clock.now) + 100})
    clock.now += 49
    assert cache.get("s") is not None
    clock.now += 2
    assert cache.get("s") is None
    assert not cache.put("x", {"access_token": "t", "expires_on": int(clock.now) - 1})
    assert not cache.put("y", {"access_token": "t"})


def test_parsed_path_repr():
    assert repr(ParsedPath("instance", ["a"], "a")) == "ParsedPath('instance', ('a',))"
