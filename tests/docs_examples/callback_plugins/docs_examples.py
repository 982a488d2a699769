# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Records, for tests/docs_examples/run.py, what each play of the examples' playbook did.

One JSON line per event in $DOCS_EXAMPLES_RESULTS: {"play": name, "event": ok|changed|skipped|failed|no_hosts, ...}.
Failures are recorded whether or not the play ignores errors (the examples' plays do, so one broken example
does not stop the others).
"""

from __future__ import annotations

DOCUMENTATION = """
name: docs_examples
type: aggregate
short_description: records the results of the documentation examples (tests only)
description:
  - Writes one JSON line per task result to E(DOCS_EXAMPLES_RESULTS).
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "docs_examples"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._play = None
        self._path = os.environ["DOCS_EXAMPLES_RESULTS"]

    def _write(self, event, **details):
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(dict(play=self._play, event=event, **details), default=str) + "\n")

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def v2_playbook_on_no_hosts_matched(self):
        self._write("no_hosts")

    def v2_runner_on_ok(self, result):
        self._write("changed" if result._result.get("changed") else "ok", task=result._task.get_name(), host=result._host.get_name())

    def v2_runner_on_skipped(self, result):
        self._write("skipped", task=result._task.get_name(), host=result._host.get_name())

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", task=result._task.get_name(), host=result._host.get_name(), msg=result._result.get("msg", ""))

    def v2_runner_on_unreachable(self, result):
        self._write("failed", task=result._task.get_name(), host=result._host.get_name(), msg="unreachable: %s" % result._result.get("msg", ""))
