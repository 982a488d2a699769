# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""Cheap, network-free "is this host an Azure VM?" detection from DMI (SMBIOS) data.

Linux exposes SMBIOS strings under /sys/class/dmi/id. Every Azure VM carries the chassis
asset tag below (cloud-init and systemd use the same marker). Reading two small files takes
microseconds, so a host that is certainly not Azure never waits for a network timeout.

Results:
- ``AZURE``: the chassis asset tag is Azure's.
- ``NOT_AZURE``: DMI is readable, the asset tag is not Azure's and the system vendor is not
  Microsoft (AWS, GCP, VMware, QEMU, bare metal...).
- ``UNKNOWN``: no DMI (containers without /sys/class/dmi, BSDs, macOS), unreadable files, or a
  Microsoft Hyper-V vendor without the Azure tag (on-premises Hyper-V or Azure Stack): ask IMDS.

Test hook: the environment variable ``IMDS_AZURE_DMI_PATH`` replaces the DMI directory (it
is read on every platform). It exists for the collection's tests; an empty value means "no DMI".
"""

from __future__ import annotations

import os
import sys

AZURE_CHASSIS_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
MICROSOFT_VENDOR = "Microsoft Corporation"
DEFAULT_DMI_PATH = "/sys/class/dmi/id"
DMI_PATH_ENV = "IMDS_AZURE_DMI_PATH"

AZURE = "azure"
NOT_AZURE = "not_azure"
UNKNOWN = "unknown"


class Detection(object):
    """Outcome of DMI detection: ``result`` (AZURE/NOT_AZURE/UNKNOWN) and a human ``reason``."""

    __slots__ = ("result", "reason")

    def __init__(self, result, reason):
        self.result = result
        self.reason = reason

    def __repr__(self):
        return "Detection(%r, %r)" % (self.result, self.reason)


def _read(directory, name):
    try:
        with open(os.path.join(directory, name), "rb") as handle:
            return handle.read(256).decode("ascii", "replace").strip()
    except (IOError, OSError):
        return None


def dmi_path():
    """The DMI directory to read: ``$IMDS_AZURE_DMI_PATH`` when set, else /sys/class/dmi/id on Linux."""
    override = os.environ.get(DMI_PATH_ENV)
    if override is not None:
        return override or None
    if sys.platform.startswith("linux"):
        return DEFAULT_DMI_PATH
    return None


def detect_azure(path=None):
    """Classify this host from DMI data without any network access."""
    directory = path if path is not None else dmi_path()
    if not directory or not os.path.isdir(directory):
        return Detection(UNKNOWN, "no DMI data on this system")
    return classify(_read(directory, "chassis_asset_tag"), _read(directory, "sys_vendor"))


def classify(asset_tag, vendor, source="DMI"):
    """Classify a host from its SMBIOS chassis asset tag and system vendor (None: not readable).

    Shared by the Linux path (DMI files) and the Windows path (the SMBIOS table read over the
    connection and parsed on the controller); ``source`` names where the values came from.
    """
    asset_tag = asset_tag.strip() if isinstance(asset_tag, str) else None
    vendor = vendor.strip() if isinstance(vendor, str) else None
    if asset_tag == AZURE_CHASSIS_ASSET_TAG:
        return Detection(AZURE, "%s chassis asset tag is Azure's" % source)
    if asset_tag is None and vendor is None:
        return Detection(UNKNOWN, "%s data is not readable" % source)
    if vendor is None or vendor == MICROSOFT_VENDOR or not vendor:
        return Detection(UNKNOWN, "%s system vendor %r without Azure's chassis asset tag" % (source, vendor or ""))
    return Detection(NOT_AZURE, "%s system vendor is %r and the chassis asset tag is not Azure's" % (source, vendor))
