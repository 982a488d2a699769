# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fuzzing the placement and tags model: compute objects and facts of any shape.

Profiles: tests/unit/conftest.py (``make fuzz`` for a long run).
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from ansible_collections.imds.azure.plugins.module_utils._placement import (
    PLACEMENT_KEYS, check_placement, from_compute, normalize, read_fact,
)
from ansible_collections.imds.azure.plugins.module_utils._shape import ShapeError

TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", ";", ":", "a:b;c", "\ud800", "0", "1", "Spot", "/", "EastUS", " 1"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-1, 4), st.floats(), TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda children: st.one_of(st.lists(children, max_size=3),
                                                               st.dictionaries(TEXT, children, max_size=3)), max_leaves=8)
# Every compute field the model reads (docs/docsite/rst/facts.rst), each any JSON value or a well-formed one.
COMPUTE = st.fixed_dictionaries({}, optional=dict(
    {field: st.one_of(JSON_VALUES, TEXT) for field in ("location", "zone", "platformFaultDomain", "platformUpdateDomain",
                                                       "platformSubFaultDomain", "vmScaleSetName", "placementGroupId", "vmSize",
                                                       "priority", "Priority")},
    virtualMachineScaleSet=st.one_of(JSON_VALUES, st.fixed_dictionaries({"id": TEXT})),
    tags=st.one_of(TEXT, JSON_VALUES),
    tagsList=st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries({"name": st.one_of(TEXT, JSON_VALUES)},
                                                                   optional={"value": st.one_of(TEXT, JSON_VALUES)}), max_size=4)),
))


# Each example is cheap, drawing it is not: a quarter of the profile's examples keeps these to a few seconds in "ci".
FEWER = settings(max_examples=max(settings.default.max_examples // 4, 10))


@FEWER
@given(compute=st.one_of(COMPUTE, JSON_VALUES))
def test_any_compute_gives_canonical_facts_or_a_shape_error(compute):
    try:
        placement, tags = from_compute(compute)
    except ShapeError as exc:
        assert str(exc).startswith("compute")   # the message names the field
        return
    assert set(placement) == set(PLACEMENT_KEYS)
    assert check_placement(placement) == placement   # already in the one canonical form
    assert all(isinstance(name, str) and name and isinstance(value, str) for name, value in tags.items())
    # What the module stores reads back the same, with or without the summaries
    for imds in ({"is_azure": True, "compute": compute}, {"is_azure": True, "compute": compute, "placement": placement, "tags": tags}):
        assert normalize(imds) == (placement, tags)
        assert read_fact(imds)[:2] == ((placement, tags) if placement["fault_domain"] else (None, None))


@FEWER
@given(imds=st.fixed_dictionaries({}, optional={"is_azure": st.one_of(st.just(True), JSON_VALUES), "compute": st.one_of(COMPUTE, JSON_VALUES),
                                                "placement": st.one_of(st.dictionaries(st.sampled_from(PLACEMENT_KEYS), SCALARS), JSON_VALUES),
                                                "tags": st.one_of(st.dictionaries(TEXT, TEXT, max_size=3), JSON_VALUES)}))
def test_any_fact_places_the_host_or_says_why_not(imds):
    placement, tags, why = read_fact(imds)
    if why is not None:
        assert placement is None and tags is None and isinstance(why, str) and why
        return
    assert check_placement(placement) == placement and placement["fault_domain"]
    assert imds["is_azure"] is True
