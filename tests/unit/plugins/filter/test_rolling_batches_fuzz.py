# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based fuzzing of the imds.azure.rolling_batches filter's arguments.

Any hosts, groups, by and group_prefix end in batches (every host exactly once, each batch the hosts
of one group of the dimension, batches in the order of their values) or in AnsibleFilterError starting
with "rolling_batches: ". Never another exception.
"""

from __future__ import annotations

import re

from hypothesis import event, given, strategies as st

from ansible.errors import AnsibleFilterError

from ansible_collections.imds.azure.plugins.filter.rolling_batches import rolling_batches
from ansible_collections.imds.azure.plugins.module_utils._placement import PLACEMENT_LEVELS as LEVELS

WORD = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
ANY = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), WORD),
                   lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(WORD, inner, max_size=2)), max_leaves=3)
HOST = st.one_of(st.sampled_from(["a", "b", "c", "d", "web-1"]), WORD)
VALUE = st.one_of(st.sampled_from(["0", "1", "2", "10", "none", "westeurope", "x", "007", "²"]), WORD)
BY = st.one_of(st.sampled_from(LEVELS), st.sampled_from(LEVELS), ANY)


@st.composite
def _groups(draw):
    by = draw(st.sampled_from(LEVELS))
    prefix = draw(st.sampled_from(["azure_", "", "x-"]))
    head = (prefix.replace("-", "_")) + by + "_"
    groups = {head + draw(VALUE): draw(st.lists(HOST, max_size=4)) for _index in range(draw(st.integers(0, 4)))}
    groups.update(draw(st.dictionaries(WORD, st.one_of(st.lists(HOST, max_size=3), ANY), max_size=3)))
    return groups, by, prefix


ARGUMENTS = st.one_of(
    st.builds(lambda hosts, spec: (hosts,) + spec, st.lists(HOST, max_size=6), _groups()),
    st.builds(lambda hosts, spec: (hosts,) + spec, st.lists(HOST, max_size=6, unique=True), _groups()),
    st.tuples(st.one_of(st.lists(HOST, max_size=4), ANY), st.one_of(st.dictionaries(WORD, ANY, max_size=3), ANY), BY,
              st.one_of(st.sampled_from(["azure_", ""]), ANY)),
)


@given(ARGUMENTS)
def test_rolling_batches_arguments(arguments):
    hosts, groups, by, prefix = arguments
    try:
        batches = rolling_batches(hosts, groups, by, prefix)
    except AnsibleFilterError as exc:
        assert str(exc).startswith("rolling_batches: "), exc
        event("refused: %s" % re.sub("[0-9]+", "N", " ".join(str(exc).split()[1:4])))
        return
    event("%d batches" % len(batches))
    assert sorted(sum(batches, [])) == sorted(hosts) and all(batches)
    assert rolling_batches(list(reversed(hosts)), groups, by, prefix) == batches
    for batch in batches:
        assert batch == sorted(batch)
        holding = [name for name, members in groups.items() if isinstance(members, list) and set(batch) <= set(members)
                   and name.startswith(prefix.replace("-", "_") + by + "_")]
        assert holding, (batch, groups)
