# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: rolling_batches
short_description: Split hosts into one batch per Azure update domain (or fault domain, zone, location), in order
version_added: 0.2.0
author:
  - imds.azure contributors (@imds-azure)
description:
  - Splits a list of hosts into batches, one per update domain (O(by)), in ascending order, so that one play can roll
    a change out one update domain at a time. The play lists the batches one after the other in C(hosts) and gives
    their sizes as C(serial); see the example.
  - "The placement comes from the groups of the P(imds.azure.placement#inventory) inventory, read from the C(groups)
    variable: C(azure_update_domain_0), C(azure_update_domain_1)... (O(group_prefix), O(by)). The groups, not
    C(hostvars), because a play's C(hosts) and C(serial) are worked out before the play runs, when Ansible has not
    made C(hostvars) yet."
  - "Order: numbered domains and zones in numeric order (update domain 2 before 10); other names (locations) after
    them, sorted; the zone of regional VMs (C(azure_zone_none)) last. Within a batch, hosts are sorted by name."
  - "Refuses, rather than guessing: a host that is in no such group (no IMDS data, see C(azure_no_imds)), in more
    than one, or in the C(none) group of a dimension where that means no value (update domain, fault domain,
    location); a host listed twice (Ansible would drop the second, and the batch sizes would no longer match the
    hosts); an update or fault domain group whose name does not end in a number."
positional: _input, groups, by
options:
  _input:
    description:
      - The hosts, as inventory hostnames, for example C(groups['web']).
      - "With C(--limit), pass only the hosts the limit leaves, or the batch sizes will not match the hosts Ansible
        runs: in a play's C(hosts) and C(serial), C(ansible_play_hosts_all) is every host the limit leaves, so
        C(groups['web'] | intersect(ansible_play_hosts_all)) (see the example)."
    type: list
    elements: string
    required: true
  groups:
    description: The C(groups) variable (or any mapping of group name to a list of hostnames).
    type: dict
    required: true
  by:
    description: The placement level that makes a batch.
    type: string
    choices: [update_domain, fault_domain, zone, location]
    default: update_domain
  group_prefix:
    description: The O(imds.azure.placement#inventory:group_prefix) of the P(imds.azure.placement#inventory) inventory.
    type: string
    default: azure_
"""

EXAMPLES = r"""
# One play, one batch per update domain; a failed or unreachable host ends the roll.
# (max_fail_percentage: 0 alone would let the next update domain start after an unreachable host.)
- name: Roll the change out one update domain at a time
  hosts: "{{ rolling_batches | flatten }}"
  serial: "{{ rolling_batches | map('length') | list }}"
  any_errors_fatal: true
  gather_facts: false
  vars:
    # the hosts of the group web that --limit leaves, one list per update domain
    rolling_batches: "{{ groups['web'] | intersect(ansible_play_hosts_all) | imds.azure.rolling_batches(groups, 'update_domain') }}"
  tasks:
    - name: Never more than one update domain at once
      ansible.builtin.assert:
        that: ansible_play_batch | imds.azure.rolling_batches(groups, 'update_domain') | length == 1
      run_once: true

    - name: Apply the change
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} is in {{ group_names | select('match', '^azure_update_domain_') | first }}"

- name: Show the batches
  hosts: localhost
  gather_facts: false
  tasks:
    - name: "[['web-02', 'web-05'], ['web-01'], ['web-03', 'web-04']] for update domains 0, 1 and 3, for example"
      ansible.builtin.debug:
        msg: "{{ groups['web'] | imds.azure.rolling_batches(groups) }}"

- name: One availability zone at a time, regional VMs last
  hosts: "{{ zone_batches | flatten }}"
  serial: "{{ zone_batches | map('length') | list }}"
  any_errors_fatal: true
  gather_facts: false
  vars:
    zone_batches: "{{ groups['web'] | intersect(ansible_play_hosts_all) | imds.azure.rolling_batches(groups, 'zone') }}"
  tasks:
    - name: Apply the change
      ansible.builtin.debug:
        msg: "{{ ansible_play_batch }}"
"""

RETURN = r"""
_value:
  description: One list of hostnames per value of O(by), in rolling order. Empty when O(_input) is.
  type: list
  elements: list
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.imds.azure.plugins.module_utils._placement import PLACEMENT_LEVELS
from ansible_collections.imds.azure.plugins.plugin_utils._groups import NONE_VALUE, natural_key, safe_group_name

# Dimensions whose "none" group holds hosts without a value: they cannot be placed in a batch.
# A regional VM's zone "" is a value (zone "none", rolled last).
_NONE_IS_MISSING = ("update_domain", "fault_domain", "location")
_NUMBERED = ("update_domain", "fault_domain")
MAX_LISTED = 20


def _fail(message):
    raise AnsibleFilterError("rolling_batches: %s" % message)


def _is_number(value):
    return value.isascii() and value.isdigit()


def _value_order(value):
    """Numbers first, in numeric order, then other names, then "none"."""
    return (value == NONE_VALUE, not _is_number(value), natural_key(value))


def _listed(items):
    more = " and %d more" % (len(items) - MAX_LISTED) if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def rolling_batches(hosts, groups, by="update_domain", group_prefix="azure_"):
    """One list of ``hosts`` per ``by`` value, in rolling order, read from the placement inventory's groups."""
    if isinstance(hosts, (str, bytes, Mapping)) or not hasattr(hosts, "__iter__"):
        _fail("expected a list of hostnames, got %s" % type(hosts).__name__)
    hosts = list(hosts)
    bad = [host for host in hosts if not isinstance(host, str)]
    if bad:
        _fail("expected hostnames, got %s" % type(bad[0]).__name__)
    if not isinstance(groups, Mapping):
        _fail("groups must be the groups variable (a mapping of group name to hostnames), got %s" % type(groups).__name__)
    if by not in PLACEMENT_LEVELS:
        _fail("'by' must be one of %s, got %r" % (", ".join(PLACEMENT_LEVELS), by))
    if not isinstance(group_prefix, str):
        _fail("group_prefix must be a string, got %s" % type(group_prefix).__name__)
    seen = set()
    twice = sorted({host for host in hosts if host in seen or seen.add(host)})
    if twice:
        _fail("hosts listed more than once: %s" % _listed(twice))
    if not hosts:
        return []

    head = safe_group_name("%s%s_" % (group_prefix, by))
    value_of = {}
    found = False
    for group, members in groups.items():
        if not isinstance(group, str) or not group.startswith(head) or isinstance(members, (str, bytes, Mapping)):
            continue
        found = True
        value = group[len(head):]
        for host in members if hasattr(members, "__iter__") else ():
            if host in seen:
                value_of.setdefault(host, []).append(value)
    if not found:
        _fail("no group is named %s<value>: list the imds.azure.placement inventory with group_by including %s (and this "
              "group_prefix) after the sources that define the hosts" % (head, by))

    problems = []
    unplaced = [host for host in hosts if host not in value_of]
    if unplaced:
        no_imds = set(groups.get(safe_group_name(group_prefix + "no_imds")) or ())
        problems.append("in no %s<value> group: %s" % (head, _listed(
            ["%s (no IMDS data)" % host if host in no_imds else host for host in unplaced])))
    several = [host for host in hosts if len(value_of.get(host, ())) > 1]
    if several:
        problems.append("in more than one %s<value> group: %s" % (head, _listed(
            ["%s (%s)" % (host, ", ".join(head + value for value in sorted(value_of[host], key=natural_key))) for host in several])))
    without = [host for host in hosts if value_of.get(host) == [NONE_VALUE] and by in _NONE_IS_MISSING]
    if without:
        problems.append("with no %s (in %s%s): %s" % (by.replace("_", " "), head, NONE_VALUE, _listed(without)))
    if by in _NUMBERED:
        odd = [host for host in hosts if len(value_of.get(host, ())) == 1 and value_of[host] != [NONE_VALUE] and not _is_number(value_of[host][0])]
        if odd:
            problems.append("in a group that is not %s<number>: %s" % (head, _listed(["%s (%s%s)" % (host, head, value_of[host][0]) for host in odd])))
    if problems:
        _fail("cannot place every host in one batch per %s; hosts %s" % (by.replace("_", " "), "; hosts ".join(problems)))

    batches = {}
    for host in hosts:
        batches.setdefault(value_of[host][0], []).append(host)
    return [sorted(batches[value]) for value in sorted(batches, key=_value_order)]


class FilterModule:
    """imds.azure rolling filters."""

    def filters(self):
        return {"rolling_batches": rolling_batches}
