# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The placement and tags model: built from compute (the facts), read back from a fact (inventory, spread)."""

from __future__ import annotations

import pytest

from ansible_collections.imds.azure.plugins.module_utils import _placement as p
from ansible_collections.imds.azure.plugins.module_utils._placement import build_placement, build_tags, parse_tags_string


# --------------------------------------------------------------------------- from compute (the facts)

def test_placement_from_compute():
    placement = build_placement({
        "location": "westus", "zone": "3", "platformFaultDomain": "1", "platformUpdateDomain": 4, "platformSubFaultDomain": "",
        "vmScaleSetName": "", "virtualMachineScaleSet": {"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachineScaleSets/flex1"},
        "placementGroupId": "pg", "vmSize": "Standard_A3", "Priority": "Spot",
    })
    assert placement == {"location": "westus", "zone": "3", "fault_domain": "1", "update_domain": "4", "sub_fault_domain": "",
                         "scale_set": "flex1", "placement_group": "pg", "vm_size": "Standard_A3", "priority": "Spot"}
    empty = build_placement({})
    assert set(empty) == {"location", "zone", "fault_domain", "update_domain", "sub_fault_domain", "scale_set", "placement_group",
                          "vm_size", "priority"}
    assert set(empty.values()) == {""}


def test_tags_prefer_tags_list():
    compute = {"tags": "a:1;b:2", "tagsList": [{"name": "a", "value": "x;y:z"}, {"name": "n", "value": ""}]}
    assert build_tags(compute) == {"a": "x;y:z", "n": ""}
    assert build_tags({"tags": "a:1;b:2", "tagsList": []}) == {}


@pytest.mark.parametrize("text, expected", [
    ("", {}),
    ("Department:IT;ReferenceNumber:123456;TestStatus:Pending", {"Department": "IT", "ReferenceNumber": "123456", "TestStatus": "Pending"}),
    ("url:http://x;y", {"url": "http://x;y"}),
    ("note:a;b;c;env:prod", {"note": "a;b;c", "env": "prod"}),
    ("lonely", {"lonely": ""}),
])
def test_parse_tags_string(text, expected):
    assert parse_tags_string(text) == expected


def test_parse_tags_string_is_ambiguous_by_design():
    # "cost center" = "cc:1234;shared" cannot be told apart from two tags: documented limitation.
    assert parse_tags_string("cost center:cc:1234;shared:x") == {"cost center": "cc:1234", "shared": "x"}


# --------------------------------------------------------------------------- from an azure_imds fact

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


def test_not_gathered_is_not_a_placement():
    placement = dict.fromkeys(p.PLACEMENT_KEYS, "")
    # a gather without the instance subset, and the empty placement older module versions stored for one
    for imds in ({"is_azure": True, "scheduled_events": {"Events": []}}, {"is_azure": True, "compute": {}, "placement": placement},
                 {"is_azure": True, "placement": {}}):
        assert p.missing_reason(imds) == p.NOT_GATHERED
    assert p.missing_reason({"is_azure": True, "compute": {}, "placement": dict(placement, fault_domain="0")}) is None
    assert p.missing_reason({"is_azure": True, "compute": {"vmId": "x"}}) is None


def test_fallback_to_compute_follows_the_facts_rules():
    # Facts without the placement summary (hand-written, or kept from elsewhere): the fallback reads compute
    # by the rules of the placement fact, the capitalised "Priority" and the flexible scale set included.
    compute = {"location": "westus", "platformFaultDomain": 1, "vmScaleSetName": "", "Priority": "Spot",
               "virtualMachineScaleSet": {"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachineScaleSets/flex1"},
               "tags": "env:prod;team:a"}
    placement = p.normalize_placement({"is_azure": True, "compute": compute})
    assert placement == build_placement(compute)
    assert placement["priority"] == "Spot"
    assert placement["scale_set"] == "flex1"
    assert p.normalize_tags({"is_azure": True, "compute": compute}) == build_tags(compute) == {"env": "prod", "team": "a"}
    # Each key the summary holds wins; only the missing ones come from compute.
    assert p.normalize_placement({"placement": {"scale_set": "", "priority": None}, "compute": compute})["scale_set"] == ""
    assert p.normalize_placement({"placement": {"scale_set": ""}, "compute": compute})["priority"] == "Spot"
