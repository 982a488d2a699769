# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fuzzing the placement and tags model: compute objects and tag strings of any shape.

Profiles: tests/unit/conftest.py (``make fuzz`` for a long run).
"""

from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.imds.azure.plugins.module_utils._placement import (
    PLACEMENT_KEYS, build_placement, build_tags, normalize_placement, normalize_tags, parse_tags_string,
)

TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", ";", ":", "a:b;c", "\ud800", "0", "Spot", "/"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda children: st.one_of(st.lists(children, max_size=3),
                                                               st.dictionaries(TEXT, children, max_size=3)), max_leaves=8)
# Every compute field the model reads (docs/docsite/rst/facts.rst), each any JSON value or a well-formed one.
COMPUTE = st.fixed_dictionaries({}, optional=dict(
    {field: st.one_of(JSON_VALUES, TEXT) for field in ("location", "zone", "platformFaultDomain", "platformUpdateDomain",
                                                       "platformSubFaultDomain", "vmScaleSetName", "placementGroupId", "vmSize",
                                                       "priority", "Priority")},
    virtualMachineScaleSet=st.one_of(JSON_VALUES, st.fixed_dictionaries({"id": TEXT})),
    tags=st.one_of(TEXT, JSON_VALUES),
    tagsList=st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries({"name": JSON_VALUES}, optional={"value": JSON_VALUES}), max_size=4)),
))


@given(text=st.one_of(st.text(max_size=60), st.lists(st.sampled_from(["a", ":", ";", "b", "\u00e9", " "]), max_size=20).map("".join)))
def test_any_tags_string_parses_to_a_dict_of_strings(text):
    tags = parse_tags_string(text)
    assert all(isinstance(name, str) and isinstance(value, str) for name, value in tags.items())


@given(tags=st.dictionaries(st.text(st.characters(blacklist_characters=":;"), min_size=1, max_size=8),
                            st.text(st.characters(blacklist_characters=";"), max_size=8), max_size=5))
def test_an_unambiguous_tags_string_round_trips(tags):
    assert parse_tags_string(";".join("%s:%s" % item for item in tags.items())) == tags


@given(compute=st.one_of(COMPUTE, JSON_VALUES))
def test_placement_and_tags_from_any_compute(compute):
    placement = build_placement(compute)
    assert set(placement) == set(PLACEMENT_KEYS)
    assert all(isinstance(value, str) for value in placement.values())
    tags = build_tags(compute)
    assert all(isinstance(name, str) and isinstance(value, str) for name, value in tags.items())


@given(compute=st.one_of(COMPUTE, JSON_VALUES))
def test_a_fact_without_the_summaries_reads_as_the_facts_would(compute):
    # The inventory's and the spread filter's fallback to compute follows the rules of the placement and tags facts.
    imds = {"is_azure": True, "compute": compute}
    assert normalize_placement(imds) == build_placement(compute)
    assert normalize_tags(imds) == build_tags(compute)
