# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VM profiles: the default VM, the profile file format, merging and fleet generation.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

import base64
import copy
import ipaddress
import json
import os
import random
import uuid

from .provisioning import check_pps_type

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    yaml = None

DEFAULT_SUBSCRIPTION = "8d10da13-8125-4ba9-a717-bf7490507b3d"
DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"

# Emulator knobs (profile key "emulator"), documented in docs/docsite/rst/emulator.rst.
DEFAULT_KNOBS = {
    "versions": None,                     # instance/attested/identity/LB versions this "region" serves (None: all)
    "scheduled_events_versions": None,    # scheduled-events versions served (None: all)
    "versions_endpoint": True,            # False: GET /metadata/versions answers 404 (old service)
    # Status for a known version missing from "versions": 400 (with newest-versions) or 404 as older services
    # answered. Clients that fall back to an older version only on 400 (cloud-init) never fall back on 404.
    "unavailable_version_status": 400,
    # The extended=true block. A ppsType other than None makes /metadata/reprovisiondata serve the VM's
    # provisioning data (provisioning.py), which a pre-provisioned VM's cloud-init polls for.
    "extended": {"ppsType": "None", "hasCustomData": False},
    "attested": {
        "signed_attributes": False,       # sign WITH signed attributes (real IMDS has none)
        "untrusted_ca": False,            # sign with a leaf from a CA that is not written to ca_cert_path
        "san": None,                      # list of DNS SANs replacing the metadata-domain ones
        "expired_certificate": False,     # leaf certificate validity window entirely in the past
        "expired_document": False,        # timeStamp.expiresOn in the past
        "include_intermediate": False,    # also put the intermediate CA in the PKCS#7 set (real IMDS: signer only)
        "ca_issuers": None,               # the signer's "CA Issuers" URLs (None: the emulator's own intermediate URL)
        "lifetime": 21600,                # seconds between timeStamp.createdOn and expiresOn
        "stale_nonce": False,             # always answer with a stale cached nonce (like the stale-nonce fault)
        "vm_id": None,                    # vmId in the signed content instead of compute.vmId
        "subscription_id": None,          # subscriptionId in the signed content instead of compute.subscriptionId
        "clock_offset": 0,                # seconds added to the emulator clock for timeStamp (skewed VM clock)
        "tamper": None,                   # "content" or "signature": flip one bit there AFTER signing
    },
    "identity": {"token_lifetime": 3599},
    "scenarios": [],                      # scheduled-event scenarios started with the emulator
    "scheduled_events_warmup": 0,         # seconds the first scheduled-events request(s) are held (service switching on)
    "scheduled_events_etag": True,        # ETag on scheduled-events documents, 304 for a matching If-None-Match
}


def _uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def tags_string(tags_list):
    """The ``compute.tags`` string for a tagsList."""
    return ";".join("%s:%s" % (item["name"], item["value"]) for item in tags_list)


def tags_list_from_string(text):
    """Best-effort tagsList from a ``compute.tags`` string (ambiguous when values contain ';')."""
    out = []
    for part in text.split(";") if text else []:
        name, _sep, value = part.partition(":")
        out.append({"name": name, "value": value})
    return out


def _disk(resource_group, sub, name, lun=None, size_gb="30", ultra=False, os_type="Linux"):
    disk_id = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/disks/%s" % (sub, resource_group, name)
    empty_keys = {
        "diskEncryptionKey": {"sourceVault": {"id": ""}, "secretUrl": ""},
        "keyEncryptionKey": {"sourceVault": {"id": ""}, "keyUrl": ""},
    }
    disk = {
        "caching": "ReadWrite" if lun is None else "None",
        "createOption": "FromImage" if lun is None else "Empty",
        "diskSizeGB": size_gb,
        "encryptionSettings": dict({"enabled": "false"}, **copy.deepcopy(empty_keys)),
        "image": {"uri": ""},
        "managedDisk": {"id": disk_id, "storageAccountType": "UltraSSD_LRS" if ultra else "Premium_LRS"},
        "name": name,
        "osType": os_type if lun is None else "",
        "vhd": {"uri": ""},
        "writeAcceleratorEnabled": "false",
    }
    if lun is None:
        disk["diffDiskSettings"] = {"option": ""}
    else:
        disk.update({
            "bytesPerSecondThrottle": "979202048" if ultra else "",
            "diskCapacityBytes": str(int(size_gb) * 1024 ** 3),
            "isSharedDisk": "false",
            "isUltraDisk": "true" if ultra else "false",
            "lun": str(lun),
            "opsPerSecondThrottle": "65280" if ultra else "",
        })
    return dict(sorted(disk.items()))


def _mac(rng):
    return "".join("%02X" % b for b in [0x00, 0x0D, 0x3A] + [rng.randrange(256) for _dummy in range(3)])


def _ipv6_subnet(address):
    """The ``ipv6.subnet`` of an interface whose first IPv6 address is ``address`` (Azure IPv6 subnets are /64).

    Every IMDS answer with IPv6 addresses in cloud-init's Azure tests carries ``ipv6.subnet``, and cloud-init's
    network configuration reads ``subnet[0].prefix`` for every IPv6 address after the first; an interface
    without IPv6 is ``{"ipAddress": []}`` (a captured answer: WALinuxAgent's tests/data/imds/valid.json).
    """
    try:
        network = ipaddress.IPv6Network("%s/64" % address, strict=False)
    except ValueError:
        raise ValueError("network interface IPv6 address %r is not an IPv6 address" % (address,)) from None
    return [{"address": str(network.network_address), "prefix": "64"}]


def make_vm(rng, name="web-01", location="westeurope", zone="2", fault_domain=0, update_domain=0, vm_size="Standard_D2s_v5",
            tags=None, priority="Regular", scale_set="", os_type="Linux", nics=2, subnet_index=0, resource_group="rg-imds-demo",
            subscription=DEFAULT_SUBSCRIPTION, az_environment="AzurePublicCloud"):
    """Build one coherent VM profile (compute, network, loadbalancer, identity)."""
    tags = tags if tags is not None else [{"name": "env", "value": "dev"}, {"name": "role", "value": "web"}]
    vm_id = _uuid(rng)
    computer = name.replace("_", "")
    rg_prefix = "/subscriptions/%s/resourceGroups/%s/providers" % (subscription, resource_group)
    if os_type == "Windows":
        image = ("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition", "20348.2227.240104")
        admin, disable_pw, keys = "azureadmin", "", []
    else:
        image = ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "22.04.202401090")
        admin, disable_pw = "azureuser", "true"
        keys = [{"keyData": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7emulatorkey%s %s@%s" % (vm_id[:8], admin, computer),
                 "path": "/home/%s/.ssh/authorized_keys" % admin}]
    spot = priority == "Spot"
    user_data = base64.b64encode(("#cloud-config\nhostname: %s\nruncmd:\n  - echo hello from %s\n" % (computer, name)).encode()).decode()
    if scale_set:
        resource_id = "%s/Microsoft.Compute/virtualMachineScaleSets/%s/virtualMachines/%s" % (rg_prefix, scale_set, name.rsplit("_", 1)[-1])
    else:
        resource_id = "%s/Microsoft.Compute/virtualMachines/%s" % (rg_prefix, name)
    compute = {
        "additionalCapabilities": {"hibernationEnabled": "false"},
        "azEnvironment": az_environment,
        "customData": "",  # disabled in IMDS: always empty (Microsoft's 2019-06-01 sample shows "")
        "evictionPolicy": "Deallocate" if spot else "",
        "extendedLocation": {"name": "", "type": ""},
        "host": {"id": ""},
        "hostGroup": {"id": ""},
        "isHostCompatibilityLayerVm": "false",
        "licenseType": "Windows_Server" if os_type == "Windows" else "",
        "location": location,
        "name": name,
        "offer": image[1],
        "osProfile": {"adminUsername": admin, "computerName": computer, "disablePasswordAuthentication": disable_pw},
        "osType": os_type,
        "physicalZone": "%s-AZ%02d" % (location, int(zone)) if zone else "",
        "placementGroupId": _uuid(rng) if scale_set else "",
        "plan": {"name": "", "product": "", "publisher": ""},
        "platformFaultDomain": str(fault_domain),
        "platformSubFaultDomain": "",
        "platformUpdateDomain": str(update_domain),
        "priority": priority,
        "provider": "Microsoft.Compute",
        "publicKeys": keys,
        "publisher": image[0],
        "resourceGroupName": resource_group,
        "resourceId": resource_id,
        "securityProfile": {"encryptionAtHost": "false", "secureBootEnabled": "true", "securityType": "TrustedLaunch", "virtualTpmEnabled": "true"},
        "sku": image[2],
        "storageProfile": {
            "dataDisks": [_disk(resource_group, subscription, "%s_data_0" % name, lun=0, size_gb="128")],
            "imageReference": {"communityGalleryImageId": "", "exactVersion": image[3], "id": "", "offer": image[1],
                               "publisher": image[0], "sharedGalleryImageId": "", "sku": image[2], "version": "latest"},
            "osDisk": _disk(resource_group, subscription, "%s_OsDisk_1_%s" % (name, vm_id.replace("-", "")[:12]), os_type=os_type),
            "resourceDisk": {"size": "16384"},
        },
        "subscriptionId": subscription,
        "tags": tags_string(tags),
        "tagsList": tags,
        "userData": user_data,
        "version": image[3],
        "virtualMachineScaleSet": {"id": "%s/Microsoft.Compute/virtualMachineScaleSets/%s" % (rg_prefix, scale_set) if scale_set else ""},
        "vmId": vm_id,
        "vmScaleSetName": scale_set,
        "vmSize": vm_size,
        "zone": zone,
    }
    interfaces = []
    private_ips = []
    for nic in range(nics):
        private = "10.%d.%d.%d" % (nic, subnet_index, 4 + rng.randrange(250))
        private_ips.append(private)
        public = "20.%d.%d.%d" % (rng.randrange(1, 250), rng.randrange(256), rng.randrange(1, 255)) if nic == 0 else ""
        ipv6 = {"ipAddress": []}
        if nic == 0:
            address = "fd00:%x::%x" % (subnet_index + 1, rng.randrange(4096) + 4)
            ipv6 = {"ipAddress": [{"privateIpAddress": address}], "subnet": _ipv6_subnet(address)}
        interfaces.append({
            "ipv4": {"ipAddress": [{"privateIpAddress": private, "publicIpAddress": public}],
                     "subnet": [{"address": "10.%d.%d.0" % (nic, subnet_index), "prefix": "24"}]},
            "ipv6": ipv6,
            "macAddress": _mac(rng),
        })
    frontend = "51.%d.%d.%d" % (rng.randrange(1, 250), rng.randrange(256), rng.randrange(1, 255))
    loadbalancer = {
        "publicIpAddresses": [{"frontendIpAddress": interfaces[0]["ipv4"]["ipAddress"][0]["publicIpAddress"], "privateIpAddress": private_ips[0]}],
        "inboundRules": [
            {"frontendIpAddress": frontend, "protocol": "tcp", "frontendPort": 80, "backendPort": 8080, "privateIpAddress": private_ips[0]},
            {"frontendIpAddress": frontend, "protocol": "tcp", "frontendPort": 443, "backendPort": 8443, "privateIpAddress": private_ips[0]},
        ],
        "outboundRules": [{"frontendIpAddress": frontend, "privateIpAddress": private_ips[0]}],
    }
    identity = {
        "tenantId": DEFAULT_TENANT,
        "systemAssigned": {"clientId": _uuid(rng), "objectId": _uuid(rng)},
        "userAssigned": [
            {"clientId": _uuid(rng), "objectId": _uuid(rng),
             "resourceId": "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-%s"
                           % (subscription, resource_group, tag)}
            for tag in ("app", "backup")
        ],
    }
    return {"compute": compute, "network": {"interface": interfaces}, "loadbalancer": loadbalancer, "identity": identity,
            "emulator": copy.deepcopy(DEFAULT_KNOBS)}


def default_profile():
    """The realistic default VM (deterministic)."""
    return make_vm(random.Random(4242))


def deep_merge(base, override):
    """Merge ``override`` into a copy of ``base``: dicts merge, lists and scalars replace, ``None`` deletes a key.

    Exception: a ``None`` for the top-level "loadbalancer" key is kept (it means "no Standard LB").
    """
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def normalize(profile):
    """Fix up derived fields after a merge (tags <-> tagsList, loadbalancer presence)."""
    compute = profile.setdefault("compute", {})
    if "tagsList" in compute and isinstance(compute["tagsList"], list):
        compute["tags"] = tags_string(compute["tagsList"])
    elif isinstance(compute.get("tags"), str):
        compute["tagsList"] = tags_list_from_string(compute["tags"])
    profile.setdefault("network", {"interface": []})
    for nic in profile["network"].get("interface") or []:
        ipv6 = nic.get("ipv6") if isinstance(nic, dict) else None
        if isinstance(ipv6, dict) and ipv6.get("ipAddress") and "subnet" not in ipv6:
            first = ipv6["ipAddress"][0]
            ipv6["subnet"] = _ipv6_subnet(first.get("privateIpAddress", "") if isinstance(first, dict) else first)
    profile.setdefault("loadbalancer", None)
    profile.setdefault("identity", {"tenantId": DEFAULT_TENANT, "systemAssigned": None, "userAssigned": []})
    profile["emulator"] = deep_merge(DEFAULT_KNOBS, profile.get("emulator") or {})
    check_pps_type((profile["emulator"].get("extended") or {}).get("ppsType", "None"))
    return profile


def apply_overrides(base, override):
    """Merge a user profile (see docs/docsite/rst/emulator.rst) into ``base`` and normalise it."""
    override = copy.deepcopy(override or {})
    lb_given = "loadbalancer" in override
    lb_value = override.pop("loadbalancer", None)
    tags = override.pop("tags", None)
    if isinstance(tags, dict):
        override.setdefault("compute", {})["tagsList"] = [{"name": str(k), "value": str(v)} for k, v in tags.items()]
    elif isinstance(tags, list):
        override.setdefault("compute", {})["tagsList"] = tags
    compute_override = override.get("compute") or {}
    if "tags" in compute_override and "tagsList" not in compute_override and isinstance(compute_override["tags"], str):
        compute_override["tagsList"] = tags_list_from_string(compute_override["tags"])
    merged = deep_merge(base, override)
    if lb_given:
        if lb_value is None:
            merged["loadbalancer"] = None
        elif isinstance(merged.get("loadbalancer"), dict):
            merged["loadbalancer"] = deep_merge(merged["loadbalancer"], lb_value)
        else:
            merged["loadbalancer"] = copy.deepcopy(lb_value)
    return normalize(merged)


def load_data(path):
    """Load a JSON or YAML file."""
    with open(path, "r", encoding="utf-8") as handle:
        text = handle.read()
    if os.path.splitext(path)[1].lower() == ".json":
        return json.loads(text)
    if yaml is None:  # pragma: no cover
        return json.loads(text)
    return yaml.safe_load(text)


def resolve_profile(profile):
    """A complete profile from None (default), a dict of overrides, or a file path."""
    if profile is None:
        return normalize(default_profile())
    if isinstance(profile, (str, os.PathLike)):
        profile = load_data(os.fspath(profile)) or {}
    if not isinstance(profile, dict):
        raise ValueError("a profile must be a mapping, got %s" % type(profile).__name__)
    return apply_overrides(default_profile(), profile)


# --- fleets -----------------------------------------------------------------------------------

_ROLES = ("web", "api", "db", "cache", "worker", "batch")
_ENVS = ("prod", "prod", "staging", "dev")
_OWNERS = ("team-platform", "Zo\u00eb \u00c5str\u00f6m", "ops team", "\u5f20\u4f1f", "jdoe@example.com")
_SIZES = ("Standard_D2s_v5", "Standard_D4s_v5", "Standard_B2ms", "Standard_E4s_v5", "Standard_F8s_v2")
_ZONES = ("1", "2", "3", "")


def generate_fleet(size, seed=0, base=None):
    """``size`` coherent, varied VM profiles, deterministic for ``seed``."""
    rng = random.Random("imds-fleet-%s" % seed)
    zones = list(_ZONES)
    rng.shuffle(zones)
    fds = [i % 3 for i in range(size)]
    uds = [i % 5 for i in range(size)]
    rng.shuffle(fds)
    rng.shuffle(uds)
    profiles = []
    for index in range(size):
        role = _ROLES[index % len(_ROLES)]
        scale_set = "vmss-%s" % role if role in ("worker", "batch") else ""
        name = "%s_%d" % (scale_set, index) if scale_set else "%s-%02d" % (role, index + 1)
        tags = [{"name": "role", "value": role}, {"name": "env", "value": rng.choice(_ENVS)},
                {"name": "owner", "value": rng.choice(_OWNERS)}]
        if index % 4 == 1:
            tags.append({"name": "cost center", "value": "cc:1234;shared"})
        if index % 5 == 2:
            tags.append({"name": "note", "value": "patched 2024-01-09 by ops: ok"})
        priority = "Spot" if role == "batch" or (index % 7 == 6) else "Regular"
        vm = make_vm(rng, name=name, zone=zones[index % len(zones)], fault_domain=fds[index], update_domain=uds[index],
                     vm_size=rng.choice(_SIZES), tags=tags, priority=priority, scale_set=scale_set,
                     os_type="Windows" if index % 9 == 4 else "Linux", nics=1 + (index % 3 == 0), subnet_index=index % 250)
        if index % 6 == 5:
            vm["loadbalancer"] = None
        profiles.append(apply_overrides(vm, base or {}))
    return profiles


def load_fleet(path):
    """Profiles from a fleet file: a list of profile overrides, or {"vms": [...]}."""
    data = load_data(path)
    if isinstance(data, dict):
        data = data.get("vms", [])
    if not isinstance(data, list):
        raise ValueError("fleet file %s must hold a list of profiles (or {'vms': [...]})" % path)
    rng = random.Random("imds-fleet-file")
    out = []
    for index, item in enumerate(data):
        base = make_vm(rng, name="vm-%02d" % (index + 1), fault_domain=index % 3, update_domain=index % 5, zone=_ZONES[index % 4])
        out.append(apply_overrides(base, item or {}))
    return out
