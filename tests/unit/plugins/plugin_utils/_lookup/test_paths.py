# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metadata lookup's paths: parsing and walking, JMESPath, facts documents, the user data path."""

from __future__ import annotations

import sys

import pytest

from ansible_collections.imds.azure.plugins.module_utils._shape import ShapeError
from ansible_collections.imds.azure.plugins.plugin_utils._lookup import paths as _lookup_paths
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.paths import (
    LookupPathError, MissingPathError, ParsedPath, QueryError, compile_query, facts_document, is_user_data, parse_path, walk,
)

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


def test_parsed_path_repr():
    assert repr(ParsedPath("instance", ["a"])) == "ParsedPath('instance', ('a',))"


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
    assert _lookup_paths.search(compiled, DOC, "x") == ["10.0.0.4"]


@pytest.mark.parametrize("expression", ["network.interface[", "[?name=='a'", "foo bar", "a.`x"])
def test_compile_query_refuses_bad_expressions(expression):
    with pytest.raises(QueryError, match="invalid JMESPath expression"):
        compile_query(expression)


@pytest.mark.parametrize("expression", ["", "   ", None, 5])
def test_compile_query_refuses_empty(expression):
    with pytest.raises(QueryError, match="non-empty JMESPath"):
        compile_query(expression)


def test_missing_jmespath_says_how_to_install(monkeypatch):
    monkeypatch.setattr(_lookup_paths, "_JMESPATH", None)
    monkeypatch.setitem(sys.modules, "jmespath", None)   # import jmespath -> ImportError
    with pytest.raises(QueryError) as info:
        compile_query("compute.vmId")
    assert "pip install jmespath" in str(info.value)
    assert "controller" in str(info.value)


def test_search_runtime_error_is_a_query_error():
    compiled = compile_query("abs(compute)")
    with pytest.raises(QueryError, match="failed"):
        _lookup_paths.search(compiled, DOC, "abs(compute)")


# --------------------------------------------------------------------------- facts documents

def test_facts_document_shapes():
    facts = {"is_azure": True, "compute": {"vmId": "a"}, "network": {"interface": []},
             "loadbalancer": {"found": True, "inboundRules": [{"frontendPort": 80}], "publicIpAddresses": [], "outboundRules": []},
             "scheduled_events": {"DocumentIncarnation": 1, "Events": []}}
    assert facts_document(facts, "instance") == ("ok", {"compute": {"vmId": "a"}, "network": {"interface": []}})
    assert facts_document(facts, "loadbalancer") == ("ok", {"inboundRules": [{"frontendPort": 80}], "publicIpAddresses": [], "outboundRules": []})
    assert facts_document(facts, "scheduledevents") == ("ok", {"DocumentIncarnation": 1, "Events": []})
    # the rules of a live answer (plugins/module_utils/_shape.py): facts changed after they were gathered are refused
    for category, changed, message in [("instance", {"compute": {"zone": [1]}}, "compute.zone is an array"),
                                       ("loadbalancer", {"loadbalancer": {"found": True, "inboundRules": [1]}}, r"loadbalancer.inboundRules\[0\] is a number"),
                                       ("scheduledevents", {"scheduled_events": {"Events": []}}, "DocumentIncarnation is not an integer")]:
        with pytest.raises(ShapeError, match=message):
            facts_document(dict(facts, **changed), category)


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
