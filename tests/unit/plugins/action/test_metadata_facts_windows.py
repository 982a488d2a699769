# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata_facts on a Windows target: the action plugin with a fake PowerShell
connection whose commands are carried out against the IMDS emulator."""

from __future__ import annotations

import functools
from unittest.mock import MagicMock

import pytest

from ansible.playbook.play_context import PlayContext

from ansible_collections.imds.azure.plugins.action.metadata_facts import ActionModule
from ansible_collections.imds.azure.plugins.module_utils import _client
from ansible_collections.imds.azure.plugins.plugin_utils import _windows
from ansible_collections.imds.azure.tests.unit.plugins.plugin_utils import windows_fake as wf


def make_action(host, args=None, check_mode=False, no_log=False):
    task = MagicMock()
    task.args = dict(args or {})
    task.async_val = 0
    task.check_mode = check_mode
    task.diff = False
    task.no_log = no_log
    task.action = "imds.azure.metadata_facts"
    play_context = PlayContext()
    play_context.no_log = no_log
    conn = wf.FakePowerShellConnection(host, play_context)
    action = ActionModule(task, conn, play_context, loader=MagicMock(), templar=MagicMock(), shared_loader_obj=None)
    return action, conn


def run(host, args=None, **kwargs):
    action, conn = make_action(host, args, **kwargs)
    return action.run(task_vars={}), conn


@pytest.fixture
def fast_client(monkeypatch, fake_time):
    """Retries sleep on a fake clock (the requests themselves are real)."""
    monkeypatch.setattr(_windows, "ImdsClient", functools.partial(_client.ImdsClient, sleep=fake_time.sleep, clock=fake_time.clock))
    return fake_time


def metadata_log(emu):
    return [record for record in emu.request_log if record.path.startswith("/metadata")]


def test_default_gather_runs_one_command_per_request(imds_emulator):
    host = wf.FakeWindowsHost()
    result, conn = run(host, {"endpoint": imds_emulator.url})
    assert not result.get("failed"), result
    facts = result["ansible_facts"]["azure_imds"]
    assert facts["is_azure"] is True and facts["detection"] == "dmi"
    assert facts["placement"]["vm_size"] == "Standard_D2s_v5"
    assert [r.path for r in host.requests] == ["/metadata/versions", "/metadata/instance"]
    assert [r.path for r in metadata_log(imds_emulator)] == ["/metadata/versions", "/metadata/instance"]
    assert host.hostinfo == 1 and len(host.commands) == 3
    assert all(conn.no_log_seen)
