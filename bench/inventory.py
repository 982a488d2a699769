# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory build time and peak memory: imds.azure.placement vs ansible.builtin.constructed.

Writes a jsonfile fact cache of N synthetic hosts (default 10,000; IMDS_BENCH_HOSTS) through
Ansible's own cache plugin, then times `ansible-inventory --list` over it, each run in its own
process so that ru_maxrss is that run's peak:

  hosts       the YAML host list alone (the baseline both others start from)
  placement   hosts + imds.azure.placement (built-in grouping: 8 dimensions + tags)
  constructed hosts + ansible.builtin.constructed with the equivalent keyed_groups

Printed as seconds, as a ratio constructed / placement, and as peak RSS in MiB. Each run is
limited to IMDS_BENCH_TIMEOUT seconds (default 600).
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTS = int(os.environ.get("IMDS_BENCH_HOSTS", "10000"))
TIMEOUT = float(os.environ.get("IMDS_BENCH_TIMEOUT", "600"))
ZONES = ["", "1", "2", "3"]
SIZES = ["Standard_D2s_v5", "Standard_D4s_v5", "Standard_E8s_v5", "Standard_F4s_v2"]

# Measures one child: prints "<seconds> <peak rss kB>" on the last line.
_RUNNER = r"""
import resource, subprocess, sys, time
start = time.monotonic()
with open(sys.argv[2], "wb") as out:
    proc = subprocess.run(sys.argv[3:], stdout=out, stderr=subprocess.PIPE, timeout=float(sys.argv[1]))
elapsed = time.monotonic() - start
if proc.returncode:
    sys.stderr.write(proc.stderr.decode("utf-8", "replace")[-2000:])
    sys.exit(proc.returncode)
print("%.3f %d" % (elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
"""

CONSTRUCTED = """\
plugin: ansible.builtin.constructed
strict: false
keyed_groups:
  - {key: azure_imds.placement.fault_domain, prefix: azure_fault_domain, parent_group: azure_fault_domains, default_value: none}
  - {key: azure_imds.placement.update_domain, prefix: azure_update_domain, parent_group: azure_update_domains, default_value: none}
  - {key: azure_imds.placement.zone, prefix: azure_zone, parent_group: azure_zones, default_value: none}
  - {key: azure_imds.placement.location, prefix: azure_location, parent_group: azure_locations, default_value: none}
  - {key: azure_imds.placement.vm_size, prefix: azure_vm_size, parent_group: azure_vm_sizes, default_value: none}
  - {key: azure_imds.placement.scale_set, prefix: azure_scale_set, parent_group: azure_scale_sets, default_value: none}
  - {key: azure_imds.placement.priority, prefix: azure_priority, parent_group: azure_priorities, default_value: none}
  - {key: azure_imds.tags, prefix: azure_tag, parent_group: azure_tags}
  - {key: azure_imds.tags.keys() | list, prefix: azure_tag, parent_group: azure_tags}
"""


def synthetic_imds(rng, index):
    zone = ZONES[index % len(ZONES)]
    scale_set = "vmss-%d" % (index % 7) if index % 3 == 0 else ""
    placement = {"location": "westeurope", "zone": zone, "fault_domain": str(index % 3), "update_domain": str(index % 5),
                 "sub_fault_domain": "", "scale_set": scale_set, "placement_group": "", "vm_size": rng.choice(SIZES),
                 "priority": "Spot" if index % 11 == 0 else "Regular"}
    tags = {"role": rng.choice(["web", "db", "api", "cache"]), "env": rng.choice(["prod", "test"]), "owner": "team-%d" % (index % 13)}
    compute = {"name": "vm-%05d" % index, "location": "westeurope", "zone": zone, "platformFaultDomain": placement["fault_domain"],
               "platformUpdateDomain": placement["update_domain"], "vmSize": placement["vm_size"], "osType": "Linux",
               "vmId": "%032x" % rng.getrandbits(128), "tagsList": [{"name": k, "value": v} for k, v in tags.items()]}
    network = {"interface": [{"ipv4": {"ipAddress": [{"privateIpAddress": "10.0.%d.%d" % (index // 250, index % 250 + 4)}]}}]}
    return {"is_azure": True, "api_version": "2025-04-07", "endpoint": "http://169.254.169.254", "compute": compute, "network": network,
            "placement": placement, "tags": tags}


def write_cache(work, hosts):
    """The fact cache, written through ansible-core's jsonfile plugin (as ansible-playbook does)."""
    sys.path.insert(0, work)
    from ansible.plugins.loader import cache_loader, init_plugin_loader  # pylint: disable=import-outside-toplevel
    init_plugin_loader([work])
    cache = cache_loader.get("ansible.builtin.jsonfile", _uri=os.path.join(work, "facts"), _timeout=0)
    rng = random.Random(42)
    for index in range(hosts):
        cache.set("vm-%05d" % index, {"azure_imds": synthetic_imds(rng, index), "ansible_hostname": "vm-%05d" % index})


def measure(work, env, sources):
    """(seconds, peak MiB, number of groups with a "azure_" name)"""
    listing = os.path.join(work, "list.json")
    command = [sys.executable, "-c", _RUNNER, str(TIMEOUT), listing, os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "--list"]
    for source in sources:
        command += ["-i", os.path.join(work, source)]
    out = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT + 30, check=False)
    if out.returncode:
        raise RuntimeError("ansible-inventory %s failed: %s" % (" ".join(sources), out.stderr.decode("utf-8", "replace")[-1500:]))
    seconds, rss_kb = out.stdout.decode().split()[-2:]
    with open(listing, "rb") as handle:
        groups = [name for name in json.load(handle) if name.startswith("azure_")]
    return float(seconds), int(rss_kb) / 1024.0, len(groups)


def main():
    work = tempfile.mkdtemp(prefix="imds-bench-inv-")
    try:
        os.makedirs(os.path.join(work, "ansible_collections", "imds"))
        os.symlink(ROOT, os.path.join(work, "ansible_collections", "imds", "azure"))
        started = time.monotonic()
        write_cache(work, HOSTS)
        print("   fact cache: %d hosts written through ansible.builtin.jsonfile in %.1f s" % (HOSTS, time.monotonic() - started), flush=True)
        with open(os.path.join(work, "hosts.yml"), "w", encoding="utf-8") as handle:
            json.dump({"all": {"hosts": {"vm-%05d" % index: None for index in range(HOSTS)}}}, handle)
        with open(os.path.join(work, "bench.azure_placement.yml"), "w", encoding="utf-8") as handle:
            handle.write("plugin: imds.azure.placement\n")
        with open(os.path.join(work, "bench.constructed.yml"), "w", encoding="utf-8") as handle:
            handle.write(CONSTRUCTED)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=work, ANSIBLE_CACHE_PLUGIN="jsonfile",
                   ANSIBLE_CACHE_PLUGIN_CONNECTION=os.path.join(work, "facts"), ANSIBLE_CACHE_PLUGIN_TIMEOUT="0",
                   ANSIBLE_INVENTORY_ENABLED="ansible.builtin.yaml,imds.azure.placement,ansible.builtin.constructed",
                   ANSIBLE_TRANSFORM_INVALID_GROUP_CHARS="silently", ANSIBLE_NOCOLOR="1")
        results = {}
        for name, sources in (("hosts", ["hosts.yml"]), ("placement", ["hosts.yml", "bench.azure_placement.yml"]),
                              ("constructed", ["hosts.yml", "bench.constructed.yml"])):
            results[name] = measure(work, env, sources)
            print("   %-11s %7.2f s   peak RSS %7.1f MiB   %d azure_* groups" % ((name,) + results[name]), flush=True)
        if results["placement"][2] == 0 or results["constructed"][2] == 0:
            raise RuntimeError("an inventory built no azure_* group: the comparison would be meaningless")
        base = results["hosts"][0]
        placement, constructed = results["placement"][0], results["constructed"][0]
        print("   %d cached hosts: placement %.2f s, constructed %.2f s: constructed/placement = %.2fx "
              "(grouping only, host list %.2f s subtracted: %.2fx)"
              % (HOSTS, placement, constructed, constructed / placement,
                 base, (constructed - base) / max(placement - base, 1e-3)), flush=True)
        print("   peak RSS: placement %.1f MiB, constructed %.1f MiB (host list alone %.1f MiB)"
              % (results["placement"][1], results["constructed"][1], results["hosts"][1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
