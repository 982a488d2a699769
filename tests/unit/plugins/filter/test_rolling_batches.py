# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.rolling_batches filter."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader
from ansible.template import Templar

from ansible_collections.imds.azure.plugins.filter.rolling_batches import rolling_batches
from ansible_collections.imds.azure.plugins.plugin_utils._groups import host_groups

try:  # ansible-core >= 2.19: only trusted strings are templates
    from ansible.template import trust_as_template
except ImportError:
    def trust_as_template(value):
        return value


def inventory_groups(placements, prefix="azure_"):
    """The groups variable the placement inventory gives hosts with these placements ({host: {level: value}})."""
    groups = {"all": sorted(placements), "ungrouped": []}
    for host, placement in placements.items():
        for parent, group, _meaning in host_groups(placement, {}, prefix, ("fault_domain", "update_domain", "zone", "location")):
            groups.setdefault(parent, []).append(host)
            groups.setdefault(group, []).append(host)
    return groups


def placed(**update_domains):
    return {host: {"update_domain": ud, "fault_domain": str(int(ud) % 3), "zone": "", "location": "westeurope"}
            for host, ud in update_domains.items()}


def test_one_batch_per_update_domain_in_numeric_order():
    groups = inventory_groups(placed(web_3="10", web_1="2", web_2="0", web_4="2", web_5="9"))
    batches = rolling_batches(["web_3", "web_1", "web_2", "web_4", "web_5"], groups)
    assert batches == [["web_2"], ["web_1", "web_4"], ["web_5"], ["web_3"]]
    # what the recipe hands to the play: hosts batch after batch, serial the batch sizes
    assert sum(batches, []) == ["web_2", "web_1", "web_4", "web_5", "web_3"]
    assert [len(batch) for batch in batches] == [1, 2, 1, 1]


def test_only_the_given_hosts_and_the_same_result_in_any_order():
    groups = inventory_groups(placed(a="1", b="0", c="1", d="0", e="4"))
    assert rolling_batches(["c", "e", "a"], groups) == [["a", "c"], ["e"]]
    assert rolling_batches(["a", "e", "c"], groups) == [["a", "c"], ["e"]]
    assert rolling_batches([], groups) == []


def test_zones_regional_last_and_locations():
    placements = placed(a="0", b="0", c="0", d="0")
    placements["a"]["zone"], placements["b"]["zone"], placements["c"]["zone"] = "3", "1", "1"
    placements["d"]["location"] = "eastus"
    groups = inventory_groups(placements)
    assert rolling_batches(["a", "b", "c", "d"], groups, "zone") == [["b", "c"], ["a"], ["d"]]
    assert rolling_batches(["a", "b", "c", "d"], groups, "location") == [["d"], ["a", "b", "c"]]
    assert rolling_batches(["a", "b", "c", "d"], groups, by="fault_domain") == [["a", "b", "c", "d"]]


def test_group_prefix():
    groups = inventory_groups(placed(a="1", b="0"), prefix="")
    assert rolling_batches(["a", "b"], groups, group_prefix="") == [["b"], ["a"]]
    with pytest.raises(AnsibleFilterError, match="no group is named azure_update_domain_<value>"):
        rolling_batches(["a", "b"], groups)


def test_through_jinja_with_fqcn():
    groups = inventory_groups(placed(a="1", b="0", c="1"))
    templar = Templar(loader=DataLoader(), variables={"groups": groups})
    template = "{{ ['a', 'b', 'c'] | imds.azure.rolling_batches(groups, 'update_domain') | map('length') | list }}"
    assert list(templar.template(trust_as_template(template))) == [1, 2]
    assert filter_loader.get("imds.azure.rolling_batches") is not None


def test_hosts_that_cannot_be_placed_are_named():
    placements = placed(a="0", b="1", noud="0")
    placements["noud"]["update_domain"] = ""
    groups = inventory_groups(placements)
    groups["azure_no_imds"] = ["nodata"]
    groups["azure_update_domain_x"] = ["odd"]
    with pytest.raises(AnsibleFilterError) as caught:
        rolling_batches(["a", "b", "nodata", "unknown", "noud", "odd"], groups)
    message = str(caught.value)
    assert message.startswith("rolling_batches: cannot place every host in one batch per update domain; ")
    assert "in no azure_update_domain_<value> group: nodata (no IMDS data), unknown" in message
    assert "with no update domain (in azure_update_domain_none): noud" in message
    assert "in a group that is not azure_update_domain_<number>: odd (azure_update_domain_x)" in message
    # the zone of a regional VM is a batch of its own; an empty update domain never is
    assert rolling_batches(["a", "noud"], groups, "zone") == [["a", "noud"]]


def test_a_host_in_two_update_domains_is_refused():
    groups = inventory_groups(placed(a="0", b="1"))
    groups["azure_update_domain_1"].append("a")
    with pytest.raises(AnsibleFilterError, match=r"more than one azure_update_domain_<value> group: a \(azure_update_domain_0, azure_update_domain_1\)"):
        rolling_batches(["a", "b"], groups)


def test_long_lists_are_cut():
    groups = inventory_groups(placed(a="0"))
    with pytest.raises(AnsibleFilterError, match=r"group: h00, h01, .*, h19 and 5 more$"):
        rolling_batches(["a"] + ["h%02d" % index for index in range(25)], groups)


@pytest.mark.parametrize("args,message", [
    (("web", {}), "expected a list of hostnames, got str"),
    (({"a": 1}, {}), "expected a list of hostnames, got dict"),
    (([1], {}), "expected hostnames, got int"),
    ((["a"], ["azure_update_domain_0"]), "groups must be the groups variable"),
    ((["a"], {}, "rack"), "'by' must be one of location, zone, fault_domain, update_domain, got 'rack'"),
    ((["a"], {}, "update_domain", 3), "group_prefix must be a string"),
    ((["a", "b", "a"], {}), "hosts listed more than once: a$"),
    ((["a"], {"web": ["a"]}), "no group is named azure_update_domain_<value>"),
])
def test_refused_arguments(args, message):
    with pytest.raises(AnsibleFilterError, match="^rolling_batches: .*" + message):
        rolling_batches(*args)
