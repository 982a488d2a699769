# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared IMDS client against the in-process emulator: request rules, versions, retries, validation."""

from __future__ import annotations

import importlib
import sys
import time

import pytest

from ansible_collections.imds.azure.plugins.module_utils import _client
from ansible_collections.imds.azure.plugins.module_utils._client import DEFAULT_ENDPOINT, ImdsClient
from ansible_collections.imds.azure.plugins.module_utils._errors import (
    ImdsConfigError,
    ImdsError,
    ImdsNotFound,
    ImdsNotImds,
    ImdsRejected,
    ImdsServerError,
    ImdsThrottled,
    ImdsTimeout,
    ImdsUnreachable,
)
from ansible_collections.imds.azure.plugins.module_utils._transport import ConnectError, Response, UrlTransport
from tools.imds_emulator import versions as emulator_versions

NEWEST = "2025-04-07"


def client_for(emu, fake_time=None, **kwargs):
    warnings = kwargs.pop("warnings", None)
    if fake_time is not None:
        kwargs.setdefault("sleep", fake_time.sleep)
        kwargs.setdefault("clock", fake_time.clock)
    kwargs.setdefault("rand", lambda: 0.0)
    if warnings is not None:
        kwargs["warn"] = warnings.append
    return ImdsClient(endpoint=emu.url, **kwargs)


def metadata_log(emu):
    return [record for record in emu.request_log if record.path.startswith("/metadata")]


# --------------------------------------------------------------------------- request rules

def test_headers_metadata_true_and_no_forwarded_for(imds_emulator):
    client = client_for(imds_emulator, api_version="2021-02-01")
    client.get_json("instance")
    (record,) = metadata_log(imds_emulator)
    headers = dict((k.lower(), v) for k, v in record.headers.items())
    assert headers["metadata"] == "true"
    assert "x-forwarded-for" not in headers
    assert record.status == 200


def test_proxies_in_environment_are_bypassed(imds_emulator, monkeypatch, closed_port):
    dead = "http://127.0.0.1:%d" % closed_port
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("NO_PROXY", "")
    client = client_for(imds_emulator)
    assert "compute" in client.get_json("instance")
    assert [r.status for r in metadata_log(imds_emulator)] == [200, 200]


@pytest.mark.parametrize("path", [
    "..", "../versions", "compute/../../versions", "./compute", "compute//location", "compute/loc ation",
    "compute?api-version=2017-04-02", "compute#x", "compute\r\nX-Forwarded-For: 1.2.3.4", "compute/%2e%2e",
    "http://evil.example/x", "compute\\location", "compute/location;x", "@evil", "compute/\u00e9",
])
def test_bad_paths_are_refused_before_any_request(imds_emulator, path):
    client = client_for(imds_emulator, api_version="2021-02-01")
    with pytest.raises(ImdsConfigError):
        client.get_text("instance", path)
    assert client.request_count == 0
    assert metadata_log(imds_emulator) == []


def test_good_paths_are_encoded_and_stay_under_the_category(imds_emulator):
    client = client_for(imds_emulator, api_version="2021-02-01")
    assert client.get_text("instance", "/compute/location/") == "westeurope"
    assert client.get_json("instance", ["network", "interface", "0"])["macAddress"]
    paths = [r.path for r in metadata_log(imds_emulator)]
    assert paths == ["/metadata/instance/compute/location", "/metadata/instance/network/interface/0"]


def test_unknown_category_refused(imds_emulator):
    client = client_for(imds_emulator)
    with pytest.raises(ImdsConfigError):
        client.get_json("../instance")
    with pytest.raises(ImdsConfigError):
        client.get_json("metadata")
    assert client.request_count == 0


def test_query_values_are_encoded_and_reserved_keys_refused(imds_emulator):
    client = client_for(imds_emulator, api_version="2021-02-01")
    client.get_json("attested", "document", query={"nonce": "ab&api-version=1"})
    (record,) = metadata_log(imds_emulator)
    assert record.query == {"api-version": "2021-02-01", "nonce": "ab&api-version=1"}
    for bad in ({"api-version": "2017-04-02"}, {"format": "text"}, {"a b": "x"}, {"x\r\n": "y"}):
        with pytest.raises(ImdsConfigError):
            client.get_json("attested", "document", query=bad)
    assert client.request_count == 1


@pytest.mark.parametrize("endpoint", [
    "", "169.254.169.254", "ftp://169.254.169.254", "http://169.254.169.254/metadata", "http://169.254.169.254?x=1",
    "http://user:pw@169.254.169.254", "http://169.254.169.254\r\nHost: evil", "http://", "http://h:99999", "http://h#f",
])
def test_bad_endpoints_are_refused(endpoint):
    with pytest.raises(ImdsConfigError):
        ImdsClient(endpoint=endpoint)


def test_endpoint_normalised():
    assert ImdsClient(endpoint="http://169.254.169.254/").endpoint == DEFAULT_ENDPOINT
    assert ImdsClient().endpoint == DEFAULT_ENDPOINT
    assert ImdsClient(endpoint="http://[::1]:8080").endpoint == "http://[::1]:8080"


@pytest.mark.parametrize("version", ["2021-02-01x", "21-02-01", "latest ", "2021-02-01&x=1", "", 20210201])
def test_bad_api_versions_are_refused(version):
    with pytest.raises(ImdsConfigError):
        ImdsClient(api_version=version)


def test_redirects_are_not_followed(fake_time):
    class RedirectTransport(object):
        calls = []

        def request(self, method, url, headers, body, timeout):
            self.calls.append(url)
            return Response(302, {"Location": "http://evil.example/"}, b"")

    transport = RedirectTransport()
    client = ImdsClient(api_version="2021-02-01", transport=transport, sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(ImdsNotImds, match="redirect"):
        client.get_json("instance")
    assert len(transport.calls) == 1


# --------------------------------------------------------------------------- versions

def test_latest_negotiates_once_per_client(imds_emulator):
    client = client_for(imds_emulator)
    client.get_json("instance")
    client.get_text("instance", "compute/vmId")
    assert client.api_version_for("instance") == NEWEST
    log = metadata_log(imds_emulator)
    assert [r.path for r in log] == ["/metadata/versions", "/metadata/instance", "/metadata/instance/compute/vmId"]
    assert log[0].query == {}
    assert all(r.query["api-version"] == NEWEST for r in log[1:])
    assert client.request_count == 3
    assert client.available_versions()[-1] == NEWEST
    assert client.request_count == 3


def test_latest_uses_what_the_region_serves(imds_emulator_factory):
    emu = imds_emulator_factory(profile={"emulator": {"versions": ["2019-06-01", "2020-12-01", "2021-12-13"]}})
    client = client_for(emu)
    client.get_json("instance")
    assert client.api_version_for("instance") == "2021-12-13"
    assert client.available_versions() == ["2019-06-01", "2020-12-01", "2021-12-13"]


def test_latest_without_versions_endpoint_uses_newest_versions_of_the_400(imds_emulator_factory):
    emu = imds_emulator_factory(profile={"emulator": {"versions_endpoint": False}})
    client = client_for(emu)
    assert "compute" in client.get_json("instance")
    log = metadata_log(emu)
    assert [(r.path, r.status) for r in log] == [
        ("/metadata/versions", 404), ("/metadata/instance", 400), ("/metadata/instance", 200)]
    assert log[-1].query["api-version"] == NEWEST
    assert client.api_version_for("instance") == NEWEST


def test_explicit_version_used_as_given(imds_emulator):
    client = client_for(imds_emulator, api_version="2019-06-01")
    compute = client.get_json("instance")["compute"]
    assert "tagsList" not in compute  # 2019-06-04
    assert "storageProfile" in compute  # 2019-06-01
    log = metadata_log(imds_emulator)
    assert [r.path for r in log] == ["/metadata/instance"]
    assert log[0].query["api-version"] == "2019-06-01"


def test_old_pinned_version_does_not_see_newer_fields(imds_emulator):
    compute = client_for(imds_emulator, api_version="2017-08-01").get_json("instance")["compute"]
    assert "tags" in compute
    for newer in ("zone", "vmScaleSetName", "tagsList", "priority", "userData", "platformSubFaultDomain"):
        assert newer not in compute


def test_rejected_explicit_version_lists_offered_versions(imds_emulator):
    client = client_for(imds_emulator, api_version="2017-07-01")
    with pytest.raises(ImdsRejected) as info:
        client.get_json("instance")
    assert info.value.newest_versions == ["2024-03-15", "2024-07-17", "2025-04-07"]
    assert "2025-04-07, 2024-07-17, 2024-03-15" in str(info.value)
    assert "api_version: latest" in str(info.value)
    assert client.request_count == 1


def test_version_missing_in_region_with_404_invalid_version(imds_emulator_factory):
    emu = imds_emulator_factory(profile={"emulator": {"versions": ["2019-06-01", "2020-12-01"], "unavailable_version_status": 404}})
    client = client_for(emu, api_version="2021-12-13")
    with pytest.raises(ImdsRejected, match="Invalid version"):
        client.get_json("instance")
    assert client.request_count == 1


def test_explicit_version_older_than_category_is_refused_locally(imds_emulator):
    client = client_for(imds_emulator, api_version="2019-06-01")
    with pytest.raises(ImdsConfigError, match="2020-10-01"):
        client.get_json("loadbalancer")
    assert client.request_count == 0


def test_scheduled_events_version_line(imds_emulator):
    assert client_for(imds_emulator).api_version_for("scheduledevents") == "2020-07-01"
    assert client_for(imds_emulator, api_version="2019-06-01").api_version_for("scheduledevents") == "2019-04-01"
    assert client_for(imds_emulator, api_version="2019-08-01").api_version_for("scheduledevents") == "2019-08-01"
    client = client_for(imds_emulator)
    assert client.get_json("scheduledevents")["Events"] == []
    (record,) = metadata_log(imds_emulator)
    assert record.query == {"api-version": "2020-07-01"}  # no versions request for scheduled events


def test_scheduled_events_latest_renegotiates_when_rejected(imds_emulator_factory):
    emu = imds_emulator_factory(profile={"emulator": {"scheduled_events_versions": ["2019-01-01", "2019-08-01"]}})
    client = client_for(emu)
    assert "Events" in client.get_json("scheduledevents")
    assert client.api_version_for("scheduledevents") == "2019-08-01"
    assert [(r.query["api-version"], r.status) for r in metadata_log(emu)] == [("2020-07-01", 400), ("2019-08-01", 200)]
    client.get_json("scheduledevents")
    assert client.request_count == 3


def test_post_json_approves_scheduled_event(imds_emulator):
    event_id = imds_emulator.add_scheduled_event("Freeze,notice=600")
    client = client_for(imds_emulator)
    events = client.get_json("scheduledevents")["Events"]
    assert [e["EventId"] for e in events] == [event_id]
    assert client.post_json("scheduledevents", "", {"StartRequests": [{"EventId": event_id}]}) is None
    assert client.get_json("scheduledevents")["Events"][0]["EventStatus"] == "Started"


# --------------------------------------------------------------------------- retries (fake time)

def test_5xx_exponential_backoff_until_deadline(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["status=500,path=/metadata/instance"])
    warnings = []
    client = client_for(emu, fake_time, api_version="2021-02-01", deadline=20, warnings=warnings)
    with pytest.raises(ImdsServerError) as info:
        client.get_json("instance")
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert info.value.attempts == 5 and client.request_count == 5
    assert "deadline" in str(info.value) and "HTTP 500" in str(info.value)
    assert len(warnings) == 1 and "HTTP 500" in warnings[0]


def test_backoff_is_capped_and_jittered(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["status=503"])
    client = client_for(emu, fake_time, api_version="2021-02-01", deadline=60, rand=lambda: 1.0)
    with pytest.raises(ImdsServerError):
        client.get_json("instance")
    assert fake_time.sleeps[:5] == [1.25, 2.5, 5.0, 10.0, 10.0]
    assert max(fake_time.sleeps) == 10.0
    assert sum(fake_time.sleeps) < 60


def test_30_percent_500s_succeed(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["status=500,ratio=0.3"], seed=7)
    client = client_for(emu, fake_time, api_version="2021-02-01")
    for _iteration in range(10):
        assert "compute" in client.get_json("instance")
    statuses = [r.status for r in metadata_log(emu)]
    assert statuses.count(200) == 10 and 500 in statuses


@pytest.mark.parametrize("status", [400, 401, 403, 405])
def test_client_errors_are_never_retried(imds_emulator_factory, fake_time, status):
    emu = imds_emulator_factory(faults=["status=%d" % status])
    client = client_for(emu, fake_time, api_version="2021-02-01")
    with pytest.raises(ImdsRejected) as info:
        client.get_json("instance")
    assert info.value.status == status
    assert client.request_count == 1 and fake_time.sleeps == []


def test_404_on_category_root_retried_a_bounded_number_of_times(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["status=404,path=/metadata/instance"])
    client = client_for(emu, fake_time, api_version="2021-02-01", deadline=300)
    with pytest.raises(ImdsNotFound):
        client.get_json("instance")
    assert fake_time.sleeps == [1.0, 2.0, 4.0]
    assert client.request_count == 4


def test_404_for_a_missing_path_is_not_retried(imds_emulator, fake_time):
    client = client_for(imds_emulator, fake_time, api_version="2021-02-01")
    with pytest.raises(ImdsNotFound) as info:
        client.get_text("instance", "compute/noSuchField")
    assert info.value.attempts == 1 and fake_time.sleeps == []
    assert not info.value.no_load_balancer


def test_no_standard_load_balancer_is_a_definitive_404(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(profile={"loadbalancer": None})
    client = client_for(emu, fake_time, api_version="2021-02-01")
    with pytest.raises(ImdsNotFound) as info:
        client.get_json("loadbalancer")
    assert info.value.no_load_balancer
    assert client.request_count == 1


def test_429_honours_retry_after(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["throttle=3"])
    client = client_for(emu, fake_time, api_version="2021-02-01")
    assert "compute" in client.get_json("instance")
    assert fake_time.sleeps == [1.0, 1.0, 1.0]
    assert [r.status for r in metadata_log(emu)] == [429, 429, 429, 200]


def test_429_storm_gives_up_at_deadline_as_throttled(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["status=429"])
    client = client_for(emu, fake_time, api_version="2021-02-01", deadline=10)
    with pytest.raises(ImdsThrottled):
        client.get_json("instance")
    assert fake_time.sleeps == [1.0, 2.0, 4.0]


def test_410_polled_for_at_most_70_seconds(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["status=410"])
    client = client_for(emu, fake_time, api_version="2021-02-01", deadline=600)
    with pytest.raises(ImdsServerError, match="410"):
        client.get_json("instance")
    assert fake_time.sleeps[:4] == [1.0, 2.0, 4.0, 5.0]
    assert set(fake_time.sleeps[3:]) == {5.0}
    assert 60 <= sum(fake_time.sleeps) <= 70


def test_connection_refused_retried_then_unreachable(closed_port, fake_time):
    client = ImdsClient(endpoint="http://127.0.0.1:%d" % closed_port, api_version="2021-02-01",
                        sleep=fake_time.sleep, clock=fake_time.clock, rand=lambda: 0.0)
    with pytest.raises(ImdsUnreachable) as info:
        client.get_json("instance")
    assert fake_time.sleeps == [1.0, 2.0, 4.0]
    assert info.value.attempts == 4 and info.value.status is None and not info.value.imds_answered
    assert "Check the endpoint option" in str(info.value)


def test_connect_retries_zero_fails_at_once(closed_port, fake_time):
    client = ImdsClient(endpoint="http://127.0.0.1:%d" % closed_port, connect_retries=0, sleep=fake_time.sleep, clock=fake_time.clock)
    started = time.monotonic()
    with pytest.raises(ImdsUnreachable):
        client.get_json("instance")
    assert client.request_count == 1 and fake_time.sleeps == []
    assert time.monotonic() - started < 2


def test_unreachable_default_endpoint_gives_route_hint(fake_time):
    class Unreachable(object):
        def request(self, method, url, headers, body, timeout):
            assert url.startswith(DEFAULT_ENDPOINT + "/metadata/")
            raise ConnectError("Network is unreachable")

    client = ImdsClient(transport=Unreachable(), sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(ImdsUnreachable) as info:
        client.get_json("instance")
    message = str(info.value)
    assert "169.254.169.254/32" in message and "imds.azure.route" in message and "Network is unreachable" in message


def test_reset_connections_are_retried(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["reset=0.5"], seed=3)
    client = client_for(emu, fake_time, api_version="2021-02-01")
    for _iteration in range(6):
        assert "compute" in client.get_json("instance")
    assert client.request_count > 6


def test_each_distinct_failure_reported_once(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["status=500,ratio=0.5", "status=503,ratio=0.5"], seed=11)
    warnings = []
    client = client_for(emu, fake_time, api_version="2021-02-01", warnings=warnings, deadline=1000)
    for _iteration in range(8):
        client.get_json("instance")
    assert client.request_count > 12
    assert len(warnings) == len(set(warnings)) <= 2


# --------------------------------------------------------------------------- response validation

def test_html_200_is_not_imds(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["html=1"])
    client = client_for(emu, fake_time, api_version="2021-02-01")
    with pytest.raises(ImdsNotImds, match="HTML page") as info:
        client.get_json("instance")
    assert info.value.attempts == 1
    with pytest.raises(ImdsNotImds, match="HTML page"):
        client.get_text("instance", "compute/location")


def test_truncated_json_is_not_facts(imds_emulator_factory, fake_time):
    emu = imds_emulator_factory(faults=["truncate=1"])
    client = client_for(emu, fake_time, api_version="2021-02-01")
    with pytest.raises(ImdsNotImds, match="not valid JSON"):
        client.get_json("instance")


def test_versions_answer_without_list_is_not_imds(fake_time):
    class Odd(object):
        def request(self, method, url, headers, body, timeout):
            return Response(200, {"Content-Type": "application/json"}, b'{"hello": "world"}')

    with pytest.raises(ImdsNotImds, match="apiVersions"):
        ImdsClient(transport=Odd(), sleep=fake_time.sleep, clock=fake_time.clock).get_json("instance")


def test_non_json_403_from_a_proxy_is_not_imds(fake_time):
    class Proxy(object):
        def request(self, method, url, headers, body, timeout):
            return Response(403, {"Content-Type": "text/html"}, b"<html><body>Access denied by policy</body></html>")

    with pytest.raises(ImdsNotImds, match="not IMDS"):
        ImdsClient(api_version="2021-02-01", transport=Proxy(), sleep=fake_time.sleep, clock=fake_time.clock).get_json("instance")


def test_docker_desktop_403_unreachable_is_unreachable(fake_time):
    class Docker(object):
        def request(self, method, url, headers, body, timeout):
            return Response(403, {}, b"connecting to 169.254.169.254:80: dial tcp: connectex: unreachable network")

    with pytest.raises(ImdsUnreachable, match="169.254.169.254/32"):
        ImdsClient(api_version="2021-02-01", transport=Docker(), sleep=fake_time.sleep, clock=fake_time.clock).get_json("instance")


def test_errors_share_a_base_class():
    for cls in (ImdsUnreachable, ImdsTimeout, ImdsRejected, ImdsNotFound, ImdsThrottled, ImdsNotImds, ImdsServerError, ImdsConfigError):
        assert issubclass(cls, ImdsError)
    assert issubclass(ImdsConfigError, ValueError)


# --------------------------------------------------------------------------- real time

def test_real_time_stall_fails_within_deadline(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["stall=30"])
    client = ImdsClient(endpoint=emu.url, api_version="2021-02-01", timeout=0.5, deadline=2)
    started = time.monotonic()
    with pytest.raises(ImdsTimeout) as info:
        client.get_json("instance")
    elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed
    assert "did not answer in time" in str(info.value) and "deadline" in str(info.value)


def test_real_time_gone_window_then_success(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["gone=2"])
    client = ImdsClient(endpoint=emu.url, api_version="2021-02-01", timeout=2, deadline=20)
    assert "compute" in client.get_json("instance")
    statuses = [r.status for r in metadata_log(emu)]
    assert statuses[0] == 410 and statuses[-1] == 200


def test_real_time_rate_limit_respected(imds_emulator_factory):
    emu = imds_emulator_factory(rate_limit=5)
    client = ImdsClient(endpoint=emu.url, api_version="2021-02-01", deadline=30)
    for _iteration in range(12):
        client.get_text("instance", "compute/vmId")
    statuses = [r.status for r in metadata_log(emu)]
    assert statuses.count(200) == 12
    assert statuses.count(429) <= 6


def test_only_a_failed_attempt_imports_the_failure_and_retry_code(imds_emulator, monkeypatch, closed_port):
    """A module compiles what it imports on every run (docs/developing.md): a call that succeeds imports neither."""
    utils = "ansible_collections.imds.azure.plugins.module_utils."
    for name in list(sys.modules):  # a fresh import of the client for this test (restored after it)
        if name.startswith(utils):
            monkeypatch.delitem(sys.modules, name)
    client_class = importlib.import_module(utils + "_client").ImdsClient
    assert client_class(endpoint=imds_emulator.url).get_json("instance")["compute"]
    assert not [name for name in sys.modules if name in (utils + "_failures", utils + "_retry")]
    with pytest.raises(importlib.import_module(utils + "_errors").ImdsUnreachable, match="cannot connect"):
        client_class(endpoint="http://127.0.0.1:%d" % closed_port, connect_retries=0).get_json("instance")
    assert utils + "_failures" in sys.modules and utils + "_retry" in sys.modules


def test_url_transport_maps_connection_refused(closed_port):
    with pytest.raises(ConnectError):
        UrlTransport().request("GET", "http://127.0.0.1:%d/metadata/versions" % closed_port, {"Metadata": "true"}, None, 2)


def test_module_constants():
    assert _client.DEFAULT_ENDPOINT == "http://169.254.169.254"
    assert _client.SCHEDULED_EVENTS_VERSIONS[0] == "2020-07-01"


def test_version_tables_agree_with_the_emulator():
    # The emulator is written from Microsoft's documentation independently of the client (they share no
    # code); this is where the two tables meet, so neither can drift alone.
    assert _client.SCHEDULED_EVENTS_VERSIONS == emulator_versions.SCHEDULED_EVENTS_VERSIONS
    assert _client.SCHEDULED_EVENTS_VERSIONS[-1] == emulator_versions.CATEGORY_MINIMUM["scheduledevents"]
    # IMDS also answers the 2017-03-01 preview on /metadata/instance, in the preview's own network shape
    # (the emulator does): the client starts at the first GA version, whose shape the facts describe.
    emulator_minimum = dict((category, emulator_versions.CATEGORY_MINIMUM[category]) for category in _client.CATEGORY_MINIMUM_VERSION)
    emulator_minimum["instance"] = emulator_versions.FIRST_GA_VERSION
    assert _client.CATEGORY_MINIMUM_VERSION == emulator_minimum
