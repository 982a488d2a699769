# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata in live mode: 50 leaf lookups in one play vs 50 ansible.builtin.uri tasks,
and the lookup's own cost per call.

1. Both plays read the same 50 leaf values from an emulator on loopback (rate limit off), one task
   per value, in the same run. Printed: HTTP requests per category for each play (the lookup must
   make at most one per category), wall time of each play and the ratio. Most of a task's time is
   Ansible's own per-task work, not the lookup.
2. The lookup's own cost: a play of 4 tasks that each template the 50 lookups 20 times (4,000 calls,
   all but the first per category answered from the lookup's cache), against the same play with
   each lookup replaced by its constant value, and by ansible.builtin.vars called with the same
   arguments (what calling any lookup costs: ansible-core's plugin loading, Jinja and keyword
   handling). Each task runs in a fresh worker process that imports the plugin, so few tasks with
   many calls each measure the calls, not the imports. Costs are CPU time of ansible-playbook and
   its workers (steadier than wall time on a shared machine; both are printed), the better of
   IMDS_BENCH_ROUNDS rounds (default 2). Goal: the lookup's own cost, (lookup play - vars play) /
   4,000, at most 0.1 ms per cached call.
3. Pacing against the client's own 429 backoff: 20 hosts with 10 forks, each reading 3 values with
   cache=false and 2 tokens, against an emulator with IMDS's limits (5 requests/s, identity 20),
   once as shipped and once from a copy of the collection whose lookups do not pace. Printed: the
   requests, the 429 answers and the wall time of each (the pacing is kept while it wins).

Bounded: 300 s per play.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNT = 50
OWN_COST_TASKS = 4
OWN_COST_REPEAT = 20    # each task templates the 50 lookups 20 times: 1,000 calls per task, 4,000 in all
OWN_COST_GOAL_MS = 0.1
ROUNDS = int(os.environ.get("IMDS_BENCH_ROUNDS", "2"))
PLAY_TIMEOUT = 300
PACING_HOSTS, PACING_FORKS = 20, 10
PACED = "transport=PacedTransport(UrlTransport(), self.limiter, validate_endpoint(endpoint)),"


def _leaves(node, prefix=()):
    if isinstance(node, dict):
        for key in sorted(node):
            yield from _leaves(node[key], prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, prefix + (str(index),))
    elif isinstance(node, str):
        yield "/".join(prefix), node


def _write_plays(workdir, url, leaves, version):
    lookup_tasks, uri_tasks = [], []
    for index, (path, value) in enumerate(leaves):
        lookup_tasks.append({
            "name": "lookup %d" % index,
            "ansible.builtin.assert": {"that": ["lookup('imds.azure.metadata', %s, source='live', endpoint=%s) == %s"
                                                % (json.dumps(path), json.dumps(url), json.dumps(value))], "quiet": True},
        })
        uri_tasks.append({
            "name": "uri %d" % index,
            "ansible.builtin.uri": {"url": "%s/metadata/instance/%s?api-version=%s&format=text" % (url, path, version),
                                    "headers": {"Metadata": "true"}, "return_content": True, "use_proxy": False},
            "register": "got",
            "failed_when": "got.status != 200 or got.content != %s" % json.dumps(value),
        })
    files = {}
    for name, tasks in (("lookup", lookup_tasks), ("uri", uri_tasks)):
        play = [{"name": "bench %s" % name, "hosts": "testhost", "gather_facts": False, "tasks": tasks}]
        files[name] = os.path.join(workdir, "%s.yml" % name)
        with open(files[name], "w") as handle:
            json.dump(play, handle)   # JSON is YAML
    return files


def _write_own_cost_plays(workdir, url, leaves):
    """The same tasks three times: each templates all 50 lookups, the 50 constants in their place,
    or 50 calls of ansible.builtin.vars with the same keywords (Ansible's cost of calling any lookup plugin)."""
    files = {}
    for name in ("calls", "constants", "builtin"):
        if name == "calls":
            terms = ["lookup('imds.azure.metadata', %s, source='live', endpoint=%s)" % (json.dumps(path), json.dumps(url)) for path, _value in leaves]
        elif name == "builtin":
            terms = ["lookup('ansible.builtin.vars', 'bench_value_%d', source='live', endpoint=%s)" % (index, json.dumps(url))
                     for index in range(len(leaves))]
        else:
            terms = [json.dumps(value) for _path, value in leaves]
        terms = terms * OWN_COST_REPEAT
        expected = [value for _path, value in leaves] * OWN_COST_REPEAT
        tasks = [{"name": "%s %d" % (name, index),
                  "ansible.builtin.assert": {"that": ["[%s] == %s" % (", ".join(terms), json.dumps(expected))], "quiet": True}}
                 for index in range(OWN_COST_TASKS)]
        files[name] = os.path.join(workdir, "own-%s.yml" % name)
        play_vars = {"bench_value_%d" % index: value for index, (_path, value) in enumerate(leaves)}
        with open(files[name], "w") as handle:
            json.dump([{"name": "own cost %s" % name, "hosts": "testhost", "gather_facts": False, "vars": play_vars, "tasks": tasks}], handle)
    return files


def _run(play, inventory, env, cpu=False, extra=()):
    """Wall seconds of one ansible-playbook run (with cpu=True: (wall, CPU seconds of it and its workers))."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, play] + list(extra),
                            env=env, capture_output=True, text=True, timeout=PLAY_TIMEOUT, check=False)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError("%s failed (rc %d):\n%s" % (os.path.basename(play), result.returncode, (result.stdout + result.stderr)[-3000:]))
    if cpu:
        return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return elapsed


def _by_category(records):
    counts = {}
    for record in records:
        parts = record.path.split("/")
        category = parts[2] if len(parts) > 2 else record.path
        counts[category] = counts.get(category, 0) + 1
    return counts


def _compare_pacing(workdir, emulator_class, env):
    """Section 3: the same play with the lookups' pacing and without it (a patched copy of the collection)."""
    unpaced = os.path.join(workdir, "unpaced", "ansible_collections", "imds", "azure")
    for name in ("plugins", "meta"):
        shutil.copytree(os.path.join(ROOT, name), os.path.join(unpaced, name))
    shutil.copy(os.path.join(ROOT, "galaxy.yml"), unpaced)
    path = os.path.join(unpaced, "plugins", "plugin_utils", "_lookup", "base.py")
    with open(path) as handle:
        text = handle.read()
    if PACED not in text:
        print("   pacing vs 429 backoff: not measured (bench/lookup.py's PACED no longer names the lookups' transport)")
        return
    with open(path, "w") as handle:
        handle.write(text.replace(PACED, "transport=UrlTransport(),"))
    os.makedirs(os.path.join(workdir, "pacing"))   # not beside workdir/collections, which a play's directory would put first
    inventory = os.path.join(workdir, "pacing", "hosts.ini")
    with open(inventory, "w") as handle:
        handle.write("".join("vm%02d ansible_connection=local ansible_python_interpreter=%s\n" % (index, sys.executable)
                             for index in range(PACING_HOSTS)))
    play = os.path.join(workdir, "pacing", "play.yml")
    reads = ["query('imds.azure.metadata', 'compute/vmId', 'compute/location', 'compute/name', source='live', cache=false, endpoint=url)",
             "query('imds.azure.token', 'https://vault.azure.net', 'https://storage.azure.com/', endpoint=url)"]
    with open(play, "w") as handle:
        json.dump([{"name": "pacing", "hosts": "all", "gather_facts": False, "tasks": [
            {"name": "read %d" % index, "ansible.builtin.assert": {"that": ["%s | length > 0" % read], "quiet": True}}
            for index, read in enumerate(reads)]}], handle)
    with emulator_class(rate_limit=5) as emulator:
        for name, collections in (("paced", os.path.join(workdir, "collections")), ("429 backoff only", os.path.join(workdir, "unpaced"))):
            emulator.clear_log()
            wall = _run(play, inventory, dict(env, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_FORKS=str(PACING_FORKS),
                                              ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp-" + name.split()[0])),
                        extra=["-e", "url=" + emulator.url])
            statuses = [record.status for record in emulator.request_log]
            print("   pacing, %d hosts x 5 live reads, %d forks, %-16s %3d requests, %3d answered 429, wall %6.2f s"
                  % (PACING_HOSTS, PACING_FORKS, name + ":", len(statuses), statuses.count(429), wall), flush=True)


def main():
    sys.path.insert(0, ROOT)
    from tools.imds_emulator import Emulator  # pylint: disable=import-outside-toplevel

    workdir = tempfile.mkdtemp(prefix="imds-bench-lookup-")
    try:
        collections = os.path.join(workdir, "collections", "ansible_collections", "imds")
        os.makedirs(collections)
        os.symlink(ROOT, os.path.join(collections, "azure"))
        inventory = os.path.join(workdir, "inventory.ini")
        with open(inventory, "w") as handle:
            handle.write("testhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(workdir, "collections"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"), ANSIBLE_RETRY_FILES_ENABLED="0")
        env.pop("AZURE_IMDS_ENDPOINT", None)
        with Emulator(rate_limit=None) as emulator:
            document = {"compute": emulator.profile["compute"], "network": emulator.profile["network"]}
            leaves = [(path, value) for path, value in _leaves(document) if not path.startswith("compute/userData")][:COUNT]
            request = urllib.request.Request(emulator.url + "/metadata/versions", headers={"Metadata": "true"})
            with urllib.request.urlopen(request, timeout=5) as response:
                version = max(json.load(response)["apiVersions"])   # what the lookup's "latest" negotiates
            files = _write_plays(workdir, emulator.url, leaves, version)
            # warm up (imports, pyc) so that neither play pays for it
            _run(files["lookup"], inventory, env)
            emulator.clear_log()
            lookup_time = _run(files["lookup"], inventory, env)
            lookup_requests = _by_category(emulator.request_log)
            emulator.clear_log()
            uri_time = _run(files["uri"], inventory, env)
            uri_requests = _by_category(emulator.request_log)
            own = _write_own_cost_plays(workdir, emulator.url, leaves)
            best = {}
            for round_number in range(ROUNDS):
                for name in ("constants", "builtin", "calls"):   # interleaved rounds
                    emulator.clear_log()
                    wall, cpu = _run(own[name], inventory, env, cpu=True)
                    print("   own cost round %d: %-9s wall %6.2f s  cpu %6.2f s" % (round_number + 1, name, wall, cpu), flush=True)
                    best[name] = min(best.get(name, (wall, cpu)), (wall, cpu), key=lambda pair: pair[1])
                    if name == "calls":
                        own_requests = _by_category(emulator.request_log)
        print("   %d leaf values, one task each, emulator on loopback (rate limit off)" % len(leaves))
        print("   lookup (live):  %6.2f s  requests %s (total %d)" % (lookup_time, lookup_requests, sum(lookup_requests.values())))
        print("   uri tasks:      %6.2f s  requests %s (total %d)" % (uri_time, uri_requests, sum(uri_requests.values())))
        print("   ratio uri/lookup wall time: %.2fx; requests: %d vs %d" % (
            uri_time / lookup_time, sum(uri_requests.values()), sum(lookup_requests.values())))
        calls = OWN_COST_TASKS * OWN_COST_REPEAT * len(leaves)
        per_call_ms = (best["calls"][1] - best["constants"][1]) / calls * 1000
        print("   lookup's own cost: %d calls in %d tasks (requests %s): CPU %.2f s vs %.2f s with constants, wall %.2f s vs %.2f s"
              % (calls, OWN_COST_TASKS, own_requests, best["calls"][1], best["constants"][1], best["calls"][0], best["constants"][0]))
        print("   all in, per cached call: %.3f ms CPU (wall: %.3f ms) over the constants"
              % (per_call_ms, (best["calls"][0] - best["constants"][0]) / calls * 1000))
        builtin_ms = (best["builtin"][1] - best["constants"][1]) / calls * 1000
        own_ms = per_call_ms - builtin_ms
        print("   of which calling any lookup (ansible.builtin.vars, same arguments): %.3f ms CPU" % builtin_ms)
        print("   lookup's own cost per cached call: %.3f ms CPU (all in, a call costs %.2fx an ansible.builtin.vars call) %s"
              % (own_ms, per_call_ms / builtin_ms if builtin_ms > 0 else float("nan"),
                 "OK (<= %.1f ms)" % OWN_COST_GOAL_MS if own_ms <= OWN_COST_GOAL_MS else "OVER %.1f ms" % OWN_COST_GOAL_MS))
        worst = max(lookup_requests.values()) if lookup_requests else 0
        print("   max requests per category (lookup): %d %s" % (worst, "OK (<= 1)" if worst <= 1 else "TOO MANY"))
        if worst > 1:
            raise RuntimeError("the lookup made more than one request per category: %s" % lookup_requests)
        _compare_pacing(workdir, Emulator, env)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
