# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Building an action plugin for one task, as the task executor would."""

from __future__ import annotations

from unittest.mock import MagicMock

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.plugins import loader as plugin_loader
from ansible.plugins.action import ActionBase
from ansible.template import Templar


def make_action(action_class, name, connection, args=None, check_mode=False, diff=False, no_log=False, async_val=0,
                play_context=None):
    """``action_class`` for task ``name`` (an FQCN) over ``connection``, with ansible-core's plugin
    loader (so ``_execute_module`` finds modules) and a real templar."""
    task = MagicMock()
    task.args = dict(args or {})
    task.async_val = async_val
    task.check_mode = check_mode
    task.diff = diff
    task.no_log = no_log
    task.action = name
    task.environment = []
    task.delegate_to = None
    if play_context is None:
        play_context = PlayContext()
        play_context.no_log = no_log
    loader = DataLoader()
    return action_class(task, connection, play_context, loader=loader, templar=Templar(loader=loader), shared_loader_obj=plugin_loader)


class _ExampleAction(ActionBase):
    def run(self, tmp=None, task_vars=None):
        raise NotImplementedError


def windows_action(host, action_class=_ExampleAction, name="imds.azure.example", args=None, shell_type="powershell", **kwargs):
    """``action_class`` over a Windows connection to ``host`` (a windows_fake.FakeWindowsHost) with
    ansible-core's own ``shell_type`` shell plugin; ``kwargs`` as for make_action."""
    from ansible_collections.imds.azure.tests.unit.fakes.windows_fake import FakeWindowsConnection  # pylint: disable=import-outside-toplevel
    play_context = PlayContext()
    play_context.no_log = kwargs.get("no_log", False)
    connection = FakeWindowsConnection(play_context, host=host, shell_type=shell_type)
    return make_action(action_class, name, connection, args, play_context=play_context, **kwargs)
