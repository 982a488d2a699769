# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: the collection's main job on an emulated fleet, on loopback only.

Starts a dozen emulated VMs, gathers their IMDS facts into a jsonfile fact cache with
imds.azure.metadata_facts, builds the imds.azure.placement inventory from the cache, prints
a placement report, picks spread replicas and reads values with the lookup, then stops the
fleet. The playbooks are in examples/demo/.
"""

import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_DIR = os.path.join(ROOT, "examples", "demo")
NETGUARD_DIR = os.path.join(ROOT, "tools", "netguard")
BIN_DIR = os.path.dirname(sys.executable)
FLEET_SIZE = 12
FLEET_SEED = 42


def _install_guard():
    """Every process of the demo refuses connections that leave loopback."""
    sys.path.insert(0, NETGUARD_DIR)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [NETGUARD_DIR, os.environ.get("PYTHONPATH")]))
    import imds_netguard  # pylint: disable=import-outside-toplevel
    imds_netguard.install()


def _heading(text):
    print("\n== %s" % text, flush=True)


def _ansible_env(work):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(work, "collections"),
        "ANSIBLE_CACHE_PLUGIN": "jsonfile",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": os.path.join(work, "facts"),
        "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "0",
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_INVENTORY_ENABLED": "ansible.builtin.ini,imds.azure.placement",
        "ANSIBLE_FORKS": str(FLEET_SIZE),
        "ANSIBLE_LOCAL_TEMP": os.path.join(work, "tmp"),
        "ANSIBLE_HOME": os.path.join(work, "home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
    })
    return env


def _run(argv, env, capture=False):
    argv = [os.path.join(BIN_DIR, argv[0])] + argv[1:]
    print("$ %s" % " ".join(os.path.basename(arg) if arg.startswith(DEMO_DIR) else arg for arg in [os.path.basename(argv[0])] + argv[1:]),
          flush=True)
    done = subprocess.run(argv, env=env, check=False, stdout=subprocess.PIPE if capture else None, universal_newlines=True)
    if done.returncode != 0:
        raise SystemExit("demo: %s failed with exit code %d" % (os.path.basename(argv[0]), done.returncode))
    return done.stdout


def _start_fleet(work):
    sys.path.insert(0, ROOT)
    from tools.imds_emulator.testing import EmulatorProcess  # pylint: disable=import-outside-toplevel
    manifest_path = os.path.join(work, "fleet.json")
    fleet = EmulatorProcess("--fleet-size", str(FLEET_SIZE), "--seed", str(FLEET_SEED), "--fleet-out", manifest_path,
                            "--rate-limit", "5", python=sys.executable)
    fleet.start(expected=FLEET_SIZE)
    with open(manifest_path, encoding="utf-8") as handle:
        return fleet, json.load(handle)


def _write_inventory(work, manifest):
    path = os.path.join(work, "hosts.ini")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[fleet]\n")
        for vm in manifest:
            handle.write("%s azure_imds_endpoint=%s\n" % (vm["name"], vm["url"]))
        handle.write("\n[all:vars]\nansible_connection=local\nansible_python_interpreter=%s\n" % sys.executable)
    return path


def _imds_requests(manifest):
    """Requests the emulated VMs answered, per IMDS path (control endpoints excluded)."""
    paths = collections.Counter()
    for vm in manifest:
        with urllib.request.urlopen(vm["url"] + "/_emulator/log", timeout=5) as answer:
            paths.update(record["path"] for record in json.load(answer) if record["path"].startswith("/metadata"))
    return paths


def _describe(paths):
    return ", ".join("%d x %s" % (count, path) for path, count in sorted(paths.items())) or "none"


def _plain(value):
    """ansible-inventory writes unsafe strings as {"__ansible_unsafe": "..."}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _width(text):
    """Terminal columns of ``text``: wide and full-width (CJK) characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(char) else 2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _ljust(text, width):
    return text + " " * max(0, width - _width(text))


def _report(inventory):
    groups = {name: set(data.get("hosts", [])) for name, data in inventory.items() if isinstance(data, dict)}
    hostvars = inventory["_meta"]["hostvars"]
    cells = collections.Counter()
    for host, variables in hostvars.items():
        # ansible-inventory --list prints each host's cached facts and leaves azure_placement out for those hosts
        placement = variables.get("azure_placement") or (variables.get("azure_imds") or {}).get("placement")
        if placement:
            cells[(placement["zone"] or "none", placement["fault_domain"])] += 1
    zones = sorted({zone for zone, _fd in cells})
    domains = sorted({fd for _zone, fd in cells}, key=lambda value: (len(value), value))
    print("hosts per zone x fault domain:")
    print("  %-8s" % "zone" + "".join("  FD %-3s" % fd for fd in domains))
    for zone in zones:
        print("  %-8s" % zone + "".join("  %-6s" % (cells[(zone, fd)] or ".") for fd in domains))
    update_domains = sorted(name for name in groups if name.startswith("azure_update_domain_"))
    print("update domains: %s" % ", ".join("%s (%d)" % (name, len(groups[name])) for name in update_domains))
    # azure_tags -> azure_tag_<name> -> azure_tag_<name>_<value>: list the value groups only.
    tag_names = set(inventory.get("azure_tags", {}).get("children", []))
    print("tag groups:")
    value_groups = sorted(name for name in groups if name.startswith("azure_tag_") and name not in tag_names and groups[name])
    column = max([_width(name) for name in value_groups] + [0])
    for name in value_groups:
        print("  %s %s" % (_ljust(name, column), ", ".join(sorted(groups[name]))))
    if groups.get("azure_no_imds"):
        print("hosts without IMDS data: %s" % ", ".join(sorted(groups["azure_no_imds"])))


def main():
    _install_guard()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="imds-demo-") as work:
        os.makedirs(os.path.join(work, "collections", "ansible_collections", "imds"))
        os.symlink(ROOT, os.path.join(work, "collections", "ansible_collections", "imds", "azure"))
        env = _ansible_env(work)

        _heading("1. An emulated fleet of %d Azure VMs on 127.0.0.1 (python -m tools.imds_emulator --fleet-size %d)"
                 % (FLEET_SIZE, FLEET_SIZE))
        fleet, manifest = _start_fleet(work)
        try:
            for vm in manifest:
                print("  %-16s %-24s zone %-4s FD %s UD %s  %s"
                      % (vm["name"], vm["url"], vm["zone"] or "-", vm["fault_domain"], vm["update_domain"], vm["vm_size"]))
            hosts = _write_inventory(work, manifest)

            _heading("2. Gather IMDS facts on every VM into a jsonfile fact cache")
            _run(["ansible-playbook", "-i", hosts, os.path.join(DEMO_DIR, "gather.yml")], env)
            print("IMDS requests answered by the fleet for %d hosts: %s" % (len(manifest), _describe(_imds_requests(manifest))))
            print("(one instance document per host, plus one api-version negotiation because api_version is 'latest')")

            _heading("3. Build the imds.azure.placement inventory from the fact cache (no host contacted)")
            placement_source = os.path.join(work, "demo.azure_placement.yml")
            with open(os.path.join(DEMO_DIR, "demo.azure_placement.yml"), encoding="utf-8") as source:
                with open(placement_source, "w", encoding="utf-8") as target:
                    target.write(source.read())
            listing = _run(["ansible-inventory", "-i", hosts, "-i", placement_source, "--list"], env, capture=True)
            _report(_plain(json.loads(listing)))

            _heading("4. Spread 3 replicas with imds.azure.spread, read values with imds.azure.metadata")
            before = _imds_requests(manifest)
            _run(["ansible-playbook", "-i", hosts, "-i", placement_source, os.path.join(DEMO_DIR, "placement.yml")], env)
            print("IMDS requests made by steps 3 and 4: %s" % _describe(_imds_requests(manifest) - before))
        finally:
            fleet.stop()
    print("\ndemo finished in %.1f s; the playbooks are in examples/demo/, the guides in docs/" % (time.monotonic() - started))


if __name__ == "__main__":
    main()
