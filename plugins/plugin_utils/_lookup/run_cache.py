# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""What the live lookups of one run share across its worker processes: the run cache
(``RunCache``), which makes live lookups cost one request per category per run.

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
A value found in the process costs one dict look-up: no lock, no file.

What the lookups cache: documents *without* ``compute.userData`` (as in the facts; the
``compute/userData`` path is read with its own request and kept in the process only), and the
versions IMDS offers (the negotiation of ``api_version: latest``; a failed negotiation is not kept).
Access tokens are never written anywhere (see token.py).
"""

from __future__ import annotations

import errno
import os
import threading

from ansible import constants as C

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsError, error_from_record, error_record
from ansible_collections.imds.azure.plugins.module_utils._pacing import FileLock, fcntl, key_name, read_json, write_json

_RUN_DIRS = {}


def run_cache_dir():
    """``<ansible local tmp of this run>/imds_azure_lookup`` (created 0700), or None."""
    base = C.DEFAULT_LOCAL_TMP
    if base in _RUN_DIRS:  # made once per process: every live lookup call asks
        return _RUN_DIRS[base]
    path = None
    if base and fcntl is not None:
        path = os.path.join(base, "imds_azure_lookup")
        try:
            os.makedirs(path, 0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                path = None
    _RUN_DIRS[base] = path if path and os.path.isdir(path) else None
    return _RUN_DIRS[base]


class RunCache(object):
    """Values cached for the run: in the process, and (``persist=True``) in the run directory.

    ``get(key, fetch, persist)`` returns ``fetch()``'s value, calling it at most once per key
    per run across all the worker processes of the run (see the module docstring); when ``fetch``
    raised an ImdsError, every ``get`` of the key raises that error again, without fetching
    (with ``keep_failure=False`` the error is raised but not kept: the next ``get`` fetches again).
    ``key`` is a tuple of strings.
    """

    def __init__(self, directory=None):
        self.directory = directory
        self._memory = {}       # key -> {"value": ...} or {"error": error record}
        self._lock = threading.Lock()   # guards _key_locks, never held while fetching
        self._key_locks = {}

    def _key_lock(self, key):
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def get(self, key, fetch, persist=False, keep_failure=True):
        """(value, source) with source in "memory", "run", "fetched"; or the ImdsError of the run's fetch."""
        outcome, source = self._memory.get(key), "memory"
        if outcome is None:
            with self._key_lock(key):   # one fetch per key in this process; other keys go on meanwhile
                outcome = self._memory.get(key)
                if outcome is None:
                    outcome, source = self._load(key, fetch, persist, keep_failure)
                    if keep_failure or "value" in outcome:
                        self._memory[key] = outcome
        if "error" in outcome:
            raise error_from_record(outcome["error"])
        return outcome["value"], source

    def _load(self, key, fetch, persist, keep_failure):
        """(outcome, source) from the run directory, or fetched (and stored there)."""
        if self.directory is None or not persist:
            return _outcome(fetch), "fetched"
        path = os.path.join(self.directory, key_name(key) + ".json")
        with FileLock(path + ".lock"):
            stored = read_json(path)
            if isinstance(stored, dict) and stored.get("key") == list(key) and (
                    "value" in stored or isinstance(stored.get("error"), dict)):
                return dict((k, v) for k, v in stored.items() if k in ("value", "error")), "run"
            outcome = _outcome(fetch)
            if keep_failure or "value" in outcome:
                try:
                    write_json(path, dict(outcome, key=key))
                except (OSError, TypeError, ValueError):
                    pass
        return outcome, "fetched"


def _outcome(fetch):
    """``{"value": fetch()}``, or ``{"error": record}`` when it raised an ImdsError."""
    try:
        return {"value": fetch()}
    except ImdsError as exc:
        return {"error": error_record(exc)}
