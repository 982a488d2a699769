# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""Controller-side helpers of the ``imds.azure.metadata`` and ``imds.azure.token`` lookups.

* path parsing (``parse_path``) and local walking (``walk``) of IMDS documents, with the
  "did you mean" hints of a missing path;
* JMESPath compilation with a clear error when the library is missing (``compile_query``);
* the documents the current host's ``ansible_facts['azure_imds']`` already hold
  (``facts_document``);
* the run cache (``RunCache``) and the request pacing (``RateLimiter``,
  ``PacedTransport``) that make live lookups cost one request per category per run.

Run cache lifetime
------------------
ansible-playbook forks one worker process per task and host, and lookups run in those
workers, so a plain module-level dict would only live for one task. The run cache has two
levels:

1. a dict in the process (every lookup of one task, all loop items included);
2. files under ``<ansible local tmp>/imds_azure_lookup/`` -- the per-run directory
   ansible-core creates at start-up (``C.DEFAULT_LOCAL_TMP``, ``ansible-local-<pid>...``)
   and deletes when the run ends; the module_utils ANSIballZ cache lives there too. Files
   are 0600 in a 0700 directory. A lock file per key makes the workers wait for the one
   that is fetching, so every category is fetched once per run (single flight).

What is cached: metadata documents *without* ``compute.userData`` (as in the facts; the
``compute/userData`` path is read with its own request and kept in the process only), and the
``/metadata/versions`` answer. Access tokens are never written anywhere: they are cached in
the process only.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import json
import os
import re
import tempfile
import threading
import time

from ansible_collections.imds.azure.plugins.module_utils._client import NotSent, format_seconds

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows controllers (unsupported anyway)
    fcntl = None

__all__ = [
    "LookupPathError", "MissingPathError", "QueryError", "ParsedPath", "CATEGORIES", "parse_path", "walk",
    "compile_query", "facts_document", "RunCache", "RateLimiter", "PacedTransport", "run_cache_dir",
    "strip_user_data", "is_user_data", "scrub", "reset_run_state", "var_options",
]

# Categories a metadata lookup can read, by the name used in an explicit path (``/loadbalancer/...``).
CATEGORIES = ("instance", "loadbalancer", "scheduledevents")
OTHER_CATEGORIES = {
    "identity": "use the imds.azure.token lookup for managed-identity tokens",
    "attested": "the attested document is not a tree of values; use the imds.azure.metadata_facts module",
    "versions": "the version list is not available through this lookup",
}
# Where each category lives in ansible_facts['azure_imds'].
FACT_KEYS = {"loadbalancer": "loadbalancer", "scheduledevents": "scheduled_events"}

_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_~.-]+$")
_INDEX_RE = re.compile(r"^(0|[1-9][0-9]*)$")
# Anything shaped like a JWT (header.payload.signature, base64url): scrubbed from messages.
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


class LookupPathError(ValueError):
    """A malformed path or query: nothing was (or will be) requested."""


class MissingPathError(LookupError):
    """A well-formed path that does not exist in the document."""


class QueryError(ValueError):
    """A JMESPath problem: missing library, bad expression, or a failure while evaluating it."""


class ParsedPath(object):
    """A term, parsed: ``category`` and ``segments`` (strings), plus the ``text`` the user wrote."""

    __slots__ = ("category", "segments", "text")

    def __init__(self, category, segments, text):
        self.category = category
        self.segments = tuple(segments)
        self.text = text

    def __eq__(self, other):
        return isinstance(other, ParsedPath) and (self.category, self.segments) == (other.category, other.segments)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.category, self.segments))

    def __repr__(self):
        return "ParsedPath(%r, %r)" % (self.category, self.segments)

    @property
    def display(self):
        """The canonical spelling: ``compute/vmId`` or ``/loadbalancer/inboundRules/0``."""
        rel = "/".join(self.segments)
        if self.category == "instance":
            return rel or "/instance"
        return "/%s%s" % (self.category, "/" + rel if rel else "")


def parse_path(term):
    """Parse one lookup term into a ParsedPath, or raise LookupPathError.

    ``compute/vmId`` is relative to ``/metadata/instance``. A leading ``/`` names the category:
    ``/instance/compute/vmId``, ``/loadbalancer/inboundRules/0``, ``/scheduledevents/Events``
    (``/metadata/...`` is accepted too). Refused before anything is requested: non-strings,
    empty paths and segments, ``.``/``..``, schemes and ``//host``, ``?``, ``#``, ``%``,
    ``\\``, whitespace and control characters.
    """
    if not isinstance(term, str):
        raise LookupPathError("a path must be a string, got %s %r" % (type(term).__name__, term))
    shown = repr(term)
    if term == "":
        raise LookupPathError("an empty path is not allowed; use '/instance' for the whole instance document")
    if _CONTROL_RE.search(term):
        raise LookupPathError("path %s contains control characters (CR, LF, TAB, NUL...)" % shown)
    if any(char.isspace() for char in term):
        raise LookupPathError("path %s contains whitespace; IMDS keys never do" % shown)
    if term.startswith("//") or _SCHEME_RE.match(term) or "://" in term:
        raise LookupPathError("path %s looks like a URL; give a path such as compute/vmId (the endpoint option sets the host)" % shown)
    for char, why in (("?", "query strings are not supported (use the query option for JMESPath)"),
                      ("#", "fragments are not supported"),
                      ("%", "percent-encoding is not supported; write keys as they appear in the document"),
                      ("\\", "backslashes are not path separators")):
        if char in term:
            raise LookupPathError("path %s contains %r: %s" % (shown, char, why))
    explicit = term.startswith("/")
    segments = term[1:].split("/") if explicit else term.split("/")
    for segment in segments:
        if segment == "":
            raise LookupPathError("path %s has an empty segment (a doubled, leading or trailing '/')" % shown)
        if segment in (".", ".."):
            raise LookupPathError("path %s contains %r: relative segments are not allowed" % (shown, segment))
        if not _SEGMENT_RE.match(segment):
            raise LookupPathError("path %s: segment %r may contain only letters, digits and _ ~ . -" % (shown, segment))
    if not explicit:
        return ParsedPath("instance", segments, term)
    if segments[0] == "metadata":
        segments = segments[1:]
        if not segments:
            raise LookupPathError("path %s names no category; use for example /instance or /loadbalancer" % shown)
    category = segments[0]
    if category in OTHER_CATEGORIES:
        raise LookupPathError("path %s: /%s cannot be read by this lookup: %s" % (shown, category, OTHER_CATEGORIES[category]))
    if category not in CATEGORIES:
        hint = difflib.get_close_matches(category, CATEGORIES, 1, 0.6)
        raise LookupPathError("path %s: unknown category %r (a leading '/' names one of: %s)%s%s" % (
            shown, category, ", ".join("/" + name for name in CATEGORIES), "; did you mean /%s?" % hint[0] if hint else "",
            "; for a path inside the instance document drop the leading '/'" if category in ("compute", "network") else ""))
    return ParsedPath(category, segments[1:], term)


def _where(segments):
    return "/".join(segments) if segments else "the document root"


def _nearest(key, candidates):
    candidates = [str(candidate) for candidate in candidates]
    folded = [candidate for candidate in candidates if candidate.lower() == key.lower()]
    close = difflib.get_close_matches(key, candidates, 3, 0.6)
    out = folded + [candidate for candidate in close if candidate not in folded]
    return out[:3]


def walk(document, parsed):
    """Return the value at ``parsed`` in ``document`` or raise MissingPathError / LookupPathError.

    Keys are case-sensitive (as in IMDS); list items are addressed by 0-based decimal index.
    """
    node = document
    done = []
    for segment in parsed.segments:
        if isinstance(node, dict):
            if segment not in node:
                near = _nearest(segment, node.keys())
                keys = sorted(str(key) for key in node.keys())
                message = "path %r not found: %s has no key %r" % (parsed.display, _where(done), segment)
                if near:
                    message += "; did you mean %s?" % " or ".join(repr("/".join(done + [candidate])) for candidate in near)
                message += " (keys there: %s)" % (", ".join(keys[:25]) + (", ..." if len(keys) > 25 else "") if keys else "none")
                if not done and parsed.category == "instance" and segment in CATEGORIES:
                    message += "; to read the %s category write '/%s/...'" % (segment, segment)
                raise MissingPathError(message)
            node = node[segment]
        elif isinstance(node, list):
            if not _INDEX_RE.match(segment):
                raise LookupPathError("path %r: %s is a list, so %r must be an index (0 to %d)" % (
                    parsed.display, _where(done), segment, len(node) - 1) if node else
                    "path %r: %s is an empty list, so %r cannot index it" % (parsed.display, _where(done), segment))
            index = int(segment)
            if index >= len(node):
                raise MissingPathError("path %r not found: %s has %d item%s, so index %d is out of range" % (
                    parsed.display, _where(done), len(node), "" if len(node) == 1 else "s", index))
            node = node[index]
        else:
            raise MissingPathError("path %r not found: %s is a value (%r), not an object or a list" % (
                parsed.display, _where(done), _short(node)))
        done.append(segment)
    return node


def _short(value):
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


_JMESPATH = None


def compile_query(expression):
    """Compile a JMESPath expression; QueryError if jmespath is missing or the expression is bad."""
    global _JMESPATH  # pylint: disable=global-statement
    if not isinstance(expression, str) or not expression.strip():
        raise QueryError("the query option must be a non-empty JMESPath expression")
    if _JMESPATH is None:
        try:
            import jmespath  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise QueryError(
                "the query option needs the Python library 'jmespath' on the controller, in the Python that runs "
                "ansible-playbook: install it with 'python -m pip install jmespath' (or your distribution's "
                "python3-jmespath package)") from None
        _JMESPATH = jmespath
    try:
        return _JMESPATH.compile(expression)
    except _JMESPATH.exceptions.JMESPathError as exc:
        raise QueryError("invalid JMESPath expression %r: %s" % (expression, " ".join(str(exc).split()))) from None


def search(compiled, data, expression):
    try:
        return compiled.search(data)
    except Exception as exc:  # pylint: disable=broad-except
        raise QueryError("JMESPath expression %r failed: %s" % (expression, " ".join(str(exc).split()))) from None


def facts_document(facts, category):
    """The document of ``category`` held by one host's ``azure_imds`` facts.

    Returns ``(state, document)``:

    * ``("ok", document)``: the facts hold it (for the instance category, ``{"compute": ...,
      "network": ...}``; the load balancer document is the object IMDS wraps in
      ``{"loadbalancer": ...}``, without the facts' own ``found`` key);
    * ``("none", None)``: gathered, and IMDS had nothing (no Standard load balancer);
    * ``("not_azure", None)``: the facts say the host is not an Azure VM;
    * ``("absent", None)``: no facts, or the category was not gathered.
    """
    if not isinstance(facts, dict) or not facts:
        return "absent", None
    if facts.get("is_azure") is False:
        return "not_azure", None
    if category == "instance":
        if not isinstance(facts.get("compute"), dict) or not facts.get("compute"):
            return "absent", None
        return "ok", {"compute": facts.get("compute"), "network": facts.get("network") or {}}
    key = FACT_KEYS[category]
    if key not in facts or facts[key] is None:
        return "absent", None
    value = facts[key]
    if category == "loadbalancer":
        value = unwrap_loadbalancer(value)
        if isinstance(value, dict) and "found" in value:
            if not value.get("found"):
                return "none", None
            value = dict((name, item) for name, item in value.items() if name != "found")
    return "ok", value


def unwrap_loadbalancer(value):
    """The object inside IMDS's ``{"loadbalancer": {...}}`` answer (anything else unchanged)."""
    if isinstance(value, dict) and set(value.keys()) == {"loadbalancer"} and isinstance(value["loadbalancer"], dict):
        return value["loadbalancer"]
    return value


def strip_user_data(document):
    """(copy without compute.userData, whether something was removed)."""
    compute = document.get("compute") if isinstance(document, dict) else None
    if not isinstance(compute, dict) or "userData" not in compute:
        return document, False
    out = dict(document)
    out["compute"] = dict((key, value) for key, value in compute.items() if key != "userData")
    return out, True


def is_user_data(parsed):
    """True for the path of the VM's user data (``compute/userData``), which documents never hold."""
    return parsed.category == "instance" and parsed.segments[:2] == ("compute", "userData")


def scrub(text):
    """Remove anything shaped like a JWT from ``text`` (defence in depth for messages)."""
    return _JWT_RE.sub("<redacted>", text) if isinstance(text, str) else text


_VAR_NAMES = {}


def _option_var_names(plugin_type, load_name):
    """The variable names the options of a plugin read, found once per process (every lookup call needs them)."""
    key = (plugin_type, load_name)
    if key not in _VAR_NAMES:
        try:
            from ansible import constants as C  # pylint: disable=import-outside-toplevel
            definitions = C.config.get_configuration_definitions(plugin_type, load_name) or {}
        except Exception:  # pylint: disable=broad-except
            definitions = {}
        names = set()
        for definition in definitions.values():
            for source in definition.get("vars") or []:
                if isinstance(source, dict) and source.get("name"):
                    names.add(source["name"])
        _VAR_NAMES[key] = frozenset(names)
    return _VAR_NAMES[key]


def var_options(plugin, variables):
    """The variables a plugin's options read (their ``vars:`` sources), templated.

    ``set_options(var_options=...)`` takes values as they are, so ``azure_imds_endpoint:
    "{{ url_of_this_vm }}"`` in group_vars would arrive as the template text. Only the
    variables the options name are templated, nothing else.
    """
    if not variables:
        return {}
    names = _option_var_names(plugin.plugin_type, plugin._load_name)  # pylint: disable=protected-access
    out = {}
    templar = getattr(plugin, "_templar", None)
    for name in names:
        if name in variables:
            value = variables[name]
            if templar is not None and isinstance(value, str) and ("{{" in value or "{%" in value):
                value = templar.template(value)
            out[name] = value
    return out


# --------------------------------------------------------------------------- run state

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


def _key_name(key):
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:32]


class _FileLock(object):
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


def _write_json(path, data):
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


def _read_json(path):
    try:
        with open(path, "r") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


class RunCache(object):
    """Values cached for the run: in the process, and (``persist=True``) in the run directory.

    ``get(key, fetch, persist)`` returns ``fetch()``'s value, calling it at most once per key
    per run across all the worker processes of the run (see the module docstring).
    ``persist`` may be a callable returning the JSON-able form to store on disk (or None to
    store nothing); what is read back from disk is that form.
    """

    def __init__(self, directory=None):
        self.directory = directory
        self._memory = {}
        self._lock = threading.RLock()

    def peek(self, key):
        with self._lock:
            return self._memory.get(_key_name(key))

    def put(self, key, value):
        with self._lock:
            self._memory[_key_name(key)] = value

    def get(self, key, fetch, persist=None):
        """(value, source) with source in "memory", "run", "fetched"."""
        name = _key_name(key)
        with self._lock:
            if name in self._memory:
                return self._memory[name], "memory"
            if self.directory is None or persist is None:
                value = fetch()
                self._memory[name] = value
                return value, "fetched"
            path = os.path.join(self.directory, name + ".json")
            with _FileLock(path + ".lock"):
                stored = _read_json(path)
                if isinstance(stored, dict) and stored.get("key") == json.loads(json.dumps(key)):
                    value = stored.get("value")
                    self._memory[name] = value
                    return value, "run"
                value = fetch()
                form = persist(value) if callable(persist) else value
                try:
                    _write_json(path, {"key": key, "value": form})
                except (OSError, TypeError, ValueError):
                    pass
            self._memory[name] = value
            return value, "fetched"

    def clear(self):
        with self._lock:
            self._memory.clear()
            if self.directory and os.path.isdir(self.directory):
                for name in os.listdir(self.directory):
                    try:
                        os.unlink(os.path.join(self.directory, name))
                    except OSError:
                        pass


class RateLimiter(object):
    """At most ``rate`` requests per ``bucket`` in any ``window`` seconds, across the run's processes.

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
            path = os.path.join(self.directory, "rate-" + _key_name(bucket) + ".json")
            with _FileLock(path + ".lock"):
                stamps = _read_json(path)
                if not isinstance(stamps, list):
                    stamps = []
                pause = self._take(stamps, limit)
                if pause is None:
                    try:
                        _write_json(path, stamps)
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
    """Wraps the client's transport: paces requests (IMDS limits) and reuses the run's
    ``/metadata/versions`` answer. It never changes what is requested or where."""

    METADATA_RATE = 5       # IMDS: 5 requests/s per VM
    IDENTITY_RATE = 20      # IMDS: 20 requests/s per VM for /metadata/identity

    def __init__(self, inner, limiter, cache, endpoint, response_class):
        self.inner = inner
        self.limiter = limiter
        self.cache = cache
        self.endpoint = endpoint
        self.response_class = response_class
        self.requests = 0

    def request(self, method, url, headers, body, timeout):
        path = url[len(self.endpoint):].split("?", 1)[0] if url.startswith(self.endpoint) else url
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

    def _send(self, method, url, headers, body, timeout, path):
        """Wait for a slot, then send; the wait is part of the attempt's ``timeout`` (and so of the deadline)."""
        identity = path.startswith("/metadata/identity")
        bucket = (self.endpoint, "identity" if identity else "metadata")
        rate = self.IDENTITY_RATE if identity else self.METADATA_RATE
        waited = self.limiter.acquire(bucket, rate, max_wait=timeout)
        if waited is None or timeout - waited <= 0:
            raise NotSent("no free request slot within %s s: this run's lookups share IMDS's limit of %d requests/s"
                          % (format_seconds(timeout), rate))
        self.requests += 1
        return self.inner.request(method, url, headers, body, timeout - waited)


class _NotCacheable(Exception):
    pass


_STATE = {}
_STATE_LOCK = threading.Lock()


def run_state():
    """The (RunCache, RateLimiter) pair of this process, bound to this run's directory."""
    with _STATE_LOCK:
        directory = run_cache_dir()
        if _STATE.get("directory") != directory or "cache" not in _STATE:
            _STATE["directory"] = directory
            _STATE["cache"] = RunCache(directory)
            _STATE["limiter"] = RateLimiter(directory)
        return _STATE["cache"], _STATE["limiter"]


def reset_run_state():
    """Forget everything cached (tests)."""
    with _STATE_LOCK:
        cache = _STATE.get("cache")
        if cache is not None:
            cache.clear()
        _STATE.clear()
