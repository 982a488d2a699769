# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: spread
short_description: Pick N hosts that span as many Azure fault domains and zones as possible
version_added: 0.1.0
author:
  - imds.azure contributors (@imds-azure)
description:
  - Picks O(count) hosts from a list so that they are spread over as many distinct locations,
    availability zones and fault domains as possible, for placing replicas, quorum members or canaries.
  - "Hosts are picked one at a time. Each pick takes the host whose location, then zone, then
    (zone, fault domain) pair, then update domain already holds the fewest picked hosts (levels in
    O(by) order); remaining ties go to the host whose name sorts first. So the picks cover
    min(O(count), number of zones) distinct zones, zones stay balanced, and within that as many
    distinct fault domains as possible are used. A regional VM (zone V(\"\")) counts as its own zone."
  - "Deterministic: the same hosts with the same placement give the same picks, whatever their order."
  - The result keeps the form of the input (hostnames or dicts) and is in pick order, so the first
    element is the best single canary.
positional: _input, count, hostvars
options:
  _input:
    description:
      - The hosts. Either a list of inventory hostnames (then O(hostvars) is required), or a list of
        dicts that carry their own placement.
      - "The placement of a hostname is read from O(hostvars): C(azure_placement) (set by the
        P(imds.azure.placement#inventory) inventory plugin), else C(ansible_facts.azure_imds)
        (after M(imds.azure.metadata_facts)), else C(azure_imds)."
      - "A dict is a host when it has C(name) or C(inventory_hostname), and its placement in
        C(azure_placement), C(ansible_facts.azure_imds), C(azure_imds) or C(placement)."
      - "An C(azure_imds) fact gives a placement only when it holds instance metadata, as in the
        P(imds.azure.placement#inventory) inventory, and it decides first: a host whose facts do not say C(is_azure=true)
        has no placement whatever its other variables hold, and one whose facts were gathered without the C(instance)
        subset has none from them (the error names the reason), never the empty placement V(\"\")."
      - "Every placement is checked and normalised by the collection's placement model: V(0) and V(\"0\") are one
        fault domain, V(EastUS) and V(eastus) one region; a value IMDS never sends (V(0.0), V(\" 0\"), a list, V(true))
        is an error naming the host. A placement without a fault domain (V({})) places nothing."
    type: list
    elements: raw
    required: true
  count:
    description:
      - How many hosts to pick. An error when it exceeds the number of hosts.
      - A whole number; a string or a float that holds one (V("3"), V(3.0)) is accepted. Anything else, such as V(2.7),
        is an error, never rounded.
    type: int
    required: true
  hostvars:
    description:
      - The C(hostvars) magic variable (or any mapping of hostname to variables). Needed for hostnames.
      - Anything that is not a mapping (a list, a string) is an error.
    type: dict
  by:
    description: Placement levels to spread over, most important first.
    type: list
    elements: string
    choices: [location, zone, fault_domain, update_domain]
    default: [location, zone, fault_domain, update_domain]
  allow_missing:
    description:
      - What to do with hosts that have no placement. V(false) fails and lists them, each with the reason when it has
        C(azure_imds) facts. V(true) picks them only after every host with a known placement.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Three database replicas in three different fault domains / zones
  ansible.builtin.debug:
    msg: "{{ groups['db'] | imds.azure.spread(3, hostvars) }}"

- name: One canary per zone (hosts of the web group)
  ansible.builtin.group_by:
    key: canary
  when: inventory_hostname in canaries
  vars:
    zone_count: "{{ groups['web'] | map('extract', hostvars, ['azure_placement', 'zone']) | unique | length }}"
    canaries: "{{ groups['web'] | imds.azure.spread(zone_count | int, hostvars, by=['zone']) }}"

- name: From dicts that carry their placement
  ansible.builtin.debug:
    msg: "{{ nodes | imds.azure.spread(2) | map(attribute='name') }}"
  vars:
    nodes:
      - {name: a, placement: {zone: "1", fault_domain: "0"}}
      - {name: b, placement: {zone: "1", fault_domain: "1"}}
      - {name: c, placement: {zone: "2", fault_domain: "0"}}
"""

RETURN = r"""
_value:
  description: The picked hosts, in pick order, in the form of the input (hostnames or dicts).
  type: list
  elements: raw
"""

import re

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.imds.azure.plugins.module_utils._placement import (
    NOT_GATHERED, PLACEMENT_LEVELS, check_placement, missing_reason, normalize, unplaced_reason,
)
from ansible_collections.imds.azure.plugins.module_utils._shape import ShapeError

MAX_LISTED = 20
_WHOLE_NUMBER = re.compile(r"^\s*[+-]?[0-9]+\s*$")


def _get(mapping, *path):
    value = mapping
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _facts(variables):
    """The host's ``azure_imds`` fact (``ansible_facts.azure_imds``, else the injected ``azure_imds``), or None."""
    for path in (("ansible_facts", "azure_imds"), ("azure_imds",)):
        value = _get(variables, *path)
        if value is not None:
            return value
    return None


def _placement_from_vars(host, variables, own_placement):
    """(placement, None), or (None, why) when there is none. The host's ``azure_imds`` facts decide first: a host
    they say is not Azure has no placement, whatever its other variables hold. Then ``azure_placement`` (the
    placement inventory), the facts' placement and, for a dict of the input (``own_placement``), its ``placement``.
    Every placement is checked and normalised by the placement model: a value IMDS never sends is an error,
    never a placement of its own."""
    facts = _facts(variables)
    reason = missing_reason(facts) if facts is not None else None
    if reason is not None and reason != NOT_GATHERED:
        return None, reason
    candidates = [("azure_placement", _get(variables, "azure_placement"))]
    if facts is not None and reason is None:
        candidates.append(("azure_imds", facts))
    if own_placement:
        candidates.append(("placement", _get(variables, "placement")))
    for source, value in candidates:
        if value is None:
            continue
        try:
            placement = normalize(value)[0] if source == "azure_imds" else check_placement(value, source)
        except ShapeError as exc:
            raise AnsibleFilterError("spread: host %s: %s: the collection cannot vouch for this placement" % (host, exc)) from None
        why = unplaced_reason(placement, source)
        return (None, why) if why else (placement, None)
    return None, reason


def _hosts(items, hostvars):
    """[(name, placement or None, why there is none or None, original item)]"""
    out = []
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            name = item.get("name", item.get("inventory_hostname"))
            if name is None:
                raise AnsibleFilterError("spread: item %d is a dict without 'name' or 'inventory_hostname'" % index)
            placement, why = _placement_from_vars(name, item, True)
            if placement is None and why is None and hostvars is not None:
                placement, why = _placement_from_vars(name, _host_vars(hostvars, str(name)), False)
        elif isinstance(item, str):
            name = item
            if hostvars is None:
                raise AnsibleFilterError("spread: the hosts are names, so pass hostvars: hosts | imds.azure.spread(%s, hostvars)" % "N")
            placement, why = _placement_from_vars(name, _host_vars(hostvars, name), False)
        else:
            raise AnsibleFilterError("spread: item %d is a %s; expected a hostname or a dict" % (index, type(item).__name__))
        out.append((str(name), placement, why, item))
    return out


def _host_vars(hostvars, name):
    try:
        return hostvars[name]
    except KeyError:
        return {}


def _count(count):
    """``count`` as an int: a whole number, or a string of one; anything else is refused, never rounded."""
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    if isinstance(count, float) and count.is_integer():
        return int(count)
    if isinstance(count, str) and _WHOLE_NUMBER.match(count):
        return int(count)
    shown = repr(count) if isinstance(count, (str, float, int)) else type(count).__name__
    raise AnsibleFilterError("spread: count must be an integer, got %s (a count is never rounded)" % shown[:40])


def spread(hosts, count, hostvars=None, by=None, allow_missing=False):
    """Pick ``count`` hosts spread over locations, zones, fault domains and update domains."""
    if isinstance(hosts, (str, bytes, Mapping)) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("spread: expected a list of hosts, got %s" % type(hosts).__name__)
    count = _count(count)
    if hostvars is not None and not isinstance(hostvars, Mapping):
        raise AnsibleFilterError("spread: hostvars must be a mapping of hostname to variables (pass the hostvars variable), got %s"
                                 % type(hostvars).__name__)
    if isinstance(by, (str, bytes, Mapping)) or (by is not None and not hasattr(by, "__iter__")):
        raise AnsibleFilterError("spread: 'by' must be a non-empty list of %s; got %s" % (", ".join(PLACEMENT_LEVELS), type(by).__name__))
    levels = list(PLACEMENT_LEVELS if by is None else by)
    bad = [level for level in levels if not isinstance(level, str) or level not in PLACEMENT_LEVELS]
    if bad or not levels:
        raise AnsibleFilterError("spread: 'by' must be a non-empty list of %s; got %r" % (", ".join(PLACEMENT_LEVELS), by))
    try:
        allow_missing = boolean(allow_missing, strict=True)
    except TypeError:
        raise AnsibleFilterError("spread: allow_missing must be true or false, got %s" % type(allow_missing).__name__) from None
    entries = _hosts(list(hosts), hostvars)
    names = [entry[0] for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1}) if len(set(names)) != len(names) else []
    if duplicates:
        raise AnsibleFilterError("spread: hosts listed more than once: %s" % ", ".join(duplicates))
    if count < 0:
        raise AnsibleFilterError("spread: count must not be negative, got %d" % count)
    if count > len(entries):
        raise AnsibleFilterError("spread: cannot pick %d hosts from %d" % (count, len(entries)))
    missing = sorted((name, why) for name, placement, why, _item in entries if placement is None)
    if missing and not allow_missing:
        listed = ", ".join(name if why is None else "%s (%s)" % (name, why) for name, why in missing[:MAX_LISTED])
        more = " and %d more" % (len(missing) - MAX_LISTED) if len(missing) > MAX_LISTED else ""
        raise AnsibleFilterError("spread: no placement for %s%s; gather it with imds.azure.metadata_facts or the imds.azure.placement "
                                 "inventory, pass hostvars, or set allow_missing=true" % (listed, more))

    # Each host's bucket at each level: a level's bucket includes the buckets above it, so
    # fault domain 0 of zone 1 and fault domain 0 of zone 2 are different buckets.
    candidates = []
    for name, placement, _why, item in entries:
        keys = []
        path = ()
        for level in levels:
            value = placement[level] if placement is not None else ""
            path = path + (value,)
            keys.append(path if level != "update_domain" else (value,))
        candidates.append((placement is None, name, keys, item))
    candidates.sort(key=lambda entry: (entry[0], entry[1]))

    counts = [dict() for _level in levels]
    picked = []
    remaining = candidates
    for _round in range(count):
        best_index = None
        best_key = None
        for index, (unknown, name, keys, _item) in enumerate(remaining):
            rank = (unknown,) + tuple(counts[level].get(key, 0) for level, key in enumerate(keys)) + (name,)
            if best_key is None or rank < best_key:
                best_key, best_index = rank, index
        unknown, name, keys, item = remaining.pop(best_index)
        for level, key in enumerate(keys):
            counts[level][key] = counts[level].get(key, 0) + 1
        picked.append(item)
    return picked


class FilterModule:
    """imds.azure placement filters."""

    def filters(self):
        return {"spread": spread}
