# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Group names of the placement inventory."""

from __future__ import annotations

from ansible_collections.imds.azure.plugins.module_utils._placement import PLACEMENT_KEYS
from ansible_collections.imds.azure.plugins.plugin_utils import _groups


def test_groups_zero_and_empty_values():
    placement = dict.fromkeys(PLACEMENT_KEYS, "")
    placement.update(fault_domain="0", update_domain="0", location="westeurope", priority="Spot")
    pairs = _groups.host_groups(placement, {}, "azure_")
    assert ("azure_fault_domains", "azure_fault_domain_0") in pairs
    assert ("azure_update_domains", "azure_update_domain_0") in pairs
    assert ("azure_zones", "azure_zone_none") in pairs
    assert ("azure_scale_sets", "azure_scale_set_none") in pairs
    assert ("azure_priorities", "azure_priority_Spot") in pairs
    assert ("azure_locations", "azure_location_westeurope") in pairs


def test_tag_groups_are_sanitised():
    tags = {"cost center": "cc:1234;shared", "empty": "", "ville": "Zürich", "x": "{{ lookup('pipe', 'id') }}"}
    pairs = _groups.host_groups(dict.fromkeys(PLACEMENT_KEYS, ""), tags, "azure_", ["tags"])
    assert ("azure_tags", "azure_tag_cost_center") in pairs
    assert ("azure_tag_cost_center", "azure_tag_cost_center_cc_1234_shared") in pairs
    assert ("azure_tags", "azure_tag_empty") in pairs
    assert not [pair for pair in pairs if pair[0] == "azure_tag_empty"]  # no value group for ""
    assert ("azure_tag_ville", "azure_tag_ville_Zürich") in pairs  # Unicode letters are valid
    assert ("azure_tag_x", "azure_tag_x____lookup__pipe____id_____") in pairs


def test_empty_prefix_cannot_start_with_a_digit():
    assert _groups.safe_group_name("1abc") == "_abc"
    pairs = _groups.host_groups({"zone": "1"}, {}, "", ["zone"])
    assert pairs == [("zones", "zone_1")]


def test_natural_key_puts_numbers_in_numeric_order():
    names = ["azure_fault_domain_10", "azure_fault_domain_none", "azure_fault_domain_2", "azure_fault_domain_0", "azure_fault_domain_1"]
    assert sorted(names, key=_groups.natural_key) == [
        "azure_fault_domain_0", "azure_fault_domain_1", "azure_fault_domain_2", "azure_fault_domain_10", "azure_fault_domain_none"]
    assert sorted(["a7", "a07", "7a", "a", "b1c2", "b1c10"], key=_groups.natural_key) == ["7a", "a", "a07", "a7", "b1c2", "b1c10"]
