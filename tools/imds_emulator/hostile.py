# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile server modes: answers that trickle in, never end, are huge, deeply nested or bombs, are cut
short of their length, have an ambiguous length or no status line, or ask for retries without a pause.

They are fault kinds (see faults.py and docs/docsite/rst/emulator.rst "Hostile servers") that take
the answer the emulator would give and change what is sent or how it is sent. Each one stops as
soon as the client goes away, and every one is bounded in time or size on the emulator's side.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

import asyncio
import base64
import gzip
import io
import json

# fault kind -> how its value is read (faults.py)
KINDS = {
    "trickle-body": "seconds",      # seconds between two bytes of the body (headers at once)
    "trickle-headers": "seconds",   # seconds between two bytes of the status line and headers
    "endless": "seconds",           # a chunked body that has not ended after this many seconds
    "oversize": "mebibytes",        # the real JSON answer padded to this many MiB
    "nested": "count",              # the real JSON answer with an array nested this deep
    "gzip-bomb": "mebibytes",       # userData: base64 of gzip of this many MiB of zeros
    "short-body": "count",          # the body's Content-Length, then this many bytes fewer, then the connection closed
    "double-length": "count",       # two Content-Length headers: this many bytes short, then the true one
    "chunked-length": "count",      # a chunked body, and a Content-Length this many bytes short
    "no-status-line": "ratio",      # HTTP/0.9: the body alone, without a status line or headers
    "retry-after": "text",          # 429 in the endpoint's error shape, with this Retry-After header (0, -1, NaN...)
}
# How the answer is delivered (Response.action); the others only change the answer.
DELIVERIES = ("trickle-body", "trickle-headers", "endless", "oversize", "short-body", "double-length", "chunked-length",
              "no-status-line")
# The deliveries that end with an orderly close (FIN): the client reads everything that was sent, then the end.
_ORDERLY = ("short-body", "double-length", "chunked-length", "no-status-line")

CHUNK = 64 * 1024
ENDLESS_PAUSE = 0.01    # between two 64 KiB chunks of an endless body (about 6 MiB/s)
_BOMBS = {}


def gzip_bomb(mebibytes):
    """base64 text of a gzip stream that expands to ``mebibytes`` MiB of zeros (cached per size)."""
    size = int(mebibytes * 1024 * 1024)
    if size not in _BOMBS:
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as stream:
            zeros = b"\0" * CHUNK
            for start in range(0, size, CHUNK):
                stream.write(zeros[:min(CHUNK, size - start)])
        _BOMBS[size] = base64.b64encode(out.getvalue()).decode("ascii")
    return _BOMBS[size]


def prepare(faults):
    """Build what the faults send before the first request asks for it (a bomb takes a moment)."""
    for fault in faults:
        if fault.kind == "gzip-bomb":
            gzip_bomb(fault.value)


def _with_user_data(body, path, bomb):
    """The instance answer ``body`` for ``path`` with its userData replaced by ``bomb``."""
    if path.rstrip("/") == "/metadata/instance/compute/userData":
        return bomb.encode("ascii")
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        return body
    holder = data.get("compute") if path.rstrip("/") == "/metadata/instance" and isinstance(data, dict) else data
    if not isinstance(holder, dict) or "userData" not in holder:
        return body
    holder["userData"] = bomb
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _nest(body, depth):
    """A JSON object ``body`` with ``"nested": [[[...]]]`` (``depth`` arrays) as its first key."""
    if not body.startswith(b"{"):
        return body
    rest = body[1:] if body == b"{}" or body[1:2] == b"}" else b"," + body[1:]
    return b'{"nested":' + b"[" * depth + b"]" * depth + rest


def _throttled(path, retry_after):
    """IMDS's 429 (the identity endpoint's error shape under /metadata/identity) with ``Retry-After: retry_after``."""
    if path.startswith("/metadata/identity"):
        data = {"error": "too_many_requests", "error_description": "Too many requests"}
    else:
        data = {"error": "Too many requests"}
    return json.dumps(data, separators=(",", ":")).encode("utf-8"), [("Retry-After", retry_after)]


def apply(response, faults, path, response_class):
    """The answer to send instead of ``response`` when hostile ``faults`` fired (first delivery wins)."""
    status, body, extra = response.status, response.body, list(response.extra)
    action, value = None, 0.0
    for fault in faults:
        if fault.kind == "gzip-bomb" and status == 200 and path.startswith("/metadata/instance"):
            body = _with_user_data(body, path, gzip_bomb(fault.value))
        elif fault.kind == "nested":
            body = _nest(body, int(fault.value))
        elif fault.kind == "retry-after":
            status, (body, extra) = 429, _throttled(path, fault.value)
        elif action is None and fault.kind in DELIVERIES:
            action, value = fault.kind, fault.value
    out = response_class(status, body, response.content_type, extra)
    out.action = action
    out.stall = value
    return out


def _head(status, reason, content_type, framing):
    lines = ["HTTP/1.1 %d %s" % (status, reason), "Content-Type: " + content_type, framing, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(writer, data):
    """Write and wait; False once the client has gone."""
    if writer.transport.is_closing():
        return False
    writer.write(data)
    try:
        await writer.drain()
    except (ConnectionError, OSError):
        return False
    return not writer.transport.is_closing()


async def _trickle(writer, data, interval):
    for index in range(len(data)):
        if not await _send(writer, data[index:index + 1]):
            return False
        await asyncio.sleep(interval)
    return True


async def deliver(writer, response, encoded, reason):
    """Send ``response`` the hostile way its ``action`` names; the connection is closed afterwards.

    ``encoded`` is the answer as the emulator would send it (status line, headers, body).
    """
    action, value = response.action, response.stall
    body = response.body
    head = encoded[:len(encoded) - len(body)]
    if action == "short-body":
        await _send(writer, encoded[:len(encoded) - min(int(value), len(body))])
    elif action == "double-length":
        lengths = "Content-Length: %d\r\nContent-Length: %d" % (max(0, len(body) - int(value)), len(body))
        await _send(writer, _head(response.status, reason, response.content_type, lengths) + body)
    elif action == "chunked-length":
        framing = "Transfer-Encoding: chunked\r\nContent-Length: %d" % max(0, len(body) - int(value))
        chunks = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
        await _send(writer, _head(response.status, reason, response.content_type, framing) + chunks)
    elif action == "no-status-line":
        await _send(writer, body)
    if action in _ORDERLY:
        writer.close()
        return
    if action == "trickle-headers":
        if await _trickle(writer, head, value):
            await _send(writer, response.body)
    elif action == "trickle-body":
        if await _send(writer, head):
            await _trickle(writer, response.body, value)
    elif action == "endless":
        await _endless(writer, response, value, reason)
    elif action == "oversize":
        await _oversize(writer, response, value, reason)
    writer.transport.abort()


async def _endless(writer, response, seconds, reason):
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds
    if not await _send(writer, _head(response.status, reason, response.content_type, "Transfer-Encoding: chunked")):
        return
    piece = b'{"padding":"'
    filler = b"a" * CHUNK
    while loop.time() < stop_at:
        if not await _send(writer, b"%x\r\n%s\r\n" % (len(piece), piece)):
            return
        piece = filler
        await asyncio.sleep(ENDLESS_PAUSE)


async def _oversize(writer, response, mebibytes, reason):
    """The real JSON object with a ``padding`` string first, ``mebibytes`` MiB in all (Content-Length set)."""
    body = response.body
    prefix, suffix = b'{"padding":"', b'"' + (b"," + body[1:] if body.startswith(b"{") and body != b"{}" else b"}")
    size = max(int(mebibytes * 1024 * 1024), len(prefix) + len(suffix))
    padding = size - len(prefix) - len(suffix)
    if not await _send(writer, _head(response.status, reason, response.content_type, "Content-Length: %d" % size) + prefix):
        return
    filler = b"x" * CHUNK
    while padding > 0:
        if not await _send(writer, filler[:min(padding, CHUNK)]):
            return
        padding -= min(padding, CHUNK)
    await _send(writer, suffix)
