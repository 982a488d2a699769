# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils._action_module: options validated as AnsibleModule validates them, results with one error keyword."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest

from ansible.module_utils.basic import env_fallback
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.action import ActionBase
from ansible.template import Templar

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsTimeout
from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionFailure, run_module, with_host_endpoint
from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import make_action

try:  # ansible-core >= 2.19: only trusted strings are templates (inventory and playbook strings are)
    from ansible.template import trust_as_template
except ImportError:  # older cores: every string is a template
    def trust_as_template(value):
        return value

SPEC = {
    "name": {"type": "str", "required": True},
    "count": {"type": "int", "default": 1},
    "flag": {"type": "bool", "default": False},
    "endpoint": {"type": "str", "default": "http://169.254.169.254", "fallback": (env_fallback, ["IMDS_AZURE_TEST_ENDPOINT"])},
}


class ExampleAction(ActionBase):
    def run(self, tmp=None, task_vars=None):
        raise NotImplementedError("the tests call run_module directly")


def action(check_mode=False, no_log=False):
    return make_action(ExampleAction, "imds.azure.example", MagicMock(), check_mode=check_mode, no_log=no_log)


def test_params_are_validated_and_converted_like_ansible_module_does():
    seen = []

    def main(module):
        seen.append((module.params, module.check_mode, module.no_log))
        module.exit_json(answer=42)

    result = run_module(action(check_mode=True, no_log=True), SPEC, {"name": "x", "count": "3", "flag": "yes"}, main)
    assert result == {"answer": 42, "changed": False}
    assert seen == [({"name": "x", "count": 3, "flag": True, "endpoint": "http://169.254.169.254"}, True, True)]


def test_every_invalid_option_is_reported_with_the_config_keyword():
    def main(module):
        raise AssertionError("main must not run")

    result = run_module(action(), SPEC, {"count": "many", "bogus": 1}, main)
    assert result["failed"] is True and result["imds_error"] == "config"
    assert "Unsupported parameters for (imds.azure.example) module: bogus." in result["msg"]
    assert "count" in result["msg"] and "name" in result["msg"]


def test_the_controllers_environment_is_never_a_fallback(monkeypatch):
    monkeypatch.setenv("IMDS_AZURE_TEST_ENDPOINT", "http://127.0.0.1:1")
    result = run_module(action(), SPEC, {"name": "x"}, lambda module: module.exit_json(endpoint=module.params["endpoint"]))
    assert result["endpoint"] == "http://169.254.169.254"


@pytest.mark.parametrize("error, kind", [(ActionFailure("the command failed", "command"), "command"),
                                         (ActionFailure("something failed"), "error"),
                                         (ImdsTimeout("IMDS did not answer"), "timeout")])
def test_raised_failures_carry_their_keyword_and_the_warnings_so_far(error, kind):
    def main(module):
        module.warn("first")
        raise error

    result = run_module(action(), SPEC, {"name": "x"}, main)
    assert result == {"failed": True, "msg": str(error), "imds_error": kind, "warnings": ["first"]}


def test_fail_json_and_returned_results():
    def fail(module):
        module.deprecate("old", version="1.0.0", collection_name="imds.azure")
        module.fail_json("no", imds_error="argument", extra=1)

    assert run_module(action(), SPEC, {"name": "x"}, fail) == {
        "failed": True, "msg": "no", "imds_error": "argument", "extra": 1,
        "deprecations": [{"msg": "old", "version": "1.0.0", "date": None, "collection_name": "imds.azure"}]}

    def returned(module):
        module.warn("from the module")
        return {"changed": True, "warnings": ["from the result"]}

    assert run_module(action(), SPEC, {"name": "x"}, returned) == {"changed": True, "warnings": ["from the result", "from the module"]}
    result = run_module(action(), SPEC, {"name": "x"}, lambda module: None)
    assert result["failed"] is True and result["imds_error"] == "error" and "returned without a result" in result["msg"]


# --------------------------------------------------------------------------- the endpoint rule (issue 22, item 6)

def endpoint_action(task_vars, delegate_to=None):
    action = make_action(ExampleAction, "imds.azure.metadata_facts", MagicMock())
    action._task.delegate_to = delegate_to  # pylint: disable=protected-access
    action._templar = Templar(loader=DataLoader(), variables=task_vars)  # pylint: disable=protected-access
    return action


@pytest.mark.parametrize("args, task_vars, delegate_to, endpoint", [
    ({}, {}, None, None),                                                             # the module's own fallbacks
    ({}, {"azure_imds_endpoint": "http://127.0.0.1:8080"}, None, "http://127.0.0.1:8080"),
    ({"endpoint": None}, {"azure_imds_endpoint": "http://127.0.0.1:8080"}, None, "http://127.0.0.1:8080"),
    ({"endpoint": "http://127.0.0.1:1"}, {"azure_imds_endpoint": "http://127.0.0.1:8080"}, None, "http://127.0.0.1:1"),
    ({}, {"azure_imds_endpoint": "", "x": 1}, None, ""),                              # empty: refused later, never the default
    ({}, {"azure_imds_endpoint": trust_as_template("http://{{ vm }}:8080"), "vm": "127.0.0.2"}, None, "http://127.0.0.2:8080"),
    # delegate_to: the delegated host's variables (ActionBase reads them from ansible_delegated_vars the same way)
    ({}, {"azure_imds_endpoint": "http://127.0.0.1:1",
          "ansible_delegated_vars": {"vm-2": {"azure_imds_endpoint": "http://127.0.0.2:8080"}}}, "vm-2", "http://127.0.0.2:8080"),
    ({}, {"azure_imds_endpoint": "http://127.0.0.1:1", "ansible_delegated_vars": {"vm-2": {}}}, "vm-2", None),
])
def test_the_host_variable_azure_imds_endpoint_comes_after_the_option(args, task_vars, delegate_to, endpoint):
    out = with_host_endpoint(endpoint_action(task_vars, delegate_to), dict(args), task_vars)
    assert out.get("endpoint") == endpoint
