# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""The placement and tags model: the one place that says how a VM's placement and tags are read.

``build_placement`` and ``build_tags`` make the ``placement`` and ``tags`` facts from IMDS's
``compute`` object (imds.azure.metadata_facts). ``normalize_placement`` and ``normalize_tags``
read them back from an ``azure_imds`` fact (the placement inventory, the spread filter); where
the fact lacks them, they apply the same rules to its ``compute``. ``missing_reason`` says why a
fact holds no placement at all.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.imds.azure.plugins.module_utils._documents import as_text

# placement key -> compute fields tried in order
_COMPUTE_FIELDS = (
    ("location", ("location",)),
    ("zone", ("zone",)),
    ("fault_domain", ("platformFaultDomain",)),
    ("update_domain", ("platformUpdateDomain",)),
    ("sub_fault_domain", ("platformSubFaultDomain",)),
    ("scale_set", ("vmScaleSetName",)),
    ("placement_group", ("placementGroupId",)),
    ("vm_size", ("vmSize",)),
    ("priority", ("priority", "Priority")),
)
# The keys of the placement summary, in the order the docs list them.
PLACEMENT_KEYS = tuple(key for key, _fields in _COMPUTE_FIELDS)
# The levels a VM is placed at, outermost first (the spread filter's default order).
PLACEMENT_LEVELS = ("location", "zone", "fault_domain", "update_domain")

# Why a host whose azure_imds lacks the instance subset's data has no placement.
NOT_GATHERED = "the instance metadata was not gathered (azure_imds has no compute or placement data; gather_subset must include instance)"


def build_placement(compute):
    """The ``placement`` fact: strings, ``""`` when IMDS did not return the field."""
    compute = compute if isinstance(compute, Mapping) else {}
    placement = {}
    for key, fields in _COMPUTE_FIELDS:
        value = ""
        for field in fields:
            if compute.get(field) not in (None, ""):
                value = as_text(compute[field])
                break
        placement[key] = value
    if not placement["scale_set"]:
        # Flexible orchestration: vmScaleSetName may be empty while virtualMachineScaleSet.id is set.
        vmss = compute.get("virtualMachineScaleSet")
        vmss_id = vmss.get("id") if isinstance(vmss, Mapping) else None
        if isinstance(vmss_id, str) and vmss_id.strip("/"):
            placement["scale_set"] = vmss_id.rstrip("/").rsplit("/", 1)[-1]
    return placement


def parse_tags_string(text):
    """Parse the legacy ``compute.tags`` string (``name:value;name:value``) into a dict.

    The format is ambiguous: a value that contains ``;`` cannot be told apart from a new tag.
    A piece without ``:`` is taken as the continuation of the previous value (so ``a:x;y``
    gives ``{"a": "x;y"}``), but ``a:x;b:y`` is always two tags. Use an api_version of
    2019-06-04 or newer to get the unambiguous ``tagsList``.
    """
    tags = {}
    last = None
    if not isinstance(text, str) or not text:
        return tags
    for piece in text.split(";"):
        if ":" in piece:
            name, value = piece.split(":", 1)
            tags[name] = value
            last = name
        elif last is not None:
            tags[last] = tags[last] + ";" + piece
        elif piece:
            tags[piece] = ""
            last = piece
    return tags


def build_tags(compute):
    """The ``tags`` fact: a dict from ``tagsList`` when present, else from the ``tags`` string."""
    compute = compute if isinstance(compute, Mapping) else {}
    tags_list = compute.get("tagsList")
    if isinstance(tags_list, list):
        tags = {}
        for item in tags_list:
            if isinstance(item, Mapping) and "name" in item:
                tags[as_text(item["name"])] = as_text(item.get("value"))
        return tags
    return parse_tags_string(compute.get("tags"))


def normalize_placement(imds):
    """The placement summary of an ``azure_imds`` fact: its ``placement``, and for the keys that lacks,
    what ``build_placement`` makes of its ``compute`` (so the fallback follows the facts' rules)."""
    placement = imds.get("placement") if isinstance(imds, Mapping) else None
    if not isinstance(placement, Mapping):
        placement = {}
    values = [placement.get(key) for key in PLACEMENT_KEYS]
    if None in values:
        derived = build_placement(imds.get("compute") if isinstance(imds, Mapping) else None)
        values = [derived[key] if value is None else value for key, value in zip(PLACEMENT_KEYS, values)]
    return {key: as_text(value) for key, value in zip(PLACEMENT_KEYS, values)}


def normalize_tags(imds):
    """The tags of an ``azure_imds`` fact: its ``tags``, else what ``build_tags`` makes of its ``compute``."""
    tags = imds.get("tags") if isinstance(imds, Mapping) else None
    if isinstance(tags, Mapping):
        return {as_text(name): as_text(value) for name, value in tags.items()}
    return build_tags(imds.get("compute") if isinstance(imds, Mapping) else None)


def has_instance_data(imds):
    """True when ``imds`` holds what the ``instance`` subset gathers. A gather without it, or the empty
    ``compute``/``placement`` that older versions of the module stored for such a gather, is not a placement."""
    compute = imds.get("compute")
    placement = imds.get("placement")
    return bool((isinstance(compute, Mapping) and compute)
                or (isinstance(placement, Mapping) and any(as_text(value) for value in placement.values())))


def missing_reason(imds):
    """Why ``imds`` (an ``azure_imds`` fact) holds no placement (a short text), or None when it does."""
    if imds is None:
        return "no azure_imds facts"
    if not isinstance(imds, Mapping):
        return "azure_imds is not a dict"
    if imds.get("is_azure") is False:
        return "is_azure is false"
    if not has_instance_data(imds):
        return NOT_GATHERED
    return None


def find_imds_facts(facts):
    """The ``azure_imds`` fact inside one host's facts, as a fact cache (``azure_imds`` or the injected
    ``ansible_azure_imds``) or a ``--tree`` result (under ``ansible_facts``) holds it; None when absent."""
    for layer in (facts, facts.get("ansible_facts") if isinstance(facts, Mapping) else None):
        if not isinstance(layer, Mapping):
            return None
        for key in ("azure_imds", "ansible_azure_imds"):
            value = layer.get(key)
            if isinstance(value, Mapping):
                return value
    return None
