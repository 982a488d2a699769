# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata in live mode: 50 leaf lookups in one play vs 50 ansible.builtin.uri tasks.

Both plays read the same 50 leaf values from an emulator on loopback (rate limit off), one task per
value, in the same run. Printed: HTTP requests per category for each play (the lookup must make at
most one per category), wall time of each play and the ratio. Bounded: 50 tasks each, 300 s per play.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNT = 50
PLAY_TIMEOUT = 300


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


def _run(play, inventory, env):
    started = time.monotonic()
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, play],
                            env=env, capture_output=True, text=True, timeout=PLAY_TIMEOUT, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError("%s failed (rc %d):\n%s" % (os.path.basename(play), result.returncode, (result.stdout + result.stderr)[-3000:]))
    return elapsed


def _by_category(records):
    counts = {}
    for record in records:
        parts = record.path.split("/")
        category = parts[2] if len(parts) > 2 else record.path
        counts[category] = counts.get(category, 0) + 1
    return counts


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
        print("   %d leaf values, one task each, emulator on loopback (rate limit off)" % len(leaves))
        print("   lookup (live):  %6.2f s  requests %s (total %d)" % (lookup_time, lookup_requests, sum(lookup_requests.values())))
        print("   uri tasks:      %6.2f s  requests %s (total %d)" % (uri_time, uri_requests, sum(uri_requests.values())))
        print("   ratio uri/lookup wall time: %.2fx; requests: %d vs %d" % (
            uri_time / lookup_time, sum(uri_requests.values()), sum(lookup_requests.values())))
        worst = max(lookup_requests.values()) if lookup_requests else 0
        print("   max requests per category (lookup): %d %s" % (worst, "OK (<= 1)" if worst <= 1 else "TOO MANY"))
        if worst > 1:
            raise RuntimeError("the lookup made more than one request per category: %s" % lookup_requests)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
