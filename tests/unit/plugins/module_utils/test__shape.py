# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape of IMDS answers: every rule accepts what IMDS sends, in one form, and refuses the rest naming the field."""

from __future__ import annotations

import json

import pytest

from hypothesis import example, given, settings, strategies as st

from ansible_collections.imds.azure.plugins.module_utils import _shape
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsNotImds
from ansible_collections.imds.azure.plugins.module_utils._shape import ShapeError

HUGE = int("9" * 4000)   # a 4,000-digit number, as json.loads reads one


@pytest.mark.parametrize("value, expected", [("0", "0"), ("36", "36"), ("999", "999"), (0, "0"), (2, "2"), ("", "")])
def test_domain_accepts_what_imds_sends(value, expected):
    assert _shape.domain(value, "compute.platformFaultDomain") == expected


@pytest.mark.parametrize("value, shown", [
    ([0, 1], "an array"), ({"a": 1}, "an object"), (True, "a boolean"), (1.0, "a number with a fraction"),
    (float("nan"), "NaN"), (float("inf"), "Infinity"), (json.loads("1e400"), "Infinity"), (HUGE, "a number of more than 12 digits"),
    ("-1", "'-1'"), ("1 ", "'1 '"), (" 0", "' 0'"), ("01", "'01'"), ("1000", "'1000'"), (1000, "the number 1000"), (-1, "the number -1"),
    (None, "null"), ("\u0661", "'\u0661'"), ("0x1", "'0x1'"), ("1\n", "'1\\n'"),
])
def test_domain_refuses_anything_else_naming_the_field(value, shown):
    with pytest.raises(ShapeError) as caught:
        _shape.domain(value, "compute.platformFaultDomain")
    assert str(caught.value).startswith("compute.platformFaultDomain is ") and shown in str(caught.value)
    assert "not a whole number from 0 to 999" in str(caught.value)


def test_zone_and_location():
    assert [_shape.zone(value, "zone") for value in ("", "1", "3", 2)] == ["", "1", "3", "2"]
    for value in (["1"], "0", "1 ", 1.0, "a", 100):
        with pytest.raises(ShapeError, match="^zone is "):
            _shape.zone(value, "zone")
    assert _shape.location("EastUS", "location") == _shape.location("eastus", "location") == "eastus"
    for value in ("east us", "east-us", ["eastus"], None, "x" * 65):
        with pytest.raises(ShapeError, match="^location is "):
            _shape.location(value, "location")


def test_text_refuses_lookalikes():
    assert _shape.text("Spot", "priority") == "Spot"
    for value in ("Spot ", " Spot", "Sp\x00ot", 1, None, "x" * 257):
        with pytest.raises(ShapeError, match="^priority "):
            _shape.text(value, "priority")


# --------------------------------------------------------------------------- tags

def test_tags_list_rules():
    assert _shape.tags_list([{"name": "env", "value": "prod"}, {"name": "empty", "value": ""}]) == {"env": "prod", "empty": ""}
    for items, message in [
        ([{"value": "x"}], r"compute.tagsList\[0\] has null as its name"),
        ([{"name": "", "value": "x"}], "has an empty string as its name"),
        ([{"name": "a"}], r"compute.tagsList\[0\] has no value"),
        ([{"name": "a", "value": 1}], "has a number as the value of tag 'a'"),
        ([{"name": "a", "value": "1"}, {"name": "a", "value": "2"}], "names tag 'a' twice"),
        ([{"name": "Env", "value": "1"}, {"name": "env", "value": "1"}], "names tag 'env' twice .'Env' and 'env'; Azure tag names are unique"),
        (["env"], r"compute.tagsList\[0\] is a string, not an object"),
        ({"env": "x"}, "compute.tagsList is an object, not an array"),
        ([{"name": "n" * 513, "value": ""}], "a name of 513 characters"),
        ([{"name": "a", "value": "v" * 257}], "of 257 characters"),
    ]:
        with pytest.raises(ShapeError, match=message):
            _shape.tags_list(items)


def test_more_tags_than_azure_allows_are_refused_before_any_is_read():
    # 100,000 tags on one host: refused by their count, at once (Azure allows 50 per resource).
    many = [{"name": "t%d" % index, "value": ""} for index in range(100000)]
    with pytest.raises(ShapeError, match="holds 100000 tags, more than the 50 Azure allows"):
        _shape.tags_list(many)
    with pytest.raises(ShapeError, match="holds 100000 tags"):
        _shape.tags_mapping(dict((item["name"], "") for item in many))
    assert len(_shape.tags_list(many[:50])) == 50


@pytest.mark.parametrize("text, expected", [
    ("", {}),
    ("Department:IT;ReferenceNumber:123456;TestStatus:Pending", {"Department": "IT", "ReferenceNumber": "123456", "TestStatus": "Pending"}),
    ("url:http://x;y", {"url": "http://x;y"}),
    ("note:a;b;c;env:prod", {"note": "a;b;c", "env": "prod"}),
    ("lonely", {"lonely": ""}),
    # "cost center" = "cc:1234;shared" cannot be told apart from two tags: documented limitation
    ("cost center:cc:1234;shared:x", {"cost center": "cc:1234", "shared": "x"}),
])
def test_tags_string(text, expected):
    assert _shape.tags_string(text) == expected


@pytest.mark.parametrize("text", [";a:1", ":x", "a:1;a:2", "A:1;a:2", ";".join("t%d:" % index for index in range(51)), "a:" + "x" * 40000])
def test_tags_string_refusals(text):
    with pytest.raises(ShapeError, match="^compute.tags "):
        _shape.tags_string(text)


@given(tags=st.dictionaries(st.text(st.characters(exclude_characters=":;", exclude_categories=("Cs",)), min_size=1, max_size=8),
                            st.text(st.characters(exclude_characters=";", exclude_categories=("Cs",)), max_size=8), max_size=5))
def test_an_unambiguous_tags_string_round_trips(tags):
    text = ";".join("%s:%s" % item for item in tags.items())
    try:
        assert _shape.tags_string(text) == tags
    except ShapeError as exc:
        assert "twice" in str(exc)   # names that differ only in case: one tag for Azure


# --------------------------------------------------------------------------- documents

def test_instance_document():
    fields = _shape.instance_document({"compute": {"platformFaultDomain": "1", "userData": "eA==", "osType": ["any"]}, "network": {}})
    assert fields == {"platformFaultDomain": "1", "userData": "eA==", "tags": {}}   # fields the collection does not read pass
    for document, message in [
        ({"compute": {}}, "network is missing"), ({"compute": {}, "network": []}, "network is an array"), ({"network": {}}, "compute is missing"),
        ({"compute": "x", "network": {}}, "compute is a string"), ([], "the document is an array"),
        ({"compute": {"virtualMachineScaleSet": "x"}, "network": {}}, "compute.virtualMachineScaleSet is a string"),
        ({"compute": {"tags": 5, "tagsList": []}, "network": {}}, "compute.tags is a number, not a string"),
    ]:
        with pytest.raises(ShapeError, match=message):
            _shape.instance_document(document)


def test_checked_answers_name_the_field_and_say_not_imds():
    with pytest.raises(ImdsNotImds) as caught:
        _shape.checked("instance", {"compute": {"zone": ["1"]}, "network": {}}, "http://127.0.0.1:1/metadata/instance")
    assert str(caught.value) == ("IMDS answered http://127.0.0.1:1/metadata/instance with JSON that is not an IMDS instance document "
                                 "(compute.zone is an array, not an availability zone from 1 to 99, or \"\" for a regional VM): this is "
                                 "not IMDS. Nothing was gathered.")
    inner = {"publicIpAddresses": [], "inboundRules": [{"frontendPort": 80}], "outboundRules": []}
    assert _shape.checked("loadbalancer", {"loadbalancer": inner, "newField": 1}, "u") is inner
    for other in (inner, {"loadbalancer": []}, {"loadbalancer": None}, {"loadbalancer": {"inboundRules": {}}}, [], "loadbalancer"):
        with pytest.raises(ImdsNotImds, match="not an IMDS load balancer document"):
            _shape.checked("loadbalancer", other, "u")


@pytest.mark.parametrize("event, message", [
    ({"EventId": "A", "Resources": ["vm", 1]}, "Resources of event A is not a list of strings"),
    ({"EventId": "A", "EventType": ["Reboot"]}, "EventType of event A is an array, not a string"),
    ({"EventId": "A", "DurationInSeconds": -2}, "DurationInSeconds of event A is the number -2"),
    ({"EventId": "A", "DurationInSeconds": 5.0}, "DurationInSeconds of event A is a number with a fraction"),
    ({"EventId": " A"}, "the EventId of event 0 is ' A', a string with whitespace around it"),
])
def test_scheduled_events_fields(event, message):
    with pytest.raises(ShapeError, match=message):
        _shape.scheduled_events_document({"DocumentIncarnation": 1, "Events": [event]})


def test_token_answer_times_and_secrecy():
    record = _shape.token_answer({"access_token": "t", "expires_on": "1700000000", "expires_in": 3599, "not_before": 1699996400.0})
    assert (record["expires_on"], record["expires_in"], record["not_before"]) == (1700000000, 3599, 1699996400)
    secret = "eyJ0eXAiOiJKV1QifQ.secret-value"
    for answer, message in [
        ({"access_token": secret, "expires_on": "-5"}, "expires_on is a string, not a whole number of seconds"),
        ({"access_token": secret, "expires_in": secret}, "expires_in is a string"),
        ({"access_token": secret, "expires_on": True}, "expires_on is a boolean"),
        ({"access_token": secret, "token_type": ["Bearer"]}, "token_type is an array"),
        ({"access_token": [secret]}, "access_token is an array"),
        ({"token": secret}, "access_token is missing"),
    ]:
        with pytest.raises(ShapeError, match=message) as caught:
            _shape.token_answer(answer)
        assert "secret" not in str(caught.value)


# --------------------------------------------------------------------------- properties

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2, 1001), st.floats(),
                         st.text(max_size=6), st.sampled_from(["0", "1", "999", "1000", "01", " 1", "1 ", "-1", "", "EastUS", "٣"]))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                           max_leaves=6)


@given(value=JSON_VALUES)
def test_every_rule_gives_one_canonical_form_or_names_the_field(value):
    for rule, field in ((_shape.domain, "f.d"), (_shape.zone, "f.z"), (_shape.location, "f.l"), (_shape.text, "f.t")):
        try:
            result = rule(value, field)
        except ShapeError as exc:
            assert str(exc).startswith(field + " ") and exc.field == field
            continue
        assert isinstance(result, str) and rule(result, field) == result   # canonical: checking it again changes nothing
        if rule in (_shape.domain, _shape.zone) and result:
            number = int(result)
            assert str(number) == result and 0 <= number <= (_shape.MAX_DOMAIN if rule is _shape.domain else _shape.MAX_ZONE)
            assert not isinstance(value, float)   # a float is never a domain: 1.0, NaN, 1e400 are refused
        if isinstance(value, str) and rule is not _shape.location:
            assert result == value   # never trimmed or rewritten, only refused


# The fast paths of the rules (issue 25: the inventory checks 10,000 facts) accept only what the full checks accept,
# unchanged: any text, any tag and any tags object they take, the full check takes too and gives the same.
ANY_TEXT = st.one_of(st.text(max_size=8), st.text(st.characters(max_codepoint=0x7f), max_size=8),
                     st.sampled_from(["", " ", "a ", " a", "a b", "\x7f", "\x1f", "\u00a0x", "x\u2003", "\ud800", "é"]))
# Each example is cheap, drawing long strings is not: a quarter of the profile's examples (a second or so in "ci").
FEWER = settings(max_examples=max(settings.default.max_examples // 4, 10))


@example(value=" a", limit=3)
@example(value="a\x7f", limit=3)
@example(value="\ud800", limit=3)
@example(value="abcd", limit=3)
@given(value=st.one_of(ANY_TEXT, st.integers(), st.none()), limit=st.sampled_from([0, 1, 3, _shape.MAX_TEXT]))
def test_the_fast_text_check_agrees_with_the_full_one(value, limit):
    try:
        expected = _shape._checked_text(value, "f", limit)   # pylint: disable=protected-access
    except _shape.ShapeError:
        expected = None
    if isinstance(value, str) and len(value) <= limit and _shape._PLAIN_TEXT_RE.match(value):  # pylint: disable=protected-access
        assert expected == value
    try:
        assert _shape.text(value, "f", limit) == expected
    except _shape.ShapeError:
        assert expected is None


@FEWER
@example(name="a", value="\ud800")
@example(name="\udfff", value="")
@example(name="", value="a")
@example(name="a" * (_shape.MAX_TAG_NAME + 1), value="")
@example(name="a", value="a" * (_shape.MAX_TAG_VALUE + 1))
@given(name=st.one_of(ANY_TEXT, st.text(min_size=510, max_size=514), st.integers(), st.none()),
       value=st.one_of(ANY_TEXT, st.text(min_size=254, max_size=258), st.integers(), st.none()))
def test_the_fast_tag_check_agrees_with_the_full_one(name, value):
    if _shape._plain_tag(name, value):   # pylint: disable=protected-access
        _shape._check_tag(name, value, "tags")   # pylint: disable=protected-access


@FEWER
@given(tags=st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=4), items=st.lists(st.tuples(ANY_TEXT, ANY_TEXT), max_size=4))
def test_tags_equal_to_checked_ones_need_no_second_check(tags, items):
    for given_tags in (tags, dict(items)):
        try:
            checked = _shape.tags_list([{"name": name, "value": value} for name, value in given_tags.items()])
        except _shape.ShapeError:
            continue
        assert _shape.same_tags(given_tags, checked)
        assert list(_shape.tags_mapping(given_tags).items()) == list(dict(given_tags).items())


def test_every_placement_rule_takes_the_empty_string_as_it_is():
    # check_placement takes "" without calling the rule
    for rule in set(_shape.COMPUTE_RULES.values()):
        assert rule("", "f") == ""
