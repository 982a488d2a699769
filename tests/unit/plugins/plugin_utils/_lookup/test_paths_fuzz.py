# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fuzzing the metadata lookup's paths: any term ends in a value or the lookup's own error.

parse_path and walk are the parsers; the lookup plugin runs on facts (source=facts), so nothing is
requested. Profiles: tests/unit/conftest.py (``make fuzz`` for a long run).
"""

from __future__ import annotations

import re

from hypothesis import given, strategies as st

from ansible.errors import AnsibleLookupError
from ansible.plugins.loader import lookup_loader

from ansible_collections.imds.azure.tests.unit.fuzz_settings import IMDS_ERROR_KINDS
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.paths import (
    LOOKUP_CATEGORIES, LookupPathError, MissingPathError, ParsedPath, parse_path, walk,
)

SEGMENT_RE = re.compile(r"^[A-Za-z0-9_~.-]+$")
PIECES = st.sampled_from(["compute", "network", "interface", "0", "1", "01", "-1", "tagsList", "name", "..", ".", "", "instance",
                          "loadbalancer", "scheduledevents", "metadata", "identity", "Events", "a b", "%2e", "?x", "#", "\\",
                          "http:", "\u00e9", "\ud800", "\x00", "\n", "userData"])
TERMS = st.one_of(
    st.text(max_size=40),
    st.tuples(st.booleans(), st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=6)).map(
        lambda parts: ("/" if parts[0] else "") + "/".join(parts[1])),
)
TEXT = st.one_of(st.text(max_size=8), PIECES)
JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), TEXT),
                           lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(TEXT, children, max_size=3)),
                           max_leaves=10)
FACTS = st.fixed_dictionaries({"is_azure": st.sampled_from([True, False, None]), "compute": st.one_of(
    st.dictionaries(PIECES, JSON_VALUES, max_size=4), JSON_VALUES), "network": JSON_VALUES},
    optional={"loadbalancer": JSON_VALUES, "scheduled_events": JSON_VALUES})


@given(term=st.one_of(TERMS, st.integers(), st.none()))
def test_any_term_parses_or_is_refused(term):
    try:
        parsed = parse_path(term)
    except LookupPathError as exc:
        str(exc).encode("utf-8", "backslashreplace")
    else:
        assert isinstance(parsed, ParsedPath) and parsed.category in LOOKUP_CATEGORIES
        assert all(SEGMENT_RE.match(segment) and segment not in (".", "..") for segment in parsed.segments)
        assert parse_path(parsed.display) == parsed


@given(term=TERMS, document=JSON_VALUES)
def test_walking_any_document_ends_in_a_value_or_a_path_error(term, document):
    try:
        parsed = parse_path(term)
        walk(document, parsed)
    except (LookupPathError, MissingPathError):
        pass


@given(term=TERMS, facts=FACTS, default=st.booleans())
def test_the_lookup_answers_or_fails_with_its_own_error(term, facts, default):
    plugin = lookup_loader.get("imds.azure.metadata")
    kwargs = {"source": "facts", "default": "fallback"} if default else {"source": "facts"}
    try:
        values = plugin.run([term], variables={"inventory_hostname": "vm-1", "ansible_facts": {"azure_imds": facts}}, **kwargs)
    except AnsibleLookupError as exc:
        assert str(exc).startswith("imds.azure.metadata: ")
        assert str(exc).split(": ")[1] in IMDS_ERROR_KINDS   # the keyword: docs/docsite/rst/lookups.rst "Errors"
    else:
        assert len(values) == 1
