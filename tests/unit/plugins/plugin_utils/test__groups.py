# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Group names of the placement inventory."""

from __future__ import annotations

import pytest

from hypothesis import given, settings, strategies as st

from ansible_collections.imds.azure.plugins.module_utils._placement import PLACEMENT_KEYS
from ansible_collections.imds.azure.plugins.plugin_utils import _groups


def pairs(placement, tags, prefix="azure_", dimensions=_groups.DIMENSION_ORDER):
    return [(parent, group) for parent, group, _meaning in _groups.host_groups(placement, tags, prefix, dimensions)]


def test_groups_zero_and_empty_values():
    placement = dict.fromkeys(PLACEMENT_KEYS, "")
    placement.update(fault_domain="0", update_domain="0", location="westeurope", priority="Spot")
    found = pairs(placement, {})
    assert ("azure_fault_domains", "azure_fault_domain_0") in found
    assert ("azure_update_domains", "azure_update_domain_0") in found
    assert ("azure_zones", "azure_zone_none") in found
    assert ("azure_scale_sets", "azure_scale_set_none") in found
    assert ("azure_priorities", "azure_priority_Spot") in found
    assert ("azure_locations", "azure_location_westeurope") in found


def test_tag_groups_are_sanitised():
    tags = {"cost center": "cc:1234;shared", "empty": "", "ville": "Zürich", "x": "{{ lookup('pipe', 'id') }}"}
    found = pairs(dict.fromkeys(PLACEMENT_KEYS, ""), tags, "azure_", ["tags"])
    assert ("azure_tags", "azure_tag_cost_center") in found
    assert ("azure_tag_cost_center", "azure_tag_cost_center_cc_1234_shared") in found
    assert ("azure_tags", "azure_tag_empty") in found
    assert not [pair for pair in found if pair[0] == "azure_tag_empty"]  # no value group for ""
    assert ("azure_tag_ville", "azure_tag_ville_Zürich") in found  # Unicode letters are valid
    assert ("azure_tag_x", "azure_tag_x____lookup__pipe____id_____") in found


def test_empty_prefix_cannot_start_with_a_digit():
    assert _groups.safe_group_name("1abc") == "_abc"
    assert _groups.host_groups({"zone": "1"}, {}, "", ["zone"]) == [("zones", "zone_1", ("zone", "1"))]


@pytest.mark.parametrize("hosts, group", [
    ({"a": {"x": "y"}, "b": {"x_y": ""}}, "azure_tag_x_y"),                          # a value group and a name group
    ({"a": {"tier": "db-primary"}, "b": {"tier": "db.primary"}}, "azure_tag_tier_db_primary"),
    ({"a": {"env_prod": "false"}, "b": {"env": "prod"}}, "azure_tag_env_prod"),
    ({"a": {"x": "y", "x_y": ""}}, "azure_tag_x_y"),                                 # one host is enough
])
def test_every_name_that_stands_for_two_values_is_found(hosts, group):
    plan = _groups.GroupPlan("azure_", ["tags"])
    for host, tags in hosts.items():
        plan.add(host, {}, tags)
    ambiguous = plan.ambiguous()
    assert list(ambiguous) == [group]
    warning = plan.warning(ambiguous)
    assert warning.startswith("1 group name(s) would hold hosts of different values, so they are not created") and group in warning


def test_an_empty_scale_set_and_one_named_none_are_two_values():
    plan = _groups.GroupPlan("azure_", ["scale_set"])
    plan.add("a", {"scale_set": ""}, {})
    plan.add("b", {"scale_set": "none"}, {})
    assert list(plan.ambiguous()) == ["azure_scale_set_none"]


SEPARATORS = st.text(st.sampled_from("ab_-. "), min_size=1, max_size=4)


@settings(max_examples=max(settings.default.max_examples // 4, 10))   # small alphabets: few examples cover them
@given(hosts=st.lists(st.tuples(st.dictionaries(SEPARATORS, st.one_of(st.just(""), SEPARATORS), max_size=3), SEPARATORS), max_size=6))
def test_a_group_that_is_created_means_one_value(hosts):
    """Tags and scale sets made of letters and the characters sanitising merges: any two hosts that share a group
    the plan keeps have the same value for it."""
    plan = _groups.GroupPlan("azure_", ["scale_set", "tags"])
    for index, (tags, scale_set) in enumerate(hosts):
        plan.add("h%d" % index, {"scale_set": scale_set}, tags)
    ambiguous = plan.ambiguous()
    meaning_of = {}
    for index, (tags, scale_set) in enumerate(hosts):
        for _parent, group, meaning in _groups.host_groups({"scale_set": scale_set}, tags, "azure_", ["scale_set", "tags"]):
            assert ("h%d" % index) in plan.members[group]
            if group not in ambiguous:
                assert meaning_of.setdefault(group, meaning) == meaning, group


@pytest.mark.parametrize("name, prefix, reason", [
    ("all", "azure_", "the name of the group all"),
    ("ungrouped", "azure_", "the name of the group ungrouped"),
    ("web", "azure_", "the name of the group web"),                 # a group of an earlier source
    ("azure_no_imds", "azure_", "a name of the form of the groups"),
    ("azure_fault_domain_7", "azure_", "a name of the form of the groups"),
    ("azure_fault_domains", "azure_", "a name of the form of the groups"),
    ("azure_tag_anything", "azure_", "a name of the form of the groups"),
    ("azure_tags", "azure_", "a name of the form of the groups"),
    ("zone_1", "", "a name of the form of the groups"),
    ("", "azure_", "an empty host name"),
])
def test_host_names_that_are_group_names_are_reserved(name, prefix, reason):
    assert reason in _groups.reserved_host_name(name, prefix, {"all", "ungrouped", "web"})


@pytest.mark.parametrize("name, prefix", [("vm-01", "azure_"), ("azure-vm-1", "azure_"), ("azure_fault_domain-0", "azure_"),
                                          ("zone_1", "azure_"), ("db.example.com", "")])
def test_other_host_names_are_fine(name, prefix):
    assert _groups.reserved_host_name(name, prefix, {"all", "ungrouped", "web"}) is None


def test_natural_key_puts_numbers_in_numeric_order():
    names = ["azure_fault_domain_10", "azure_fault_domain_none", "azure_fault_domain_2", "azure_fault_domain_0", "azure_fault_domain_1"]
    assert sorted(names, key=_groups.natural_key) == [
        "azure_fault_domain_0", "azure_fault_domain_1", "azure_fault_domain_2", "azure_fault_domain_10", "azure_fault_domain_none"]
    assert sorted(["a7", "a07", "7a", "a", "b1c2", "b1c10"], key=_groups.natural_key) == ["7a", "a", "a07", "a7", "b1c2", "b1c10"]
