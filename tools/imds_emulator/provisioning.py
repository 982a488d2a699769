# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-provisioned VMs: the OVF environment that /metadata/reprovisiondata hands a VM once it leaves the pool.

A VM whose ``extended.compute.ppsType`` is not ``None`` was created ahead of time in a pool; cloud-init
(``DataSourceAzure._poll_imds``) polls ``/metadata/reprovisiondata?api-version=2019-06-01`` until IMDS
returns the provisioning data of the customer's VM, an ``ovf-env.xml`` document (reference 1.9). The layout
is the one cloud-init's ``OvfEnvXml`` and WALinuxAgent's ``OvfEnv`` parse.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

from xml.sax.saxutils import escape

# The values IMDS gives extended.compute.ppsType (reference 1.9) and the OVF's PreprovisionedVMType
# cloud-init also knows (DataSourceAzure.PPSType).
PPS_TYPES = ("None", "Running", "Savable", "PreprovisionedOSDisk")
XML_TYPE = "text/xml; charset=utf-8"


def check_pps_type(value):
    """Refuse a ppsType real IMDS never sends: cloud-init would not recognise it, and a test would prove nothing."""
    if value not in PPS_TYPES:
        raise ValueError("emulator.extended.ppsType must be one of %s, got %r" % (", ".join(PPS_TYPES), value))


def _element(name, text):
    return "<wa:%s>%s</wa:%s>" % (name, escape(text), name)


def ovf_environment(compute):
    """The ovf-env.xml (bytes) provisioning the VM described by ``compute``."""
    os_profile = compute.get("osProfile") or {}
    keys = "".join("<wa:PublicKey>%s%s</wa:PublicKey>" % (_element("Path", key.get("path", "")), _element("Value", key.get("keyData", "")))
                   for key in compute.get("publicKeys") or [])
    config_set = "".join([
        _element("ConfigurationSetType", "LinuxProvisioningConfiguration"),
        _element("HostName", os_profile.get("computerName") or compute.get("name", "")),
        _element("UserName", os_profile.get("adminUsername", "")),
        _element("DisableSshPasswordAuthentication", os_profile.get("disablePasswordAuthentication") or "false"),
        "<wa:SSH><wa:PublicKeys>%s</wa:PublicKeys></wa:SSH>" % keys if keys else "",
    ])
    platform = "".join([
        _element("KmsServerHostname", "kms.core.windows.net"),
        _element("ProvisionGuestAgent", "true"),
        '<wa:GuestAgentPackageName xsi:nil="true" />',
        _element("PreprovisionedVm", "false"),
        '<wa:PreprovisionedVMType xsi:nil="true" />',
    ])
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:wa="http://schemas.microsoft.com/windowsazure"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<wa:ProvisioningSection><wa:Version>1.0</wa:Version>'
        '<wa:LinuxProvisioningConfigurationSet>%s</wa:LinuxProvisioningConfigurationSet></wa:ProvisioningSection>'
        '<wa:PlatformSettingsSection><wa:Version>1.0</wa:Version><wa:PlatformSettings>%s</wa:PlatformSettings>'
        '</wa:PlatformSettingsSection></Environment>' % (config_set, platform)
    ).encode("utf-8")
