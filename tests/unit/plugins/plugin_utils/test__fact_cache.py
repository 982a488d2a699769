# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fact cache reading goes through Ansible's cache plugins, never through the files."""

from __future__ import annotations

import json
import os
import time

import pytest

from ansible.plugins.loader import cache_loader

from ansible_collections.imds.azure.plugins.plugin_utils import _fact_cache

FACTS = {"azure_imds": {"is_azure": True, "placement": {"fault_domain": "0", "zone": ""}, "tags": {"a": "{{ x }}"}}}


def _core_writer(directory, timeout=0):
    """The cache plugin exactly as ansible-playbook loads it on this core."""
    return cache_loader.get("ansible.builtin.jsonfile", _uri=str(directory), _timeout=timeout)


def test_round_trip_through_the_core_layout(tmp_path):
    _core_writer(tmp_path).set("vm-1", FACTS)
    cache = _fact_cache.open_fact_cache("ansible.builtin.jsonfile", connection=str(tmp_path), timeout=0)
    assert dict(_fact_cache.read_facts(cache)) == {"vm-1": FACTS}
    files = os.listdir(tmp_path)
    assert len(files) == 1
    raw = json.loads((tmp_path / files[0]).read_text())
    if files[0].startswith("s1_"):  # ansible-core >= 2.19: schema-qualified key, wrapped payload
        assert "__payload__" in raw
    else:  # older cores: plain host file
        assert files[0] == "vm-1" and raw == FACTS


def _other_generation(written, hostname):
    """File name and content of ``hostname``'s entry as the other core generation writes it."""
    if written.startswith("s1_"):  # this core is 2.19+: the older cores write plain <host> JSON
        return hostname, json.dumps(FACTS)
    return "s1_" + hostname, json.dumps({"__payload__": json.dumps(FACTS)})


def test_sees_what_the_running_core_sees(tmp_path):
    """A file in the other core generation's layout is not read: ansible-playbook on this core
    would not read it either, so the groups always match the facts the playbooks see."""
    _core_writer(tmp_path).set("vm-1", FACTS)
    name, content = _other_generation(os.listdir(tmp_path)[0], "vm-2")
    (tmp_path / name).write_text(content)
    cache = _fact_cache.open_fact_cache("ansible.builtin.jsonfile", connection=str(tmp_path), timeout=0)
    assert [name for name, _facts in _fact_cache.read_facts(cache)] == ["vm-1"]
    assert [name for name, _facts in _fact_cache.read_facts(cache, ["vm-2", "s1_vm-2", "vm-1"])] == ["vm-1"]


def test_a_host_named_like_the_newer_layout_is_still_read(tmp_path):
    """Only an ``s1_`` entry that wraps its facts in ``__payload__`` belongs to a newer core."""
    facts = {"__payload__": {"not": "a string"}, "azure_imds": {}}
    _core_writer(tmp_path).set("s1_web", facts)
    cache = _fact_cache.open_fact_cache("ansible.builtin.jsonfile", connection=str(tmp_path), timeout=0)
    assert dict(_fact_cache.read_facts(cache)) == {"s1_web": facts}


def test_missing_hosts_are_not_read(tmp_path, monkeypatch):
    """Older cores' file plugins warn on every missing entry they are asked for."""
    _core_writer(tmp_path).set("vm-1", FACTS)
    cache = _fact_cache.open_fact_cache("ansible.builtin.jsonfile", connection=str(tmp_path), timeout=0)
    asked = []
    real_get = cache.get
    monkeypatch.setattr(cache, "get", lambda key: asked.append(key) or real_get(key))
    assert [name for name, _facts in _fact_cache.read_facts(cache, ["vm-0", "vm-1", "vm-2"])] == ["vm-1"]
    assert asked == ["vm-1"]


def test_selected_hosts_and_missing_hosts(tmp_path):
    writer = _core_writer(tmp_path)
    for name in ("a", "b", "c"):
        writer.set(name, {"azure_imds": {"name": name}})
    cache = _fact_cache.open_fact_cache("jsonfile", connection=str(tmp_path), timeout=0)
    assert [name for name, _facts in _fact_cache.read_facts(cache, ["c", "zz", "a"])] == ["c", "a"]
    assert sorted(_fact_cache.cached_hosts(cache)) == ["a", "b", "c"]


def test_expired_entries_are_not_read(tmp_path):
    _core_writer(tmp_path).set("old", FACTS)
    _core_writer(tmp_path).set("new", FACTS)
    old_file = [name for name in os.listdir(tmp_path) if name.endswith("old")][0]
    stamp = time.time() - 7200
    os.utime(tmp_path / old_file, (stamp, stamp))
    cache = _fact_cache.open_fact_cache("jsonfile", connection=str(tmp_path), timeout=3600)
    assert [name for name, _facts in _fact_cache.read_facts(cache)] == ["new"]
    cache = _fact_cache.open_fact_cache("jsonfile", connection=str(tmp_path), timeout=0)
    assert sorted(name for name, _facts in _fact_cache.read_facts(cache)) == ["new", "old"]


def test_prefix_is_honoured(tmp_path):
    cache_loader.get("ansible.builtin.jsonfile", _uri=str(tmp_path), _prefix="facts_", _timeout=0).set("vm-1", FACTS)
    with_prefix = _fact_cache.open_fact_cache("jsonfile", connection=str(tmp_path), prefix="facts_", timeout=0)
    without = _fact_cache.open_fact_cache("jsonfile", connection=str(tmp_path), timeout=0)
    assert [name for name, _f in _fact_cache.read_facts(with_prefix)] == ["vm-1"]
    # Without the prefix, vm-1 is not there (2.19+ sees nothing; older cores a host "facts_vm-1").
    assert "vm-1" not in [name for name, _f in _fact_cache.read_facts(without)]


def test_configured_plugin_is_the_default(monkeypatch, tmp_path):
    monkeypatch.setattr(_fact_cache.C, "CACHE_PLUGIN", "ansible.builtin.jsonfile")
    cache = _fact_cache.open_fact_cache(connection=str(tmp_path))
    assert type(getattr(cache, "__wrapped__", cache)).__module__.endswith("jsonfile")


def test_memory_cache_is_not_persistent(tmp_path):
    assert not _fact_cache.is_persistent(_fact_cache.open_fact_cache("ansible.builtin.memory"))
    assert _fact_cache.is_persistent(_fact_cache.open_fact_cache("ansible.builtin.jsonfile", connection=str(tmp_path)))
    assert _fact_cache.is_persistent(object())  # a third-party plugin without the 2.19+ flag


def test_unknown_plugin_is_a_clear_error():
    with pytest.raises(_fact_cache.FactCacheError, match="no_such.collection.cache"):
        _fact_cache.open_fact_cache("no_such.collection.cache")


def test_bad_connection_is_a_clear_error(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(_fact_cache.FactCacheError, match="is not a directory"):
        _fact_cache.open_fact_cache("jsonfile", connection=str(not_a_dir))


def test_a_mistyped_directory_is_an_error_and_is_not_created(tmp_path, monkeypatch):
    """The jsonfile plugin creates a missing directory: a reader must not get an empty cache."""
    typo = tmp_path / "factz"
    with pytest.raises(_fact_cache.FactCacheError, match="factz does not exist"):
        _fact_cache.open_fact_cache("jsonfile", connection=str(typo))
    assert not typo.exists()
    # the same when the directory comes from Ansible's configuration
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(typo))
    with pytest.raises(_fact_cache.FactCacheError, match="factz does not exist"):
        _fact_cache.open_fact_cache("ansible.builtin.jsonfile")
    assert not typo.exists()


def test_a_corrupt_entry_costs_only_its_host(tmp_path):
    writer = _core_writer(tmp_path)
    writer.set("vm-1", FACTS)
    writer.set("vm-2", FACTS)
    broken = [name for name in os.listdir(tmp_path) if name.endswith("vm-1")][0]
    (tmp_path / broken).write_text("{not json")
    cache = _fact_cache.open_fact_cache("jsonfile", connection=str(tmp_path), timeout=0)
    found = dict(_fact_cache.read_facts(cache))
    assert found["vm-2"] == FACTS
    assert isinstance(found["vm-1"], _fact_cache.Unusable)
    # ansible-core's file plugins delete an entry they cannot decode: the reason says so
    assert "deleted the entry" in found["vm-1"].reason and "gather facts for this host again" in found["vm-1"].reason
    assert not (tmp_path / broken).exists()


def test_read_entries_leave_the_plugins_memory(tmp_path):
    """The plugins keep every entry they return; a reader of 100,000 hosts must not hold them all."""
    _core_writer(tmp_path).set("vm-1", FACTS)
    cache = _fact_cache.open_fact_cache("jsonfile", connection=str(tmp_path), timeout=0)
    assert dict(_fact_cache.read_facts(cache)) == {"vm-1": FACTS}
    assert getattr(cache, "__wrapped__", cache)._cache == {}


def test_reads_configured_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(_fact_cache.C, "CACHE_PLUGIN", "jsonfile")
    monkeypatch.setattr(_fact_cache.C, "CACHE_PLUGIN_CONNECTION", str(tmp_path))
    monkeypatch.setattr(_fact_cache.C, "CACHE_PLUGIN_PREFIX", "ansible_facts")
    monkeypatch.setattr(_fact_cache.C, "CACHE_PLUGIN_TIMEOUT", 86400)
    assert _fact_cache.reads_configured_cache()
    assert _fact_cache.reads_configured_cache("ansible.builtin.jsonfile", str(tmp_path), "ansible_facts", 86400)
    assert not _fact_cache.reads_configured_cache("community.general.redis")
    assert not _fact_cache.reads_configured_cache(connection=str(tmp_path / "other"))
    assert not _fact_cache.reads_configured_cache(prefix="")
    assert not _fact_cache.reads_configured_cache(timeout=60)


class _FailingCache:
    _persistent = True

    def keys(self):
        raise ConnectionError("redis down")

    def get(self, key):
        raise ConnectionError("redis down")


class _FailingGetCache(_FailingCache):
    def keys(self):
        return ["vm-1"]


def test_backend_errors_are_wrapped():
    with pytest.raises(_fact_cache.FactCacheError, match="redis down"):
        _fact_cache.cached_hosts(_FailingCache())
    with pytest.raises(_fact_cache.FactCacheError, match="cannot list the fact cache.*redis down"):
        list(_fact_cache.read_facts(_FailingCache(), ["vm-1"]))
    with pytest.raises(_fact_cache.FactCacheError, match="vm-1.*redis down"):
        list(_fact_cache.read_facts(_FailingGetCache(), ["vm-1"]))


class _BytesKeysCache(_FailingCache):
    """A persistent plugin that lists its keys as bytes, like community.general.redis."""

    def __init__(self, keys):
        self._keys = keys

    def keys(self):
        return [key.encode("utf-8") for key in self._keys]


def test_bytes_keys_are_decoded():
    assert _fact_cache.cached_hosts(_BytesKeysCache(["vm-1", "vm-2"])) == ["vm-1", "vm-2"]


def test_bytes_keys_behind_the_core_proxy():
    interposer = pytest.importorskip("ansible._internal._plugins._cache")  # ansible-core >= 2.19
    proxy = interposer.PluginInterposer(_BytesKeysCache([interposer.PluginInterposer._get_key("vm-1"), "stale-layout"]))
    with pytest.raises(TypeError):
        proxy.keys()  # what ansible-core itself does with such a plugin
    assert _fact_cache.cached_hosts(proxy) == ["vm-1"]
