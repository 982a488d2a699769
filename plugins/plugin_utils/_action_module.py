# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module code on the controller: the one way action plugins validate options and report results.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

``AnsibleActionModule`` is the part of AnsibleModule that module code uses (``params``,
``check_mode``, ``no_log``, ``warn``, ``deprecate``, ``exit_json``, ``fail_json``), for code
that runs in an action plugin: the action's own work, and a module_utils entry point run on
the controller for a Windows target (``_windows.run_module_on_controller``). Options are
validated with ansible-core's ArgumentSpecValidator, the validator AnsibleModule uses, so the
controller and the target accept and refuse the same values. The idea is community.crypto's
plugin_utils/_action_module.py::

    class ActionModule(ActionModuleBase):
        ARGUMENT_SPEC = {...}

        def _main(self, module, task_vars):
            ...
            module.exit_json(changed=False, answer=42)   # or return a finished result dict

A failure has one stable keyword, the result's ``imds_error``: ``module.fail_json(msg,
imds_error=...)``, or raise any ImdsAzureError (an ActionFailure, the client's ImdsError...: its
``kind``). Invalid options fail with ``imds_error: config``. Environment fallbacks
(``env_fallback``) are not applied here: the controller's environment is not the target's
(``_windows`` fills them from the target's).
"""

from __future__ import annotations

import functools

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsAzureError

ENDPOINT_VARIABLE = "azure_imds_endpoint"   # the host variable the lookups' endpoint option reads too
WINDOWS_SHELL_FAMILIES = ("powershell", "cmd")


class ActionFailure(ImdsAzureError):
    """A failure of an action plugin: ``kind`` becomes the task result's ``imds_error``."""


class _ModuleExit(Exception):
    def __init__(self, result):
        super(_ModuleExit, self).__init__("module exit")
        self.result = result


def with_host_endpoint(action, args, task_vars):
    """The module's ``args`` with the endpoint rule applied (docs/docsite/rst/facts.rst "The endpoint").

    The first that is set wins: the task's ``endpoint`` (``module_defaults`` included), the host variable
    ``azure_imds_endpoint`` (as for the lookups; the delegated host's when the task delegates), the
    ``AZURE_IMDS_ENDPOINT`` environment variable where the module runs (its fallback), the default.
    """
    if args.get("endpoint") is not None:
        return args
    host_vars = task_vars or {}
    if action._task.delegate_to:
        host_vars = (host_vars.get("ansible_delegated_vars") or {}).get(action._task.delegate_to) or {}
    value = host_vars.get(ENDPOINT_VARIABLE)
    if value is None:
        return args
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        value = action._templar.template(value)
    return dict(args, endpoint=value)


def without_fallbacks(argument_spec):
    """``argument_spec`` without its ``fallback`` entries."""
    return dict((option, dict((key, value) for key, value in settings.items() if key != "fallback"))
                for option, settings in argument_spec.items())


def task_options(argument_spec, internal=()):
    """The options a task may set: ``argument_spec`` without the ``internal`` ones, which only the action plugin sets."""
    return dict((option, settings) for option, settings in argument_spec.items() if option not in internal)


def is_windows(action):
    """True when the action's connection talks to a Windows host (its modules run through ``_windows``).

    The shell family is ``powershell`` (psrp, ssh with the PowerShell shell, winrm in older
    ansible-core releases) or ``cmd`` (winrm in ansible-core 2.21, ssh with the cmd shell);
    both run ansible-core's PowerShell module execution.
    """
    shell = getattr(getattr(action, "_connection", None), "_shell", None)
    return getattr(shell, "SHELL_FAMILY", "") in WINDOWS_SHELL_FAMILIES


class AnsibleActionModule(object):
    """AnsibleModule's interface for module code running in action plugin ``action``.

    ``params`` are validated against ``argument_spec`` at once; invalid ones end the module
    with ``fail_json`` (imds_error ``config``), so create it inside ``run_module``.
    """

    def __init__(self, action, argument_spec, params):
        self.argument_spec = argument_spec
        self.check_mode = bool(action._task.check_mode)
        self.no_log = bool(action._play_context.no_log)
        self._warnings = []
        self._deprecations = []
        validation = ArgumentSpecValidator(without_fallbacks(argument_spec)).validate(dict(params))
        self.params = validation.validated_parameters
        if validation.error_messages:
            messages = []
            for error in validation.errors:
                message = str(error.args[0]) if error.args else str(error)
                if isinstance(error, UnsupportedError):  # worded as AnsibleModule and ActionBase word it
                    message = "Unsupported parameters for (%s) module: %s" % (action._task.action, message)
                messages.append(message)
            self.fail_json(msg="; ".join(messages), imds_error="config")

    def warn(self, warning):
        self._warnings.append(str(warning))

    def deprecate(self, msg, version=None, date=None, collection_name=None):
        self._deprecations.append(dict(msg=msg, version=version, date=date, collection_name=collection_name))

    def debug(self, msg):  # pylint: disable=unused-argument
        return None

    def result(self, **kwargs):
        """``kwargs`` as a task result, with the warnings and deprecations collected so far."""
        if self._warnings:
            kwargs["warnings"] = list(kwargs.get("warnings") or []) + self._warnings
        if self._deprecations:
            kwargs["deprecations"] = list(kwargs.get("deprecations") or []) + self._deprecations
        return kwargs

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise _ModuleExit(self.result(**kwargs))

    def fail_json(self, msg, **kwargs):
        kwargs.update(failed=True, msg=msg)
        raise _ModuleExit(self.result(**kwargs))


def run_module(action, argument_spec, params, main):
    """Validate ``params``, call ``main(module)`` with an AnsibleActionModule, and return the task result.

    ``main`` ends with ``module.exit_json``/``fail_json`` or returns a finished result dict;
    an ImdsAzureError raised out of it fails the task with ``imds_error`` set to its kind.
    """
    module = None
    try:
        module = AnsibleActionModule(action, argument_spec, params)
        result = main(module)
    except _ModuleExit as done:
        return done.result
    except ImdsAzureError as exc:
        return module.result(failed=True, msg=str(exc), imds_error=exc.kind)
    if isinstance(result, dict):
        return module.result(**result)
    name = getattr(getattr(main, "func", main), "__qualname__", main)
    return module.result(failed=True, msg="%s returned without a result" % name, imds_error="error")


class ActionModuleBase(ActionBase):
    """An action plugin whose work is ``_main(module, task_vars)``, run by ``run_module`` with the
    task's options (``task_options(ARGUMENT_SPEC, INTERNAL_OPTIONS)``). ``INTERNAL_OPTIONS`` are documented module
    options that only the action plugin sets (validate-modules wants every option of the module documented); a task
    that sets one fails."""

    ARGUMENT_SPEC = {}
    INTERNAL_OPTIONS = ()
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModuleBase, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        internal = sorted(set(self._task.args) & set(self.INTERNAL_OPTIONS))
        if internal:
            result.update(failed=True, imds_error="config",
                          msg="%s is internal: the %s action sets it, so a task cannot set it" % (", ".join(internal), self._task.action))
            return result
        result.update(self._result(task_vars))
        return result

    def _result(self, task_vars):
        """The task's result: ``_main`` run with the task's options validated here. An action whose options are
        validated where its module's code runs (the module on the target) overrides this instead of ``_main``."""
        main = functools.partial(self._main, task_vars=task_vars)
        return run_module(self, task_options(self.ARGUMENT_SPEC, self.INTERNAL_OPTIONS), self._task.args, main)

    def _main(self, module, task_vars):
        raise NotImplementedError("%s does not implement _main" % type(self).__name__)
