# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fuzzing fact building: IMDS documents, tag strings and user data of any shape.

Whatever IMDS sends, imds.azure.metadata_facts ends in facts that can be written out as UTF-8 JSON
or in fail_json with a documented ``imds_error``. Profiles: tests/unit/conftest.py (``make fuzz`` for a long run).
"""

from __future__ import annotations

import base64
import gzip
import json

from hypothesis import given, strategies as st

from ansible_collections.imds.azure.tests.unit.fuzz_settings import IMDS_ERROR_KINDS
from ansible_collections.imds.azure.plugins.module_utils import _documents
from ansible_collections.imds.azure.plugins.module_utils._documents import decode_userdata
from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsTooLarge
from ansible_collections.imds.azure.plugins.module_utils._transport import Response
from ansible_collections.imds.azure.plugins.module_utils._detect import AZURE, Detection
from ansible_collections.imds.azure.plugins.module_utils._facts import run_module
from ansible_collections.imds.azure.plugins.module_utils._placement import PLACEMENT_KEYS

TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", ";", ":", "a:b;c", "\ud800", "0", "Spot"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda children: st.one_of(st.lists(children, max_size=3),
                                                               st.dictionaries(TEXT, children, max_size=3)), max_leaves=8)
COMPUTE = st.fixed_dictionaries({}, optional={
    "location": JSON_VALUES, "zone": JSON_VALUES, "platformFaultDomain": JSON_VALUES, "vmScaleSetName": JSON_VALUES,
    "virtualMachineScaleSet": st.one_of(JSON_VALUES, st.fixed_dictionaries({"id": TEXT})), "priority": JSON_VALUES,
    "tags": st.one_of(TEXT, JSON_VALUES), "tagsList": st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries(
        {"name": JSON_VALUES}, optional={"value": JSON_VALUES}), max_size=4)),
    "userData": st.one_of(TEXT, st.binary(max_size=64).map(lambda raw: base64.b64encode(raw).decode())),
})
INSTANCE = st.one_of(JSON_VALUES, st.fixed_dictionaries({"compute": st.one_of(COMPUTE, JSON_VALUES), "network": JSON_VALUES}))


def _utf8_json(value):
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


@given(encoded=st.one_of(
    st.text(max_size=80),
    st.binary(max_size=80).map(lambda raw: base64.b64encode(raw).decode()),
    st.binary(max_size=80).map(lambda raw: base64.b64encode(gzip.compress(raw)).decode()),
    st.binary(max_size=80).map(lambda raw: base64.b64encode(b"\x1f\x8b" + raw).decode()),
    st.integers(1, 3).map(lambda mib: base64.b64encode(gzip.compress(b"\0" * (mib << 20))).decode()),
    st.integers(60, 70).map(lambda kib: "QUJD" * (kib * 256)),
))
def test_any_user_data_decodes_or_is_refused_as_too_large(encoded):
    warnings = []
    try:
        text = decode_userdata(encoded, warnings.append)
    except ImdsTooLarge as exc:
        assert exc.kind == "too_large"
    else:
        assert isinstance(text, str) and len(text) <= _documents.USERDATA_TEXT_LIMIT
        text.encode("utf-8")


class Module(object):
    """What run_module uses of AnsibleModule."""

    def __init__(self, params):
        self.params = params
        self.no_log = True
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)

    def fail_json(self, **result):
        raise Failed(result)

    def exit_json(self, **result):
        raise Exited(result)


class Failed(Exception):
    pass


class Exited(Exception):
    pass


class Documents(object):
    """A transport answering each category (and compute/userData) from a dict; 404 with IMDS's JSON for the others."""

    def __init__(self, answers):
        self.answers = answers

    def request(self, method, url, headers, body, timeout):
        path = url.split("/metadata/", 1)[1].split("?", 1)[0]
        category = "userData" if path.endswith("/userData") else path.split("/", 1)[0]
        if category not in self.answers:
            return Response(404, {"Content-Type": "application/json"}, b'{"error": "Not found"}')
        return Response(200, {"Content-Type": "application/json"}, self.answers[category])


@given(instance=INSTANCE, loadbalancer=JSON_VALUES, events=JSON_VALUES, user_data=st.one_of(TEXT, st.just(None)),
       subsets=st.lists(st.sampled_from(["instance", "loadbalancer", "scheduledevents", "versions", "userdata"]), min_size=1, max_size=3))
def test_the_module_ends_in_facts_or_a_documented_imds_error(instance, loadbalancer, events, user_data, subsets):
    answers = {"instance": json.dumps(instance).encode(), "loadbalancer": json.dumps(loadbalancer).encode(),
               "scheduledevents": json.dumps(events).encode(), "versions": b'{"apiVersions": ["2021-02-01"]}'}
    if user_data is not None:
        answers["userData"] = user_data.encode("utf-8", "backslashreplace")

    def client(**kwargs):
        return ImdsClient(transport=Documents(answers), sleep=lambda seconds: None, **kwargs)

    params = {"endpoint": "http://127.0.0.1:9", "api_version": "2021-02-01", "timeout": 1, "deadline": 5, "gather_subset": subsets,
              "detect": "auto"}
    try:
        run_module(Module(params), client_factory=client, detector=lambda: Detection(AZURE, "test"))
    except Failed as exc:
        result = exc.args[0]
        assert result["imds_error"] in IMDS_ERROR_KINDS and result["msg"]
        _utf8_json(result)
    except Exited as exc:
        facts = exc.args[0]["ansible_facts"]["azure_imds"]
        assert facts["is_azure"] is True
        if "instance" in subsets:   # (a gather without it leaves the placement alone)
            assert set(facts["placement"]) == set(PLACEMENT_KEYS)
        _utf8_json(exc.args[0])
