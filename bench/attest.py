# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata_facts gather_subset=attested: what controller-side verification costs.

Two task kinds run in the same ansible-playbook process against one emulator on loopback (rate
limit off), interleaved in rounds: the baseline gathers ``instance`` (pinned api-version, one
request), the measured one gathers ``instance`` + ``attested`` and verifies the document on the
controller against the emulator's CA (attested_ca_path). Every task loops IMDS_BENCH_ATTEST_ITEMS
times (default 10), in IMDS_BENCH_ATTEST_ROUNDS rounds (default 3). Printed: milliseconds per
execution and the ratio attested / instance (lower is better), plus requests per attested gather.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench import facts as _facts_bench

ROOT = _facts_bench.ROOT
ITEMS = int(os.environ.get("IMDS_BENCH_ATTEST_ITEMS", "10"))
ROUNDS = int(os.environ.get("IMDS_BENCH_ATTEST_ROUNDS", "3"))
TIMEOUT = float(os.environ.get("IMDS_BENCH_TIMEOUT", "600"))
PINNED = "2021-12-13"


def _playbook(url, ca_path):
    base = {"endpoint": url, "api_version": PINNED, "detect": "false"}
    loop = "{{ range(%d) | list }}" % ITEMS
    attested = dict(base, gather_subset=["instance", "attested"], attested_ca_path=ca_path)
    tasks = [{"name": "count one attested gather", "imds.azure.metadata_facts": attested}]
    for round_index in range(ROUNDS):
        tasks.append({"name": "instance %d" % round_index, "imds.azure.metadata_facts": base, "loop": loop})
        tasks.append({"name": "attested %d" % round_index, "imds.azure.metadata_facts": attested, "loop": loop})
    return [{"name": "bench", "hosts": "benchhost", "gather_facts": False, "tasks": tasks}]


def main():
    _facts_bench._install_guard()  # pylint: disable=protected-access
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from tools.imds_emulator import Emulator  # pylint: disable=import-outside-toplevel

    playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(playbook_bin):
        playbook_bin = shutil.which("ansible-playbook")
    tmp = tempfile.mkdtemp(prefix="imds-bench-attest-")
    try:
        callbacks = os.path.join(tmp, "callbacks")
        os.makedirs(callbacks)
        with open(os.path.join(callbacks, "bench_timer.py"), "w") as handle:
            handle.write(_facts_bench._CALLBACK)  # pylint: disable=protected-access
        inventory = os.path.join(tmp, "inventory.ini")
        with open(inventory, "w") as handle:
            handle.write("benchhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        times_file = os.path.join(tmp, "times.json")
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": _facts_bench._collections_path(tmp),  # pylint: disable=protected-access
            "ANSIBLE_CALLBACK_PLUGINS": callbacks,
            "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_DISPLAY_OK_HOSTS": "false",
            "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
            "ANSIBLE_NOCOLOR": "1",
            "BENCH_TIMES_FILE": times_file,
            "IMDS_AZURE_DMI_PATH": "",
        })
        with Emulator(rate_limit=None, ca_dir=os.path.join(tmp, "ca")) as emu:
            playbook = os.path.join(tmp, "bench.yml")
            with open(playbook, "w") as handle:
                json.dump(_playbook(emu.url, emu.ca_cert_path), handle)
            started = time.monotonic()
            proc = subprocess.run([playbook_bin, "-i", inventory, playbook], env=env, cwd=tmp, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=TIMEOUT, check=False)
            total = time.monotonic() - started
            if proc.returncode != 0:
                raise RuntimeError("ansible-playbook failed:\n%s" % proc.stdout.decode("utf-8", "replace")[-3000:])
            log = [record for record in emu.request_log if record.path.startswith("/metadata")]
        with open(times_file) as handle:
            times = json.load(handle)
        instance = [seconds for name, seconds in times if name.startswith("instance ")]
        attested = [seconds for name, seconds in times if name.startswith("attested ")]
        if len(instance) != ROUNDS or len(attested) != ROUNDS or min(instance + attested) < 0:
            raise RuntimeError("unexpected task timings: %r" % times)
        first = log[:2]
        print("   HTTP requests per attested gather with instance (pinned api-version): %d (%s)"
              % (len(first), ", ".join(record.path for record in first)))
        per_instance = sum(instance) / (ROUNDS * ITEMS)
        per_attested = sum(attested) / (ROUNDS * ITEMS)
        print("   instance: %.1f ms per execution, instance+attested (verified on the controller): %.1f ms per execution "
              "(%d each, %d rounds; run %.1f s)" % (per_instance * 1000, per_attested * 1000, ROUNDS * ITEMS, ROUNDS, total))
        print("   attested vs instance: %.2fx" % (per_attested / per_instance))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
