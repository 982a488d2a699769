# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise, may change at any time.
"""The private parts of ansible-core's cache plugins that reading a fact cache needs, and only here.

ansible-core has no public interface for these; ``tests/unit/plugins/plugin_utils/test__core_cache.py``
fails on a supported core that changes any of them:

- ``PluginInterposer.__wrapped__`` (2.19+ wraps every persistent cache plugin in this proxy): the plugin itself;
- ``PluginInterposer._get_key`` / ``_restore_key`` (2.19+): the plugin's key of a host (``s1_<host>``) and back;
- ``BaseCacheModule._cache``: the plugin's in-memory copy of every entry it returned;
- ``BaseCacheModule._persistent`` (2.19+): False for a plugin that keeps nothing between runs.
"""

from __future__ import annotations


def plugin(cache):
    """The cache plugin behind ansible-core's proxy (2.19+), or ``cache`` itself."""
    return getattr(cache, "__wrapped__", cache)


def stored_key(cache, name):
    """The key under which the plugin behind ``cache`` stores host ``name``."""
    get_key = getattr(cache, "_get_key", None)
    return get_key(name) if get_key else name


def host_of_key(cache, key):
    """The host whose entry the plugin stores under ``key``, or None for a key of another layout."""
    restore = getattr(cache, "_restore_key", None)
    return restore(key) if restore else key


def forget(cache, name):
    """Drop the plugin's in-memory copy of ``name``'s entry (never the stored entry)."""
    memo = getattr(plugin(cache), "_cache", None)
    if isinstance(memo, dict):
        memo.pop(stored_key(cache, name), None)


def persistent(cache):
    """False for a plugin that keeps nothing between runs. Older cores have no flag: there the built-in
    ``memory`` plugin is the one."""
    flag = getattr(cache, "_persistent", None)
    if flag is not None:
        return bool(flag)
    return type(plugin(cache)).__module__ != "ansible.plugins.cache.memory"
