# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for imds.azure.metadata_facts.

The options are validated once, where the module's code runs: on the target by the module
(AnsibleModule), on the controller for a Windows target (below). The action itself applies the
endpoint rule (``with_host_endpoint``), runs the module and keeps what an earlier gather put in
``azure_imds`` and this one did not gather again (``keep_earlier``): Ansible replaces a fact
wholesale, and only the action sees the host's current facts. Only what a task asks for is imported:

- ``gather_subset`` naming ``attested``: the attested_* options are the controller's own. They are
  validated here (``plugin_utils._attest.action``), the controller chooses the nonce before the module runs
  and verifies the document after; the module gets neither those options nor anything but the
  nonce (``attested_nonce``, internal).
- Windows targets (the connection's shell is PowerShell: winrm, psrp, ssh with the PowerShell
  shell) get no module: the module's entry point runs here on the controller and each IMDS
  request is one PowerShell command over the connection (``plugin_utils._windows.controller``).
"""

from __future__ import annotations

import functools

from collections.abc import Mapping

from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionModuleBase, is_windows, run_module, with_host_endpoint

MODULE = "imds.azure.metadata_facts"
FACT_NAME = "azure_imds"
# The fact keys of the subsets whose requests use the main api-version line (the ``api_version`` fact).
MAIN_LINE_KEYS = ("compute", "loadbalancer", "versions", "userdata")


class ActionModule(ActionModuleBase):
    INTERNAL_OPTIONS = ("attested_nonce",)  # plugin_utils._attest.action.NONCE_OPTION: the controller chooses the nonce
    _supports_check_mode = True
    _supports_async = False

    def _result(self, task_vars):
        args = self._task.args
        gather = functools.partial(self._gather, task_vars=task_vars)
        if "attested" in str(args.get("gather_subset")):
            result = self._gather_attested(args, gather, task_vars)
        else:
            result = gather(with_host_endpoint(self, dict(args), task_vars))  # a copy: _execute_module adds to it
        return self._keep_earlier(result, task_vars)

    def _gather(self, module_args, task_vars):
        """Facts from the target: the module's result (Windows: the same code run on the controller)."""
        if not is_windows(self):
            return self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        from ansible_collections.imds.azure.plugins.module_utils import _facts  # pylint: disable=import-outside-toplevel
        from ansible_collections.imds.azure.plugins.plugin_utils._windows import controller as _windows  # pylint: disable=import-outside-toplevel
        detect = str(module_args.get("detect", "auto")).lower() != "false"  # validated there; decides whether SMBIOS is read
        return _windows.run_module_on_controller(self, _facts.run_module, _facts.ARGUMENT_SPEC, module_args, detect=detect,
                                                 task_vars=task_vars)

    def _gather_attested(self, args, gather, task_vars):
        """The attested subset: its options validated here, the nonce chosen before the module runs, the document
        verified after (``_attest``)."""
        from ansible_collections.imds.azure.plugins.module_utils._facts import ARGUMENT_SPEC  # pylint: disable=import-outside-toplevel
        from ansible_collections.imds.azure.plugins.plugin_utils._attest import action as _attest  # pylint: disable=import-outside-toplevel

        module_args = with_host_endpoint(self, dict((name, value) for name, value in args.items() if name not in _attest.OPTION_NAMES),
                                         task_vars)

        def main(module):
            attest_run = _attest.prepare(dict(module.params, gather_subset=args.get("gather_subset")))
            if attest_run is None:  # gather_subset names attested only to exclude it, or is not valid (the module says so)
                return gather(module_args)
            result = gather(dict(module_args, **{_attest.NONCE_OPTION: attest_run.nonce}))
            if result.get("failed"):
                return result
            return _attest.complete(result, attest_run, module_args, gather)

        options = dict((name, ARGUMENT_SPEC[name]) for name in _attest.OPTION_NAMES)
        return run_module(self, options, dict((name, args[name]) for name in _attest.OPTION_NAMES if name in args), main)

    def _keep_earlier(self, result, task_vars):
        """Keep what an earlier gather put in azure_imds and this one did not gather (see keep_earlier)."""
        facts = (result.get("ansible_facts") or {}).get(FACT_NAME)
        earlier = ((task_vars or {}).get("ansible_facts") or {}).get(FACT_NAME)
        if not isinstance(facts, dict) or earlier is None:
            return result
        if self._task.delegate_to and self._task.delegate_facts is True:
            return result  # the facts go to the delegated host; task_vars hold the other host's
        result["ansible_facts"] = dict(result["ansible_facts"], **{FACT_NAME: keep_earlier(_plain(earlier), facts)})
        return result


def keep_earlier(earlier, facts):
    """The ``azure_imds`` fact to set after a gather: ``facts`` plus what an earlier gather on the same host and
    endpoint put there and this one did not gather again.

    Ansible replaces a top-level fact wholesale, so without this a later ``gather_subset: [scheduledevents]``
    would drop the placement an earlier ``instance`` gather found. ``earlier`` is the host's current
    ``azure_imds`` (from the task variables). A host that is not (or was not) an Azure VM, or another
    endpoint, keeps nothing.
    """
    if not (isinstance(earlier, Mapping) and earlier.get("is_azure") is True and facts.get("is_azure") is True
            and earlier.get("endpoint") == facts.get("endpoint")):
        return facts
    merged = dict(earlier)
    merged.update(facts)
    earlier_versions = earlier.get("api_versions")
    merged["api_versions"] = dict(earlier_versions if isinstance(earlier_versions, Mapping) else {}, **facts.get("api_versions", {}))
    if not any(key in facts for key in MAIN_LINE_KEYS):
        merged["api_version"] = earlier.get("api_version", "")
    return merged


def _plain(value):
    """Plain dicts and lists (task variables may be lazy containers on newer ansible-core)."""
    if isinstance(value, Mapping):
        return dict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
