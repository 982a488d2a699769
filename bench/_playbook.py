# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ansible-playbook run on a local host against an emulator on loopback, with each task's
wall time recorded by a tiny callback: what the playbook benchmarks share."""

from __future__ import annotations

import contextlib
import json
import os
import resource
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


class PlaybookSession(object):
    """ansible-playbook runs on host ``benchhost`` against one emulator (``self.emu``), in one temporary directory."""

    def __init__(self, tmp, emu):
        self.tmp = tmp
        self.emu = emu
        playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        self.playbook_bin = playbook_bin if os.path.exists(playbook_bin) else shutil.which("ansible-playbook")
        callbacks = os.path.join(tmp, "callbacks")
        os.makedirs(callbacks)
        with open(os.path.join(callbacks, "bench_timer.py"), "w") as handle:
            handle.write(_CALLBACK)
        self.inventory = os.path.join(tmp, "inventory.ini")
        with open(self.inventory, "w") as handle:
            handle.write("benchhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        self.times_file = os.path.join(tmp, "times.json")
        self.env = dict(os.environ)
        self.env.update({
            "ANSIBLE_COLLECTIONS_PATH": _collections_path(tmp),
            "ANSIBLE_CALLBACK_PLUGINS": callbacks,
            "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_DISPLAY_OK_HOSTS": "false",
            "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
            "ANSIBLE_NOCOLOR": "1",
            "BENCH_TIMES_FILE": self.times_file,
            "IMDS_AZURE_DMI_PATH": "",
        })

    def run(self, plays):
        """Run ``plays`` once; returns ``(times, cpu, wall)``: the callback's ``[task name, seconds]`` per task
        execution (-1 for a failure), and the CPU seconds (user + system of ansible-playbook and every process
        under it: workers, modules) and wall seconds of the run."""
        playbook = os.path.join(self.tmp, "bench.yml")
        with open(playbook, "w") as handle:
            json.dump(plays, handle)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = subprocess.run([self.playbook_bin, "-i", self.inventory, playbook], env=self.env, cwd=self.tmp,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT, check=False)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise RuntimeError("ansible-playbook failed:\n%s" % proc.stdout.decode("utf-8", "replace")[-3000:])
        with open(self.times_file) as handle:
            times = json.load(handle)
        return times, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


@contextlib.contextmanager
def playbook_session(prefix, **emulator_options):
    """A PlaybookSession with an emulator on loopback (rate limit off) for the ``with`` block."""
    install_guard()
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from tools.imds_emulator import Emulator  # pylint: disable=import-outside-toplevel

    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        if "ca_dir" in emulator_options:  # a CA directory name, made inside the run's temporary directory
            emulator_options["ca_dir"] = os.path.join(tmp, emulator_options["ca_dir"])
        with Emulator(rate_limit=None, **emulator_options) as emu:
            yield PlaybookSession(tmp, emu)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_timed_playbook(build_playbook, prefix, **emulator_options):
    """Run ``build_playbook(emulator)`` (a list of plays for host ``benchhost``) once.

    Returns ``(times, request_log, seconds)``: ``[task name, seconds]`` per task execution (-1 for a
    failure), the emulator's /metadata requests in order, and the run's wall time.
    """
    with playbook_session(prefix, **emulator_options) as session:
        times, dummy, seconds = session.run(build_playbook(session.emu))
        log = [record for record in session.emu.request_log if record.path.startswith("/metadata")]
    return times, log, seconds


def per_execution(times, prefix, rounds):
    """The executions of the tasks whose names start with ``prefix``, checked to be ``rounds``."""
    found = [seconds for name, seconds in times if name.startswith(prefix)]
    if len(found) != rounds or min(found) < 0:
        raise RuntimeError("unexpected task timings for %r: %r" % (prefix, times))
    return found
