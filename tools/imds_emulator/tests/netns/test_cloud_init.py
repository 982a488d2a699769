# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud-init's Azure datasource (Debian package cloud-init, unpacked, never installed) against the emulator at 169.254.169.254.

Only what lies below IMDS is stood in for: the ephemeral DHCP lease cloud-init would take before it polls
(``_ephemeral_dhcp_ctx``); every HTTP request is cloud-init's own (url_helper.readurl over requests).
"""

import os
import threading
import time

import pytest

from real_client_helpers import debian_module

dsaz = debian_module("cloud-init", "cloudinit.sources.DataSourceAzure")
cloud_init_helpers = debian_module("cloud-init", "cloudinit.helpers")

IPV6_ADDRESSES = ["fd00:db8:1::4", "fd00:db8:1::5"]
# One NIC with two IPv6 addresses and no ipv6.subnet given: the emulator must give it one, as IMDS does.
DUAL_STACK = {"network": {"interface": [{
    "ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0.4", "publicIpAddress": ""}], "subnet": [{"address": "10.0.0.0", "prefix": "24"}]},
    "ipv6": {"ipAddress": [{"privateIpAddress": address} for address in IPV6_ADDRESSES]},
    "macAddress": "000D3A047598",
}]}}


class LeaseStandIn:
    """The ephemeral DHCP lease cloud-init takes before it talks to IMDS (cloudinit.net.ephemeral): up, and
    never torn down quietly: cloud-init tears it down when IMDS fails it, and this ends the poll there."""

    lease = {"interface": "eth0"}

    def clean_network(self):
        raise RuntimeError("cloud-init gave up on IMDS and would take a new DHCP lease")


@pytest.fixture
def datasource(tmp_path):
    paths = cloud_init_helpers.Paths({"cloud_dir": str(tmp_path / "cloud"), "run_dir": str(tmp_path / "run")})
    return dsaz.DataSourceAzure(sys_cfg={}, distro=None, paths=paths)


def instance_requests(emu):
    return [(record.query.get("api-version"), record.status) for record in emu.request_log if record.path == "/metadata/instance"]


@pytest.mark.imds_emulator(profile=DUAL_STACK)
def test_metadata_and_network_configuration_with_secondary_ipv6(imds, datasource):
    metadata = datasource.get_imds_data_with_api_fallback(retries=0)
    assert metadata["compute"]["vmId"] == imds.profile["compute"]["vmId"]
    assert metadata["extended"]["compute"]["ppsType"] == "None"
    # cloud-init asks for its newest version with extended=true, and needs no fallback.
    assert instance_requests(imds) == [("2021-08-01", 200)]
    assert imds.request_log[0].query["extended"] == "true" and imds.request_log[0].headers["Metadata"] == "true"
    config = dsaz.generate_network_config_from_instance_network_metadata(metadata["network"])
    eth0 = config["ethernets"]["eth0"]
    # The first address comes from DHCPv6, the second is static with the prefix of ipv6.subnet.
    assert eth0["dhcp6"] is True and eth0["addresses"] == ["%s/64" % IPV6_ADDRESSES[1]], config
    assert eth0["match"]["macaddress"] == "00:0d:3a:04:75:98"


@pytest.mark.parametrize("imds, answered", [
    ({"profile": {"emulator": {"versions": ["2019-06-01", "2020-09-01"]}}}, [("2021-08-01", 400), ("2019-06-01", 200)]),
    ({"profile": {"emulator": {"versions": ["2019-06-01", "2020-09-01"], "unavailable_version_status": 404}}}, [("2021-08-01", 404)]),
], indirect=["imds"], ids=["400 falls back", "404 does not"])
def test_version_fallback_only_on_400(imds, datasource, answered):
    # What emulator.rst says next to unavailable_version_status: cloud-init falls back to 2019-06-01 on 400 only.
    metadata = datasource.get_imds_data_with_api_fallback(retries=0)
    assert instance_requests(imds) == answered
    assert bool(metadata) == (answered[-1][1] == 200)


@pytest.mark.imds_emulator(profile={"emulator": {"extended": {"ppsType": "Running"}}})
def test_pre_provisioned_vm_gets_its_provisioning_data(imds, datasource):
    metadata = datasource.get_imds_data_with_api_fallback(retries=0)
    assert datasource._determine_pps_type({}, metadata) == dsaz.PPSType.RUNNING  # pylint: disable=protected-access
    # Reported ready before (the marker), lease up: cloud-init polls reprovisiondata until IMDS hands it the VM.
    marker = datasource._reported_ready_marker_file  # pylint: disable=protected-access
    os.makedirs(os.path.dirname(marker))
    with open(marker, "w", encoding="utf-8"):
        pass
    datasource._ephemeral_dhcp_ctx = LeaseStandIn()  # pylint: disable=protected-access
    result = {}
    poll = threading.Thread(target=lambda: result.update(data=datasource._poll_imds()), daemon=True)  # pylint: disable=protected-access
    poll.start()
    deadline = time.monotonic() + 60
    while poll.is_alive() and time.monotonic() < deadline:
        # Three 404s in a row: cloud-init polls forever (it retries 404 once a second).
        if [r.status for r in imds.request_log if r.path == "/metadata/reprovisiondata"][:3] == [404] * 3:
            break
        poll.join(0.1)
    polls = [(r.query.get("api-version"), r.status) for r in imds.request_log if r.path == "/metadata/reprovisiondata"]
    assert "data" in result, "cloud-init still polls /metadata/reprovisiondata: %s" % polls
    assert polls == [("2019-06-01", 200)]
    md, _userdata, cfg = dsaz.read_azure_ovf(result["data"])
    os_profile = imds.profile["compute"]["osProfile"]
    assert md["local-hostname"] == os_profile["computerName"]
    assert cfg["system_info"]["default_user"]["name"] == os_profile["adminUsername"]
    assert cfg["ssh_pwauth"] is False and cfg["PreprovisionedVm"] is False
    assert [key["value"] for key in cfg["_pubkeys"]] == [key["keyData"] for key in imds.profile["compute"]["publicKeys"]]
