# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for imds.azure.scheduled_events.

POSIX targets: runs the module there. Windows targets (the connection's shell is PowerShell
or cmd: winrm, psrp, ssh): no module is copied; the module's entry point
(``module_utils._scheduled.run_module``) runs here on the controller and each IMDS request,
including every read while waiting, is one PowerShell command over the connection
(``plugin_utils._windows``).
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.imds.azure.plugins.module_utils import _scheduled
from ansible_collections.imds.azure.plugins.plugin_utils import _windows

MODULE = "imds.azure.scheduled_events"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        module_args = dict(self._task.args)
        if _windows.is_windows(self):
            if self._task.async_val:
                return dict(result, failed=True, msg="async is not supported on Windows targets: the task runs on the controller")
            result.update(_windows.run_module_on_controller(self, _scheduled.run_module, _scheduled.ARGUMENT_SPEC, module_args))
            return result
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
