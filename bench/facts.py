# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata_facts: HTTP requests per default gather, and its wall time against
one ansible.builtin.uri task fetching the same URL.

Both run in the same ansible-playbook process against one emulator on loopback (rate limit
off), interleaved in rounds so that drift affects both equally. A tiny callback records each
task's wall time; every task loops IMDS_BENCH_FACTS_ITEMS times (default 10) and there are
IMDS_BENCH_FACTS_ROUNDS rounds (default 4). The ratio is facts / uri (lower is better).
The whole run is bounded by IMDS_BENCH_TIMEOUT seconds (default 600).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITEMS = int(os.environ.get("IMDS_BENCH_FACTS_ITEMS", "10"))
ROUNDS = int(os.environ.get("IMDS_BENCH_FACTS_ROUNDS", "4"))
TIMEOUT = float(os.environ.get("IMDS_BENCH_TIMEOUT", "600"))
PINNED = "2021-12-13"

_CALLBACK = r'''
import json, os, time
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._start = None
        self._name = None
        self.times = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._name = task.get_name()
        self._start = time.monotonic()

    def v2_runner_on_ok(self, result):
        self.times.append([self._name, time.monotonic() - self._start])

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self.times.append([self._name, -1])

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["BENCH_TIMES_FILE"], "w") as handle:
            json.dump(self.times, handle)
'''


def _collections_path(tmp):
    parts = ROOT.split(os.sep)
    if len(parts) > 3 and parts[-3] == "ansible_collections":
        return os.sep.join(parts[:-3])
    link_parent = os.path.join(tmp, "collections", "ansible_collections", "imds")
    os.makedirs(link_parent)
    os.symlink(ROOT, os.path.join(link_parent, "azure"))
    return os.path.join(tmp, "collections")


def _playbook(url):
    tasks = []
    loop = "{{ range(%d) | list }}" % ITEMS
    for round_index in range(ROUNDS):
        tasks.append({
            "name": "facts %d" % round_index,
            "imds.azure.metadata_facts": {"endpoint": url, "api_version": PINNED, "detect": "false"},
            "loop": loop,
        })
        tasks.append({
            "name": "uri %d" % round_index,
            "ansible.builtin.uri": {
                "url": "%s/metadata/instance?api-version=%s" % (url, PINNED),
                "headers": {"Metadata": "true"},
                "use_proxy": False,
                "return_content": True,
            },
            "loop": loop,
        })
    tasks.insert(0, {"name": "count one default gather", "imds.azure.metadata_facts": {"endpoint": url, "detect": "false"}})
    pinned = {"endpoint": url, "detect": "false", "api_version": PINNED}
    tasks.insert(1, {"name": "count one pinned gather", "imds.azure.metadata_facts": pinned})
    return [{"name": "bench", "hosts": "benchhost", "gather_facts": False, "tasks": tasks}]


def _install_guard():
    guard = os.path.join(ROOT, "tools", "netguard")
    if guard not in sys.path:
        sys.path.insert(0, guard)
    if guard not in os.environ.get("PYTHONPATH", ""):
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [guard, os.environ.get("PYTHONPATH")]))
    import imds_netguard  # pylint: disable=import-outside-toplevel,import-error
    imds_netguard.install()


def main():
    _install_guard()
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from tools.imds_emulator import Emulator  # pylint: disable=import-outside-toplevel

    playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(playbook_bin):
        playbook_bin = shutil.which("ansible-playbook")
    tmp = tempfile.mkdtemp(prefix="imds-bench-facts-")
    try:
        callbacks = os.path.join(tmp, "callbacks")
        os.makedirs(callbacks)
        with open(os.path.join(callbacks, "bench_timer.py"), "w") as handle:
            handle.write(_CALLBACK)
        inventory = os.path.join(tmp, "inventory.ini")
        with open(inventory, "w") as handle:
            handle.write("benchhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        times_file = os.path.join(tmp, "times.json")
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": _collections_path(tmp),
            "ANSIBLE_CALLBACK_PLUGINS": callbacks,
            "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_DISPLAY_OK_HOSTS": "false",
            "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
            "ANSIBLE_NOCOLOR": "1",
            "BENCH_TIMES_FILE": times_file,
            "IMDS_AZURE_DMI_PATH": "",
        })
        with Emulator(rate_limit=None) as emu:
            playbook = os.path.join(tmp, "bench.yml")
            with open(playbook, "w") as handle:
                json.dump(_playbook(emu.url), handle)
            # Count the requests of the two counting tasks first (they run before the timed ones).
            started = time.monotonic()
            proc = subprocess.run([playbook_bin, "-i", inventory, playbook], env=env, cwd=tmp, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=TIMEOUT, check=False)
            total = time.monotonic() - started
            if proc.returncode != 0:
                raise RuntimeError("ansible-playbook failed:\n%s" % proc.stdout.decode("utf-8", "replace")[-3000:])
            log = [record for record in emu.request_log if record.path.startswith("/metadata")]
        # The first requests belong to the counting tasks: a default gather, then a pinned one.
        default_gather = log[:2]
        pinned_gather = log[2:3]
        negotiation = sum(1 for record in default_gather if record.path == "/metadata/versions")
        data_requests = sum(1 for record in default_gather if record.path != "/metadata/versions")
        with open(times_file) as handle:
            times = json.load(handle)
        facts = [seconds for name, seconds in times if name.startswith("facts ")]
        uri = [seconds for name, seconds in times if name.startswith("uri ")]
        if len(facts) != ROUNDS or len(uri) != ROUNDS or min(facts + uri) < 0:
            raise RuntimeError("unexpected task timings: %r" % times)
        expected = 2 + 2 * ROUNDS * ITEMS
        print("   HTTP requests per default gather: %d (+%d /metadata/versions with api_version=latest, once per task)"
              % (data_requests, negotiation))
        print("   HTTP requests per gather with a pinned api_version: %d" % len(pinned_gather))
        print("   requests served in the whole run: %d (expected %d)" % (len(log), expected + 1))
        per_facts = sum(facts) / (ROUNDS * ITEMS)
        per_uri = sum(uri) / (ROUNDS * ITEMS)
        print("   metadata_facts: %.1f ms per execution, ansible.builtin.uri: %.1f ms per execution (%d each, %d rounds; run %.1f s)"
              % (per_facts * 1000, per_uri * 1000, ROUNDS * ITEMS, ROUNDS, total))
        print("   facts vs ansible.builtin.uri: %.2fx" % (per_facts / per_uri))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
