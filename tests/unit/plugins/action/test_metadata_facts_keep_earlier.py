# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A later partial gather keeps what an earlier gather put in ansible_facts['azure_imds'].

Ansible replaces a top-level fact wholesale (``VariableManager.set_host_facts`` updates the
host's facts key by key), so the metadata_facts action merges with the host's current facts,
which it finds in ``task_vars['ansible_facts']``.
"""

from __future__ import annotations

from unittest.mock import MagicMock

from ansible_collections.imds.azure.plugins.action.metadata_facts import ActionModule
from ansible_collections.imds.azure.plugins.module_utils._facts import gather_facts
from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import make_action


def _run(args, earlier=None, delegate_facts_to=None):
    """One task: the module runs in-process against the emulator; ``earlier`` is the host's current azure_imds."""
    action = make_action(ActionModule, "imds.azure.metadata_facts", MagicMock(), args)
    action._task.delegate_to = delegate_facts_to  # pylint: disable=protected-access
    action._task.delegate_facts = bool(delegate_facts_to)  # pylint: disable=protected-access
    action._execute_module = lambda module_name, module_args, task_vars, wrap_async=False: {  # pylint: disable=protected-access
        "changed": False, "ansible_facts": {"azure_imds": gather_facts(dict(module_args))}}
    task_vars = {} if earlier is None else {"ansible_facts": {"azure_imds": earlier}}
    result = action.run(task_vars=task_vars)
    assert not result.get("failed"), result.get("msg")
    return result["ansible_facts"]["azure_imds"]


def _args(emu, **extra):
    return dict({"endpoint": emu.url, "detect": "false"}, **extra)


def test_scheduled_events_after_instance_keep_the_placement(imds_emulator):
    first = _run(_args(imds_emulator))
    assert first["placement"]["location"] and first["compute"]["vmId"]
    later = _run(_args(imds_emulator, gather_subset=["scheduledevents"]), earlier=first)
    for key in ("compute", "network", "placement", "tags"):
        assert later[key] == first[key], key
    assert later["scheduled_events"]["Events"] == []
    assert later["api_versions"] == dict(first["api_versions"], scheduledevents="2020-07-01")
    assert later["api_version"] == first["api_version"]  # the version the kept compute came from


def test_attested_after_instance_keeps_the_placement(imds_emulator):
    first = _run(_args(imds_emulator))
    later = _run(_args(imds_emulator, gather_subset=["attested"], attested_ca_path=imds_emulator.ca_cert_path,
                       attested_aia_allowlist=[imds_emulator.url + "/_emulator/ca/"]), earlier=first)
    assert later["attested"]["verified"] is True
    assert later["placement"] == first["placement"] and later["compute"] == first["compute"]


def test_regathered_subsets_replace_and_others_stay(imds_emulator):
    first = _run(_args(imds_emulator, gather_subset=["instance", "loadbalancer"]))
    stale = dict(first, placement=dict(first["placement"], zone="stale"), compute=dict(first["compute"], zone="stale"))
    later = _run(_args(imds_emulator, gather_subset=["instance"]), earlier=stale)
    assert later["placement"] == first["placement"]  # gathered again: the new answer wins
    assert later["loadbalancer"] == first["loadbalancer"]  # not gathered again: kept


def test_nothing_is_kept_from_another_endpoint_or_a_host_that_was_not_azure(imds_emulator):
    first = _run(_args(imds_emulator))
    for earlier in (dict(first, endpoint="http://127.0.0.1:1"), dict(first, is_azure=False), "damaged", {"is_azure": True}):
        later = _run(_args(imds_emulator, gather_subset=["scheduledevents"]), earlier=earlier)
        assert "placement" not in later and "compute" not in later, earlier


def test_a_partial_gather_alone_has_no_placement(imds_emulator):
    facts = _run(_args(imds_emulator, gather_subset=["scheduledevents"]))
    assert facts["is_azure"] is True and "scheduled_events" in facts
    assert not {"compute", "network", "placement", "tags"} & set(facts)


def test_damaged_earlier_api_versions_do_not_break_the_gather(imds_emulator):
    first = _run(_args(imds_emulator))
    later = _run(_args(imds_emulator, gather_subset=["scheduledevents"]), earlier=dict(first, api_versions="damaged"))
    assert later["api_versions"] == {"scheduledevents": "2020-07-01"} and later["placement"] == first["placement"]


def test_nothing_is_kept_when_the_facts_go_to_a_delegated_host(imds_emulator):
    first = _run(_args(imds_emulator))  # the task's own host
    later = _run(_args(imds_emulator, gather_subset=["scheduledevents"]), earlier=first, delegate_facts_to="other-vm")
    assert "placement" not in later
