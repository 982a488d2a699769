# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The private parts of ansible-core's cache plugins that _core_cache relies on are still there, on this core.

Run on every supported core (the units of the matrix): each test fails when the core changes what the
adapter reads, instead of the adapter silently doing nothing (a memory that grows with the cache, the
s1_ entries of a Redis cache not listed, a memory cache read as a persistent one).
"""

from __future__ import annotations

import os

import pytest

from ansible.plugins.cache import BaseCacheModule
from ansible.plugins.loader import cache_loader

from ansible_collections.imds.azure.plugins.plugin_utils import _core_cache

try:
    from ansible._internal._plugins._cache import PluginInterposer
except ImportError:   # ansible-core < 2.19: no proxy, plain <host> keys
    PluginInterposer = None

FACTS = {"azure_imds": {"is_azure": True}}


@pytest.fixture
def jsonfile(tmp_path):
    return cache_loader.get("ansible.builtin.jsonfile", _uri=str(tmp_path), _timeout=0, _prefix="")


def test_the_plugin_behind_the_proxy(jsonfile):
    plugin = _core_cache.plugin(jsonfile)
    assert isinstance(plugin, BaseCacheModule)
    assert (plugin is not jsonfile) == (PluginInterposer is not None)


def test_the_stored_key_is_the_file_the_core_writes(jsonfile, tmp_path):
    jsonfile.set("vm-1", FACTS)
    assert os.listdir(tmp_path) == [_core_cache.stored_key(jsonfile, "vm-1")]
    assert _core_cache.host_of_key(jsonfile, _core_cache.stored_key(jsonfile, "vm-1")) == "vm-1"
    if PluginInterposer is not None:
        assert _core_cache.stored_key(jsonfile, "vm-1") != "vm-1"
        assert _core_cache.host_of_key(jsonfile, "vm-1") is None   # a key of the older layout


def test_forget_drops_the_plugins_copy_of_an_entry(jsonfile, tmp_path):
    jsonfile.set("vm-1", FACTS)
    reader = cache_loader.get("ansible.builtin.jsonfile", _uri=str(tmp_path), _timeout=0, _prefix="")
    assert reader.get("vm-1") == FACTS
    memo = _core_cache.plugin(reader)._cache   # pylint: disable=protected-access
    assert list(memo) == [_core_cache.stored_key(reader, "vm-1")]
    _core_cache.forget(reader, "vm-1")
    assert memo == {}
    assert reader.get("vm-1") == FACTS   # the entry itself is still there


def test_the_memory_plugin_is_not_persistent(jsonfile):
    memory = cache_loader.get("ansible.builtin.memory")
    assert not _core_cache.persistent(memory)
    assert _core_cache.persistent(jsonfile)
    if PluginInterposer is not None:   # the flag itself, not the fallback on the module's name
        assert memory._persistent is False and jsonfile._persistent is True   # pylint: disable=protected-access
