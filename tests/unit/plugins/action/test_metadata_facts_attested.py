# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metadata_facts action's attestation hook: nonce chosen before the module, verdict after it."""

from __future__ import annotations

from unittest.mock import MagicMock

from ansible_collections.imds.azure.plugins.action.metadata_facts import ActionModule
from ansible_collections.imds.azure.plugins.module_utils._facts import gather_facts
from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import make_action
from ansible_collections.imds.azure.tests.unit.fakes.aia_listener import Listener


def _action(args):
    action = make_action(ActionModule, "imds.azure.metadata_facts", MagicMock(), args)
    calls = []

    def execute_module(module_name, module_args, task_vars, wrap_async=False):  # the module, run in-process against the emulator
        calls.append(dict(module_args))
        return {"changed": False, "ansible_facts": {"azure_imds": gather_facts(dict(module_args))}}

    action._execute_module = execute_module  # pylint: disable=protected-access
    return action, calls


def _args(emu, **extra):
    args = {"endpoint": emu.url, "detect": "false", "gather_subset": ["instance", "attested"], "attested_ca_path": emu.ca_cert_path,
            "attested_aia_allowlist": [emu.url + "/_emulator/ca/"]}
    args.update(extra)
    return args


def test_verified_on_the_controller(imds_emulator):
    action, calls = _action(_args(imds_emulator))
    result = action.run(task_vars={})
    attested = result["ansible_facts"]["azure_imds"]["attested"]
    assert not result.get("failed"), result.get("msg")
    assert attested["verified"] is True
    assert len(calls) == 1 and calls[0]["attested_nonce"] == attested["nonce"]
    sent = [r.query["nonce"] for r in imds_emulator.request_log if r.path == "/metadata/attested/document"]
    assert sent == [attested["nonce"]]


def test_each_run_has_its_own_nonce(imds_emulator):
    nonces = set()
    for _index in range(3):
        action, _calls = _action(_args(imds_emulator))
        nonces.add(action.run(task_vars={})["ansible_facts"]["azure_imds"]["attested"]["nonce"])
    assert len(nonces) == 3


def test_fails_by_default(imds_emulator_factory):
    emu = imds_emulator_factory(profile={"emulator": {"attested": {"untrusted_ca": True}}})
    result = _action(_args(emu))[0].run(task_vars={})
    assert result["failed"] is True and result["imds_error"] == "attestation"
    assert result["ansible_facts"]["azure_imds"]["attested"]["reason"] == result["attested_reason"] == "untrusted_signer"
    result = _action(_args(emu, attested_required=False))[0].run(task_vars={})
    assert not result.get("failed")
    assert result["ansible_facts"]["azure_imds"]["attested"]["reason"] == "untrusted_signer"


def test_issuer_urls_elsewhere_are_not_contacted(imds_emulator_factory):
    """The emulator's hostile mode: the signer names CA Issuers URLs that point elsewhere (a loopback listener)."""
    with Listener() as elsewhere:
        emu = imds_emulator_factory(profile={"emulator": {"attested": {"ca_issuers": [elsewhere.url + "/issuer.crt"]}}})
        args = _args(emu)
        del args["attested_aia_allowlist"]  # the default: Microsoft's locations only
        result = _action(args)[0].run(task_vars={})
    assert result["failed"] is True and result["attested_reason"] == "untrusted_signer"
    assert "is not in attested_aia_allowlist" in result["msg"]
    assert elsewhere.requests == []


def test_bad_options_fail_before_the_module(imds_emulator, tmp_path):
    for extra in ({"attested_ca_path": str(tmp_path / "missing.pem")}, {"attested_nonce": "1234567890"}, {"attested_clock_skew": -5},
                  {"attested_aia_allowlist": ["169.254.169.254"]}, {"attested_clock_skew": "soon"}, {"attested_required": "maybe"}):
        action, calls = _action(_args(imds_emulator, **extra))
        result = action.run(task_vars={})
        assert result["failed"] is True and result["imds_error"] == "config" and calls == [], extra
        assert list(extra)[0] in result["msg"], result["msg"]
    assert imds_emulator.request_log == []


def test_a_task_cannot_set_the_nonce(imds_emulator):
    """attested_nonce is documented (the module takes it) but internal: the controller chooses the nonce."""
    action, calls = _action(_args(imds_emulator, attested_nonce="1234567890"))
    result = action.run(task_vars={})
    assert result["failed"] is True and result["imds_error"] == "config" and calls == []
    assert result["msg"].startswith("attested_nonce is internal: the ") and result["msg"].endswith(" action sets it, so a task cannot set it")


def test_other_subsets_untouched(imds_emulator):
    action, calls = _action({"endpoint": imds_emulator.url, "detect": "false"})
    result = action.run(task_vars={})
    assert "attested" not in result["ansible_facts"]["azure_imds"]
    assert "attested_nonce" not in calls[0]


def test_a_subset_that_only_excludes_attested_gathers_without_a_nonce(imds_emulator):
    action, calls = _action(_args(imds_emulator, gather_subset=["instance", "!attested"]))
    result = action.run(task_vars={})
    assert not result.get("failed"), result.get("msg")
    assert "attested" not in result["ansible_facts"]["azure_imds"]
    assert len(calls) == 1 and "attested_nonce" not in calls[0]


def test_a_gather_that_fails_is_reported_as_it_is_and_nothing_is_verified(imds_emulator):
    action, calls = _action(_args(imds_emulator))
    failure = {"failed": True, "msg": "cannot read /metadata/instance", "imds_error": "unreachable"}

    def execute_module(module_name, module_args, task_vars, wrap_async=False):
        calls.append(dict(module_args))
        return dict(failure)

    action._execute_module = execute_module  # pylint: disable=protected-access
    result = action.run(task_vars={})
    assert result["failed"] is True and result["imds_error"] == "unreachable" and result["msg"] == failure["msg"]
    assert "ansible_facts" not in result and len(calls) == 1
    assert not [r for r in imds_emulator.request_log if r.path == "/metadata/attested/document"]
