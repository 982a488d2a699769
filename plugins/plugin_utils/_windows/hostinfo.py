# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection reads from a Windows host besides IMDS: its SMBIOS table and environment.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

One run of the PowerShell module ``imds.azure.win_metadata_host`` returns the raw SMBIOS table
(as the registry keeps it, what GetSystemFirmwareTable('RSMB') returns; CIM's two values when
it is missing) and the environment variables asked for. The table is parsed here on the
controller (``parse_smbios``) and classified with the same rules as DMI on Linux
(``detection_from_hostinfo``).
"""

from __future__ import annotations

import base64
import binascii
import struct

from ansible_collections.imds.azure.plugins.module_utils._detect import UNKNOWN, Detection, classify
from ansible_collections.imds.azure.plugins.plugin_utils._windows.modules import HOST_MODULE, RemoteModuleError, failure_text

HOSTINFO_TIMEOUT = 30      # seconds for reading the host information


def read_host_info(modules, smbios=True, env_names=()):
    """Run win_metadata_host; its answer (``smbios`` or ``cim``, ``env``). Raises RemoteModuleError."""
    data = modules.run(HOST_MODULE, {"smbios": bool(smbios), "env": [str(name) for name in env_names]}, limit=HOSTINFO_TIMEOUT)
    if data.get("failed") or "env" not in data:
        raise RemoteModuleError("reading the SMBIOS table and environment of the Windows host failed (%s)" % failure_text(data))
    if not isinstance(data.get("env"), dict):
        data["env"] = {}
    return data


def parse_smbios(data):
    """(chassis asset tag, system manufacturer) from a raw SMBIOS table; None where absent.

    ``data`` is what Windows keeps in the registry (and GetSystemFirmwareTable('RSMB')
    returns): an 8-byte header (calling method, major, minor, DMI revision, table length)
    followed by the structures. Type 1 byte 0x04 is the system manufacturer, type 3 byte
    0x08 the chassis asset tag; both are string numbers into the strings after the
    formatted area. Raises ValueError when the data is not an SMBIOS table.
    """
    if len(data) >= 8 and struct.unpack_from("<I", data, 4)[0] == len(data) - 8:
        table = data[8:]
    else:
        table = data
    asset_tag = vendor = None
    seen_enclosure = seen_system = False
    offset = 0
    while offset + 4 <= len(table):
        kind, length = table[offset], table[offset + 1]
        if length < 4 or offset + length > len(table):
            raise ValueError("SMBIOS structure at offset %d has an invalid length %d" % (offset, length))
        formatted = table[offset:offset + length]
        end = table.find(b"\x00\x00", offset + length)
        if end < 0:
            raise ValueError("SMBIOS structure at offset %d has no end of its string set" % offset)
        strings = table[offset + length:end].split(b"\x00") if end > offset + length else []

        def string(index, strings=strings):
            if index == 0 or index > len(strings):
                return ""
            return strings[index - 1].decode("ascii", "replace").strip()

        if kind == 1 and not seen_system and length > 0x04:
            vendor = string(formatted[0x04])
            seen_system = True
        elif kind == 3 and not seen_enclosure and length > 0x08:
            asset_tag = string(formatted[0x08])
            seen_enclosure = True
        elif kind == 127:
            break
        offset = end + 2
    if not seen_system and not seen_enclosure:
        raise ValueError("no system or enclosure structure in the SMBIOS table")
    return asset_tag, vendor


def detection_from_hostinfo(info):
    """A Detection from the host information command's answer."""
    encoded = info.get("smbios")
    if encoded:
        try:
            asset_tag, vendor = parse_smbios(base64.b64decode(encoded.encode("ascii"), validate=True))
        except (ValueError, binascii.Error, struct.error) as exc:
            return Detection(UNKNOWN, "the SMBIOS table of the host is not readable (%s)" % exc)
        return classify(asset_tag, vendor, source="SMBIOS")
    cim = info.get("cim")
    if isinstance(cim, dict):
        return classify(cim.get("asset_tag"), cim.get("vendor"), source="SMBIOS (CIM)")
    return Detection(UNKNOWN, "no SMBIOS data on this host (%s)" % (info.get("cim_error") or info.get("smbios_error") or "none"))
