# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every example of the documentation runs, against the IMDS emulator (make test's examples step).

    python tests/docs_examples/run.py [--keep]      # from the collection's root

Sources: the EXAMPLES of every module, lookup, inventory, filter and event source plugin, the code blocks of
README.md, roles/*/README.md and docs/docsite/rst/*.rst. Each block is run as what it is:

- YAML tasks, plays, and variables (``name: "{{ template }}"``): all of them in ONE ansible-playbook run, one play
  per block (its own plays for a playbook), each play with ``ignore_errors: true`` so that one broken example does
  not stop the others; a callback plugin records what each play did. A block fails when a task of it fails or when
  none of its tasks ran (no host matched, everything skipped). Task blocks run on an emulated VM of their own
  (group ``examples``), so each has its own IMDS; a block that mentions scheduled events finds a Reboot announced
  for its VM (Scheduled until approved and over 1 s after it starts, or, when the block looks for a ``Started``
  event, started 1 s after it was announced).
- inventory sources (``plugin: imds.azure.placement``, YAML inventories): ``ansible-inventory --graph`` each, after
  the hosts of ``hosts.ini``; a warning from the plugin fails it. A source that a command on the same page uses is
  run by that command instead.
- commands (``sh``, ``console``: the lines after ``$``): bash, one command at a time, in a directory that looks
  like a clone of the repository, with the files the page wrote (below). A command ending in ``&`` runs in the
  background until the block ends; the next command waits until its ``--listen`` address accepts connections. A
  command whose comment starts with ``# fails`` must fail. ``>`` lines are Windows commands: parsed only.
- a block whose first line is a comment naming a file (``# ansible.cfg``, ``# fleet.azure_placement.yml (...)``)
  is that file: written for the page's commands, then removed.
- Python: run as a program in the clone; emulator profiles (YAML with ``compute``/``emulator``): loaded into an
  emulator that must answer with them; the EDA rulebook: run by ansible-rulebook until its rules fired.

Marker: a comment ``# Needs Azure: why`` or ``# Needs Windows: why`` as the first line of a block makes the block
parsed only (YAML parsed, playbooks ``ansible-playbook --syntax-check``ed, shell ``bash -n``, INI ``configparser``);
directly above a task, a play or a command, it makes that item parsed only. ``# Needs podman: why`` marks what
needs a container engine, ``# Runs elsewhere: where`` what another gate of make test runs (make test itself).
Nothing else marks a block.

The context the examples assume, as a user's machine would have it (documented in docs/testing.md): a private
network namespace (tools/run-in-netns.sh) with a stand-in primary NIC ``eth0`` and a default route to the platform
(a namespace of its own behind ``eth0``) where the emulator answers at 169.254.169.254 (VM ``node-01``: the machine
itself, ``localhost``), a fleet of emulated VMs on 127.0.0.1
(``hosts.ini``: groups ``azure_vms``, ``web``, ``db``, ``windows_cluster_nodes`` (node-01, a Linux stand-in for
plays that are the same on both); ``examples.ini`` for the task blocks' own VMs; each VM's IMDS in its ``AZURE_IMDS_ENDPOINT`` and
``azure_imds_endpoint``, its vmId, subscription and a user-assigned identity in ``expected_vm_id``,
``expected_subscription`` and ``app_identity_client_id``), the directory ``inventory/`` (node-01 alone,
``maintenance_reboot_grace=0`` as nothing restarts), ``site.yml``, ``lb/drain.yml`` and ``lb/restore.yml``,
``files/azure-imds-roots.pem`` (the emulator's CA), their facts gathered into ``~/.cache/ansible-facts``
(``ansible.cfg``), into a Redis cache at redis.example.com and into ``/var/tmp/imds`` (``--tree``), a private
mount namespace for /etc/hosts and /var/tmp, DMI that says Azure, a trust store holding the emulator's test CA,
and ``become`` through su. Prints one line per block and ``docs examples: N blocks run, N parsed only, N failed``.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import copy
import dataclasses
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from tools.imds_emulator import Emulator, Fleet  # noqa: E402  pylint: disable=wrong-import-position

NEEDS = re.compile(r"^\s*#\s*(?:Needs (?:Azure|Windows|podman)|Runs elsewhere): \S")
FAILS = re.compile(r"\s#\s*fails\b")
FILE_COMMENT = re.compile(r"^#.*?([\w./~-]+\.(?:ya?ml|cfg|ini))\b")
SCHEDULED = re.compile(r"scheduled_?events")
FLEET = [("web-%02d" % n, "web") for n in range(1, 4)] + [("db-%02d" % n, "db") for n in range(1, 4)]
AZURE_DMI = {"chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77\n", "sys_vendor": "Microsoft Corporation\n"}
HOSTS_FILE = "127.0.0.1 localhost redis.example.com\n::1 localhost\n"


@dataclasses.dataclass
class Block:
    source: str                 # file:line
    page: str                   # the file it comes from
    lang: str
    text: str
    kind: str = ""
    data: object = None
    file: str = ""              # the file the block is (first-line comment)
    parse_only: str = ""        # why the whole block is only parsed
    items_parse_only: list = dataclasses.field(default_factory=list)   # indexes of items only parsed
    status: str = ""            # run, parsed, failed
    detail: str = ""
    seconds: float = 0.0

    def fail(self, why):
        if self.status != "failed":
            self.status, self.detail = "failed", why
        else:
            self.detail += "; " + why


# ----------------------------------------------------------------------------------------------- extraction

def _rst_blocks(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = re.match(r"^(\s*)\.\. (?:code|code-block|sourcecode)::\s*(\S*)\s*$", lines[index])
        if not match:
            index += 1
            continue
        indent, end = len(match.group(1)), index + 1
        while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
            end += 1
        body = textwrap.dedent("\n".join(lines[index + 1:end])).strip("\n") + "\n"
        yield index + 1, match.group(2).lower(), body
        index = end


def _md_blocks(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = re.match(r"^```(\w*)\s*$", lines[index])
        if not match:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        yield index + 1, match.group(1).lower(), "\n".join(lines[index + 1:end]) + "\n"
        index = end + 1


def _examples(path):
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["EXAMPLES"]:
            return node.lineno, node.value.value
    return None


def _commented_configs(text):
    """The inventory configurations an EXAMPLES block shows as comments (``# plugin: ...`` up to a blank line)."""
    configs, current = [], None
    for line in text.splitlines():
        if line.startswith("# plugin:"):
            current = []
            configs.append(current)
        if current is not None:
            if not line.startswith("#"):
                current = None
                continue
            current.append(re.sub(r"\s+#[^'\"]*$", "", line[2:]))
    return ["\n".join(config) + "\n" for config in configs]


def collect():
    blocks = []
    for path in [ROOT / "README.md"] + sorted(ROOT.glob("roles/*/README.md")):
        blocks += [Block("%s:%d" % (path.relative_to(ROOT), line), str(path.relative_to(ROOT)), lang, text) for line, lang, text in _md_blocks(path)]
    pages = [name for section in yaml.safe_load((ROOT / "docs/docsite/extra-docs.yml").read_text())["sections"] for name in section["toctree"]]
    assert sorted(pages) == sorted(p.stem for p in (ROOT / "docs/docsite/rst").glob("*.rst")), "a guide is missing from extra-docs.yml"
    for name in pages:
        path = ROOT / "docs/docsite/rst" / ("%s.rst" % name)
        blocks += [Block("%s:%d" % (path.relative_to(ROOT), line), str(path.relative_to(ROOT)), lang, text) for line, lang, text in _rst_blocks(path)]
    for path in sorted(ROOT.glob("plugins/*/*.py")) + sorted(ROOT.glob("extensions/eda/plugins/*/*.py")):
        found = _examples(path)
        if found and found[1].strip():
            relative = str(path.relative_to(ROOT))
            blocks.append(Block("%s:%d EXAMPLES" % (relative, found[0]), relative, "yaml", found[1].strip("\n") + "\n"))
            blocks += [Block("%s:%d EXAMPLES (commented configuration %d)" % (relative, found[0], n + 1), relative, "yaml", config)
                       for n, config in enumerate(_commented_configs(found[1]))]
    return blocks


def _marked_items(text, item_start):
    """Indexes of the items (lines matching item_start) that a Needs marker right above makes parsed only."""
    marked, index, previous = [], -1, ""
    for line in text.splitlines():
        if item_start.match(line):
            index += 1
            if NEEDS.match(previous):
                marked.append(index)
        if line.strip():
            previous = line
    return marked


def classify(block):
    """Set kind, data, file and parse_only; raise ValueError for a block the runner does not know how to run."""
    first = next((line for line in block.text.splitlines() if line.strip()), "")
    if NEEDS.match(first):
        block.parse_only = first.strip().lstrip("# ")
    file_match = FILE_COMMENT.match(first.strip())
    if file_match and block.lang in ("yaml", "yml", "ini", ""):
        block.file = file_match.group(1)
    if block.lang in ("yaml", "yml", "yaml+jinja"):
        block.data = yaml.safe_load(block.text)
        data = block.data
        if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
            if all("sources" in item and "rules" in item for item in data):
                block.kind = "rulebook"
            elif all("hosts" in item or "import_playbook" in item for item in data):
                block.kind = "playbook"
            else:
                block.kind = "tasks"
            block.items_parse_only = _marked_items(block.text, re.compile(r"^- "))
        elif isinstance(data, dict) and "plugin" in data:
            block.kind = "inventory"
        elif isinstance(data, dict) and "all" in data:
            block.kind = "inventory"
        elif isinstance(data, dict) and set(data) & {"compute", "emulator"}:
            block.kind = "profile"
        elif isinstance(data, dict) and all(isinstance(v, str) and "{{" in v for v in data.values()):
            block.kind = "variables"
        else:
            raise ValueError("a YAML block that is neither tasks, plays, an inventory, variables, a rulebook nor an emulator profile")
    elif block.lang in ("sh", "console", "bash", "shell"):
        block.kind = "commands"
        block.data = _commands(block)
    elif block.lang == "ini":
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(block.text)
        block.kind = "file" if block.file else "ini"
        if not block.file and not block.parse_only:
            raise ValueError("an INI block that is no file (first line: # NAME) and is not marked")
    elif block.lang == "python":
        compile(block.text, block.source, "exec")
        block.kind = "python"
    else:
        raise ValueError("code block of language %r: the runner does not know how to run it" % block.lang)
    if block.file and block.kind in ("inventory", "ini"):
        block.kind = "file" if block.kind == "ini" else block.kind


def _commands(block):
    """[(command, parse_only_reason, expect_failure)] of a shell or console block."""
    commands, pending, marker = [], None, ""
    console = block.lang == "console"
    for raw in block.text.splitlines():
        line = raw.rstrip()
        if pending is not None:
            pending.append(line)
            if not line.endswith("\\"):
                commands.append(("\n".join(pending), marker, False))
                pending, marker = None, ""
            continue
        if console:
            if line.startswith("> "):
                commands.append((line[2:], "Windows command", False))
                continue
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if NEEDS.match(stripped):
                marker = stripped.lstrip("# ")
            continue
        if line.endswith("\\"):
            pending = [line]
            continue
        commands.append((line, marker, False))
        marker = ""
    return [(command, why, bool(FAILS.search(command.splitlines()[-1]))) for command, why, _fails in commands]


# ----------------------------------------------------------------------------------------------- the context

class Context(object):
    """The machine the examples run on (see the module docstring)."""

    def __init__(self, work, task_blocks, platform):
        self.work = work
        self.platform = platform
        self.home = work / "home"
        self.clone = work / "clone"
        self.procs = []
        for path in (self.home, work / "dmi"):
            path.mkdir(parents=True)
        for name, content in AZURE_DMI.items():
            (work / "dmi" / name).write_text(content)
        ignore = shutil.ignore_patterns(".git", "tests", ".build", "__pycache__", "*.tar.gz")
        shutil.copytree(ROOT, self.clone, ignore=ignore, symlinks=True)
        ca_dir = work / "ca"
        base = {"emulator": {"attested": {"include_intermediate": True}}}
        self.local = Emulator(profile=dict(base, compute={"name": "node-01"}), host="169.254.169.254", port=80, ca_dir=str(ca_dir))
        _in_namespace(platform.pid, self.local.start)
        fleet = [{"compute": {"name": name}, "tags": {"role": role, "env": "test"}} for name, role in FLEET]
        self.example_hosts = ["example-%02d" % (n + 1) for n in range(len(task_blocks))]
        fleet += [{"compute": {"name": name}, "tags": {"role": "example"}} for name in self.example_hosts]
        (work / "fleet.json").write_text(json.dumps(fleet))
        self.fleet = Fleet(fleet_file=str(work / "fleet.json"), base_profile=base, ca_dir=str(ca_dir))
        self.fleet.start()
        self.vms = dict((member.profile["compute"]["name"], member) for member in self.fleet.members)
        for block, host in zip(task_blocks, self.example_hosts):
            if SCHEDULED.search(block.text):
                started = "EventStatus=='Started'" in block.text
                self.vms[host].add_scheduled_event("Reboot,notice=1,started=3600" if started else "Reboot,notice=3600,started=1")
        self.ca = self.local.ca_cert_path
        self.env = self._env()
        self._write_context_files()

    def _env(self):
        env = dict((key, value) for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "AZURE_IMDS_")))
        collections = "%s:%s" % (self.home / ".ansible" / "collections", ROOT.parents[2])
        env.update(HOME=str(self.home), ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_INVENTORY=str(self.clone / "hosts.ini"),
                   ANSIBLE_BECOME_METHOD="su", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
                   IMDS_AZURE_DMI_PATH=str(self.work / "dmi"), SSL_CERT_FILE=self.ca, PYTHONPATH=str(ROOT.parents[2]),
                   PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
        return env

    def _host_line(self, name, member):
        """The VM's inventory line; its Python runs with the VM's IMDS in AZURE_IMDS_ENDPOINT, as on the VM itself."""
        compute = member.profile["compute"]
        identities = (member.profile.get("identity") or {}).get("userAssigned") or [{}]
        python = self.work / "python" / name
        python.parent.mkdir(exist_ok=True)
        python.write_text("#!/bin/sh\nAZURE_IMDS_ENDPOINT=%s exec %s \"$@\"\n" % (member.url, shlex.quote(sys.executable)))
        python.chmod(0o755)
        return ("%s ansible_connection=local ansible_python_interpreter=%s azure_imds_endpoint=%s expected_vm_id=%s "
                "expected_subscription=%s app_identity_client_id=%s" % (
                    name, python, member.url, compute["vmId"], compute["subscriptionId"], identities[0].get("clientId", "")))

    def _write_context_files(self):
        local = "node-01 ansible_connection=local ansible_python_interpreter=%s expected_vm_id=%s expected_subscription=%s" % (
            sys.executable, self.local.profile["compute"]["vmId"], self.local.profile["compute"]["subscriptionId"])
        groups = {"web": [n for n, r in FLEET if r == "web"], "db": [n for n, r in FLEET if r == "db"]}
        lines = ["[azure_vms]", local] + [self._host_line(name, self.vms[name]) for name, _role in FLEET]
        # The task blocks' own VMs: only the batch playbook's inventory has them.
        (self.clone / "examples.ini").write_text("\n".join(["[examples]"] + [self._host_line(name, self.vms[name]) for name in self.example_hosts]) + "\n")
        for group in ("web", "db"):
            lines += ["", "[%s]" % group] + groups[group]
        lines += ["", "[windows_cluster_nodes]", "node-01", "", "[linux_vms:children]", "azure_vms", ""]
        (self.clone / "hosts.ini").write_text("\n".join(lines))
        (self.clone / "inventory").mkdir()
        (self.clone / "inventory" / "hosts.ini").write_text("[windows_cluster_nodes]\n%s\n\n[linux_vms:children]\nwindows_cluster_nodes\n\n"
                                                            "[all:vars]\nmaintenance_reboot_grace=0\n" % local)
        (self.clone / "lb").mkdir()
        for name in ("drain", "restore"):
            (self.clone / "lb" / ("%s.yml" % name)).write_text(
                "- name: Take this host %s the load balancer (stand-in)\n  ansible.builtin.debug:\n    msg: %s %s\n"
                % ("out of" if name == "drain" else "back into", name, "{{ inventory_hostname }}"))
        (self.clone / "site.yml").write_text("- name: A site playbook\n  hosts: db\n  tasks:\n"
                                             "    - name: Where each VM runs\n      ansible.builtin.debug:\n"
                                             "        var: ansible_facts['azure_imds']['placement']\n")
        (self.clone / "ansible.cfg").write_text(DEFAULT_CFG)
        (self.clone / "fleet.azure_placement.yml").write_text("plugin: imds.azure.placement\n")
        (self.clone / "files").mkdir()
        shutil.copy(self.ca, self.clone / "files" / "azure-imds-roots.pem")

    def run(self, argv, cwd=None, timeout=600, env=None, **kwargs):
        return subprocess.run(argv, cwd=str(cwd or self.clone), env=env or self.env, timeout=timeout, check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, **kwargs)

    def gather(self):
        """The facts the guides say to gather first: a jsonfile cache, a --tree directory and a Redis cache."""
        argv = ["redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        redis = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # pylint: disable=consider-using-with
        self.procs.append(redis)
        if not _wait_listening("127.0.0.1", 6379, redis):
            raise SystemExit("docs examples: redis-server did not start")
        # Every VM, the task blocks' own included: a play over all hosts (the rolling recipe) places each of them.
        hosts = ["-i", "hosts.ini", "-i", "examples.ini", "azure_vms:examples"]
        for extra_env, argv in (({}, ["ansible"] + hosts + ["-m", "imds.azure.metadata_facts", "--tree", "/var/tmp/imds"]),
                                ({"ANSIBLE_CACHE_PLUGIN": "community.general.redis", "ANSIBLE_CACHE_PLUGIN_CONNECTION": "redis.example.com:6379:0"},
                                 ["ansible"] + hosts + ["-m", "imds.azure.metadata_facts"])):
            done = self.run(argv, env=dict(self.env, **extra_env))
            if done.returncode != 0:
                raise SystemExit("docs examples: gathering the facts failed:\n%s" % done.stdout)

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        self.fleet.stop()
        self.local.stop()
        self.platform.terminate()
        self.platform.wait(timeout=30)
        _stop_namespace_processes()


def _stop_namespace_processes():
    """Stop what the examples left running in this network namespace (ansible-playbook imds.azure.emulator's
    emulators are detached); the namespace is ours, so everything in it but this process is the examples'."""
    ours = os.stat("/proc/self/ns/net").st_ino
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (os.getpid(), os.getppid()):
            continue
        try:
            if os.stat("/proc/%s/ns/net" % entry).st_ino == ours and os.stat("/proc/%s/ns/mnt" % entry).st_ino == os.stat("/proc/self/ns/mnt").st_ino:
                os.kill(int(entry), signal.SIGTERM)
        except (OSError, ValueError):
            continue


# What a user has: a fact cache, as the guides set it up.
DEFAULT_CFG = """[defaults]
fact_caching = jsonfile
fact_caching_connection = ~/.cache/ansible-facts
forks = 20
interpreter_python = auto_silent
"""


def _wait_listening(host, port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


# ----------------------------------------------------------------------------------------------- running

def _play_name(number, block, name=""):
    return ("docs example %d (%s)%s" % (number, block.source, ": " + name if name else "")).replace("{", "(").replace("}", ")")


def batch_playbook(blocks, context):
    """One playbook for every task, play and variables block; returns (plays, {play name prefix: block})."""
    plays, owners = [], {}
    hosts = iter(context.example_hosts)
    for number, block in enumerate(blocks, 1):
        prefix = _play_name(number, block)
        owners[prefix] = block
        items = [item for index, item in enumerate(block.data if isinstance(block.data, list) else [])
                 if index not in block.items_parse_only]
        if block.kind == "tasks":
            plays.append({"name": prefix, "hosts": next(hosts), "gather_facts": False, "ignore_errors": True, "tasks": items})
        elif block.kind == "variables":
            plays.append({"name": prefix, "hosts": "localhost", "gather_facts": False, "ignore_errors": True, "vars": block.data,
                          "tasks": [{"name": "Template every variable", "no_log": True, "ansible.builtin.set_fact": {
                              "docs_example_values": "{{ [%s] }}" % ", ".join(block.data)}}]})
        else:
            for play in items:
                play = copy.deepcopy(play)
                play["name"] = _play_name(number, block, play.get("name", ""))
                play.setdefault("ignore_errors", True)
                plays.append(play)
    return plays, owners


def run_batch(blocks, context):
    if not blocks:
        return
    plays, owners = batch_playbook(blocks, context)
    path = context.clone / "docs-examples.yml"  # in the clone: playbook_dir/files is there
    path.write_text(yaml.safe_dump(plays, sort_keys=False, allow_unicode=True))
    results = context.work / "results.jsonl"
    env = dict(context.env, DOCS_EXAMPLES_RESULTS=str(results), ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="docs_examples")
    done = context.run(["ansible-playbook", "-i", "hosts.ini", "-i", "examples.ini", "-i", "fleet.azure_placement.yml", str(path)],
                       env=env, timeout=1800)
    (context.work / "examples.log").write_text(done.stdout)
    events = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    ran = dict((id(block), False) for block in owners.values())
    for event in events:
        block = next((owners[prefix] for prefix in owners if (event["play"] or "").startswith(prefix)), None)
        if block is None:
            continue
        if event["event"] == "failed":
            block.fail("%s on %s: %s" % (event["task"], event["host"], event["msg"]))
        elif event["event"] == "no_hosts":
            block.fail("a play matched no host: %s" % event["play"])
        elif event["event"] in ("ok", "changed"):
            ran[id(block)] = True
    for block in owners.values():
        if block.status != "failed" and not ran[id(block)]:
            block.fail("no task of it ran (ansible-playbook exit code %d%s)" % (
                done.returncode, "" if events else "; output:\n" + done.stdout[-3000:]))
        elif block.status != "failed":
            block.status = "run"


def run_inventory(block, path, context):
    """A source that adds hosts itself (add_hosts, the local source, an inventory file) runs alone; the others group
    the hosts of hosts.ini, listed first as the guides say."""
    data = block.data or {}
    alone = "plugin" not in data or data.get("add_hosts") or "local" in (data.get("sources") or ())
    done = context.run(["ansible-inventory"] + ([] if alone else ["-i", "hosts.ini"]) + ["-i", str(path), "--graph"],
                       env=dict(context.env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true", ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true"))
    warnings = [line for line in done.stdout.splitlines() if "WARNING" in line and "imds.azure.placement" in line]
    if done.returncode != 0 or warnings:
        block.fail("ansible-inventory -i %s: exit code %d\n%s" % (path.name, done.returncode, done.stdout[-3000:]))
    elif block.status != "failed":
        block.status = "run"


def run_commands(block, context):
    background = []
    try:
        for command, why, expect_failure in block.data:
            if why:
                syntax = context.run(["bash", "-n", "-c", command])
                if syntax.returncode != 0:
                    block.fail("bash -n: %s" % syntax.stdout)
                continue
            if "drain_and_approve.yml" in command:
                context.local.add_scheduled_event("Reboot,notice=3600,started=1")  # maintenance to act on
            if command.rstrip().endswith("&"):
                proc = subprocess.Popen(["bash", "-c", command.rstrip()[:-1]], cwd=str(context.clone), env=context.env,  # pylint: disable=consider-using-with
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                background.append(proc)
                listen = re.search(r"--listen[ =]\[?([\w.:]+?)\]?:(\d+)", command)
                if not listen or not _wait_listening(listen.group(1), int(listen.group(2)), proc):
                    block.fail("%s: did not listen" % command)
                    return
                continue
            done = context.run(["bash", "-euo", "pipefail", "-c", command])
            if (done.returncode != 0) != expect_failure:
                block.fail("%s: exit code %d%s\n%s" % (command, done.returncode, " (it should fail)" if expect_failure else "",
                                                       done.stdout[-3000:]))
                return
        if block.status != "failed":
            block.status = "run"
    finally:
        for proc in background:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def run_python(block, context):
    done = context.run([sys.executable, "-"], input=block.text)
    if done.returncode != 0:
        block.fail("python: exit code %d\n%s" % (done.returncode, done.stdout[-3000:]))
    else:
        block.status = "run"


def run_profile(block, context):
    path = context.work / "profile.yml"
    path.write_text(block.text)
    with Emulator(profile=str(path), rate_limit=None) as emu:
        with urllib_open(emu.url + "/metadata/instance/compute?api-version=2021-02-01") as answer:
            compute = json.load(answer)
    wanted = dict((key, value) for key, value in block.data.get("compute", {}).items() if isinstance(value, str))
    wrong = dict((key, compute.get(key)) for key, value in wanted.items() if compute.get(key) != value)
    if wrong:
        block.fail("the emulator answered %s" % wrong)
    else:
        block.status = "run"


def urllib_open(url):
    import urllib.request  # pylint: disable=import-outside-toplevel
    return urllib.request.urlopen(urllib.request.Request(url, headers={"Metadata": "true"}), timeout=10)


def run_rulebook(block, context):
    """ansible-rulebook with the example rulebook, as on the VM (here node-01), until its rules fired for a Freeze."""
    for program in ("ansible-rulebook", "java"):
        if shutil.which(program, path=context.env["PATH"]) is None:
            block.fail("%s not found: the examples step needs ansible-rulebook (requirements-dev.txt) and Java 17 "
                       "(Debian package openjdk-17-jre-headless)" % program)
            return
    rulebook = context.work / "rulebook.yml"
    rulebook.write_text(block.text)
    inventory = context.work / "rulebook-inventory.yml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: %s\n"
                         % sys.executable)
    event_id = context.local.add_scheduled_event("Freeze,notice=3600,started=1")
    log = context.work / "rulebook.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(["ansible-rulebook", "-r", str(rulebook), "-i", str(inventory)],  # pylint: disable=consider-using-with
                                cwd=str(context.clone / "examples" / "maintenance"), env=context.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    over = "Freeze %s is over" % event_id
    deadline = time.monotonic() + 180
    while over not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    text = log.read_text()
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    if over not in text or "Approve the maintenance" not in text:
        block.fail("ansible-rulebook did not drain, approve and report the end of %s:\n%s" % (event_id, text[-4000:]))
    else:
        block.status = "run"


def parse_only(block, context):
    if block.kind == "playbook":
        path = context.work / "syntax.yml"
        path.write_text(block.text)
        done = context.run(["ansible-playbook", "--syntax-check", "-i", "hosts.ini", str(path)])
        if done.returncode != 0:
            block.fail("--syntax-check:\n%s" % done.stdout[-3000:])
            return
    elif block.kind == "commands":
        done = context.run(["bash", "-n", "-c", "\n".join(command for command, _why, _fails in block.data)])
        if done.returncode != 0:
            block.fail("bash -n: %s" % done.stdout)
            return
    block.status = "parsed"


def _run_block(block, context, written, used):
    if block.parse_only:
        parse_only(block, context)
    elif block.file:
        path = context.clone / block.file.lstrip("/")
        backup = path.with_name(path.name + ".docs-examples") if path.exists() else None
        if backup:
            path.rename(backup)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)
        written.append((path, backup))
        if block.kind == "inventory" and block.file not in used:
            run_inventory(block, path, context)
        elif block.kind == "file" or block.file in used:
            block.status = "run"  # the page's commands run with it (a failure shows there)
        else:
            block.fail("a %s block named %s that no command of its page uses" % (block.kind, block.file))
    elif block.kind == "inventory":
        path = context.work / ("example%d.azure_placement.yml" % len(written))
        path.write_text(block.text)
        run_inventory(block, path, context)
    else:
        {"commands": run_commands, "python": run_python, "profile": run_profile, "rulebook": run_rulebook}[block.kind](block, context)


def run_page(page_blocks, context):
    """The blocks of one page in order: files first written, then used by the page's commands. What the page
    wrote or its commands made in the clone is removed afterwards, so that every page starts from the same clone."""
    written = []
    before = set(os.listdir(context.clone))
    used = "\n".join(command for block in page_blocks if block.kind == "commands" for command, _w, _f in block.data)
    try:
        for block in page_blocks:
            started = time.monotonic()
            _run_block(block, context, written, used)
            block.seconds = time.monotonic() - started
    finally:
        for path, backup in reversed(written):
            path.unlink()
            if backup:
                backup.rename(path)
        for name in set(os.listdir(context.clone)) - before:
            target = context.clone / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()


def _own_namespaces():
    """True in the network namespace tools/run-in-netns.sh made and a mount namespace other than the caller's."""
    netns = os.environ.get("IMDS_NETGUARD_NETNS") == str(os.stat("/proc/self/ns/net").st_ino)
    outer = os.environ.get("DOCS_EXAMPLES_OUTER_MNT")
    return netns and outer is not None and outer != str(os.stat("/proc/self/ns/mnt").st_ino)


def setup_namespaces(work):
    """The network and files the examples assume, in namespaces of our own (never on the machine itself).

    As on an Azure VM, 169.254.169.254 is not an address of the VM: it lives in a second network namespace
    (the platform, started by a process of its own), reached over the stand-in NIC ``eth0`` through the default
    route, so the route role's examples see a real path to repair. Returns the platform's process."""
    if not _own_namespaces():  # main() re-executes itself in them first: the commands below change the machine's network otherwise
        raise SystemExit("docs examples: the namespaces are set up only inside the runner's own (run it as a script)")
    hosts = work / "hosts"
    hosts.write_text(HOSTS_FILE)
    # setpriv --pdeathsig: the platform ends with this process, however this process ends.
    platform = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--net", "--",  # pylint: disable=consider-using-with
                                 "sleep", "infinity"])
    ours = os.stat("/proc/self/ns/net").st_ino
    deadline = time.monotonic() + 30
    while os.stat("/proc/%d/ns/net" % platform.pid).st_ino == ours:
        if time.monotonic() > deadline or platform.poll() is not None:
            raise SystemExit("docs examples: the platform's network namespace did not appear")
        time.sleep(0.01)
    try:
        _configure(hosts, platform.pid)
    except BaseException:
        platform.kill()
        platform.wait()
        raise
    return platform


def _configure(hosts, platform_pid):
    in_platform = ["nsenter", "--net=/proc/%d/ns/net" % platform_pid, "--"]
    for argv in (["mount", "--make-rprivate", "/"], ["mount", "--bind", str(hosts), "/etc/hosts"], ["mount", "-t", "tmpfs", "tmpfs", "/var/tmp"],
                 ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"], ["ip", "addr", "add", "198.51.100.10/24", "dev", "eth0"],
                 ["ip", "link", "set", "eth0-peer", "netns", str(platform_pid)], ["ip", "link", "set", "eth0", "up"],
                 ["ip", "route", "add", "default", "via", "198.51.100.1", "dev", "eth0", "metric", "100"],
                 ["ip", "addr", "del", "169.254.169.254/32", "dev", "lo"],
                 in_platform + ["ip", "link", "set", "lo", "up"], in_platform + ["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"],
                 in_platform + ["ip", "addr", "add", "198.51.100.1/24", "dev", "eth0-peer"], in_platform + ["ip", "link", "set", "eth0-peer", "up"]):
        subprocess.run(argv, check=True)


def _in_namespace(pid, call):
    """call() with this thread in the network namespace of process pid: what call() binds or starts (threads
    inherit the namespace of the thread that starts them) stays there."""
    ours = os.open("/proc/self/task/%d/ns/net" % threading.get_native_id(), os.O_RDONLY)
    theirs = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY)
    try:
        os.setns(theirs, os.CLONE_NEWNET)
        try:
            return call()
        finally:
            os.setns(ours, os.CLONE_NEWNET)
    finally:
        os.close(ours)
        os.close(theirs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory (its path is printed)")
    args = parser.parse_args(argv)
    if not _own_namespaces():
        for program, package in (("unshare", "util-linux"), ("ip", "iproute2"), ("redis-server", "redis-server"), ("curl", "curl")):
            if shutil.which(program) is None:
                raise SystemExit("docs examples: %s not found (Debian package %s; make test installs tools/harness/system-packages.txt)"
                                 % (program, package))
        os.environ["DOCS_EXAMPLES_OUTER_MNT"] = str(os.stat("/proc/self/ns/mnt").st_ino)
        os.execvp(str(ROOT / "tools" / "run-in-netns.sh"), [str(ROOT / "tools" / "run-in-netns.sh"), "unshare", "--mount", "--propagation",
                                                            "private", "--", sys.executable] + [os.path.abspath(__file__)] + sys.argv[1:])
    started = time.monotonic()
    blocks = collect()
    for block in blocks:
        try:
            classify(block)
        except (ValueError, yaml.YAMLError, SyntaxError, configparser.Error) as exc:
            block.fail("cannot be run: %s" % exc)
    work = pathlib.Path(tempfile.mkdtemp(prefix="imds-docs-examples-"))
    platform = setup_namespaces(work)
    batch = [b for b in blocks if b.status != "failed" and not b.parse_only and b.kind in ("tasks", "playbook", "variables")]
    phase = time.monotonic()
    try:
        context = Context(work, [b for b in batch if b.kind == "tasks"], platform)
    except BaseException:
        platform.kill()
        platform.wait()
        raise
    try:
        context.gather()
        print("docs examples: context ready and facts gathered in %.0f s" % (time.monotonic() - phase), flush=True)
        phase = time.monotonic()
        run_batch(batch, context)
        print("docs examples: %d blocks in one ansible-playbook run in %.0f s" % (len(batch), time.monotonic() - phase), flush=True)
        in_batch = set(id(block) for block in batch)
        for page in dict.fromkeys(block.page for block in blocks):
            run_page([b for b in blocks if b.page == page and b.status != "failed" and id(b) not in in_batch], context)
    finally:
        context.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return report(blocks, time.monotonic() - started, work if args.keep else None)


def report(blocks, seconds, work):
    for block in blocks:
        items = sum(1 for _command, why, _fails in block.data if why) if block.kind == "commands" else len(block.items_parse_only)
        extra = " (%d item(s) parsed only)" % items if items and not block.parse_only else ""
        label = {"run": "RUN   ", "parsed": "PARSED", "failed": "FAILED"}.get(block.status, "??????")
        why = (": " + block.parse_only) if block.parse_only else ""
        print("%s %-9s %5.1f s %s%s%s" % (label, block.kind, block.seconds, block.source, extra, why))
        if block.status == "failed":
            print(textwrap.indent(block.detail.strip(), "         "))
    count = dict((status, sum(1 for b in blocks if b.status == status)) for status in ("run", "parsed", "failed"))
    unknown = [b.source for b in blocks if b.status not in count]
    if unknown:
        print("blocks the runner did not handle: %s" % unknown)
    print("docs examples: %d blocks run, %d parsed only, %d failed in %.0f s%s" % (
        count["run"], count["parsed"], count["failed"], seconds, "; work directory %s" % work if work else ""))
    return 1 if count["failed"] or unknown else 0


if __name__ == "__main__":
    sys.exit(main())
