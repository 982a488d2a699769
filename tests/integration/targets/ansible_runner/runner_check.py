# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller 2: an inventory update and a job through ansible-runner, the way AWX runs them.

usage: runner_check.py WORKDIR JOB_PLAYBOOK

AWX runs `ansible-inventory --list --export` for an inventory update, stores the groups and host
variables, and gives a job that inventory as a script printing them; with fact caching on, the
job's facts go to a jsonfile cache among the job's artifacts (ansible-runner's fact_cache_type).
"""

import json
import os
import stat
import sys

import ansible_runner
from ansible.plugins.loader import cache_loader, init_plugin_loader


def _check_run(runner, name):
    assert runner.rc == 0 and runner.status == "successful", (name, runner.rc, runner.status, runner.stdout.read()[-3000:])
    artifacts = runner.config.artifact_dir
    for item in ("rc", "status", "stdout", "job_events"):
        assert os.path.exists(os.path.join(artifacts, item)), (name, item, os.listdir(artifacts))
    assert open(os.path.join(artifacts, "status")).read().strip() == "successful"
    assert open(os.path.join(artifacts, "rc")).read().strip() == "0"


def groups_of(listing):
    """{azure_* group: (sorted hosts, sorted children)}"""
    return {name: (sorted(data.get("hosts", [])), sorted(data.get("children", [])))
            for name, data in listing.items() if name.startswith("azure_")}


def unsafe(value):
    return value["__ansible_unsafe"] if isinstance(value, dict) and set(value) == {"__ansible_unsafe"} else value


def main(work, job_playbook):
    manifest = json.load(open(os.path.join(work, "manifest.json")))
    names = sorted(vm["name"] for vm in manifest)

    # ---- the inventory update
    update_dir = os.path.join(work, "runner-inventory")
    os.makedirs(update_dir)
    listing_path = os.path.join(work, "controller2.json")
    _out, err, rc = ansible_runner.run_command(
        executable_cmd="ansible-inventory", private_data_dir=update_dir, ident="inventory_update", process_isolation=False, quiet=True,
        cmdline_args=["--list", "--export", "-i", os.path.join(work, "source"), "--output", listing_path])
    artifacts = os.path.join(update_dir, "artifacts", "inventory_update")
    assert rc == 0, (rc, err)
    assert open(os.path.join(artifacts, "status")).read().strip() == "successful", os.listdir(artifacts)
    assert open(os.path.join(artifacts, "rc")).read().strip() == "0"
    assert "--export" in json.load(open(os.path.join(artifacts, "command")))["command"], os.listdir(artifacts)
    listing = json.load(open(listing_path))
    controller1 = json.load(open(os.path.join(work, "controller1.json")))
    # the two controllers agree on every group
    assert groups_of(listing) == groups_of(controller1), (groups_of(listing), groups_of(controller1))
    for vm in manifest:
        assert vm["name"] in listing["azure_fault_domain_%s" % vm["fault_domain"]]["hosts"], vm
        assert vm["name"] in listing["azure_update_domain_%s" % vm["update_domain"]]["hosts"], vm
        # an export carries host variables, not facts: host_vars auto sets them
        placement = listing["_meta"]["hostvars"][vm["name"]]["azure_placement"]
        assert unsafe(placement["zone"]) == str(vm["zone"]), (vm, placement)
    assert not listing.get("azure_no_imds", {}).get("hosts"), listing.get("azure_no_imds")
    print("inventory update: %d hosts, %d azure_* groups, the same as controller 1's" % (len(names), len(groups_of(listing))))

    # ---- the job, on the inventory the update stored
    job_dir = os.path.join(work, "runner-job")
    os.makedirs(os.path.join(job_dir, "inventory"))
    script = os.path.join(job_dir, "inventory", "hosts")
    with open(script, "w") as handle:
        handle.write("#!%s\nimport sys\nsys.stdout.write(open(%r).read() if '--list' in sys.argv else '{}')\n" % (sys.executable, listing_path))
    os.chmod(script, stat.S_IRWXU)
    job = ansible_runner.run(private_data_dir=job_dir, ident="job", process_isolation=False, quiet=True, playbook=job_playbook,
                             fact_cache_type="jsonfile", envvars={"ANSIBLE_GATHERING": "explicit"})
    _check_run(job, "job")
    events = list(job.events)
    read = {event["event_data"]["host"]: event["event_data"]["res"]["msg"] for event in events
            if event["event"] == "runner_on_ok" and event["event_data"].get("task") == "Read the VM name with the lookup"}
    assert read == {vm["name"]: vm["name"] for vm in manifest}, read
    stats = [event for event in events if event["event"] == "playbook_on_stats"]
    assert len(stats) == 1 and not stats[0]["event_data"]["failures"], stats
    replicas = stats[0]["event_data"]["artifact_data"]["replicas"]
    assert len(replicas) == 3 and set(replicas) <= set(names), replicas
    # the job's fact cache (AWX's use_fact_cache) holds what the job gathered. Read through Ansible's
    # own cache plugin: ansible-runner's get_fact_cache() reads plain <host> files, and ansible-core
    # 2.19+ writes s1_<host> entries.
    init_plugin_loader()
    cache = cache_loader.get("ansible.builtin.jsonfile", _uri=job.config.fact_cache, _prefix="", _timeout=0)
    for name in names:
        facts = cache.get(name)
        assert facts["azure_imds"]["compute"]["name"] == name, (name, sorted(facts))
    print("job: %d events, replicas %s, facts of %d hosts in the job's fact cache" % (len(events), replicas, len(names)))


if __name__ == "__main__":
    main(*sys.argv[1:])
