# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise, may change at any time.
"""Where the ``imds.azure.placement`` inventory reads each host's data (controller side only).

Each source yields ``(host, facts)``; ``entry`` reduces one host's facts to what the inventory keeps as
they are read (placement, tags, the whole fact when something needs it, or why the host has none), so the
whole cache is never in memory at once. ``cached_entries`` checks what the inventory cache holds as the
sources' data is checked. Every damaged input (a cache entry, a tree file) costs only its own host.
"""

from __future__ import annotations

import json
import os

from collections.abc import Mapping

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsError
from ansible_collections.imds.azure.plugins.module_utils._placement import check_placement, find_imds_facts, read_fact, unplaced_reason
from ansible_collections.imds.azure.plugins.module_utils._transport import MIB
from ansible_collections.imds.azure.plugins.module_utils._shape import ShapeError, json_type, nesting, tags_mapping
from ansible_collections.imds.azure.plugins.plugin_utils._inventory import fact_cache

SOURCES = ("fact_cache", "tree", "local")
# A --tree result of imds.azure.metadata_facts holds at most a few answers of at most 1 MiB each.
MAX_TREE_FILE = 16 * MIB
MAX_LISTED = 20


def listed(items):
    """``name (why), ...`` for at most MAX_LISTED items, and how many more there are."""
    text = ", ".join("%s (%s)" % item for item in items[:MAX_LISTED])
    return text + (" and %d more" % (len(items) - MAX_LISTED) if len(items) > MAX_LISTED else "")


def read_fact_cache(options, wanted, warn):
    """``(host, facts)`` from the fact cache ``options`` name (fact_cache_* options without the prefix)."""
    cache = fact_cache.open_fact_cache(**options)
    if not fact_cache.is_persistent(cache):
        warn("the fact cache plugin %r keeps nothing between runs, so it holds no facts here; "
             "configure a persistent fact cache (ANSIBLE_CACHE_PLUGIN=jsonfile and ANSIBLE_CACHE_PLUGIN_CONNECTION=DIR) "
             "or set fact_cache_plugin" % (options["plugin"] or fact_cache.configured_plugin_name()))
    return fact_cache.read_facts(cache, wanted)


def _read_tree_file(path):
    """The task result in one --tree file, or an Unusable saying why not."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_TREE_FILE:
                return fact_cache.Unusable("tree file %s is %d bytes, more than the %d MiB a result of "
                                           "imds.azure.metadata_facts can be" % (path, size, MAX_TREE_FILE // MIB))
            result = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        # RecursionError: deeply nested JSON; it costs this file, not the whole source.
        return fact_cache.Unusable("unreadable tree file %s: %s: %s" % (path, type(exc).__name__, to_native(exc)[:200]))
    if not isinstance(result, dict):
        return fact_cache.Unusable("tree file %s does not hold a task result" % path)
    if result.get("unreachable") or result.get("failed"):
        return fact_cache.Unusable("gathering failed: %s" % to_text(result.get("msg", "no message"))[:200])
    return result


def read_tree(tree_dir, wanted):
    """``(host, result)`` from a directory written by ``ansible ... -m imds.azure.metadata_facts --tree DIR``."""
    if not tree_dir:
        raise AnsibleParserError("imds.azure.placement: sources contains 'tree' but tree_dir is not set")
    if not os.path.isdir(tree_dir):
        raise AnsibleParserError("imds.azure.placement: tree_dir %s is not a directory" % tree_dir)
    names = sorted(name for name in os.listdir(tree_dir) if not name.startswith(".")) if wanted is None else wanted
    for name in names:
        path = os.path.join(tree_dir, name)
        if os.path.isfile(path):
            yield name, _read_tree_file(path)


def read_local(params, name, warn):
    """``[(name, facts)]`` from the IMDS endpoint of this machine (``params`` as for metadata_facts)."""
    # Only this source gathers: the client is not imported where the inventory reads caches (every run would pay for it).
    from ansible_collections.imds.azure.plugins.module_utils import _facts  # pylint: disable=import-outside-toplevel
    warnings = []
    try:
        facts = _facts.gather_facts(dict(params, gather_subset=["instance"]), warn=warnings.append)
    except (ImdsError, _facts.FactsError) as exc:
        return [(name, fact_cache.Unusable("IMDS query failed: %s" % to_native(exc)))]
    finally:
        for warning in warnings:
            warn(warning)
    return [(name, {"azure_imds": facts})]


def _shared(mapping, shared):
    """One dict for every host with the same values: a fleet repeats few placements and tags, and 100,000 hosts
    would each keep a copy."""
    return shared.setdefault(tuple(mapping.items()), mapping)


def entry(source, facts, keep_imds, shared):
    """What the inventory keeps of one host's data: placement and tags (and the whole fact when
    needed), or why the host has no usable data. ``shared``: a dict of the placements and tags kept so far."""
    if isinstance(facts, fact_cache.Unusable):
        return {"missing": "%s: %s" % (source, facts.reason)}
    imds = find_imds_facts(facts)
    placement, tags, reason = read_fact(imds)
    if reason:
        return {"missing": "%s: %s" % (source, reason)}
    kept = {"source": source, "placement": _shared(placement, shared), "tags": _shared(tags, shared)}
    if keep_imds:
        try:
            kept["imds"] = nesting(imds, "azure_imds")   # templates (compose...) walk it recursively
        except ShapeError as exc:
            return {"missing": "%s: %s" % (source, exc)}
    return kept


def collect(readers, sources, wanted, keep_imds):
    """{host: entry} for the hosts in ``wanted`` (None: every host the sources know), read from
    ``sources`` in order (``readers``: source -> callable(wanted) yielding ``(host, facts)``). The
    first source with usable data for a host wins."""
    data, shared = {}, {}
    for source in sources:
        pending = None if wanted is None else [name for name in wanted if name not in data or "missing" in data[name]]
        if pending == [] and source != "local":
            continue
        for name, facts in readers[source](pending):
            if name in data and "missing" not in data[name]:
                continue
            data[name] = entry(source, facts, keep_imds, shared)
    for name in wanted or ():
        data.setdefault(name, {"missing": "no IMDS data in %s" % ", ".join(sources)})
    return data


def cached_entries(cached, where, warn):
    """The entries of the inventory cache that the plugin could have written, checked as the sources' data is
    (``{host: entry}``), and the hosts whose entries are damaged; ``(None, [])`` when it holds no entries. Each
    damage is reported, and costs only its own entry: that host is read from the sources again."""
    if not isinstance(cached, Mapping) or not cached:
        warn("%s: the inventory cache holds %s, not this plugin's entries: the inventory is built from "
             "the sources again" % (where, "nothing" if isinstance(cached, Mapping) else json_type(cached)))
        return None, []
    entries, damaged = {}, []
    for name, cached_entry in cached.items():
        try:
            entries[name] = _checked_entry(cached_entry)
        except ShapeError as exc:
            damaged.append((name, str(exc)))
    if damaged:
        warn("%s: %d inventory cache entr%s damaged and read from the sources again: %s" % (
            where, len(damaged), "y is" if len(damaged) == 1 else "ies are", listed(damaged)))
    return entries, [name for name, _why in damaged]


def _checked_entry(cached):
    """An inventory cache entry as ``entry`` makes it, checked by the placement model: ``{"missing": why}`` or
    ``{"source", "placement", "tags"[, "imds"]}``. ShapeError when it is anything else."""
    if not isinstance(cached, Mapping):
        raise ShapeError("the entry", "is %s, not an object" % json_type(cached))
    if list(cached) == ["missing"] and isinstance(cached["missing"], str):
        return dict(cached)
    if cached.get("source") not in SOURCES:
        raise ShapeError("the entry", "names no source (%s)" % ", ".join(SOURCES))
    if "placement" not in cached and isinstance(cached.get("imds"), Mapping):
        # written by versions that kept only the whole fact
        placement, tags, reason = read_fact(cached["imds"])
        if reason:
            raise ShapeError("imds", "does not place the host: %s" % reason)
    else:
        placement, tags = check_placement(cached.get("placement")), tags_mapping(cached.get("tags"))
        if unplaced_reason(placement):
            raise ShapeError("placement", "has no fault_domain")
    checked = {"source": cached["source"], "placement": placement, "tags": tags}
    if "imds" in cached:
        if not isinstance(cached["imds"], Mapping):
            raise ShapeError("imds", "is %s, not an object" % json_type(cached["imds"]))
        checked["imds"] = nesting(cached["imds"], "imds")
    return checked
