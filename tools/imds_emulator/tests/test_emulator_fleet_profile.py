# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Profiles (format, merging) and fleets."""

import json
import socket

import pytest
import yaml

from tools.imds_emulator import Fleet, generate_fleet
from tools.imds_emulator.profile import resolve_profile
from imds_emu_helpers import call


def test_default_profile_is_complete():
    prof = resolve_profile(None)
    compute = prof["compute"]
    for key in ("storageProfile", "securityProfile", "osProfile", "tags", "tagsList", "userData", "publicKeys", "plan"):
        assert key in compute
    assert 1 <= len(prof["network"]["interface"]) <= 2
    assert prof["loadbalancer"]["inboundRules"]
    # The casing real VMs report (recorded answers: emulator.rst), not the upper case of Microsoft's sample.
    assert compute["azEnvironment"] == "AzurePublicCloud"


def test_interfaces_with_ipv6_carry_its_subnet():
    # cloud-init reads ipv6.subnet[0].prefix for a second IPv6 address; an interface without IPv6 has no subnet.
    for prof in [resolve_profile(None)] + generate_fleet(6, seed=3):
        for nic in prof["network"]["interface"]:
            if nic["ipv6"]["ipAddress"]:
                assert nic["ipv6"]["subnet"][0]["prefix"] == "64"
                first = nic["ipv6"]["ipAddress"][0]["privateIpAddress"]
                assert first.startswith(nic["ipv6"]["subnet"][0]["address"].rstrip(":"))
            else:
                assert nic["ipv6"] == {"ipAddress": []}


def test_a_profile_ipv6_address_gets_a_subnet_and_a_bad_one_is_refused():
    def nic(*addresses, **extra):
        return {"network": {"interface": [{"ipv6": dict({"ipAddress": [{"privateIpAddress": a} for a in addresses]}, **extra),
                                           "macAddress": "000D3AFFFFFF"}]}}
    ipv6 = resolve_profile(nic("2001:db8:7::4", "2001:db8:7::5"))["network"]["interface"][0]["ipv6"]
    assert ipv6["subnet"] == [{"address": "2001:db8:7::", "prefix": "64"}]
    given = [{"address": "2001:db8::", "prefix": "48"}]
    assert resolve_profile(nic("2001:db8::4", subnet=given))["network"]["interface"][0]["ipv6"]["subnet"] == given
    with pytest.raises(ValueError, match="not an IPv6 address"):
        resolve_profile(nic("10.0.0.4"))


@pytest.mark.parametrize("pps_type", ["running", "Yes", ""])
def test_a_pps_type_imds_never_sends_is_refused(pps_type):
    with pytest.raises(ValueError, match="ppsType must be one of None, Running, Savable, PreprovisionedOSDisk"):
        resolve_profile({"emulator": {"extended": {"ppsType": pps_type}}})


def test_profile_merge_rules(tmp_path):
    path = tmp_path / "vm.yaml"
    path.write_text(yaml.safe_dump({
        "compute": {"name": "db-7", "zone": "", "plan": None, "storageProfile": {"resourceDisk": {"size": "0"}}},
        "tags": {"role": "db", "owner": "Zo\u00eb; ops:x"},
        "network": {"interface": [{"ipv4": {"ipAddress": [{"privateIpAddress": "10.9.0.4", "publicIpAddress": ""}], "subnet": []},
                                   "ipv6": {"ipAddress": []}, "macAddress": "000D3AFFFFFF"}]},
        "loadbalancer": None,
    }, allow_unicode=True, sort_keys=False), encoding="utf-8")
    prof = resolve_profile(str(path))
    compute = prof["compute"]
    assert compute["name"] == "db-7" and compute["zone"] == "" and "plan" not in compute
    assert compute["storageProfile"]["resourceDisk"]["size"] == "0"
    assert compute["storageProfile"]["osDisk"]["osType"] == "Linux"  # merged, not replaced
    assert compute["tagsList"] == [{"name": "role", "value": "db"}, {"name": "owner", "value": "Zo\u00eb; ops:x"}]
    assert compute["tags"] == "role:db;owner:Zo\u00eb; ops:x"
    assert len(prof["network"]["interface"]) == 1
    assert prof["loadbalancer"] is None


def test_json_profile_and_tags_string(tmp_path):
    path = tmp_path / "vm.json"
    path.write_text(json.dumps({"compute": {"tags": "a:1;b:2"}}))
    assert resolve_profile(str(path))["compute"]["tagsList"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]


def test_profile_control_endpoints(imds_emulator):
    assert call(imds_emulator.url, "/_emulator/profile", metadata=False).json()["compute"]["vmId"] == imds_emulator.profile["compute"]["vmId"]
    call(imds_emulator.url, "/_emulator/profile", method="PUT", metadata=False, body={"compute": {"location": "eastus2"}})
    assert call(imds_emulator.url, "/metadata/instance/compute/location?api-version=2021-02-01&format=text").text == "eastus2"


def test_fleet_generation_spread_and_determinism():
    fleet = generate_fleet(12, seed=1)
    computes = [p["compute"] for p in fleet]
    assert {c["platformFaultDomain"] for c in computes} == {"0", "1", "2"}
    assert {c["platformUpdateDomain"] for c in computes} == {"0", "1", "2", "3", "4"}
    assert {c["zone"] for c in computes} == {"1", "2", "3", ""}
    assert "Spot" in {c["priority"] for c in computes} and "Regular" in {c["priority"] for c in computes}
    assert any(c["vmScaleSetName"] for c in computes) and any(not c["vmScaleSetName"] for c in computes)
    assert len({c["vmSize"] for c in computes}) > 1
    values = [t["value"] for c in computes for t in c["tagsList"]]
    assert any(";" in v for v in values) and any(":" in v for v in values) and any(" " in v for v in values)
    assert any(ord(ch) > 127 for v in values for ch in v)
    for c in computes:
        assert c["tags"] == ";".join("%s:%s" % (t["name"], t["value"]) for t in c["tagsList"])
    assert len({c["vmId"] for c in computes}) == 12
    assert [c["vmId"] for c in computes] == [p["compute"]["vmId"] for p in generate_fleet(12, seed=1)]
    assert [c["vmId"] for c in computes] != [p["compute"]["vmId"] for p in generate_fleet(12, seed=2)]


def test_fleet_serves_each_vm():
    with Fleet(size=4, seed=1, rate_limit=None) as fleet:
        assert len(fleet.members) == 4 and len(set(fleet.urls)) == 4
        for member in fleet.members:
            vm_id = call(member.url, "/metadata/instance/compute/vmId?api-version=2021-02-01&format=text").text
            assert vm_id == member.profile["compute"]["vmId"]
        manifest = fleet.manifest()
        assert [m["url"] for m in manifest] == fleet.urls
        assert {"name", "url", "vmId", "fault_domain", "update_domain", "zone", "tags"} <= set(manifest[0])


def _free_base_port(count):
    for _dummy in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            socks = []
            for offset in range(count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    pytest.skip("no consecutive free ports")
    return None


def test_fleet_consecutive_ports():
    base = _free_base_port(3)
    with Fleet(size=3, seed=0, port=base, rate_limit=None) as fleet:
        assert [m.port for m in fleet.members] == [base, base + 1, base + 2]


def test_fleet_from_file(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps([{"compute": {"name": "alpha"}}, {"compute": {"name": "beta", "zone": "3"}, "loadbalancer": None}]))
    with Fleet(fleet_file=str(path), rate_limit=None) as fleet:
        names = [call(m.url, "/metadata/instance/compute/name?api-version=2021-02-01&format=text").text for m in fleet.members]
        assert names == ["alpha", "beta"]
        assert call(fleet.members[1].url, "/metadata/loadbalancer?api-version=2021-02-01").status == 404
