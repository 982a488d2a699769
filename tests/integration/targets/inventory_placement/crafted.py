"""Crafted cache entries (issue 22): host names that are group names, tag names that sanitise alike, wrong-typed fields.

usage: crafted.py tree MANIFEST DIR          write crafted --tree result files into DIR
       crafted.py redis MANIFEST HOST:PORT:DB write crafted entries into a Redis fact cache (through its cache plugin)
       crafted.py check LIST_JSON STDERR_TXT  check an `ansible-inventory --list --export` of a source holding them
"""

import json
import os
import sys

# host names ansible-core would look up among the groups first: all of them must be refused
GROUP_NAMES = ["all", "ungrouped", "azure_no_imds", "azure_fault_domain_0", "azure_tag_env"]
# tags whose group names sanitise alike: the group must not be created
COLLIDING = {"collide-a": {"tier": "db-primary"}, "collide-b": {"tier": "db.primary"}}
# a placement field IMDS never sends that way: the host goes to azure_no_imds
WRONG = {"wrong-fd": [0, 1]}


def _facts(vm, tags=None, fault_domain=None):
    """azure_imds facts of a VM of the fleet (its placement values, so that the fleet's groups stay the same)."""
    compute = {"location": vm["location"], "zone": str(vm["zone"]), "platformFaultDomain": str(vm["fault_domain"]),
               "platformUpdateDomain": str(vm["update_domain"]), "vmSize": vm["vm_size"], "priority": vm["priority"],
               "vmScaleSetName": vm["scale_set"], "tagsList": [{"name": name, "value": value} for name, value in (tags or {}).items()]}
    if fault_domain is not None:
        compute["platformFaultDomain"] = fault_domain
    return {"is_azure": True, "endpoint": "http://127.0.0.1:1", "compute": compute, "network": {}}


def entries(manifest_path):
    vm = json.load(open(manifest_path, encoding="utf-8"))[0]
    out = dict((name, _facts(vm, {"env": "crafted"})) for name in GROUP_NAMES)
    out.update((name, _facts(vm, tags)) for name, tags in COLLIDING.items())
    out.update((name, _facts(vm, fault_domain=value)) for name, value in WRONG.items())
    return out


def write_tree(manifest_path, directory):
    for name, facts in entries(manifest_path).items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            json.dump({"changed": False, "ansible_facts": {"azure_imds": facts}}, handle)


def write_redis(manifest_path, connection):
    from ansible.plugins.loader import cache_loader, init_plugin_loader  # pylint: disable=import-outside-toplevel
    init_plugin_loader()
    cache = cache_loader.get("community.general.redis", _uri=connection)
    for name, facts in entries(manifest_path).items():
        cache.set(name, {"azure_imds": facts})


def check(list_path, err_path):
    data = json.load(open(list_path, encoding="utf-8"))
    # warnings are wrapped at the terminal width, at spaces and hyphens: compare without whitespace
    err = "".join(open(err_path, encoding="utf-8").read().split())

    def said(text):
        return "".join(text.split()) in err

    hostvars = data["_meta"]["hostvars"]
    for name in GROUP_NAMES:
        assert name not in hostvars, (name, hostvars.get(name))
    assert not [key for key in data.get("all", {}).get("vars", {}) if key.startswith("azure")], data.get("all")
    for group, body in data.items():
        assert not [key for key in body.get("vars", {}) if key.startswith("azure")], (group, body)
    assert said("entries are not added to the inventory, as a host of that name would give its variables to a group"), err
    for name in GROUP_NAMES:
        assert said(", %s (" % name) or said(": %s (" % name), (name, err)
    # the colliding tag value has no group; the tag name's group holds both hosts
    assert "azure_tag_tier_db_primary" not in data and set(data["azure_tag_tier"]["hosts"]) == set(COLLIDING), data.get("azure_tag_tier")
    assert said("azure_tag_tier_db_primary (tag 'tier' = 'db-primary': collide-a; tag 'tier' = 'db.primary': collide-b)"), err
    assert set(data["azure_no_imds"]["hosts"]) == set(WRONG), data["azure_no_imds"]
    assert said("wrong-fd (") and said("compute.platformFaultDomain is an array"), err
    print("crafted: %d crafted entries refused, 1 tag collision found, %d wrong-typed host(s) in azure_no_imds (%s)"
          % (len(GROUP_NAMES), len(WRONG), list_path))


if __name__ == "__main__":
    {"tree": write_tree, "redis": write_redis, "check": check}[sys.argv[1]](*sys.argv[2:])
