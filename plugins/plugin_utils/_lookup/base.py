# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""What the ``imds.azure.metadata`` and ``imds.azure.token`` lookups share (controller side).

* ``ImdsLookupBase``: their settings (the options, ``vars:`` sources templated, worked out once per
  distinct options in the process: a cached call costs a few dict look-ups), their IMDS client,
  their warnings and their errors, which read ``<fqcn>: <keyword>: <message>`` with the keywords
  the modules return as ``imds_error`` (docs/docsite/rst/lookups.rst);
* ``LookupState``: what live lookups keep in the worker process for the run -- the run cache
  (run_cache.py), the request pacing, one client per settings, tokens.
"""

from __future__ import annotations

import os
import re
import threading
from types import SimpleNamespace

from ansible import constants as C
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient, validate_endpoint
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsError
from ansible_collections.imds.azure.plugins.module_utils._transport import UrlTransport
from ansible_collections.imds.azure.plugins.module_utils._pacing import PacedTransport, RateLimiter
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.run_cache import RunCache, run_cache_dir
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.token import TokenCache

display = Display()

# Anything shaped like a JWT (header.payload.signature, base64url): scrubbed from messages.
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def scrub(text):
    """Remove anything shaped like a JWT from ``text`` (defence in depth for messages)."""
    return _JWT_RE.sub("<redacted>", text) if isinstance(text, str) else text


_SOURCES = {}


def _option_sources(plugin_type, load_name):
    """``(variable names, environment variable names)`` the options of a plugin read, found once per process."""
    key = (plugin_type, load_name)
    if key not in _SOURCES:
        try:
            definitions = C.config.get_configuration_definitions(plugin_type, load_name) or {}
        except Exception:  # pylint: disable=broad-except
            definitions = {}
        names = {"vars": set(), "env": set()}
        for definition in definitions.values():
            for kind, found in names.items():
                for source in definition.get(kind) or []:
                    if isinstance(source, dict) and source.get("name"):
                        found.add(source["name"])
        _SOURCES[key] = (frozenset(names["vars"]), tuple(sorted(names["env"])))
    return _SOURCES[key]


def var_options(plugin, variables):
    """The variables a plugin's options read (their ``vars:`` sources), templated.

    ``set_options(var_options=...)`` takes values as they are, so ``azure_imds_endpoint:
    "{{ url_of_this_vm }}"`` in group_vars would arrive as the template text. Only the
    variables the options name are templated, nothing else.
    """
    if not variables:
        return {}
    names = _option_sources(plugin.plugin_type, plugin._load_name)[0]  # pylint: disable=protected-access
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
        one per settings in this process."""
        key = (owner, endpoint, api_version, timeout, deadline)
        client = self._clients.get(key)
        if client is None:
            client = ImdsClient(endpoint=endpoint, api_version=api_version, timeout=timeout, deadline=deadline,
                                transport=PacedTransport(UrlTransport(), self.limiter, validate_endpoint(endpoint)),
                                warn=lambda message: display.warning("%s: %s" % (owner, scrub(message))))
            self._clients[key] = client
        return client

    def negotiate(self, client, category):
        """Give ``client`` the api-version ``latest`` stands for, negotiated once per run (an ImdsError when that fails,
        which is not kept: the next call asks again)."""
        if client.api_version_for(category, negotiate=False) is None:
            versions, _source = self.cache.get(("imds.azure", "versions", client.endpoint), client.available_versions,
                                               persist=True, keep_failure=False)
            client.use_versions(versions)


_CURRENT = {}
_CURRENT_LOCK = threading.Lock()


def run_state():
    """This process's LookupState for this run's directory (a forked worker gets its own)."""
    key = (os.getpid(), run_cache_dir())
    state = _CURRENT.get(key)
    if state is None:
        with _CURRENT_LOCK:
            _CURRENT.clear()
            state = _CURRENT[key] = LookupState(key[1])
    return state


def _frozen(options):
    """``options`` as part of a key: with each value's type, since ``True == 1`` and would share a key."""
    return tuple(sorted((name, value.__class__, value) for name, value in options.items()))


_SETTINGS = {}
_SETTINGS_LIMIT = 256   # distinct settings kept per process; more (a loop over endpoints) starts over


class ImdsLookupBase(LookupBase):
    """Base of the collection's lookups: set ``FQCN``, call ``_settings`` first in ``run``."""

    FQCN = None
    CALL_KEYWORDS = ()   # keywords ``run`` reads itself on each call (not part of the settings)

    def _settings(self, variables, kwargs):
        """The settings of this call: ``_make_settings()`` over the options from ``kwargs``, the variables the
        options read and the environment, made once per distinct options in this process."""
        given = var_options(self, variables)
        direct = dict((name, value) for name, value in kwargs.items() if name not in self.CALL_KEYWORDS)
        environ = os.environ
        key = (self.FQCN, _frozen(given), _frozen(direct),
               tuple(environ.get(name) for name in _option_sources(self.plugin_type, self._load_name)[1]))
        try:
            settings = _SETTINGS.get(key)
        except Exception:   # pylint: disable=broad-except  # a value that cannot be a key (a list): made for this call only
            key = settings = None
        if settings is None:
            self.set_options(var_options=given, direct=direct)
            settings = self._make_settings()
            if key is not None:
                if len(_SETTINGS) >= _SETTINGS_LIMIT:
                    _SETTINGS.clear()
                _SETTINGS[key] = settings
        return settings

    def _make_settings(self):
        """The options as attributes; lookups add what they work out from them (and raise their errors here)."""
        return SimpleNamespace(**dict((name, self.get_option(name)) for name in self.option_definitions if name != "_terms"))

    def _error(self, keyword, message):
        """The AnsibleLookupError to raise: ``<fqcn>: <keyword>: <message>``."""
        return AnsibleLookupError("%s: %s: %s" % (self.FQCN, keyword, scrub(message)))

    def _client(self, settings):
        """The paced IMDS client for these settings (bad options raise the lookup's error)."""
        try:
            return run_state().client(self.FQCN, settings.endpoint, settings.api_version, settings.timeout, settings.deadline)
        except ImdsError as exc:
            raise self._error(exc.kind, str(exc)) from None
