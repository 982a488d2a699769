# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata_facts: HTTP requests per default gather, and its CPU per task execution against
ansible.builtin.ping and against one ansible.builtin.uri task fetching the same URL.

Each measured ansible-playbook run is one task that loops IMDS_BENCH_FACTS_ITEMS times (default 40) on a
local host, against one emulator on loopback (rate limit off). A round runs facts, ping, uri and a run with
no task (the base: ansible-playbook's own start), in an order that rotates from round to round; the CPU of a
run is user + system of ansible-playbook and every process under it (workers, modules). Per execution:
(run - base) / items. The ratios are taken round by round (paired, so that the machine's drift affects
both sides alike), and their median over IMDS_BENCH_FACTS_ROUNDS rounds (default 5) is printed with the
range. Lower is better. Each run is bounded by IMDS_BENCH_TIMEOUT seconds (default 600).

A fifth run per round splits what metadata_facts costs beyond ping: the import floor, a module (written by the
bench, FLOOR_MODULE) that imports what metadata_facts imports and exits as ping does, with no action plugin, no
option of its own and no request. Floor vs ping is what importing (and so compiling: AnsiballZ ships no bytecode)
the gather's code costs a task; facts vs floor is everything else: the action plugin, the option checks, the
request and the checks of the answer.
"""

import os
import statistics

from bench._playbook import playbook_session

ITEMS = int(os.environ.get("IMDS_BENCH_FACTS_ITEMS", "40"))
ROUNDS = int(os.environ.get("IMDS_BENCH_FACTS_ROUNDS", "5"))
PINNED = "2021-12-13"

# The import floor: metadata_facts' own import line, then ping's work.
FLOOR_MODULE = """
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.imds.azure.plugins.module_utils._facts import ARGUMENT_SPEC, FactsModule, run_module  # noqa: F401


def main():
    AnsibleModule(argument_spec={}, supports_check_mode=True).exit_json(ping="pong")


if __name__ == "__main__":
    main()
"""


def _plays(task=None):
    tasks = [dict(task, name="measured", loop="{{ range(%d) | list }}" % ITEMS)] if task else []
    return [{"name": "bench", "hosts": "benchhost", "gather_facts": False, "tasks": tasks}]


def _tasks(url):
    return {
        "facts": {"imds.azure.metadata_facts": {"endpoint": url, "api_version": PINNED, "detect": "false"}},
        "ping": {"ansible.builtin.ping": {}},
        "floor": {"imdsbench.floor.imports": {}},
        "uri": {"ansible.builtin.uri": {"url": "%s/metadata/instance?api-version=%s" % (url, PINNED),
                                        "headers": {"Metadata": "true"}, "use_proxy": False, "return_content": True}},
        "base": None,
    }


def _count_requests(session):
    """HTTP requests of one default gather and one with a pinned api_version (one run, two tasks)."""
    url = session.emu.url
    session.emu.clear_log()
    session.run([{"hosts": "benchhost", "gather_facts": False, "tasks": [
        {"imds.azure.metadata_facts": {"endpoint": url, "detect": "false"}},
        {"imds.azure.metadata_facts": {"endpoint": url, "detect": "false", "api_version": PINNED}},
    ]}])
    log = [record for record in session.emu.request_log if record.path.startswith("/metadata")]
    default_gather, pinned_gather = log[:-1], log[-1:]
    negotiation = sum(1 for record in default_gather if record.path == "/metadata/versions")
    print("   HTTP requests per default gather: %d (+%d /metadata/versions with api_version=latest, once per task)"
          % (len(default_gather) - negotiation, negotiation))
    print("   HTTP requests per gather with a pinned api_version: %d" % len(pinned_gather))


def _install_floor(session):
    """Write the import floor's module into a collection of the bench's own, next to imds.azure."""
    collections = os.path.join(session.tmp, "floor-collections")
    modules = os.path.join(collections, "ansible_collections", "imdsbench", "floor", "plugins", "modules")
    os.makedirs(modules)
    with open(os.path.join(modules, "imports.py"), "w", encoding="utf-8") as handle:
        handle.write(FLOOR_MODULE)
    session.env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join([collections, session.env["ANSIBLE_COLLECTIONS_PATH"]])


def main():
    with playbook_session("imds-bench-facts-") as session:
        _count_requests(session)
        _install_floor(session)
        tasks = _tasks(session.emu.url)
        names = list(tasks)
        cpu = dict((name, []) for name in names)
        session.emu.clear_log()
        for round_index in range(ROUNDS):
            for name in names[round_index % len(names):] + names[:round_index % len(names)]:
                cpu[name].append(session.run(_plays(tasks[name]))[1])
        served = sum(1 for record in session.emu.request_log if record.path.startswith("/metadata"))
    if served != 2 * ROUNDS * ITEMS:
        raise RuntimeError("the emulator served %d requests, expected %d" % (served, 2 * ROUNDS * ITEMS))
    per = dict((name, [(run - base) / ITEMS for run, base in zip(cpu[name], cpu["base"])]) for name in ("facts", "ping", "uri", "floor"))
    print("   CPU per execution (median of %d rounds, %d executions a run): metadata_facts %.1f ms, ansible.builtin.ping %.1f ms, "
          "ansible.builtin.uri %.1f ms, the import floor %.1f ms; ansible-playbook's own start %.2f s"
          % (ROUNDS, ITEMS, statistics.median(per["facts"]) * 1000, statistics.median(per["ping"]) * 1000,
             statistics.median(per["uri"]) * 1000, statistics.median(per["floor"]) * 1000, statistics.median(cpu["base"])))
    for label, name, baseline in (("facts vs ansible.builtin.ping", "facts", "ping"), ("facts vs ansible.builtin.uri", "facts", "uri"),
                                  ("the import floor vs ansible.builtin.ping", "floor", "ping"),
                                  ("facts vs the import floor", "facts", "floor")):
        ratios = [measured / other for measured, other in zip(per[name], per[baseline])]
        print("   %s: %.2fx (rounds %.2f-%.2f)" % (label, statistics.median(ratios), min(ratios), max(ratios)))


if __name__ == "__main__":
    main()
