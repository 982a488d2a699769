# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for imds.azure.metadata_facts.

Runs the module on the target and hands the result back. It exists so that controller-side
work (verifying attested documents, gathering over a PowerShell connection) has one place
to hook in; see ``_gather`` and ``_after_gather``.

Windows targets (the connection's shell is PowerShell: winrm, psrp, ssh with the PowerShell
shell) get no module: the module's entry point runs here on the controller and each IMDS
request is one PowerShell command over the connection (``plugin_utils._windows``).
"""

from __future__ import annotations

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
        return result

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
