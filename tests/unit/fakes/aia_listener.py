# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A loopback HTTP listener that plays the server behind a "CA Issuers" URL and records every request it gets.

It is a real HTTP/1.x server (``http.server`` of the standard library), so the verifier's real client talks to it;
each path answers as the test says: a certificate, a redirect, an error page, a trickle, an oversized body.
"""

from __future__ import annotations

import http.server
import threading
import time


class Listener(object):
    """``Listener({path: handler})``; ``handler(request)`` writes the answer. ``requests`` lists what came in."""

    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        self.requests = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  pylint: disable=invalid-name
                listener.requests.append({"path": self.path, "headers": dict(self.headers)})
                route = listener.routes.get(self.path.split("?")[0]) or listener.routes.get("*") or not_found
                route(self)

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def not_found(request, reason="Not Found", body=b"no such file"):
    answer(request, 404, body, reason=reason)


def answer(request, status, body, content_type="application/pkix-cert", reason=None, headers=()):
    request.send_response(status, reason)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(body)))
    for name, value in headers:
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(body)


def serve(body, status=200, reason=None, headers=()):
    """A route that answers ``body``."""
    return lambda request: answer(request, status, body, reason=reason, headers=headers)


def redirect(location, status=302):
    return lambda request: answer(request, status, b"", content_type="text/plain", headers=[("Location", location)])


def trickle(interval=0.05, give_up_after=3.0):
    """A route that sends its header, then one byte every ``interval`` seconds, closing after ``give_up_after`` seconds."""
    def route(request):
        request.send_response(200)
        request.send_header("Content-Type", "application/pkix-cert")
        request.end_headers()
        request.wfile.flush()
        stop = time.monotonic() + give_up_after
        try:
            while time.monotonic() < stop:
                request.wfile.write(b"0")
                request.wfile.flush()
                time.sleep(interval)
        except OSError:
            pass  # the client gave up, as it should
    return route
