# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Windows transport of the IMDS client: one run of the win_metadata_request module per HTTP request.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

``ModuleTransport(modules)`` is an ImdsClient transport (``request(method, url, headers, body,
timeout) -> Response``) for a Windows target: each request is one run of the PowerShell module
``imds.azure.win_metadata_request`` (plugins/modules/win_metadata_request.ps1) through
ansible-core's module execution (``_windows.modules``). The module only carries the exchange,
with the guarantees UrlTransport gives on Linux: no proxy, no redirects, one deadline of
``timeout`` over the whole exchange, at most the limit of the URL's IMDS category plus one
byte of a body (``body_limit``; a longer answer comes back ``truncated`` without its body,
which the client refuses as too large). Request rules, version negotiation, retries,
validation and fact building are the same Python code the Linux module runs.

The URL, method, headers and body (base64) travel as module arguments, data in ansible-core's
JSON manifest: nothing in them becomes script text. The answer comes back as the module's
result (``status``, ``headers``, ``body`` in base64, ``truncated``), or ``transport_error``
(the phase and the .NET exception chain), which ``transport_error`` maps to the client's
TransportError classes. Module runs are ``no_log``: answers may hold tokens and user data.
"""

from __future__ import annotations

import base64
import binascii
import math

from urllib.parse import urlsplit

from ansible_collections.imds.azure.plugins.module_utils._transport import (
    MAX_RESPONSE_BYTES,
    RESPONSE_LIMITS,
    ConnectError,
    ConnectTimeout,
    ConnectionReset,
    ReadTimeout,
    Response,
)
from ansible_collections.imds.azure.plugins.plugin_utils._windows.modules import REQUEST_MODULE, RemoteModuleError, failure_text


def request_args(method, url, headers, body, timeout):
    """The module arguments of one request (see the module's documentation)."""
    args = {"url": url, "method": method, "headers": dict((name, str(value)) for name, value in (headers or {}).items()),
            "timeout_ms": max(1, int(math.ceil(float(timeout) * 1000))), "max_bytes": body_limit(url)}
    if body is not None:
        args["body"] = base64.b64encode(body).decode("ascii")
    return args


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
    """Map the module's ``transport_error`` to the client's TransportError class (None: not a known phase)."""
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
    if error.get("timeout") is True or "Timeout" in statuses or "TimedOut" in sockets or "timed out" in message.lower():
        return ReadTimeout("no answer within %s s" % timeout if phase == "request"
                           else "the answer did not complete within %s s" % timeout)
    if phase == "request" and ("ConnectFailure" in statuses or "NameResolutionFailure" in statuses):
        return ConnectError(message)
    if phase == "read":
        return ConnectionReset("connection lost while reading the answer (%s)" % message)
    return ConnectionReset(message)


class ModuleTransport(object):
    """ImdsClient transport: each request is one run of win_metadata_request on the Windows target."""

    def __init__(self, modules):
        self.modules = modules

    def request(self, method, url, headers, body, timeout):
        args = request_args(method, url, headers, body, timeout)
        shown = url.split("?", 1)[0]  # messages never show the query, as on Linux
        try:
            data = self.modules.run(REQUEST_MODULE, args, limit=math.ceil(float(timeout)), secret=True)
        except RemoteModuleError as exc:
            raise RemoteModuleError("the IMDS request %s %s: %s" % (method, shown, exc), kind=exc.kind)
        if isinstance(data.get("transport_error"), dict):
            error = transport_error(data["transport_error"], timeout)
            if error is None:
                raise RemoteModuleError("the IMDS request %s %s failed on the target: %s" % (method, shown, failure_text(data)))
            raise error
        if data.get("failed"):
            raise RemoteModuleError("the IMDS request %s %s could not run on the target (%s)" % (method, shown, failure_text(data)))
        try:
            status = int(data["status"])
            raw = base64.b64decode((data.get("body") or "").encode("ascii"), validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise RemoteModuleError("the IMDS request %s %s: %s gave an unreadable answer" % (method, shown, REQUEST_MODULE))
        headers_out = data.get("headers") if isinstance(data.get("headers"), dict) else {}
        return Response(status, headers_out, raw, truncated=data.get("truncated") is True)
