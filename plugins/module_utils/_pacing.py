# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""Request pacing shared by processes: IMDS allows 5 requests/s per VM (20 for identity tokens).

``RateLimiter`` keeps a sliding window of request times per bucket, in the process or in a
directory that several processes share (a file per bucket, changed under a lock file).
``PacedTransport`` wraps a client transport and takes a slot before each request.

Two directories are used: the run directory of the controller's live lookups (plugin_utils/_lookup/run_cache.py),
and the VM's budget (``share_vm_budget``): the event source and the scheduled_events module running on
the same VM (ansible-rulebook and the playbooks its rules start) take their requests from one budget
there, so they queue for a slot instead of drawing 429s from each other.

Standard library only (``fcntl``: POSIX; elsewhere nothing is shared and nothing is paced across processes).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import threading
import time

from ansible_collections.imds.azure.plugins.module_utils._errors import format_seconds
from ansible_collections.imds.azure.plugins.module_utils._transport import NotSent

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def key_name(key):
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:32]


class FileLock(object):
    def __init__(self, path):
        self.path = path
        self.handle = None

    def __enter__(self):
        self.handle = open(self.path, "a+")  # pylint: disable=consider-using-with
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        try:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
        finally:
            self.handle.close()


def write_json(path, data):
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    except Exception:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_json(path):
    try:
        with open(path, "r") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


class RateLimiter(object):
    """At most ``rate`` requests per ``bucket`` in any ``window`` seconds, across the processes sharing ``directory``.

    The window is a little longer than IMDS's one second, so that network jitter cannot make the
    service see more than ``rate`` requests in one of its seconds.
    """

    WINDOW = 1.25

    def __init__(self, directory=None, sleep=None, clock=None, window=WINDOW):
        self.directory = directory
        self.window = window
        self._sleep = sleep or time.sleep
        self._clock = clock or time.time
        self._local = {}
        self._lock = threading.Lock()

    def acquire(self, bucket, rate, max_wait=None):
        """Take a slot: the seconds waited for it, or None when none was free within ``max_wait`` seconds.

        The lock is held only to look at the slots, never while waiting, so that a waiter is not
        held up by the others' waits either.
        """
        if not rate or rate <= 0:
            return 0.0
        waited = 0.0
        while True:
            pause = self._try(bucket, int(rate))
            if pause is None:
                return waited
            if max_wait is not None and waited + pause > max_wait:
                return None
            self._sleep(pause)
            waited += pause

    def _try(self, bucket, limit):
        """Take a slot (None) or say how long to wait before the next try."""
        with self._lock:
            if self.directory is None:
                return self._take(self._local.setdefault(bucket, []), limit)
            path = os.path.join(self.directory, "rate-" + key_name(bucket) + ".json")
            with FileLock(path + ".lock"):
                stamps = read_json(path)
                if not isinstance(stamps, list):
                    stamps = []
                pause = self._take(stamps, limit)
                if pause is None:
                    try:
                        write_json(path, stamps)
                    except (OSError, TypeError, ValueError):
                        pass
                return pause

    def _take(self, stamps, limit):
        now = self._clock()
        stamps[:] = [stamp for stamp in stamps if isinstance(stamp, (int, float)) and 0 <= now - stamp < self.window]
        if len(stamps) < limit:
            stamps.append(now)
            return None
        return max(0.005, self.window - (now - min(stamps)) + 0.005)


class PacedTransport(object):
    """Wraps a client transport: takes a slot of the limiter before each request. It never changes
    what is requested or where."""

    METADATA_RATE = 5       # IMDS: 5 requests/s per VM
    IDENTITY_RATE = 20      # IMDS: 20 requests/s per VM for /metadata/identity

    def __init__(self, inner, limiter, endpoint, scope=()):
        self.inner = inner
        self.limiter = limiter
        self.endpoint = endpoint
        self.scope = tuple(scope)

    def request(self, method, url, headers, body, timeout):
        """Wait for a slot, then send; the wait is part of the attempt's ``timeout`` (and so of the deadline)."""
        identity = url.startswith(self.endpoint + "/metadata/identity")
        bucket = (self.endpoint, "identity" if identity else "metadata") + self.scope
        rate = self.IDENTITY_RATE if identity else self.METADATA_RATE
        waited = self.limiter.acquire(bucket, rate, max_wait=timeout)
        if waited is None or timeout - waited <= 0:
            raise NotSent("no free request slot within %s s: the requests to IMDS that share this budget stay within its limit "
                          "of %d requests/s" % (format_seconds(timeout), rate))
        return self.inner.request(method, url, headers, body, timeout - waited)


IDLE_BUCKET = 3600.0     # seconds without a request after which a budget's files are removed
_PRUNED = set()


def _prune(directory, now):
    """Remove the files of budgets nobody used for IDLE_BUCKET seconds (test emulators come and go)."""
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if name.startswith("rate-") and name.endswith(".json"):
            try:
                if now - os.stat(path).st_mtime > IDLE_BUCKET:
                    os.unlink(path)
                    os.unlink(path + ".lock")
            except OSError:
                pass


def vm_budget_dir(base_dirs=None):
    """This user's directory for the VM's request budget, or None when there is no usable one.

    A fixed place (the first of ``/run/user/<uid>``, ``/dev/shm``, the temporary directory that exists),
    whatever the environment, so that a systemd service and the playbooks it starts find the same one.
    It must be this user's own directory, not a symbolic link, and closed to others (0700).
    """
    if fcntl is None or not hasattr(os, "getuid"):
        return None
    uid = os.getuid()
    for base in base_dirs or ("/run/user/%d" % uid, "/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(base):
            break
    else:
        return None
    path = os.path.join(base, "imds-azure-%d" % uid)
    try:
        os.mkdir(path, 0o700)
    except OSError:
        pass
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
        return None
    if path not in _PRUNED:
        _PRUNED.add(path)
        _prune(path, time.time())
    return path


def _network_namespace():
    """IMDS is per VM, and a VM is a network: the namespace's inode tells the test namespaces apart."""
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return 0


def share_vm_budget(client, sleep=None, base_dirs=None):
    """Make ``client`` take its requests from the VM's budget shared by this user's processes; returns it.
    ``sleep`` waits for a slot (the client's own, so that whatever interrupts its pauses interrupts this one).

    Without a usable budget directory the client is returned unchanged (it still retries a 429 as usual).
    """
    directory = vm_budget_dir(base_dirs)
    if directory is not None:
        client.transport = PacedTransport(client.transport, RateLimiter(directory, sleep=sleep), client.endpoint,
                                          scope=(_network_namespace(),))
    return client
