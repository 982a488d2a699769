# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for imds.azure.metadata_facts.

Runs the module on the target and hands the result back. It exists so that controller-side
work (verifying attested documents, gathering over a PowerShell connection) has one place
to hook in; see ``_gather`` and ``_after_gather``. It also keeps what an earlier gather put in
``azure_imds`` and this one did not gather again (``_keep_earlier``): Ansible replaces a fact
wholesale, and only the action sees the host's current facts.

Windows targets (the connection's shell is PowerShell: winrm, psrp, ssh with the PowerShell
shell) get no module: the module's entry point runs here on the controller and each IMDS
request is one PowerShell command over the connection (``plugin_utils._windows``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.plugins.action import ActionBase

from ansible_collections.imds.azure.plugins.module_utils import _facts
from ansible_collections.imds.azure.plugins.plugin_utils import _windows
from ansible_collections.imds.azure.plugins.plugin_utils import _attest

MODULE = "imds.azure.metadata_facts"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        module_args = dict(self._task.args)
        try:
            attest_run = _attest.prepare(module_args)  # chooses the attested nonce on the controller
        except _attest.AttestConfigError as exc:
            return dict(result, failed=True, msg=str(exc))
        result.update(self._gather(module_args, task_vars))
        if not result.get("failed"):
            result = self._after_gather(result, module_args, task_vars, attest_run)
        return self._keep_earlier(result, module_args, task_vars)

    def _gather(self, module_args, task_vars):
        """Facts from the target: the module's result (Windows: the same code run on the controller)."""
        if _windows.is_windows(self):
            detect = str(module_args.get("detect", "auto")).lower() != "false"
            return _windows.run_module_on_controller(self, _facts.run_module, _facts.ARGUMENT_SPEC, module_args, detect=detect)
        return self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)

    def _after_gather(self, result, module_args, task_vars, attest_run):
        """Controller-side work on a successful result: verify the attested document."""
        if attest_run is None:
            return result
        try:
            return _attest.complete(result, attest_run, module_args, lambda args: self._gather(args, task_vars))
        except _attest.AttestConfigError as exc:
            return dict(result, failed=True, msg=str(exc))

    def _keep_earlier(self, result, module_args, task_vars):
        """Keep what an earlier gather put in azure_imds and this one did not gather (see _facts.keep_earlier)."""
        facts = (result.get("ansible_facts") or {}).get(_facts.FACT_NAME)
        earlier = ((task_vars or {}).get("ansible_facts") or {}).get(_facts.FACT_NAME)
        if not isinstance(facts, dict) or earlier is None:
            return result
        if self._task.delegate_to and self._task.delegate_facts is True:
            return result  # the facts go to the delegated host; task_vars hold the other host's
        try:
            subsets = _facts.parse_gather_subset(module_args.get("gather_subset"))
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
