# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""What the ``imds.azure.metadata`` and ``imds.azure.token`` lookups share (controller side).

* ``ImdsLookupBase``: their options (``vars:`` sources templated), their IMDS client, their
  warnings and their errors, which read ``<fqcn>: <keyword>: <message>`` with the keywords the
  modules return as ``imds_error`` (docs/docsite/rst/lookups.rst);
* ``LookupState``: what live lookups keep in the worker process for the run -- the run cache and
  rate limiter (_run_cache.py), one client per settings, tokens. ``reset_run_state()`` forgets it (tests).
"""

from __future__ import annotations

import re
import threading

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient, validate_endpoint
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsError
from ansible_collections.imds.azure.plugins.module_utils._transport import Response, UrlTransport
from ansible_collections.imds.azure.plugins.plugin_utils._run_cache import PacedTransport, RateLimiter, RunCache, run_cache_dir
from ansible_collections.imds.azure.plugins.plugin_utils._token import TokenCache

display = Display()

# Anything shaped like a JWT (header.payload.signature, base64url): scrubbed from messages.
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


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


class LookupState(object):
    """What the lookups keep in this worker process for one run (one run directory)."""

    def __init__(self, directory):
        self.directory = directory
        self.cache = RunCache(directory)
        self.limiter = RateLimiter(directory)
        self.tokens = TokenCache()
        self._clients = {}

    def client(self, owner, endpoint, api_version, timeout, deadline):
        """The paced client of ``owner`` (a lookup's FQCN, which prefixes its warnings) for these settings:
        one per settings in this process, so the api-version is negotiated once."""
        key = (owner, endpoint, api_version, timeout, deadline)
        client = self._clients.get(key)
        if client is None:
            transport = PacedTransport(UrlTransport(), self.limiter, self.cache, validate_endpoint(endpoint), Response)
            client = ImdsClient(endpoint=endpoint, api_version=api_version, timeout=timeout, deadline=deadline,
                                transport=transport, warn=lambda message: display.warning("%s: %s" % (owner, scrub(message))))
            self._clients[key] = client
        return client


_CURRENT = {}
_CURRENT_LOCK = threading.Lock()


def run_state():
    """This process's LookupState, bound to this run's directory (a new one when the directory changes)."""
    with _CURRENT_LOCK:
        directory = run_cache_dir()
        state = _CURRENT.get("state")
        if state is None or state.directory != directory:
            state = _CURRENT["state"] = LookupState(directory)
        return state


def reset_run_state(remove_files=True):
    """Forget this process's lookup state (tests): documents, clients, tokens. With
    ``remove_files=False`` the run directory's files stay, as for a new worker process of the same run."""
    with _CURRENT_LOCK:
        state = _CURRENT.pop("state", None)
        if state is not None and remove_files:
            state.cache.clear()


class ImdsLookupBase(LookupBase):
    """Base of the collection's lookups: set ``FQCN``, call ``_set_run_options`` first in ``run``."""

    FQCN = None

    def _set_run_options(self, variables, kwargs):
        self.set_options(var_options=var_options(self, variables), direct=kwargs)

    def _error(self, keyword, message):
        """The AnsibleLookupError to raise: ``<fqcn>: <keyword>: <message>``."""
        return AnsibleLookupError("%s: %s: %s" % (self.FQCN, keyword, scrub(message)))

    def _client(self):
        """The paced IMDS client for this lookup's endpoint options (bad options raise the lookup's error)."""
        try:
            return run_state().client(self.FQCN, self.get_option("endpoint"), self.get_option("api_version"),
                                      self.get_option("timeout"), self.get_option("deadline"))
        except ImdsError as exc:
            raise self._error(exc.kind, str(exc)) from None
