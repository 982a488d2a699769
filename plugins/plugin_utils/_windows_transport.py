# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PowerShell transport of the IMDS client: one PowerShell command per HTTP request.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

``PowerShellTransport(runner)`` is an ImdsClient transport (``request(method, url, headers,
body, timeout) -> Response``) for a Windows target: each request is one short PowerShell
command over the task's connection (``_commands``). The command only makes the request and
prints the status, headers and raw body; request rules, version negotiation, retries,
validation and fact building are the same Python code the Linux module runs.

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
* reads at most the limit of the URL's IMDS category plus one byte of the body (``body_limit``:
  the limits the client enforces), so memory stays bounded on the target and the controller; a
  longer answer is reported as ``truncated`` without its body, which the client refuses as too
  large;
* prints one line: ``RESPONSE_MARKER`` + base64(JSON) with ``status``, ``headers`` and the
  base64 ``body`` (or ``truncated``), or ``error`` (phase and the .NET exception chain), which
  the controller maps to the client's TransportError classes.

The script follows the layout of ``_powershell``: the URL, method, bounds, headers and body are
its inputs (single-quoted literals, the body as base64), so nothing from them can change the
script.
"""

from __future__ import annotations

import base64
import binascii
import math
import re

from urllib.parse import urlsplit

from ansible_collections.imds.azure.plugins.module_utils._client import (
    MAX_RESPONSE_BYTES,
    RESPONSE_LIMITS,
    ConnectError,
    ConnectionReset,
    ConnectTimeout,
    ReadTimeout,
    Response,
)
from ansible_collections.imds.azure.plugins.plugin_utils._commands import CommandTimeout, RemoteCommandError
from ansible_collections.imds.azure.plugins.plugin_utils._powershell import result_code, result_object, script

RESPONSE_MARKER = "IMDS-AZURE-RESPONSE:"
COMMAND_SLACK = 5          # seconds on top of 3 * timeout before the wrapper stops a request command

_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9-]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# The code of the request command (inputs: $imdsUrl, $imdsMethod, $imdsTimeoutMs, $imdsMaxBytes,
# $imdsBody (byte[] or $null) and $imdsHeaders; see _powershell for the layout).
REQUEST_CODE = r"""
$ErrorActionPreference = 'Stop'
function Out-ImdsResult($data) {
    @RESULT@
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
    $imdsTruncated = $imdsResponse.ContentLength -gt $imdsMaxBytes
    $imdsStream = $imdsResponse.GetResponseStream()
    $imdsBuffer = New-Object byte[] 65536
    while (-not $imdsTruncated) {
        $imdsWanted = [Math]::Min($imdsBuffer.Length, $imdsMaxBytes + 1 - $imdsMemory.Length)
        $imdsRead = $imdsStream.ReadAsync($imdsBuffer, 0, $imdsWanted)
        if (-not $imdsRead.Wait($imdsTimeoutMs)) { throw [TimeoutException]::new('the answer timed out: no data for ' + $imdsTimeoutMs + ' ms') }
        if ($imdsRead.Result -le 0) { break }
        $imdsMemory.Write($imdsBuffer, 0, $imdsRead.Result)
        $imdsTruncated = $imdsMemory.Length -gt $imdsMaxBytes
    }
} catch {
    Out-ImdsResult @{ error = [ordered]@{ phase = 'read'; timeout = $false; chain = (Get-ImdsChain $_.Exception) } }
    return
} finally {
    $imdsResponse.Close()
}
if ($imdsTruncated) {
    Out-ImdsResult ([ordered]@{ status = $imdsStatus; headers = $imdsOut; truncated = $true; body = '' })
    return
}
Out-ImdsResult ([ordered]@{ status = $imdsStatus; headers = $imdsOut; body = [Convert]::ToBase64String($imdsMemory.ToArray()) })
""".replace("@RESULT@", result_code(RESPONSE_MARKER, "data"))


def command_timeout(timeout):
    """Seconds the command wrapper allows a request command with a per-step ``timeout``."""
    return int(math.ceil(3 * float(timeout))) + COMMAND_SLACK


def request_script(method, url, headers, body, timeout, max_bytes=MAX_RESPONSE_BYTES):
    """The PowerShell script that makes one HTTP request (see the module docstring).

    At most ``max_bytes`` of the body are read on the target; a longer answer is reported as
    ``truncated`` without its body.
    """
    if not re.match(r"^[A-Z]+$", method or ""):
        raise ValueError("invalid HTTP method %r" % (method,))
    for name, value in (headers or {}).items():
        if not _HEADER_NAME_RE.match(name) or _CONTROL_RE.search(str(value)):
            raise ValueError("invalid HTTP header %r" % (name,))
    return script("request", REQUEST_CODE, imdsUrl=url, imdsMethod=method, imdsTimeoutMs=max(1, int(round(float(timeout) * 1000))),
                  imdsMaxBytes=int(max_bytes), imdsBody=body,
                  imdsHeaders=dict((name, str(headers[name])) for name in sorted(headers or {})))


def body_limit(url):
    """The most an answer to ``url`` may hold: the limit of its IMDS category (the client refuses more)."""
    parts = urlsplit(url).path.split("/")
    category = parts[2] if len(parts) > 2 and parts[1] == "metadata" else ""
    return RESPONSE_LIMITS.get(category, MAX_RESPONSE_BYTES)


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
        command = request_script(method, url, headers, body, timeout, max_bytes=body_limit(url))
        self.commands += 1
        self.log.append((method, url))
        shown = url.split("?", 1)[0]  # messages never show the query, as on Linux
        try:
            res = self.runner.powershell(command, display="imds.azure: %s %s" % (method, shown), check_timeout=False,
                                         timeout=command_timeout(timeout))
        except CommandTimeout as exc:
            raise RemoteCommandError("the IMDS request %s %s did not return from the connection: %s" % (method, shown, exc),
                                     kind="timeout")
        data = result_object(res.stdout, RESPONSE_MARKER)
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
        return Response(status, headers_out, raw, truncated=data.get("truncated") is True)
