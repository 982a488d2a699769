# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IMDS for Windows targets: one PowerShell command per HTTP request, everything else on the controller.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

No PowerShell module is shipped. An action plugin whose connection talks to Windows (winrm,
psrp, ssh with the PowerShell or cmd shell; see is_windows) runs the module_utils entry point ON THE CONTROLLER with
a client whose transport turns each HTTP request into one short PowerShell command
(``plugin_utils._commands``). The command only makes the request and prints the status,
headers and raw body; request rules, version negotiation, retries, validation and fact
building are the same Python code the Linux module runs.

API (reused by every action that talks to IMDS from a Windows target)::

    from ansible_collections.imds.azure.plugins.plugin_utils import _windows

    if _windows.is_windows(self):                      # self: the ActionBase
        result = _windows.run_module_on_controller(
            self, entry, ARGUMENT_SPEC, self._task.args, detect=False)

``entry(module, client_factory=..., detector=...)`` is the module_utils entry point the
module runs (for example ``_facts.run_module``); ``module`` is a ControllerModule (params,
check_mode, no_log, warn, fail_json, exit_json). ``client_factory(**kwargs)`` builds an
ImdsClient with the PowerShell transport; ``detector()`` classifies the host from its
SMBIOS table (only with ``detect=True``). Lower level: ``WindowsImds(action)`` (the
transport, client factory, detector and target environment of one task) and
``PowerShellTransport(runner)``.

The request command (``request_script``):

* bypasses every proxy: ``HttpWebRequest`` with ``.Proxy`` set to the empty proxy (Windows
  PowerShell 5.1 has no ``-NoProxy``), never follows redirects, sends no keep-alive;
* connects first with a bounded ``TcpClient`` connect so that "no connection" and "no
  answer" are told apart (``HttpWebRequest.Timeout`` covers both);
* is bounded three ways: ``timeout`` for the connect, the answer and each read of the body
  on the target (each read is an asynchronous read waited for ``timeout``:
  ``HttpWebRequest.ReadWriteTimeout`` does nothing on PowerShell 7's .NET, dotnet/runtime
  (corefx) #34550); the command wrapper stops it after ``3 * timeout + COMMAND_SLACK`` seconds; the
  controller abandons the connection call after that plus a grace period;
* prints one line: ``RESPONSE_MARKER`` + base64(JSON) with ``status``, ``headers`` and the
  base64 ``body``, or ``error`` (phase and the .NET exception chain), which the controller
  maps to the client's TransportError classes.

Values are placed in the script as PowerShell single-quoted literals (every quote character
PowerShell knows is doubled) and the body as base64, so nothing from the URL or body can
change the script.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.imds.azure.plugins.module_utils._client import (
    ConnectError,
    ConnectionReset,
    ConnectTimeout,
    ImdsClient,
    ImdsError,
    ReadTimeout,
    Response,
)
from ansible_collections.imds.azure.plugins.module_utils._detect import UNKNOWN, Detection, classify
from ansible_collections.imds.azure.plugins.plugin_utils._commands import CommandRunner, CommandTimeout
from ansible_collections.imds.azure.plugins.plugin_utils._powershell import decode_result, quote

RESPONSE_MARKER = "IMDS-AZURE-RESPONSE:"
HOSTINFO_MARKER = "IMDS-AZURE-HOSTINFO:"
COMMAND_SLACK = 5          # seconds on top of 3 * timeout before the wrapper stops a request command
HOSTINFO_TIMEOUT = 30      # seconds for the host information command
SMBIOS_REGISTRY_KEY = r"HKLM:\SYSTEM\CurrentControlSet\Services\mssmbios\Data"

_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9-]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# The constant part of the request command. It reads $imdsUrl, $imdsMethod, $imdsTimeoutMs,
# $imdsBody (byte[] or $null) and $imdsHeaders, set by the lines request_script puts in front.
REQUEST_CODE = r"""
function Out-ImdsResult($data) {
    $imdsJson = ConvertTo-Json -InputObject $data -Compress -Depth 6
    '@MARKER@' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($imdsJson))
}
function Get-ImdsChain($exc) {
    $chain = New-Object System.Collections.ArrayList
    $e = $exc
    while ($null -ne $e) {
        $item = [ordered]@{ type = $e.GetType().FullName; message = [string]$e.Message }
        if ($e -is [System.Net.WebException]) { $item.status = [string]$e.Status }
        if ($e -is [System.Net.Sockets.SocketException]) { $item.socket = [string]$e.SocketErrorCode }
        [void]$chain.Add($item)
        $e = $e.InnerException
    }
    ,$chain
}
$imdsUri = [Uri]$imdsUrl
$imdsFamily = [System.Net.Sockets.AddressFamily]::InterNetwork
if ($imdsUri.HostNameType -eq [UriHostNameType]::IPv6) { $imdsFamily = [System.Net.Sockets.AddressFamily]::InterNetworkV6 }
$imdsTcp = New-Object System.Net.Sockets.TcpClient($imdsFamily)
try {
    $imdsAr = $imdsTcp.BeginConnect($imdsUri.DnsSafeHost, $imdsUri.Port, $null, $null)
    if (-not $imdsAr.AsyncWaitHandle.WaitOne($imdsTimeoutMs)) {
        Out-ImdsResult @{ error = [ordered]@{ phase = 'connect'; timeout = $true; chain = @() } }
        return
    }
    $imdsTcp.EndConnect($imdsAr)
} catch {
    Out-ImdsResult @{ error = [ordered]@{ phase = 'connect'; timeout = $false; chain = (Get-ImdsChain $_.Exception) } }
    return
} finally {
    $imdsTcp.Close()
}
$imdsResponse = $null
try {
    $imdsRequest = [System.Net.HttpWebRequest][System.Net.WebRequest]::Create($imdsUri)
    $imdsRequest.Method = $imdsMethod
    $imdsRequest.Proxy = [System.Net.GlobalProxySelection]::GetEmptyWebProxy()
    $imdsRequest.AllowAutoRedirect = $false
    $imdsRequest.KeepAlive = $false
    $imdsRequest.Timeout = $imdsTimeoutMs
    $imdsRequest.ReadWriteTimeout = $imdsTimeoutMs
    $imdsRequest.AutomaticDecompression = [System.Net.DecompressionMethods]::None
    try { $imdsRequest.ServicePoint.Expect100Continue = $false } catch { }
    foreach ($imdsName in $imdsHeaders.Keys) {
        $imdsValue = $imdsHeaders[$imdsName]
        switch ($imdsName.ToLowerInvariant()) {
            'content-type' { $imdsRequest.ContentType = $imdsValue }
            'user-agent' { $imdsRequest.UserAgent = $imdsValue }
            'accept' { $imdsRequest.Accept = $imdsValue }
            default { $imdsRequest.Headers.Add($imdsName, $imdsValue) }
        }
    }
    if ($null -ne $imdsBody) {
        $imdsRequest.ContentLength = $imdsBody.Length
        $imdsStream = $imdsRequest.GetRequestStream()
        $imdsStream.Write($imdsBody, 0, $imdsBody.Length)
        $imdsStream.Close()
    }
    $imdsResponse = $imdsRequest.GetResponse()
} catch {
    $imdsWeb = $_.Exception
    while ($null -ne $imdsWeb -and -not ($imdsWeb -is [System.Net.WebException])) { $imdsWeb = $imdsWeb.InnerException }
    if ($null -ne $imdsWeb -and $null -ne $imdsWeb.Response) {
        $imdsResponse = $imdsWeb.Response
    } else {
        Out-ImdsResult @{ error = [ordered]@{ phase = 'request'; timeout = $false; chain = (Get-ImdsChain $_.Exception) } }
        return
    }
}
try {
    $imdsStatus = [int]$imdsResponse.StatusCode
    $imdsOut = @{}
    foreach ($imdsKey in $imdsResponse.Headers.AllKeys) { $imdsOut[$imdsKey] = [string]$imdsResponse.Headers[$imdsKey] }
    $imdsMemory = New-Object System.IO.MemoryStream
    $imdsStream = $imdsResponse.GetResponseStream()
    $imdsBuffer = New-Object byte[] 65536
    while ($true) {
        $imdsRead = $imdsStream.ReadAsync($imdsBuffer, 0, $imdsBuffer.Length)
        if (-not $imdsRead.Wait($imdsTimeoutMs)) { throw [TimeoutException]::new('the answer timed out: no data for ' + $imdsTimeoutMs + ' ms') }
        if ($imdsRead.Result -le 0) { break }
        $imdsMemory.Write($imdsBuffer, 0, $imdsRead.Result)
    }
} catch {
    Out-ImdsResult @{ error = [ordered]@{ phase = 'read'; timeout = $false; chain = (Get-ImdsChain $_.Exception) } }
    return
} finally {
    $imdsResponse.Close()
}
Out-ImdsResult ([ordered]@{ status = $imdsStatus; headers = $imdsOut; body = [Convert]::ToBase64String($imdsMemory.ToArray()) })
""".replace("@MARKER@", RESPONSE_MARKER)

# Host information: the raw SMBIOS table (registry, as GetSystemFirmwareTable('RSMB') returns
# it; CIM as a fallback) and environment variables. Parsed on the controller.
HOSTINFO_SMBIOS = r"""
try {
    $imdsRaw = (Get-ItemProperty -LiteralPath '@KEY@' -Name SMBiosData -ErrorAction Stop).SMBiosData
    $imdsInfo.smbios = [Convert]::ToBase64String([byte[]]$imdsRaw)
} catch {
    $imdsInfo.smbios_error = [string]$_.Exception.Message
    try {
        $imdsEnclosure = Get-CimInstance -ClassName Win32_SystemEnclosure -ErrorAction Stop | Select-Object -First 1
        $imdsSystem = Get-CimInstance -ClassName Win32_ComputerSystem -ErrorAction Stop | Select-Object -First 1
        $imdsInfo.cim = [ordered]@{ asset_tag = [string]$imdsEnclosure.SMBIOSAssetTag; vendor = [string]$imdsSystem.Manufacturer }
    } catch {
        $imdsInfo.cim_error = [string]$_.Exception.Message
    }
}
""".replace("@KEY@", SMBIOS_REGISTRY_KEY)

HOSTINFO_ENV = r"""
foreach ($imdsName in @(@NAMES@)) { $imdsInfo.env[$imdsName] = [Environment]::GetEnvironmentVariable($imdsName) }
"""

HOSTINFO_OUT = r"""
$imdsJson = ConvertTo-Json -InputObject $imdsInfo -Compress -Depth 4
'@MARKER@' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($imdsJson))
""".replace("@MARKER@", HOSTINFO_MARKER)


class RemoteCommandError(AnsibleError):
    """A command on the Windows target did not produce the expected output (not an IMDS answer).

    ``kind`` is ``command`` (the script failed: PowerShell error, constrained language mode...)
    or ``timeout`` (the connection did not return).
    """

    def __init__(self, message, kind="command"):
        super(RemoteCommandError, self).__init__(message)
        self.kind = kind


WINDOWS_SHELL_FAMILIES = ("powershell", "cmd")


def is_windows(action):
    """True when the action's connection talks to a Windows host.

    The shell family is ``powershell`` (psrp, ssh with the PowerShell shell, winrm in older
    ansible-core releases) or ``cmd`` (winrm in ansible-core 2.21, ssh with the cmd shell);
    both run the encoded PowerShell command lines of plugin_utils._commands.
    """
    shell = getattr(getattr(action, "_connection", None), "_shell", None)
    return getattr(shell, "SHELL_FAMILY", "") in WINDOWS_SHELL_FAMILIES


def command_timeout(timeout):
    """Seconds the command wrapper allows a request command with a per-step ``timeout``."""
    return int(math.ceil(3 * float(timeout))) + COMMAND_SLACK


def request_script(method, url, headers, body, timeout):
    """The PowerShell script that makes one HTTP request (see the module docstring)."""
    if not re.match(r"^[A-Z]+$", method or ""):
        raise ValueError("invalid HTTP method %r" % (method,))
    lines = [
        "$ErrorActionPreference = 'Stop'",
        "$imdsUrl = %s" % quote(url),
        "$imdsMethod = %s" % quote(method),
        "$imdsTimeoutMs = %d" % max(1, int(round(float(timeout) * 1000))),
    ]
    if body is None:
        lines.append("$imdsBody = $null")
    else:
        lines.append("$imdsBody = [Convert]::FromBase64String(%s)" % quote(base64.b64encode(body).decode("ascii")))
    lines.append("$imdsHeaders = [ordered]@{}")
    for name in sorted(headers or {}):
        value = str(headers[name])
        if not _HEADER_NAME_RE.match(name) or _CONTROL_RE.search(value):
            raise ValueError("invalid HTTP header %r" % (name,))
        lines.append("$imdsHeaders[%s] = %s" % (quote(name), quote(value)))
    return "\n".join(lines) + "\n" + REQUEST_CODE


def hostinfo_script(smbios=True, env_names=()):
    """The PowerShell script that reads the SMBIOS table and/or environment variables."""
    parts = ["$ErrorActionPreference = 'Stop'",
             "$imdsInfo = [ordered]@{ smbios = $null; env = [ordered]@{} }"]
    if smbios:
        parts.append(HOSTINFO_SMBIOS)
    if env_names:
        parts.append(HOSTINFO_ENV.replace("@NAMES@", ", ".join(quote(name) for name in env_names)))
    parts.append(HOSTINFO_OUT)
    return "\n".join(parts)


def _marked_payload(stdout, marker):
    """The JSON object of the result line after ``marker``, or None (no such line, or not a JSON object)."""
    try:
        data = decode_result(stdout, marker)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _chain_message(chain):
    """The most specific message of a .NET exception chain (innermost first)."""
    for item in reversed(chain):
        message = " ".join(str(item.get("message") or "").split())
        if message:
            return message
    return "no details"


def transport_error(error, timeout):
    """Map the ``error`` object of a request command to the client's TransportError class."""
    phase = error.get("phase")
    chain = [item for item in error.get("chain") or [] if isinstance(item, dict)]
    statuses = [str(item.get("status")) for item in chain if item.get("status")]
    sockets = [str(item.get("socket")) for item in chain if item.get("socket")]
    message = _chain_message(chain)
    if phase == "connect":
        if error.get("timeout") or "TimedOut" in sockets:
            return ConnectTimeout("connection timed out after %s s" % timeout)
        return ConnectError(message)
    if phase not in ("request", "read"):
        return None
    if "Timeout" in statuses or "TimedOut" in sockets or "timed out" in message.lower():
        return ReadTimeout("no answer within %s s" % timeout if phase == "request"
                           else "the answer did not complete within %s s" % timeout)
    if phase == "request" and ("ConnectFailure" in statuses or "NameResolutionFailure" in statuses):
        return ConnectError(message)
    if phase == "read":
        return ConnectionReset("connection lost while reading the answer (%s)" % message)
    return ConnectionReset(message)


class PowerShellTransport(object):
    """ImdsClient transport: each request is one PowerShell command over the task's connection.

    ``commands`` counts the request commands run; ``log`` holds ``(method, url)`` of each
    (no headers, no bodies: answers may hold secrets).
    """

    def __init__(self, runner):
        self.runner = runner
        self.commands = 0
        self.log = []

    def request(self, method, url, headers, body, timeout):
        script = request_script(method, url, headers, body, timeout)
        self.commands += 1
        self.log.append((method, url))
        shown = url.split("?", 1)[0]  # messages never show the query, as on Linux
        try:
            res = self.runner.powershell(script, display="imds.azure: %s %s" % (method, shown), check_timeout=False,
                                         timeout=command_timeout(timeout))
        except CommandTimeout as exc:
            raise RemoteCommandError("the IMDS request %s %s did not return from the connection: %s" % (method, shown, exc),
                                     kind="timeout")
        data = _marked_payload(res.stdout, RESPONSE_MARKER)
        if data is None:
            if res.timed_out:
                raise ReadTimeout("the request command was stopped after %s s on the target" % command_timeout(timeout))
            raise RemoteCommandError("the PowerShell command for the IMDS request %s %s failed on the target (%s)"
                                     % (method, shown, res.failure()))
        if isinstance(data.get("error"), dict):
            error = transport_error(data["error"], timeout)
            if error is None:
                raise RemoteCommandError("the PowerShell command for the IMDS request %s %s failed: %s"
                                         % (method, shown, _chain_message(data["error"].get("chain") or [])))
            raise error
        try:
            status = int(data["status"])
            raw = base64.b64decode((data.get("body") or "").encode("ascii"), validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise RemoteCommandError("the PowerShell command for the IMDS request %s %s printed an unreadable answer"
                                     % (method, shown))
        headers_out = data.get("headers") if isinstance(data.get("headers"), dict) else {}
        return Response(status, headers_out, raw)


# --------------------------------------------------------------------------- SMBIOS

def parse_smbios(data):
    """(chassis asset tag, system manufacturer) from a raw SMBIOS table; None where absent.

    ``data`` is what Windows keeps in the registry (and GetSystemFirmwareTable('RSMB')
    returns): an 8-byte header (calling method, major, minor, DMI revision, table length)
    followed by the structures. Type 1 byte 0x04 is the system manufacturer, type 3 byte
    0x08 the chassis asset tag; both are string numbers into the strings after the
    formatted area. Raises ValueError when the data is not an SMBIOS table.
    """
    if len(data) >= 8 and struct.unpack_from("<I", data, 4)[0] == len(data) - 8:
        table = data[8:]
    else:
        table = data
    asset_tag = vendor = None
    seen_enclosure = seen_system = False
    offset = 0
    while offset + 4 <= len(table):
        kind, length = table[offset], table[offset + 1]
        if length < 4 or offset + length > len(table):
            raise ValueError("SMBIOS structure at offset %d has an invalid length %d" % (offset, length))
        formatted = table[offset:offset + length]
        end = table.find(b"\x00\x00", offset + length)
        if end < 0:
            raise ValueError("SMBIOS structure at offset %d has no end of its string set" % offset)
        strings = table[offset + length:end].split(b"\x00") if end > offset + length else []

        def string(index, strings=strings):
            if index == 0 or index > len(strings):
                return ""
            return strings[index - 1].decode("ascii", "replace").strip()

        if kind == 1 and not seen_system and length > 0x04:
            vendor = string(formatted[0x04])
            seen_system = True
        elif kind == 3 and not seen_enclosure and length > 0x08:
            asset_tag = string(formatted[0x08])
            seen_enclosure = True
        elif kind == 127:
            break
        offset = end + 2
    if not seen_system and not seen_enclosure:
        raise ValueError("no system or enclosure structure in the SMBIOS table")
    return asset_tag, vendor


def detection_from_hostinfo(info):
    """A Detection from the host information command's answer."""
    encoded = info.get("smbios")
    if encoded:
        try:
            asset_tag, vendor = parse_smbios(base64.b64decode(encoded.encode("ascii"), validate=True))
        except (ValueError, binascii.Error, struct.error) as exc:
            return Detection(UNKNOWN, "the SMBIOS table of the host is not readable (%s)" % exc)
        return classify(asset_tag, vendor, source="SMBIOS")
    cim = info.get("cim")
    if isinstance(cim, dict):
        return classify(cim.get("asset_tag"), cim.get("vendor"), source="SMBIOS (CIM)")
    return Detection(UNKNOWN, "no SMBIOS data on this host (%s)" % (info.get("cim_error") or info.get("smbios_error") or "none"))


# --------------------------------------------------------------------------- per task

class WindowsImds(object):
    """The PowerShell transport, client factory, detector and target environment of one task.

    The host information (SMBIOS table for ``detect``, environment variables for
    ``env_names``) is read with ONE command, the first time either is needed.
    """

    def __init__(self, action, detect=False, env_names=(), runner=None):
        self.runner = runner or CommandRunner(action, timeout=HOSTINFO_TIMEOUT)
        self.transport = PowerShellTransport(self.runner)
        self.detect = detect
        self.env_names = tuple(env_names)
        self._info = None

    @property
    def commands(self):
        """Every command run so far (host information and requests)."""
        return len(self.runner.history)

    def host_info(self):
        if self._info is None:
            if not self.detect and not self.env_names:
                self._info = {"env": {}}
                return self._info
            try:
                res = self.runner.powershell(hostinfo_script(self.detect, self.env_names),
                                             display="imds.azure: read SMBIOS table and environment", check_timeout=False)
            except CommandTimeout as exc:
                raise RemoteCommandError("reading the host information did not return from the connection: %s" % exc,
                                         kind="timeout")
            data = _marked_payload(res.stdout, HOSTINFO_MARKER)
            if data is None and res.timed_out:
                raise RemoteCommandError("reading the SMBIOS table and environment of the Windows host was stopped after %s s"
                                         % self.runner.timeout, kind="timeout")
            if data is None:
                raise RemoteCommandError("reading the SMBIOS table and environment of the Windows host failed (%s)"
                                         % res.failure())
            if not isinstance(data.get("env"), dict):
                data["env"] = {}
            self._info = data
        return self._info

    def env(self, name):
        """An environment variable of the target (None when unset); ``name`` must be in env_names."""
        value = self.host_info()["env"].get(name)
        return value if isinstance(value, str) and value != "" else None

    def detector(self):
        """Detection from the target's SMBIOS table (same rules as DMI on Linux)."""
        if not self.detect:
            raise RuntimeError("WindowsImds was created without detect=True")
        return detection_from_hostinfo(self.host_info())

    def client_factory(self, **kwargs):
        """An ImdsClient whose requests run on the target; ``transport`` is always this one."""
        kwargs["transport"] = self.transport
        return ImdsClient(**kwargs)


# --------------------------------------------------------------------------- module on the controller

class _ModuleExit(Exception):
    def __init__(self, result):
        super(_ModuleExit, self).__init__("module exit")
        self.result = result


class ControllerModule(object):
    """The part of AnsibleModule a module_utils entry point uses, for running it on the controller."""

    def __init__(self, params, check_mode=False, no_log=False):
        self.params = params
        self.check_mode = check_mode
        self.no_log = no_log
        self.warnings = []
        self.deprecations = []

    def warn(self, warning):
        self.warnings.append(str(warning))

    def deprecate(self, msg, version=None, date=None, collection_name=None):
        self.deprecations.append(dict(msg=msg, version=version, date=date, collection_name=collection_name))

    def debug(self, msg):  # pylint: disable=unused-argument
        return None

    def _result(self, kwargs):
        result = dict(kwargs)
        if self.warnings:
            result["warnings"] = list(result.get("warnings") or []) + self.warnings
        if self.deprecations:
            result["deprecations"] = list(result.get("deprecations") or []) + self.deprecations
        return result

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise _ModuleExit(self._result(kwargs))

    def fail_json(self, msg, **kwargs):
        kwargs["failed"] = True
        kwargs["msg"] = msg
        raise _ModuleExit(self._result(kwargs))


def _env_fallbacks(spec):
    """{option: [variable names]} for the options with an environment fallback."""
    names = {}
    for option, settings in spec.items():
        fallback = settings.get("fallback")
        if fallback and getattr(fallback[0], "__name__", "") == "env_fallback":
            names[option] = [str(name) for name in fallback[1]]
    return names


def run_module_on_controller(action, entry, argument_spec, args, detect=False, windows=None):
    """Run a module_utils entry point on the controller against a Windows target; return the result.

    ``args`` are validated with ``argument_spec`` like AnsibleModule does, except that
    environment fallbacks (``env_fallback``) read the TARGET's environment, in the same
    command as the SMBIOS table. ``entry(module, client_factory=..., detector=...)`` must end
    with ``module.exit_json``/``fail_json``; ImdsError and command failures raised out of it
    fail the task with ``imds_error`` set to their kind. ``windows`` (a WindowsImds) may be
    passed in to inspect the commands afterwards (tests, benchmarks).
    """
    fallbacks = _env_fallbacks(argument_spec)
    missing = dict((option, names) for option, names in fallbacks.items() if args.get(option) is None)
    env_names = sorted(set(name for names in missing.values() for name in names))
    if windows is None:
        windows = WindowsImds(action, detect=detect, env_names=env_names)
    spec = {}
    for option, settings in argument_spec.items():
        spec[option] = dict((key, value) for key, value in settings.items() if key != "fallback")
    params = dict(args)
    try:
        for option, names in missing.items():
            for name in names:
                value = windows.env(name)
                if value is not None:
                    params[option] = value
                    break
        validated = ArgumentSpecValidator(spec).validate(params)
        if validated.error_messages:
            return {"failed": True, "msg": "; ".join(validated.error_messages)}
        module = ControllerModule(validated.validated_parameters, check_mode=bool(action._task.check_mode),
                                  no_log=bool(action._play_context.no_log))
        kwargs = {"client_factory": windows.client_factory}
        if detect:
            kwargs["detector"] = windows.detector
    except RemoteCommandError as exc:
        return {"failed": True, "msg": str(exc), "imds_error": exc.kind}
    try:
        entry(module, **kwargs)
    except _ModuleExit as done:
        return done.result
    except (ImdsError, RemoteCommandError) as exc:
        return module._result({"failed": True, "msg": str(exc), "imds_error": exc.kind})  # pylint: disable=protected-access
    return module._result({"failed": True, "msg": "the entry point %s returned without a result"  # pylint: disable=protected-access
                           % getattr(entry, "__name__", entry)})
