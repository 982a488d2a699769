# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A venv that holds ansible-core and what it requires, and nothing else, made offline from this Python's packages.

    python tools/harness/core_venv.py DEST

What a user has after ``pip install ansible-core``: the build step runs the installed collection's playbooks
(imds.azure.demo, imds.azure.emulator) with it, so nothing from requirements-dev.txt can hide a missing
requirement. DEST is recreated: ``python -m venv --without-pip``, then links to the files of ansible-core and
of every distribution it requires (recursively, extras left out) and the console scripts of ansible-core.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig

from packaging.requirements import Requirement


def closure(name):
    """The distributions ``name`` needs (itself included), by the requirements in their metadata."""
    wanted, seen = [name], {}
    while wanted:
        dist = importlib.metadata.distribution(wanted.pop())
        key = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if key in seen:
            continue
        seen[key] = dist
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                wanted.append(requirement.name)
    return list(seen.values())


def main(dest):
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", dest], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": dest, "platbase": dest})
    linked = set()
    for dist in closure("ansible-core"):
        for entry in dist.files or ():
            top = entry.parts[0]
            if top in linked or top.startswith("..") or top == "__pycache__":
                continue  # console scripts (../../../bin) are written below
            linked.add(top)
            os.symlink(os.path.abspath(dist.locate_file(top)), os.path.join(purelib, top))
    python = os.path.join(dest, "bin", "python")
    for script in importlib.metadata.distribution("ansible-core").entry_points.select(group="console_scripts"):
        module, function = script.value.split(":")
        path = os.path.join(dest, "bin", script.name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("#!%s\nimport sys\nfrom %s import %s\nsys.exit(%s())\n" % (python, module, function, function))
        os.chmod(path, 0o755)
    print("%s: ansible-core with %s" % (dest, ", ".join(sorted(linked))))


if __name__ == "__main__":
    main(os.path.abspath(sys.argv[1]))
