# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata_facts gather_subset=attested: what controller-side verification costs.

Two task kinds run in the same ansible-playbook process against one emulator on loopback (rate
limit off), interleaved in rounds: the baseline gathers ``instance`` (pinned api-version, one
request), the measured one gathers ``instance`` + ``attested`` and verifies the document on the
controller against the emulator's CA (attested_ca_path), downloading the intermediate from the
emulator as on Azure (attested_aia_allowlist). Every task loops IMDS_BENCH_ATTEST_ITEMS
times (default 10), in IMDS_BENCH_ATTEST_ROUNDS rounds (default 3). Printed: milliseconds per
execution and the ratio attested / instance (lower is better), plus requests per attested gather.
"""

import os

from bench._playbook import per_execution, run_timed_playbook

ITEMS = int(os.environ.get("IMDS_BENCH_ATTEST_ITEMS", "10"))
ROUNDS = int(os.environ.get("IMDS_BENCH_ATTEST_ROUNDS", "3"))
PINNED = "2021-12-13"


def _playbook(url, ca_path):
    base = {"endpoint": url, "api_version": PINNED, "detect": "false"}
    loop = "{{ range(%d) | list }}" % ITEMS
    attested = dict(base, gather_subset=["instance", "attested"], attested_ca_path=ca_path, attested_aia_allowlist=[url + "/_emulator/ca/"])
    tasks = [{"name": "count one attested gather", "imds.azure.metadata_facts": attested}]
    for round_index in range(ROUNDS):
        tasks.append({"name": "instance %d" % round_index, "imds.azure.metadata_facts": base, "loop": loop})
        tasks.append({"name": "attested %d" % round_index, "imds.azure.metadata_facts": attested, "loop": loop})
    return [{"name": "bench", "hosts": "benchhost", "gather_facts": False, "tasks": tasks}]


def main():
    times, log, total = run_timed_playbook(lambda emu: _playbook(emu.url, emu.ca_cert_path), "imds-bench-attest-", ca_dir="ca")
    instance = per_execution(times, "instance ", ROUNDS)
    attested = per_execution(times, "attested ", ROUNDS)
    first = log[:2]
    print("   HTTP requests per attested gather with instance (pinned api-version): %d (%s)"
          % (len(first), ", ".join(record.path for record in first)))
    per_instance = sum(instance) / (ROUNDS * ITEMS)
    per_attested = sum(attested) / (ROUNDS * ITEMS)
    print("   instance: %.1f ms per execution, instance+attested (verified on the controller): %.1f ms per execution "
          "(%d each, %d rounds; run %.1f s)" % (per_instance * 1000, per_attested * 1000, ROUNDS * ITEMS, ROUNDS, total))
    print("   attested vs instance: %.2fx" % (per_attested / per_instance))


if __name__ == "__main__":
    main()
