# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run short commands on a POSIX target over the task's connection, each one bounded in time.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

This is the controller-side half of the pattern ``ansible.windows.win_reboot`` uses: an
action plugin runs a few small, read-only commands through
``ActionBase._low_level_execute_command`` (no module is shipped to the target), parses
their output on the controller, and runs at most one change command. Used by the Linux path
of the ``imds.azure.metadata_route`` action. (Windows targets run the collection's PowerShell
modules instead: ``_windows.modules``.)

Every command gets two bounds:

* on the target: it runs under ``timeout N`` when the target has it;
* on the controller: the call into the connection runs in a worker thread that is
  abandoned after N + GRACE seconds (``run_bounded``), because a connection can hang on its
  own (ansible.windows#838). The task then fails; the worker process ends with the task.

Usage::

    runner = CommandRunner(action, timeout=20)
    res = runner.posix(["ip", "-j", "-4", "route", "show", "table", "main"])
    res.rc, res.stdout, res.stderr, res.command
"""

from __future__ import annotations

import shlex
import threading

from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionFailure

TIMEOUT_RC = 124
CONTROLLER_GRACE = 15


class CommandTimeout(ActionFailure):
    """A command did not finish within its timeout."""

    kind = "timeout"


class CommandResult:
    """What a command returned. ``command`` is the human-readable form of the command."""

    def __init__(self, rc, stdout, stderr, command):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.command = command

    def __repr__(self):
        return "CommandResult(rc=%r, command=%r)" % (self.rc, self.command)


def run_bounded(call, limit):
    """``call()`` in a worker thread; its result, or CommandTimeout when it has not returned after
    ``limit`` seconds (the thread is abandoned: a connection can hang on its own). Exceptions
    raised by ``call`` are raised here."""
    box = {}

    def target():
        try:
            box["result"] = call()
        except BaseException as exc:  # pylint: disable=broad-exception-caught
            box["error"] = exc

    worker = threading.Thread(target=target, name="imds-azure-command", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise CommandTimeout("the connection did not return within %s seconds" % limit)
    if "error" in box:
        raise box["error"]
    return box["result"]


def posix_with_timeout(argv, timeout):
    """A /bin/sh command line running ``argv`` under ``timeout`` when the target has it, with LC_ALL=C (messages not localised)."""
    command = shlex.join(str(arg) for arg in argv)
    return "LC_ALL=C; export LC_ALL; if command -v timeout >/dev/null 2>&1; then timeout %d %s; else %s; fi" % (int(timeout), command, command)


class CommandRunner:
    """Runs commands for an action plugin through its connection, each bounded in time."""

    def __init__(self, action, timeout=30, grace=CONTROLLER_GRACE):
        self._action = action
        self.timeout = timeout
        self.grace = grace

    def posix(self, argv):
        """Run ``argv`` (list) with /bin/sh on a POSIX target; returns CommandResult (CommandTimeout when either bound ran out)."""
        line = posix_with_timeout(argv, self.timeout)
        raw = run_bounded(lambda: self._action._low_level_execute_command(line, sudoable=True), self.timeout + self.grace)
        result = CommandResult(raw.get("rc", 0) or 0, raw.get("stdout", "") or "", raw.get("stderr", "") or "", shlex.join(str(arg) for arg in argv))
        if result.rc == TIMEOUT_RC:
            raise CommandTimeout("command timed out after %s seconds on the target: %s" % (self.timeout, result.command))
        return result
