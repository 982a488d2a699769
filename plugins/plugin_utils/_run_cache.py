# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""What the live lookups of one run share across its worker processes: the run cache
(``RunCache``) and the request pacing (``PacedTransport`` over module_utils/_pacing.py), which make live
lookups cost one request per category per run and keep them under IMDS's rate limits.

Lifetime
--------
ansible-playbook forks one worker process per task and host, and lookups run in those
workers, so a plain module-level dict would only live for one task. The run cache has two
levels:

1. a dict in the process (every lookup of one task, all loop items included);
2. files under ``<ansible local tmp>/imds_azure_lookup/`` (``run_cache_dir``) -- the per-run
   directory ansible-core creates at start-up (``C.DEFAULT_LOCAL_TMP``, ``ansible-local-<pid>...``)
   and deletes when the run ends; the module_utils ANSIballZ cache lives there too. Files
   are 0600 in a 0700 directory. A lock file per key makes the workers wait for the one
   that is fetching, so every category is fetched once per run (single flight).

A fetch that failed (an ImdsError: the whole call, retries included, failed) is kept the same way:
the workers waiting for it, and every later one, get the same error at once. Otherwise each of k
workers would fetch in turn after the one before it failed, and the last would wait k deadlines.
Only the lock of the key being fetched is held while fetching; other keys are not held up.

What the metadata lookup caches: documents *without* ``compute.userData`` (as in the facts; the
``compute/userData`` path is read with its own request and kept in the process only), and the
``/metadata/versions`` answer. Access tokens are never written anywhere (see _token.py).
"""

from __future__ import annotations

import errno
import json
import os
import threading

from ansible_collections.imds.azure.plugins.module_utils import _pacing
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsError, error_from_record, error_record
from ansible_collections.imds.azure.plugins.module_utils._pacing import FileLock, fcntl, key_name, read_json, write_json

RateLimiter = _pacing.RateLimiter  # where the lookups take it from


_RUN_DIRS = {}


def run_cache_dir():
    """``<ansible local tmp of this run>/imds_azure_lookup`` (created 0700), or None."""
    try:
        from ansible import constants as C  # pylint: disable=import-outside-toplevel
        base = C.DEFAULT_LOCAL_TMP
    except Exception:  # pylint: disable=broad-except
        return None
    if not base or fcntl is None:
        return None
    if base in _RUN_DIRS:  # made once per process: every lookup call asks
        return _RUN_DIRS[base]
    path = os.path.join(base, "imds_azure_lookup")
    try:
        os.makedirs(path, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            return None
    _RUN_DIRS[base] = path if os.path.isdir(path) else None
    return _RUN_DIRS[base]


class RunCache(object):
    """Values cached for the run: in the process, and (``persist=True``) in the run directory.

    ``get(key, fetch, persist)`` returns ``fetch()``'s value, calling it at most once per key
    per run across all the worker processes of the run (see the module docstring); when ``fetch``
    raised an ImdsError, every ``get`` of the key raises that error again, without fetching.
    ``persist`` may be a callable returning the JSON-able form to store on disk (or None to
    store nothing); what is read back from disk is that form.
    """

    def __init__(self, directory=None):
        self.directory = directory
        self._memory = {}       # key name -> {"value": ...} or {"error": error record}
        self._lock = threading.Lock()   # guards the two dicts, never held while fetching
        self._key_locks = {}

    def peek(self, key):
        with self._lock:
            return self._memory.get(key_name(key), {}).get("value")

    def put(self, key, value):
        with self._lock:
            self._memory[key_name(key)] = {"value": value}

    def _key_lock(self, name):
        with self._lock:
            return self._key_locks.setdefault(name, threading.Lock())

    def _remember(self, name, outcome, source):
        with self._lock:
            self._memory[name] = outcome
        if "error" in outcome:
            raise error_from_record(outcome["error"])
        return outcome["value"], source

    def get(self, key, fetch, persist=None):
        """(value, source) with source in "memory", "run", "fetched"; or the ImdsError of the run's fetch."""
        name = key_name(key)
        with self._key_lock(name):   # one fetch per key in this process; other keys go on meanwhile
            with self._lock:
                known = self._memory.get(name)
            if known is not None:
                return self._remember(name, known, "memory")
            if self.directory is None or persist is None:
                return self._remember(name, _outcome(fetch)[0], "fetched")
            path = os.path.join(self.directory, name + ".json")
            with FileLock(path + ".lock"):
                stored = read_json(path)
                if isinstance(stored, dict) and stored.get("key") == json.loads(json.dumps(key)) and (
                        "value" in stored or isinstance(stored.get("error"), dict)):
                    return self._remember(name, dict((k, v) for k, v in stored.items() if k in ("value", "error")), "run")
                outcome, value = _outcome(fetch)
                form = dict(outcome)
                if "value" in form and callable(persist):
                    form["value"] = persist(value)
                try:
                    write_json(path, dict(form, key=key))
                except (OSError, TypeError, ValueError):
                    pass
            return self._remember(name, outcome, "fetched")

    def clear(self):
        with self._lock:
            self._memory.clear()
            if self.directory and os.path.isdir(self.directory):
                for name in os.listdir(self.directory):
                    try:
                        os.unlink(os.path.join(self.directory, name))
                    except OSError:
                        pass


def _outcome(fetch):
    """(outcome, value) of ``fetch()``: ``{"value": value}``, or ``{"error": record}`` when it raised an ImdsError."""
    try:
        value = fetch()
    except ImdsError as exc:
        return {"error": error_record(exc)}, None
    return {"value": value}, value


class PacedTransport(_pacing.PacedTransport):
    """Wraps the client's transport: paces requests (IMDS limits) and reuses the run's
    ``/metadata/versions`` answer. It never changes what is requested or where."""

    def __init__(self, inner, limiter, cache, endpoint, response_class):
        super(PacedTransport, self).__init__(inner, limiter, endpoint)
        self.cache = cache
        self.response_class = response_class

    def request(self, method, url, headers, body, timeout):
        path = self.path(url)
        if method == "GET" and path == "/metadata/versions":
            key = ("imds.azure", "versions", self.endpoint)
            stored = self.cache.peek(key)
            if stored is not None:
                return self.response_class(stored["status"], stored["headers"], stored["body"].encode("utf-8"))
            holder = {}

            def fetch():
                response = self._send(method, url, headers, body, timeout, path)
                holder["response"] = response
                if response.status != 200 or response.truncated:
                    raise _NotCacheable()
                return {"status": response.status, "headers": dict(response.headers), "body": response.body.decode("utf-8", "replace")}

            try:
                stored, _source = self.cache.get(key, fetch, persist=True)
            except _NotCacheable:
                return holder["response"]
            return self.response_class(stored["status"], stored["headers"], stored["body"].encode("utf-8"))
        return self._send(method, url, headers, body, timeout, path)


class _NotCacheable(Exception):
    pass
