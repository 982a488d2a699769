"""Compare the ansible.builtin.constructed settings of examples/placement/placement.constructed.yml
with imds.azure.placement: the same group names, the same hosts in each (with their children's), the
same azure_placement and azure_tags for every placed host.

usage: check_constructed.py PLACEMENT_LIST_JSON CONSTRUCTED_LIST_JSON CONSTRUCTED_DIR

On ansible-core 2.18 and older, constructed templates the strings inside cached facts (lookups
included), so weird-01's tag "template" ({{ lookup('pipe', 'touch EVALUATED') }}) runs in the
inventory update: its value becomes "" and EVALUATED appears in the --playbook-dir (the lookup's
working directory). The guide
says so; this checks it, so that the guide changes when ansible-core does.
"""

import json
import os
import sys

from ansible.release import __version__ as core_version

from check_inventory import unwrap


def groups(data):
    def hosts(name):
        group = data.get(name, {})
        return set(group.get("hosts", [])).union(*[hosts(child) for child in group.get("children", [])])
    return {name: hosts(name) for name in data if name.startswith("azure_")}


def main(placement_path, constructed_path, source_dir):
    placement, constructed = (json.load(open(path, encoding="utf-8")) for path in (placement_path, constructed_path))
    want, got = groups(placement), groups(constructed)
    old_core = tuple(int(part) for part in core_version.split(".")[:2]) < (2, 19)
    template_group = "azure_tag_template____lookup__pipe____touch_EVALUATED_____"
    if old_core:
        assert template_group in want and template_group not in got, sorted(got)
        del want[template_group]
    assert set(want) == set(got), (sorted(set(want) - set(got)), sorted(set(got) - set(want)))
    assert want == got, [(name, sorted(want[name]), sorted(got[name])) for name in want if want[name] != got[name]]
    want_vars, got_vars = (unwrap(data["_meta"]["hostvars"]) for data in (placement, constructed))
    placed = want["azure_update_domains"]
    assert placed and not placed & want["azure_no_imds"] and want["azure_no_imds"], want["azure_no_imds"]
    for host in sorted(placed):
        for name in ("azure_placement", "azure_tags"):
            expected = dict(want_vars[host][name], template="") if old_core and "template" in want_vars[host][name] else want_vars[host][name]
            assert got_vars[host][name] == expected, (host, name, got_vars[host][name], expected)
    assert os.path.exists(os.path.join(source_dir, "EVALUATED")) == old_core, (core_version, os.listdir(source_dir))
    print("check_constructed: %d groups and %d placed hosts as imds.azure.placement makes them (ansible-core %s%s)"
          % (len(got), len(placed), core_version, ": the tag template was evaluated" if old_core else ""))


if __name__ == "__main__":
    main(*sys.argv[1:])
