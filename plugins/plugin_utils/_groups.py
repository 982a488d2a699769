# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise, may change at any time.
"""The built-in group names of the ``imds.azure.placement`` inventory (controller side only).

The placement and tags they are made from come from the model in module_utils/_placement.py.
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
}
DIMENSION_ORDER = ("fault_domain", "update_domain", "zone", "location", "vm_size", "scale_set", "priority", "tags")

# Value used in group names when IMDS has no value for a dimension (regional VM: zone "").
NONE_VALUE = "none"

_NUMBERS = re.compile(r"([0-9]+)")


@functools.lru_cache(maxsize=65536)
def safe_group_name(name):
    """Ansible's group-name sanitising, always applied: every character that is not valid in a
    Python identifier (and a leading digit) becomes ``_``. Remembered: a fleet has few distinct
    names and each host asks for a dozen."""
    return to_safe_group_name(name, force=True, silent=True)


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
        value = placement.get(dimension, "")
        group = safe_group_name("%s%s_%s" % (prefix, dimension, value if value != "" else NONE_VALUE))
        pairs.append((safe_group_name(prefix + PARENT_SUFFIXES[dimension]), group))
    return pairs


def natural_key(name):
    """Sort key that puts numbers in numeric order: azure_fault_domain_2 before azure_fault_domain_10.
    Text and numbers alternate in the key, so any two names compare; the name itself breaks ties (7 and 07)."""
    parts = _NUMBERS.split(name)
    return [int(part) if index % 2 else part for index, part in enumerate(parts)], name
