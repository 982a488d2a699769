# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metadata_facts action on the default path: one module run with the task's options, and nothing of
attestation, Windows or the IMDS client on the controller."""

from __future__ import annotations

import importlib
import sys

from unittest.mock import MagicMock

from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import make_action

PLUGINS = "ansible_collections.imds.azure.plugins."
# What the default gather on a Linux target must not import on the controller.
NOT_ON_THE_DEFAULT_PATH = ("plugin_utils._attest", "plugin_utils._windows", "module_utils._client", "module_utils._facts")
FACTS = {"is_azure": True, "detection": "dmi", "endpoint": "http://127.0.0.1:1", "api_version": "2021-12-13",
         "api_versions": {"instance": "2021-12-13"}, "compute": {}, "network": {}, "placement": {}, "tags": {}}


def test_the_default_gather_runs_the_module_once_and_imports_nothing_else(monkeypatch):
    for name in list(sys.modules):  # a fresh import of the collection for this test (restored after it)
        if name.startswith(PLUGINS):
            monkeypatch.delitem(sys.modules, name)
    action_class = importlib.import_module(PLUGINS + "action.metadata_facts").ActionModule
    calls = []

    def execute_module(module_name, module_args, task_vars, wrap_async=False):
        calls.append((module_name, dict(module_args)))
        return {"changed": False, "ansible_facts": {"azure_imds": dict(FACTS)}}

    results = []
    for earlier in (None, dict(FACTS, versions=["2021-12-13"])):  # a first gather, and one that keeps an earlier one's facts
        action = make_action(action_class, "imds.azure.metadata_facts", MagicMock(), {"detect": "maybe"})
        action._execute_module = execute_module  # pylint: disable=protected-access
        task_vars = {"azure_imds_endpoint": "http://127.0.0.1:1"}
        if earlier is not None:
            task_vars["ansible_facts"] = {"azure_imds": earlier}
        results.append(action.run(task_vars=task_vars))

    # The options are the module's to validate (on the target): the action passes them on as the task set them.
    assert calls == [("imds.azure.metadata_facts", {"detect": "maybe", "endpoint": "http://127.0.0.1:1"})] * 2
    assert results[0]["ansible_facts"]["azure_imds"] == FACTS
    assert results[1]["ansible_facts"]["azure_imds"]["versions"] == ["2021-12-13"]
    imported = sorted(name for name in sys.modules if name.startswith(tuple(PLUGINS + part for part in NOT_ON_THE_DEFAULT_PATH)))
    assert imported == []
