# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for imds.azure.scheduled_events.

Validates the task's options on the controller (``_action_module``). POSIX targets: runs the
module there. Windows targets (the connection's shell is PowerShell or cmd: winrm, psrp,
ssh): no module is copied; the module's entry point (``module_utils._scheduled.run_module``)
runs here on the controller and each IMDS request, including every read while waiting, is
one PowerShell command over the connection (``plugin_utils._windows.controller``).
"""

from __future__ import annotations

from ansible_collections.imds.azure.plugins.module_utils import _scheduled
from ansible_collections.imds.azure.plugins.plugin_utils._windows import controller as _windows
from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionModuleBase, with_host_endpoint

MODULE = "imds.azure.scheduled_events"


class ActionModule(ActionModuleBase):
    ARGUMENT_SPEC = _scheduled.ARGUMENT_SPEC
    _supports_check_mode = True
    _supports_async = True

    def _main(self, module, task_vars):
        windows = _windows.is_windows(self)
        if windows and self._task.async_val:
            module.fail_json(msg="async is not supported on Windows targets: the task runs on the controller", imds_error="config")
        wrap_async = bool(self._task.async_val) and not windows and not self._connection.has_native_async
        module_args = with_host_endpoint(self, dict(self._task.args), task_vars)
        result = _windows.execute_module(self, MODULE, _scheduled.run_module, self.ARGUMENT_SPEC, module_args, task_vars,
                                         wrap_async=wrap_async)
        if not windows and not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
