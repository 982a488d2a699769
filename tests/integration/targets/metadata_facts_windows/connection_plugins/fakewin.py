# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only connection: a Windows host whose PowerShell commands are carried out against the
IMDS emulator by tests/unit/fakes/windows_fake.py. Like winrm and psrp of
ansible-core 2.16/2.17 it prints each command's output at -vvvvv whatever no_log says."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fakewin
short_description: A Windows host played against the IMDS emulator (imds.azure tests only)
description:
  - Runs the encoded PowerShell commands of imds.azure's Windows path like the scripts do, against the URL they name.
  - The shell comes from C(ansible_shell_type) (V(powershell) or V(cmd)).
author: imds.azure contributors (@imds-azure)
options: {}
"""

from ansible.errors import AnsibleError
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ansible_collections.imds.azure.tests.unit.fakes import windows_fake

display = Display()


class Connection(ConnectionBase):
    transport = "fakewin"
    has_pipelining = False
    allow_executable = False
    _shell_type = "powershell"
    module_implementation_preferences = (".ps1", ".exe", "")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._host = windows_fake.FakeWindowsHost()

    def _connect(self):
        self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        rc, stdout, stderr = self._host(cmd, in_data)
        display.vvvvv("FAKEWIN RESULT rc=%d stdout=%r" % (rc, stdout), host=self._play_context.remote_addr)
        return rc, stdout.encode("utf-8"), stderr.encode("utf-8")

    def put_file(self, in_path, out_path):
        raise AnsibleError("fakewin: no file transfer (imds.azure's Windows path never copies files)")

    def fetch_file(self, in_path, out_path):
        raise AnsibleError("fakewin: no file transfer")

    def close(self):
        self._connected = False
