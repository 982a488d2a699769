# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise, may change at any time.
"""Read Ansible's fact cache through Ansible's own cache plugins (controller side only).

The on-disk or in-database layout of a fact cache belongs to ansible-core and to the cache
plugin: ansible-core 2.19+ stores ``s1_<host>`` keys whose value wraps the facts in
``{"__payload__": ...}``, older cores store plain ``<host>`` keys. Loading the plugin with
``cache_loader.get()`` gives the same view of it that ``ansible-playbook`` has on the running
core, whichever plugin (``jsonfile``, ``redis``, ...) and layout is in use.

On the older cores the plugin itself lists a newer core's ``s1_<host>`` entries as hosts of
their own; those are left out here, as ``ansible-playbook`` on that core never reads them.
"""

from __future__ import annotations

import os
import re

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.cache import BaseFileCacheModule
from ansible.plugins.loader import cache_loader

from ansible_collections.imds.azure.plugins.plugin_utils import _core_cache


class FactCacheError(AnsibleError):
    """The fact cache could not be opened or read."""


# A key of the schema-qualified layout of ansible-core 2.19+ ("s1_<host>"), seen raw on older cores.
_SCHEMA_KEY = re.compile(r"^s[0-9]+_")
_PAYLOAD_KEY = "__payload__"

# option of this collection -> option of the cache plugins (same names as the inventory cache uses)
_OPTION_MAP = {"connection": "_uri", "prefix": "_prefix", "timeout": "_timeout"}


def configured_plugin_name():
    """The fact cache plugin ansible-core is configured with (``[defaults] fact_caching``)."""
    return C.CACHE_PLUGIN


def _plugin_fqcn(name):
    try:
        found = cache_loader.find_plugin_with_context(name)
        if found.resolved:
            return found.resolved_fqcn
    except Exception:  # pylint: disable=broad-except
        pass
    return name


def _same_setting(value, configured):
    if value is None:
        return True
    if isinstance(value, str) and isinstance(configured, str):
        return os.path.expanduser(os.path.expandvars(value)) == os.path.expanduser(os.path.expandvars(configured))
    return str(value) == str(configured)


def reads_configured_cache(plugin=None, connection=None, prefix=None, timeout=None):
    """True when these options name the very fact cache Ansible is configured with, so every
    ``ansible-playbook`` run with this configuration sees the same facts (options left as None
    take the configured values)."""
    return (_plugin_fqcn(plugin or configured_plugin_name()) == _plugin_fqcn(configured_plugin_name())
            and _same_setting(connection, C.CACHE_PLUGIN_CONNECTION)
            and _same_setting(prefix, C.CACHE_PLUGIN_PREFIX)
            and _same_setting(timeout, C.CACHE_PLUGIN_TIMEOUT))


def _file_cache_directory(name, connection):
    """The directory a file-based cache plugin (``jsonfile``, ``yaml``, ...) would use, or None for
    other plugins. Found without loading the plugin: loading creates a missing directory."""
    try:
        found = cache_loader.find_plugin_with_context(name)
        plugin_class = cache_loader.get(name, class_only=True)
        # __mro__: ansible-core 2.19+ returns the class behind a proxy that issubclass() refuses
        if not found.resolved or BaseFileCacheModule not in plugin_class.__mro__:
            return None
        if connection is None:
            try:
                connection = C.config.get_config_value("_uri", plugin_type="cache", plugin_name=found.plugin_resolved_name)
            except AnsibleError:
                connection = C.CACHE_PLUGIN_CONNECTION
    except Exception:  # pylint: disable=broad-except
        return None  # loading fails again, with its own message, in open_fact_cache()
    return os.path.expanduser(os.path.expandvars(connection)) if connection else None


def open_fact_cache(plugin=None, connection=None, prefix=None, timeout=None):
    """Load the cache plugin ``plugin`` (default: the configured fact cache plugin).

    Options left as None are read by the plugin from Ansible's configuration, exactly as
    ``ansible-playbook`` does (``ANSIBLE_CACHE_PLUGIN_CONNECTION`` / ``fact_caching_connection``,
    ...). Returns the plugin object; raises FactCacheError.

    A file-based plugin creates its directory when it is loaded; a reader must not: a mistyped
    directory would give an empty cache (and a new directory) instead of an error.
    """
    name = plugin or configured_plugin_name()
    directory = _file_cache_directory(name, connection)
    if directory is not None and not os.path.isdir(directory):
        raise FactCacheError("the fact cache directory %s %s (fact_cache_connection, or ANSIBLE_CACHE_PLUGIN_CONNECTION / "
                             "[defaults] fact_caching_connection): check the path, or gather facts into it first"
                             % (directory, "is not a directory" if os.path.exists(directory) else "does not exist"))
    options = {}
    for key, value in (("connection", connection), ("prefix", prefix), ("timeout", timeout)):
        if value is not None:
            options[_OPTION_MAP[key]] = value
    try:
        cache = cache_loader.get(name, **options)
    except AnsibleError as exc:
        raise FactCacheError("cannot open the fact cache %r: %s" % (name, exc)) from exc
    except Exception as exc:  # pylint: disable=broad-except
        # Third-party cache plugins raise anything (redis.ConnectionError, ImportError, ...).
        raise FactCacheError("cannot open the fact cache %r: %s: %s" % (name, type(exc).__name__, exc)) from exc
    if cache is None:
        raise FactCacheError("the cache plugin %r was not found (is its collection installed?)" % name)
    # File caches without a configured prefix cannot list their keys (len(None)); the prefix
    # they use for get/set in that case is "", so make listing use the same.
    try:
        if cache.get_option("_prefix") is None:
            cache.set_option("_prefix", "")
    except (KeyError, AttributeError):
        pass
    return cache


# False for plugins that keep nothing between runs (``memory``): they are empty here.
is_persistent = _core_cache.persistent


def _is_newer_core_entry(key, value):
    """An entry written by ansible-core 2.19+ (``s1_<host>`` wrapping the facts in ``__payload__``)
    as an older core's plugin returns it: not facts of a host called ``s1_<host>``."""
    return (isinstance(value, dict) and list(value) == [_PAYLOAD_KEY] and isinstance(value[_PAYLOAD_KEY], str)
            and bool(_SCHEMA_KEY.match(key)))


def _text_key(key):
    return key.decode("utf-8") if isinstance(key, bytes) else key


def cached_hosts(cache):
    """Hostnames with unexpired facts in ``cache``.

    Some plugins list their keys as bytes (community.general.redis returns what redis-py
    gives). ansible-core 2.19+ wraps every persistent cache plugin in a proxy that strips the
    schema prefix with ``str.startswith``, which fails on bytes; then the keys are read from
    the wrapped plugin, decoded, and the proxy's own prefix rule is applied to them.
    """
    try:
        try:
            return [_text_key(key) for key in cache.keys()]
        except TypeError:
            plugin = _core_cache.plugin(cache)
            if plugin is cache:
                raise
            keys = (_core_cache.host_of_key(cache, _text_key(key)) for key in plugin.keys())
            return [key for key in keys if key is not None]
    except Exception as exc:  # pylint: disable=broad-except
        raise FactCacheError("cannot list the fact cache: %s: %s" % (type(exc).__name__, exc)) from exc


class Unusable(object):
    """Stands in for the facts of a host whose data cannot be used, such as a cache entry that is listed
    but cannot be read (the reason says why)."""

    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason

    def __repr__(self):
        return "Unusable(%r)" % self.reason


# What reading one damaged entry raises: the core's file plugins turn bad JSON or bytes into
# AnsibleError (and delete the file), other plugins let ValueError/UnicodeError through, the
# 2.19+ proxy raises KeyError/TypeError for an entry that is not its {"__payload__": "..."}
# wrapper, and deeply nested JSON raises RecursionError. Anything else (a lost connection)
# concerns the whole cache.
_ENTRY_ERRORS = (AnsibleError, ValueError, TypeError, KeyError, RecursionError)


def _damage(cache, name, exc):
    if isinstance(exc, KeyError):
        text = "the entry is listed but could not be read (it expired meanwhile, or see the cache plugin's warning above)"
    else:
        text = "%s: %s" % (type(exc).__name__, exc)
    try:
        deleted = not cache.contains(name)
    except Exception:  # pylint: disable=broad-except
        deleted = False
    if deleted:
        text += "; the cache plugin deleted the entry when it failed to read it, so gather facts for this host again"
    return Unusable("damaged fact cache entry: %s" % text)


def read_facts(cache, hostnames=None):
    """Yield ``(hostname, facts)`` for each host in ``hostnames`` (default: every cached host)
    that has unexpired facts; hosts without an entry are left out. A listed entry that cannot be
    read yields an Unusable instead of facts: one damaged entry costs only its own host.

    Only listed hosts are read: reading a missing entry makes the file plugins of older cores
    print a warning per host.
    """
    listed = cached_hosts(cache)
    if hostnames is None:
        names = listed
    else:
        present = set(listed)
        names = [name for name in hostnames if name in present]
    for name in names:
        try:
            facts = cache.get(name)
        except _ENTRY_ERRORS as exc:
            facts = _damage(cache, name, exc)
        except Exception as exc:  # pylint: disable=broad-except
            raise FactCacheError("cannot read the cached facts of %s: %s: %s" % (name, type(exc).__name__, exc)) from exc
        # the plugins keep every entry they return: an inventory of 100,000 hosts needs a few values of each
        _core_cache.forget(cache, name)
        if facts is not None and not _is_newer_core_entry(name, facts):
            yield name, facts
