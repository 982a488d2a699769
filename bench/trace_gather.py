# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection code one default ``imds.azure.metadata_facts`` task runs: files and functions, per process.

``python -m bench.trace_gather`` runs ONE task without options (``- imds.azure.metadata_facts:``) through a
real ansible-playbook against the emulator on loopback (``AZURE_IMDS_ENDPOINT``), on a host whose DMI data
says Azure, and prints what ran of the collection (files under ``imds/azure/plugins``):

- ``controller``: every process but the module's (ansible-playbook, the worker that runs the action);
- ``target``: the module's process (AnsiballZ; its files are read from the payload zip).

A ``sitecustomize`` on PYTHONPATH installs ``sys.setprofile`` in every Python process of the run and appends
each collection code object the first time it runs: a file counts when its module body ran (it was imported),
a function when it was called (class bodies and comprehensions are not counted as functions). ``make bench``
prints it too (one playbook run); use it to see what a change adds to or removes from the path.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile

from bench._playbook import ROOT, TIMEOUT, _collections_path, install_guard

_SITECUSTOMIZE = r'''
import os, sys

_OUT = os.environ.get("IMDS_TRACE_FILE")
_MARK = os.sep + os.path.join("imds", "azure", "plugins") + os.sep
_seen = set()


def _profile(frame, event, arg):
    if event != "call":
        return
    code = frame.f_code
    if _MARK not in code.co_filename or code in _seen:
        return
    _seen.add(code)
    if code.co_name == "<module>":
        kind = "file"
    elif code.co_flags & 0x2 and not code.co_name.startswith("<genexpr"):  # CO_NEWLOCALS: a function, not a class body
        kind = "function"
    else:
        return
    role = "target" if "AnsiballZ" in (sys.argv[0] if sys.argv else "") or ".zip" + os.sep in code.co_filename else "controller"
    name = code.co_filename.split(_MARK, 1)[1]
    if name == "__init__.py":  # the empty package file AnsiballZ adds to the payload
        return
    with open(_OUT, "a") as handle:  # at once: worker processes end with os._exit (no atexit)
        handle.write("%s\t%s\t%s\t%s\n" % (role, kind, name, getattr(code, "co_qualname", code.co_name)))


if _OUT:
    sys.setprofile(_profile)

# This file shadows the network guard's sitecustomize (one per process): install the guard as that one does.
import imds_netguard  # noqa: E402

imds_netguard.install()
'''

_DMI_AZURE = {"chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77\n", "sys_vendor": "Microsoft Corporation\n"}


def trace(task_args=None):
    """Run one metadata_facts task (``task_args``: its options, none by default); returns {role: {kind: [(file, name)]}}."""
    install_guard()
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from tools.imds_emulator import Emulator  # pylint: disable=import-outside-toplevel

    playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    tmp = tempfile.mkdtemp(prefix="imds-trace-gather-")
    try:
        site = os.path.join(tmp, "site")
        dmi = os.path.join(tmp, "dmi")
        os.makedirs(site)
        os.makedirs(dmi)
        with open(os.path.join(site, "sitecustomize.py"), "w") as handle:
            handle.write(_SITECUSTOMIZE)
        for name, text in _DMI_AZURE.items():
            with open(os.path.join(dmi, name), "w") as handle:
                handle.write(text)
        inventory = os.path.join(tmp, "inventory.ini")
        with open(inventory, "w") as handle:
            handle.write("tracehost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        out = os.path.join(tmp, "trace.tsv")
        with Emulator(rate_limit=None) as emu:
            env = dict(os.environ)
            env.update({
                "ANSIBLE_COLLECTIONS_PATH": _collections_path(tmp),
                "ANSIBLE_NOCOLOR": "1",
                "AZURE_IMDS_ENDPOINT": emu.url,
                "IMDS_AZURE_DMI_PATH": dmi,
                "IMDS_TRACE_FILE": out,
                "PYTHONPATH": os.pathsep.join(filter(None, [site, env.get("PYTHONPATH")])),
            })
            playbook = os.path.join(tmp, "trace.yml")
            with open(playbook, "w") as handle:
                json.dump([{"hosts": "tracehost", "gather_facts": False,
                            "tasks": [{"imds.azure.metadata_facts": task_args or None, "register": "gathered"},
                                      {"ansible.builtin.assert": {"that": ["gathered.ansible_facts.azure_imds.is_azure"]}}]}],
                          handle)
            proc = subprocess.run([playbook_bin, "-i", inventory, playbook], env=env, cwd=tmp, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=TIMEOUT, check=False)
            if proc.returncode != 0:
                raise RuntimeError("ansible-playbook failed:\n%s" % proc.stdout.decode("utf-8", "replace")[-3000:])
        found = collections.defaultdict(lambda: collections.defaultdict(set))
        with open(out) as handle:
            for line in handle:
                role, kind, name, function = line.rstrip("\n").split("\t")
                found[role][kind].add((name, function))
        return dict((role, dict((kind, sorted(items)) for kind, items in kinds.items())) for role, kinds in found.items())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    found = trace()
    files, called_files = set(), set()
    functions = 0
    for role in ("controller", "target"):
        kinds = found.get(role, {})
        role_files = [name for name, dummy in kinds.get("file", [])]
        role_functions = kinds.get("function", [])
        called = sorted(set(name for name, dummy in role_functions))
        files.update(role_files)
        called_files.update(called)
        functions += len(role_functions)
        print("== %s: %d files imported, %d with functions called, %d functions"
              % (role, len(role_files), len(called), len(role_functions)))
        for name in role_files:
            names = [function for path, function in role_functions if path == name]
            print("   %s (%d): %s" % (name, len(names), ", ".join(names) or "-"))
    print("== one default gather: %d collection files imported, %d with functions called, %d functions"
          % (len(files), len(called_files), functions))


if __name__ == "__main__":
    main()
