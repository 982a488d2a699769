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

import os

from bench._playbook import per_execution, run_timed_playbook

ITEMS = int(os.environ.get("IMDS_BENCH_FACTS_ITEMS", "10"))
ROUNDS = int(os.environ.get("IMDS_BENCH_FACTS_ROUNDS", "4"))
PINNED = "2021-12-13"


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


def main():
    times, log, total = run_timed_playbook(lambda emu: _playbook(emu.url), "imds-bench-facts-")
    # The first requests belong to the counting tasks: a default gather, then a pinned one.
    default_gather = log[:2]
    pinned_gather = log[2:3]
    negotiation = sum(1 for record in default_gather if record.path == "/metadata/versions")
    data_requests = sum(1 for record in default_gather if record.path != "/metadata/versions")
    facts = per_execution(times, "facts ", ROUNDS)
    uri = per_execution(times, "uri ", ROUNDS)
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


if __name__ == "__main__":
    main()
