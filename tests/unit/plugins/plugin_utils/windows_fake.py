# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake Windows host for the PowerShell path: it carries out the commands of
plugin_utils._windows the way their PowerShell does, against a real HTTP endpoint.

The request command's data lines (URL, method, timeout, body, headers) are parsed from the
script; the request is made with http.client straight to the URL (no proxy, no redirect, no
keep-alive, like HttpWebRequest with the empty proxy); failures are reported as the .NET
exception chains the script prints. Used by the unit tests and by bench/windows.py.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import struct
import time
from urllib.parse import urlsplit

from ansible_collections.imds.azure.plugins.plugin_utils import _commands, _windows

AZURE_TAG = "7783-7084-3265-9085-8269-3286-77"
MICROSOFT = "Microsoft Corporation"

_ASSIGN_RE = re.compile(r"^\$(imdsUrl|imdsMethod) = ('.*')$")
_TIMEOUT_RE = re.compile(r"^\$imdsTimeoutMs = (\d+)$")
_BODY_RE = re.compile(r"^\$imdsBody = (?:\$null|\[Convert\]::FromBase64String\(('.*')\))$")
_HEADER_RE = re.compile(r"^\$imdsHeaders\[('[^']*(?:''[^']*)*')\] = ('.*')$")
_WAIT_RE = re.compile(r"WaitOne\((\d+)\)")
_ENV_RE = re.compile(r"foreach \(\$imdsName in @\((.*)\)\)")


def ps_unquote(literal):
    """The value of a PowerShell single-quoted literal (doubled quotes are one quote)."""
    assert len(literal) >= 2 and literal[0] in _windows._PS_QUOTES and literal[-1] in _windows._PS_QUOTES, literal  # pylint: disable=protected-access
    inner = literal[1:-1]
    out = []
    index = 0
    while index < len(inner):
        char = inner[index]
        if char in _windows._PS_QUOTES:  # pylint: disable=protected-access
            assert index + 1 < len(inner) and inner[index + 1] in _windows._PS_QUOTES, "unescaped quote in %r" % literal  # pylint: disable=protected-access
            index += 1
        out.append(char)
        index += 1
    return "".join(out)


def build_smbios(asset_tag=AZURE_TAG, vendor=MICROSOFT, header=True):
    """A raw SMBIOS table (registry layout) with a BIOS, system (type 1) and enclosure (type 3) structure."""

    def structure(kind, handle, formatted, strings):
        body = struct.pack("<BBH", kind, 4 + len(formatted), handle) + formatted
        text = b"".join(s.encode("ascii") + b"\x00" for s in strings)
        return body + (text + b"\x00" if text else b"\x00\x00")

    table = structure(0, 0, bytes([1, 2, 0, 0xE8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), ["American Megatrends Inc.", "090008"])
    if vendor is not None:
        table += structure(1, 1, bytes([1, 2, 3, 0]) + b"\x00" * 21, [vendor, "Virtual Machine", "7.0"])
    if asset_tag is not None:
        strings = [MICROSOFT, "7.0", "0000-0000"] + ([asset_tag] if asset_tag else [])
        table += structure(3, 3, bytes([1, 3, 2, 3, 4 if asset_tag else 0]) + b"\x00" * 12, strings)
    table += structure(127, 0xFEFF, b"", [])
    if not header:
        return table
    return struct.pack("<BBBBI", 0, 3, 1, 0, len(table)) + table


def _encode(marker, data):
    return marker + base64.b64encode(json.dumps(data).encode("utf-8")).decode("ascii")


def _chain(*items):
    return [dict(item) for item in items]


class Request(object):
    """One request command as the fake host understood it."""

    def __init__(self, script, wrapper_ms):
        self.script = script
        self.wrapper_ms = wrapper_ms
        self.headers = {}
        self.body = None
        self.url = self.method = None
        self.timeout_ms = None
        for line in script.splitlines():
            match = _ASSIGN_RE.match(line)
            if match:
                setattr(self, "url" if match.group(1) == "imdsUrl" else "method", ps_unquote(match.group(2)))
                continue
            match = _TIMEOUT_RE.match(line)
            if match:
                self.timeout_ms = int(match.group(1))
                continue
            match = _BODY_RE.match(line)
            if match:
                self.body = base64.b64decode(ps_unquote(match.group(1))) if match.group(1) else None
                continue
            match = _HEADER_RE.match(line)
            if match:
                self.headers[ps_unquote(match.group(1))] = ps_unquote(match.group(2))
        assert self.url and self.method and self.timeout_ms, "not a request command:\n%s" % script[:400]

    @property
    def path(self):
        return urlsplit(self.url).path


class FakeWindowsHost(object):
    """Answers encoded PowerShell commands: host information and IMDS requests.

    ``smbios``: raw table bytes (None: the registry value is missing; then ``cim`` answers,
    a dict or None for "CIM failed too"). ``env``: the target's environment. ``override``:
    callable(script) returning (rc, stdout, stderr) or None to take over a command.
    """

    def __init__(self, smbios=None, cim=None, env=None, override=None):
        self.smbios = build_smbios() if smbios is None else smbios
        self.cim = cim
        self.env = dict(env or {})
        self.override = override
        self.commands = []   # every inner script, in order
        self.requests = []   # Request objects, in order
        self.hostinfo = 0
        self.stdin_used = 0  # commands whose script came on stdin (too long for a command line)

    def __call__(self, cmd, in_data=None):
        # winrm and ssh with the cmd shell run the command through cmd.exe, which truncates after 8191 characters
        assert len(cmd) <= 8191, "command line of %d characters: cmd.exe would truncate it" % len(cmd)
        wrapper = _commands.decode_powershell(cmd)
        script = _commands.unwrap_powershell(cmd, in_data)
        assert script is not None and wrapper is not None, "not an encoded PowerShell command: %r" % cmd[:80]
        self.stdin_used += 1 if in_data else 0
        match = _WAIT_RE.search(wrapper)
        assert match, "every command is bounded in time"
        self.commands.append(script)
        if self.override is not None:
            answer = self.override(script)
            if answer is not None:
                return answer
        if _windows.HOSTINFO_MARKER in script:
            return self._hostinfo(script)
        request = Request(script, int(match.group(1)))
        self.requests.append(request)
        return 0, self.perform(request) + "\r\n", ""

    def _hostinfo(self, script):
        self.hostinfo += 1
        info = {"smbios": None, "env": {}}
        if _windows.SMBIOS_REGISTRY_KEY in script:
            if self.smbios is not False and self.smbios is not None:
                info["smbios"] = base64.b64encode(self.smbios).decode("ascii")
            else:
                info["smbios_error"] = "Property SMBiosData does not exist"
                if self.cim is not None:
                    info["cim"] = self.cim
                else:
                    info["cim_error"] = "Access denied"
        match = _ENV_RE.search(script)
        if match:
            for literal in re.findall(r"'(?:[^']|'')*'", match.group(1)):
                name = ps_unquote(literal)
                info["env"][name] = self.env.get(name)
        return 0, _encode(_windows.HOSTINFO_MARKER, info) + "\r\n", ""

    @staticmethod
    def perform(request):
        """Carry out the request as the PowerShell script does; return its output line."""
        parts = urlsplit(request.url)
        timeout = request.timeout_ms / 1000.0
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        marker = _windows.RESPONSE_MARKER
        try:
            probe = socket.create_connection((host, port), timeout=timeout)
            probe.close()
        except socket.timeout:
            return _encode(marker, {"error": {"phase": "connect", "timeout": True, "chain": []}})
        except OSError as exc:
            return _encode(marker, {"error": {"phase": "connect", "timeout": False, "chain": _chain(
                {"type": "System.Management.Automation.MethodInvocationException", "message": "Exception calling \"EndConnect\""},
                {"type": "System.Net.Sockets.SocketException", "socket": "ConnectionRefused",
                 "message": "No connection could be made because the target machine actively refused it (%s)" % exc})}})
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = connection_class(host, port, timeout=timeout)
        target = parts.path + ("?" + parts.query if parts.query else "")
        headers = dict(request.headers)
        headers["Connection"] = "Close"
        started = time.monotonic()
        try:
            conn.request(request.method, target, body=request.body, headers=headers)
            response = conn.getresponse()
        except socket.timeout:
            conn.close()
            return _encode(marker, {"error": {"phase": "request", "timeout": False, "chain": _chain(
                {"type": "System.Management.Automation.MethodInvocationException", "message": "Exception calling \"GetResponse\""},
                {"type": "System.Net.WebException", "status": "Timeout", "message": "The operation has timed out"})}})
        except (http.client.HTTPException, OSError) as exc:
            conn.close()
            return _encode(marker, {"error": {"phase": "request", "timeout": False, "chain": _chain(
                {"type": "System.Management.Automation.MethodInvocationException", "message": "Exception calling \"GetResponse\""},
                {"type": "System.Net.WebException", "status": "ReceiveFailure",
                 "message": "The underlying connection was closed: An unexpected error occurred on a receive (%s)" % type(exc).__name__})}})
        try:
            body = response.read()
        except socket.timeout:
            return _encode(marker, {"error": {"phase": "read", "timeout": False, "chain": _chain(
                {"type": "System.IO.IOException", "message": "Unable to read data from the transport connection"},
                {"type": "System.Net.Sockets.SocketException", "socket": "TimedOut",
                 "message": "A connection attempt failed because the connected party did not properly respond after a period of time"})}})
        except (http.client.HTTPException, OSError) as exc:
            return _encode(marker, {"error": {"phase": "read", "timeout": False, "chain": _chain(
                {"type": "System.IO.IOException", "message": "The connection was closed prematurely (%s)" % type(exc).__name__})}})
        finally:
            conn.close()
        del started
        return _encode(marker, {"status": response.status, "headers": dict(response.getheaders()),
                                "body": base64.b64encode(body).decode("ascii")})


class FakeShell(object):
    SHELL_FAMILY = "powershell"
    tmpdir = None
    executable = None


class FakePowerShellConnection(object):
    """A connection whose shell is PowerShell; exec_command is answered by ``host``."""

    transport = "winrm"
    become = None
    allow_executable = False

    def __init__(self, host, play_context=None):
        self._shell = FakeShell()
        self.host = host
        self._play_context = play_context
        self.no_log_seen = []   # play_context.no_log during each command

    def exec_command(self, cmd, in_data=None, sudoable=True):  # pylint: disable=unused-argument
        self.no_log_seen.append(getattr(self._play_context, "no_log", None))
        rc, stdout, stderr = self.host(cmd, in_data)
        return rc, stdout.encode("utf-8"), stderr.encode("utf-8")

    def get_option(self, name):  # pylint: disable=unused-argument
        return None
