# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Instance endpoint: tree walking, text format, leaves, unknown paths."""

import base64

import pytest

from imds_emu_helpers import call, walk_leaves

V = "2021-02-01"


def test_full_document(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/instance?api-version=%s" % V)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    doc = reply.json()
    assert set(doc) == {"compute", "network"}
    assert doc["compute"]["vmId"] == imds_emulator.profile["compute"]["vmId"]
    assert 1 <= len(doc["network"]["interface"]) <= 2


def test_every_instance_value_is_a_string(imds_emulator):
    doc = call(imds_emulator.url, "/metadata/instance?api-version=2025-04-07").json()
    leaves = list(walk_leaves(doc))
    assert leaves
    bad = [(path, value) for path, value in leaves if not isinstance(value, str)]
    assert bad == []


@pytest.mark.parametrize("path, expected_key", [
    ("/metadata/instance/compute", "vmId"),
    ("/metadata/instance/network", "interface"),
    ("/metadata/instance/network/interface/0", "macAddress"),
    ("/metadata/instance/network/interface/0/ipv4", "ipAddress"),
    ("/metadata/instance/compute/storageProfile/osDisk", "managedDisk"),
])
def test_subtree_json(imds_emulator, path, expected_key):
    reply = call(imds_emulator.url, path + "?api-version=" + V)
    assert reply.status == 200
    assert expected_key in reply.json()


def test_leaf_with_text(imds_emulator):
    compute = imds_emulator.profile["compute"]
    reply = call(imds_emulator.url, "/metadata/instance/compute/vmId?api-version=%s&format=text" % V)
    assert reply.status == 200
    assert reply.text == compute["vmId"]
    assert reply.headers["content-type"].startswith("text/plain")
    nic = imds_emulator.profile["network"]["interface"][0]
    reply = call(imds_emulator.url, "/metadata/instance/network/interface/0/ipv4/ipAddress/0/privateIpAddress?api-version=%s&format=text" % V)
    assert reply.text == nic["ipv4"]["ipAddress"][0]["privateIpAddress"]


@pytest.mark.parametrize("fmt", ["", "&format=json"])
def test_leaf_without_text_is_400(imds_emulator, fmt):
    reply = call(imds_emulator.url, "/metadata/instance/compute/vmId?api-version=%s%s" % (V, fmt))
    assert reply.status == 400
    assert "error" in reply.json()


def test_text_lists_children(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/instance?api-version=%s&format=text" % V)
    assert reply.status == 200
    assert reply.text == "compute/\nnetwork/"
    lines = call(imds_emulator.url, "/metadata/instance/compute?api-version=%s&format=text" % V).text.split("\n")
    assert "vmId" in lines and "storageProfile/" in lines and "tagsList/" in lines and "tags" in lines
    nics = call(imds_emulator.url, "/metadata/instance/network/interface?api-version=%s&format=text" % V).text.split("\n")
    assert nics == ["%d/" % i for i in range(len(imds_emulator.profile["network"]["interface"]))]


def test_tags_and_tags_list_agree(imds_emulator):
    text = call(imds_emulator.url, "/metadata/instance/compute/tags?api-version=%s&format=text" % V).text
    tags_list = call(imds_emulator.url, "/metadata/instance/compute/tagsList?api-version=%s" % V).json()
    assert isinstance(tags_list, list) and tags_list
    assert text == ";".join("%s:%s" % (t["name"], t["value"]) for t in tags_list)


@pytest.mark.parametrize("path", [
    "/metadata/instance/compute/identity",
    "/metadata/instance/location",
    "/metadata/instance/compute/VMID",
    "/metadata/instance/network/interface/7",
    "/metadata/instance/network/interface/x",
    "/metadata/instance/network/interface/00",
    "/metadata/nothing",
    "/latest/meta-data",
])
def test_unknown_paths_404(imds_emulator, path):
    reply = call(imds_emulator.url, path + "?api-version=" + V)
    assert reply.status == 404
    assert reply.json() == {"error": "Not found"}


def test_one_trailing_slash_is_tolerated(imds_emulator):
    assert call(imds_emulator.url, "/metadata/instance/compute/?api-version=" + V).status == 200


def test_user_data(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/instance/compute/userData?api-version=2021-01-01&format=text")
    assert reply.status == 200
    assert base64.b64decode(reply.text).startswith(b"#cloud-config")
    assert call(imds_emulator.url, "/metadata/instance/compute/userData?api-version=2020-12-01&format=text").status == 404


@pytest.mark.parametrize("version, present", [("2018-10-01", False), ("2019-02-01", True), ("2019-06-01", True), ("2025-04-07", True)])
def test_custom_data_is_present_and_empty_from_2019_02_01(imds_emulator, version, present):
    # Disabled in IMDS; Microsoft's 2019-06-01 sample response carries "customData": "".
    compute = call(imds_emulator.url, "/metadata/instance/compute?api-version=" + version).json()
    assert ("customData" in compute) is present
    assert compute.get("customData", "") == ""


def test_extended(imds_emulator):
    doc = call(imds_emulator.url, "/metadata/instance?api-version=2021-08-01&extended=true").json()
    assert doc["extended"]["compute"]["hasCustomData"] is False
    assert "extended" not in call(imds_emulator.url, "/metadata/instance?api-version=2021-08-01").json()


def test_keep_alive_connection_reused(imds_emulator):
    import http.client  # pylint: disable=import-outside-toplevel
    conn = http.client.HTTPConnection("127.0.0.1", imds_emulator.port, timeout=5)
    try:
        for _dummy in range(3):
            conn.request("GET", "/metadata/instance/compute/name?api-version=%s&format=text" % V, headers={"Metadata": "true"})
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.read().decode() == imds_emulator.profile["compute"]["name"]
    finally:
        conn.close()
    clients = {record.client for record in imds_emulator.request_log}
    assert len(clients) == 1


def test_reprovision_data_only_for_a_pre_provisioned_vm(imds_emulator):
    path = "/metadata/reprovisiondata?api-version=2019-06-01"
    assert call(imds_emulator.url, path).status == 404
    imds_emulator.update_profile({"emulator": {"extended": {"ppsType": "Running"}}})
    reply = call(imds_emulator.url, path)
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/xml")
    computer = imds_emulator.profile["compute"]["osProfile"]["computerName"]
    assert "<wa:HostName>%s</wa:HostName>" % computer in reply.text
    assert call(imds_emulator.url, "/metadata/reprovisiondata?api-version=2017-03-01").status == 400
    assert call(imds_emulator.url, path, metadata=False).status == 400
    assert call(imds_emulator.url, path + "&format=text").status == 400
    imds_emulator.update_profile({"compute": {"osProfile": {"computerName": "db<1>&2"}}})
    assert "<wa:HostName>db&lt;1&gt;&amp;2</wa:HostName>" in call(imds_emulator.url, path).text
