# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based fuzzing of the imds.azure.spread filter's arguments.

Any hosts, count, hostvars, by and allow_missing end in picks (distinct input items, as many
as asked, the same whatever the order of the hosts) or in AnsibleFilterError starting with
"spread: ". Never another exception.
"""

from __future__ import annotations

import re

from hypothesis import event, given, settings, strategies as st

from ansible.errors import AnsibleFilterError

from ansible_collections.imds.azure.plugins.filter.spread import spread
from ansible_collections.imds.azure.plugins.module_utils._placement import PLACEMENT_LEVELS as LEVELS

WORD = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), WORD)
ANY = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(WORD, inner, max_size=2)), max_leaves=3)
NAME = st.one_of(st.sampled_from(["a", "b", "c", "d", "e", "web-1"]), WORD)
VALUE = st.one_of(st.sampled_from(["", "0", "1", "2", "westeurope"]), st.integers(0, 3), ANY)
PLACEMENT = st.dictionaries(st.sampled_from(LEVELS + ("scale_set", "x")), VALUE, max_size=5)
COMPUTE = st.dictionaries(st.sampled_from(["location", "zone", "platformFaultDomain", "platformUpdateDomain", "vmId"]), VALUE, max_size=5)
IMDS = st.fixed_dictionaries({}, optional={"is_azure": st.one_of(st.booleans(), ANY), "compute": st.one_of(COMPUTE, ANY),
                                           "placement": st.one_of(PLACEMENT, ANY), "scheduled_events": ANY})
HOST_VARS = st.fixed_dictionaries({}, optional={
    "azure_placement": st.one_of(PLACEMENT, ANY), "ansible_facts": st.one_of(st.fixed_dictionaries({"azure_imds": IMDS}), ANY),
    "azure_imds": st.one_of(IMDS, ANY), "placement": st.one_of(PLACEMENT, ANY),
})
HOSTVARS = st.one_of(st.none(), st.dictionaries(NAME, st.one_of(HOST_VARS, HOST_VARS, ANY), max_size=8), ANY)
ITEM = st.one_of(NAME, NAME, st.builds(lambda name, key, variables: dict(variables, **{key: name}), st.one_of(NAME, ANY),
                                       st.sampled_from(["name", "inventory_hostname"]), HOST_VARS), ANY)
HOSTS = st.one_of(st.lists(ITEM, max_size=8), st.lists(NAME, max_size=8, unique=True), ANY)
COUNT = st.one_of(st.integers(-1, 9), st.integers(-1, 9).map(str), st.floats(-1, 9), st.sampled_from(["2.7", " 3 ", "x", True]), ANY)
BY = st.one_of(st.none(), st.lists(st.one_of(st.sampled_from(LEVELS), st.sampled_from(LEVELS), WORD), max_size=4), ANY)
ALLOW_MISSING = st.one_of(st.booleans(), st.sampled_from(["yes", "no", "maybe"]), ANY)


@st.composite
def _usable(draw):
    """Arguments a playbook would pass: distinct hostnames, their hostvars (placement or not), a count in range."""
    names = draw(st.lists(NAME, min_size=1, max_size=8, unique=True))
    hostvars = {name: draw(HOST_VARS) for name in names if draw(st.integers(0, 9))}
    by = draw(st.one_of(st.none(), st.lists(st.sampled_from(LEVELS), min_size=1, max_size=4)))
    return names, draw(st.integers(0, len(names))), hostvars, by, draw(st.booleans())


ARGUMENTS = st.one_of(_usable(), _usable(), st.tuples(HOSTS, COUNT, HOSTVARS, BY, ALLOW_MISSING))


@given(ARGUMENTS)
def test_spread_arguments(arguments):
    hosts, count, hostvars, by, allow_missing = arguments
    try:
        picks = spread(hosts, count, hostvars, by=by, allow_missing=allow_missing)
    except AnsibleFilterError as exc:
        assert str(exc).startswith("spread: "), exc
        event("refused: %s" % re.sub("[0-9]+", "N", " ".join(str(exc).split()[1:4])))
        return
    event("picked %d" % len(picks))
    assert len(picks) == int(float(str(count).strip()))
    assert len({id(item) for item in picks}) == len(picks) and all(any(item is host for host in hosts) for item in picks)
    if all(isinstance(host, str) for host in hosts):
        assert spread(list(reversed(hosts)), count, hostvars, by=by, allow_missing=allow_missing) == picks


LOCATIONS = ("westeurope", "eastus2")


@st.composite
def _one_fleet_two_spellings(draw):
    """A fleet's placements as the collection writes them, and the same placements in other forms the model reads
    as the same values (numbers for domains and zones, region names in any case)."""
    canonical, variant = {}, {}
    for index in range(draw(st.integers(1, 10))):
        zone, fault_domain, update_domain = draw(st.sampled_from(["", "1", "2"])), draw(st.integers(0, 3)), draw(st.integers(0, 4))
        location = draw(st.sampled_from(LOCATIONS))
        name = "h%02d" % index
        canonical[name] = {"azure_placement": {"location": location, "zone": zone, "fault_domain": str(fault_domain),
                                               "update_domain": str(update_domain)}}
        variant[name] = {"azure_placement": {
            "location": draw(st.sampled_from([location, location.upper(), location.title()])),
            "zone": draw(st.sampled_from([zone, int(zone)])) if zone else zone,
            "fault_domain": draw(st.sampled_from([str(fault_domain), fault_domain])),
            "update_domain": draw(st.sampled_from([str(update_domain), update_domain]))}}
    return canonical, variant, draw(st.integers(0, len(canonical))), draw(st.one_of(st.none(), st.permutations(LEVELS)))


@settings(max_examples=max(settings.default.max_examples // 4, 10))
@given(_one_fleet_two_spellings())
def test_one_value_in_any_spelling_is_one_domain(fleet):
    canonical, variant, count, by = fleet
    names = sorted(canonical)
    assert spread(names, count, variant, by=by) == spread(names, count, canonical, by=by)
