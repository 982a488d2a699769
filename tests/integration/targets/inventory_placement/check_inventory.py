"""Check `ansible-inventory --list --export` output of imds.azure.placement against the fleet manifest.

usage: check_inventory.py MANIFEST LIST_JSON GRAPH_TXT|- STDERR_TXT|- [HOST,... in azure_no_imds besides not-gathered]
"""

import json
import re
import sys

JINJA = "{{ lookup('pipe', 'touch EVALUATED') }}"


def safe(name):
    return re.sub(r"^[\d\W]|[^\w]", "_", name)


def unwrap(value):
    """ansible-inventory writes unsafe strings as {"__ansible_unsafe": "..."}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def main(manifest_path, list_path, graph_path, err_path, unplaced=""):
    manifest = json.load(open(manifest_path, encoding="utf-8"))
    data = json.load(open(list_path, encoding="utf-8"))
    raw_hostvars = data["_meta"]["hostvars"]
    hostvars = unwrap(raw_hostvars)
    # values from IMDS are marked unsafe (wrap_var): the export shows the marker
    first = manifest[0]["name"]
    assert raw_hostvars[first]["azure_placement"]["fault_domain"] == {"__ansible_unsafe": str(manifest[0]["fault_domain"])}, raw_hostvars[first]

    def hosts(group):
        return set(data.get(group, {}).get("hosts", []))

    def children(group):
        return set(data.get(group, {}).get("children", []))

    checked = 0
    for vm in manifest:
        name = vm["name"]
        placement = hostvars[name]["azure_placement"]
        for key in ("fault_domain", "update_domain", "zone", "location", "vm_size", "priority", "scale_set"):
            assert placement[key] == str(vm[key]), (name, key, placement, vm)
            group = safe("azure_%s_%s" % (key, vm[key] if str(vm[key]) != "" else "none"))
            assert name in hosts(group), (name, group, data.get(group))
            parent = {"priority": "azure_priorities"}.get(key, "azure_%ss" % key)
            assert group in children(parent), (group, parent, children(parent))
        assert hostvars[name]["azure_tags"] == vm["tags"], (name, hostvars[name]["azure_tags"], vm["tags"])
        for tag, value in vm["tags"].items():
            assert name in hosts(safe("azure_tag_%s" % tag)), (name, tag)
            assert name in hosts(safe("azure_tag_%s_%s" % (tag, value))), (name, tag, value)
        checked += 1
    fds = {str(vm["fault_domain"]) for vm in manifest}
    assert children("azure_fault_domains") == {"azure_fault_domain_%s" % fd for fd in fds} | (
        {"azure_fault_domain_0"} if "weird-01" in hostvars else set()), children("azure_fault_domains")

    if "weird-01" in hostvars:
        weird = hostvars["weird-01"]
        assert raw_hostvars["weird-01"]["azure_tags"]["template"] == {"__ansible_unsafe": JINJA}, raw_hostvars["weird-01"]
        assert weird["azure_tags"]["template"] == JINJA, weird
        assert weird["azure_tags"]["ville"] == "Zürich – 東京", weird
        assert weird["azure_tags"]["cost center"] == "cc:1234;shared", weird
        assert weird["azure_placement"]["zone"] == "" and weird["azure_placement"]["fault_domain"] == "0", weird
        for group in ("azure_zone_none", "azure_fault_domain_0", "azure_tag_cost_center_cc_1234_shared", "azure_tag_note_a_b__c__d",
                      "azure_tag_ville_Zürich___東京", "azure_tag_empty", "azure_tag_template____lookup__pipe____touch_EVALUATED_____"):
            assert "weird-01" in hosts(group), (group, data.get(group))
        assert "azure_tag_empty_" not in data
    if "not-gathered" in hosts("nodata"):
        assert hosts("azure_no_imds") == {"not-gathered"}, data.get("azure_no_imds")
        assert "azure_placement" not in hostvars.get("not-gathered", {})
    else:
        assert hosts("azure_no_imds") == set(filter(None, unplaced.split(","))), data.get("azure_no_imds")
    if graph_path != "-":
        graph = open(graph_path, encoding="utf-8").read()
        assert "@azure_fault_domains:" in graph and "|--@azure_fault_domain_0:" in graph, graph
        assert "@azure_no_imds:" in graph and "not-gathered" in graph, graph
        # domains in numeric order, whatever order the hosts came in (weird-01 is in update domain 12)
        for dimension in ("fault_domain", "update_domain"):
            listed = [int(number) for number in re.findall(r"\|--@azure_%s_([0-9]+):" % dimension, graph)]
            assert listed == sorted(listed) and len(listed) > 1, (dimension, listed)
    if err_path != "-":
        err = open(err_path, encoding="utf-8").read()
        assert "1 host(s) have no IMDS data" in err and "not-gathered" in err, err
    print("check_inventory: %d fleet hosts OK (%s)" % (checked, list_path))


if __name__ == "__main__":
    main(*sys.argv[1:])
