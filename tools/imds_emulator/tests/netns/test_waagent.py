# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WALinuxAgent's IMDS client (Debian package waagent, unpacked, never installed) against the emulator at 169.254.169.254.

The agent falls back to Azure's wire server (168.63.129.16) when IMDS does not answer: the suite's guard
(conftest.py) refuses that connection and the namespace has no route there; a test proves it.
"""

import pytest

import imds_netguard
from real_client_helpers import debian_module

waagent_imds = debian_module("waagent", "azurelinuxagent.common.protocol.imds")
restutil = debian_module("waagent", "azurelinuxagent.common.utils.restutil")
ovfenv = debian_module("waagent", "azurelinuxagent.common.protocol.ovfenv")
WIRE_SERVER = restutil.KNOWN_WIRESERVER_IP


def test_health_check_and_compute(imds, contacts):
    client = waagent_imds.get_imds_client(WIRE_SERVER)
    assert client.validate() == (True, "")
    compute = client.get_compute()
    expected = imds.profile["compute"]
    assert (compute.location, compute.name, compute.vmId, compute.vmSize, compute.subscriptionId) == tuple(
        expected[key] for key in ("location", "name", "vmId", "vmSize", "subscriptionId"))
    assert compute.image_info == "%s:%s:%s:%s" % tuple(expected[key] for key in ("publisher", "offer", "sku", "version"))
    assert [(r.path, r.query, r.headers["Metadata"], r.status) for r in imds.request_log] == [
        ("/metadata/instance", {"api-version": "2018-02-01"}, "True", 200),
        ("/metadata/instance/compute", {"api-version": "2018-02-01"}, "True", 200),
    ]
    assert {(host, port) for host, port, _allowed in contacts.attempts} == {("169.254.169.254", 80)}


def test_no_imds_falls_back_to_the_wire_server_which_is_never_reached(no_imds, contacts, monkeypatch):
    # One attempt per endpoint instead of six with Fibonacci back-off: the agent's own retry setting.
    monkeypatch.setattr(restutil, "DEFAULT_RETRIES", 1)
    contacts.expect_blocked(WIRE_SERVER, 80)
    with pytest.raises(imds_netguard.NetworkGuardError, match="168.63.129.16"):
        waagent_imds.get_imds_client(WIRE_SERVER).validate()
    assert contacts.attempts == [("169.254.169.254", 80, True), (WIRE_SERVER, 80, False)]


@pytest.mark.imds_emulator(profile={"emulator": {"extended": {"ppsType": "Savable"}}})
def test_reprovision_data_is_an_ovf_environment_the_agent_reads(imds):
    response = restutil.http_get("http://169.254.169.254/metadata/reprovisiondata?api-version=2019-06-01", headers={"Metadata": True})
    assert response.status == 200
    env = ovfenv.OvfEnv(response.read().decode("utf-8"))
    os_profile = imds.profile["compute"]["osProfile"]
    assert (env.hostname, env.username, env.disable_ssh_password_auth) == (os_profile["computerName"], os_profile["adminUsername"], True)
    assert [(path, value) for path, _fingerprint, value in env.ssh_pubkeys] == [
        (key["path"], key["keyData"]) for key in imds.profile["compute"]["publicKeys"]]
