# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ansible-playbook run on a local host against an emulator on loopback, with each task's
wall time recorded by a tiny callback: what the playbook benchmarks share."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = float(os.environ.get("IMDS_BENCH_TIMEOUT", "600"))

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


def install_guard():
    guard = os.path.join(ROOT, "tools", "netguard")
    if guard not in sys.path:
        sys.path.insert(0, guard)
    if guard not in os.environ.get("PYTHONPATH", ""):
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [guard, os.environ.get("PYTHONPATH")]))
    import imds_netguard  # pylint: disable=import-outside-toplevel,import-error
    imds_netguard.install()


def run_timed_playbook(build_playbook, prefix, **emulator_options):
    """Run ``build_playbook(emulator)`` (a list of plays for host ``benchhost``) once.

    Returns ``(times, request_log, seconds)``: ``[task name, seconds]`` per task execution (-1 for a
    failure), the emulator's /metadata requests in order, and the run's wall time.
    """
    install_guard()
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from tools.imds_emulator import Emulator  # pylint: disable=import-outside-toplevel

    playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(playbook_bin):
        playbook_bin = shutil.which("ansible-playbook")
    tmp = tempfile.mkdtemp(prefix=prefix)
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
        if "ca_dir" in emulator_options:  # a CA directory name, made inside the run's temporary directory
            emulator_options["ca_dir"] = os.path.join(tmp, emulator_options["ca_dir"])
        with Emulator(rate_limit=None, **emulator_options) as emu:
            playbook = os.path.join(tmp, "bench.yml")
            with open(playbook, "w") as handle:
                json.dump(build_playbook(emu), handle)
            started = time.monotonic()
            proc = subprocess.run([playbook_bin, "-i", inventory, playbook], env=env, cwd=tmp, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=TIMEOUT, check=False)
            seconds = time.monotonic() - started
            if proc.returncode != 0:
                raise RuntimeError("ansible-playbook failed:\n%s" % proc.stdout.decode("utf-8", "replace")[-3000:])
            log = [record for record in emu.request_log if record.path.startswith("/metadata")]
        with open(times_file) as handle:
            return json.load(handle), log, seconds
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def per_execution(times, prefix, rounds):
    """The executions of the tasks whose names start with ``prefix``, checked to be ``rounds``."""
    found = [seconds for name, seconds in times if name.startswith(prefix)]
    if len(found) != rounds or min(found) < 0:
        raise RuntimeError("unexpected task timings for %r: %r" % (prefix, times))
    return found
