# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fields gated by api-version (reference 2.2)."""

import pytest

from imds_emu_helpers import call

BASE_2017 = {"location", "name", "offer", "osType", "platformFaultDomain", "platformUpdateDomain", "publisher", "sku", "version", "vmId", "vmSize"}


def compute_at(emu, version):
    reply = call(emu.url, "/metadata/instance/compute?api-version=" + version)
    assert reply.status == 200
    return reply.json()


def test_2017_04_02_field_set(imds_emulator):
    assert set(compute_at(imds_emulator, "2017-04-02")) == BASE_2017


def test_2017_08_01_and_12_01(imds_emulator):
    assert set(compute_at(imds_emulator, "2017-08-01")) == BASE_2017 | {"placementGroupId", "resourceGroupName", "subscriptionId", "tags"}
    assert {"vmScaleSetName", "zone"} <= set(compute_at(imds_emulator, "2017-12-01"))


@pytest.mark.parametrize("field, since, before", [
    ("plan", "2018-04-02", "2018-02-01"),
    ("publicKeys", "2018-04-02", "2018-02-01"),
    ("azEnvironment", "2018-10-01", "2018-04-02"),
    ("provider", "2018-10-01", "2018-04-02"),
    ("resourceId", "2019-03-11", "2019-02-01"),
    ("storageProfile", "2019-06-01", "2019-04-30"),
    ("tagsList", "2019-06-04", "2019-06-01"),
    ("securityProfile", "2020-06-01", "2019-11-01"),
    ("isHostCompatibilityLayerVm", "2020-06-01", "2019-11-01"),
    ("osProfile", "2020-07-15", "2020-06-01"),
    ("licenseType", "2020-09-01", "2020-07-15"),
    ("priority", "2020-12-01", "2020-10-01"),
    ("evictionPolicy", "2020-12-01", "2020-10-01"),
    ("userData", "2021-01-01", "2020-12-01"),
    ("extendedLocation", "2021-03-01", "2021-02-01"),
    ("virtualMachineScaleSet", "2021-03-01", "2021-02-01"),
    ("platformSubFaultDomain", "2021-10-01", "2021-08-01"),
    ("additionalCapabilities", "2021-11-01", "2021-10-01"),
    ("host", "2021-11-15", "2021-11-01"),
    ("hostGroup", "2021-11-15", "2021-11-01"),
    ("physicalZone", "2023-11-15", "2023-07-01"),
])
def test_top_level_fields(imds_emulator, field, since, before):
    assert field in compute_at(imds_emulator, since)
    assert field not in compute_at(imds_emulator, before)


def test_nested_fields(imds_emulator):
    sec = compute_at(imds_emulator, "2020-06-01")["securityProfile"]
    assert set(sec) == {"secureBootEnabled", "virtualTpmEnabled"}
    assert set(compute_at(imds_emulator, "2021-11-01")["securityProfile"]) == {"secureBootEnabled", "virtualTpmEnabled", "encryptionAtHost"}
    assert "securityType" in compute_at(imds_emulator, "2021-12-13")["securityProfile"]
    assert set(compute_at(imds_emulator, "2020-07-15")["osProfile"]) == {"adminUsername", "computerName"}
    assert "disablePasswordAuthentication" in compute_at(imds_emulator, "2020-10-01")["osProfile"]
    storage = compute_at(imds_emulator, "2021-01-01")["storageProfile"]
    assert "resourceDisk" not in storage
    assert "bytesPerSecondThrottle" not in storage["dataDisks"][0]
    assert "exactVersion" not in storage["imageReference"]
    assert "diskEncryptionKey" not in storage["osDisk"]["encryptionSettings"]
    assert "resourceDisk" in compute_at(imds_emulator, "2021-02-01")["storageProfile"]
    disk = compute_at(imds_emulator, "2021-05-01")["storageProfile"]["dataDisks"][0]
    assert {"bytesPerSecondThrottle", "diskCapacityBytes", "isSharedDisk", "opsPerSecondThrottle", "isUltraDisk"} <= set(disk)
    assert "diskEncryptionKey" in compute_at(imds_emulator, "2021-11-01")["storageProfile"]["osDisk"]["encryptionSettings"]
    image = compute_at(imds_emulator, "2023-07-01")["storageProfile"]["imageReference"]
    assert {"communityGalleryImageId", "sharedGalleryImageId", "exactVersion"} <= set(image)


def test_gated_paths_404(imds_emulator):
    assert call(imds_emulator.url, "/metadata/instance/compute/storageProfile?api-version=2019-04-30").status == 404
    assert call(imds_emulator.url, "/metadata/instance/compute/securityProfile/securityType?api-version=2021-11-15&format=text").status == 404


def test_newest_versions_are_supersets(imds_emulator):
    base = compute_at(imds_emulator, "2023-11-15")
    for version in ("2024-03-15", "2024-07-17", "2025-04-07"):
        assert compute_at(imds_emulator, version) == base


def test_network_always_present(imds_emulator):
    doc = call(imds_emulator.url, "/metadata/instance?api-version=2017-04-02").json()
    assert doc["network"] == imds_emulator.profile["network"]
