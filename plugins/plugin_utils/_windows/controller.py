# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Modules on Windows targets: their code runs on the controller, each IMDS request is a PowerShell module run.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

An action plugin whose connection talks to Windows (winrm, psrp, ssh with the PowerShell or
cmd shell; see ``_action_module.is_windows``) runs the module_utils entry point ON THE CONTROLLER
(``run_module_on_controller``) with a client whose transport runs the PowerShell module
``imds.azure.win_metadata_request`` once per HTTP request (``_windows.transport``) and, for
detection and environment fallbacks, ``imds.azure.win_metadata_host`` once
(``_windows.hostinfo``); both through ``ActionBase._execute_module`` (``_windows.modules``)::

    from ansible_collections.imds.azure.plugins.plugin_utils._windows import controller as _windows

    result = _windows.execute_module(self, "imds.azure.metadata_facts", _facts.run_module, _facts.ARGUMENT_SPEC,
                                     module_args, task_vars, detect=True)   # self: the ActionBase

``entry(module, client_factory=..., detector=...)`` is the module_utils entry point the
module runs; ``module`` is an AnsibleActionModule (``_action_module``).
``client_factory(**kwargs)`` builds an ImdsClient with the module transport;
``detector()`` classifies the host from its SMBIOS table (only with ``detect=True``).
``WindowsImds(action, task_vars)`` holds the transport, client factory, detector and target
environment of one task.
"""

from __future__ import annotations

from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient
from ansible_collections.imds.azure.plugins.plugin_utils._action_module import is_windows, run_module
from ansible_collections.imds.azure.plugins.plugin_utils._windows.hostinfo import detection_from_hostinfo, read_host_info
from ansible_collections.imds.azure.plugins.plugin_utils._windows.modules import RemoteModuleError, WindowsModules
from ansible_collections.imds.azure.plugins.plugin_utils._windows.transport import ModuleTransport


class WindowsImds(object):
    """The module transport, client factory, detector and target environment of one task.

    The host information (SMBIOS table for ``detect``, environment variables for
    ``env_names``) is read with ONE module run, the first time either is needed.
    """

    def __init__(self, action, task_vars=None, detect=False, env_names=()):
        self.modules = WindowsModules(action, task_vars)
        self.transport = ModuleTransport(self.modules)
        self.detect = detect
        self.env_names = tuple(env_names)
        self._info = None

    def host_info(self):
        if self._info is None:
            if self.detect or self.env_names:
                self._info = read_host_info(self.modules, self.detect, self.env_names)
            else:
                self._info = {"env": {}}
        return self._info

    def env(self, name):
        """An environment variable of the target (None when unset); ``name`` must be in env_names."""
        value = self.host_info()["env"].get(name)
        return value if isinstance(value, str) and value != "" else None

    def detector(self):
        """Detection from the target's SMBIOS table (same rules as DMI on Linux)."""
        if not self.detect:
            raise RuntimeError("WindowsImds was created without detect=True")
        return detection_from_hostinfo(self.host_info())

    def client_factory(self, **kwargs):
        """An ImdsClient whose requests run on the target; ``transport`` is always this one."""
        kwargs["transport"] = self.transport
        return ImdsClient(**kwargs)


def _env_fallbacks(spec):
    """{option: [variable names]} for the options with an environment fallback."""
    names = {}
    for option, settings in spec.items():
        fallback = settings.get("fallback")
        if fallback and getattr(fallback[0], "__name__", "") == "env_fallback":
            names[option] = [str(name) for name in fallback[1]]
    return names


def run_module_on_controller(action, entry, argument_spec, args, detect=False, task_vars=None):
    """Run a module_utils entry point on the controller against a Windows target; return the result.

    ``args`` are validated with ``argument_spec`` (``_action_module.run_module``), except that
    environment fallbacks (``env_fallback``) read the TARGET's environment, in the same
    module run as the SMBIOS table. ``entry(module, client_factory=..., detector=...)`` must end
    with ``module.exit_json``/``fail_json``; ImdsError and module run failures raised out of it
    fail the task with ``imds_error`` set to their kind.
    """
    missing = dict((option, names) for option, names in _env_fallbacks(argument_spec).items() if args.get(option) is None)
    windows = WindowsImds(action, task_vars, detect=detect, env_names=sorted(set(name for names in missing.values() for name in names)))
    params = dict(args)
    try:
        for option, names in missing.items():
            values = [windows.env(name) for name in names]
            if any(value is not None for value in values):
                params[option] = next(value for value in values if value is not None)
    except RemoteModuleError as exc:
        return {"failed": True, "msg": str(exc), "imds_error": exc.kind}
    kwargs = {"client_factory": windows.client_factory}
    if detect:
        kwargs["detector"] = windows.detector

    def main(module):
        entry(module, **kwargs)
        module.fail_json(msg="the entry point %s returned without a result" % getattr(entry, "__name__", entry), imds_error="error")

    return run_module(action, argument_spec, params, main)


def execute_module(action, module_name, entry, argument_spec, module_args, task_vars, detect=False, wrap_async=False):
    """The module's result for this task: on a Windows target its entry point runs here on the
    controller (``run_module_on_controller``), on any other target the module runs there."""
    if is_windows(action):
        return run_module_on_controller(action, entry, argument_spec, module_args, detect=detect, task_vars=task_vars)
    return action._execute_module(module_name=module_name, module_args=module_args, task_vars=task_vars,  # pylint: disable=protected-access
                                  wrap_async=wrap_async)
