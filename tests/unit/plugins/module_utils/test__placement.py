# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The placement and tags model: built from compute (the facts), read back from a fact (inventory, spread)."""

from __future__ import annotations

import pytest

from ansible_collections.imds.azure.plugins.module_utils import _placement as p
from ansible_collections.imds.azure.plugins.module_utils._placement import from_compute
from ansible_collections.imds.azure.plugins.module_utils._shape import ShapeError

FLEX = {"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachineScaleSets/flex1"}


# --------------------------------------------------------------------------- from compute (the facts)

def test_placement_from_compute():
    placement, tags = from_compute({
        "location": "westus", "zone": "3", "platformFaultDomain": "1", "platformUpdateDomain": 4, "platformSubFaultDomain": "",
        "vmScaleSetName": "", "virtualMachineScaleSet": FLEX, "placementGroupId": "pg", "vmSize": "Standard_A3", "Priority": "Spot",
    })
    assert placement == {"location": "westus", "zone": "3", "fault_domain": "1", "update_domain": "4", "sub_fault_domain": "",
                         "scale_set": "flex1", "placement_group": "pg", "vm_size": "Standard_A3", "priority": "Spot"}
    assert tags == {}
    empty = from_compute({})[0]
    assert empty == p.EMPTY_PLACEMENT and set(empty) == set(p.PLACEMENT_KEYS) and set(empty.values()) == {""}


def test_tags_prefer_tags_list():
    compute = {"tags": "a:1;b:2", "tagsList": [{"name": "a", "value": "x;y:z"}, {"name": "n", "value": ""}]}
    assert from_compute(compute)[1] == {"a": "x;y:z", "n": ""}
    assert from_compute({"tags": "a:1;b:2", "tagsList": []})[1] == {}


# --------------------------------------------------------------------------- from an azure_imds fact

def test_the_summary_and_compute_must_agree():
    # The summary is what the module made of compute: a summary that says otherwise was changed afterwards.
    with pytest.raises(ShapeError, match=r"placement.fault_domain is '0', but compute says '2'"):
        p.normalize({"placement": {"fault_domain": "0"}, "compute": {"platformFaultDomain": "2"}})
    with pytest.raises(ShapeError, match="tags differ from the tags in compute"):
        p.normalize({"tags": {"a": "1"}, "compute": {"tagsList": [{"name": "a", "value": "2"}]}})
    # keys the summary lacks come from compute; keys compute lacks are the summary's
    placement, _tags = p.normalize({"placement": {"fault_domain": "0", "zone": ""}, "compute": {"location": "westeurope"}})
    assert placement["fault_domain"] == "0" and placement["zone"] == "" and placement["location"] == "westeurope"
    assert p.normalize({"compute": {"platformFaultDomain": 0, "platformUpdateDomain": 3}})[0]["fault_domain"] == "0"


def test_tags_from_fact_or_tags_list():
    assert p.normalize({"tags": {"a": "1"}})[1] == {"a": "1"}
    assert p.normalize({"compute": {"tagsList": [{"name": "k", "value": "v:1;2"}]}})[1] == {"k": "v:1;2"}
    assert p.normalize({})[1] == {}


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
    # only true is Azure: anything else is not evidence of a VM
    assert p.missing_reason({"is_azure": "yes", "compute": {"vmId": "x"}}) == "is_azure is a string, not true"
    assert p.missing_reason({"compute": {"vmId": "x"}}) == "is_azure is null, not true"


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
    compute = {"location": "westus", "platformFaultDomain": 1, "vmScaleSetName": "", "Priority": "Spot", "virtualMachineScaleSet": FLEX,
               "tags": "env:prod;team:a"}
    placement, tags = p.normalize({"is_azure": True, "compute": compute})
    assert (placement, tags) == from_compute(compute)
    assert placement["priority"] == "Spot" and placement["scale_set"] == "flex1"
    assert tags == {"env": "prod", "team": "a"}
    # Each key the summary holds must agree with compute; only the missing ones come from compute.
    assert p.normalize({"placement": {"scale_set": "flex1"}, "compute": compute})[0]["priority"] == "Spot"
    for summary in ({"scale_set": ""}, {"priority": None}):
        with pytest.raises(ShapeError):
            p.normalize({"placement": summary, "compute": compute})


def _fact(**compute):
    return {"is_azure": True, "compute": dict({"location": "westus", "platformFaultDomain": "1"}, **compute)}


@pytest.mark.parametrize("imds, reason", [
    (_fact(platformFaultDomain=[0, 1]), "azure_imds does not hold what IMDS sends: compute.platformFaultDomain is an array, not a whole"),
    (_fact(zone=["1"]), "compute.zone is an array, not an availability zone"),
    (dict(_fact(), placement={"fault_domain": float("nan")}), "placement.fault_domain is a number with a fraction"),
    (_fact(platformFaultDomain=""), "the placement has no fault_domain"),
    ({"is_azure": True, "placement": {"zone": "1"}}, "the placement has no fault_domain"),
    (_fact(tagsList=[{"value": "x"}]), "compute.tagsList[0] has null as its name"),
    (_fact(tagsList=[{"name": "env", "value": "a"}, {"name": "Env", "value": "b"}]), "names tag 'Env' twice"),
])
def test_read_fact_refuses_with_the_reason(imds, reason):
    placement, tags, why = p.read_fact(imds)
    assert placement is None and tags is None and reason in why


def test_read_fact_places_what_the_module_made():
    compute = {"location": "EastUS", "zone": "2", "platformFaultDomain": "0", "tagsList": [{"name": "env", "value": "prod"}]}
    placement, tags = from_compute(compute)
    assert placement["location"] == "eastus"   # Azure region names carry no case: one spelling
    assert p.read_fact({"is_azure": True, "compute": compute, "placement": placement, "tags": tags}) == (placement, tags, None)


def test_check_placement_gives_one_form_or_refuses():
    assert p.check_placement({"fault_domain": 0, "zone": 2, "location": "WestEurope"}) == dict(
        p.EMPTY_PLACEMENT, fault_domain="0", zone="2", location="westeurope")
    for bad in ({"fault_domain": 0.0}, {"fault_domain": " 0"}, {"fault_domain": "00"}, {"zone": "0"}, {"location": "west europe"}, []):
        with pytest.raises(ShapeError):
            p.check_placement(bad)
