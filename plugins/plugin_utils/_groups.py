# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise, may change at any time.
"""The built-in group names of the ``imds.azure.placement`` inventory (controller side only).

The placement and tags they are made from come from the model in module_utils/_placement.py.
Sanitising makes names that are easy to use but lossy (``a-b`` and ``a.b`` both give ``a_b``), so
a name may stand for two different values; ``GroupPlan`` finds every such name among the hosts of
one run, so that the inventory creates none of them. ``reserved_host_name`` says which host names
the inventory must not use, because a host of that name would take a group's variables.
"""

from __future__ import annotations

import functools
import re

from ansible.inventory.group import to_safe_group_name

# dimension (a placement key, or "tags") -> suffix of its parent group
PARENT_SUFFIXES = {
    "fault_domain": "fault_domains",
    "update_domain": "update_domains",
    "zone": "zones",
    "location": "locations",
    "vm_size": "vm_sizes",
    "scale_set": "scale_sets",
    "priority": "priorities",
    "tags": "tags",
}
DIMENSION_ORDER = ("fault_domain", "update_domain", "zone", "location", "vm_size", "scale_set", "priority", "tags")

# Value used in group names when IMDS has no value for a dimension (regional VM: zone "").
NONE_VALUE = "none"
# Ansible's own groups: every host is in them.
CORE_GROUPS = ("all", "ungrouped")
MAX_LISTED = 20

_NUMBERS = re.compile(r"([0-9]+)")


@functools.lru_cache(maxsize=65536)
def safe_group_name(name):
    """Ansible's group-name sanitising, always applied: every character that is not valid in a
    Python identifier (and a leading digit) becomes ``_``. Remembered: a fleet has few distinct
    names and each host asks for a dozen."""
    return to_safe_group_name(name, force=True, silent=True)


def _meanings(placement, tags, dimensions):
    """What each built-in group of one host stands for: ``(dimension, value)``, ``("tag", name)`` or ``("tag", name, value)``."""
    for dimension in dimensions:
        if dimension != "tags":
            yield dimension, placement.get(dimension, "")
            continue
        for name in sorted(tags):
            yield "tag", name
            if tags[name] != "":
                yield "tag", name, tags[name]


def _name(meaning, prefix):
    """``(parent_group, group)`` of a meaning, names sanitised."""
    if meaning[0] != "tag":
        dimension, value = meaning
        return (safe_group_name(prefix + PARENT_SUFFIXES[dimension]),
                safe_group_name("%s%s_%s" % (prefix, dimension, value if value != "" else NONE_VALUE)))
    name_group = safe_group_name("%stag_%s" % (prefix, meaning[1]))
    if len(meaning) == 2:
        return safe_group_name(prefix + PARENT_SUFFIXES["tags"]), name_group
    return name_group, safe_group_name("%stag_%s_%s" % (prefix, meaning[1], meaning[2]))


def host_groups(placement, tags, prefix="azure_", dimensions=DIMENSION_ORDER):
    """The built-in groups of one host: a list of ``(parent_group, group, meaning)``, names sanitised;
    ``meaning`` is what the group stands for: ``(dimension, value)``, ``("tag", name)`` or ``("tag", name,
    value)``. Tags give ``<prefix>tag_<name>`` (parent ``<prefix>tags``) and, for a non-empty value,
    ``<prefix>tag_<name>_<value>`` (parent ``<prefix>tag_<name>``)."""
    return [_name(meaning, prefix) + (meaning,) for meaning in _meanings(placement, tags, dimensions)]


@functools.lru_cache(maxsize=16)
def _group_forms(prefix):
    """The fixed names of the groups the plugin makes with ``prefix``, and the stems of the others."""
    fixed = frozenset([safe_group_name(prefix + "no_imds")] + [safe_group_name(prefix + suffix) for suffix in PARENT_SUFFIXES.values()])
    stems = tuple(safe_group_name(prefix + stem + "_x")[:-1] for stem in [dimension for dimension in PARENT_SUFFIXES if dimension != "tags"] + ["tag"])
    return fixed, stems


def reserved_host_name(name, prefix, existing_groups):
    """Why ``name`` cannot be a host of this inventory (a short text), or None.

    ansible-core looks a name up among the groups before the hosts when it sets a variable, so a
    host named ``all``, like a group of the inventory or like a group this plugin makes or could
    make (``<prefix>no_imds``, ``<prefix>fault_domain_<n>``, ``<prefix>tag_<name>``...), would give
    its variables to that group and so to every host in it.
    """
    if not name:
        return "an empty host name"
    if name in CORE_GROUPS or name in existing_groups:
        return "the name of the group %s" % name
    if safe_group_name(name) != name:
        return None   # the plugin's group names are always sanitised
    fixed, stems = _group_forms(prefix)
    if name in fixed or name.startswith(stems):
        return "a name of the form of the groups this inventory makes (group_prefix %r)" % prefix
    return None


def _describe(meaning):
    if meaning[0] == "tag":
        return "tag %r" % meaning[1] if len(meaning) == 2 else "tag %r = %r" % meaning[1:]
    return "%s %r" % meaning


class GroupPlan(object):
    """The built-in groups of the hosts of one run, collected before any is created, so that a name that
    would stand for two different values (``tier=db-primary`` and ``tier=db.primary``; tag ``x=y`` and tag
    ``x_y``) is found whichever hosts and sources it comes from. Each meaning is named once; memory: one
    entry per distinct meaning, and one host name per membership."""

    def __init__(self, prefix="azure_", dimensions=DIMENSION_ORDER):
        self._prefix = prefix
        self._dimensions = tuple(dimensions)
        self._named = {}      # meaning -> group
        self._meanings = {}   # group -> {meaning: first host}
        self.parents = {}     # group -> its parent group
        self.members = {}     # group -> [host, ...] in the order the hosts were added

    def add(self, host, placement, tags):
        named = self._named
        for meaning in _meanings(placement, tags, self._dimensions):
            group = named.get(meaning)
            if group is None:
                group = named[meaning] = self._new(meaning, host)
            self.members[group].append(host)

    def _new(self, meaning, host):
        parent, group = _name(meaning, self._prefix)
        self._meanings.setdefault(group, {})[meaning] = host
        self.parents.setdefault(group, parent)
        self.members.setdefault(group, [])
        return group

    def ambiguous(self):
        """The names that stand for more than one value: ``{group: {meaning: first host}}``."""
        return dict((group, meanings) for group, meanings in self._meanings.items() if len(meanings) > 1)

    def warning(self, ambiguous):
        """The text of the warning for ``ambiguous`` (the result of ``ambiguous()``), or None."""
        if not ambiguous:
            return None
        listed = ["%s (%s)" % (group, "; ".join("%s: %s" % (_describe(meaning), host) for meaning, host in sorted(meanings.items())))
                  for group, meanings in sorted(ambiguous.items())[:MAX_LISTED]]
        more = " and %d more" % (len(ambiguous) - MAX_LISTED) if len(ambiguous) > MAX_LISTED else ""
        return ("%d group name(s) would hold hosts of different values, so they are not created (sanitising makes every character "
                "that is not a letter, digit or _ a _): %s%s" % (len(ambiguous), ", ".join(listed), more))


def natural_key(name):
    """Sort key that puts numbers in numeric order: azure_fault_domain_2 before azure_fault_domain_10.
    Text and numbers alternate in the key, so any two names compare; the name itself breaks ties (7 and 07)."""
    parts = _NUMBERS.split(name)
    return [int(part) if index % 2 else part for index, part in enumerate(parts)], name
