# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The placement inventory at fleet scale, against ansible.builtin.constructed.

Fact caches of synthetic hosts are written once per run and reused by every measurement. Each
`ansible-inventory` run is a process of its own, so its peak RSS (ru_maxrss) and CPU time are
that run's alone. "Plugin cost" is a run minus the run with the host list alone.

1. Ratios (10,000 hosts, jsonfile cache, `ansible-inventory --list`, the issue's measurement):
   the host list alone, + imds.azure.placement at default options, + placement with
   host_vars [placement, tags] (what the defaults were before 0.2.0), + ansible.builtin.constructed
   with the equivalent keyed_groups (IMDS_BENCH_RATIO_HOSTS changes the 10,000). IMDS_BENCH_ROUNDS rounds (default 2; constructed, by far the
   slowest, runs in the first only), interleaved; each run's cost is against the host list's run of the same round (the machine's
   speed drifts between rounds), and the lower cost of the rounds counts. Goals: constructed's
   cost >= 25x placement's, placement's own memory (peak RSS minus the host list's) <= constructed's own.
   The floor: what any plugin that makes placement's groups from this cache must cost. It is measured like the
   others, as a run of a plugin (written by the bench, FLOOR_PLUGIN) that reads every cache entry once through the
   cache plugin and adds placement's groups from a ready list (the placement run's own listing), and nothing else:
   so it counts what ansible-core and the CLI spend on those groups and on one more inventory source. Constructed's
   cost over the floor's is the most any such plugin could be below constructed. A breakdown of the floor's own
   work (the reads, then ``InventoryData.add_child`` for every membership) is measured in a process of its own.
   Each run also times its sources' parse (_TIMED_CLI), so each cost splits into the plugin's own parse and the rest,
   what ansible-core and the CLI spend listing the groups it made; the parse, timed inside the run, does not depend on
   the host list's run as the cost does.
2. Scale (`ansible-inventory --list --export`, what AWX runs for an inventory source) at
   IMDS_BENCH_SIZES hosts (default 10000,100000), jsonfile and Redis caches: the cost per
   1,000 hosts must stay flat (the ratio of the largest size's to the smallest's, about 1), next to the
   floor's at the same sizes (how flat ansible-core itself stays). `--export` leaves out the facts that plain `--list` prints for every
   host: reading them is the CLI's cost, the same with or without the plugin, and at 100,000 hosts
   it would take most of the run. Redis needs redis-server (Debian package redis-server).

CPU seconds (user + system of the run) are the figures compared: on a machine shared with other
work they vary far less than wall time, which is printed too. Each run is limited to
IMDS_BENCH_TIMEOUT seconds (default 1800).
"""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = [int(size) for size in os.environ.get("IMDS_BENCH_SIZES", "10000,100000").split(",") if size.strip()]
RATIO_HOSTS = int(os.environ.get("IMDS_BENCH_RATIO_HOSTS", "10000"))
ROUNDS = int(os.environ.get("IMDS_BENCH_ROUNDS", "2"))
TIMEOUT = float(os.environ.get("IMDS_BENCH_TIMEOUT", "1800"))
ZONES = ["", "1", "2", "3"]
SIZES_VM = ["Standard_D2s_v5", "Standard_D4s_v5", "Standard_E8s_v5", "Standard_F4s_v2"]

# Measures one child: prints "<wall s> <cpu s> <peak rss kB>" on the last line.
_RUNNER = r"""
import resource, subprocess, sys, time
start = time.monotonic()
with open(sys.argv[2], "wb") as out:
    proc = subprocess.run(sys.argv[3:], stdout=out, stderr=subprocess.PIPE, timeout=float(sys.argv[1]))
elapsed = time.monotonic() - start
if proc.returncode:
    sys.stderr.write(proc.stderr.decode("utf-8", "replace")[-2000:])
    sys.exit(proc.returncode)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f %.3f %d" % (elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss))
"""

# ansible-inventory itself, run with each inventory source's parse timed: the CPU seconds of each
# InventoryManager.parse_source call go to the file named by argv[1], a line per source. What a run costs beyond
# its sources' parse is ansible-core's (and the CLI's) work on what they added: listing the groups and memberships.
_TIMED_CLI = r"""
import runpy, sys, time
from ansible.inventory.manager import InventoryManager
times, parse_source = open(sys.argv[1], "w"), InventoryManager.parse_source
def timed(self, source, cache=False):
    start = time.process_time()
    try:
        return parse_source(self, source, cache)
    finally:
        times.write("%.3f %s\n" % (time.process_time() - start, source))
        times.flush()
InventoryManager.parse_source = timed
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

# The floor: every entry read once through the cache plugin, then ansible-core's membership calls for the groups
# of a placement listing. Prints the CPU seconds of the two.
_FLOOR = r"""
import json, sys, time
from ansible.inventory.data import InventoryData
from ansible.plugins.loader import cache_loader, init_plugin_loader
init_plugin_loader([])
cache_dir, listing = sys.argv[1:]
with open(listing) as handle:
    groups = dict((name, group) for name, group in json.load(handle).items() if name.startswith("azure_"))
inventory = InventoryData()
start = time.process_time()
cache = cache_loader.get("ansible.builtin.jsonfile", _uri=cache_dir, _timeout=0, _prefix="")
for key in cache.keys():
    cache.get(key)
read = time.process_time() - start
for host in set(host for group in groups.values() for host in group.get("hosts", ())):
    inventory.add_host(host)
start = time.process_time()
for name, group in groups.items():
    inventory.add_group(name)
    for host in group.get("hosts", ()):
        inventory.add_child(name, host)
for name, group in groups.items():
    for child in group.get("children", ()):
        inventory.add_child(name, child)
print("%.3f %.3f" % (read, time.process_time() - start))
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


# The floor as an inventory source: every fact cache entry read once, then placement's groups and variables added from
# the placement run's listing (_keep_for_floor), nothing computed.
FLOOR_PLUGIN = '''
import json

from ansible import constants as C
from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.plugins.loader import cache_loader


class InventoryModule(BaseInventoryPlugin):
    NAME = "imdsbench.floor.groups"

    def verify_file(self, path):
        return path.endswith(".floor.yml")

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path)
        with open(loader.load_from_file(path)["listing"]) as handle:
            listing = json.load(handle)
        groups = dict((name, group) for name, group in listing.items() if name.startswith("azure_"))
        # The cache as ansible-core's VariableManager opens it. A file cache without a configured prefix cannot list its
        # keys (len(None)); its file names have no prefix then. The 2.19+ proxy cannot list redis's (bytes) keys: list the
        # plugin's own, then read through the proxy by host name.
        facts = cache_loader.get(C.CACHE_PLUGIN)
        plugin = getattr(facts, "__wrapped__", facts)
        if plugin.get_option("_prefix") is None:
            plugin.set_option("_prefix", "")
        restore = getattr(facts, "_restore_key", lambda key: key)
        read = 0
        for key in plugin.keys():
            read += bool(facts.get(restore(key.decode() if isinstance(key, bytes) else key)))
        if read != len(listing["_meta"]["hostvars"]):
            raise AnsibleParserError("the floor read %d fact cache entries, not %d" % (read, len(listing["_meta"]["hostvars"])))
        for name in groups:
            inventory.add_group(name)
        for name, group in groups.items():
            for member in group.get("hosts", []) + group.get("children", []):
                inventory.add_child(name, member)
        for host, variables in listing["_meta"]["hostvars"].items():   # what placement set (--export: azure_placement, azure_tags)
            for key, value in variables.items():
                inventory.set_variable(host, key, value)
'''


def synthetic_imds(rng, index):
    zone = ZONES[index % len(ZONES)]
    scale_set = "vmss-%d" % (index % 7) if index % 3 == 0 else ""
    placement = {"location": "westeurope", "zone": zone, "fault_domain": str(index % 3), "update_domain": str(index % 5),
                 "sub_fault_domain": "", "scale_set": scale_set, "placement_group": "", "vm_size": rng.choice(SIZES_VM),
                 "priority": "Spot" if index % 11 == 0 else "Regular"}
    tags = {"role": rng.choice(["web", "db", "api", "cache"]), "env": rng.choice(["prod", "test"]), "owner": "team-%d" % (index % 13)}
    compute = {"name": "vm-%06d" % index, "location": "westeurope", "zone": zone, "platformFaultDomain": placement["fault_domain"],
               "platformUpdateDomain": placement["update_domain"], "vmSize": placement["vm_size"], "osType": "Linux",
               "vmId": "%032x" % rng.getrandbits(128), "tagsList": [{"name": k, "value": v} for k, v in tags.items()]}
    network = {"interface": [{"ipv4": {"ipAddress": [{"privateIpAddress": "10.%d.%d.%d" % (index // 62500, index // 250 % 250, index % 250 + 4)}]}}]}
    # A cached fact as metadata_facts writes it: the endpoint is a value here, never contacted.
    return {"is_azure": True, "api_version": "2025-04-07", "endpoint": "http://169.254.169.254", "compute": compute, "network": network,
            "placement": placement, "tags": tags}


def host_facts(hosts):
    rng = random.Random(42)
    for index in range(hosts):
        name = "vm-%06d" % index
        yield name, {"azure_imds": synthetic_imds(rng, index), "ansible_hostname": name}


def _cache_plugin(name, **options):
    from ansible.plugins.loader import cache_loader  # pylint: disable=import-outside-toplevel
    plugin = cache_loader.get(name, **options)
    if plugin is None:
        raise RuntimeError("cache plugin %s not found" % name)
    return plugin


def write_jsonfile_cache(directory, hosts):
    """A jsonfile fact cache in exactly the layout ansible-core's plugin writes, fast.

    One entry is written through the plugin; the others are written as files in the layout that
    entry shows (2.19+: ``s1_<host>`` holding ``{"__payload__": "<json>"}``; older cores: ``<host>``
    holding the facts), and a sample of them is read back through the plugin and compared.
    Writing 100,000 entries through the plugin's set() would take minutes.
    """
    os.makedirs(directory)
    plugin = _cache_plugin("ansible.builtin.jsonfile", _uri=directory, _timeout=0, _prefix="")
    entries = host_facts(hosts)
    first_name, first_facts = next(entries)
    plugin.set(first_name, first_facts)
    (written,) = os.listdir(directory)
    wrapped = written != first_name
    prefix = written[:-len(first_name)]
    for name, facts in entries:
        value = {"__payload__": json.dumps(facts)} if wrapped else facts
        with open(os.path.join(directory, prefix + name), "w", encoding="utf-8") as handle:
            handle.write(json.dumps(value, sort_keys=True, indent=4))
    _check_sample(_cache_plugin("ansible.builtin.jsonfile", _uri=directory, _timeout=0, _prefix=""), hosts)


def write_redis_cache(connection, hosts):
    """Entries written by community.general.redis's own set(), queued on a pipeline."""
    plugin = _cache_plugin("community.general.redis", _uri=connection, _timeout=0)
    writer = getattr(plugin, "__wrapped__", plugin)
    client = writer._db  # pylint: disable=protected-access
    pipeline = client.pipeline(transaction=False)
    writer._db = pipeline  # pylint: disable=protected-access
    try:
        for count, (name, facts) in enumerate(host_facts(hosts), 1):
            plugin.set(name, facts)
            if count % 2000 == 0:
                pipeline.execute()
                writer._cache.clear()  # pylint: disable=protected-access
        pipeline.execute()
    finally:
        writer._db = client  # pylint: disable=protected-access
    _check_sample(_cache_plugin("community.general.redis", _uri=connection, _timeout=0), hosts)


def _check_sample(plugin, hosts):
    expected = dict(host_facts(min(hosts, 200)))
    for name in (sorted(expected)[0], sorted(expected)[-1]):
        if plugin.get(name) != expected[name]:
            raise RuntimeError("the generated fact cache does not read back through the cache plugin (%s)" % name)
    listed = len(getattr(plugin, "__wrapped__", plugin).keys())  # the 2.19+ proxy cannot list redis's bytes keys
    if listed != hosts:
        raise RuntimeError("the generated fact cache lists %d entries, not %d" % (listed, hosts))


class Redis(object):
    """redis-server on a free loopback port, in a temporary directory, stopped on exit."""

    def __init__(self, work):
        self.work = work
        self.proc = None
        self.port = None

    def __enter__(self):
        server = shutil.which("redis-server")
        if not server:
            raise FileNotFoundError("redis-server is not installed (Debian package redis-server)")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        directory = os.path.join(self.work, "redis")
        os.makedirs(directory)
        self.proc = subprocess.Popen([server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                      "--dir", directory, "--databases", "16"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis  # pylint: disable=import-outside-toplevel
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(host="127.0.0.1", port=self.port).ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.__exit__()
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.1)

    def connection(self, database):
        return "127.0.0.1:%d:%d" % (self.port, database)

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class Bench(object):
    def __init__(self, work):
        self.work = work
        self.base_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=work, ANSIBLE_CACHE_PLUGIN_TIMEOUT="0",
                             ANSIBLE_INVENTORY_ENABLED="ansible.builtin.yaml,imds.azure.placement,ansible.builtin.constructed,"
                                                       "imdsbench.floor.groups",
                             ANSIBLE_TRANSFORM_INVALID_GROUP_CHARS="silently", ANSIBLE_NOCOLOR="1")
        for name, text in (("default.azure_placement.yml", "plugin: imds.azure.placement\n"),
                           ("vars.azure_placement.yml", "plugin: imds.azure.placement\nhost_vars: [placement, tags]\n"),
                           ("bench.constructed.yml", CONSTRUCTED),
                           ("bench.floor.yml", "plugin: imdsbench.floor.groups\nlisting: %s\n" % os.path.join(work, "placement.json")),
                           (os.path.join("ansible_collections", "imdsbench", "floor", "plugins", "inventory", "groups.py"), FLOOR_PLUGIN)):
            path = os.path.join(work, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)

    def host_list(self, hosts):
        path = os.path.join(self.work, "hosts-%d.yml" % hosts)
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"all": {"hosts": {"vm-%06d" % index: None for index in range(hosts)}}}, handle)
        return path

    def measure(self, hosts, sources, cache_plugin, connection, export=False, keep=None):
        """(wall s, cpu s, peak MiB, number of azure_* groups, CPU s of the last source's parse); ``keep``: where to keep
        the listing"""
        listing, parse_times = os.path.join(self.work, "list.json"), os.path.join(self.work, "parse-times.txt")
        command = [sys.executable, "-c", _RUNNER, str(TIMEOUT), listing, sys.executable, "-c", _TIMED_CLI, parse_times,
                   os.path.join(os.path.dirname(sys.executable), "ansible-inventory"),
                   "--list"] + (["--export"] if export else []) + ["-i", self.host_list(hosts)]
        for source in sources:
            command += ["-i", os.path.join(self.work, source)]
        env = dict(self.base_env, ANSIBLE_CACHE_PLUGIN=cache_plugin, ANSIBLE_CACHE_PLUGIN_CONNECTION=connection)
        out = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT + 60, check=False)
        if out.returncode:
            raise RuntimeError("ansible-inventory %s failed: %s" % (" ".join(sources), out.stderr.decode("utf-8", "replace")[-1500:]))
        wall, cpu, rss_kb = out.stdout.decode().split()[-3:]
        with open(listing, "rb") as handle:
            listed = json.load(handle)
        with open(parse_times, encoding="utf-8") as handle:
            parsed = [line.split(" ", 1) for line in handle.read().splitlines()]
        os.remove(listing)
        os.remove(parse_times)
        if len(parsed) != 1 + len(sources) or not parsed[-1][1].endswith(sources[-1] if sources else ".yml"):
            raise RuntimeError("ansible-inventory %s: the parse of each source was not timed (%r)" % (" ".join(sources), parsed))
        if keep:
            _keep_for_floor(listed, keep)
        groups = [name for name in listed if name.startswith("azure_")]
        if sources and (not groups or len(listed["_meta"]["hostvars"]) < hosts):
            raise RuntimeError("ansible-inventory %s built no azure_* group or lost hosts: the measurement would be meaningless" % sources)
        return float(wall), float(cpu), int(rss_kb) / 1024.0, len(groups), float(parsed[-1][0])


def _keep_for_floor(listed, path):
    """What the floor adds, from a placement listing: its azure_* groups and the azure_* variables it set (not the facts that
    `--list` prints for every host, whose reading would be counted in the floor but not in placement)."""
    hostvars = {}
    for host, variables in listed["_meta"]["hostvars"].items():
        hostvars[host] = dict((key, value) for key, value in variables.items() if key.startswith("azure_") and key != "azure_imds")
    slim = dict((name, group) for name, group in listed.items() if name.startswith("azure_"))
    slim["_meta"] = {"hostvars": hostvars}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(slim, handle)


def _floor(directory, listing):
    out = subprocess.run([sys.executable, "-c", _FLOOR, directory, listing], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=TIMEOUT, check=False)
    if out.returncode:
        raise RuntimeError("the floor's measurement failed: %s" % out.stderr.decode("utf-8", "replace")[-1500:])
    read, members = (float(value) for value in out.stdout.decode().split()[-2:])
    return read, members


def _ratios(bench, directory):
    runs = [("hosts", []), ("placement", ["default.azure_placement.yml"]), ("floor", ["bench.floor.yml"]),
            ("placement+vars", ["vars.azure_placement.yml"]), ("constructed", ["bench.constructed.yml"])]
    cheapest, peak, bases = {}, {}, []   # cheapest: name -> (cost, its source's parse) of its cheapest round
    for round_number in range(ROUNDS):
        for name, sources in runs:
            if name == "constructed" and round_number:
                continue
            keep = os.path.join(bench.work, "placement.json") if name == "placement" else None
            wall, cpu, rss, groups, parse = bench.measure(RATIO_HOSTS, sources, "jsonfile", directory, keep=keep)
            print("   round %d  %-15s wall %7.2f s  cpu %7.2f s  peak RSS %7.1f MiB  %d azure_* groups  its source's parse %.2f s"
                  % (round_number + 1, name, wall, cpu, rss, groups, parse), flush=True)
            peak[name] = max(peak.get(name, 0), rss)
            if name == "hosts":
                bases.append(cpu)   # each run's cost is against its own round's host list: the machine's speed drifts
            else:
                cheapest[name] = min(cheapest.get(name, (float("inf"),)), (max(cpu - bases[-1], 1e-3), parse))
    cost = dict((name, value[0]) for name, value in cheapest.items())
    print("   %d hosts, --list, jsonfile; plugin cost = CPU s minus the host list alone in the same round (%s s), lowest of %d round(s):"
          % (RATIO_HOSTS, ", ".join("%.2f" % base for base in bases), ROUNDS))
    for name in ("placement", "placement+vars"):
        print("     %-15s %6.2f s   constructed (%.2f s) / %s = %.1fx   (goal: >= 25x)"
              % (name, cost[name], cost["constructed"], name, cost["constructed"] / cost[name]))
    read, members = _floor(directory, os.path.join(bench.work, "placement.json"))
    print("     floor           %6.2f s   (a plugin that reads every cache entry once and adds placement's groups from a ready list): "
          "placement / floor = %.2fx; constructed / floor = %.1fx, the most any plugin making these groups can be below constructed"
          % (cost["floor"], cost["placement"] / cost["floor"], cost["constructed"] / cost["floor"]))
    print("                               of its own work, measured alone: the reads %.2f s, ansible-core's add_child for placement's "
          "memberships %.2f s" % (read, members))
    parse = dict((name, cheapest[name][1]) for name in ("placement", "floor", "constructed"))
    print("   of each cost, its source's own parse (InventoryManager.parse_source, timed in the same run) and the rest, what "
          "ansible-core and the CLI spend on what the source added (listing the groups): %s" % "; ".join(
              "%s %.2f s + %.2f s" % (name, parse[name], cost[name] - parse[name]) for name in ("placement", "floor", "constructed")))
    print("     placement's parse / the floor's = %.2fx; constructed's parse / placement's = %.1fx"
          % (parse["placement"] / parse["floor"], parse["constructed"] / parse["placement"]))
    own = dict((name, peak[name] - peak["hosts"]) for name in peak if name not in ("hosts", "floor"))
    print("   peak RSS: host list alone %.1f MiB; own (minus the host list's): placement %.1f MiB, placement+vars %.1f MiB, "
          "constructed %.1f MiB (goal: placement <= constructed)"
          % (peak["hosts"], own["placement"], own["placement+vars"], own["constructed"]), flush=True)


def _scale(bench, label, cache_plugin, connections):
    print("   scale, %s cache, --list --export (placement at default options; with --export it sets azure_placement and azure_tags):" % label, flush=True)
    print("     %8s %10s %14s %13s %14s" % ("hosts", "cost CPU s", "s / 1,000 hosts", "run wall s", "peak RSS MiB"))
    per_thousand = []
    for hosts in SIZES:
        base = bench.measure(hosts, [], cache_plugin, connections[hosts], export=True)
        run = bench.measure(hosts, ["default.azure_placement.yml"], cache_plugin, connections[hosts], export=True,
                            keep=os.path.join(bench.work, "placement.json"))
        floor = bench.measure(hosts, ["bench.floor.yml"], cache_plugin, connections[hosts], export=True)
        cost = run[1] - base[1]
        per_thousand.append((cost / hosts * 1000, (floor[1] - base[1]) / hosts * 1000))
        print("     %8d %10.2f %14.3f %13.2f %14.1f   floor %.3f s / 1,000 hosts"
              % (hosts, cost, per_thousand[-1][0], run[0], run[2], per_thousand[-1][1]), flush=True)
    if len(per_thousand) > 1:
        print("     cost per host, %d hosts / %d hosts: %.2fx (flat: about 1); the floor's: %.2fx"
              % (SIZES[-1], SIZES[0], per_thousand[-1][0] / per_thousand[0][0], per_thousand[-1][1] / per_thousand[0][1]), flush=True)


def main():
    work = tempfile.mkdtemp(prefix="imds-bench-inv-")
    started_all = time.monotonic()
    try:
        os.makedirs(os.path.join(work, "ansible_collections", "imds"))
        os.symlink(ROOT, os.path.join(work, "ansible_collections", "imds", "azure"))
        sys.path.insert(0, work)
        from ansible.plugins.loader import init_plugin_loader  # pylint: disable=import-outside-toplevel
        init_plugin_loader([work])
        bench = Bench(work)
        started = time.monotonic()
        jsonfile = {}
        for hosts in sorted(set(SIZES + [RATIO_HOSTS])):
            jsonfile[hosts] = os.path.join(work, "facts-%d" % hosts)
            write_jsonfile_cache(jsonfile[hosts], hosts)
        print("   jsonfile fact caches of %s hosts written in %.1f s" % (", ".join(str(size) for size in sorted(jsonfile)), time.monotonic() - started),
              flush=True)
        _ratios(bench, jsonfile[RATIO_HOSTS])
        _scale(bench, "jsonfile", "jsonfile", jsonfile)
        try:
            with Redis(work) as server:
                started = time.monotonic()
                connections = {}
                for database, hosts in enumerate(SIZES):
                    connections[hosts] = server.connection(database)
                    write_redis_cache(connections[hosts], hosts)
                print("   Redis fact caches written through community.general.redis in %.1f s" % (time.monotonic() - started), flush=True)
                _scale(bench, "Redis", "community.general.redis", connections)
        except FileNotFoundError as exc:
            print("   Redis: SKIPPED: %s" % exc, flush=True)
        print("   inventory benchmark: %.0f s wall" % (time.monotonic() - started_all), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
