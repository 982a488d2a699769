# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise, may change at any time.
"""Placement data and grouping rules shared by the ``imds.azure.placement`` inventory plugin
and the ``imds.azure.spread`` filter (controller side only)."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from ansible.inventory.group import to_safe_group_name

PLACEMENT_KEYS = ("location", "zone", "fault_domain", "update_domain", "sub_fault_domain", "scale_set", "placement_group", "vm_size", "priority")

# dimension name -> (placement key, group infix, parent group suffix)
DIMENSIONS = {
    "fault_domain": ("fault_domain", "fault_domain", "fault_domains"),
    "update_domain": ("update_domain", "update_domain", "update_domains"),
    "zone": ("zone", "zone", "zones"),
    "location": ("location", "location", "locations"),
    "vm_size": ("vm_size", "vm_size", "vm_sizes"),
    "scale_set": ("scale_set", "scale_set", "scale_sets"),
    "priority": ("priority", "priority", "priorities"),
}
DIMENSION_ORDER = ("fault_domain", "update_domain", "zone", "location", "vm_size", "scale_set", "priority", "tags")

# Value used in group names when IMDS has no value for a dimension (regional VM: zone "").
NONE_VALUE = "none"

# Why a host whose azure_imds lacks the instance subset's data is not placed.
NOT_GATHERED = "the instance metadata was not gathered (azure_imds has no compute or placement data; gather_subset must include instance)"

# compute field -> placement key, for facts that lack the ``placement`` summary.
_COMPUTE_FIELDS = {
    "location": "location",
    "zone": "zone",
    "fault_domain": "platformFaultDomain",
    "update_domain": "platformUpdateDomain",
    "sub_fault_domain": "platformSubFaultDomain",
    "scale_set": "vmScaleSetName",
    "placement_group": "placementGroupId",
    "vm_size": "vmSize",
    "priority": "priority",
}


class PlacementDataError(ValueError):
    """The data given for a host is not usable IMDS data."""


@functools.lru_cache(maxsize=65536)
def safe_group_name(name):
    """Ansible's group-name sanitising, always applied: every character that is not valid in a
    Python identifier (and a leading digit) becomes ``_``. Remembered: a fleet has few distinct
    names and each host asks for a dozen."""
    return to_safe_group_name(name, force=True, silent=True)


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def find_imds_facts(facts):
    """The ``azure_imds`` dict inside one host's facts, as a fact cache or a ``--tree`` result
    holds them; None when absent."""
    for layer in (facts, facts.get("ansible_facts") if isinstance(facts, Mapping) else None):
        if not isinstance(layer, Mapping):
            return None
        for key in ("azure_imds", "ansible_azure_imds"):
            value = layer.get(key)
            if isinstance(value, Mapping):
                return value
    return None


def normalize_placement(imds):
    """The nine-key placement summary (strings, "" when absent) from an ``azure_imds`` fact."""
    placement = imds.get("placement") if isinstance(imds, Mapping) else None
    compute = imds.get("compute") if isinstance(imds, Mapping) else None
    out = {}
    for key in PLACEMENT_KEYS:
        value = None
        if isinstance(placement, Mapping):
            value = placement.get(key)
        if value is None and isinstance(compute, Mapping):
            value = compute.get(_COMPUTE_FIELDS[key])
        out[key] = _text(value)
    return out


def normalize_tags(imds):
    """Tags as a name -> value dict (``tags`` fact, else ``compute.tagsList``)."""
    tags = imds.get("tags") if isinstance(imds, Mapping) else None
    if isinstance(tags, Mapping):
        return {_text(k): _text(v) for k, v in tags.items()}
    compute = imds.get("compute") if isinstance(imds, Mapping) else None
    out = {}
    if isinstance(compute, Mapping) and isinstance(compute.get("tagsList"), list):
        for item in compute["tagsList"]:
            if isinstance(item, Mapping) and "name" in item:
                out[_text(item["name"])] = _text(item.get("value"))
    return out


def missing_reason(imds):
    """Why ``imds`` cannot be used for placement (a short text), or None when it can."""
    if imds is None:
        return "no azure_imds facts"
    if not isinstance(imds, Mapping):
        return "azure_imds is not a dict"
    if imds.get("is_azure") is False:
        return "is_azure is false"
    if not has_instance_data(imds):
        return NOT_GATHERED
    return None


def has_instance_data(imds):
    """True when ``imds`` holds what the ``instance`` subset gathers. A gather without it, or the empty
    ``compute``/``placement`` that older versions of the module stored for such a gather, is not a placement."""
    compute = imds.get("compute")
    placement = imds.get("placement")
    return bool((isinstance(compute, Mapping) and compute)
                or (isinstance(placement, Mapping) and any(_text(value) for value in placement.values())))


def host_groups(placement, tags, prefix="azure_", dimensions=DIMENSION_ORDER):
    """The built-in groups of one host: a list of ``(parent_group, group)`` pairs, names
    sanitised. Tags give ``<prefix>tag_<name>`` (parent ``<prefix>tags``) and, for a
    non-empty value, ``<prefix>tag_<name>_<value>`` (parent ``<prefix>tag_<name>``)."""
    pairs = []
    for dimension in dimensions:
        if dimension == "tags":
            for name in sorted(tags):
                name_group = safe_group_name("%stag_%s" % (prefix, name))
                pairs.append((safe_group_name("%stags" % prefix), name_group))
                value = tags[name]
                if value != "":
                    pairs.append((name_group, safe_group_name("%stag_%s_%s" % (prefix, name, value))))
            continue
        key, infix, parent = DIMENSIONS[dimension]
        value = placement.get(key, "")
        group = safe_group_name("%s%s_%s" % (prefix, infix, value if value != "" else NONE_VALUE))
        pairs.append((safe_group_name(prefix + parent), group))
    return pairs
