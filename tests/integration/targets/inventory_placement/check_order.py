"""Check the play/host order printed by the placement recipes (default callback output).

usage: check_order.py canary LIST_JSON PLAYBOOK_OUTPUT
       check_order.py rolling LIST_JSON PLAYBOOK_OUTPUT [LIMIT [STOP_HOST]]
       check_order.py plan LIST_JSON
"""

import json
import re
import sys

from check_inventory import unwrap


ROLLING_PLAY = "Roll the change out one update domain at a time"
ROLLING_TASK = "Apply the change (replace with your own tasks; this one checks that the host answers)"
RESULT = re.compile(r"^(ok|changed|fatal|failed|skipping): \[([^\]]+)\](.*)$")


def results(output):
    """[(play, [(task, [(status, host, rest of the line)])])] from the default callback's output."""
    out = []
    for line in output.splitlines():
        match = re.match(r"^(PLAY|TASK) \[(.*)\] \*+", line)
        if match and match.group(1) == "PLAY":
            out.append((match.group(2), []))
        elif match and out:
            out[-1][1].append((match.group(2), []))
        elif out and out[-1][1]:
            match = RESULT.match(line)
            if match:
                out[-1][1][-1][1].append(match.groups())
    return out


def plays(output):
    """[(play name, [hosts with an 'ok' debug result])]"""
    return [(play, [host for _task, lines in tasks for status, host, rest in lines if status == "ok" and rest.startswith(" => {")])
            for play, tasks in results(output)]


def update_domains(list_path):
    """{host: update domain (int)} of the placed hosts of the group fleet."""
    data = json.load(open(list_path, encoding="utf-8"))
    hostvars = unwrap(data["_meta"]["hostvars"])
    return {name: int(hostvars[name]["azure_placement"]["update_domain"]) for name in data["fleet"]["hosts"] if "azure_placement" in hostvars[name]}


def expected_batches(domains, hosts):
    return [sorted(host for host in hosts if domains[host] == ud) for ud in sorted({domains[host] for host in hosts})]


def plan(list_path):
    """Shell assignments for the limited and failing runs: a --limit that leaves part of several update
    domains, a host of the second update domain it leaves that fails, a host of the first that is unreachable."""
    domains = update_domains(list_path)
    batches = expected_batches(domains, domains)
    limited = sorted(set(domains) - {batch[0] for batch in batches if len(batch) > 1})
    assert len(expected_batches(domains, limited)) >= 3, batches
    print("ROLLING_LIMIT=%s" % ",".join(limited))
    print("ROLLING_FAIL_HOST=%s" % expected_batches(domains, limited)[1][0])
    print("ROLLING_UNREACHABLE_HOST=%s" % batches[0][0])
    print("ROLLING_MIXED='%s'" % json.dumps({"rolling_batches": [limited]}))


def rolling(list_path, output_path, limit="", stop_host=""):
    """The rolling play ran one batch per update domain, each batch exactly the (limited) hosts of that
    update domain, in ascending order; with stop_host, it failed there and no later update domain ran."""
    domains = update_domains(list_path)
    targets = limit.split(",") if limit else list(domains)
    expected = expected_batches(domains, targets)
    if stop_host:
        expected = expected[:[index for index, batch in enumerate(expected) if stop_host in batch][0] + 1]
    observed = []
    failed = set()
    for play, tasks in results(open(output_path, encoding="utf-8").read()):
        if play != ROLLING_PLAY:
            continue
        hosts = set()
        for task, lines in tasks:
            if task == ROLLING_TASK:
                hosts.update(host for _status, host, _rest in lines)
                failed.update(host for status, host, _rest in lines if status == "fatal")
        if hosts:  # a batch stopped by the play's first check changes no host
            observed.append(sorted(hosts))
    assert observed == expected, (observed, expected)
    assert failed == ({stop_host} if stop_host else set()), failed
    print("check_order: update domains %s in %d batches of %s%s" % (
        [domains[batch[0]] for batch in observed], len(observed), [len(batch) for batch in observed],
        ", stopped at %s" % stop_host if stop_host else ""))


def main(mode, list_path, output_path=None, *args):
    if mode == "plan":
        plan(list_path)
        return
    if mode == "rolling":
        rolling(list_path, output_path, *args)
        return
    data = json.load(open(list_path, encoding="utf-8"))
    hostvars = unwrap(data["_meta"]["hostvars"])
    fleet = set(data["fleet"]["hosts"])
    placed = {name for name in fleet if "azure_placement" in hostvars[name]}
    result = plays(open(output_path, encoding="utf-8").read())
    named = dict(result)
    canaries = named["Canaries, one per zone"]
    rest = named["Everything else, once every canary succeeded"]
    zones = {hostvars[h]["azure_placement"]["zone"] for h in placed}
    assert sorted(hostvars[h]["azure_placement"]["zone"] for h in canaries) == sorted(zones), canaries
    assert sorted(canaries + rest) == sorted(placed), (canaries, rest)
    print("check_order: canaries %s for zones %s" % (canaries, sorted(zones)))


if __name__ == "__main__":
    main(*sys.argv[1:])
