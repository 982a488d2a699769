# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for imds.azure.metadata_facts.

Validates the task's options on the controller (``_action_module``), runs the module on the
target and hands the result back. The attested_* options are the controller's own: it chooses
the nonce before the module runs and verifies the document after (``_attest.action``); the module
gets neither those options nor anything but the nonce (``attested_nonce``, internal). It also
keeps what an earlier gather put in ``azure_imds`` and this one did not gather again
(``_keep_earlier``): Ansible replaces a fact wholesale, and only the action sees the host's
current facts.

Windows targets (the connection's shell is PowerShell: winrm, psrp, ssh with the PowerShell
shell) get no module: the module's entry point runs here on the controller and each IMDS
request is one PowerShell command over the connection (``plugin_utils._windows.controller``).
"""

from __future__ import annotations

import functools

from collections.abc import Mapping

from ansible_collections.imds.azure.plugins.module_utils import _facts
from ansible_collections.imds.azure.plugins.plugin_utils._attest import action as _attest
from ansible_collections.imds.azure.plugins.plugin_utils._windows import controller as _windows
from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionModuleBase, with_host_endpoint

MODULE = "imds.azure.metadata_facts"


class ActionModule(ActionModuleBase):
    ARGUMENT_SPEC = _facts.ARGUMENT_SPEC
    INTERNAL_OPTIONS = (_attest.NONCE_OPTION,)
    _supports_check_mode = True
    _supports_async = False

    def _main(self, module, task_vars):
        attest_run = _attest.prepare(module.params)  # chooses the nonce on the controller
        module_args = dict((name, value) for name, value in self._task.args.items() if name not in _attest.OPTION_NAMES)
        module_args = with_host_endpoint(self, module_args, task_vars)
        if attest_run is not None:
            module_args[_attest.NONCE_OPTION] = attest_run.nonce
        gather = functools.partial(self._gather, task_vars=task_vars, detect=module.params["detect"] != "false")
        result = gather(module_args)
        if attest_run is not None and not result.get("failed"):
            result = _attest.complete(result, attest_run, module_args, gather)
        return self._keep_earlier(result, module.params["gather_subset"], task_vars)

    def _gather(self, module_args, task_vars, detect):
        """Facts from the target: the module's result (Windows: the same code run on the controller)."""
        return _windows.execute_module(self, MODULE, _facts.run_module, self.ARGUMENT_SPEC, module_args, task_vars, detect=detect)

    def _keep_earlier(self, result, gather_subset, task_vars):
        """Keep what an earlier gather put in azure_imds and this one did not gather (see _facts.keep_earlier)."""
        facts = (result.get("ansible_facts") or {}).get(_facts.FACT_NAME)
        earlier = ((task_vars or {}).get("ansible_facts") or {}).get(_facts.FACT_NAME)
        if not isinstance(facts, dict) or earlier is None:
            return result
        if self._task.delegate_to and self._task.delegate_facts is True:
            return result  # the facts go to the delegated host; task_vars hold the other host's
        try:
            subsets = _facts.parse_gather_subset(gather_subset)
        except _facts.FactsError:
            return result
        merged = _facts.keep_earlier(_plain(earlier), facts, subsets)
        result["ansible_facts"] = dict(result["ansible_facts"], **{_facts.FACT_NAME: merged})
        return result


def _plain(value):
    """Plain dicts and lists (task variables may be lazy containers on newer ansible-core)."""
    if isinstance(value, Mapping):
        return dict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
