# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.spread filter."""

from __future__ import annotations

import itertools
import random

import pytest

from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader
from ansible.template import Templar

from ansible_collections.imds.azure.plugins.filter.spread import spread

try:  # ansible-core >= 2.19: only trusted strings are templates
    from ansible.template import trust_as_template
except ImportError:
    def trust_as_template(value):
        return value


def hv(spec):
    """hostvars from {name: (zone, fd[, ud])}"""
    out = {}
    for name, values in spec.items():
        zone, fd = values[0], values[1]
        ud = values[2] if len(values) > 2 else "0"
        out[name] = {"azure_placement": {"location": "westeurope", "zone": zone, "fault_domain": fd, "update_domain": ud}}
    return out


def cover(picks, hostvars, *levels):
    return len({tuple(hostvars[h]["azure_placement"][level] for level in levels) for h in picks})


def test_three_fault_domains_regional():
    hostvars = hv({"a": ("", "0"), "b": ("", "0"), "c": ("", "1"), "d": ("", "1"), "e": ("", "2")})
    picks = spread(sorted(hostvars), 3, hostvars)
    assert cover(picks, hostvars, "fault_domain") == 3
    assert picks == ["a", "c", "e"]


def test_fault_domain_zero_counts():
    hostvars = hv({"a": ("", "1"), "b": ("", "1"), "z": ("", "0")})
    assert sorted(spread(["a", "b", "z"], 2, hostvars)) == ["a", "z"]


def test_zones_first_then_fault_domains():
    hostvars = hv({"a1": ("1", "0"), "a2": ("1", "1"), "a3": ("1", "2"), "b1": ("2", "0"), "c1": ("3", "0")})
    picks = spread(list(hostvars), 3, hostvars)
    assert cover(picks, hostvars, "zone") == 3
    picks = spread(list(hostvars), 5, hostvars)
    assert sorted(picks) == sorted(hostvars)


def test_zone_balance_and_fault_domains_within_zones():
    hostvars = hv({"%s%d" % (z, i): (z, str(i % 3)) for z in "12" for i in range(6)})
    picks = spread(list(hostvars), 4, hostvars)
    zones = [hostvars[h]["azure_placement"]["zone"] for h in picks]
    assert zones.count("1") == 2 and zones.count("2") == 2
    assert cover(picks, hostvars, "zone", "fault_domain") == 4
    six = spread(list(hostvars), 6, hostvars)
    assert cover(six, hostvars, "zone", "fault_domain") == 6


def test_fault_domain_is_scoped_by_zone():
    """fd 0 in zone 1 and fd 0 in zone 2 are different racks: both are used before repeating."""
    hostvars = hv({"x": ("1", "0"), "y": ("2", "0"), "x2": ("1", "0")})
    assert sorted(spread(["x", "x2", "y"], 2, hostvars)) == ["x", "y"]


@pytest.mark.parametrize("seed", range(20))
def test_distinct_coverage_is_maximal_and_order_independent(seed):
    rng = random.Random(seed)
    hostvars = hv({"h%02d" % i: (rng.choice(["", "1", "2", "3"]), str(rng.randrange(3)), str(rng.randrange(5))) for i in range(rng.randrange(1, 25))})
    names = list(hostvars)
    for count in range(len(names) + 1):
        picks = spread(names, count, hostvars)
        assert len(picks) == count == len(set(picks))
        zones = {hostvars[h]["azure_placement"]["zone"] for h in names}
        assert cover(picks, hostvars, "zone") == min(count, len(zones))
        shuffled = names[:]
        rng.shuffle(shuffled)
        assert spread(shuffled, count, hostvars) == picks


def test_coverage_matches_brute_force_for_zones():
    hostvars = hv({"a": ("1", "0"), "b": ("1", "1"), "c": ("2", "0"), "d": ("3", "2"), "e": ("3", "2"), "f": ("", "1")})
    names = sorted(hostvars)
    for count in range(1, len(names) + 1):
        best = max(cover(combo, hostvars, "zone") for combo in itertools.combinations(names, count))
        assert cover(spread(names, count, hostvars), hostvars, "zone") == best


def test_placement_sources_in_hostvars():
    hostvars = {
        "inv": {"azure_placement": {"fault_domain": "0"}},
        "facts": {"ansible_facts": {"azure_imds": {"is_azure": True, "placement": {"fault_domain": "1"}}}},
        "injected": {"azure_imds": {"is_azure": True, "placement": {"fault_domain": "2"}}},
    }
    assert sorted(spread(["inv", "facts", "injected"], 3, hostvars)) == ["facts", "injected", "inv"]
    assert len({*spread(["inv", "facts", "injected"], 3, hostvars)}) == 3


def test_dict_input_returns_dicts():
    nodes = [{"name": "a", "placement": {"zone": "1", "fault_domain": "0"}},
             {"name": "b", "placement": {"zone": "1", "fault_domain": "1"}},
             {"inventory_hostname": "c", "azure_placement": {"zone": "2", "fault_domain": "0"}}]
    picks = spread(nodes, 2)
    assert picks[0] is nodes[0] and picks[1] is nodes[2]


def test_by_levels():
    hostvars = hv({"a": ("1", "0", "0"), "b": ("1", "1", "1"), "c": ("2", "0", "0")})
    assert spread(["a", "b", "c"], 2, hostvars, by=["update_domain"]) == ["a", "b"]
    assert spread(["a", "b", "c"], 2, hostvars, by=["zone"]) == ["a", "c"]


@pytest.mark.parametrize("args,kwargs,message", [
    ((["a", "b"], 3), {}, "cannot pick 3 hosts from 2"),
    ((["a"], -1), {}, "must not be negative"),
    ((["a"], "x"), {}, "count must be an integer"),
    (("a", 1), {}, "expected a list"),
    ((["a", "a"], 1), {}, "more than once"),
    ((["a"], 1), {"by": ["rack"]}, "'by' must be"),
    (([{"zone": "1"}], 1), {}, "without 'name'"),
    (([1], 1), {}, "expected a hostname or a dict"),
])
def test_errors(args, kwargs, message):
    hostvars = hv({"a": ("1", "0"), "b": ("1", "1")})
    with pytest.raises(AnsibleFilterError, match=message):
        spread(*args, hostvars=hostvars, **kwargs) if len(args) == 2 else spread(*args, **kwargs)


def test_names_without_hostvars():
    with pytest.raises(AnsibleFilterError, match="pass hostvars"):
        spread(["a"], 1)


def test_missing_placement():
    hostvars = hv({"a": ("1", "0"), "b": ("2", "0")})
    hostvars["nofacts"] = {}
    with pytest.raises(AnsibleFilterError, match="no placement for nofacts, unknown"):
        spread(["a", "nofacts", "unknown", "b"], 1, hostvars)
    assert spread(["nofacts", "a", "b"], 2, hostvars, allow_missing=True) == ["a", "b"]
    assert spread(["nofacts", "a", "b"], 3, hostvars, allow_missing=True)[-1] == "nofacts"


def test_through_jinja_with_fqcn():
    hostvars = hv({"a": ("1", "0"), "b": ("1", "0"), "c": ("2", "1")})
    templar = Templar(loader=DataLoader(), variables={"hosts": ["a", "b", "c"], "hv": hostvars})
    result = templar.template(trust_as_template("{{ hosts | imds.azure.spread(2, hv) }}"))
    assert list(result) == ["a", "c"]
    assert filter_loader.get("imds.azure.spread") is not None


def _facts_of(**imds):
    return {"ansible_facts": {"azure_imds": dict({"is_azure": True, "endpoint": "http://169.254.169.254"}, **imds)}}


def test_facts_without_instance_metadata_are_not_a_placement():
    hostvars = hv({"a": ("1", "0"), "b": ("2", "0")})
    placement = {"location": "westeurope", "zone": "3", "fault_domain": "1", "update_domain": "0"}
    hostvars.update({
        "gathered": _facts_of(compute={"location": "westeurope", "zone": "3"}, placement=placement),
        "events-only": _facts_of(scheduled_events={"Events": []}),  # gather_subset: [scheduledevents]
        # what earlier versions of metadata_facts stored for such a gather: an empty placement
        "placeholder": _facts_of(compute={}, network={}, placement=dict.fromkeys(placement, ""), tags={}),
        "not-azure": _facts_of(is_azure=False, compute={}, placement=dict.fromkeys(placement, "")),
    })
    with pytest.raises(AnsibleFilterError) as caught:
        spread(["a", "b", "gathered", "events-only", "placeholder", "not-azure"], 3, hostvars)
    message = str(caught.value)
    assert "spread: no placement for events-only (the instance metadata was not gathered" in message
    assert "not-azure (is_azure is false)" in message and "placeholder (the instance metadata was not gathered" in message
    assert "gathered" not in message.replace("not gathered", "")
    picks = spread(["a", "b", "gathered", "events-only", "placeholder", "not-azure"], 4, hostvars, allow_missing=True)
    assert picks[:3] == ["a", "b", "gathered"] and picks[3] in ("events-only", "not-azure", "placeholder")


@pytest.mark.parametrize("hostvars", [["a", "b"], "a,b", 3])
def test_hostvars_that_are_not_a_mapping_are_refused(hostvars):
    with pytest.raises(AnsibleFilterError, match=r"spread: hostvars must be a mapping of hostname to variables .*got (list|str|int)$"):
        spread(["a", "b"], 1, hostvars)


@pytest.mark.parametrize("count", [2.7, "2.7", 0.5, float("inf"), float("nan"), True, None, [2], "two", "²"])
def test_count_is_never_rounded(count):
    hostvars = hv({"a": ("1", "0"), "b": ("2", "0"), "c": ("3", "0")})
    with pytest.raises(AnsibleFilterError, match=r"spread: count must be an integer, got .* \(a count is never rounded\)"):
        spread(["a", "b", "c"], count, hostvars)


@pytest.mark.parametrize("count", [2, 2.0, "2", " 2 "])
def test_whole_counts_in_any_form(count):
    hostvars = hv({"a": ("1", "0"), "b": ("2", "0"), "c": ("3", "0")})
    assert spread(["a", "b", "c"], count, hostvars) == ["a", "b"]


@pytest.mark.parametrize("allow_missing", ["maybe", 2, [True]])
def test_allow_missing_must_be_a_boolean(allow_missing):
    with pytest.raises(AnsibleFilterError, match="spread: allow_missing must be true or false"):
        spread(["a"], 1, hv({"a": ("1", "0")}), allow_missing=allow_missing)


@pytest.mark.parametrize("by", ["zone", ["zone", 3], [["zone"]], 5])
def test_by_must_be_a_list_of_level_names(by):
    with pytest.raises(AnsibleFilterError, match="spread: 'by' must be a non-empty list of"):
        spread(["a"], 1, hv({"a": ("1", "0")}), by=by)


# --------------------------------------------------------------------------- only placements the collection can vouch for

def test_facts_that_say_not_azure_win_over_any_placement_variable():
    hostvars = hv({"a": ("1", "0")})
    not_azure = {"ansible_facts": {"azure_imds": {"is_azure": False}}}
    hostvars["x"] = dict(not_azure, azure_placement={"fault_domain": "1"})
    hostvars["y"] = dict(not_azure, placement={"fault_domain": "2"})
    with pytest.raises(AnsibleFilterError, match=r"spread: no placement for x \(is_azure is false\), y \(is_azure is false\)"):
        spread(["a", "x", "y"], 2, hostvars)
    # a dict of the input that carries a placement, for a host whose facts say it is not Azure
    with pytest.raises(AnsibleFilterError, match=r"no placement for x \(is_azure is false\)"):
        spread([{"name": "x", "placement": {"fault_domain": "1"}, "azure_imds": {"is_azure": False}}], 1)


def test_a_host_variable_named_placement_is_not_a_placement():
    # Only the inventory's azure_placement and the facts place a hostname; "placement" is just a variable name.
    hostvars = {"a": {"placement": {"fault_domain": "0"}}, "b": {"azure_placement": {"fault_domain": "1"}}}
    with pytest.raises(AnsibleFilterError, match=r"spread: no placement for a;"):
        spread(["a", "b"], 2, hostvars)


def test_an_empty_azure_placement_is_not_placed():
    hostvars = hv({"b": ("1", "0")})
    hostvars["a"] = {"azure_placement": {}}
    with pytest.raises(AnsibleFilterError, match=r"no placement for a \(azure_placement has no fault_domain"):
        spread(["a", "b"], 1, hostvars)
    assert spread(["a", "b"], 2, hostvars, allow_missing=True) == ["b", "a"]


def test_one_domain_whatever_the_spelling():
    # 0 and "0" are one fault domain, EastUS and eastus one region: never two.
    hostvars = {"a": {"azure_placement": {"location": "EastUS", "fault_domain": 0}},
                "b": {"azure_placement": {"location": "eastus", "fault_domain": "0"}},
                "c": {"azure_placement": {"location": "eastus", "fault_domain": "1"}}}
    assert spread(["a", "b", "c"], 2, hostvars) == ["a", "c"]


@pytest.mark.parametrize("value", [0.0, " 0", "0 ", "00", [0], True, float("nan"), None, "-1"], ids=repr)
def test_values_imds_never_sends_are_refused(value):
    hostvars = hv({"a": ("1", "0")})
    hostvars["b"] = {"azure_placement": {"location": "westeurope", "zone": "1", "fault_domain": value}}
    with pytest.raises(AnsibleFilterError, match=r"^spread: host b: azure_placement.fault_domain is .*: the collection cannot vouch"):
        spread(["a", "b"], 1, hostvars)


def test_facts_changed_after_gathering_are_refused():
    facts = {"is_azure": True, "compute": {"platformFaultDomain": "1"}, "placement": {"fault_domain": "2"}}
    with pytest.raises(AnsibleFilterError, match=r"^spread: host a: placement.fault_domain is '2', but compute says '1'"):
        spread(["a"], 1, {"a": {"ansible_facts": {"azure_imds": facts}}})
