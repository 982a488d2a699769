# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.placement inventory plugin: full parse() runs over real cache plugins."""

from __future__ import annotations

import json
import os

import pytest

from ansible import constants as C
from ansible import context
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import cache_loader, inventory_loader
from ansible.module_utils.common.collections import ImmutableDict
from ansible.template import Templar

from ansible_collections.imds.azure.plugins.inventory import placement as placement_module
from ansible_collections.imds.azure.plugins.plugin_utils import _fact_cache

JINJA = "{{ lookup('pipe', 'touch EVALUATED') }}"

try:  # ansible-core >= 2.19: only trusted strings are templates
    from ansible.template import trust_as_template
except ImportError:  # older cores: every string is a template
    def trust_as_template(value):
        return value


def imds(fd="0", ud="0", zone="", location="westeurope", tags=None, priority="Regular", scale_set="", vm_size="Standard_D2s_v3"):
    placement = {"location": location, "zone": zone, "fault_domain": fd, "update_domain": ud, "sub_fault_domain": "",
                 "scale_set": scale_set, "placement_group": "", "vm_size": vm_size, "priority": priority}
    return {"is_azure": True, "api_version": "2025-04-07", "endpoint": "http://127.0.0.1:1",
            "compute": {"osType": "Linux", "location": location}, "network": {}, "placement": placement, "tags": tags or {}}


@pytest.fixture
def fact_dir(tmp_path):
    directory = tmp_path / "facts"
    directory.mkdir()
    return directory


def write_facts(directory, hosts):
    cache = cache_loader.get("ansible.builtin.jsonfile", _uri=str(directory), _timeout=0)
    for name, facts in hosts.items():
        cache.set(name, {"azure_imds": facts} if facts is not None else {"ansible_hostname": name})


@pytest.fixture
def warnings(monkeypatch):
    seen = []
    monkeypatch.setattr(placement_module.display, "warning", lambda msg, *a, **k: seen.append(msg))
    return seen


def run(tmp_path, config, hosts=(), name="test.azure_placement.yml", cache=False, inventory=None):
    path = tmp_path / name
    lines = ["plugin: imds.azure.placement"]
    for key, value in config.items():
        lines.append("%s: %s" % (key, json.dumps(value)))
    path.write_text("\n".join(lines) + "\n")
    inventory = inventory or InventoryData()
    for host in hosts:
        inventory.add_host(host)
    plugin = inventory_loader.get("imds.azure.placement")
    plugin.parse(inventory, DataLoader(), str(path), cache=cache)
    if getattr(plugin, "_cache", None):  # what InventoryManager does after parse()
        plugin.update_cache_if_changed()
    return inventory


def members(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts())


def hvars(inventory, host):
    return inventory.get_host(host).get_vars()


@pytest.mark.parametrize("name,valid", [
    ("fleet.azure_placement.yml", True),
    ("azure_placement.yaml", True),
    ("x/prod.azure_placement.yaml", True),
])
def test_verify_file(tmp_path, name, valid):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("plugin: imds.azure.placement\n")
    assert inventory_loader.get("imds.azure.placement").verify_file(str(path)) is valid


@pytest.mark.parametrize("name, text", [
    ("fleet.azure_placement.yml.bak", "plugin: imds.azure.placement\n"),
    ("fleet.placement.yml", "# fleet\nplugin: 'imds.azure.placement'  # groups\n"),
    ("fleet.azure_placement.json", '{"plugin": "imds.azure.placement", "add_hosts": true}'),
    ("hosts.yml", 'plugin: "imds.azure.placement"\n'),
])
def test_a_configuration_under_another_name_is_told_the_suffix(tmp_path, name, text):
    # ansible-core alone would only say that no plugin could parse the file.
    path = tmp_path / name
    path.write_text(text)
    plugin = inventory_loader.get("imds.azure.placement")
    assert plugin.verify_file(str(path))
    with pytest.raises(AnsibleParserError, match=r"imds.azure.placement: .*%s: the file name must end with azure_placement.yml or "
                                                 r"azure_placement.yaml \(for example fleet.azure_placement.yml\): rename the file" % name):
        plugin.parse(InventoryData(), DataLoader(), str(path))


@pytest.mark.parametrize("name, text", [("hosts.yml", "all:\n  hosts:\n    vm-0:\n"), ("other.yml", "plugin: imds.azure.placementx\n"),
                                        ("hosts.ini", "[web]\nplugin\n")])
def test_other_files_are_not_ours(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert not inventory_loader.get("imds.azure.placement").verify_file(str(path))


def test_groups_from_jsonfile_fact_cache(tmp_path, fact_dir, warnings):
    write_facts(fact_dir, {
        "vm-0": imds(fd="0", ud="0", zone="", tags={"env": "prod"}),
        "vm-1": imds(fd="1", ud="3", zone="2", priority="Spot", scale_set="vmss-worker"),
        "vm-2": imds(fd="0", ud="1", zone="1"),
    })
    inv = run(tmp_path, {"fact_cache_plugin": "ansible.builtin.jsonfile", "fact_cache_connection": str(fact_dir)},
              hosts=["vm-0", "vm-1", "vm-2", "other"])
    assert members(inv, "azure_fault_domain_0") == ["vm-0", "vm-2"]
    assert members(inv, "azure_fault_domain_1") == ["vm-1"]
    assert sorted(child.name for child in inv.groups["azure_fault_domains"].child_groups) == ["azure_fault_domain_0", "azure_fault_domain_1"]
    assert sorted(child.name for child in inv.groups["azure_update_domains"].child_groups) == [
        "azure_update_domain_0", "azure_update_domain_1", "azure_update_domain_3"]
    assert members(inv, "azure_zone_none") == ["vm-0"]
    assert members(inv, "azure_zone_2") == ["vm-1"]
    assert "azure_zone_none" in [g.name for g in inv.groups["azure_zones"].child_groups]
    assert members(inv, "azure_priority_Spot") == ["vm-1"]
    assert members(inv, "azure_scale_set_vmss_worker") == ["vm-1"]
    assert members(inv, "azure_location_westeurope") == ["vm-0", "vm-1", "vm-2"]
    assert members(inv, "azure_vm_size_Standard_D2s_v3") == ["vm-0", "vm-1", "vm-2"]
    assert members(inv, "azure_tag_env_prod") == ["vm-0"]
    assert members(inv, "azure_tag_env") == ["vm-0"]
    assert members(inv, "azure_no_imds") == ["other"]
    assert hvars(inv, "vm-0")["azure_placement"]["fault_domain"] == "0"
    assert hvars(inv, "vm-0")["azure_tags"] == {"env": "prod"}
    assert "azure_placement" not in hvars(inv, "other")
    assert len(warnings) == 1 and "other" in warnings[0] and "azure_no_imds" in warnings[0]


def test_cache_only_hosts_need_add_hosts(tmp_path, fact_dir, warnings):
    write_facts(fact_dir, {"known": imds(), "cache-only": imds(fd="2")})
    config = {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir)}
    inv = run(tmp_path, config, hosts=["known"])
    assert "cache-only" not in inv.hosts
    inv = run(tmp_path, dict(config, add_hosts=True))
    assert sorted(inv.hosts) == ["cache-only", "known"]
    assert members(inv, "azure_fault_domain_2") == ["cache-only"]
    assert not warnings


def test_empty_inventory_warns(tmp_path, fact_dir, warnings):
    write_facts(fact_dir, {"vm": imds()})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir)})
    assert not inv.hosts
    assert any("add_hosts" in warning for warning in warnings)


def test_hosts_without_data_are_reported(tmp_path, fact_dir, warnings):
    write_facts(fact_dir, {"no-imds": None, "not-azure": {"is_azure": False}, "ok": imds()})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "add_hosts": True},
              hosts=["absent"])
    assert members(inv, "azure_no_imds") == ["absent", "no-imds", "not-azure"]
    text = warnings[0]
    assert "3 host(s)" in text
    assert "not-azure (fact_cache: is_azure is false)" in text
    assert "no-imds (fact_cache: no azure_imds facts)" in text
    assert "absent (no IMDS data in fact_cache)" in text


def test_awkward_tag_values_and_no_evaluation(tmp_path, fact_dir, warnings):
    tags = {"cost center": "cc:1234;shared", "ville": "Zürich – 東京", "evil": JINJA, "empty": ""}
    write_facts(fact_dir, {"vm": imds(tags=tags)})
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir),
                             "compose": {"evil_copy": "azure_tags.evil", "os": "azure_imds.compute.osType"}}, hosts=["vm"])
        host_vars = hvars(inv, "vm")
        templar = Templar(loader=DataLoader(), variables=host_vars)
        assert templar.template(trust_as_template("{{ azure_tags.evil }}")) == JINJA
        assert templar.template(trust_as_template("{{ evil_copy }}")) == JINJA
        assert templar.template(trust_as_template("{{ azure_tags['cost center'] }}")) == "cc:1234;shared"
        assert not (tmp_path / "EVALUATED").exists()
    finally:
        os.chdir(cwd)
    assert host_vars["os"] == "Linux"
    assert members(inv, "azure_tag_cost_center_cc_1234_shared") == ["vm"]
    assert members(inv, "azure_tag_ville_Zürich___東京") == ["vm"]
    assert members(inv, "azure_tag_empty") == ["vm"]
    evil = [name for name in inv.groups if name.startswith("azure_tag_evil_")]
    assert evil == ["azure_tag_evil____lookup__pipe____touch_EVALUATED_____"]


def test_switches_prefixes_and_host_vars(tmp_path, fact_dir):
    write_facts(fact_dir, {"vm": imds(fd="1", zone="3", tags={"role": "db"})})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "group_by": ["zone"],
                         "group_prefix": "az_", "vars_prefix": "imds_", "host_vars": ["placement_vars", "imds"]}, hosts=["vm"])
    assert members(inv, "az_zone_3") == ["vm"]
    assert not [name for name in inv.groups if "fault_domain" in name or "tag" in name]
    assert "az_no_imds" in inv.groups
    host_vars = hvars(inv, "vm")
    assert host_vars["imds_fault_domain"] == "1" and host_vars["imds_zone"] == "3"
    assert host_vars["imds_imds_facts"]["tags"] == {"role": "db"}
    assert "imds_placement" not in host_vars and "imds_tags" not in host_vars


def test_constructable_groups_and_keyed_groups(tmp_path, fact_dir):
    write_facts(fact_dir, {"a": imds(fd="0", priority="Spot"), "b": imds(fd="2")})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "group_by": [],
                         "groups": {"spot": "azure_placement.priority == 'Spot'"},
                         "keyed_groups": [{"key": "azure_placement.fault_domain", "prefix": "fd"},
                                          {"key": "azure_imds.compute.osType", "prefix": "os"}]}, hosts=["a", "b"])
    assert members(inv, "spot") == ["a"]
    assert members(inv, "fd_0") == ["a"] and members(inv, "fd_2") == ["b"]
    assert members(inv, "os_Linux") == ["a", "b"]


def test_a_constructed_group_named_like_a_host_does_not_join_the_built_in_groups(tmp_path, fact_dir):
    """Memberships are added with InventoryData.add_child, which takes a name that is also a group's for the group."""
    write_facts(fact_dir, {"a": imds(fd="0"), "b": imds(fd="0")})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "group_by": ["fault_domain"],
                         "groups": {"b": "inventory_hostname == 'a'"}}, hosts=["a", "b"])
    assert members(inv, "azure_fault_domain_0") == ["a", "b"]
    assert [group.name for group in inv.groups["azure_fault_domain_0"].child_groups] == []


def test_hosts_of_the_same_placement_and_tags_share_them(tmp_path, fact_dir):
    """10,000 hosts in a few placements keep a few dicts, not 10,000 of each."""
    write_facts(fact_dir, {"a": imds(fd="1", tags={"env": "prod"}), "b": imds(fd="1", tags={"env": "prod"}), "c": imds(fd="2")})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir)}, hosts=["a", "b", "c"])
    a, b, c = (hvars(inv, name) for name in "abc")
    assert a["azure_placement"] == b["azure_placement"] != c["azure_placement"]
    if placement_module._CORE_UNTRUSTS:   # older cores mark each host's values unsafe: copies of their own
        assert a["azure_placement"] is b["azure_placement"] and a["azure_tags"] is b["azure_tags"]


def test_strict_compose_error(tmp_path, fact_dir):
    write_facts(fact_dir, {"a": imds()})
    with pytest.raises(AnsibleError, match="nope"):
        run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "strict": True,
                       "compose": {"x": "azure_placement.nope.deeper"}}, hosts=["a"])


def test_tree_source(tmp_path, warnings):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "vm-a").write_text(json.dumps({"changed": False, "ansible_facts": {"azure_imds": imds(fd="4", zone="1")}}))
    (tree / "vm-b").write_text(json.dumps({"unreachable": True, "msg": "ssh: connect timed out"}))
    (tree / "vm-c").write_text("{broken")
    (tree / "vm-d").write_text(json.dumps({"failed": True, "msg": "IMDS unreachable"}))
    inv = run(tmp_path, {"sources": ["tree"], "tree_dir": str(tree), "add_hosts": True})
    assert members(inv, "azure_fault_domain_4") == ["vm-a"]
    assert members(inv, "azure_no_imds") == ["vm-b", "vm-c", "vm-d"]
    assert "ssh: connect timed out" in warnings[0] and "IMDS unreachable" in warnings[0]


def test_facts_without_placement_and_tags_are_read_from_compute_as_the_module_would(tmp_path, warnings):
    # An azure_imds without the placement and tags summaries (kept from elsewhere, or written by hand): the
    # inventory reads compute by the rules of the metadata_facts module, Priority and the flexible scale set included.
    compute = {"location": "westus", "zone": "2", "platformFaultDomain": 1, "vmScaleSetName": "", "Priority": "Spot",
               "virtualMachineScaleSet": {"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachineScaleSets/flex1"},
               "tags": "env:prod;team:a"}
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "vm-a").write_text(json.dumps({"ansible_facts": {"azure_imds": {"is_azure": True, "compute": compute}}}))
    inv = run(tmp_path, {"sources": ["tree"], "tree_dir": str(tree), "add_hosts": True})
    assert members(inv, "azure_priority_Spot") == ["vm-a"]
    assert members(inv, "azure_scale_set_flex1") == ["vm-a"]
    assert members(inv, "azure_fault_domain_1") == ["vm-a"]
    assert members(inv, "azure_tag_env_prod") == ["vm-a"]
    assert hvars(inv, "vm-a")["azure_placement"]["priority"] == "Spot"
    assert not warnings


def test_tree_without_dir_is_an_error(tmp_path):
    with pytest.raises(AnsibleParserError, match="tree_dir"):
        run(tmp_path, {"sources": ["tree"]}, hosts=["x"])


def test_first_source_with_data_wins(tmp_path, fact_dir, warnings):
    write_facts(fact_dir, {"a": imds(fd="1")})
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a").write_text(json.dumps({"ansible_facts": {"azure_imds": imds(fd="2")}}))
    (tree / "b").write_text(json.dumps({"ansible_facts": {"azure_imds": imds(fd="2")}}))
    inv = run(tmp_path, {"sources": ["fact_cache", "tree"], "tree_dir": str(tree), "fact_cache_plugin": "jsonfile",
                         "fact_cache_connection": str(fact_dir)}, hosts=["a", "b"])
    assert members(inv, "azure_fault_domain_1") == ["a"]
    assert members(inv, "azure_fault_domain_2") == ["b"]
    assert not warnings


def test_memory_fact_cache_warns(tmp_path, warnings):
    run(tmp_path, {"fact_cache_plugin": "ansible.builtin.memory"}, hosts=["a"])
    assert any("keeps nothing between runs" in warning for warning in warnings)


def test_inventory_cache(tmp_path, fact_dir):
    write_facts(fact_dir, {"a": imds(fd="1"), "b": imds(fd="2")})
    inv_cache = tmp_path / "inv-cache"
    config = {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "add_hosts": True,
              "cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(inv_cache)}
    inv = run(tmp_path, config, cache=False)   # refresh: builds and writes the cache
    assert members(inv, "azure_fault_domain_1") == ["a"]
    assert os.listdir(inv_cache)
    for name in os.listdir(fact_dir):
        os.remove(fact_dir / name)
    inv = run(tmp_path, config, cache=True)    # served from the inventory cache
    assert members(inv, "azure_fault_domain_2") == ["b"]
    inv = run(tmp_path, config, cache=False)   # --flush-cache: the fact cache is empty now
    assert "a" not in inv.hosts


def test_inventory_cache_reads_new_hosts(tmp_path, fact_dir, warnings):
    write_facts(fact_dir, {"a": imds(fd="1"), "b": imds(fd="2")})
    config = {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir),
              "cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "c")}
    run(tmp_path, config, hosts=["a"], cache=False)
    inv = run(tmp_path, config, hosts=["a", "b"], cache=True)
    assert members(inv, "azure_fault_domain_2") == ["b"]
    assert not warnings


def test_local_source_against_the_emulator(tmp_path, imds_emulator, warnings):
    inv = run(tmp_path, {"sources": ["local"], "endpoint": imds_emulator.url, "detect": "false", "host_vars": ["placement_vars", "tags"]})
    compute = imds_emulator.profile["compute"]
    assert list(inv.hosts) == ["localhost"]
    host_vars = hvars(inv, "localhost")
    assert host_vars["ansible_connection"] == "local"
    assert host_vars["azure_fault_domain"] == str(compute["platformFaultDomain"])
    assert host_vars["azure_tags"] == {item["name"]: item["value"] for item in compute["tagsList"]}
    assert members(inv, "azure_fault_domain_%s" % compute["platformFaultDomain"]) == ["localhost"]
    assert members(inv, "azure_zone_%s" % (compute["zone"] or "none")) == ["localhost"]
    assert not warnings
    assert any(record.path == "/metadata/instance" for record in imds_emulator.request_log)


def test_local_source_failure_is_reported(tmp_path, imds_emulator_factory, warnings):
    emulator = imds_emulator_factory(faults=["status=403"])
    inv = run(tmp_path, {"sources": ["local"], "endpoint": emulator.url, "detect": "false", "deadline": 3, "local_hostname": "me"})
    assert members(inv, "azure_no_imds") == ["me"]
    assert "me (local: IMDS query failed" in warnings[-1]


# ---------------------------------------------------------------- one damaged input costs only itself

def _damage(path, kind):
    """Damage one jsonfile entry the ways a disk, an editor or another program does."""
    if kind == "directory":
        path.unlink()
        path.mkdir()
        return
    contents = {
        "empty": b"",
        "invalid json": b"{not json",
        "not utf-8": b'{"azure_imds": "\xff\xfe"}',
        "not the core's layout": b"[1, 2]",
        "payload of the wrong type": json.dumps({"__payload__": "[1, 2]"}).encode() if path.name.startswith("s1_") else b"[1, 2]",
        "deeply nested": b"[" * 100000 + b"]" * 100000,
    }
    path.write_bytes(contents[kind])


@pytest.mark.parametrize("kind", ["empty", "invalid json", "not utf-8", "directory", "not the core's layout",
                                  "payload of the wrong type", "deeply nested"])
def test_a_damaged_cache_entry_costs_only_its_host(tmp_path, fact_dir, warnings, kind):
    write_facts(fact_dir, {"vm-0": imds(fd="0"), "vm-1": imds(fd="1"), "vm-2": imds(fd="2")})
    entry = next(path for path in fact_dir.iterdir() if path.name.endswith("vm-1"))
    _damage(entry, kind)
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir)}, hosts=["vm-0", "vm-1", "vm-2"])
    assert members(inv, "azure_fault_domain_0") == ["vm-0"]
    assert members(inv, "azure_fault_domain_2") == ["vm-2"]
    assert members(inv, "azure_no_imds") == ["vm-1"]
    assert "azure_fault_domain_1" not in inv.groups
    ours = [warning for warning in warnings if warning.startswith("imds.azure.placement")]  # the cache plugin warns too
    # Cores before 2.19 store the facts as the whole entry (plain <host>): for them a list in
    # place of the core's layout is a payload of the wrong type.
    wrong_type = kind == "payload of the wrong type" or (kind == "not the core's layout" and not entry.name.startswith("s1_"))
    reason = "no azure_imds facts" if wrong_type else "damaged fact cache entry: "
    assert len(ours) == 1 and "1 host(s)" in ours[0] and "vm-1 (fact_cache: " + reason in ours[0], ours
    if kind in ("empty", "invalid json", "not utf-8"):
        # ansible-core's jsonfile plugin deletes an entry it cannot decode when it reads it
        assert "deleted the entry" in ours[0] and "gather facts for this host again" in ours[0], ours[0]


def test_a_deeply_nested_tree_file_costs_only_itself(tmp_path, warnings):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "vm-a").write_text(json.dumps({"ansible_facts": {"azure_imds": imds(fd="4")}}))
    (tree / "vm-deep").write_bytes(b"[" * 100000 + b"]" * 100000)
    (tree / "vm-layers").write_text('{"ansible_facts": ' * 900 + "{}" + "}" * 900)
    inv = run(tmp_path, {"sources": ["tree"], "tree_dir": str(tree), "add_hosts": True})
    assert members(inv, "azure_fault_domain_4") == ["vm-a"]
    assert members(inv, "azure_no_imds") == ["vm-deep", "vm-layers"]
    assert "RecursionError" in warnings[0]


# ---------------------------------------------------------------- configuration mistakes are refused

def test_a_mistyped_fact_cache_connection_is_an_error(tmp_path, fact_dir):
    write_facts(fact_dir, {"vm": imds()})
    typo = tmp_path / "factz"
    with pytest.raises(AnsibleError, match="factz does not exist"):
        run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(typo)}, hosts=["vm"])
    assert not typo.exists()


@pytest.mark.parametrize("config,message", [
    ({"fact_cache_timeout": -5}, "fact_cache_timeout must be 0"),
    ({"vars_prefix": "azure-"}, "'azure-' gives host variable names that are not valid"),
    ({"vars_prefix": "1st_", "host_vars": ["placement_vars"]}, "1st_location"),
    ({"vars_prefix": "zürich_"}, "not valid variable names"),
    ({"compose": {"": "azure_placement.zone"}}, "compose names host variables that are not valid variable names: ''"),
    ({"compose": {"fault-domain": "azure_placement.fault_domain"}}, "'fault-domain'"),
    ({"sources": []}, "sources must not be empty"),
])
def test_configuration_mistakes_are_refused(tmp_path, fact_dir, config, message):
    write_facts(fact_dir, {"vm": imds()})
    with pytest.raises(AnsibleParserError, match=message):
        run(tmp_path, dict({"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir)}, **config), hosts=["vm"])


def test_an_empty_vars_prefix_is_fine(tmp_path, fact_dir):
    write_facts(fact_dir, {"vm": imds(fd="2")})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "vars_prefix": ""}, hosts=["vm"])
    assert hvars(inv, "vm")["placement"]["fault_domain"] == "2"


# ---------------------------------------------------------------- host_vars: auto

@pytest.fixture
def configured_cache(monkeypatch, fact_dir):
    """Ansible's own fact cache configuration (ansible.cfg / ANSIBLE_CACHE_PLUGIN*) names fact_dir."""
    monkeypatch.setattr(C, "CACHE_PLUGIN", "jsonfile")
    monkeypatch.setattr(C, "CACHE_PLUGIN_CONNECTION", str(fact_dir))
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(fact_dir))
    return fact_dir


@pytest.mark.parametrize("cliargs", [{}, {"host": "vm"}, {"graph": True}, {"list": True, "export": True}],
                         ids=["playbook", "inventory --host", "inventory --graph", "inventory --list --export"])
def test_auto_sets_them_wherever_a_playbook_or_awx_reads_them(tmp_path, configured_cache, monkeypatch, cliargs):
    """The same variables on the CLI and in AWX: playbooks (which also see the cached facts), ansible-inventory --host
    and --graph, and --list --export (AWX, Automation Platform: host variables, never facts) all get them."""
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(cliargs))
    write_facts(configured_cache, {"vm": imds(fd="1", tags={"env": "prod"})})
    host_vars = hvars(run(tmp_path, {}, hosts=["vm"]), "vm")
    assert host_vars["azure_placement"]["fault_domain"] == "1" and host_vars["azure_tags"] == {"env": "prod"}


def test_auto_does_not_print_them_twice_in_a_listing_of_the_cached_facts(tmp_path, configured_cache, monkeypatch, warnings):
    """ansible-inventory --list (no --export) prints each host's cached facts, which hold the same placement and tags."""
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(list=True, export=False))
    write_facts(configured_cache, {"vm": imds(fd="1", tags={"env": "prod"})})
    inv = run(tmp_path, {"compose": {"fd_copy": "azure_placement.fault_domain", "env_copy": "azure_tags.env"}}, hosts=["vm"])
    assert members(inv, "azure_fault_domain_1") == ["vm"]
    host_vars = hvars(inv, "vm")
    assert "azure_placement" not in host_vars and "azure_tags" not in host_vars
    # compose, groups and keyed_groups see them all the same
    assert host_vars["fd_copy"] == "1" and host_vars["env_copy"] == "prod"
    assert not warnings


def test_auto_sets_them_for_another_cache_and_the_tree(tmp_path, configured_cache, monkeypatch):
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(list=True))
    other = tmp_path / "other-facts"
    other.mkdir()
    write_facts(other, {"vm": imds(fd="2")})
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "leaf").write_text(json.dumps({"ansible_facts": {"azure_imds": imds(fd="0")}}))
    inv = run(tmp_path, {"sources": ["fact_cache", "tree"], "tree_dir": str(tree), "fact_cache_connection": str(other)}, hosts=["vm", "leaf"])
    assert hvars(inv, "vm")["azure_placement"]["fault_domain"] == "2"
    assert hvars(inv, "leaf")["azure_placement"]["fault_domain"] == "0"


def test_explicit_host_vars_are_always_set(tmp_path, configured_cache):
    write_facts(configured_cache, {"vm": imds(fd="1")})
    host_vars = hvars(run(tmp_path, {"host_vars": ["placement"]}, hosts=["vm"]), "vm")
    assert host_vars["azure_placement"]["fault_domain"] == "1" and "azure_tags" not in host_vars


def test_facts_without_instance_metadata_go_to_no_imds_with_a_reason(tmp_path, fact_dir, warnings):
    placeholder = dict(imds(), compute={}, placement=dict.fromkeys(imds()["placement"], ""))  # older module, partial gather
    events_only = {"is_azure": True, "endpoint": "http://127.0.0.1:1", "api_versions": {"scheduledevents": "2020-07-01"},
                   "scheduled_events": {"DocumentIncarnation": 1, "Events": []}}
    write_facts(fact_dir, {"ok": imds(zone="1"), "placeholder": placeholder, "events-only": events_only})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "add_hosts": True})
    assert members(inv, "azure_no_imds") == ["events-only", "placeholder"]
    assert members(inv, "azure_zone_1") == ["ok"]
    assert "azure_zone_none" not in inv.groups and "azure_placement" not in hvars(inv, "placeholder")
    assert "events-only (fact_cache: the instance metadata was not gathered (azure_imds has no compute or placement data; " \
           "gather_subset must include instance))" in warnings[0]


# ---------------------------------------------------------------- the document's shape (issue 22)

HUGE = int("9" * 4000)   # a 4,000-digit number, as json.loads reads one
WRONG_FAULT_DOMAINS = [[0, 1], {"fd": 0}, True, 1.0, float("nan"), float("inf"), HUGE, "-1", "1 ", None]


def test_a_wrong_typed_fault_domain_is_refused_never_grouped(tmp_path, fact_dir, warnings):
    # every value of the issue, in the placement summary and in compute: one parse for all of them
    hosts = {"vm-ok": imds(fd="1")}
    for index, value in enumerate(WRONG_FAULT_DOMAINS):
        in_summary, in_compute = imds(fd="1"), imds(fd="1")
        in_summary["placement"]["fault_domain"] = value
        in_compute["compute"]["platformFaultDomain"] = value
        del in_compute["placement"]
        hosts.update({"summary-%d" % index: in_summary, "compute-%d" % index: in_compute})
    write_facts(fact_dir, hosts)
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "add_hosts": True})
    assert members(inv, "azure_no_imds") == sorted(name for name in hosts if name != "vm-ok")
    assert sorted(name for name in inv.groups if name.startswith("azure_fault_domain_")) == ["azure_fault_domain_1"]
    assert members(inv, "azure_fault_domain_1") == ["vm-ok"]
    for index in range(len(WRONG_FAULT_DOMAINS)):
        for name, field in (("summary-%d" % index, "placement.fault_domain"), ("compute-%d" % index, "compute.platformFaultDomain")):
            assert "%s (fact_cache: azure_imds does not hold what IMDS sends: %s is " % (name, field) in warnings[0], (name, warnings)
            assert "azure_placement" not in hvars(inv, name)


def test_a_zone_list_and_a_missing_fault_domain_are_not_placements(tmp_path, warnings):
    tree = tmp_path / "tree"
    tree.mkdir()
    zone_list = imds(fd="0")
    del zone_list["placement"]
    zone_list["compute"]["zone"] = ["1", "2"]
    for name, facts in (("vm-zones", zone_list), ("vm-no-fd", imds(fd="")), ("vm-ok", imds(fd="0"))):
        (tree / name).write_text(json.dumps({"ansible_facts": {"azure_imds": facts}}))
    inv = run(tmp_path, {"sources": ["tree"], "tree_dir": str(tree), "add_hosts": True})
    assert members(inv, "azure_no_imds") == ["vm-no-fd", "vm-zones"]
    assert "azure_fault_domain_none" not in inv.groups and not [name for name in inv.groups if "zone__" in name]
    assert "vm-zones (tree: azure_imds does not hold what IMDS sends: compute.zone is an array" in warnings[0]
    assert "vm-no-fd (tree: the placement has no fault_domain" in warnings[0]


@pytest.mark.parametrize("tags_list, reason", [
    ([{"value": "prod"}], "compute.tagsList[0] has null as its name"),
    ([{"name": "env", "value": "a"}, {"name": "env", "value": "b"}], "compute.tagsList names tag 'env' twice"),
])
def test_tags_without_a_name_or_twice_refuse_the_host(tmp_path, fact_dir, warnings, tags_list, reason):
    bad = imds(fd="1")
    del bad["tags"]
    bad["compute"]["tagsList"] = tags_list
    write_facts(fact_dir, {"vm": bad})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir)}, hosts=["vm"])
    assert members(inv, "azure_no_imds") == ["vm"] and reason in warnings[0]


def test_one_host_with_100000_tags_costs_only_itself(tmp_path, fact_dir, warnings):
    # Azure allows 50 tags per resource; more are refused by their count, before any group is made.
    many = imds(fd="2", tags=dict(("t%d" % index, "v") for index in range(100000)))
    write_facts(fact_dir, {"vm-many": many, "vm-ok": imds(fd="1", tags={"env": "prod"})})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "add_hosts": True})
    assert members(inv, "azure_no_imds") == ["vm-many"]
    assert "vm-many (fact_cache: azure_imds does not hold what IMDS sends: tags holds 100000 tags, more than the 50 Azure allows" in warnings[0]
    assert members(inv, "azure_tag_env_prod") == ["vm-ok"] and len([name for name in inv.groups if name.startswith("azure_tag")]) == 3


def test_a_fact_too_deep_for_templating_costs_only_its_host(tmp_path, warnings):
    # compose walks the whole fact recursively: 900 levels used to end the whole source in a RecursionError
    tree = tmp_path / "tree"
    tree.mkdir()
    deep = imds(fd="1")
    deep["compute"]["storageProfile"] = json.loads('{"x": ' * 900 + "{}" + "}" * 900)
    (tree / "vm-deep").write_text(json.dumps({"ansible_facts": {"azure_imds": deep}}))
    (tree / "vm-ok").write_text(json.dumps({"ansible_facts": {"azure_imds": imds(fd="1")}}))
    inv = run(tmp_path, {"sources": ["tree"], "tree_dir": str(tree), "add_hosts": True, "compose": {"os": "azure_imds.compute.osType"}})
    assert members(inv, "azure_no_imds") == ["vm-deep"] and members(inv, "azure_fault_domain_1") == ["vm-ok"]
    assert "vm-deep (tree: azure_imds is nested more than 32 levels deep, deeper than IMDS ever sends)" in warnings[0]


# ---------------------------------------------------------------- host names that are group names

CRAFTED = ["all", "ungrouped", "azure_no_imds", "azure_fault_domain_0", "azure_tag_env", "web"]


def _crafted_inventory():
    inventory = InventoryData()
    inventory.add_group("web")
    inventory.add_host("vm-0", group="web")
    inventory.add_host("nodata")
    return inventory


def _check_crafted_refused(inv, warnings, source):
    assert sorted(inv.hosts) == ["nodata", "vm-0", "vm-1"]   # no entry became a host
    for group in ("all", "ungrouped", "web", "azure_no_imds", "azure_fault_domain_0"):
        assert not [key for key in inv.groups[group].get_vars() if key.startswith("azure")], (group, inv.groups[group].get_vars())
    assert members(inv, "azure_no_imds") == ["nodata"] and "azure_placement" not in hvars(inv, "nodata")
    assert members(inv, "azure_fault_domain_0") == ["vm-0"]
    refusal = [warning for warning in warnings if "not added to the inventory" in warning]
    assert len(refusal) == 1 and refusal[0].startswith("imds.azure.placement: 6 entries are not added to the inventory, as a host of that name "
                                                       "would give its variables to a group: "), warnings
    for name in CRAFTED:
        assert " %s (" % name in refusal[0], (name, refusal[0])
    assert "all (the name of the group all)" in refusal[0] and "azure_no_imds (a name of the form of the groups" in refusal[0]


def test_cache_entries_named_like_groups_are_refused_jsonfile(tmp_path, fact_dir, warnings):
    write_facts(fact_dir, dict({"vm-0": imds(fd="0"), "vm-1": imds(fd="1")}, **dict((name, imds(fd="2", zone="3")) for name in CRAFTED)))
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "add_hosts": True,
                         "host_vars": ["placement", "tags"]}, inventory=_crafted_inventory())
    _check_crafted_refused(inv, warnings, "fact_cache")


def test_cache_entries_named_like_groups_are_refused_tree(tmp_path, warnings):
    tree = tmp_path / "tree"
    tree.mkdir()
    for name, facts in dict({"vm-0": imds(fd="0"), "vm-1": imds(fd="1")}, **dict((name, imds(fd="2")) for name in CRAFTED)).items():
        (tree / name).write_text(json.dumps({"ansible_facts": {"azure_imds": facts}}))
    inv = run(tmp_path, {"sources": ["tree"], "tree_dir": str(tree), "add_hosts": True}, inventory=_crafted_inventory())
    _check_crafted_refused(inv, warnings, "tree")


def test_cache_entries_named_like_groups_are_refused_memory(tmp_path, warnings, monkeypatch):
    # A cache plugin that lists its entries from memory (as community.general.redis lists its keys).
    cache = cache_loader.get("ansible.builtin.memory")
    for name, facts in dict({"vm-0": imds(fd="0"), "vm-1": imds(fd="1")}, **dict((name, imds(fd="2")) for name in CRAFTED)).items():
        cache.set(name, {"azure_imds": facts})
    monkeypatch.setattr(_fact_cache, "open_fact_cache", lambda **options: cache)
    monkeypatch.setattr(_fact_cache, "is_persistent", lambda plugin: True)
    inv = run(tmp_path, {"fact_cache_plugin": "ansible.builtin.memory", "add_hosts": True}, inventory=_crafted_inventory())
    _check_crafted_refused(inv, warnings, "fact_cache")


def test_a_host_of_an_earlier_source_named_like_a_group_gets_no_variables(tmp_path, fact_dir, warnings):
    inventory = InventoryData()
    inventory.add_group("db")
    inventory.add_host("db")           # ansible-core lets a host and a group share a name
    inventory.add_host("vm-0", group="db")
    write_facts(fact_dir, {"db": imds(fd="2"), "vm-0": imds(fd="0")})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "host_vars": ["placement"]},
              inventory=inventory)
    assert members(inv, "azure_no_imds") == ["db"] and "azure_placement" not in hvars(inv, "db")
    assert not [key for key in inv.groups["db"].get_vars() if key.startswith("azure")]
    assert "db (the host name is the name of the group db, so the host is not placed" in warnings[0]


def test_local_hostname_all_is_refused(tmp_path, imds_emulator, warnings):
    inv = run(tmp_path, {"sources": ["local"], "endpoint": imds_emulator.url, "detect": "false", "local_hostname": "all"})
    assert not inv.hosts and not inv.groups["all"].get_vars()
    assert "1 entry is not added to the inventory" in warnings[0] and "all (the name of the group all)" in warnings[0]


# ---------------------------------------------------------------- tag group names that collide

def test_tag_group_names_that_would_mean_two_values_are_not_created(tmp_path, fact_dir, warnings):
    hosts = {"a": {"x": "y"}, "b": {"x_y": ""}, "c": {"tier": "db-primary"}, "d": {"tier": "db.primary"},
             "e": {"env_prod": "false"}, "f": {"env": "prod"}, "g": {"tier": "db-primary"}}
    write_facts(fact_dir, dict((name, imds(fd="0", tags=tags)) for name, tags in hosts.items()))
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "add_hosts": True})
    for group in ("azure_tag_x_y", "azure_tag_tier_db_primary", "azure_tag_env_prod"):
        assert group not in inv.groups
    # the names that mean one thing are there, with their parents where those are not ambiguous themselves
    assert members(inv, "azure_tag_x") == ["a"] and members(inv, "azure_tag_tier") == ["c", "d", "g"]
    assert members(inv, "azure_tag_env_prod_false") == ["e"] and members(inv, "azure_tag_env") == ["f"]
    assert inv.groups["azure_tag_env_prod_false"].parent_groups == [] or \
        [group.name for group in inv.groups["azure_tag_env_prod_false"].parent_groups] == ["all"]
    collision = [warning for warning in warnings if "would hold hosts of different values" in warning]
    assert len(collision) == 1 and collision[0].startswith("imds.azure.placement: 3 group name(s) would hold hosts of different values")
    assert "azure_tag_tier_db_primary (tag 'tier' = 'db-primary': c; tag 'tier' = 'db.primary': d)" in collision[0]
    assert "azure_tag_x_y (tag 'x' = 'y': a; tag 'x_y': b)" in collision[0]


# ---------------------------------------------------------------- the inventory cache: damage costs only the entry

def _inventory_cache(tmp_path):
    return cache_loader.get("ansible.builtin.jsonfile", _uri=str(tmp_path / "inv-cache"), _timeout=0, _prefix="ansible_inventory_")


@pytest.mark.parametrize("damage", ["garbage", [1], {"source": "fact_cache", "placement": ["0"], "tags": {}},
                                    {"source": "fact_cache", "placement": {"fault_domain": "1"}, "tags": []}], ids=repr)
def test_a_damaged_inventory_cache_entry_costs_only_itself(tmp_path, fact_dir, warnings, damage):
    write_facts(fact_dir, {"vm-0": imds(fd="0"), "vm-1": imds(fd="1")})
    config = {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "add_hosts": True,
              "cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "inv-cache")}
    run(tmp_path, config, cache=False)
    store = _inventory_cache(tmp_path)
    key = list(store.keys())[0]
    store.set(key, dict(store.get(key), **{"vm-1": damage}))
    os.remove(next(path for path in fact_dir.iterdir() if path.name.endswith("vm-0")))   # now only in the inventory cache
    inv = run(tmp_path, config, cache=True)
    assert members(inv, "azure_fault_domain_0") == ["vm-0"] and members(inv, "azure_fault_domain_1") == ["vm-1"]
    assert len(warnings) == 1 and "1 inventory cache entry is damaged and read from the sources again: vm-1 (" in warnings[0]
    assert _inventory_cache(tmp_path).get(key)["vm-1"]["placement"]["fault_domain"] == "1"   # repaired


@pytest.mark.parametrize("cached, shown", [([], "an array"), ("garbage", "a string"), ({}, "nothing")])
def test_a_damaged_or_empty_inventory_cache_is_rebuilt_with_a_warning(tmp_path, fact_dir, warnings, cached, shown):
    write_facts(fact_dir, {"vm-0": imds(fd="0")})
    config = {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "add_hosts": True,
              "cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "inv-cache")}
    run(tmp_path, config, cache=False)
    store = _inventory_cache(tmp_path)
    store.set(list(store.keys())[0], cached)
    inv = run(tmp_path, config, cache=True)
    assert members(inv, "azure_fault_domain_0") == ["vm-0"]
    assert len(warnings) == 1 and "the inventory cache holds %s, not this plugin's entries: the inventory is built from the sources " \
                                  "again" % shown in warnings[0]


# ---------------------------------------------------------------- configuration mistakes ansible-core lets pass

@pytest.mark.parametrize("config, message", [
    ({"add_host": True}, r"unknown option 'add_host' \(did you mean add_hosts\?\); the options are: add_hosts, api_version,"),
    ({"group-by": ["zone"]}, r"unknown option 'group-by' \(did you mean group_by\?\)"),
    ({"group_bi": ["zone"], "sourcez": ["tree"]}, r"unknown options 'group_bi' \(did you mean group_by\?\), 'sourcez' \(did you mean sources\?\)"),
    ({"add_hosts": [1]}, "add_hosts must be true or false, got an array"),
    ({"add_hosts": {}}, "add_hosts must be true or false, got an object"),
    ({"add_hosts": 2}, "add_hosts must be true or false, got a number"),
    ({"strict": "maybe"}, "strict must be true or false, got a string"),
    ({"group_by": ["zone", "fault_domian"]}, r"group_by: 'fault_domian' is not one of its choices, which are: fault_domain, update_domain, "
                                             r"zone, location, vm_size, scale_set, priority, tags \(did you mean fault_domain\?\)"),
    ({"sources": "fact_cache,trees"}, r"sources: 'trees' is not one of its choices, which are: fact_cache, tree, local"),
    ({"detect": True}, r"detect: a boolean is not one of its choices, which are: auto, true, false"),
])
def test_configuration_mistakes_are_errors_on_every_core(tmp_path, fact_dir, config, message):
    write_facts(fact_dir, {"vm": imds()})
    with pytest.raises(AnsibleParserError, match=r"^imds.azure.placement: .*test.azure_placement.yml: " + message):
        run(tmp_path, dict({"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir)}, **config), hosts=["vm"])


@pytest.mark.parametrize("value", [True, "yes", "true", 1, "on"])
def test_true_in_any_of_its_spellings_is_still_true(tmp_path, fact_dir, value):
    write_facts(fact_dir, {"vm": imds(fd="3")})
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir), "add_hosts": value})
    assert members(inv, "azure_fault_domain_3") == ["vm"]


def test_groups_are_children_in_natural_order(tmp_path, fact_dir):
    """ansible-inventory --graph (and the groups' order) lists domains as 0, 1, 2, 10, whatever order the hosts come in."""
    hosts = {"h-%d" % number: imds(fd=str(number), ud=str(number), tags={"tier": "t%d" % number}) for number in (1, 2, 10, 0)}
    write_facts(fact_dir, hosts)
    inv = run(tmp_path, {"fact_cache_plugin": "jsonfile", "fact_cache_connection": str(fact_dir)}, hosts=list(hosts))
    for parent, child in (("azure_fault_domains", "azure_fault_domain_%d"), ("azure_update_domains", "azure_update_domain_%d"),
                          ("azure_tag_tier", "azure_tag_tier_t%d")):
        assert [group.name for group in inv.groups[parent].child_groups] == [child % number for number in (0, 1, 2, 10)], parent
