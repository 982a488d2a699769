"""Check the play/host order printed by the placement recipes (default callback output).

usage: check_order.py rolling|canary LIST_JSON PLAYBOOK_OUTPUT
"""

import json
import re
import sys

from check_inventory import unwrap


def plays(output):
    """[(play name, [hosts with an 'ok' debug result])]"""
    out = []
    for line in output.splitlines():
        match = re.match(r"^PLAY \[(.*)\] \*+", line)
        if match:
            out.append((match.group(1), []))
            continue
        match = re.match(r"^ok: \[([^\]]+)\] => \{", line)
        if match and out:
            out[-1][1].append(match.group(1))
    return out


def main(mode, list_path, output_path):
    data = json.load(open(list_path, encoding="utf-8"))
    hostvars = unwrap(data["_meta"]["hostvars"])
    fleet = set(data["fleet"]["hosts"])
    placed = {name for name in fleet if "azure_placement" in hostvars[name]}
    if mode == "first-ud-host":
        print(sorted(placed, key=lambda h: (int(hostvars[h]["azure_placement"]["update_domain"]), h))[0])
        return
    result = plays(open(output_path, encoding="utf-8").read())
    if mode == "stopped":
        first = min(int(hostvars[h]["azure_placement"]["update_domain"]) for h in placed)
        later = [(name, hosts) for name, hosts in result if name.startswith("Roll out to update domain ") and hosts
                 and int(name.rsplit(" ", 1)[1]) > first]
        assert not later, later
        assert "fatal: [" in open(output_path, encoding="utf-8").read()
        print("check_order: rollout stopped after update domain %d" % first)
        return
    if mode == "rolling":
        seen = []
        order = []
        for name, hosts in result:
            match = re.match(r"^Roll out to update domain (\d+)$", name)
            if not match or not hosts:
                continue
            ud = match.group(1)
            for host in hosts:
                assert hostvars[host]["azure_placement"]["update_domain"] == ud, (host, ud)
            order.append(int(ud))
            seen.extend(hosts)
        assert order == sorted(order) and len(order) == len(set(order)), order
        assert sorted(seen) == sorted(placed), (seen, placed)
        print("check_order: %d hosts in %d update-domain plays, in order %s" % (len(seen), len(order), order))
    else:
        named = dict(result)
        canaries = named["Canaries, one per zone"]
        rest = named["Everything else, once every canary succeeded"]
        zones = {hostvars[h]["azure_placement"]["zone"] for h in placed}
        assert sorted(hostvars[h]["azure_placement"]["zone"] for h in canaries) == sorted(zones), canaries
        assert sorted(canaries + rest) == sorted(placed), (canaries, rest)
        print("check_order: canaries %s for zones %s" % (canaries, sorted(zones)))


if __name__ == "__main__":
    main(*sys.argv[1:])
