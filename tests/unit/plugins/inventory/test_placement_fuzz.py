# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based fuzzing (Hypothesis) of imds.azure.placement configuration files.

Any configuration, however wrong, ends in an inventory or in the plugin's own error
(AnsibleError, AnsibleParserError: what ansible-inventory reports as "failed to parse"), never
in another exception, and never creates a directory. The number of examples comes from the
Hypothesis profile (tests/unit/conftest.py: "ci" by default, HYPOTHESIS_PROFILE=long for more).

Left out on purpose: the ``local`` source and ``community.general.redis`` (they would connect to
the addresses in the configuration; their errors are tested against the emulator and a real
Redis) and the inventory cache options (a random ``cache_connection`` would be created as a
directory by the cache plugin, which is that plugin's documented behaviour).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile

import yaml

from hypothesis import given, settings, strategies as st

from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import cache_loader, inventory_loader

WORK = tempfile.mkdtemp(prefix="imds-placement-fuzz-")
atexit.register(shutil.rmtree, WORK, True)
FACTS = os.path.join(WORK, "facts")
TREE = os.path.join(WORK, "tree")
HOSTS = ["vm-0", "vm-1", "vm-2", "not-cached"]


def _prepare():
    os.makedirs(TREE)
    cache = cache_loader.get("ansible.builtin.jsonfile", _uri=FACTS, _timeout=0)
    placement = {"location": "westeurope", "zone": "1", "fault_domain": "0", "update_domain": "0", "vm_size": "Standard_D2s_v5"}
    cache.set("vm-0", {"azure_imds": {"is_azure": True, "placement": placement, "tags": {"env": "prod"}, "compute": {"osType": "Linux"}}})
    cache.set("vm-1", {"azure_imds": {"is_azure": False}})
    cache.set("vm-2", {"azure_imds": {"compute": {"platformFaultDomain": 2, "tagsList": [{"name": "a b", "value": "{{ x }}"}]}}})
    with open(os.path.join(TREE, "vm-0"), "w") as handle:
        json.dump({"ansible_facts": {"azure_imds": {"placement": placement}}}, handle)
    with open(os.path.join(TREE, "vm-2"), "w") as handle:
        handle.write("[" * 5000)


_prepare()

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10 ** 12, max_value=10 ** 12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
anything = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
paths = st.one_of(st.sampled_from([FACTS, TREE, os.path.join(WORK, "missing"), os.path.join(FACTS, "vm-0"), "", "~", "$HOME/x"]),
                  st.text(max_size=20).map(lambda name: os.path.join(WORK, "random", name)))
choices = {
    "sources": st.lists(st.sampled_from(["fact_cache", "tree", "nope", ""]), max_size=3),
    "group_by": st.lists(st.sampled_from(["fault_domain", "update_domain", "zone", "location", "vm_size", "scale_set", "priority",
                                          "tags", "nope", ""]), max_size=9),
    "host_vars": st.lists(st.sampled_from(["auto", "placement", "placement_vars", "tags", "imds", "nope"]), max_size=4),
    "fact_cache_plugin": st.sampled_from(["jsonfile", "ansible.builtin.jsonfile", "ansible.builtin.memory", "no.such.plugin", ""]),
    "fact_cache_connection": paths,
    "tree_dir": paths,
    "fact_cache_timeout": st.one_of(st.integers(min_value=-10, max_value=10 ** 10), st.text(max_size=5)),
    "fact_cache_prefix": st.text(max_size=10),
    "group_prefix": st.text(max_size=10),
    "vars_prefix": st.text(max_size=10),
    "add_hosts": st.one_of(st.booleans(), st.text(max_size=5)),
    "strict": st.booleans(),
    "compose": st.dictionaries(st.text(max_size=8), st.sampled_from(["azure_placement.zone", "azure_tags", "azure_imds.compute.osType",
                                                                     "nope.deeper", "{{", "1 +"]), max_size=3),
    "groups": st.dictionaries(st.text(max_size=8), st.sampled_from(["azure_placement.priority == 'Spot'", "true", "(("]), max_size=2),
    "keyed_groups": st.lists(st.dictionaries(st.sampled_from(["key", "prefix", "separator", "default_value", "parent_group"]),
                                             st.sampled_from(["azure_placement.zone", "azure_tags", "x", "", "nope.deeper"]), max_size=4),
                             max_size=2),
}


@st.composite
def configs(draw):
    # a working configuration, then a few options changed: most examples get past the option checks
    config = {"plugin": "imds.azure.placement", "fact_cache_plugin": "jsonfile", "fact_cache_connection": FACTS, "tree_dir": TREE}
    for key in draw(st.lists(st.sampled_from(sorted(choices)), unique=True, max_size=5)):
        config[key] = draw(st.one_of(choices[key], anything))   # a value of the right kind, or anything at all
    for key in draw(st.lists(st.text(max_size=12), max_size=2)):
        config[key] = draw(anything)
    return config


# Each example parses a small inventory (tens of ms): a third of the profile's examples keeps
# this property to a few seconds in "ci" and still scales with "long".
@settings(max_examples=max(settings.default.max_examples // 3, 10))
@given(config=configs())
def test_any_configuration_gives_an_inventory_or_a_clear_error(config):
    path = os.path.join(WORK, "fuzz.azure_placement.yml")
    with open(path, "w") as handle:
        handle.write(yaml.safe_dump(config))
    inventory = InventoryData()
    for host in HOSTS:
        inventory.add_host(host)
    plugin = inventory_loader.get("imds.azure.placement")
    try:
        plugin.parse(inventory, DataLoader(), path, cache=False)
    except AnsibleError as exc:
        assert str(exc).strip(), config   # the plugin's own error, with a message
        return
    finally:
        created = [name for name in ("random", "missing") if os.path.exists(os.path.join(WORK, name))]
        for name in created:
            shutil.rmtree(os.path.join(WORK, name))
        assert not created, (created, config)   # a mistyped directory must not be created
    # every host is still there; the ones without usable data are in the no_imds group
    assert sorted(inventory.hosts) == sorted(HOSTS)
    no_imds = [name for name in inventory.groups if name.endswith("no_imds")]
    assert len(no_imds) == 1, (config, list(inventory.groups))
    unplaced = {host.name for host in inventory.groups[no_imds[0]].get_hosts()}
    assert {"vm-1", "not-cached"} <= unplaced, (config, unplaced)
    # mistakes that would otherwise empty the inventory or give unusable names were refused
    timeout = plugin.get_option("fact_cache_timeout")
    assert timeout is None or timeout >= 0, config
    for host in inventory.hosts.values():
        for name in host.get_vars():
            assert name.isidentifier() and name.isascii(), (name, config)
