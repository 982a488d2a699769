# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's HTTP/1.1 server side: reading requests off a connection, writing answers, keep-alive,
and the asyncio loop thread the servers run on. What an answer says is routing.py's business.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

import asyncio
import email.utils
import json
import threading
import time

from . import hostile as _hostile

REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 410: "Gone", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
# Real IMDS names itself IMDS/<a.b.c.d> (seen in client logs, e.g. IMDS/150.870.65.476). MSAL .NET and
# JS match ^IMDS/\d+\.\d+\.\d+\.(\d+)$ and take build 1854 or later as IMDSv2 (credential endpoints),
# which this emulator does not serve: so a build below that, the one of MSAL's own example.
SERVER = "IMDS/150.870.65.1556"
MAX_HEADERS = 200


def dumps(data):
    # UTF-8 like IMDS. A lone surrogate (a hostile profile) cannot be UTF-8: it goes out as the JSON
    # escape \uDXXX, which is what backslashreplace writes for it.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "backslashreplace")


class Headers(dict):
    """A dict of request headers (names as received) with case-insensitive lookups."""

    def _key(self, name):
        lowered = name.lower()
        for key in dict.keys(self):
            if key.lower() == lowered:
                return key
        return None

    def __getitem__(self, name):
        key = self._key(name)
        if key is None:
            raise KeyError(name)
        return dict.__getitem__(self, key)

    def __contains__(self, name):
        return self._key(name) is not None

    def get(self, name, default=None):
        key = self._key(name)
        return default if key is None else dict.__getitem__(self, key)

    def add(self, name, value):
        """Add a received header line; a repeated name joins its values with ``, `` (RFC 9110 5.3)."""
        existing = self._key(name) if self else None
        if existing is not None:
            dict.__setitem__(self, existing, dict.__getitem__(self, existing) + ", " + value)
        else:
            dict.__setitem__(self, name, value)


class Response:
    """A response to write; ``action`` is None, "reset", "stall" (``stall`` seconds) or a hostile delivery."""

    __slots__ = ("status", "body", "content_type", "extra", "action", "stall")

    def __init__(self, status=200, body=b"", content_type=JSON_TYPE, extra=None, action=None, stall=0.0):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.extra = extra or []
        self.action = action
        self.stall = stall


def json_response(status, data, extra=None):
    return Response(status, dumps(data), JSON_TYPE, extra)


def error(status, message, extra=None):
    """IMDS's error shape: ``{"error": message}``."""
    return json_response(status, {"error": message}, extra)


class LoopThread:
    """An asyncio event loop running in a daemon thread (shared by the members of a fleet)."""

    def __init__(self, name="imds-emulator"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()


_date_cache = [0, ""]


def _date():
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, email.utils.formatdate(now, usegmt=True)]
    return _date_cache[1]


def encode(response, keep_alive, version):
    """Status line, headers and body of ``response`` as bytes (HTTP/1.0 clients get an HTTP/1.0 status line)."""
    head = ["%s %d %s" % ("HTTP/1.1" if version == "HTTP/1.1" else "HTTP/1.0", response.status, REASONS.get(response.status, "Unknown"))]
    if response.status != 304:  # a 304 has no body, and describes none
        head += ["Content-Type: " + response.content_type, "Content-Length: %d" % len(response.body)]
    head += ["Date: " + _date(), "Server: " + SERVER]
    head.extend("%s: %s" % item for item in response.extra)
    if not keep_alive:
        head.append("Connection: close")
    elif version != "HTTP/1.1":
        head.append("Connection: keep-alive")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body


async def _read_chunked(reader):
    chunks = []
    while True:
        size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readline()


async def _read_headers(reader):
    headers = Headers()
    for _count in range(MAX_HEADERS + 1):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _sep, value = line.decode("latin-1").partition(":")
        headers.add(name.strip(), value.strip())
    return headers


async def serve_connection(reader, writer, handle):
    """Serve one connection until it closes: each request goes to ``await handle(method, target, headers,
    body, client)``, which returns the Response to send (``action`` "reset" and "stall" send none)."""
    peer = writer.get_extra_info("peername")
    client = "%s:%s" % peer[:2] if peer else ""
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            if line in (b"\r\n", b"\n"):
                continue
            parts = line.decode("latin-1").rstrip("\r\n").split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                writer.write(encode(error(400, "Bad request"), False, "HTTP/1.1"))
                break
            method, target, version = parts
            headers = await _read_headers(reader)
            length = headers.get("Content-Length")
            body = b""
            if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
                body = await _read_chunked(reader)
            elif length:
                try:
                    body = await reader.readexactly(int(length))
                except ValueError:
                    writer.write(encode(error(400, "Bad request"), False, version))
                    break
            connection = (headers.get("Connection") or "").lower()
            keep_alive = (version == "HTTP/1.1" and connection != "close") or connection == "keep-alive"
            response = await handle(method, target, headers, body, client)
            if response.action == "reset":
                writer.transport.abort()
                return
            if response.action == "stall":
                await asyncio.sleep(response.stall)
                writer.transport.abort()
                return
            if response.action in _hostile.DELIVERIES:
                await _hostile.deliver(writer, response, encode(response, False, version), REASONS.get(response.status, "Unknown"))
                return
            data = encode(response, keep_alive, version)
            writer.write(data[:len(data) - len(response.body)] if method == "HEAD" else data)
            await writer.drain()
            if not keep_alive:
                break
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
        pass
    except asyncio.CancelledError:
        writer.transport.abort()
        raise
    finally:
        if not writer.transport.is_closing():
            writer.close()
