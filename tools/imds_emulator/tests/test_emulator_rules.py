# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Request rules: Metadata header, X-Forwarded-For, api-version per category, duplicates, methods."""

import re

import pytest

from imds_emu_helpers import call

VERSION_ERROR = {
    "error": "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds",
    "newest-versions": ["2025-04-07", "2024-07-17", "2024-03-15"],
}
PATHS = [
    "/metadata/instance?api-version=2021-02-01",
    "/metadata/attested/document?api-version=2021-02-01",
    "/metadata/loadbalancer?api-version=2021-02-01",
    "/metadata/scheduledevents?api-version=2020-07-01",
    "/metadata/versions",
]


@pytest.mark.parametrize("path", PATHS)
def test_metadata_header_required(imds_emulator, path):
    reply = call(imds_emulator.url, path, metadata=False)
    assert reply.status == 400
    assert reply.json() == {"error": "Bad request: . Required metadata header not specified"}
    assert call(imds_emulator.url, path, metadata=False, headers={"Metadata": "false"}).status == 400


@pytest.mark.parametrize("value", ["true", "True", "TRUE"])
def test_metadata_header_value_case_insensitive(imds_emulator, value):
    assert call(imds_emulator.url, PATHS[0], metadata=False, headers={"Metadata": value}).status == 200
    assert call(imds_emulator.url, PATHS[0], metadata=False, headers={"metadata": value}).status == 200


def test_identity_missing_header(imds_emulator):
    # The answer Azure SDKs' probes get (and mock in their tests), not bad_request_102 of the retired VM extension.
    reply = call(imds_emulator.url, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x", metadata=False)
    assert reply.status == 400
    assert reply.json() == {"error": "invalid_request", "error_description": "Required metadata header not specified"}


@pytest.mark.parametrize("path", PATHS + ["/metadata/identity/oauth2/token", "/nowhere", "/_emulator/log"])
def test_server_header_names_imds_with_a_build_number(imds_emulator, path):
    # MSAL .NET and JS parse it this way; a build below 1854 means "no IMDSv2 credential endpoints".
    server = call(imds_emulator.url, path).headers["server"]
    match = re.match(r"^IMDS/\d+\.\d+\.\d+\.(\d+)$", server)
    assert match and int(match.group(1)) < 1854, server


@pytest.mark.parametrize("path", PATHS)
def test_x_forwarded_for_rejected(imds_emulator, path):
    reply = call(imds_emulator.url, path, headers={"X-Forwarded-For": "10.0.0.1"})
    assert reply.status == 400
    assert "X-Forwarded-For" in reply.json()["error"]


@pytest.mark.parametrize("path", [
    "/metadata/instance", "/metadata/instance?api-version=", "/metadata/instance?api-version=latest",
    "/metadata/instance?api-version=2017-07-01", "/metadata/instance?version=2021-02-01", "/metadata/instance?api-version=2020-07-01",
    "/metadata", "/metadata/", "/metadata?api-version=2021-02-01",
    "/metadata?format=json", "/metadata/attested/document",
])
def test_api_version_error_body(imds_emulator, path):
    reply = call(imds_emulator.url, path)
    assert reply.status == 400
    assert reply.json() == VERSION_ERROR


def test_versions_endpoint_is_unversioned(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/versions")
    assert reply.status == 200
    versions = reply.json()["apiVersions"]
    assert versions == sorted(versions)
    assert len(versions) == 35 and versions[-1] == "2025-04-07"


def test_every_listed_version_is_served(imds_emulator):
    # A client may pick any version /metadata/versions lists, the preview 2017-03-01 included.
    for version in call(imds_emulator.url, "/metadata/versions").json()["apiVersions"]:
        reply = call(imds_emulator.url, "/metadata/instance?api-version=" + version)
        assert reply.status == 200 and set(reply.json()) == {"compute", "network"}, (version, reply.status)


def test_preview_version_answers_in_the_preview_shape(imds_emulator):
    # Microsoft's preview page (ms.date 03/27/2017): the eleven compute fields of 2017-04-02, the network
    # under the preview's names.
    compute = imds_emulator.profile["compute"]
    document = call(imds_emulator.url, "/metadata/instance?api-version=2017-03-01").json()
    assert document["compute"] == {key: compute[key] for key in (
        "location", "name", "offer", "osType", "platformFaultDomain", "platformUpdateDomain", "publisher", "sku", "version", "vmId", "vmSize")}
    nic = imds_emulator.profile["network"]["interface"][0]
    assert document["network"]["interface"][0] == {
        "ipv4": {"ipaddress": [{"ipaddress": nic["ipv4"]["ipAddress"][0]["privateIpAddress"], "publicip": nic["ipv4"]["ipAddress"][0]["publicIpAddress"]}],
                 "subnet": nic["ipv4"]["subnet"]},
        "ipv6": {"ipaddress": [{"ipaddress": nic["ipv6"]["ipAddress"][0]["privateIpAddress"]}]},
        "mac": nic["macAddress"],
    }
    mac = call(imds_emulator.url, "/metadata/instance/network/interface/0/mac?api-version=2017-03-01&format=text")
    assert (mac.status, mac.text) == (200, nic["macAddress"])


def test_duplicate_query_parameters(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/instance?api-version=2021-02-01&api-version=2021-02-01")
    assert reply.status == 400
    reply = call(imds_emulator.url, "/metadata/instance/compute?api-version=2021-02-01&format=json&format=json")
    assert reply.status == 400
    assert "Duplicate" in reply.json()["error"]


def test_unknown_format(imds_emulator):
    assert call(imds_emulator.url, "/metadata/instance?api-version=2021-02-01&format=xml").status == 400


@pytest.mark.parametrize("path", ["/metadata/attested/document?api-version=2021-02-01&format=text",
                                  "/metadata/scheduledevents?api-version=2020-07-01&format=text",
                                  "/metadata/loadbalancer?api-version=2021-02-01&format=text"])
def test_text_only_on_instance(imds_emulator, path):
    assert call(imds_emulator.url, path).status == 400


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD"])
@pytest.mark.parametrize("path", ["/metadata/instance?api-version=2021-02-01", "/metadata/versions",
                                  "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x",
                                  "/metadata/attested/document?api-version=2021-02-01"])
def test_wrong_methods_405(imds_emulator, method, path):
    reply = call(imds_emulator.url, path, method=method, body="{}" if method != "HEAD" else None)
    assert reply.status == 405
    assert reply.headers["allow"] == "GET"


def test_scheduled_events_allow_post_but_not_put(imds_emulator):
    path = "/metadata/scheduledevents?api-version=2020-07-01"
    assert call(imds_emulator.url, path, method="POST", body={"StartRequests": []}).status == 200
    reply = call(imds_emulator.url, path, method="PUT", body="{}")
    assert reply.status == 405
    assert reply.headers["allow"] == "GET, POST"


@pytest.mark.parametrize("path, ok", [
    ("/metadata/scheduledevents?api-version=2020-07-01", True),
    ("/metadata/scheduledevents?api-version=2019-01-01", True),
    ("/metadata/scheduledevents?api-version=2017-11-01", True),
    ("/metadata/scheduledevents?api-version=2021-02-01", False),
    ("/metadata/scheduledevents?api-version=2025-04-07", False),
    ("/metadata/instance?api-version=2017-04-02", True),
    ("/metadata/instance?api-version=2019-01-01", False),
    ("/metadata/identity/oauth2/token?api-version=2018-02-01&resource=r", True),
    ("/metadata/identity/oauth2/token?api-version=2017-12-01&resource=r", False),
    ("/metadata/attested/document?api-version=2018-10-01", True),
    ("/metadata/attested/document?api-version=2018-04-02", False),
    ("/metadata/loadbalancer?api-version=2020-10-01", True),
    ("/metadata/loadbalancer?api-version=2020-09-01", False),
])
def test_versions_validated_per_category(imds_emulator, path, ok):
    reply = call(imds_emulator.url, path)
    assert (reply.status == 200) is ok, reply
    if not ok:
        assert reply.status == 400


def test_scheduled_events_newest_versions(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/scheduledevents?api-version=2021-02-01")
    assert reply.json()["newest-versions"] == ["2020-07-01", "2019-08-01", "2019-04-01"]


@pytest.mark.imds_emulator(profile={"emulator": {"versions": ["2021-02-01", "2020-10-01", "2019-06-01", "2018-02-01", "2017-04-02"]}})
def test_lagging_region_versions(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/instance?api-version=2025-04-07")
    assert reply.status == 400
    assert reply.json()["newest-versions"] == ["2021-02-01", "2020-10-01", "2019-06-01"]
    assert call(imds_emulator.url, "/metadata/instance?api-version=2021-02-01").status == 200
    assert call(imds_emulator.url, "/metadata/versions").json()["apiVersions"][-1] == "2021-02-01"


@pytest.mark.imds_emulator(profile={"emulator": {"versions": ["2020-06-01", "2019-06-01"], "unavailable_version_status": 404,
                                                 "versions_endpoint": False}})
def test_old_service_knobs(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/instance?api-version=2021-02-01")
    assert reply.status == 404
    assert reply.json() == {"error": "Not found. Invalid version requested"}
    assert call(imds_emulator.url, "/metadata/versions").status == 404
    assert call(imds_emulator.url, "/metadata/instance?api-version=2020-06-01").status == 200
    assert call(imds_emulator.url, "/metadata/instance?api-version=garbage").status == 400


def test_control_endpoints_need_no_header_and_are_not_logged(imds_emulator):
    call(imds_emulator.url, "/metadata/instance?api-version=2021-02-01")
    reply = call(imds_emulator.url, "/_emulator/log", metadata=False)
    assert reply.status == 200
    records = reply.json()
    assert [r["path"] for r in records] == ["/metadata/instance"]
    assert records[0]["query"] == {"api-version": "2021-02-01"}
    assert records[0]["status"] == 200
    assert call(imds_emulator.url, "/_emulator/log", method="DELETE", metadata=False).json() == {"cleared": 1}
    assert imds_emulator.request_log == []
    assert call(imds_emulator.url, "/_emulator/nothing", metadata=False).status == 404
