# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fact building and gathering against the in-process emulator."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from ansible_collections.imds.azure.plugins.module_utils import _client, _facts
from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient
from ansible_collections.imds.azure.plugins.module_utils._errors import (
    ImdsConfigError,
    ImdsError,
    ImdsNotImds,
    ImdsTimeout,
    ImdsTooLarge,
    ImdsUnreachable,
)
from ansible_collections.imds.azure.plugins.module_utils._transport import Response, UrlTransport
from ansible_collections.imds.azure.plugins.module_utils._detect import AZURE, NOT_AZURE, UNKNOWN, Detection
from ansible_collections.imds.azure.plugins.module_utils._facts import (
    FactsError,
    gather_facts,
    parse_gather_subset,
)
from tools.imds_emulator.hostile import gzip_bomb

FACT_KEYS = {"is_azure", "detection", "endpoint", "api_version", "api_versions", "compute", "network", "placement", "tags"}
INSTANCE_KEYS = {"compute", "network", "placement", "tags"}


def detector(result):
    return lambda: Detection(result, "test")


def metadata_log(emu):
    return [record for record in emu.request_log if record.path.startswith("/metadata")]


def gather(emu, detect="false", no_log=False, warnings=None, result=AZURE, **params):
    params.setdefault("endpoint", emu.url if emu is not None else None)
    params["detect"] = detect
    return gather_facts(params, warn=(warnings.append if warnings is not None else None), no_log=no_log, detector=detector(result))


# --------------------------------------------------------------------------- gather_subset

@pytest.mark.parametrize("value, expected", [
    (None, ("instance",)),
    (["instance"], ("instance",)),
    (["all"], ("instance", "loadbalancer", "scheduledevents", "versions")),
    (["all", "userdata"], ("instance", "loadbalancer", "scheduledevents", "versions", "userdata")),
    (["!scheduledevents"], ("instance", "loadbalancer", "versions")),
    (["all", "!instance"], ("loadbalancer", "scheduledevents", "versions")),
    (["!all", "userdata"], ("userdata",)),
    (["all", "attested"], ("instance", "loadbalancer", "scheduledevents", "versions", "attested")),
    (["attested", "instance"], ("instance", "attested")),
    (["!instance"], ("loadbalancer", "scheduledevents", "versions")),
    (["loadbalancer,scheduledevents"], ("loadbalancer", "scheduledevents")),
    ("versions", ("versions",)),
    ([" instance ", "instance"], ("instance",)),
])
def test_parse_gather_subset(value, expected):
    assert parse_gather_subset(value) == expected


@pytest.mark.parametrize("value", [["hardware"], ["!bogus"], ["all", "!all"], ["instance", "!instance"], ["!all"]])
def test_parse_gather_subset_errors(value):
    with pytest.raises(FactsError):
        parse_gather_subset(value)


@pytest.mark.parametrize("value, expected", [
    (["scheduled_events"], ("scheduledevents",)),
    (["instance,scheduled_events"], ("instance", "scheduledevents")),
    (["all", "!scheduled_events"], ("instance", "loadbalancer", "versions")),
])
def test_a_subset_may_be_named_by_its_fact_key(value, expected):
    assert parse_gather_subset(value) == expected


def test_each_subset_fills_the_fact_keys_it_is_documented_with(imds_emulator):
    base = set(gather(imds_emulator, gather_subset=["versions"], api_version="2021-02-01")) - {"versions"}
    for subset in _facts.SUBSETS:
        facts = gather(imds_emulator, no_log=True, gather_subset=[subset], api_version="2021-02-01", attested_nonce="1234")
        assert set(facts) - base == set(_facts.FACT_KEYS[subset]), subset
    assert _facts.SUBSET_ALIASES == {"scheduled_events": "scheduledevents"}
    assert set(_client.DOCUMENT_CATEGORIES) <= set(_facts.FACT_KEYS) & set(_client.CATEGORIES)


# --------------------------------------------------------------------------- gathering

def test_default_gather_is_one_request_plus_negotiation(imds_emulator):
    facts = gather(imds_emulator)
    assert [r.path for r in metadata_log(imds_emulator)] == ["/metadata/versions", "/metadata/instance"]
    assert set(facts) == FACT_KEYS
    assert facts["is_azure"] is True and facts["detection"] == "disabled"
    assert facts["api_version"] == "2025-04-07" and facts["api_versions"] == {"instance": "2025-04-07"}
    assert facts["endpoint"] == imds_emulator.url
    assert facts["placement"]["location"] == "westeurope" and facts["placement"]["zone"] == "2"
    assert facts["tags"] == {"env": "dev", "role": "web"}
    assert facts["network"]["interface"][0]["macAddress"]
    assert "userData" not in facts["compute"]
    assert facts["compute"]["vmId"] == imds_emulator.profile["compute"]["vmId"]


def test_pinned_gather_is_exactly_one_request(imds_emulator):
    facts = gather(imds_emulator, api_version="2021-12-13")
    assert len(metadata_log(imds_emulator)) == 1
    assert facts["api_version"] == "2021-12-13"
    assert "physicalZone" not in facts["compute"]


def test_compute_and_network_exactly_as_returned_except_user_data(imds_emulator):
    facts = gather(imds_emulator, api_version="2023-11-15")
    profile = imds_emulator.profile
    expected = dict(profile["compute"])
    expected.pop("userData")
    assert facts["compute"] == expected
    assert facts["network"] == profile["network"]


def test_old_version_tags_from_string_and_missing_placement_fields(imds_emulator_factory):
    emu = imds_emulator_factory(profile={"tags": {"env": "prod", "note": "a;b"}})
    facts = gather(emu, api_version="2017-12-01")
    assert "tagsList" not in facts["compute"]
    assert facts["tags"] == {"env": "prod", "note": "a;b"}
    assert facts["placement"]["priority"] == "" and facts["placement"]["sub_fault_domain"] == ""
    assert facts["placement"]["zone"] == "2"
    facts = gather(emu, api_version="2017-08-01")
    assert facts["placement"]["zone"] == "" and "zone" not in facts["compute"]


def test_all_subsets(imds_emulator):
    facts = gather(imds_emulator, gather_subset=["all"])
    assert facts["loadbalancer"]["found"] is True and facts["loadbalancer"]["inboundRules"]
    assert facts["scheduled_events"] == {"DocumentIncarnation": facts["scheduled_events"]["DocumentIncarnation"], "Events": []}
    assert facts["versions"][-1] == "2025-04-07"
    assert "userdata" not in facts
    assert facts["api_versions"] == {"instance": "2025-04-07", "loadbalancer": "2025-04-07", "scheduledevents": "2020-07-01"}
    # versions comes free with negotiation: versions + instance + loadbalancer + scheduledevents
    assert len(metadata_log(imds_emulator)) == 4


def test_no_standard_load_balancer_is_a_flag(imds_emulator_factory):
    emu = imds_emulator_factory(profile={"loadbalancer": None})
    facts = gather(emu, gather_subset=["loadbalancer"], api_version="2021-02-01")
    assert facts["loadbalancer"] == {"found": False, "publicIpAddresses": [], "inboundRules": [], "outboundRules": []}
    assert facts["is_azure"] is True
    assert not set(facts) & INSTANCE_KEYS  # not gathered, so not there: never an empty placement


def test_loadbalancer_with_old_pinned_version_fails_clearly(imds_emulator):
    with pytest.raises(ImdsConfigError, match="2020-10-01"):
        gather(imds_emulator, gather_subset=["loadbalancer"], api_version="2019-06-01")
    assert metadata_log(imds_emulator) == []


def test_scheduled_events_with_event(imds_emulator):
    event_id = imds_emulator.add_scheduled_event("Reboot,notice=600")
    facts = gather(imds_emulator, gather_subset=["scheduledevents"], api_version="2019-06-01")
    events = facts["scheduled_events"]["Events"]
    assert [e["EventId"] for e in events] == [event_id]
    assert "EventSource" not in events[0]  # 2019-08-01 field, scheduled-events version 2019-04-01 used
    assert facts["api_versions"] == {"scheduledevents": "2019-04-01"}
    assert facts["api_version"] == "2019-06-01"


def test_userdata_requires_no_log(imds_emulator):
    with pytest.raises(FactsError, match="no_log"):
        gather(imds_emulator, gather_subset=["userdata"])
    assert metadata_log(imds_emulator) == []


def test_userdata_from_instance_document_costs_nothing(imds_emulator):
    facts = gather(imds_emulator, gather_subset=["instance", "userdata"], no_log=True, api_version="2021-01-01")
    assert facts["userdata"].startswith("#cloud-config")
    assert len(metadata_log(imds_emulator)) == 1


def test_userdata_alone_is_one_text_request(imds_emulator):
    facts = gather(imds_emulator, gather_subset=["userdata"], no_log=True, api_version="2021-01-01")
    assert facts["userdata"].startswith("#cloud-config")
    (record,) = metadata_log(imds_emulator)
    assert record.path == "/metadata/instance/compute/userData" and record.query["format"] == "text"
    assert not set(facts) & INSTANCE_KEYS


def test_userdata_needs_2021_01_01(imds_emulator):
    with pytest.raises(FactsError, match="2021-01-01"):
        gather(imds_emulator, gather_subset=["userdata"], no_log=True, api_version="2020-12-01")


def test_not_azure_by_dmi_makes_no_request(imds_emulator):
    started = time.monotonic()
    facts = gather(imds_emulator, detect="auto", result=NOT_AZURE, gather_subset=["all"])
    assert time.monotonic() - started < 1
    assert facts["is_azure"] is False and facts["detection"] == "dmi"
    assert set(facts) == FACT_KEYS
    assert metadata_log(imds_emulator) == []


def test_detect_true_unknown_makes_no_request(imds_emulator):
    facts = gather(imds_emulator, detect="true", result=UNKNOWN)
    assert facts["is_azure"] is False and facts["detection"] == "none"
    assert metadata_log(imds_emulator) == []


class AtDefaultEndpoint(object):
    """UrlTransport with the default endpoint's address swapped for ``url`` on loopback: the client keeps
    http://169.254.169.254 as its endpoint (and so its rules for it), and the network guard is kept."""

    def __init__(self, url):
        self.url = url
        self.inner = UrlTransport()

    def request(self, method, url, headers, body, timeout):
        assert url.startswith(_client.DEFAULT_ENDPOINT + "/")
        return self.inner.request(method, self.url + url[len(_client.DEFAULT_ENDPOINT):], headers, body, timeout)


def probe_default_endpoint(url, **params):
    """gather_facts with detect=auto on a host DMI cannot classify, at the default endpoint (played by ``url``)."""
    params = dict({"detect": "auto", "api_version": "2021-02-01"}, **params)
    return gather_facts(params, detector=detector(UNKNOWN),
                        client_factory=lambda **kwargs: ImdsClient(transport=AtDefaultEndpoint(url), **kwargs))


def test_detect_auto_unknown_probes_imds(imds_emulator):
    facts = gather(imds_emulator, detect="auto", result=UNKNOWN)
    assert facts["is_azure"] is True and facts["detection"] == "imds"
    assert probe_default_endpoint(imds_emulator.url)["is_azure"] is True


def test_detect_auto_unknown_and_nothing_listening_at_the_default_endpoint_is_not_azure(closed_port):
    started = time.monotonic()
    facts = probe_default_endpoint("http://127.0.0.1:%d" % closed_port)
    assert time.monotonic() - started < 1
    assert facts["is_azure"] is False and facts["detection"] == "imds" and facts["endpoint"] == _client.DEFAULT_ENDPOINT


def test_detect_auto_unknown_and_a_plain_web_server_at_the_default_endpoint_is_not_azure(canned_server):
    # Another cloud's metadata service at 169.254.169.254: a 404 page, not IMDS's JSON.
    server = canned_server("HTTP/1.1 404 Not Found", [("Content-Type", "text/html")], b"<html>404</html>")
    assert probe_default_endpoint(server.url)["is_azure"] is False


def test_detect_auto_unknown_and_html_still_fails(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["html=1"])
    with pytest.raises(ImdsNotImds):
        gather(emu, detect="auto", result=UNKNOWN)
    with pytest.raises(ImdsNotImds):
        probe_default_endpoint(emu.url)


# An endpoint set to anything but IMDS's own address is never evidence of "not Azure" (issue 22, item 6).

def test_detect_auto_unknown_and_an_endpoint_that_does_not_answer_fails(closed_port, monkeypatch):
    monkeypatch.setattr(_client.ImdsClient, "__init__", _fast_retries(_client.ImdsClient.__init__))
    with pytest.raises(ImdsUnreachable) as info:
        gather(None, endpoint="http://127.0.0.1:%d" % closed_port, detect="auto", result=UNKNOWN)
    assert "cannot connect" in str(info.value) and info.value.attempts == 4      # no quick probe: the usual retries
    assert "the endpoint is set to http://127.0.0.1:%d: a failure there never means that this is not Azure" % closed_port in str(info.value)


def test_detect_auto_unknown_and_an_https_endpoint_of_a_plain_http_server_fails(imds_emulator):
    with pytest.raises(ImdsNotImds, match="TLS handshake failed"):
        gather(None, endpoint=imds_emulator.url.replace("http://", "https://"), detect="auto", result=UNKNOWN)


def test_detect_auto_unknown_and_a_plain_web_server_at_an_endpoint_fails(canned_server):
    server = canned_server("HTTP/1.1 404 Not Found", [("Content-Type", "text/html")], b"<html>404</html>")
    with pytest.raises(ImdsError, match="404 Not Found.*never means that this is not Azure"):
        gather(None, endpoint=server.url, detect="auto", result=UNKNOWN, api_version="2021-02-01")


def test_azure_by_dmi_and_unreachable_fails(closed_port, monkeypatch):
    monkeypatch.setattr(_client.ImdsClient, "__init__", _fast_retries(_client.ImdsClient.__init__))
    with pytest.raises(ImdsUnreachable, match="cannot connect"):
        gather(None, endpoint="http://127.0.0.1:%d" % closed_port, detect="auto", result=AZURE)


def _fast_retries(original):
    def init(self, *args, **kwargs):
        kwargs["sleep"] = lambda seconds: None
        original(self, *args, **kwargs)
    return init


@pytest.mark.parametrize("fault", ["html=1", "truncate=1"])
def test_bad_bodies_never_become_facts(imds_emulator_factory, fault):
    emu = imds_emulator_factory(faults=[fault])
    with pytest.raises(ImdsNotImds):
        gather(emu, detect="auto", result=AZURE, api_version="2021-02-01")


def test_instance_document_without_compute_is_not_imds():
    class Odd(object):
        def request(self, method, url, headers, body, timeout):
            return Response(200, {"Content-Type": "application/json"}, b'{"compute": "x", "network": {}}')

    def factory(**kwargs):
        return ImdsClient(transport=Odd(), **kwargs)

    with pytest.raises(ImdsNotImds, match="compute"):
        gather_facts({"api_version": "2021-02-01", "detect": "false"}, client_factory=factory)


@pytest.mark.parametrize("compute, message", [
    ({"platformFaultDomain": [0, 1]}, "compute.platformFaultDomain is an array, not a whole number from 0 to 999"),
    ({"platformFaultDomain": float("nan")}, "compute.platformFaultDomain is a number with a fraction or an exponent"),
    ({"tagsList": [{"name": "env", "value": "a"}, {"name": "env", "value": "b"}]}, "compute.tagsList names tag 'env' twice"),
])
def test_a_field_that_imds_never_sends_that_way_fails_the_module(imds_emulator_factory, compute, message):
    emu = imds_emulator_factory(profile={"compute": compute})
    with pytest.raises(ImdsNotImds) as caught:
        gather(emu, api_version="2021-02-01")
    assert ("IMDS answered %s/metadata/instance with JSON that is not an IMDS instance document (%s" % (emu.url, message)) in str(caught.value)
    assert str(caught.value).endswith("): this is not IMDS. Nothing was gathered.")


def _canned(body):
    class Canned(object):
        def request(self, method, url, headers, body_, timeout):  # pylint: disable=unused-argument
            return Response(200, {"Content-Type": "application/json"}, body)

    return lambda **kwargs: ImdsClient(transport=Canned(), **kwargs)


@pytest.mark.parametrize("body, message", [
    (b'{"compute": {"tagsList": [{"value": "prod"}]}, "network": {}}', r"compute.tagsList\[0\] has null as its name"),
    (b'{"compute": {"platformFaultDomain": 1e400}, "network": {}}', "compute.platformFaultDomain is a number with a fraction"),
    (b'{"compute": {"platformFaultDomain": ' + b"9" * 4000 + b'}, "network": {}}', "is a number of more than 12 digits"),
    (b'{"compute": {}, "network": []}', "network is an array, not an object"),
    (b'{"compute": {"platformFaultDomain": true}, "network": {}}', "compute.platformFaultDomain is a boolean"),
    (b'{"compute": {"platformFaultDomain": "1 "}, "network": {}}', "compute.platformFaultDomain is '1 '"),
    (b'{"compute": {"platformUpdateDomain": "-1"}, "network": {}}', "compute.platformUpdateDomain is '-1'"),
    (b'{"compute": {"zone": ["1"]}, "network": {}}', "compute.zone is an array"),
    (b'{"compute": {"location": {"name": "westeurope"}}, "network": {}}', "compute.location is an object"),
])
def test_answers_a_server_makes_up_fail_the_module(body, message):
    with pytest.raises(ImdsNotImds, match=message):
        gather_facts({"api_version": "2021-02-01", "detect": "false"}, client_factory=_canned(body))


def test_other_subsets_are_checked_too():
    for subset, body, message in [
        ("loadbalancer", b'{"publicIpAddresses": []}', "not an IMDS load balancer document"),
        ("scheduledevents", b'{"DocumentIncarnation": 1, "Events": [{"EventId": "A", "Resources": [1]}]}',
         r"not an IMDS scheduled events document \(Resources of event A is not a list of strings\)"),
    ]:
        with pytest.raises(ImdsNotImds, match=message):
            gather_facts({"api_version": "2021-02-01", "detect": "false", "gather_subset": [subset]}, client_factory=_canned(body))


# --------------------------------------------------------------------------- hostile answers (issue 14)

def test_detect_auto_a_listener_that_stalls_is_an_imds_failure(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["stall=30"])
    with pytest.raises(ImdsTimeout) as info:
        probe_default_endpoint(emu.url, timeout=0.5, deadline=2)
    assert "accepted the connection" in str(info.value) and "not a sign that this is not Azure" in str(info.value)


def test_detect_auto_a_listener_that_resets_is_an_imds_failure(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["reset=1"])
    with pytest.raises(ImdsUnreachable, match="accepted the connection") as info:
        probe_default_endpoint(emu.url, timeout=0.5, deadline=2)
    assert info.value.connected


def test_detect_auto_an_answer_without_a_status_line_is_an_imds_failure(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["no-status-line=1"])
    with pytest.raises(ImdsNotImds, match="does not start with an HTTP/1.x status line") as info:
        probe_default_endpoint(emu.url)
    assert "without answering" not in str(info.value)


def test_empty_endpoint_is_an_error_not_the_default(imds_emulator):
    for result in (AZURE, NOT_AZURE, UNKNOWN):
        with pytest.raises(ImdsConfigError, match="endpoint is empty"):
            gather(None, endpoint="", detect="auto", result=result)


def test_user_data_that_gunzips_beyond_the_limit_is_refused(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["gzip-bomb=40"])
    gzip_bomb(40)   # the emulator in this process builds its bomb outside the measurement
    tracemalloc.start()
    try:
        with pytest.raises(ImdsTooLarge, match="expands to more than 1024 KiB when decompressed") as info:
            gather(emu, no_log=True, gather_subset=["instance", "userdata"], api_version="2021-02-01")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.kind == "too_large"
    assert peak < 16 * 1024 * 1024, peak


def test_user_data_larger_than_azure_allows_is_refused(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["gzip-bomb=100"])
    with pytest.raises(ImdsTooLarge, match="more than the 64 KiB that Azure allows"):
        gather(emu, no_log=True, gather_subset=["userdata"], api_version="2021-02-01")
