# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""The placement and tags model: the one place that says how a VM's placement and tags are read.

``from_fields`` and ``from_compute`` make the ``placement`` and ``tags`` facts from IMDS's
``compute`` object (imds.azure.metadata_facts). ``normalize`` reads them back from an
``azure_imds`` fact (the placement inventory, the spread filter); where the fact lacks them, it
applies the same rules to its ``compute``. ``check_placement`` checks a
placement given on its own (the inventory's ``azure_placement``, the spread filter's input).
Every value goes through the rules of _shape.py, so each is in one canonical form or refused
with a ShapeError: a fault domain is never both ``0`` and ``"0"``, a region never both ``EastUS``
and ``eastus``. ``missing_reason`` and ``unplaced_reason`` say why a fact or a placement does not
place a host.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.imds.azure.plugins.module_utils import _shape
from ansible_collections.imds.azure.plugins.module_utils._shape import ShapeError

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
# The rule of each placement key: the rule of the compute field it comes from.
_RULES = dict((key, _shape.COMPUTE_RULES[fields[0]]) for key, fields in _COMPUTE_FIELDS)

# Why a host whose azure_imds lacks the instance subset's data has no placement.
NOT_GATHERED = "the instance metadata was not gathered (azure_imds has no compute or placement data; gather_subset must include instance)"


def _derived(fields):
    """{placement key: value} for the keys ``fields`` (from ``_shape.compute_fields``) give a value for."""
    placement = {}
    for key, names in _COMPUTE_FIELDS:
        for name in names:   # the first of the names with a value; "" when each one given is ""
            if name in fields and (fields[name] != "" or key not in placement):
                placement[key] = fields[name]
                if fields[name] != "":
                    break
    if not placement.get("scale_set"):
        # Flexible orchestration: vmScaleSetName may be empty while virtualMachineScaleSet.id is set.
        vmss_id = fields.get("virtualMachineScaleSet.id", "").strip("/")
        if vmss_id:
            placement["scale_set"] = vmss_id.rsplit("/", 1)[-1]
    return placement


def from_fields(fields):
    """``(placement, tags)`` facts from checked compute fields (``_shape.compute_fields``): strings, ``""``
    when IMDS did not return the field."""
    derived = _derived(fields)
    return dict((key, derived.get(key, "")) for key in PLACEMENT_KEYS), dict(fields["tags"])


def from_compute(compute):
    """``(placement, tags)`` facts from IMDS's ``compute`` object; ShapeError when a field is not what IMDS sends."""
    return from_fields(_shape.compute_fields(compute))


EMPTY_PLACEMENT = dict.fromkeys(PLACEMENT_KEYS, "")


_PLACEMENT_NAMES = dict((key, "placement." + key) for key in PLACEMENT_KEYS)


def check_placement(placement, field="placement"):
    """A placement summary given on its own, each value checked by its field's rule and in canonical form;
    missing keys are ``""``. ShapeError otherwise."""
    if not isinstance(placement, Mapping):
        raise ShapeError(field, "is %s, not an object" % _shape.json_type(placement))
    names = _PLACEMENT_NAMES if field == "placement" else dict((key, "%s.%s" % (field, key)) for key in PLACEMENT_KEYS)
    checked = {}
    for key in PLACEMENT_KEYS:
        value = placement[key] if key in placement else ""
        # "" (not given, or IMDS sent none) is what every rule accepts as it is
        checked[key] = value if type(value) is str and value == "" else _RULES[key](value, names[key])  # pylint: disable=unidiomatic-typecheck
    return checked


def unplaced_reason(placement, name="the placement"):
    """Why a checked placement (``name``) does not place a host, or None: every placement has a fault domain."""
    return None if placement["fault_domain"] else "%s has no fault_domain (IMDS always sends platformFaultDomain)" % name


def normalize(imds):
    """``(placement, tags)`` of an ``azure_imds`` fact: its ``placement`` and ``tags``, and for what those lack,
    what ``from_compute`` makes of its ``compute`` (so the fallback follows the facts' rules). Where both give a
    value they must agree; ShapeError otherwise, as for any value IMDS never sends."""
    compute = imds.get("compute", {})
    if compute != {}:   # {}: what older versions of the module stored when instance was not gathered
        fields = _shape.compute_fields(compute)
        derived, derived_tags = _derived(fields), fields["tags"] if "tagsList" in compute or "tags" in compute else None
    else:
        derived, derived_tags = {}, None
    if "placement" in imds:
        summary = imds["placement"]
        placement = check_placement(summary)
        for key in PLACEMENT_KEYS:
            if key not in summary:
                placement[key] = derived.get(key, "")
            elif key in derived and derived[key] != placement[key]:
                raise ShapeError("placement.%s" % key, "is %r, but compute says %r: the fact was changed after "
                                 "imds.azure.metadata_facts gathered it" % (placement[key][:40], derived[key][:40]))
    else:
        placement = dict((key, derived.get(key, "")) for key in PLACEMENT_KEYS)
    if "tags" not in imds:
        return placement, derived_tags or {}
    given = imds["tags"]
    if derived_tags is not None and _shape.same_tags(given, derived_tags):
        return placement, dict(given)   # what compute holds, checked once
    tags = _shape.tags_mapping(given)
    if derived_tags is not None and derived_tags != tags:
        raise ShapeError("tags", "differ from the tags in compute: the fact was changed after imds.azure.metadata_facts gathered it")
    return placement, tags


def has_instance_data(imds):
    """True when ``imds`` holds what the ``instance`` subset gathers. A gather without it, or the empty
    ``compute``/``placement`` that older versions of the module stored for such a gather, is not a placement."""
    compute = imds.get("compute")
    placement = imds.get("placement")
    return bool((isinstance(compute, Mapping) and compute)
                or (isinstance(placement, Mapping) and any(value not in ("", None) for value in placement.values())))


def missing_reason(imds):
    """Why ``imds`` (an ``azure_imds`` fact) holds no placement (a short text), or None when it does."""
    if imds is None:
        return "no azure_imds facts"
    if not isinstance(imds, Mapping):
        return "azure_imds is not a dict"
    if imds.get("is_azure") is not True:
        return "is_azure is false" if imds.get("is_azure") is False else "is_azure is %s, not true" % _shape.json_type(imds.get("is_azure"))
    if not has_instance_data(imds):
        return NOT_GATHERED
    return None


def read_fact(imds):
    """``(placement, tags, None)`` from an ``azure_imds`` fact, or ``(None, None, why not)``: no facts, not
    Azure, not gathered, a value IMDS never sends, or no fault domain. The inventory's one rule."""
    reason = missing_reason(imds)
    if reason:
        return None, None, reason
    try:
        placement, tags = normalize(imds)
    except ShapeError as exc:
        return None, None, "azure_imds does not hold what IMDS sends: %s" % exc
    reason = unplaced_reason(placement)
    return (None, None, reason) if reason else (placement, tags, None)


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
