# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only connection: a Windows host (tests/unit/fakes/windows_fake.py) that receives ansible-core's
module payload and answers as the collection's PowerShell modules would, against the IMDS emulator.
Like winrm and psrp of ansible-core 2.18 and later it prints each command's output at -vvvvv unless
no_log is set."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fakewin
short_description: A Windows host played against the IMDS emulator (imds.azure tests only)
description:
  - Runs ansible-core's PowerShell module payloads of the collection's Windows modules like the modules do, against the URL
    they name.
  - The shell comes from C(ansible_shell_type) (V(powershell) or V(cmd)).
author: imds.azure contributors (@imds-azure)
options: {}
"""

from ansible.utils.display import Display

from ansible_collections.imds.azure.tests.unit.fakes import windows_fake

display = Display()


class Connection(windows_fake.FakeWindowsConnection):
    def __init__(self, play_context, *args, **kwargs):
        kwargs.pop("shell", None)
        super().__init__(play_context, *args, shell_type=getattr(play_context, "shell", None) or "powershell", **kwargs)

    def exec_command(self, cmd, in_data=None, sudoable=True):
        rc, stdout, stderr = super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        shown = "<censored due to no log>" if self._play_context.no_log else stdout.decode("utf-8")
        display.vvvvv("FAKEWIN RESULT rc=%d stdout=%r" % (rc, shown), host=self._play_context.remote_addr)
        return rc, stdout, stderr
