# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tiny stdlib HTTP client for the emulator tests (independent of the collection's client)."""

import http.client
import json
import urllib.parse


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Reply(%s, %r)" % (self.status, self.body[:200])


def call(url, path, method="GET", headers=None, body=None, metadata=True, timeout=10):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        hdrs = {"Metadata": "true"} if metadata else {}
        hdrs.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def walk_leaves(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_leaves(value, path + "/" + key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_leaves(value, "%s/%d" % (path, index))
    else:
        yield path, node
