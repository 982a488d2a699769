# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grouping rules of the placement inventory."""

from __future__ import annotations

from ansible_collections.imds.azure.plugins.plugin_utils import _placement as p


def test_placement_from_summary_and_from_compute():
    imds = {"placement": {"fault_domain": "0", "zone": ""}, "compute": {"location": "westeurope", "platformFaultDomain": "2"}}
    placement = p.normalize_placement(imds)
    assert placement["fault_domain"] == "0"  # the summary wins, and 0 stays "0"
    assert placement["zone"] == ""
    assert placement["location"] == "westeurope"  # filled from compute when the summary lacks it
    assert set(placement) == set(p.PLACEMENT_KEYS)
    assert p.normalize_placement({"compute": {"platformFaultDomain": 0, "platformUpdateDomain": 3}})["fault_domain"] == "0"


def test_tags_from_fact_or_tags_list():
    assert p.normalize_tags({"tags": {"a": "1"}}) == {"a": "1"}
    assert p.normalize_tags({"compute": {"tagsList": [{"name": "k", "value": "v:1;2"}]}}) == {"k": "v:1;2"}
    assert p.normalize_tags({}) == {}


def test_find_imds_facts_in_every_layout():
    imds = {"is_azure": True}
    assert p.find_imds_facts({"azure_imds": imds}) is imds
    assert p.find_imds_facts({"ansible_azure_imds": imds}) is imds
    assert p.find_imds_facts({"ansible_facts": {"azure_imds": imds}, "changed": False}) is imds
    assert p.find_imds_facts({"ansible_facts": {}}) is None
    assert p.find_imds_facts("nope") is None


def test_missing_reasons():
    assert p.missing_reason(None) == "no azure_imds facts"
    assert p.missing_reason({"is_azure": False}) == "is_azure is false"
    assert p.missing_reason({"is_azure": True}) == p.NOT_GATHERED


def test_groups_zero_and_empty_values():
    placement = dict.fromkeys(p.PLACEMENT_KEYS, "")
    placement.update(fault_domain="0", update_domain="0", location="westeurope", priority="Spot")
    pairs = p.host_groups(placement, {}, "azure_")
    assert ("azure_fault_domains", "azure_fault_domain_0") in pairs
    assert ("azure_update_domains", "azure_update_domain_0") in pairs
    assert ("azure_zones", "azure_zone_none") in pairs
    assert ("azure_scale_sets", "azure_scale_set_none") in pairs
    assert ("azure_priorities", "azure_priority_Spot") in pairs
    assert ("azure_locations", "azure_location_westeurope") in pairs


def test_tag_groups_are_sanitised():
    tags = {"cost center": "cc:1234;shared", "empty": "", "ville": "Zürich", "x": "{{ lookup('pipe', 'id') }}"}
    pairs = p.host_groups(dict.fromkeys(p.PLACEMENT_KEYS, ""), tags, "azure_", ["tags"])
    assert ("azure_tags", "azure_tag_cost_center") in pairs
    assert ("azure_tag_cost_center", "azure_tag_cost_center_cc_1234_shared") in pairs
    assert ("azure_tags", "azure_tag_empty") in pairs
    assert not [pair for pair in pairs if pair[0] == "azure_tag_empty"]  # no value group for ""
    assert ("azure_tag_ville", "azure_tag_ville_Zürich") in pairs  # Unicode letters are valid
    assert ("azure_tag_x", "azure_tag_x____lookup__pipe____id_____") in pairs


def test_empty_prefix_cannot_start_with_a_digit():
    assert p.safe_group_name("1abc") == "_abc"
    pairs = p.host_groups({"zone": "1"}, {}, "", ["zone"])
    assert pairs == [("zones", "zone_1")]


def test_not_gathered_is_not_a_placement():
    placement = dict.fromkeys(p.PLACEMENT_KEYS, "")
    # a gather without the instance subset, and the empty placement older module versions stored for one
    for imds in ({"is_azure": True, "scheduled_events": {"Events": []}}, {"is_azure": True, "compute": {}, "placement": placement},
                 {"is_azure": True, "placement": {}}):
        assert p.missing_reason(imds) == p.NOT_GATHERED
    assert p.missing_reason({"is_azure": True, "compute": {}, "placement": dict(placement, fault_domain="0")}) is None
    assert p.missing_reason({"is_azure": True, "compute": {"vmId": "x"}}) is None
