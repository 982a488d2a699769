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

import re

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.loader import cache_loader


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


def open_fact_cache(plugin=None, connection=None, prefix=None, timeout=None):
    """Load the cache plugin ``plugin`` (default: the configured fact cache plugin).

    Options left as None are read by the plugin from Ansible's configuration, exactly as
    ``ansible-playbook`` does (``ANSIBLE_CACHE_PLUGIN_CONNECTION`` / ``fact_caching_connection``,
    ...). Returns the plugin object; raises FactCacheError.
    """
    name = plugin or configured_plugin_name()
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


def is_persistent(cache):
    """False for plugins that keep nothing between runs (``memory``): they are empty here.

    ansible-core 2.19+ marks them with ``_persistent = False``; older cores have no such flag,
    and there the built-in ``memory`` plugin is the one that keeps nothing.
    """
    persistent = getattr(cache, "_persistent", None)
    if persistent is not None:
        return bool(persistent)
    return type(cache).__module__ != "ansible.plugins.cache.memory"


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
            wrapped = getattr(cache, "__wrapped__", None)
            restore = getattr(cache, "_restore_key", None)
            if wrapped is None or restore is None:
                raise
            keys = (restore(_text_key(key)) for key in wrapped.keys())
            return [key for key in keys if key is not None]
    except Exception as exc:  # pylint: disable=broad-except
        raise FactCacheError("cannot list the fact cache: %s: %s" % (type(exc).__name__, exc)) from exc


def read_facts(cache, hostnames=None):
    """Yield ``(hostname, facts)`` for each host in ``hostnames`` (default: every cached host)
    that has unexpired facts; hosts without an entry are left out.

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
        except KeyError:
            continue
        except AnsibleError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            raise FactCacheError("cannot read the cached facts of %s: %s: %s" % (name, type(exc).__name__, exc)) from exc
        if facts is not None and not _is_newer_core_entry(name, facts):
            yield name, facts


def write_facts(cache, hostname, facts):
    """Store ``facts`` for ``hostname`` the way ``ansible-playbook`` does (tests, benchmarks)."""
    cache.set(hostname, facts)
