# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""API versions of each IMDS category and the field history used to gate responses.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

# Instance / attested / identity / load balancer version line, newest first (reference 2.1).
API_VERSIONS = (
    "2025-04-07", "2024-07-17", "2024-03-15", "2023-11-15", "2023-07-01", "2021-12-13", "2021-11-15",
    "2021-11-01", "2021-10-01", "2021-08-01", "2021-05-01", "2021-03-01", "2021-02-01", "2021-01-01",
    "2020-12-01", "2020-10-01", "2020-09-01", "2020-07-15", "2020-06-01", "2019-11-01", "2019-08-15",
    "2019-08-01", "2019-06-04", "2019-06-01", "2019-04-30", "2019-03-11", "2019-02-01", "2018-10-01",
    "2018-04-02", "2018-02-01", "2017-12-01", "2017-10-01", "2017-08-01", "2017-04-02", "2017-03-01",
)

# Scheduled events have their own line (reference 2.3), newest first.
SCHEDULED_EVENTS_VERSIONS = ("2020-07-01", "2019-08-01", "2019-04-01", "2019-01-01", "2017-11-01", "2017-08-01", "2017-03-01")

# Minimum version per category (reference 1 and 2.4). /metadata/instance answers the preview
# version 2017-03-01 too: /metadata/versions lists it, and Microsoft's preview page documents it.
CATEGORY_MINIMUM = {
    "instance": "2017-03-01",
    "reprovisiondata": "2017-04-02",
    "attested": "2018-10-01",
    "identity": "2018-02-01",
    "loadbalancer": "2020-10-01",
    "scheduledevents": "2017-03-01",
}

# Field history (reference 2.2). Keys are paths into the instance document; "*" matches any
# array index. A node whose path is not listed inherits the version of its parent (root: always).
INSTANCE_FIELD_SINCE = {}


def _add(version, *paths):
    for path in paths:
        INSTANCE_FIELD_SINCE[tuple(path.split("."))] = version


_add("2017-04-02", "compute", "network",
     "compute.location", "compute.name", "compute.offer", "compute.osType", "compute.platformFaultDomain",
     "compute.platformUpdateDomain", "compute.publisher", "compute.sku", "compute.version", "compute.vmId", "compute.vmSize")
_add("2017-08-01", "compute.placementGroupId", "compute.resourceGroupName", "compute.subscriptionId", "compute.tags")
_add("2017-12-01", "compute.vmScaleSetName", "compute.zone")
_add("2018-04-02", "compute.plan", "compute.publicKeys")
_add("2018-10-01", "compute.azEnvironment", "compute.provider")
_add("2019-02-01", "compute.customData")
_add("2019-03-11", "compute.resourceId")
_add("2019-06-01", "compute.storageProfile")
_add("2019-06-04", "compute.tagsList")
_add("2020-06-01", "compute.isHostCompatibilityLayerVm", "compute.securityProfile",
     "compute.securityProfile.secureBootEnabled", "compute.securityProfile.virtualTpmEnabled")
_add("2020-07-15", "compute.osProfile", "compute.osProfile.adminUsername", "compute.osProfile.computerName")
_add("2020-09-01", "compute.licenseType")
_add("2020-10-01", "compute.osProfile.disablePasswordAuthentication")
_add("2020-12-01", "compute.evictionPolicy", "compute.priority")
_add("2021-01-01", "compute.userData")
_add("2021-02-01", "compute.storageProfile.resourceDisk")
_add("2021-03-01", "compute.extendedLocation", "compute.virtualMachineScaleSet")
_add("2021-05-01", *("compute.storageProfile.dataDisks.*." + name for name in (
    "bytesPerSecondThrottle", "diskCapacityBytes", "isSharedDisk", "opsPerSecondThrottle", "isUltraDisk")))
_add("2021-10-01", "compute.platformSubFaultDomain")
_add("2021-11-01", "compute.additionalCapabilities", "compute.securityProfile.encryptionAtHost",
     "compute.storageProfile.osDisk.encryptionSettings.diskEncryptionKey",
     "compute.storageProfile.osDisk.encryptionSettings.keyEncryptionKey",
     "compute.storageProfile.dataDisks.*.encryptionSettings.diskEncryptionKey",
     "compute.storageProfile.dataDisks.*.encryptionSettings.keyEncryptionKey")
_add("2021-11-15", "compute.host", "compute.hostGroup")
_add("2021-12-13", "compute.securityProfile.securityType")
_add("2023-07-01", "compute.storageProfile.imageReference.communityGalleryImageId",
     "compute.storageProfile.imageReference.sharedGalleryImageId",
     "compute.storageProfile.imageReference.exactVersion")
_add("2023-11-15", "compute.physicalZone")

# Attested document content (reference 5).
ATTESTED_FIELD_SINCE = {
    "nonce": "2018-10-01", "plan": "2018-10-01", "timeStamp": "2018-10-01", "vmId": "2018-10-01",
    "subscriptionId": "2019-04-30", "sku": "2019-11-01", "licenseType": "2020-09-01",
}

# Scheduled events (reference 2.3): event fields and event types.
EVENT_FIELD_SINCE = {"Description": "2019-04-01", "EventSource": "2019-08-01", "DurationInSeconds": "2020-07-01"}
EVENT_TYPE_SINCE = {"Preempt": "2017-11-01", "Terminate": "2019-01-01"}


# The preview (Microsoft's "Azure's Instance Metadata Service --Preview", ms.date 03/27/2017, in
# MicrosoftDocs/azure-docs articles/virtual-machines/virtual-machines-instancemetadataservice-overview.md):
# the same compute fields as 2017-04-02, network under the preview's own names.
FIRST_GA_VERSION = "2017-04-02"


def _preview_network(network):
    """The network document as the 2017-03-01 preview named it (ipaddress, publicip, mac)."""
    interfaces = []
    for nic in network.get("interface", []):
        ipv4 = nic.get("ipv4", {})
        interfaces.append({
            "ipv4": {
                "ipaddress": [{"ipaddress": a.get("privateIpAddress", ""), "publicip": a.get("publicIpAddress", "")}
                              for a in ipv4.get("ipAddress", [])],
                "subnet": [{"address": s.get("address", ""), "prefix": s.get("prefix", "")} for s in ipv4.get("subnet", [])],
            },
            "ipv6": {"ipaddress": [{"ipaddress": a.get("privateIpAddress", "")} for a in nic.get("ipv6", {}).get("ipAddress", [])]},
            "mac": nic.get("macAddress", ""),
        })
    return {"interface": interfaces}


def gate_instance(document, version):
    """The instance document ``{"compute": ..., "network": ...}`` as IMDS serves it at ``version``."""
    if version >= FIRST_GA_VERSION:
        return gate(document, version)
    tree = gate(document, FIRST_GA_VERSION)
    tree["network"] = _preview_network(tree.get("network", {}))
    return tree


def gate(node, version, since=None, path=()):
    """Return a copy of ``node`` holding only the fields introduced at or before ``version``."""
    if since is None:
        since = INSTANCE_FIELD_SINCE
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            child = path + (key,)
            introduced = since.get(child)
            if introduced is not None and introduced > version:
                continue
            out[key] = gate(value, version, since, child)
        return out
    if isinstance(node, list):
        child = path + ("*",)
        return [gate(value, version, since, child) for value in node]
    return node


def newest(versions, count=3):
    """The ``count`` newest versions of ``versions``."""
    return sorted(versions, reverse=True)[:count]
