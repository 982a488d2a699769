# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The REAL ansible-core connection plugins (winrm, psrp, ssh) of whichever core is installed,
with only the library beneath each replaced by a fake that hands the command to a
FakeWindowsHost (windows_fake.py):

* winrm: pywinrm's ``Protocol``. FakeProtocol subclasses the real class (so the plugin's
  argument checks and ``_get_soap_header`` are pywinrm's own) and answers ``open_shell``,
  ``run_command`` and the WS-Management Send/Receive messages the plugin builds itself.
  WinRS joins the command and its arguments with spaces and runs them with cmd.exe (the
  plugin's own comment in exec_command, ansible-core 2.21.5 winrm.py), so the 8,191
  character limit applies.
* psrp: pypsrp's ``WSMan``, ``RunspacePool`` and ``PowerShell``. The script runs in the
  fake host's runspace: only pipeline output and error records come back, ``[Console]``
  writes are lost, ``exit N`` reaches the client through the host's SetShouldExit
  (pypsrp host.py). Input follows pypsrp's ``begin_invoke``: a string is ONE input object,
  a list one object per element (ansible-core 2.16 to 2.18 pass a string, 2.19 and later
  ``splitlines()``).
* ssh: the ``ssh`` process. FakeSshProcess stands in for ``subprocess.Popen`` inside the
  plugin module only, with real pipes; the remote side is Win32-OpenSSH, which runs the
  command with its default shell: cmd.exe (``/c``) or PowerShell (``-c``).

``connect(kind, host, monkeypatch)`` returns a connected plugin instance. Each core's plugin
builds its own command line (winrm of 2.16 to 2.18 and ssh of 2.16/2.17 encode the bootstrap
wrapper's command once more); the units matrix runs the tests on every core.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import threading
import traceback
import types
import uuid
import xml.etree.ElementTree as ET

from ansible.playbook.play_context import PlayContext
from ansible.plugins.connection import psrp as psrp_plugin
from ansible.plugins.connection import ssh as ssh_plugin
from ansible.plugins.connection import winrm as winrm_plugin
from ansible.plugins.loader import connection_loader, shell_loader
from pypsrp.complex_objects import PSInvocationState, RunspacePoolState
from winrm.protocol import Protocol

try:
    from ansible.release import __version__ as CORE_VERSION
except ImportError:  # pragma: no cover
    CORE_VERSION = "0"

_RSP = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
# The connections a test can ask for: (connection plugin, shell plugin, OpenSSH default shell)
KINDS = {
    "winrm": ("winrm", None, None),
    "psrp": ("psrp", "powershell", None),
    "ssh-cmd": ("ssh", "cmd", "cmd"),
    "ssh-powershell": ("ssh", "powershell", "powershell"),
}


# --------------------------------------------------------------------------- winrm

class FakeProtocol(Protocol):
    """pywinrm's Protocol with the WS-Management exchange answered by ``fake_host``."""

    fake_host = None  # set on a subclass by connect()

    fake_commands = None  # command id -> {"line", "stdin", "result"}, per shell

    def open_shell(self, *args, **kwargs):  # pylint: disable=unused-argument
        self.fake_commands = {}
        return str(uuid.uuid4()).upper()

    def run_command(self, shell_id, command, arguments=(), console_mode_stdin=True, skip_cmd_shell=False):
        parts = [command] + list(arguments)
        line = " ".join(part.decode("utf-8") if isinstance(part, bytes) else part for part in parts)
        command_id = str(uuid.uuid4()).upper()
        self.fake_commands[command_id] = {"line": line, "stdin": b"", "result": None}
        return command_id

    def cleanup_command(self, shell_id, command_id):
        self.fake_commands.pop(command_id, None)

    def close_shell(self, shell_id, close_session=True):
        self.fake_commands = {}

    def send_message(self, message):
        root = ET.fromstring(message)
        action = root.find(".//{%s}Action" % _WSA).text
        if action.endswith("/Send"):
            # rsp:Send carries base64 stdin for one command; End="true" on the last chunk (MS-WSMV 3.1.4.14)
            for stream in root.iter("{%s}Stream" % _RSP):
                self.fake_commands[stream.get("CommandId")]["stdin"] += base64.b64decode(stream.text or "")
            return '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'
        if action.endswith("/Receive"):
            command_id = root.find(".//{%s}DesiredStream" % _RSP).get("CommandId")
            command = self.fake_commands[command_id]
            if command["result"] is None:
                command["result"] = self.fake_host.cmd_exe(command["line"], command["stdin"])
            rc, stdout, stderr = command["result"]
            return self._receive_response(command_id, rc, stdout, stderr)
        raise AssertionError("unexpected WS-Management action %s" % action)

    @staticmethod
    def _receive_response(command_id, rc, stdout, stderr):
        """A ReceiveResponse with all output and CommandState Done (MS-WSMV 3.1.4.14)."""
        streams = "".join('<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>'
                          % (name, command_id, base64.b64encode(data.encode("utf-8")).decode("ascii"))
                          for name, data in (("stdout", stdout), ("stderr", stderr)) if data)
        return ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="%s"><s:Body><rsp:ReceiveResponse>%s'
                '<rsp:CommandState CommandId="%s" State="%s/CommandState/Done"><rsp:ExitCode>%d</rsp:ExitCode>'
                '</rsp:CommandState></rsp:ReceiveResponse></s:Body></s:Envelope>' % (_RSP, streams, command_id, _RSP, rc))


# --------------------------------------------------------------------------- psrp

class FakeWSMan(object):
    def __init__(self, server, **kwargs):
        self.server = server
        self.max_payload_size = 153600
        self.transport = types.SimpleNamespace(endpoint="http://%s:%s/wsman" % (server, kwargs.get("port", 5985)))


class FakeRunspacePool(object):
    fake_host = None  # set on a subclass by connect()

    def __init__(self, connection, host=None, configuration_name=None, **kwargs):  # pylint: disable=unused-argument
        self.connection = connection
        self.host = host
        self.id = uuid.uuid4()
        self.state = RunspacePoolState.BEFORE_OPEN

    def open(self):
        self.state = RunspacePoolState.OPENED

    def close(self):
        self.state = RunspacePoolState.CLOSED


class FakeErrorRecord(object):
    """The parts of pypsrp's ErrorRecord the psrp plugin reads."""

    def __init__(self, message):
        self.message = message
        self.command_name = None
        self.invocation_position_message = None
        self.fq_error = "NativeCommandError"
        self.script_stacktrace = None

    def __str__(self):
        return self.message


class FakePowerShell(object):
    """pypsrp's PowerShell pipeline: the script runs in the fake host's runspace."""

    def __init__(self, runspace_pool):
        self.runspace_pool = runspace_pool
        self.script = None
        self.arguments = []
        self.output = []
        self.had_errors = False
        self.streams = types.SimpleNamespace(error=[])
        self.state = PSInvocationState.NOT_STARTED

    def add_script(self, script, use_local_scope=None):  # pylint: disable=unused-argument
        self.script = script
        return self

    def add_argument(self, value):
        self.arguments.append(value)
        return self

    def invoke(self, input=None, **kwargs):  # pylint: disable=redefined-builtin,unused-argument
        if input is None:
            objects = []
        elif isinstance(input, list):
            objects = list(input)
        else:
            objects = [input]
        run = self.runspace_pool.fake_host.runspace(self.script, objects)
        self.output = list(run.pipeline)  # run.console_err: written to wsmprovhost's console, lost
        self.streams.error = [FakeErrorRecord(message) for message in run.errors]
        self.had_errors = bool(run.errors)
        if run.exit is not None:
            self.runspace_pool.host.SetShouldExit(self.runspace_pool, self, run.exit)
        self.state = PSInvocationState.COMPLETED
        return self.output

    def stop(self):
        self.state = PSInvocationState.STOPPED


# --------------------------------------------------------------------------- ssh

class FakeSshProcess(object):
    """An ``ssh HOST COMMAND`` process whose remote end is Win32-OpenSSH on ``fake_host``."""

    fake_host = None      # set on a subclass by connect()
    default_shell = None  # "cmd" or "powershell"

    def __init__(self, args, stdin=None, stdout=None, stderr=None, **kwargs):  # pylint: disable=unused-argument
        assert stdout == stderr == subprocess.PIPE, "the fake ssh process only supports pipes for its output"
        self.args = args
        self.pid = 0
        self.returncode = None
        in_r = self.stdin = None  # stdin a pty (the plugin sends no input then): the remote side reads nothing
        if stdin == subprocess.PIPE:
            in_r, in_w = os.pipe()
            self.stdin = io.open(in_w, "wb", 0)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.stdout = io.open(out_r, "rb", -1)
        self.stderr = io.open(err_r, "rb", -1)
        self._thread = threading.Thread(target=self._serve, args=(in_r, out_w, err_w), daemon=True)
        self._thread.start()

    def _serve(self, in_r, out_w, err_w):
        data = b""
        if in_r is not None:
            with io.open(in_r, "rb") as reader:
                data = reader.read()
        command_line = self.args[-1].decode("utf-8") if isinstance(self.args[-1], bytes) else self.args[-1]
        try:
            if self.default_shell == "cmd":
                rc, stdout, stderr = self.fake_host.cmd_exe(command_line, data)
            else:
                rc, stdout, stderr = self.fake_host.powershell_default_shell(command_line, data)
        except Exception:  # pylint: disable=broad-exception-caught
            # a defect of the fake or of the test: ssh's own exit code for "connection failed", with the traceback
            rc, stdout, stderr = 255, "", traceback.format_exc()
        for fd, text in ((out_w, stdout), (err_w, stderr)):
            with io.open(fd, "wb") as writer:
                writer.write(text.encode("utf-8"))
        self.returncode = rc

    def poll(self):
        return None if self._thread.is_alive() else self.returncode

    def wait(self, timeout=None):
        self._thread.join(timeout)
        return self.returncode

    def kill(self):
        pass

    terminate = kill


# --------------------------------------------------------------------------- connecting

def connect(kind, host, monkeypatch, play_context=None):
    """A connected real connection plugin of ``kind`` (see KINDS) whose library talks to ``host``.

    winrm keeps its own default shell: powershell up to 2.20, cmd on 2.21.
    """
    name, shell_name, default_shell = KINDS[kind]
    play_context = play_context or PlayContext()
    if name == "winrm":
        monkeypatch.setattr(winrm_plugin, "Protocol", type("BoundProtocol", (FakeProtocol,), {"fake_host": host}))
    elif name == "psrp":
        monkeypatch.setattr(psrp_plugin, "WSMan", FakeWSMan)
        monkeypatch.setattr(psrp_plugin, "RunspacePool", type("BoundPool", (FakeRunspacePool,), {"fake_host": host}))
        monkeypatch.setattr(psrp_plugin, "PowerShell", FakePowerShell)
    else:
        process = type("BoundSsh", (FakeSshProcess,), {"fake_host": host, "default_shell": default_shell})
        monkeypatch.setattr(ssh_plugin, "subprocess", types.SimpleNamespace(Popen=process, PIPE=subprocess.PIPE))
    kwargs = {"shell": shell_loader.get(shell_name)} if shell_name else {}
    conn = connection_loader.get(name, play_context, **kwargs)
    options = {"ansible_host": "win-%s" % kind, "ansible_user": "admin"}
    if name != "ssh":
        options.update(ansible_password="not-a-secret", ansible_port=5985, _extras={})
    conn.set_options(var_options=options)
    conn._connect()  # pylint: disable=protected-access
    return conn
